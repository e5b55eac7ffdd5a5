#pragma once
// Publish-subscribe: frames are [topic][envelope]. The topic is its own frame so libzmq's prefix
// filtering matches it, and a plain zmq SUB socket can subscribe too.

#include "courier/batch.hpp"
#include "courier/codec.hpp"
#include "courier/context.hpp"
#include "courier/detail/sender.hpp"
#include "courier/detail/socket.hpp"
#include "courier/message.hpp"
#include "courier/options.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace courier {

struct publisher_options {
    socket_options socket{};
    /// Set to batch small messages and to make publish() thread-safe (courier/batch.hpp).
    std::optional<courier::batching> batching{};
};

/// Sends typed messages on topics to every subscriber whose prefix matches. Never blocks: what does
/// not fit a subscriber's send_hwm is dropped for that subscriber (libzmq PUB semantics), and
/// libzmq learns what a subscriber has read only now and then, so a burst of more than send_hwm
/// messages can lose its tail even to a subscriber that keeps up: size send_hwm for your bursts.
/// With batching, a message that finds the queue full is dropped and counted too.
/// Move-only owner of one socket. @par Thread safety: one thread at a time; with batching set,
/// publish(), flush() and counters() may be called from any number of threads at once.
class publisher {
public:
    explicit publisher(context& ctx, publisher_options options = {});

    std::string bind(std::string_view endpoint) { return sender_.bind(endpoint); }
    void connect(std::string_view endpoint) { sender_.connect(endpoint); }
    /// Flushes what is queued (batching), then closes the socket. Idempotent.
    void close() noexcept { sender_.close(); }
    /// Returns once everything published before the call was handed to libzmq. Without
    /// batching there is nothing to wait for.
    void flush() { sender_.flush(); }

    /// Publishes `value` on `topic`. Throws courier::error(message_too_large) or (closed).
    template <class T>
    void publish(std::string_view topic, const T& value, header_list headers = {}) {
        publish_payload(topic, type_name<T>::value, encode_payload(value, detail::scratch()), headers);
    }
    /// Publishes `body` as it is, framed [topic][body] with no envelope: for subscribers that
    /// receive_raw, and plain zmq peers. Unbatched; on a batching publisher it waits for the queue
    /// to drain first, so the order is kept.
    void publish_raw(std::string_view topic, bytes_view body);
    /// Publishes an already encoded payload under `type`.
    void publish_payload(std::string_view topic, std::string_view type, std::span<const std::byte> payload,
                         header_list headers = {});

    courier::counters counters() const { return sender_.counters(); }
    /// The libzmq socket. With batching, the sending thread uses it too: leave it alone.
    zmq::socket_t& native() noexcept { return sender_.native(); }

private:
    detail::sender sender_;
};

struct subscriber_options {
    socket_options socket{};
};

/// Receives the messages published on the topic prefixes it subscribed to.
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
        return detail::receive_as<T>(socket_, true, detail::deadline::after(timeout));
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

    courier::counters counters() const { return socket_.counters; }
    zmq::socket_t& native() noexcept { return socket_.native(); }

private:
    void reject_received(const error& e) noexcept;
    /// A handler returns false when it rejected the message instead of handling it. It is given
    /// the subscriber rather than capturing it, so that a moved subscriber keeps working.
    using handler_fn = std::function<bool(const message&, subscriber&)>;
    void add_handler(std::string_view prefix, handler_fn handler);

    detail::socket socket_;
    std::vector<std::pair<std::string, handler_fn>> handlers_; // longest prefix first
};

} // namespace courier
