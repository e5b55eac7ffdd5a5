#pragma once
// Private: the server's memory of recent replies, which makes a client's retries idempotent.

#include "transport/counters.hpp"

#include <zmq.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>

namespace courier::detail {

/// Bounds of a reply cache (server_options: reply_cache_size, reply_cache_window, reply_cache_bytes).
struct reply_cache_limits {
    std::size_t entries = 0;             ///< requests remembered at most; 0 turns the cache off
    std::chrono::milliseconds window{0}; ///< how long a request is remembered after it came
    std::size_t bytes = 0;               ///< reply bytes kept at most; a larger reply is not kept
};

/// Replies remembered by key (the server's: client routing id and request id), oldest forgotten
/// first: past the window, or when over the entry or byte bound (counted as evicted). The clock is
/// the caller's (a time_point per call), so that tests need no sleeps.
/// @par Thread safety: none; the server guards it with its mutex, under which `evictions` counts too.
class reply_cache {
public:
    enum class state {
        absent,   ///< not known: recorded now as running (its handler is to run)
        running,  ///< known, its handler still running: the retry is a duplicate
        answered, ///< known and answered: the reply is copied out
    };

    /// `evictions` (may be null): counts each entry forgotten before its window ended.
    explicit reply_cache(const reply_cache_limits& limits, detail::counter* evictions = nullptr)
        : limits_(limits), evictions_(evictions) {}

    bool enabled() const noexcept { return limits_.entries > 0; }

    /// What is known of `key` at `now`; if nothing, it is recorded as running. An answered key's
    /// reply is copied (shared, not duplicated) into `reply`.
    state begin(const std::string& key, zmq::message_t& reply, std::chrono::steady_clock::time_point now);
    /// Records `reply` as the answer of a running `key` (forgotten already: nothing to do; a reply
    /// over the byte bound is not kept, and a retry runs the handler again).
    void complete(const std::string& key, zmq::message_t& reply);

    std::size_t size() const noexcept { return entries_.size(); }
    std::size_t bytes() const noexcept { return bytes_; }

private:
    struct entry {
        zmq::message_t reply;
        bool answered = false;
        std::size_t bytes = 0;
        std::uint64_t seq = 0;
    };
    struct placed {
        std::string key;
        std::uint64_t seq;
        std::chrono::steady_clock::time_point at;
    };

    void forget_old(std::chrono::steady_clock::time_point now);
    void forget_over_bounds();
    void pop(bool early);

    reply_cache_limits limits_;
    detail::counter* evictions_;
    std::size_t bytes_ = 0;
    std::uint64_t seq_ = 0;
    std::unordered_map<std::string, entry> entries_;
    std::deque<placed> order_;
};

} // namespace courier::detail
