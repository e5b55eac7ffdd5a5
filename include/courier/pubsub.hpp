#pragma once
// Publish-subscribe: frames are [topic][envelope]. The topic is its own frame so libzmq's prefix
// filtering matches it, and a plain zmq SUB socket can subscribe too.

#include "courier/batch.hpp"
#include "courier/codec.hpp"
#include "courier/context.hpp"
#include "courier/detail/sender.hpp"
#include "courier/detail/sequence.hpp"
#include "courier/detail/socket.hpp"
#include "courier/message.hpp"
#include "courier/options.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace courier {

/// What a publisher does when a subscriber's queue (send_hwm) is full.
enum class delivery {
    /// Drop the message for that subscriber and go on: publish never waits. Subscribers count what
    /// they missed from the sequence numbers (subscriber counters().gaps, on_gap).
    lossy,
    /// Wait for room (ZMQ_XPUB_NODROP): publish waits up to send_timeout, then returns
    /// status::timeout having sent nothing; one slow subscriber slows every subscriber.
    lossless,
};

struct publisher_options {
    socket_options socket{};
    /// Set to batch small messages and to make publish() thread-safe (courier/batch.hpp).
    std::optional<courier::batching> batching{};
    courier::delivery delivery = delivery::lossy;
    /// Topics whose sequence number is remembered; beyond this the least recently published half
    /// is forgotten and starts again from 1 (subscribers take that as a new start). 1 .. 16 M.
    std::size_t max_topics = 1u << 16;

    /// Throws courier::error(invalid_option) naming the first field out of range.
    void validate() const;
};

/// Sends typed messages on topics to every subscriber whose prefix matches. Each message carries
/// this publisher's id and its topic's sequence number, so subscribers count what they missed.
/// Lossy (the default): never blocks; what does not fit a subscriber's send_hwm is dropped for
/// that subscriber, and libzmq learns what a subscriber has read only now and then, so a burst of
/// more than send_hwm messages can lose its tail even to a subscriber that keeps up. Lossless:
/// waits for room instead (publisher_options::delivery). With batching, a message that finds the
/// queue full is refused, status::full (lossy), or waits for room in the queue (lossless); a queued
/// message the sending thread cannot hand to libzmq within send_timeout is dropped and counted.
/// The socket is an XPUB: it sees subscriptions, so wait_for_subscribers() can wait for readers.
/// Move-only owner of one socket. @par Thread safety: one thread at a time; with batching set,
/// publish(), try_publish(), flush(), subscribers(), wait_for_subscribers() and counters() may be
/// called from any number of threads at once.
class publisher {
public:
    explicit publisher(context& ctx, publisher_options options = {});

    std::string bind(std::string_view endpoint) { return sender_.bind(endpoint); }
    void connect(std::string_view endpoint) { sender_.connect(endpoint); }
    /// Closes the socket; idempotent. With batching, what is queued has until socket.linger from
    /// now to be handed to libzmq; the rest is dropped and counted (counters().dropped), and
    /// libzmq keeps what is left of linger for what it holds. Returns within linger plus a few ms.
    void close() noexcept { sender_.close(); }
    /// With batching: waits until every message queued at the call has been handed to libzmq
    /// (status::ok) or, finding no room within send_timeout of its publish (lossless), dropped and
    /// counted (status::timeout). Returns within socket.send_timeout plus a few ms. Without
    /// batching there is nothing to wait for: ok.
    [[nodiscard]] status flush() { return sender_.flush(); }

    /// Publishes `value` on `topic`: status::ok once libzmq (or the batching queue) has it. Lossy:
    /// never waits; status::full if the batching queue was full (nothing queued, counted refused).
    /// Lossless: waits for room (with batching: in the queue) up to send_timeout, then
    /// status::timeout (nothing sent). Throws
    /// courier::error(message_too_large) or (closed).
    template <class T>
    status publish(std::string_view topic, const T& value, header_list headers = {}) {
        return publish_payload(topic, type_name<T>::value, encode_payload(value, detail::scratch()), headers);
    }
    /// As publish, but never waits: status::full at once, nothing sent, counted as refused, when a
    /// matching subscriber's queue is full (lossless) or the batching queue is full. For bursts:
    /// answer the caller "try later" right away.
    template <class T>
    [[nodiscard]] status try_publish(std::string_view topic, const T& value, header_list headers = {}) {
        return publish_payload(topic, type_name<T>::value, encode_payload(value, detail::scratch()), headers, true);
    }
    /// Publishes `body` as it is, framed [topic][body] with no envelope: for subscribers that
    /// receive_raw, and plain zmq peers. Unbatched; on a batching publisher it waits for the queue
    /// to drain first, so the order is kept.
    void publish_raw(std::string_view topic, bytes_view body);
    /// Publishes an already encoded payload under `type`; `try_only` as try_publish.
    status publish_payload(std::string_view topic, std::string_view type, std::span<const std::byte> payload,
                           header_list headers = {}, bool try_only = false);

