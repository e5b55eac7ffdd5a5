#include "courier/pipeline.hpp"

#include "core/owned.hpp"
#include "framing/inbox.hpp"
#include "send/sender.hpp"
#include "transport/socket.hpp"

namespace courier {

struct pusher::state {
    detail::sender sender_;
};

struct puller::state {
    detail::socket socket_;
    detail::inbox inbox_{false};
};

pusher::pusher(context& ctx, pusher_options options)
    : state_(std::make_unique<state>(
          state{detail::sender(ctx, zmq::socket_type::push, false, options.socket, options.batching)})) {}
pusher::pusher(pusher&&) noexcept = default;
pusher& pusher::operator=(pusher&&) noexcept = default;
pusher::~pusher() = default;

pusher::state& pusher::self() const { return detail::live_state(state_, "pusher"); }

std::string pusher::bind(std::string_view endpoint) { return self().sender_.bind(endpoint); }
void pusher::connect(std::string_view endpoint) { self().sender_.connect(endpoint); }
void pusher::close() noexcept {
    if (state_) state_->sender_.close();
}
status pusher::flush() { return self().sender_.flush(); }
courier::counters pusher::counters() const { return state_ ? state_->sender_.counters() : courier::counters{}; }
zmq::socket_t& pusher::native() { return self().sender_.native(); }
std::chrono::milliseconds pusher::send_timeout() const { return self().sender_.options().send_timeout; }

status pusher::push_raw(bytes_view body, std::chrono::milliseconds timeout) {
    auto& s = self();
    zmq::message_t frame(body.data(), body.size());
    auto until = detail::deadline::after(timeout);
    return s.sender_.send_raw({&frame, 1}, until);
}

status pusher::push_payload(std::string_view type, std::span<const std::byte> payload, header_list headers,
                            std::chrono::milliseconds timeout) {
    auto until = detail::deadline::after(timeout);
    return self().sender_.send({}, type, payload, headers, until, detail::when_full::wait);
}

status pusher::try_push_payload(std::string_view type, std::span<const std::byte> payload, header_list headers) {
    auto now = detail::deadline::after(std::chrono::milliseconds(0));
    return self().sender_.send({}, type, payload, headers, now, detail::when_full::refuse);
}

puller::puller(context& ctx, puller_options options)
    : state_(std::make_unique<state>(state{detail::socket(ctx, zmq::socket_type::pull, std::move(options.socket))})) {}
puller::puller(puller&&) noexcept = default;
puller& puller::operator=(puller&&) noexcept = default;
puller::~puller() = default;

puller::state& puller::self() const { return detail::live_state(state_, "puller"); }

std::string puller::bind(std::string_view endpoint) { return self().socket_.bind(endpoint); }
void puller::connect(std::string_view endpoint) { self().socket_.connect(endpoint); }
void puller::close() noexcept {
    if (state_) state_->socket_.close();
}
courier::counters puller::counters() const { return state_ ? state_->socket_.counters.snapshot() : courier::counters{}; }
zmq::socket_t& puller::native() { return self().socket_.native(); }

std::optional<raw_message> puller::receive_raw(std::chrono::milliseconds timeout) {
    auto& s = self();
    auto until = detail::deadline::after(timeout);
    return s.inbox_.receive_raw(s.socket_, until);
}

std::optional<message> puller::receive(std::chrono::milliseconds timeout) {
    auto& s = self();
    auto until = detail::deadline::after(timeout);
    return s.inbox_.receive_message(s.socket_, until);
}

std::optional<detail::payload_view> puller::next_payload(detail::deadline& until) {
    auto& s = self();
    return s.inbox_.next_payload(s.socket_, until);
}

void puller::reject_payload(const error& e) noexcept {
    if (state_) state_->socket_.reject_received(e);
}

} // namespace courier
