#pragma once
// Private: a socket's counters, which any thread may read while the socket's thread counts.

#include "courier/options.hpp"

#include <atomic>
#include <cstdint>

namespace courier::detail {

/// One counter: written by one thread at a time (the socket's owner, or whoever holds the mutex
/// that guards the counted event), read by any. A count is a relaxed load and a relaxed store,
/// no locked read-modify-write, so it costs what a plain integer does. Where threads count
/// without a common lock, add_shared() (a fetch_add) is used instead.
class counter {
public:
    counter() = default;
    /// Moves go with their owner (a socket moved on its one thread): the value is copied.
    counter(counter&& other) noexcept : value_(other.load()) {}
    counter& operator=(counter&& other) noexcept {
        value_.store(other.load(), std::memory_order_relaxed);
        return *this;
    }

    counter& operator+=(std::uint64_t n) noexcept {
        value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
        return *this;
    }
    counter& operator++() noexcept { return *this += 1; }
    /// Takes back a count of this writer's (a message counted received, then refused).
    counter& operator--() noexcept {
        value_.store(value_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
        return *this;
    }
    /// For a counter several threads write without a common lock.
    void add_shared(std::uint64_t n) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t load() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> value_{0};
};

/// courier::counters as a socket keeps them, field for field (the same names, documented there).
/// @par Thread safety: each field as counter says; snapshot() from any thread (the fields are
/// read one by one, so a snapshot taken while counting may be a few counts apart between fields).
struct live_counters {
    counter sent, received, rejected, timed_out, late, failed, unroutable, dropped, acknowledged, redelivered,
        expired, duplicates, gaps, refused, cut_offs, retries, unavailable, replayed, evicted, handovers;

    courier::counters snapshot() const noexcept {
        return {.sent = sent.load(),
                .received = received.load(),
                .rejected = rejected.load(),
                .timed_out = timed_out.load(),
                .late = late.load(),
                .failed = failed.load(),
                .unroutable = unroutable.load(),
                .dropped = dropped.load(),
                .acknowledged = acknowledged.load(),
                .redelivered = redelivered.load(),
                .expired = expired.load(),
                .duplicates = duplicates.load(),
                .gaps = gaps.load(),
                .refused = refused.load(),
                .cut_offs = cut_offs.load(),
                .retries = retries.load(),
                .unavailable = unavailable.load(),
                .replayed = replayed.load(),
                .evicted = evicted.load(),
                .handovers = handovers.load()};
    }
};

} // namespace courier::detail
