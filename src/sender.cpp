#include "courier/detail/sender.hpp"

#include <array>
#include <mutex>

namespace courier::detail {

sender::sender(context& ctx, zmq::socket_type type, bool with_topic, const socket_options& options,
               std::optional<batching> batch)
    : socket_(ctx, type, options), with_topic_(with_topic) {
    if (!batch) return;
    if (batch->cpu == -1) batch->cpu = ctx.next_library_cpu();
    queue_ = std::make_unique<send_queue>(socket_.native(), with_topic, socket_.options(), *batch);
}

std::string sender::bind(std::string_view endpoint) {
    if (!queue_) return socket_.bind(endpoint);
    std::lock_guard lock(queue_->socket_mutex());
    return socket_.bind(endpoint);
}

void sender::connect(std::string_view endpoint) {
    if (!queue_) return socket_.connect(endpoint);
    std::lock_guard lock(queue_->socket_mutex());
    socket_.connect(endpoint);
}

void sender::flush() {
    if (queue_) queue_->flush();
}

void sender::close() noexcept {
    if (queue_) queue_->close();
    socket_.close();
}

status sender::send(std::string_view topic, std::string_view type, std::span<const std::byte> payload,
                    header_list headers, deadline& until, bool may_wait) {
    if (queue_) return queue_->send(topic, type, payload, headers, until, may_wait);
    auto m = message_of(with_topic_, topic, type, payload, headers);
    return socket_.send(m.all(), until) ? status::ok : status::timeout;
}

status sender::send_raw(std::span<zmq::message_t> frames, deadline& until) {
    if (!queue_) return socket_.send(frames, until) ? status::ok : status::timeout;
    queue_->flush(); // the caller's earlier messages go first
    std::lock_guard lock(queue_->socket_mutex());
    return queue_->send_raw(frames, until) ? status::ok : status::timeout;
}

} // namespace courier::detail
