#pragma once
// Private: a libzmq socket monitor read on a thread of its own, turned into courier::peer_event,
// and the watch for connections libzmq drops for good (cut-offs), which the owner redials.

#include "courier/events.hpp"

#include <zmq.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace courier::detail {
class worker;
}

namespace courier::detail {

/// Where the monitor thread posts the endpoints libzmq cut off and the owner takes them from.
/// @par Thread safety: every member may be called from any thread; pending() is a relaxed load,
/// cheap enough for every receive.
class cut_off_board {
public:
    /// How long after a made connection's DISCONNECTED the monitor waits for libzmq's
    /// CONNECT_RETRIED (raised at once when it redials) before it takes the drop as final.
    static constexpr std::chrono::milliseconds grace{200};

    /// Endpoints (as libzmq names them in events) this socket connected and wants redialled.
    void watch(const std::string& endpoint);
    void unwatch(const std::string& endpoint);
    bool watched(const std::string& endpoint) const;
    /// The monitor thread: `endpoint` was cut off.
    void post(const std::string& endpoint);
    /// The owner: a post is waiting.
    bool pending() const noexcept { return pending_.load(std::memory_order_relaxed); }
    /// The owner: when the oldest waiting post was made.
    std::chrono::steady_clock::time_point since() const;
    /// The owner: takes the waiting posts.
    std::vector<std::string> take();

private:
    mutable std::mutex mutex_;
    std::set<std::string> watched_;
    std::vector<std::string> posted_;
    std::chrono::steady_clock::time_point since_{};
    std::atomic<bool> pending_{false};
};

/// Watches one libzmq socket. Made right after the socket (before any bind or connect, so no
/// event is missed), or by the first connect of a socket without events (for cut-offs only); its
/// thread runs until stop() or the context's shutdown.
/// Move-only owner of the monitor thread and its PAIR socket. @par Thread safety: construct and
/// stop() on the thread that owns the watched socket (libzmq's zmq_socket_monitor is a call on that
/// socket); queue() and cut_offs() may be used from any thread.
class monitor {
public:
    /// `max_message_size` only names the limit in a cut_off event's reason.
    monitor(zmq::context_t& ctx, zmq::socket_t& watched, event_options options, bool heartbeats,
            std::size_t max_message_size);
    monitor(const monitor&) = delete;
    monitor& operator=(const monitor&) = delete;
    ~monitor();

    /// Stops the monitor and waits for its thread (bounded: the thread checks a flag every 20 ms).
    /// Idempotent. The watched socket must still be open.
    void stop(zmq::socket_t& watched) noexcept;
    /// The event queue, or nullptr when events go only to a callback.
    event_queue* queue() noexcept { return queue_.get(); }
    cut_off_board& cut_offs() noexcept { return *board_; }

private:
    void join() noexcept;

    std::unique_ptr<event_queue> queue_;
    std::shared_ptr<cut_off_board> board_ = std::make_shared<cut_off_board>();
    std::atomic<bool> stopping_{false};
    std::unique_ptr<detail::worker> thread_; // "courier-events", not pinned
};

} // namespace courier::detail
