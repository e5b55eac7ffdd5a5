#pragma once
// Batching: many small messages to one destination travel as one frame, and any number of
// threads may send through one publisher or pusher.

#include <chrono>
#include <cstddef>

namespace courier {

/// Options for a sender that batches (publisher_options::batching, pusher_options::batching).
/// Setting them makes the sender thread-safe: calls from any thread go into a queue that a
/// sending thread of the socket's own drains, packing what it finds into batch frames. A call that
/// comes when the sender is idle skips the queue and leaves at once from the caller's thread, so
/// batching adds no latency at low load. Receivers hand batched messages out one by one, in order.
struct batching {
    /// Messages in one batch frame. 1 .. 65,536 (receivers' decode_limits::max_batch).
    std::size_t max_messages = 256;
    /// Payload bytes in one batch frame; a larger message travels alone. 1 B .. 16 MiB.
    std::size_t max_bytes = 64u << 10;
    /// How long a partial batch may wait for more messages; 0 (the default) never waits: whatever
    /// has accumulated while the socket was busy goes out. 0 .. 1 s.
    std::chrono::microseconds max_delay{0};
    /// Bytes waiting in the queue, beyond which a pusher's push waits (up to its timeout) and a
    /// publisher's publish drops the message (counted). 1 KiB .. 1 GiB.
    std::size_t max_queued_bytes = 8u << 20;
    /// A call that comes later than this after the previous one leaves directly from the calling
    /// thread when nothing is queued; calls closer together are queued and batched. 0 .. 1 s.
    std::chrono::microseconds direct_gap{20};
    /// CPU to pin the sending thread to; -1 takes the next of the context's library_thread_cpus,
    /// or leaves it to the scheduler if there are none.
    int cpu = -1;

    /// Throws courier::error(invalid_option) naming the first field out of range.
    void validate() const;
};

} // namespace courier
