#pragma once
// Options every courier socket takes. Plain struct, finite defaults, validated when a socket is made.

#include "courier/envelope.hpp"
#include "courier/error.hpp"
#include "courier/events.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace courier {

/// Options shared by all sockets. Use designated initialisers:
/// `courier::socket_options{.linger = std::chrono::milliseconds(100)}`.
struct socket_options {
    /// How long libzmq goes on delivering queued outgoing messages after close(); destroying the
    /// context waits for them at most this long. close() itself does not wait for the network (a
    /// reliable_pusher's waits up to this long for acknowledgements; a batching sender's gives its
    /// own queue until this long to reach libzmq, and libzmq what is left). 0 .. 1 h; never
    /// infinite, so closing a socket or its context never hangs.
    std::chrono::milliseconds linger{1000};
    /// Largest frame accepted from a peer (ZMQ_MAXMSGSIZE; a peer sending more is disconnected,
    /// and a connection this socket made is then redialled by courier: counters::cut_offs)
    /// and largest message this socket will send (courier::error message_too_large). 1 B .. 2 GiB.
    std::size_t max_message_size = 16u << 20;
    /// Messages (frames) queued per peer before sends block (pusher, client, lossless publisher)
    /// or drop (lossy publisher; a burst larger than this can lose its tail, see publisher). >= 1.
    int send_hwm = 1000;
    /// Messages queued per peer on the receiving side. >= 1.
    int receive_hwm = 1000;
    /// Longest a pusher's push or a lossless publisher's publish waits for room (with batching:
    /// in the queue) before status::timeout; with batching also how long a queued message may
    /// wait for room in libzmq before it is dropped (counters::dropped). Lossy publishers never
    /// wait; a client's send waits until its attempt's deadline. 0 .. 1 h.
    std::chrono::milliseconds send_timeout{5000};
    /// Bounds on decoding what peers send.
    decode_limits limits{};
    /// Called, on the receiving thread, for each incoming message rejected as bad input. The
    /// message is skipped and counted either way; the callback must not throw.
    std::function<void(const error&)> on_rejected{};
    /// ZMTP heartbeats to every peer (courier/events.hpp). On by default: 1 s probes, dead after 3 s.
    heartbeat_options heartbeat{};
    /// Connected, disconnected, dead-peer and cut-off events (courier/events.hpp). Off by default.
    event_options events{};

    /// Throws courier::error(invalid_option) naming the first field out of range.
    void validate() const;
};

/// What a socket has counted since it was made: one type for every pattern, read with each
/// pattern's counters() (a snapshot, safe from any thread where the class says so). Fields a
/// pattern does not use stay 0; each says which patterns count it.
struct counters {
    std::uint64_t sent = 0;      ///< messages (or requests, or replies) handed to libzmq
    std::uint64_t received = 0;  ///< good messages handed to the application
    std::uint64_t rejected = 0;  ///< incoming messages skipped as bad input
    std::uint64_t timed_out = 0; ///< sends or calls that ended in status::timeout
    std::uint64_t late = 0;      ///< replies that came after their call had ended, dropped
    std::uint64_t failed = 0;    ///< requests answered with an error (handler threw, unknown method)
    std::uint64_t unroutable = 0; ///< replies dropped because the caller was gone or full
    std::uint64_t dropped = 0;    ///< messages a batching sender accepted but could not hand to libzmq in time
    std::uint64_t acknowledged = 0; ///< tasks acknowledged (reliable pipeline)
    std::uint64_t redelivered = 0;  ///< tasks handed out again after a puller died, left or timed out
    std::uint64_t expired = 0;      ///< hand-outs whose visibility timeout passed unacknowledged
    /// reliable_puller: tasks received again and dropped (acknowledged again); server: retried
    /// requests dropped because their first attempt was still running (its reply answers the call)
    std::uint64_t duplicates = 0;
    std::uint64_t gaps = 0;         ///< messages a subscriber knows it missed (sequence gaps)
    std::uint64_t refused = 0;      ///< try_push / try_publish (or a lossy batching publish) answered status::full
    /// Connections this socket made that libzmq dropped for good (a protocol error such as a
    /// frame over max_message_size; libzmq never redials after one) and courier redialled
    /// (event_kind::cut_off; docs/patterns/*.md, "Cut-off connections").
    std::uint64_t cut_offs = 0;
    std::uint64_t retries = 0;     ///< client: attempts after the first (each one also counts in sent)
    std::uint64_t unavailable = 0; ///< client: calls that ended status::unavailable
    std::uint64_t replayed = 0;    ///< server: retried requests answered again from the reply cache
    std::uint64_t evicted = 0;     ///< server: replies forgotten before their window ended (cache full)
    std::uint64_t handovers = 0;   ///< server: times a slow handler handed the socket to a standby worker
};

} // namespace courier
