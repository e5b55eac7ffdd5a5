#pragma once
// The acknowledged pipeline: at-least-once delivery from producers to workers that ask for work.
// A reliable_pusher hands each task to a reliable_puller that has credit, keeps it until the
// puller acknowledges it, and hands it out again when the puller dies, leaves, or lets the
// visibility timeout pass. Optionally every task is on disk (an outbox) before push returns.
// Frames are [routing id][envelope] on ROUTER sockets at both ends; docs/patterns/reliable.md.

#include "courier/codec.hpp"
#include "courier/context.hpp"
#include "courier/message.hpp"
#include "courier/options.hpp"
#include "courier/status.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace courier {

/// How hard the outbox works to keep a task once push() has returned.
enum class outbox_sync {
    /// Survives the producer process crashing or being killed (SQLite WAL, synchronous=NORMAL:
    /// written to the operating system before push returns, no fsync per task).
    process_crash,
    /// Also survives the machine losing power (fsync before push returns); far slower.
    power_loss,
};

struct reliable_pusher_options {
    /// socket.heartbeat (1 s / 3 s by default) must be on: pullers are pinged every
    /// heartbeat.interval (a ping that cannot be sent tells a dead puller at once; the pong of a
    /// puller that receives again ends the suspicion a visibility timeout put on it), and a
    /// connection whose peer stays silent is closed by ZMTP heartbeats within heartbeat.timeout,
    /// its tasks handed out again. Mapped to libzmq as on every other socket (courier/events.hpp).
    socket_options socket{};
    /// Tasks pushed and not yet acknowledged (queued or handed out). push() waits for room up to
    /// its timeout; try_push() answers status::full at once. 1 .. 10,000,000.
    std::size_t max_pending = 10000;
    /// A task handed out and not acknowledged within this time is handed out again, and its puller
    /// gets no more until it is heard from (a pong, an ack). 1 ms .. 24 h.
    std::chrono::milliseconds visibility_timeout{30000};
    /// File of the durable outbox (SQLite); empty: tasks live in memory only. A producer started
    /// again on the same file keeps its producer id and hands out what was not acknowledged.
    std::filesystem::path outbox{};
    outbox_sync sync = outbox_sync::process_crash;

    void validate() const;
};

/// Hands tasks to reliable_pullers, each at most its credit window at a time, and keeps every
/// task until a puller acknowledges it. Order: tasks are handed out in push order; a task handed
/// out again goes before newer ones, so a puller sees them out of order only after a failure.
/// A puller that connects again (its probe on a new connection) gets what it held handed out
/// again at once. One library thread owns the socket. Move-only owner; a moved-from pusher is
/// closed (push throws courier::error(closed), drain answers status::closed).
/// @par Thread safety: push, try_push, drain, counters and pending may be called from any number
/// of threads at once; bind, connect and close from one.
class reliable_pusher {
public:
    explicit reliable_pusher(context& ctx, reliable_pusher_options options = {});
    reliable_pusher(reliable_pusher&&) noexcept;
    reliable_pusher& operator=(reliable_pusher&&) noexcept;
    /// Closes: see close().
    ~reliable_pusher();

    std::string bind(std::string_view endpoint);
    void connect(std::string_view endpoint);
    /// Waits until every task is acknowledged, at most socket.linger, then closes. Tasks still
    /// unacknowledged stay in the outbox for the next start, or without one are dropped and counted
    /// (counters().dropped). Idempotent.
    void close() noexcept;

