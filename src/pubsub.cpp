#include "courier/pubsub.hpp"

#include "wire/ids.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <thread>

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

publisher::publisher(context& ctx, publisher_options options)
    : sender_(ctx, zmq::socket_type::xpub, true, validated(options).socket, options.batching, options.max_topics),
      delivery_(options.delivery) {
    try {
        if (delivery_ == delivery::lossless) sender_.native().set(zmq::sockopt::xpub_nodrop, 1);
    } catch (const zmq::error_t& e) {
        detail::fail("setting ZMQ_XPUB_NODROP", e);
    }
}

void publisher::publish_raw(std::string_view topic, bytes_view body) {
    std::array<zmq::message_t, 2> frames{zmq::message_t(topic.data(), topic.size()),
                                         zmq::message_t(body.data(), body.size())};
    auto until = delivery_ == delivery::lossless ? detail::deadline::after(sender_.options().send_timeout)
                                                 : detail::deadline::never(); // lossy XPUB never waits
    (void)sender_.send_raw(frames, until); // a timeout is counted
}

status publisher::publish_payload(std::string_view topic, std::string_view type, std::span<const std::byte> payload,
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

void publisher::drain_subscriptions() {
    if (!sender_.is_open()) throw error(errc::closed, "publisher: socket is closed");
    try {
        zmq::message_t m;
        while (sender_.native().recv(m, zmq::recv_flags::dontwait)) note_subscription(present_, m);
    } catch (const zmq::error_t& e) {
        detail::fail("reading subscriptions", e);
    }
}

std::size_t publisher::subscribers() {
    auto lock = sender_.lock_socket();
    drain_subscriptions();
    return present_.size();
}

status publisher::wait_for_subscribers(std::size_t n, std::chrono::milliseconds timeout) {
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

subscriber::subscriber(context& ctx, subscriber_options options)
    : socket_(ctx, zmq::socket_type::sub, std::move(validated(options).socket)), streams_(options.max_streams),
      on_gap_(std::move(options.on_gap)) {
    char digits[17];
    std::snprintf(digits, sizeof digits, "%016llx", static_cast<unsigned long long>(detail::random_id()));
    presence_ = std::string(presence_marker) + digits;
}

void subscriber::subscribe(std::string_view prefix) {
    if (!socket_.is_open()) throw error(errc::closed, "subscribe: socket is closed");
    socket_.native().set(zmq::sockopt::subscribe, zmq::const_buffer(prefix.data(), prefix.size()));
    if (!announced_) {
        // After the first real subscription, so a publisher that sees this sees that one too.
        socket_.native().set(zmq::sockopt::subscribe, zmq::const_buffer(presence_.data(), presence_.size()));
        announced_ = true;
    }
}

void subscriber::unsubscribe(std::string_view prefix) {
    if (!socket_.is_open()) throw error(errc::closed, "unsubscribe: socket is closed");
    socket_.native().set(zmq::sockopt::unsubscribe, zmq::const_buffer(prefix.data(), prefix.size()));
}

std::optional<message> subscriber::receive(std::chrono::milliseconds timeout) {
    auto until = detail::deadline::after(timeout);
    auto m = detail::receive_message(socket_, true, until);
    if (m) note(*m);
    return m;
}

void subscriber::report_gap(std::uint64_t publisher, std::string_view topic, std::uint64_t sequence,
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
        note(*m);
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
