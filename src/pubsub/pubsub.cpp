#include "courier/pubsub.hpp"

#include "core/owned.hpp"
#include "wire/ids.hpp"
#include "framing/inbox.hpp"
#include "framing/sequence.hpp"
#include "send/sender.hpp"
#include "transport/socket.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <thread>
#include <unordered_set>
#include <vector>

namespace courier {
namespace {

// A subscriber tells publishers it is there by subscribing to this prefix plus 16 hex digits of
// its own. It begins with 0xff, which no UTF-8 topic does: libzmq sends a socket's subscriptions in
// byte order when it connects, so this one arrives after the subscriber's real ones.
constexpr std::string_view presence_marker = "\xff" "courier.subscriber.";

const publisher_options& validated(const publisher_options& o) {
    if (o.max_topics < 1 || o.max_topics > (1u << 24))
        throw error(errc::invalid_option,
                    "publisher_options.max_topics must be 1 .. 16777216, not " + std::to_string(o.max_topics));
    if (o.delivery != delivery::lossy && o.delivery != delivery::lossless)
        throw error(errc::invalid_option, "publisher_options.delivery must be lossy or lossless");
    return o;
}

subscriber_options& validated(subscriber_options& o) {
    o.validate();
    return o;
}

// Notes one message read from the XPUB, [1 or 0][prefix]: a subscription made, or the last holder
// of one gone. Only presence prefixes matter here.
void note_subscription(std::unordered_set<std::string>& present, const zmq::message_t& m) {
    const std::string_view s(m.data<char>(), m.size());
    if (s.size() < 1 + presence_marker.size() || !s.substr(1).starts_with(presence_marker)) return;
    if (s[0] == 1) present.emplace(s.substr(1));
    else present.erase(std::string(s.substr(1)));
}

} // namespace

void publisher_options::validate() const { (void)validated(*this); }

void subscriber_options::validate() const {
    if (max_streams < 1 || max_streams > (1u << 24))
        throw error(errc::invalid_option,
                    "subscriber_options.max_streams must be 1 .. 16777216, not " + std::to_string(max_streams));
}

struct publisher::state {
    state(context& ctx, publisher_options& options);

    status publish(std::string_view topic, std::string_view type, std::span<const std::byte> payload,
                   header_list headers, bool try_only);
    status publish_raw(std::string_view topic, bytes_view body);
    status wait_for_subscribers(std::size_t n, std::chrono::milliseconds timeout);
    std::size_t subscribers();
    /// Reads the subscriptions libzmq has queued for us; the caller holds the socket.
    void drain_subscriptions();

    detail::sender sender_;
    courier::delivery delivery_;
    std::unordered_set<std::string> present_; // presence prefixes of subscribers; under the socket lock
    unsigned publishes_ = 0;                  // unbatched: the XPUB is drained every 256 publishes
};

struct subscriber::state {
    state(context& ctx, subscriber_options& options);

    void subscribe(std::string_view prefix);
    void unsubscribe(std::string_view prefix);
    /// Notes a received message's sequence number; counts and reports a gap before it.
    void note(std::uint64_t publisher, std::string_view topic, std::uint64_t sequence) {
        if (publisher == 0) return; // not numbered: a plain peer, or a pusher-style sender
        if (const auto missed = streams_.note(publisher, topic, sequence)) report_gap(publisher, topic, sequence, missed);
    }
    void note(const message& m) { note(m.correlation_id(), m.topic(), m.id()); }
    void report_gap(std::uint64_t publisher, std::string_view topic, std::uint64_t sequence, std::uint64_t missed) noexcept;
    void add_handler(std::string_view prefix, handler_fn handler);
    bool dispatch(subscriber& owner, std::chrono::milliseconds timeout);