    /// Waits until at least `n` courier subscribers are connected and subscribed: status::ok, or
    /// status::timeout. A subscriber counts from the moment its first subscription (and every one
    /// it had made by then) has reached this publisher, until it disconnects; what it subscribes
    /// later is not waited for. Plain zmq SUB peers are not counted (docs/patterns/pubsub.md).
    /// Throws courier::error(closed).
    [[nodiscard]] status wait_for_subscribers(std::size_t n, std::chrono::milliseconds timeout);
    /// Courier subscribers connected and subscribed now (as wait_for_subscribers counts them).
    std::size_t subscribers();
    /// This publisher's id, random, carried by every message (message::correlation_id()).
    std::uint64_t id() const noexcept { return sender_.publisher_id(); }

    /// sent, timed_out (lossless publish without room), refused (try_publish; with batching, a
    /// publish that found the queue full), dropped (batching: accepted, but not handed to libzmq
    /// within send_timeout or before close()'s linger).
    courier::counters counters() const { return sender_.counters(); }
    /// The libzmq socket (an XPUB). With batching, the sending thread uses it too: leave it alone.
    zmq::socket_t& native() noexcept { return sender_.native(); }

private:
    /// Reads the subscriptions libzmq has queued for us; the caller holds the socket.
    void drain_subscriptions();

    detail::sender sender_;
    courier::delivery delivery_;
    std::unordered_set<std::string> present_; // presence prefixes of subscribers; under the socket lock
    unsigned publishes_ = 0;                  // unbatched: the XPUB is drained every 256 publishes
};

/// Messages a subscriber knows it missed: `count` messages of `topic` from `publisher`, numbered
/// `first` .. first + count - 1, found when the message after them arrived.
struct gap {
    std::uint64_t publisher = 0;
    std::string_view topic;
    std::uint64_t first = 0;
    std::uint64_t count = 0;
};

struct subscriber_options {
    socket_options socket{};
    /// Streams (publisher, topic) whose last sequence number is remembered; beyond this the least
    /// recently heard half is forgotten, and a forgotten stream starts again without a gap. 1 .. 16 M.
    std::size_t max_streams = 1u << 16;
    /// Called on the receiving thread when a message shows that messages before it were missed,
    /// before that message is handed out; also counted in counters().gaps. Must not throw.
    std::function<void(const gap&)> on_gap{};

    /// Throws courier::error(invalid_option) naming the first field out of range.
    void validate() const;
};

/// Receives the messages published on the topic prefixes it subscribed to, and counts the ones it
/// missed: messages from a courier publisher are numbered per (publisher, topic), so a jump in the
/// numbers is a loss (slow subscriber, high-water mark, reconnect), known when the next message of
/// that topic arrives. message::correlation_id() is the publisher's id, message::id() the number.
/// Move-only owner of one socket. @par Thread safety: one thread at a time; handlers run on the
/// thread that calls dispatch().
class subscriber {
public:
    explicit subscriber(context& ctx, subscriber_options options = {});

    std::string bind(std::string_view endpoint) { return socket_.bind(endpoint); }
    void connect(std::string_view endpoint) { socket_.connect(endpoint); }
    void close() noexcept { socket_.close(); }

    /// Receives messages whose topic starts with `prefix` ("" for all).
    void subscribe(std::string_view prefix);
    void unsubscribe(std::string_view prefix);

    /// The next good message, or nothing if none came within `timeout`. Bad input met on the way
    /// is counted (counters().rejected), reported to on_rejected, and skipped.
    std::optional<message> receive(std::chrono::milliseconds timeout);

