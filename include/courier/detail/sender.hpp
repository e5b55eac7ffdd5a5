#pragma once
// Private: the sending side shared by publisher and pusher: one socket, sent to directly, or
// through a batching send_queue when batching is set.

#include "courier/batch.hpp"
#include "courier/context.hpp"
#include "courier/detail/send_queue.hpp"
#include "courier/detail/socket.hpp"
#include "courier/status.hpp"

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace courier::detail {

/// Owns a sending socket and, with batching, its queue. Move-only.
/// @par Thread safety: without batching one thread at a time; with it, every member but the
/// constructor, destructor and moves may be called from any thread.
class sender {
public:
    sender(context& ctx, zmq::socket_type type, bool with_topic, const socket_options& options,
           std::optional<batching> batch);

    std::string bind(std::string_view endpoint);
    void connect(std::string_view endpoint);
    void flush();
    void close() noexcept;
    courier::counters counters() const { return queue_ ? queue_->counters() : socket_.counters; }
    const socket_options& options() const noexcept { return socket_.options(); }
    zmq::socket_t& native() noexcept { return socket_.native(); }

    /// Sends one message in an envelope of kind::message (`topic` ignored without a topic frame).
    status send(std::string_view topic, std::string_view type, std::span<const std::byte> payload,
                header_list headers, deadline& until, bool may_wait);
    /// Sends `frames` as they are, after whatever is queued.
    status send_raw(std::span<zmq::message_t> frames, deadline& until);

private:
    socket socket_;
    bool with_topic_;
    std::unique_ptr<send_queue> queue_; // declared after socket_: closed before it
};

} // namespace courier::detail
