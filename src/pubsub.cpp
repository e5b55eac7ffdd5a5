#include "courier/pubsub.hpp"

#include <algorithm>
#include <array>

namespace courier {

publisher::publisher(context& ctx, publisher_options options)
    : socket_(ctx, zmq::socket_type::pub, options.socket) {
    if (options.batching) {
        if (options.batching->cpu == -1) options.batching->cpu = ctx.next_library_cpu();
        queue_ = std::make_unique<detail::send_queue>(socket_.native(), true, socket_.options(), *options.batching);
    }
}

std::string publisher::bind(std::string_view endpoint) {
    if (!queue_) return socket_.bind(endpoint);
    std::lock_guard lock(queue_->socket_mutex());
    return socket_.bind(endpoint);
}

void publisher::connect(std::string_view endpoint) {
    if (!queue_) return socket_.connect(endpoint);
    std::lock_guard lock(queue_->socket_mutex());
    socket_.connect(endpoint);
}

void publisher::flush() {
    if (queue_) queue_->flush();
}

void publisher::close() noexcept {
    if (queue_) queue_->close();
    socket_.close();
}

void publisher::publish_raw(std::string_view topic, bytes_view body) {
    std::array<zmq::message_t, 2> frames{zmq::message_t(topic.data(), topic.size()),
                                         zmq::message_t(body.data(), body.size())};
    auto never = detail::deadline::never();
    if (!queue_) {
        (void)socket_.send(frames, never);
        return;
    }
    queue_->flush();
    std::lock_guard lock(queue_->socket_mutex());
    (void)queue_->send_raw(frames, never);
}

void publisher::publish_payload(std::string_view topic, std::string_view type, std::span<const std::byte> payload,
                                header_list headers) {
    if (queue_) {
        auto never = detail::deadline::never();
        (void)queue_->send(topic, type, payload, headers, never, false); // full: counted
        return;
    }
    const outgoing e{.kind = kind::message,
                     .id = next_message_id(),
                     .timestamp_ns = now_ns(),
                     .type_name = type,
                     .headers = headers,
                     .payload = payload};
    std::array<zmq::message_t, 2> frames{zmq::message_t(topic.data(), topic.size()), zmq::message_t(encoded_size(e))};
    encode(e, frames[1].data<std::byte>());
    auto never = detail::deadline::never();
    (void)socket_.send(frames, never); // PUB never blocks
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