    /// Queues `value` as a task: status::ok once it is queued (and with an outbox, on disk);
    /// status::timeout if max_pending tasks stayed unacknowledged for `timeout`.
    /// Throws courier::error(closed) after close() or a context shutdown, (message_too_large).
    template <class T>
    [[nodiscard]] status push(const T& value, std::chrono::milliseconds timeout, header_list headers = {}) {
        return push_payload(type_name<T>::value, encode_payload(value, detail::scratch()), headers, timeout);
    }
    template <class T>
    [[nodiscard]] status push(const T& value, header_list headers = {}) {
        return push(value, send_timeout(), headers);
    }
    /// As push, but never waits: status::full at once when max_pending tasks are outstanding
    /// (counted as counters().refused). For bursts: tell the caller "try later" right away.
    template <class T>
    [[nodiscard]] status try_push(const T& value, header_list headers = {}) {
        return push_payload(type_name<T>::value, encode_payload(value, detail::scratch()), headers,
                            std::chrono::milliseconds(0), true);
    }

    /// Waits until at most `leave` tasks are unacknowledged (0: every task pushed so far is):
    /// status::ok, or status::timeout; status::closed if the pusher stopped first.
    [[nodiscard]] status drain(std::chrono::milliseconds timeout, std::size_t leave = 0);
    /// Tasks pushed and not yet acknowledged.
    std::size_t pending() const;
    /// This producer's id, carried to pullers (kept across restarts by the outbox).
    std::uint64_t producer_id() const noexcept;
    /// sent (first hand-outs), acknowledged, redelivered, expired (visibility timeouts), refused
    /// (try_push when full), timed_out (push), dropped (unacknowledged at close, no outbox),
    /// rejected (bad input from pullers). A snapshot; any thread.
    courier::counters counters() const;

private:
    /// An already encoded payload under `type`: as push, or as try_push when `refuse_when_full`.
    status push_payload(std::string_view type, std::span<const std::byte> payload, header_list headers,
                        std::chrono::milliseconds timeout, bool refuse_when_full = false);
    std::chrono::milliseconds send_timeout() const noexcept;
    struct engine;
    std::unique_ptr<engine> engine_;
};

struct reliable_puller_options {
    /// socket.heartbeat must be on (see reliable_pusher_options::socket).
    socket_options socket{};
    /// Tasks a pusher may hand this puller before it acknowledges them. 1 .. 65,536.
    std::size_t window = 64;
    /// Tasks per producer remembered to drop duplicates: a task handed out again that this puller
    /// already received within the last `dedup_window` of that producer's tasks is acknowledged
    /// and dropped (counters().duplicates); an older one is delivered again. 1 .. 16 M.
    std::size_t dedup_window = 1u << 16;
    /// Producers remembered for duplicate detection, the least recently heard from forgotten first.
    std::size_t max_producers = 1024;

    void validate() const;
};

/// Receives tasks from reliable_pushers and acknowledges them. A task not acknowledged goes to
/// another puller after the pusher's visibility timeout, or at once when this puller closes or
/// dies. receive() also answers the pushers' pings: a puller that stops receiving looks stuck to
/// them once a task of its own times out. Move-only owner of one socket; a moved-from puller is
/// closed (its calls throw courier::error(closed)). @par Thread safety: one thread at a time.
class reliable_puller {
public:
    explicit reliable_puller(context& ctx, reliable_puller_options options = {});
    reliable_puller(reliable_puller&&) noexcept;
    reliable_puller& operator=(reliable_puller&&) noexcept;
    ~reliable_puller();

    std::string bind(std::string_view endpoint);
    void connect(std::string_view endpoint);
    /// Tells every pusher this puller leaves (its unacknowledged tasks are handed out again at
    /// once), then closes. Idempotent.
    void close() noexcept;

    /// The next task, or nothing if none came within `timeout`. message::producer_id() and
    /// message::id() (the producer's sequence number) identify it. Duplicates and bad input on
    /// the way are counted and skipped; pings on the way are answered.
    [[nodiscard]] std::optional<message> receive(std::chrono::milliseconds timeout);
    /// Acknowledges a task received from this puller: its pusher forgets it and sends another.
    void ack(const message& task);

    courier::counters counters() const;

private:
    struct state;
    std::unique_ptr<state> state_;
};

} // namespace courier
