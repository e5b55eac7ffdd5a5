#include "courier/pipeline.hpp"

namespace courier {

pusher::pusher(context& ctx, pusher_options options) : socket_(ctx, zmq::socket_type::push, options.socket) {
    if (options.batching) {
        if (options.batching->cpu == -1) options.batching->cpu = ctx.next_library_cpu();
        queue_ = std::make_unique<detail::send_queue>(socket_.native(), false, socket_.options(), *options.batching);
    }
}

std::string pusher::bind(std::string_view endpoint) {
    if (!queue_) return socket_.bind(endpoint);
    std::lock_guard lock(queue_->socket_mutex());
    return socket_.bind(endpoint);
}

void pusher::connect(std::string_view endpoint) {
    if (!queue_) return socket_.connect(endpoint);
    std::lock_guard lock(queue_->socket_mutex());
    socket_.connect(endpoint);
}

void pusher::flush() {
    if (queue_) queue_->flush();
}

void pusher::close() noexcept {
    if (queue_) queue_->close();
    socket_.close();
}

status pusher::push_raw(bytes_view body, std::chrono::milliseconds timeout) {
    zmq::message_t frame(body.data(), body.size());
    auto until = detail::deadline::after(timeout);
    if (!queue_) return socket_.send({&frame, 1}, until) ? status::ok : status::timeout;
    queue_->flush();
    std::lock_guard lock(queue_->socket_mutex());
    return queue_->send_raw({&frame, 1}, until) ? status::ok : status::timeout;
}

status pusher::push_payload(std::string_view type, std::span<const std::byte> payload, header_list headers,
                            std::chrono::milliseconds timeout) {
    auto until = detail::deadline::after(timeout);
    if (queue_) return queue_->send({}, type, payload, headers, until, true);
    const outgoing e{.kind = kind::message,
                     .id = next_message_id(),
                     .timestamp_ns = now_ns(),
                     .type_name = type,
                     .headers = headers,
                     .payload = payload};
    zmq::message_t frame(encoded_size(e));
    encode(e, frame.data<std::byte>());
    return socket_.send({&frame, 1}, until) ? status::ok : status::timeout;
}

puller::puller(context& ctx, puller_options options)
    : socket_(ctx, zmq::socket_type::pull, std::move(options.socket)) {}

std::optional<raw_message> puller::receive_raw(std::chrono::milliseconds timeout) {
    auto until = detail::deadline::after(timeout);
    return detail::receive_raw(socket_, false, until);
}

std::optional<message> puller::receive(std::chrono::milliseconds timeout) {
    auto until = detail::deadline::after(timeout);
    return detail::receive_message(socket_, false, until);
}

} // namespace courier
