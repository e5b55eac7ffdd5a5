#pragma once
// Pipeline: pushers hand messages round-robin to connected pullers; a puller fair-queues from
// all its pushers. Frames are [envelope].

#include "courier/batch.hpp"
#include "courier/codec.hpp"
#include "courier/context.hpp"
#include "courier/detail/sender.hpp"
#include "courier/detail/socket.hpp"
#include "courier/message.hpp"
#include "courier/options.hpp"
#include "courier/status.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace courier {

struct pusher_options {
    socket_options socket{};
    /// Set to batch small messages and to make push() thread-safe (courier/batch.hpp).
    std::optional<courier::batching> batching{};
};

/// Sends typed messages to pullers, round-robin. A push waits while every puller is send_hwm
/// messages behind (or none is connected), at most socket.send_timeout or the timeout given;
/// try_push never waits.
/// With batching, a push waits only for room in the queue (max_queued_bytes), never for a
/// puller: with no puller it returns status::ok at once. A queued message that no puller has room
/// for within send_timeout of its push is dropped and counted (counters().dropped), so that
/// sent + dropped == pushes that returned ok. A batch goes whole to one puller.
/// Move-only owner of one socket. @par Thread safety: one thread at a time; with batching set,
/// push(), try_push(), flush() and counters() may be called from any number of threads at once.
class pusher {
public:
    explicit pusher(context& ctx, pusher_options options = {});

    std::string bind(std::string_view endpoint) { return sender_.bind(endpoint); }
    void connect(std::string_view endpoint) { sender_.connect(endpoint); }
    /// Closes the socket; idempotent. With batching, what is queued has until socket.linger from
    /// now to be handed to libzmq; the rest is dropped and counted (counters().dropped), and
    /// libzmq keeps what is left of linger for what it holds. Returns within linger plus a few ms.
    void close() noexcept { sender_.close(); }
    /// With batching: waits until every message queued at the call has been handed to libzmq
    /// (status::ok) or, finding no room within send_timeout of its push, dropped and counted
    /// (status::timeout). Returns within socket.send_timeout plus a few ms. Without batching: ok.
    [[nodiscard]] status flush() { return sender_.flush(); }

    /// Pushes `value`: status::ok once libzmq (or, with batching, the queue) has it,
    /// status::timeout if no room (with batching: in the queue) came in time. Throws
    /// courier::error(message_too_large) or (closed).
    template <class T>
    [[nodiscard]] status push(const T& value, header_list headers = {}) {
        return push_payload(type_name<T>::value, encode_payload(value, detail::scratch()), headers,
                            sender_.options().send_timeout);
    }
    template <class T>
    [[nodiscard]] status push(const T& value, std::chrono::milliseconds timeout, header_list headers = {}) {
        return push_payload(type_name<T>::value, encode_payload(value, detail::scratch()), headers, timeout);
    }
    /// As push, but never waits: status::full at once, nothing sent, counted as refused
    /// (counters().refused), when no puller has room (or none is connected), or with batching when
    /// the queue is full. For bursts: answer the caller "try later" right away.
    template <class T>
    [[nodiscard]] status try_push(const T& value, header_list headers = {}) {
        return push_payload(type_name<T>::value, encode_payload(value, detail::scratch()), headers,
                            std::chrono::milliseconds(0), true);
    }
    /// Pushes `body` as it is, with no envelope: for pullers that receive_raw, and plain zmq
    /// peers. Unbatched; on a batching pusher it waits, within the same timeout, for the queue
    /// to drain first (status::timeout, nothing sent, if it does not).
    [[nodiscard]] status push_raw(bytes_view body, std::chrono::milliseconds timeout);
    [[nodiscard]] status push_raw(bytes_view body) { return push_raw(body, sender_.options().send_timeout); }
    /// Pushes an already encoded payload under `type`; `try_only` as try_push (`timeout` unused).
    [[nodiscard]] status push_payload(std::string_view type, std::span<const std::byte> payload, header_list headers,
                                      std::chrono::milliseconds timeout, bool try_only = false);

    courier::counters counters() const { return sender_.counters(); }
    /// The libzmq socket. With batching, the sending thread uses it too: leave it alone.
    zmq::socket_t& native() noexcept { return sender_.native(); }

private:
    detail::sender sender_;
};

struct puller_options {
    socket_options socket{};
};

/// Receives what pushers send, fair-queued across them.
/// Move-only owner of one socket. @par Thread safety: one thread at a time.
class puller {
public:
    explicit puller(context& ctx, puller_options options = {});

    std::string bind(std::string_view endpoint) { return socket_.bind(endpoint); }
    void connect(std::string_view endpoint) { socket_.connect(endpoint); }
    void close() noexcept { socket_.close(); }

    /// The next good message, or nothing if none came within `timeout`. Bad input met on the
    /// way is counted (counters().rejected), reported to on_rejected, and skipped.
    std::optional<message> receive(std::chrono::milliseconds timeout);

    /// The next message's frame as it came, without decoding anything: for raw pushers and plain
    /// zmq peers. A multipart message is rejected and skipped.
    std::optional<raw_message> receive_raw(std::chrono::milliseconds timeout);

    /// The next message's payload as a T; one that does not read as T is rejected and skipped.
    template <class T>
    std::optional<T> receive(std::chrono::milliseconds timeout) {
        return detail::receive_as<T>(socket_, false, detail::deadline::after(timeout));
    }

    courier::counters counters() const { return socket_.counters.snapshot(); }
    zmq::socket_t& native() noexcept { return socket_.native(); }

private:
    detail::socket socket_;
};

} // namespace courier
