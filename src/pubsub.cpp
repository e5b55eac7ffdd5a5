#include "courier/pubsub.hpp"

#include <algorithm>
#include <array>

namespace courier {

publisher::publisher(context& ctx, publisher_options options)
    : sender_(ctx, zmq::socket_type::pub, true, options.socket, options.batching) {}

void publisher::publish_raw(std::string_view topic, bytes_view body) {
    std::array<zmq::message_t, 2> frames{zmq::message_t(topic.data(), topic.size()),
                                         zmq::message_t(body.data(), body.size())};
    auto never = detail::deadline::never();
    (void)sender_.send_raw(frames, never); // PUB never blocks
}

void publisher::publish_payload(std::string_view topic, std::string_view type, std::span<const std::byte> payload,
                                header_list headers) {
    auto never = detail::deadline::never();
    (void)sender_.send(topic, type, payload, headers, never, false); // a full queue drops and counts
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
    auto until = detail::deadline::after(timeout);
    return detail::receive_message(socket_, true, until);
}

std::optional<raw_message> subscriber::receive_raw(std::chrono::milliseconds timeout) {
    auto until = detail::deadline::after(timeout);
    return detail::receive_raw(socket_, true, until);
}

void subscriber::reject_received(const error& e) noexcept { socket_.reject_received(e); }

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
    auto until = detail::deadline::after(timeout);
    while (auto m = detail::receive_message(socket_, true, until)) {
        auto topic = m->topic();
        auto match = std::find_if(handlers_.begin(), handlers_.end(),
                                  [&](const auto& h) { return topic.starts_with(h.first); });
        if (match == handlers_.end())
            reject_received(error(errc::invalid_argument,
                                  "no handler for topic '" + std::string(topic) + "' (subscribed without on())"));
        else if (match->second(*m, *this))
            return true;
        if (until.passed()) return false;
    }
    return false;
}

} // namespace courier
