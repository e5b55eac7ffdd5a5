#include "reqrep/server_core.hpp"

#include <vector>

namespace courier::detail {

void server_core::member(int me, std::chrono::milliseconds stop_check) {
    buffer out;
    std::unique_lock lock(m);
    std::uint64_t seen_gen = busy_gen;
    int idle_samples = 0;
    // Runs `work` with m released; false (the pool stops, the first failure kept for run() to
    // rethrow) if it threw. m is held again either way.
    auto unlocked = [&](auto&& work) {
        lock.unlock();
        try {
            work();
        } catch (...) {
            lock.lock();
            if (!failure) failure = std::current_exception();
            stopping = finished = true;
            owner = -1;
            cv.notify_all();
            return false;
        }
        lock.lock();
        return true;
    };
    for (;;) {
        if (finished) return;
        if (owner < 0) owner = me;
        if (owner == me) {
            if (stopping) {
                // No new requests: wait for the handlers off the socket, send their replies.
                if (detached == 0 && replies.empty()) {
                    finished = true;
                    owner = -1;
                    cv.notify_all();
                    return;
                }
                const bool queued = !replies.empty();
                if (!unlocked([&] { queued ? flush_replies() : wait_wake(stop_check); })) return;
                continue;
            }
            if (!unlocked([&] {
                    auto until = deadline::after(stop_check);
                    (void)step(me, until, out, true);
                }))
                return;
            continue;
        }
        // A standby. One of them watches the owner; the others sleep until needed.
        if (stopping) {
            cv.wait(lock);
            continue;
        }
        if (watcher < 0) watcher = me;
        if (watcher != me) {
            cv.wait(lock);
            continue;
        }
        if (owner_busy) {
            const auto gen = busy_gen;
            const auto until = clock::now() + options.handover_after;
            while (cv.wait_until(lock, until) == std::cv_status::no_timeout && !finished && !stopping &&
                   owner_busy && busy_gen == gen) {
            }
            if (!finished && !stopping && owner >= 0 && owner != me && owner_busy && busy_gen == gen &&
                clock::now() >= until) {
                ++detached; // the old owner, until its handler returns
                owner = me;
                owner_busy = false;
                watcher = -1;
                ++socket.counters.handovers; // under m
                cv.notify_all(); // another standby becomes the watcher
            }
            idle_samples = 0;
            continue;
        }
        if (busy_gen != seen_gen) {
            seen_gen = busy_gen;
            idle_samples = 0;
        }
        if (++idle_samples <= 100) {
            cv.wait_for(lock, options.handover_after);
            continue;
        }
        watcher_asleep = true;
        cv.wait(lock);
        watcher_asleep = false;
        idle_samples = 0;
    }
}

void server_core::run_pool(std::size_t workers, std::chrono::milliseconds stop_check) {
    std::vector<detail::worker> pool;
    pool.reserve(workers);
    try {
        // No on_stop: members return by themselves once the server is finished.
        for (std::size_t i = 1; i < workers; ++i)
            pool.emplace_back(detail::worker_options{.name = "courier-server"}, nullptr,
                              [this, i, stop_check] { member(static_cast<int>(i), stop_check); }, nullptr);
    } catch (...) {
        request_stop(); // could not start a thread: stop those that started (pool's destructor joins)
        throw;
    }
    member(0, stop_check);
    for (auto& w : pool) w.stop();
}

} // namespace courier::detail
