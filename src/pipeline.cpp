#include "courier/pipeline.hpp"

namespace courier {

pusher::pusher(context& ctx, pusher_options options)
    : sender_(ctx, zmq::socket_type::push, false, options.socket, options.batching) {}

status pusher::push_raw(bytes_view body, std::chrono::milliseconds timeout) {
    zmq::message_t frame(body.data(), body.size());
    auto until = detail::deadline::after(timeout);
    return sender_.send_raw({&frame, 1}, until);
}

status pusher::push_payload(std::string_view type, std::span<const std::byte> payload, header_list headers,
                            std::chrono::milliseconds timeout, bool try_only) {
    auto until = detail::deadline::after(try_only ? std::chrono::milliseconds(0) : timeout);
    return sender_.send({}, type, payload, headers, until,
                        try_only ? detail::when_full::refuse : detail::when_full::wait);
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
