#include "courier/options.hpp"

#include <chrono>
#include <string>

namespace courier {

void socket_options::validate() const {
    using std::chrono::hours;
    auto bad = [](const std::string& what) { throw error(errc::invalid_option, "socket_options." + what); };
    if (linger.count() < 0 || linger > hours(1))
        bad("linger must be 0 ms .. 1 h (finite, so close never hangs), not " + std::to_string(linger.count()) + " ms");
    if (max_message_size < 1 || max_message_size > (std::size_t{1} << 31))
        bad("max_message_size must be 1 B .. 2 GiB, not " + std::to_string(max_message_size));
    if (send_hwm < 1) bad("send_hwm must be at least 1 (0 would mean unbounded), not " + std::to_string(send_hwm));
    if (receive_hwm < 1)
        bad("receive_hwm must be at least 1 (0 would mean unbounded), not " + std::to_string(receive_hwm));
    if (send_timeout.count() < 0 || send_timeout > hours(1))
        bad("send_timeout must be 0 ms .. 1 h, not " + std::to_string(send_timeout.count()) + " ms");
    limits.validate();
    heartbeat.validate();
    events.validate();
}

} // namespace courier