    detail::socket socket_;
    detail::inbox inbox_{true};
    std::vector<std::pair<std::string, handler_fn>> handlers_; // longest prefix first
    detail::stream_tracker streams_;
    std::function<void(const gap&)> on_gap_;
    std::string presence_;  // the prefix that tells publishers this subscriber is there
    bool announced_ = false; // presence_ subscribed (after the first subscription)
};

publisher::state::state(context& ctx, publisher_options& options)
    : sender_(ctx, zmq::socket_type::xpub, true, validated(options).socket, options.batching, options.max_topics),
      delivery_(options.delivery) {
    try {
        if (delivery_ == delivery::lossless) sender_.native().set(zmq::sockopt::xpub_nodrop, 1);
    } catch (const zmq::error_t& e) {
        detail::fail("setting ZMQ_XPUB_NODROP", e);
    }
}

publisher::publisher(context& ctx, publisher_options options) : state_(std::make_unique<state>(ctx, options)) {}
publisher::publisher(publisher&&) noexcept = default;
publisher& publisher::operator=(publisher&&) noexcept = default;
publisher::~publisher() = default;

publisher::state& publisher::self() const { return detail::live_state(state_, "publisher"); }

std::string publisher::bind(std::string_view endpoint) { return self().sender_.bind(endpoint); }
void publisher::connect(std::string_view endpoint) { self().sender_.connect(endpoint); }
void publisher::close() noexcept {
    if (state_) state_->sender_.close();
}
status publisher::flush() { return self().sender_.flush(); }
status publisher::publish_raw(std::string_view topic, bytes_view body) { return self().publish_raw(topic, body); }
status publisher::wait_for_subscribers(std::size_t n, std::chrono::milliseconds timeout) {
    return self().wait_for_subscribers(n, timeout);
}
std::size_t publisher::subscribers() { return self().subscribers(); }
std::uint64_t publisher::id() const noexcept { return state_ ? state_->sender_.publisher_id() : 0; }
courier::counters publisher::counters() const { return state_ ? state_->sender_.counters() : courier::counters{}; }
zmq::socket_t& publisher::native() { return self().sender_.native(); }
status publisher::publish_payload(std::string_view topic, std::string_view type, std::span<const std::byte> payload,
                                  header_list headers) {
    return self().publish(topic, type, payload, headers, false);
}
status publisher::try_publish_payload(std::string_view topic, std::string_view type,
                                      std::span<const std::byte> payload, header_list headers) {
    return self().publish(topic, type, payload, headers, true);
}

status publisher::state::publish_raw(std::string_view topic, bytes_view body) {
    std::array<zmq::message_t, 2> frames{zmq::message_t(topic.data(), topic.size()),
                                         zmq::message_t(body.data(), body.size())};
    auto until = delivery_ == delivery::lossless ? detail::deadline::after(sender_.options().send_timeout)
                                                 : detail::deadline::never(); // lossy XPUB never waits
    return sender_.send_raw(frames, until);
}

status publisher::state::publish(std::string_view topic, std::string_view type, std::span<const std::byte> payload,
                                 header_list headers, bool try_only) {
    // Nobody else reads the XPUB: reports would pile up in libzmq as subscribers come and go.
    if (!sender_.batched()) {
        if (++publishes_ == 256) {
            publishes_ = 0;
            drain_subscriptions();
        }
    } else {
        // Any thread may publish: count per thread, and read only if the socket is free now.
        thread_local unsigned batched_publishes = 0;
        if (++batched_publishes % 256 == 0)
            if (auto lock = sender_.try_lock_socket(); lock.owns_lock()) drain_subscriptions();
    }
    if (try_only) {
        auto now = detail::deadline::after(std::chrono::milliseconds(0));
        return sender_.send(topic, type, payload, headers, now, detail::when_full::refuse);
    }
    if (delivery_ == delivery::lossless) {
        auto until = detail::deadline::after(sender_.options().send_timeout);
        return sender_.send(topic, type, payload, headers, until, detail::when_full::wait);
    }
    auto never = detail::deadline::never(); // a lossy XPUB never waits
    return sender_.send(topic, type, payload, headers, never, detail::when_full::drop);
}

void publisher::state::drain_subscriptions() {
    if (!sender_.is_open()) throw error(errc::closed, "publisher: socket is closed");
    try {
        zmq::message_t m;
        while (sender_.native().recv(m, zmq::recv_flags::dontwait)) note_subscription(present_, m);
    } catch (const zmq::error_t& e) {
        detail::fail("reading subscriptions", e);
    }
}

std::size_t publisher::state::subscribers() {
    auto lock = sender_.lock_socket();
    drain_subscriptions();
    return present_.size();
}

status publisher::state::wait_for_subscribers(std::size_t n, std::chrono::milliseconds timeout) {
    auto until = detail::deadline::after(timeout);
    for (;;) {
        {
            auto lock = sender_.lock_socket();
            drain_subscriptions();
            if (present_.size() >= n) return status::ok;
            if (!sender_.batched()) {
                // Ours alone: block inside libzmq until a subscription arrives or time is up.
                const int ms = until.remaining_ms();
                if (ms == 0) return status::timeout;
                zmq::message_t m;
                try {
                    sender_.native().set(zmq::sockopt::rcvtimeo, ms);
                    if (sender_.native().recv(m, zmq::recv_flags::none)) note_subscription(present_, m);
                } catch (const zmq::error_t& e) {
                    if (e.num() != EINTR) detail::fail("waiting for subscribers", e);
                }
                continue;
            }
        }
        // The batching thread shares the socket: never hold it while waiting; look again each ms.
        if (until.passed()) return status::timeout;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

subscriber::state::state(context& ctx, subscriber_options& options)
    : socket_(ctx, zmq::socket_type::sub, std::move(validated(options).socket)), streams_(options.max_streams),
      on_gap_(std::move(options.on_gap)) {
    char digits[17];
    std::snprintf(digits, sizeof digits, "%016llx", static_cast<unsigned long long>(detail::random_id()));
    presence_ = std::string(presence_marker) + digits;
}

subscriber::subscriber(context& ctx, subscriber_options options) : state_(std::make_unique<state>(ctx, options)) {}
subscriber::subscriber(subscriber&&) noexcept = default;
subscriber& subscriber::operator=(subscriber&&) noexcept = default;
subscriber::~subscriber() = default;

subscriber::state& subscriber::self() const { return detail::live_state(state_, "subscriber"); }

std::string subscriber::bind(std::string_view endpoint) { return self().socket_.bind(endpoint); }
void subscriber::connect(std::string_view endpoint) { self().socket_.connect(endpoint); }
void subscriber::close() noexcept {
    if (state_) state_->socket_.close();
}
void subscriber::subscribe(std::string_view prefix) { self().subscribe(prefix); }
void subscriber::unsubscribe(std::string_view prefix) { self().unsubscribe(prefix); }
courier::counters subscriber::counters() const { return state_ ? state_->socket_.counters.snapshot() : courier::counters{}; }
zmq::socket_t& subscriber::native() { return self().socket_.native(); }
void subscriber::add_handler(std::string_view prefix, handler_fn handler) {
    self().add_handler(prefix, std::move(handler));
}
bool subscriber::dispatch(std::chrono::milliseconds timeout) { return self().dispatch(*this, timeout); }

std::optional<detail::payload_view> subscriber::next_payload(detail::deadline& until) {
    auto& s = self();
    auto p = s.inbox_.next_payload(s.socket_, until);
    if (p) s.note(p->correlation_id, p->topic, p->id);
    return p;
}

void subscriber::state::subscribe(std::string_view prefix) {
    if (!socket_.is_open()) throw error(errc::closed, "subscribe: socket is closed");
    socket_.native().set(zmq::sockopt::subscribe, zmq::const_buffer(prefix.data(), prefix.size()));
    if (!announced_) {
        // After the first real subscription, so a publisher that sees this sees that one too.
        socket_.native().set(zmq::sockopt::subscribe, zmq::const_buffer(presence_.data(), presence_.size()));
        announced_ = true;
    }
}

void subscriber::state::unsubscribe(std::string_view prefix) {
    if (!socket_.is_open()) throw error(errc::closed, "unsubscribe: socket is closed");
    socket_.native().set(zmq::sockopt::unsubscribe, zmq::const_buffer(prefix.data(), prefix.size()));
}

std::optional<message> subscriber::receive(std::chrono::milliseconds timeout) {
    auto& s = self();
    auto until = detail::deadline::after(timeout);
    auto m = s.inbox_.receive_message(s.socket_, until);
    if (m) s.note(*m);
    return m;
}

void subscriber::state::report_gap(std::uint64_t publisher, std::string_view topic, std::uint64_t sequence,
                                   std::uint64_t missed) noexcept {
    socket_.counters.gaps += missed;
    if (!on_gap_) return;
    try {
        on_gap_(gap{.publisher = publisher, .topic = topic, .first = sequence - missed, .count = missed});
    } catch (...) {
        // The callback's contract is not to throw; a receive loop must not die of it.
    }
}

std::optional<raw_message> subscriber::receive_raw(std::chrono::milliseconds timeout) {
    auto& s = self();
    auto until = detail::deadline::after(timeout);
    return s.inbox_.receive_raw(s.socket_, until);
}

void subscriber::reject_payload(const error& e) noexcept {
    if (state_) state_->socket_.reject_received(e);
}

void subscriber::state::add_handler(std::string_view prefix, handler_fn handler) {
    auto same = [&](const auto& h) { return h.first == prefix; };
    if (std::any_of(handlers_.begin(), handlers_.end(), same))
        throw error(errc::invalid_argument, "subscriber::on: a handler for prefix '" + std::string(prefix) +
                                                "' is already registered");
    subscribe(prefix);
    auto at = std::find_if(handlers_.begin(), handlers_.end(),
                           [&](const auto& h) { return h.first.size() < prefix.size(); });
    handlers_.emplace(at, std::string(prefix), std::move(handler));
}

bool subscriber::state::dispatch(subscriber& owner, std::chrono::milliseconds timeout) {
    auto until = detail::deadline::after(timeout);
    while (auto m = inbox_.receive_message(socket_, until)) {
        note(*m);
        auto topic = m->topic();
        auto match = std::find_if(handlers_.begin(), handlers_.end(),
                                  [&](const auto& h) { return topic.starts_with(h.first); });
        if (match == handlers_.end())
            socket_.reject_received(error(errc::invalid_argument, "no handler for topic '" + std::string(topic) +
                                                                      "' (subscribed without on())"));
        else if (match->second(*m, owner))
            return true;
        if (until.passed()) return false;
    }
    return false;
}

} // namespace courier
