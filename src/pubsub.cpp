#include "courier/pubsub.hpp"

#include <algorithm>
#include <array>

namespace courier {

publisher::publisher(context& ctx, publisher_options options)
    : socket_(ctx, zmq::socket_type::pub, std::move(options.socket)) {}

void publisher::publish_payload(std::string_view topic, std::string_view type, std::span<const std::byte> payload,
                                header_list headers) {
    const outgoing e{.kind = kind::message,
                     .id = next_message_id(),
                     .timestamp_ns = now_ns(),
                     .type_name = type,
                     .headers = headers,
                     .payload = payload};
    std::array<zmq::message_t, 2> frames{zmq::message_t(topic.data(), topic.size()), zmq::message_t(encoded_size(e))};
    encode(e, frames[1].data<std::byte>());
    (void)socket_.send(frames, detail::clock::time_point::max()); // PUB never blocks
}

subscriber::subscriber(context& ctx, subscriber_options options)
    : socket_(ctx, zmq::socket_type::sub, std::move(options.socket)) {}

void subscriber::subscribe(std::string_view prefix) {
    socket_.native().set(zmq::sockopt::subscribe, zmq::const_buffer(prefix.data(), prefix.size()));
}

void subscriber::unsubscribe(std::string_view prefix) {
    socket_.native().set(zmq::sockopt::unsubscribe, zmq::const_buffer(prefix.data(), prefix.size()));
}

std::optional<message> subscriber::receive(std::chrono::milliseconds timeout) {
    return receive_until(detail::deadline_after(timeout));
}

std::optional<message> subscriber::receive_until(detail::clock::time_point deadline) {
    std::array<zmq::message_t, 2> frames;
    for (;;) {
        auto count = socket_.receive(frames, deadline);
        if (count == 0) return std::nullopt;
        try {
            if (count == 1)
                throw error(errc::missing_frame, "publish-subscribe message of 1 frame: the topic frame or the "
                                                 "envelope frame is missing (expected [topic][envelope])");
            if (count > 2)
                throw error(errc::malformed, "publish-subscribe message of " + std::to_string(count) +
                                                 " frames (expected [topic][envelope])");
            auto layout = envelope::parse({frames[1].data<std::byte>(), frames[1].size()},
                                          socket_.options().limits);
            if (layout.kind != kind::message)
                throw error(errc::malformed, "publish-subscribe envelope of kind " +
                                                 std::to_string(static_cast<int>(layout.kind)) +
                                                 " (expected 1, message)");
            ++socket_.counters.received;
            return message(std::move(frames[0]), std::move(frames[1]), layout, socket_.options().limits);
        } catch (const error& e) {
            socket_.reject(e);
        }
    }
}

void subscriber::reject_received(const error& e) noexcept {
    // It was counted as received when its envelope decoded; it is a rejection after all.
    --socket_.counters.received;
    socket_.reject(e);
}

void subscriber::add_handler(std::string_view prefix, handler_fn handler) {
    auto same = [&](const auto& h) { return h.first == prefix; };
    if (std::any_of(handlers_.begin(), handlers_.end(), same))
        throw error(errc::invalid_argument, "subscriber::on: a handler for prefix '" + std::string(prefix) +
                                                "' is already registered");
    subscribe(prefix);
    auto at = std::find_if(handlers_.begin(), handlers_.end(),
                           [&](const auto& h) { return h.first.size() < prefix.size(); });
    handlers_.emplace(at, std::string(prefix), std::move(handler));
}

bool subscriber::dispatch(std::chrono::milliseconds timeout) {
    const auto deadline = detail::deadline_after(timeout);
    while (auto m = receive_until(deadline)) {
        auto topic = m->topic();
        auto match = std::find_if(handlers_.begin(), handlers_.end(),
                                  [&](const auto& h) { return topic.starts_with(h.first); });
        if (match == handlers_.end()) {
            reject_received(error(errc::invalid_argument,
                                  "no handler for topic '" + std::string(topic) + "' (subscribed without on())"));
            continue;
        }
        if (match->second(*m, *this)) return true;
    }
    return false;
}

} // namespace courier
