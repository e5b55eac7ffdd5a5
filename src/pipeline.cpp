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
    return receive_until(detail::deadline_after(timeout));
}

std::optional<message> puller::receive_until(detail::clock::time_point deadline) {
    zmq::message_t frame;
    for (;;) {
        auto count = socket_.receive({&frame, 1}, deadline);
        if (count == 0) return std::nullopt;
        try {
            if (count != 1)
                throw error(errc::malformed,
                            "pipeline message of " + std::to_string(count) + " frames (expected [envelope])");
            auto layout = envelope::parse({frame.data<std::byte>(), frame.size()}, socket_.options().limits);
            if (layout.kind != kind::message)
                throw error(errc::malformed, "pipeline envelope of kind " +
                                                 std::to_string(static_cast<int>(layout.kind)) +
                                                 " (expected 1, message)");
            ++socket_.counters.received;
            return message(zmq::message_t(), std::move(frame), layout, socket_.options().limits);
        } catch (const error& e) {
            socket_.reject(e);
        }
    }
}

} // namespace courier
