#pragma once
// Private: everything a server owns; the request handling is in src/server.cpp, the worker pool
// in src/reqrep/worker_pool.cpp.

#include "transport/socket.hpp"
#include "courier/server.hpp"
#include "reqrep/reply_cache.hpp"
#include "transport/worker.hpp"

#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>

namespace courier::detail {

/// Everything a server owns, behind a pointer so that worker threads see it at a fixed address.
///
/// The worker pool: one thread at a time holds the socket (the owner). It receives a request and
/// runs the handler itself, so a quick handler costs no hand-off. Meanwhile one idle worker (the
/// watcher) samples the owner every handover_after; if the same handler is still running, it takes
/// the socket (under the mutex: the memory barrier libzmq asks for when a socket changes threads)
/// and goes on receiving. The old owner finishes its handler off the socket, queues the reply and
/// wakes the new owner through a detail::waker, which the owner polls beside the socket only
/// while such replies can come. The watcher sleeps once the server has been idle for 100 samples.
/// The pool's threads are detail::workers (src/transport/worker.hpp) ("courier-server", not pinned: they run the
/// application's handlers, as the thread that called run() does); run_pool() in worker_pool.cpp.
/// Counting: socket.counters, by the owner of the moment (handed over under m), except failed
/// (any member's handler: add_shared), handovers and evicted (under m).
class server_core {
public:
    server_core(context& ctx, server_options o)
        : socket(ctx, zmq::socket_type::router, o.socket), options(std::move(o)),
          cache({options.reply_cache_size, options.reply_cache_window, options.reply_cache_bytes},
                &socket.counters.evicted) {
        // Replies to a caller that is gone or full fail at once and are counted, never block.
        socket.native().set(zmq::sockopt::router_mandatory, true);
        // A client reconnecting under its fixed routing id takes its name over from a connection
        // that has not been seen to die yet, so the reply to its retry reaches it.
        socket.native().set(zmq::sockopt::router_handover, true);
    }
    server_core(const server_core&) = delete;
    server_core& operator=(const server_core&) = delete;
    ~server_core() { socket.close(); }

    struct queued_reply {
        zmq::message_t routing;
        bool delimiter;
        zmq::message_t body;
    };

    bool step(int me, deadline& until, buffer& out, bool pooled);
    void member(int me, std::chrono::milliseconds stop_check);
    /// Runs member(0) on the calling thread and members 1 .. workers - 1 on library threads until
    /// the server stops; rethrows nothing (a member's failure is kept in `failure`). Throws if a
    /// thread cannot be started (those started are stopped first).
    void run_pool(std::size_t workers, std::chrono::milliseconds stop_check);
    void request_stop() {
        {
            std::lock_guard lock(m);
            stopping = true;
        }
        cv.notify_all();
        wake();
    }
    void wake() noexcept { waker.signal(); }

    detail::socket socket;
    server_options options;
    std::map<std::string, method_fn, std::less<>> methods;
    buffer solo_answer;

    std::mutex m;
    std::condition_variable cv;
    // Under m:
    detail::reply_cache cache;
    bool running = false, stopping = false, draining = false, finished = false;
    int owner = -1;          // the member holding the socket, -1: none
    bool owner_busy = false; // the owner is running a handler
    std::uint64_t busy_gen = 0;
    int watcher = -1;
    bool watcher_asleep = false;
    std::size_t detached = 0; // handlers running off the socket
    std::deque<queued_reply> replies;
    std::exception_ptr failure;
    detail::waker waker; // wakes the owner polling the socket: replies of handlers off it

private:
    std::size_t receive(std::span<zmq::message_t> frames, deadline& until, bool watch);
    std::optional<zmq::message_t> handle(const message& request, buffer& out);
    void send_reply(zmq::message_t& routing, bool delimiter, zmq::message_t& body);
    void flush_replies();
    void wait_wake(std::chrono::milliseconds timeout);
};

} // namespace courier::detail
