#pragma once
// Private: a libzmq socket monitor read on a thread of its own, turned into courier::peer_event.

#include "courier/events.hpp"

#include <zmq.hpp>

#include <atomic>
#include <memory>
#include <thread>

namespace courier::detail {

/// Watches one libzmq socket. Made right after the socket (before any bind or connect, so no
/// event is missed); its thread runs until stop() or the context's shutdown.
/// Move-only owner of the monitor thread and its PAIR socket. @par Thread safety: construct and
/// stop() on the thread that owns the watched socket (libzmq's zmq_socket_monitor is a call on that
/// socket); queue() may be used from any thread.
class monitor {
public:
    monitor(zmq::context_t& ctx, zmq::socket_t& watched, event_options options, bool heartbeats);
    monitor(const monitor&) = delete;
    monitor& operator=(const monitor&) = delete;
    ~monitor() { join(); }

    /// Stops the monitor and waits for its thread (bounded: the thread checks a flag every 20 ms).
    /// Idempotent. The watched socket must still be open.
    void stop(zmq::socket_t& watched) noexcept;
    /// The event queue, or nullptr when events go only to a callback.
    event_queue* queue() noexcept { return queue_.get(); }

private:
    void join() noexcept;

    std::unique_ptr<event_queue> queue_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

} // namespace courier::detail
