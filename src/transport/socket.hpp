#pragma once
// Private (transport layer): the thin socket every pattern owns: options applied, heartbeats
// mapped, bind/connect and the redial of cut-offs, send and receive under deadlines, counting.
// What a message's frames mean is the framing layer's (framing/inbox.hpp).

#include "courier/context.hpp"
#include "courier/detail/deadline.hpp"
#include "courier/error.hpp"
#include "courier/message.hpp"
#include "courier/options.hpp"
#include "transport/counters.hpp"
#include "transport/monitor.hpp"

#include <zmq.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace courier::detail {

/// Move-only owner of one libzmq socket. @par Thread safety: none, like the socket it owns.
///
/// Cut-offs: libzmq 4.3.4 drops a connection for good after a protocol error (a frame over
/// max_message_size, malformed framing) and never redials it. A socket that connect()s to a tcp or
/// ipc endpoint and reads from it therefore has a monitor (events.cpp, a thread) that finds such
/// drops; the owner redials them (disconnect, then connect) in its own receive and send calls:
/// when a call must wait, which it then does in slices of `wait_slice`, or, on a socket that is
/// never idle, at the first receive `hold` after the drop was found. A message already there
/// costs one relaxed atomic load more.
class socket {
public:
    socket(context& ctx, zmq::socket_type type, socket_options options);
    socket(socket&&) noexcept = default;
    socket& operator=(socket&&) noexcept = default;
    ~socket() { close(); }

    /// How long a wait blocks in libzmq at most, on a socket that redials cut-offs.
    static constexpr std::chrono::milliseconds wait_slice{100};
    /// How long a found cut-off may wait for the socket to run dry before it is redialled anyway
    /// (redialling drops what the dead connection delivered and nobody has read yet).
    static constexpr std::chrono::milliseconds hold{1000};

    /// Binds and returns the endpoint actually bound (a `*` port resolved).
    std::string bind(std::string_view endpoint);
    /// Connects; a tcp or ipc endpoint of a socket that receives is also watched for cut-offs.
    void connect(std::string_view endpoint);
    void unbind(std::string_view endpoint);
    void disconnect(std::string_view endpoint);
    void close() noexcept;
    bool is_open() const noexcept { return static_cast<bool>(sock_); }
    /// The queue of peer events (options().events.queue_capacity > 0), else nullptr.
    event_queue* events() noexcept { return monitor_ ? monitor_->queue() : nullptr; }

    /// Sends `frames` as one message, waiting for room until `deadline`. Returns false on timeout.
    /// Throws courier::error(closed) if the context is shut down, message_too_large if over the limit.
    bool send(std::span<zmq::message_t> frames, deadline& until);

    /// Receives one message into `frames`, waiting until `deadline`. Returns the number of frames
    /// the message had (frames beyond frames.size() are read and discarded, so the count can be
    /// larger), or 0 on timeout. Throws courier::error(closed) if the context is shut down.
    std::size_t receive(std::span<zmq::message_t> frames, deadline& until);

    /// The one way every pattern reports bad input: counts a rejected incoming message
    /// (counters.rejected) and tells the options' on_rejected callback (which must not throw; if
    /// it does, the exception is swallowed so that the receiving thread lives on). Call it from
    /// the thread that counts for this socket (its owner, or the one holding its lock).
    /// `counted_received`: the message was already counted received (its envelope decoded), and
    /// its payload was then refused (wrong type, no handler): that count is taken back.
    void reject(const error& e, bool counted_received = false) noexcept;
    /// reject(e, true).
    void reject_received(const error& e) noexcept { reject(e, true); }

    zmq::socket_t& native() noexcept { return sock_; }
    const socket_options& options() const noexcept { return options_; }
    /// Counted by whoever uses the socket; read from any thread with counters.snapshot().
    live_counters counters{};

private:
    /// Redials the cut-offs the monitor found: now if `idle` (the call must wait, so nothing the
    /// dead connection delivered is left unread), else only once they have waited `hold`.
    void redial_cut_offs(bool idle);
    bool watching() const noexcept { return !connected_.empty(); }

    /// An endpoint this socket connected and watches: as the user gave it, as libzmq names it.
    struct connected_endpoint {
        std::string given, named;
    };

    zmq::socket_t sock_;
    socket_options options_;
    zmq::context_t* ctx_;
    zmq::socket_type type_;
    std::unique_ptr<monitor> monitor_; // when options_.events is enabled, or since the first watched connect
    std::vector<connected_endpoint> connected_; // watched for cut-offs
    int receive_timeout_ = -1; // ZMQ_RCVTIMEO as last set, to set it only when it changes
};

/// Tell ThreadSanitizer that libzmq hands `m`'s buffer to another thread (released, before a
/// send) or got it from one (acquired, after a receive); no-ops in other builds.
void released(zmq::message_t& m) noexcept;
void acquired(zmq::message_t& m) noexcept;

/// Translates a libzmq error into courier::error (closed, invalid_argument or zmq).
[[noreturn]] void fail(const char* what, const zmq::error_t& e);
/// Sends `frames` as one message, waiting for room until `deadline`; false on timeout. Throws
/// message_too_large if a frame is over `max_size`, and what fail() throws.
bool send_frames(zmq::socket_ref sock, std::span<zmq::message_t> frames, deadline& until, std::size_t max_size);

} // namespace courier::detail
