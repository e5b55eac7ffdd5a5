// The one library-thread mechanism (src/transport/worker.hpp) and the counters any thread may read
// (transport/counters.hpp), without sockets.
#include "transport/worker.hpp"

#include "courier/context.hpp"
#include "transport/counters.hpp"
#include "courier/error.hpp"

#include <doctest/doctest.h>

#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

using courier::detail::live_counters;
using courier::detail::waker;
using courier::detail::worker;
using courier::detail::worker_options;
using namespace std::chrono_literals;

namespace {

/// A run() that waits until its on_stop says so, as a library thread's loop does.
struct stoppable {
    std::mutex m;
    std::condition_variable cv;
    bool stop = false;
    void run() {
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return stop; });
    }
    void request() {
        {
            std::lock_guard lock(m);
            stop = true;
        }
        cv.notify_all();
    }
};

int pinned_cpu() {
    cpu_set_t set;
    CPU_ZERO(&set);
    pthread_getaffinity_np(pthread_self(), sizeof set, &set);
    return CPU_COUNT(&set) == 1 ? [&] {
        for (int c = 0; c < CPU_SETSIZE; ++c)
            if (CPU_ISSET(c, &set)) return c;
        return -1;
    }() : -1;
}

} // namespace

TEST_CASE("worker: the constructor returns only once the thread's setup has run" * doctest::timeout(30)) {
    for (int round = 0; round < 20; ++round) {
        bool set_up = false; // written by the thread, read here without a wait: the constructor is the barrier
        stoppable s;
        worker w({.name = "courier-test"}, [&] { set_up = true; }, [&] { s.run(); }, [&] { s.request(); });
        CHECK(set_up);
        CHECK(w.running());
    }
}

TEST_CASE("worker: a setup that throws rethrows in the constructor, and no thread is left") {
    bool ran = false;
    CHECK_THROWS_WITH_AS(worker({.name = "courier-test"}, [] { throw std::runtime_error("no socket"); },
                                [&] { ran = true; }, nullptr),
                         "no socket", std::runtime_error);
    CHECK_FALSE(ran);
}

TEST_CASE("worker: stop signals once and joins; a second stop and the destructor do nothing" * doctest::timeout(30)) {
    std::atomic<int> signals{0};
    std::atomic<bool> finished{false};
    stoppable s;
    {
        worker w({.name = "courier-test"}, nullptr,
                 [&] {
                     s.run();
                     finished = true;
                 },
                 [&] {
                     ++signals;
                     s.request();
                 });
        w.stop();
        CHECK(finished); // joined: the run returned before stop did
        CHECK_FALSE(w.running());
        w.stop();
    }
    CHECK(signals == 1);
}

TEST_CASE("worker: the destructor stops a running thread" * doctest::timeout(30)) {
    std::atomic<bool> finished{false};
    stoppable s;
    {
        worker w({.name = "courier-test"}, nullptr,
                 [&] {
                     s.run();
                     finished = true;
                 },
                 [&] { s.request(); });
    }
    CHECK(finished);
}

TEST_CASE("worker: the thread is named, pinned as asked, and given exact timers if asked" * doctest::timeout(30)) {
    std::string name;
    int cpu = -2;
    long slack = 0;
    {
        worker w({.name = "courier-a-very-long-name", .cpu = 0, .exact_timers = true},
                 [&] {
                     char buf[32] = {};
                     pthread_getname_np(pthread_self(), buf, sizeof buf);
                     name = buf;
                     cpu = pinned_cpu();
                     slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
                 },
                 [] {}, nullptr);
        CHECK(w.cpu() == 0);
    }
    CHECK(name == "courier-a-very-"); // cut to the kernel's 15 characters
    CHECK(cpu == 0);
    CHECK(slack == 1000);

    worker plain({.name = "courier-test"}, [&] { slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0); }, [] {}, nullptr);
    CHECK(plain.cpu() == -1);
    CHECK(slack != 1000); // the default (50 us), inherited
}

TEST_CASE("worker: threads take the context's library_thread_cpus in turn" * doctest::timeout(30)) {
    const bool two = std::thread::hardware_concurrency() >= 2;
    courier::context ctx(courier::context_options{.io_threads = 1,
                                                  .library_thread_cpus = two ? std::vector<int>{1, 0}
                                                                             : std::vector<int>{0}});
    std::vector<int> seen;
    for (int i = 0; i < 3; ++i) {
        int cpu = -2;
        worker w({.name = "courier-test", .cpus_from = &ctx}, [&] { cpu = pinned_cpu(); }, [] {}, nullptr);
        CHECK(cpu == w.cpu());
        seen.push_back(cpu);
    }
    if (two) CHECK(seen == std::vector<int>{1, 0, 1});
    else CHECK(seen == std::vector<int>{0, 0, 0});

    courier::context unpinned;
    worker w({.name = "courier-test", .cpus_from = &unpinned}, nullptr, [] {}, nullptr);
    CHECK(w.cpu() == -1);
}

TEST_CASE("waker: a signal before the wait is kept, and a wait without one times out" * doctest::timeout(30)) {
    waker wk;
    CHECK_FALSE(wk.wait(1ms));
    wk.signal();
    wk.signal();
    CHECK(wk.wait(0ms)); // both signals, cleared at once
    CHECK_FALSE(wk.wait(0ms));
    std::thread other([&] { wk.signal(); });
    CHECK(wk.wait(10s)); // woken by the other thread, long before the deadline
    other.join();
}

TEST_CASE("counters: a snapshot taken while another thread counts is exact once it stops" * doctest::timeout(60)) {
    live_counters c;
    constexpr std::uint64_t n = 200000;
    std::atomic<bool> done{false};
    std::thread writer([&] {
        for (std::uint64_t i = 0; i < n; ++i) {
            ++c.sent;
            c.received += 2;
        }
        done = true;
    });
    std::uint64_t last = 0, snapshots = 0;
    bool monotonic = true;
    while (!done) {
        const auto s = c.snapshot();
        monotonic &= s.sent >= last; // one writer: never goes back
        last = s.sent;
        ++snapshots;
    }
    CHECK(monotonic);
    writer.join();
    const auto s = c.snapshot();
    CHECK(s.sent == n);
    CHECK(s.received == 2 * n);
    MESSAGE(snapshots << " snapshots taken while counting");

    // Several writers without a common lock use add_shared: none is lost.
    std::thread a([&] { for (int i = 0; i < 50000; ++i) c.failed.add_shared(1); });
    std::thread b([&] { for (int i = 0; i < 50000; ++i) c.failed.add_shared(1); });
    a.join();
    b.join();
    CHECK(c.snapshot().failed == 100000);
}
