#include "courier/pipeline.hpp"

namespace courier {

pusher::pusher(context& ctx, pusher_options options)
    : socket_(ctx, zmq::socket_type::push, std::move(options.socket)) {}

status pusher::push_payload(std::string_view type, std::span<const std::byte> payload, header_list headers,
                            std::chrono::milliseconds timeout) {
    const outgoing e{.kind = kind::message,
                     .id = next_message_id(),
                     .timestamp_ns = now_ns(),
                     .type_name = type,
                     .headers = headers,
                     .payload = payload};
    zmq::message_t frame(encoded_size(e));
    encode(e, frame.data<std::byte>());
    return socket_.send({&frame, 1}, detail::deadline_after(timeout)) ? status::ok : status::timeout;
}

puller::puller(context& ctx, puller_options options)
    : socket_(ctx, zmq::socket_type::pull, std::move(options.socket)) {}

std::optional<message> puller::receive(std::chrono::milliseconds timeout) {
    return detail::receive_message(socket_, false, detail::deadline_after(timeout));
}

} // namespace courier