    /// The next message's payload as a T. A message that does not read as a T is rejected
    /// like bad input, so a stream of Ts survives a stray message of another type.
    template <class T>
    std::optional<T> receive(std::chrono::milliseconds timeout) {
        // detail::receive_as, with every message's number noted (the rest of a batch is decoded
        // straight from its frame, as there).
        auto until = detail::deadline::after(timeout);
        for (;;) {
            std::optional<message> m;
            std::span<const std::byte> payload;
            std::string_view type;
            auto& b = socket_.batch;
            if (b.active()) {
                note(b.layout.correlation_id, {b.topic.data<char>(), b.topic.size()}, b.next_id);
                const auto r = b.take();
                ++socket_.counters.received;
                payload = {b.frame.data<std::byte>() + r.offset, r.size};
                type = {b.frame.data<char>() + b.layout.type_name.offset, b.layout.type_name.size};
            } else {
                m = detail::receive_message(socket_, true, until);
                if (!m) return std::nullopt;
                note(*m);
                payload = m->payload();
                type = m->type_name();
            }
            try {
                return decode_payload<T>(payload, type, socket_.options().limits);
            } catch (const error& e) {
                socket_.reject_received(e);
            }
            if (until.passed()) return std::nullopt;
        }
    }

    /// The next message's frames as they came, [topic][body], without decoding anything: for
    /// raw publishers and plain zmq peers. Other shapes are rejected and skipped.
    std::optional<raw_message> receive_raw(std::chrono::milliseconds timeout);

    /// Subscribes to `prefix` and routes its messages to `handler` in dispatch(). A message
    /// goes to the handler of the longest matching prefix.
    void on(std::string_view prefix, std::function<void(const message&)> handler) {
        add_handler(prefix, [handler = std::move(handler)](const message& m, subscriber&) {
            handler(m);
            return true;
        });
    }
    /// As above, with the payload read as a T, the handler called as handler(topic, value) or
    /// handler(message, value) (for headers, ids, timestamp). A message that does not read as T
    /// is rejected.
    template <class T, class F>
        requires std::invocable<F&, std::string_view, const T&> || std::invocable<F&, const message&, const T&>
    void on(std::string_view prefix, F handler) {
        add_handler(prefix, [handler = std::move(handler)](const message& m, subscriber& self) mutable {
            std::optional<T> value;
            try {
                value.emplace(m.template as<T>());
            } catch (const error& e) {
                self.reject_received(e);
                return false;
            }
            if constexpr (std::invocable<F&, const message&, const T&>) handler(m, *value);
            else handler(m.topic(), *value);
            return true;
        });
    }

    /// Receives one message within `timeout` and runs its handler. Returns true if a message
    /// was handled, false on timeout. A message no handler matches is counted as rejected.
    /// Exceptions from handlers propagate to the caller.
    bool dispatch(std::chrono::milliseconds timeout);

    courier::counters counters() const { return socket_.counters.snapshot(); }
    zmq::socket_t& native() noexcept { return socket_.native(); }

private:
    void reject_received(const error& e) noexcept;
    /// Notes a received message's sequence number; counts and reports a gap before it.
    void note(std::uint64_t publisher, std::string_view topic, std::uint64_t sequence) {
        if (publisher == 0) return; // not numbered: a plain peer, or a pusher-style sender
        if (const auto missed = streams_.note(publisher, topic, sequence)) report_gap(publisher, topic, sequence, missed);
    }
    void note(const message& m) { note(m.correlation_id(), m.topic(), m.id()); }
    void report_gap(std::uint64_t publisher, std::string_view topic, std::uint64_t sequence, std::uint64_t missed) noexcept;
    /// A handler returns false when it rejected the message instead of handling it. It is given
    /// the subscriber rather than capturing it, so that a moved subscriber keeps working.
    using handler_fn = std::function<bool(const message&, subscriber&)>;
    void add_handler(std::string_view prefix, handler_fn handler);

    detail::socket socket_;
    std::vector<std::pair<std::string, handler_fn>> handlers_; // longest prefix first
    detail::stream_tracker streams_;
    std::function<void(const gap&)> on_gap_;
    std::string presence_;  // the prefix that tells publishers this subscriber is there
    bool announced_ = false; // presence_ subscribed (after the first subscription)
};

} // namespace courier
