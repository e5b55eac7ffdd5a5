#pragma once
// Peer events (connected, disconnected, dead peer, cut off) and the heartbeats that find dead peers.
// Any courier socket can report them: set socket_options::events. The machinery is libzmq's
// socket monitor on a thread of its own and ZMTP heartbeats run by libzmq's I/O threads, so
// nothing of it is on the path of a message. A socket that connects to a tcp or ipc endpoint and
// reads has the monitor whether events are on or not: it finds the connections libzmq drops for
// good (event_kind::cut_off), which the socket redials when a receive or send waits.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace courier {

/// ZMTP heartbeats, sent and answered by libzmq's I/O threads whatever the application does.
/// A peer is declared dead when nothing (a message or a heartbeat answer) has come from it for
/// `timeout`; its connection is then dropped (a connecting side reconnects) and, with events on,
/// reported as event_kind::dead_peer.
struct heartbeat_options {
    /// How often each connection is probed. 0 turns heartbeats off. 0, or 10 ms .. 1 h.
    std::chrono::milliseconds interval{1000};
    /// Silence after which a peer is dead: more than `interval`, at most 1 h. The peer is declared
    /// dead between `timeout - interval` and `timeout` after it stopped answering (probes go out
    /// every `interval`), so `timeout` is the bound an application can rely on.
    std::chrono::milliseconds timeout{3000};

    bool enabled() const noexcept { return interval.count() > 0; }
    /// Throws courier::error(invalid_option) naming the field out of range.
    void validate() const;
};

enum class event_kind {
    connected,    ///< a connection finished its handshake: messages can flow
    disconnected, ///< the peer's side closed a connection (closed, exited, or killed: its OS closes for it)
    dead_peer,    ///< a connection the peer never closed was dropped: heartbeats went unanswered (frozen, hung, unreachable)
    /// A connection this socket made (connect) that libzmq dropped for good: a protocol error
    /// after the handshake, such as a frame over max_message_size, after which libzmq never
    /// redials. Follows that connection's disconnected or dead_peer event; courier redials the
    /// endpoint (counters::cut_offs), so a connected event follows once the peer is back.
    cut_off,
};

constexpr std::string_view to_string(event_kind k) noexcept {
    switch (k) {
    case event_kind::connected: return "connected";
    case event_kind::disconnected: return "disconnected";
    case event_kind::dead_peer: return "dead_peer";
    case event_kind::cut_off: return "cut_off";
    }
    return "unknown";
}

/// One event of one connection.
struct peer_event {
    event_kind kind{};
    /// The endpoint connected to, or for a connection accepted by a bound socket, the bound one.
    std::string endpoint{};
    /// The peer's own address when the OS says ("tcp://127.0.0.1:51234"); empty otherwise.
    std::string peer{};
    /// When courier read the event from libzmq (cut_off: when it concluded libzmq would not redial).
    std::chrono::steady_clock::time_point at{};
    /// Why, in words: set for cut_off (what libzmq drops a connection for good on); empty for the others.
    std::string reason{};
};

/// A bounded queue of events: the monitor thread pushes, the application pops. When it is full the
/// oldest event is dropped and counted, so a queue nobody reads never grows.
/// Owned by the socket that reports into it. @par Thread safety: every member may be called from
/// any thread.
class event_queue {
public:
    explicit event_queue(std::size_t capacity) : capacity_(capacity) {}

    /// The oldest event, waiting at most `timeout` for one.
    [[nodiscard]] std::optional<peer_event> wait(std::chrono::milliseconds timeout);
    /// The oldest event, if there is one.
    [[nodiscard]] std::optional<peer_event> try_pop();
    std::size_t size() const;
    /// Events dropped because the queue was full.
    std::uint64_t dropped() const;

    /// Adds `e`, dropping the oldest event if the queue is full.
    void push(peer_event e);

private:
    mutable std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<peer_event> events_;
    std::size_t capacity_;
    std::uint64_t dropped_ = 0;
};

/// Where a socket reports its peer events. Off unless a callback or a queue is set; then the socket
/// has a monitor thread (which a socket that connects to a tcp or ipc endpoint has anyway, for cut-offs).
struct event_options {
    /// Called on the socket's monitor thread for each event. Must not throw (an exception is
    /// swallowed) and should return quickly: events behind it wait.
    std::function<void(const peer_event&)> on_event{};
    /// Events kept for event_queue::wait/try_pop (the socket's events()); 0: no queue. 0 .. 1,000,000.
    std::size_t queue_capacity = 0;

    bool enabled() const noexcept { return static_cast<bool>(on_event) || queue_capacity > 0; }
    /// Throws courier::error(invalid_option) when queue_capacity is out of range.
    void validate() const;
};

} // namespace courier
