// Fault tests of the acknowledged pipeline with real processes, killed and frozen for real.
// Counted like a queue checker: lost must be 0, unexpected must be 0, duplicates are counted and
// bounded. Each worker appends the number of every task it handled to its own file before it
// acknowledges the task (a write survives the process being killed), so the files are the truth
// of what was handled.
#include <courier/reliable.hpp>

#include "peer_process.hpp"
#include "support/loopback.hpp"
#include "support/process.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

using namespace courier;
using namespace std::chrono_literals;
using test::transport;
using clock_type = std::chrono::steady_clock;

namespace {

struct job {
    static constexpr std::string_view courier_type_name = "test.Job";
    int n = 0;
    MSGPACK_DEFINE_MAP(n)
};

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif

std::filesystem::path scratch_dir() {
    static const auto dir = [] {
        auto d = std::filesystem::temp_directory_path() / ("courier-faults-" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        return d;
    }();
    return dir;
}

std::string scratch_file(const std::string& name) {
    auto p = scratch_dir() / name;
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(p.string() + suffix);
    return p.string();
}

/// Appends numbers to a file, one write per number, so a kill loses none already written.
class number_log {
public:
    explicit number_log(const std::string& path) : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600)) {}
    ~number_log() {
        if (fd_ >= 0) ::close(fd_);
    }
    bool ok() const { return fd_ >= 0; }
    void add(int n) {
        const auto line = std::to_string(n) + "\n";
        [[maybe_unused]] auto w = ::write(fd_, line.data(), line.size());
    }

private:
    int fd_;
};

std::vector<int> read_numbers(const std::string& path) {
    std::vector<int> out;
    std::ifstream in(path);
    for (int n; in >> n;) out.push_back(n);
    return out;
}

/// What a queue checker reports for tasks 0..n-1 given everything handled.
struct tally {
    std::size_t handled = 0, unique = 0, lost = 0, unexpected = 0, duplicated = 0;
};
tally check(const std::vector<int>& handled, int n) {
    tally t;
    std::vector<int> times(static_cast<std::size_t>(n), 0);
    for (int v : handled) {
        ++t.handled;
        if (v < 0 || v >= n) ++t.unexpected;
        else if (times[static_cast<std::size_t>(v)]++ > 0) ++t.duplicated;
    }
    for (int c : times) (c == 0 ? t.lost : t.unique)++;
    return t;
}

} // namespace

// A worker process: args endpoint, log, window[, "bind" or "connect"[, work_us]]. Takes tasks from
// `endpoint`, spends work_us on each (simulated work), logs it and acknowledges it. Runs until killed.
COURIER_TEST_CHILD(reliable_worker) {
    if (args.size() < 3) return 2;
    context ctx;
    // heartbeat.timeout 400 ms here and below: libzmq cuts a silent peer 300 ms after a probe, as these
    // tests did when the reliable pattern had heartbeat fields of its own (issue 10 moved them).
    reliable_puller worker(ctx, {.socket = {.heartbeat = {.interval = 100ms, .timeout = 400ms}},
                                 .window = static_cast<std::size_t>(std::stoi(args[2]))});
    if (args.size() > 3 && args[3] == "bind") worker.bind(args[0]);
    else worker.connect(args[0]);
    const auto work = std::chrono::microseconds(args.size() > 4 ? std::stoi(args[4]) : 0);
    number_log log(args[1]);
    if (!log.ok()) return 3;
    for (;;) {
        auto m = worker.receive(1h);
        if (!m) continue;
        // The sleep is the simulated work itself (a handler that takes time), not a wait for an
        // event: it keeps a backlog so that a worker frozen by a test holds a full window.
        if (work.count() > 0) std::this_thread::sleep_for(work);
        log.add(m->as<job>().n);
        worker.ack(*m);
    }
}

// A producer process with an outbox: pushes tasks `first`.. `count`-1 to `endpoint`, logging each
// number once its push has returned, then waits until all are acknowledged and exits 0.
COURIER_TEST_CHILD(outbox_producer) {
    if (args.size() != 5) return 2;
    const std::string outbox = args[0], endpoint = args[1], returned = args[2];
    const int first = std::stoi(args[3]), count = std::stoi(args[4]);
    context ctx;
    reliable_pusher producer(ctx, {.socket = {.heartbeat = {.interval = 100ms, .timeout = 400ms}}, .max_pending = 1000,
                                   .outbox = outbox});
    producer.connect(endpoint);
    number_log log(returned);
    if (!log.ok()) return 3;
    for (int i = first; i < count; ++i) {
        if (producer.push(job{i}, 60s) != status::ok) return 4;
        log.add(i);
    }
    return producer.drain(60s) == status::ok ? 0 : 5;
}

// Issue 5, fault test 1: 4 worker processes, one killed with SIGKILL halfway.
TEST_CASE("reliable faults: a worker killed halfway loses nothing, duplicates stay within its window" *
          doctest::timeout(120)) {
    const int n = sanitized ? 20000 : 100000; // sanitizers slow every process ~10x
    constexpr int workers = 4, window = 64;
    auto run = [&](bool kill_one, const std::string& name) {
        context ctx;
        reliable_pusher producer(ctx, {.socket = {.heartbeat = {.interval = 100ms, .timeout = 400ms}},
                                       .max_pending = static_cast<std::size_t>(n),
                                       .visibility_timeout = 30s});
        const auto at = producer.bind(test::bind_endpoint(transport::tcp));
        std::vector<std::string> logs;
        std::vector<test::process> children;
        for (int w = 0; w < workers; ++w) {
            logs.push_back(scratch_file(name + "-worker-" + std::to_string(w)));
            children.push_back(test::process::spawn("reliable_worker", {at, logs.back(), std::to_string(window)}));
        }
        const auto start = clock_type::now();
        for (int i = 0; i < n; ++i) REQUIRE(producer.push(job{i}) == status::ok);
        if (kill_one) {
            REQUIRE(producer.drain(60s, static_cast<std::size_t>(n - n / 2)) == status::ok); // half acknowledged
            children[0].kill(SIGKILL);
            REQUIRE(children[0].wait(10s).has_value());
        }
        REQUIRE(producer.drain(90s) == status::ok);
        const auto took = clock_type::now() - start;
        for (auto& c : children) c.kill(SIGKILL);
        std::vector<int> handled, by_killed = read_numbers(logs[0]);
        for (const auto& l : logs) {
            auto v = read_numbers(l);
            handled.insert(handled.end(), v.begin(), v.end());
        }
        const auto t = check(handled, n);
        CAPTURE(kill_one);
        CHECK(t.lost == 0);
        CHECK(t.unexpected == 0);
        CHECK(t.unique == static_cast<std::size_t>(n));
        const auto c = producer.counters();
        CHECK(c.acknowledged == static_cast<std::uint64_t>(n));
        CHECK(c.sent == static_cast<std::uint64_t>(n));
        CHECK(c.expired == 0); // the dead worker was found by its connection, not by the timeout
        if (kill_one) {
            CHECK(c.redelivered <= static_cast<std::uint64_t>(window)); // what it held, at most its window
            CHECK(t.duplicated <= c.redelivered);
            CHECK(!by_killed.empty());
        } else {
            CHECK(c.redelivered == 0);
            CHECK(t.duplicated == 0);
        }
        MESSAGE(name << ": " << n << " tasks, " << workers << " workers, "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms, redelivered "
                     << c.redelivered << ", duplicated " << t.duplicated);
        return took;
    };
    const auto clean = run(false, "clean");
    const auto faulted = run(true, "killed");
    // The issue asks for under 1.5x the fault-free run; timing is reported, not asserted (noisy
    // shared machine), and docs/patterns/reliable.md quotes it.
    MESSAGE("faulted / fault-free time: " << std::chrono::duration<double>(faulted) / std::chrono::duration<double>(clean));
}

// Issue 5, fault test 2: a worker frozen with SIGSTOP; its tasks go to the other because their
// visibility timeout passed (issue 9: asserted by the counters, not by the clock; the time is
// reported).
TEST_CASE("reliable faults: a frozen worker's tasks go to another once their visibility timeout passes" *
          doctest::timeout(60)) {
    constexpr int n = 2000, window = 16;
    constexpr auto visibility = 500ms;
    context ctx;
    // Heartbeats far longer than the visibility timeout, so that the timeout is what is tested.
    reliable_pusher producer(ctx, {.socket = {.heartbeat = {.interval = 5s, .timeout = 60s}},
                                   .visibility_timeout = visibility});
    const auto at = producer.bind(test::bind_endpoint(transport::tcp));
    std::vector<std::string> logs{scratch_file("frozen-0"), scratch_file("frozen-1")};
    std::vector<test::process> children;
    // 200 us of work per task keeps a backlog, so the frozen worker's window is full when it stops.
    for (const auto& l : logs)
        children.push_back(test::process::spawn("reliable_worker", {at, l, std::to_string(window), "connect", "200"}));
    for (int i = 0; i < n; ++i) REQUIRE(producer.push(job{i}) == status::ok);
    REQUIRE(producer.drain(30s, n - n / 4) == status::ok); // a quarter acknowledged
    const auto before = producer.counters();
    children[0].kill(SIGSTOP);
    const auto frozen_at = clock_type::now();
    REQUIRE(producer.drain(30s) == status::ok);
    const auto took = clock_type::now() - frozen_at;
    const auto c = producer.counters();
    // Nothing had timed out or gone out again before the freeze...
    CHECK(before.expired == 0);
    CHECK(before.redelivered == 0);
    // ...and after it every task handed out again had first timed out: the visibility timeout,
    // nothing else (heartbeats are far longer), sent the frozen worker's tasks to the other.
    CHECK(c.expired >= 1); // it held tasks when frozen (the backlog keeps its window full)
    CHECK(c.expired == c.redelivered);
    CHECK(c.expired <= static_cast<std::uint64_t>(window));
    CHECK(c.sent == static_cast<std::uint64_t>(n));
    CHECK(c.acknowledged == static_cast<std::uint64_t>(n));
    MESSAGE("frozen worker's " << c.expired << " tasks done " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                               << " ms after SIGSTOP (visibility timeout " << visibility.count() << " ms)");
    for (auto& p : children) p.kill(SIGKILL);
    std::vector<int> handled;
    for (const auto& l : logs) {
        auto v = read_numbers(l);
        handled.insert(handled.end(), v.begin(), v.end());
    }
    const auto t = check(handled, n);
    CHECK(t.lost == 0);
    CHECK(t.unexpected == 0);
    CHECK(t.duplicated <= c.redelivered);
}

// Issue 9, item 2: "whatever happens to a worker, once it is reachable again every pending task is
// delivered, and the pipeline drains". One worker, the only one. When it binds and the pusher
// connects (the case), a pause longer than the pusher's heartbeat timeout (300 to 400 ms) cuts
// the connection and libzmq makes it again when the worker wakes. Before the fix, the tasks sent on
// the dead connection stayed in flight until the visibility timeout, which then marked the idle
// worker suspect for good: a pause of 0.6 or 1 s stalled the pipeline. The other way round (the
// worker connects) the pusher finds the cut connection with its next ping.
TEST_CASE("reliable faults: the only worker paused for any length of time gets every task after it wakes" *
          doctest::timeout(240)) {
    const int n = sanitized ? 1000 : 3000;
    constexpr int window = 64;
    struct run {
        std::chrono::milliseconds pause;
        bool worker_binds;
    };
    for (const auto [pause, worker_binds] : {run{200ms, true}, run{600ms, true}, run{1000ms, true}, run{5000ms, true},
                                             run{600ms, false}, run{5000ms, false}}) {
        CAPTURE(pause.count());
        CAPTURE(worker_binds);
        const auto log = scratch_file("paused-" + std::to_string(pause.count()) + (worker_binds ? "-b" : "-c"));
        context ctx;
        reliable_pusher producer(ctx, {.socket = {.heartbeat = {.interval = 100ms, .timeout = 500ms}},
                                       .max_pending = static_cast<std::size_t>(n),
                                       .visibility_timeout = 1500ms});
        // 200 us of work per task keeps a backlog, so the worker holds a full window when it stops.
        const auto endpoint = worker_binds ? test::fixed_tcp_endpoint() : producer.bind(test::bind_endpoint(transport::tcp));
        auto worker = test::process::spawn(
            "reliable_worker", {endpoint, log, std::to_string(window), worker_binds ? "bind" : "connect", "200"});
        if (worker_binds) producer.connect(endpoint);
        for (int i = 0; i < n; ++i) REQUIRE(producer.push(job{i}) == status::ok);
        REQUIRE(producer.drain(60s, static_cast<std::size_t>(n - n / 4)) == status::ok); // a quarter acknowledged
        worker.kill(SIGSTOP);
        // The pause itself is the fault under test, not a wait for an event.
        std::this_thread::sleep_for(pause);
        worker.kill(SIGCONT);
        const auto woke = clock_type::now();
        const auto drained = producer.drain(30s);
        const auto took = clock_type::now() - woke;
        worker.kill(SIGKILL);
        REQUIRE(worker.wait(10s).has_value());
        const auto c = producer.counters();
        const auto t = check(read_numbers(log), n);
        MESSAGE("paused " << pause.count() << " ms, worker " << std::string(worker_binds ? "binds" : "connects")
                          << ": drain " << std::string(drained == status::ok ? "ok" : "NOT ok") << " "
                          << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                          << " ms after SIGCONT; sent " << c.sent << ", acknowledged " << c.acknowledged
                          << ", processed " << t.handled << ", lost " << t.lost << ", duplicated " << t.duplicated
                          << ", redelivered " << c.redelivered << ", expired " << c.expired
                          << ", pending " << producer.pending());
        CHECK(drained == status::ok);
        CHECK(t.lost == 0);
        CHECK(t.unexpected == 0);
        CHECK(t.unique == static_cast<std::size_t>(n));
        // One puller process throughout: its duplicate filter drops every copy handed out again.
        CHECK(t.duplicated == 0);
        CHECK(t.handled == static_cast<std::size_t>(n));
        CHECK(c.sent == static_cast<std::uint64_t>(n));
        CHECK(c.acknowledged == static_cast<std::uint64_t>(n));
        CHECK(producer.pending() == 0);
    }
}

// Issue 5, fault test 3: the producer, with its outbox, killed at random points while pushing, and
// started again: every task whose push returned is delivered.
TEST_CASE("reliable faults: a producer killed at random points loses no task whose push returned" *
          doctest::timeout(120)) {
    const int n = sanitized ? 10000 : 50000;
    context ctx;
    reliable_puller sink(ctx, {.socket = {.heartbeat = {.interval = 100ms, .timeout = 400ms}}, .window = 256});
    const auto at = sink.bind(test::bind_endpoint(transport::ipc));
    const auto outbox = scratch_file("producer.db"), returned = scratch_file("producer-returned");
    std::vector<int> received;
    std::mt19937 random(20261125);
    int kills = 0;
    for (int start = 0;; ++kills) {
        auto producer = test::process::spawn("outbox_producer", {outbox, at, returned, std::to_string(start),
                                                                 std::to_string(n)});
        // Kill it after a random number of deliveries, three times; then let it finish.
        const auto kill_after = received.size() + std::uniform_int_distribution<std::size_t>(n / 40, n / 8)(random);
        bool ended = false;
        while (!ended) {
            if (auto m = sink.receive(100ms)) {
                received.push_back(m->as<job>().n);
                sink.ack(*m);
            }
            if (kills < 3 && received.size() >= kill_after) {
                producer.kill(SIGKILL);
                REQUIRE(producer.wait(10s) == -SIGKILL);
                break;
            }
            if (auto code = producer.wait(0ms)) {
                REQUIRE(*code == 0);
                ended = true;
            }
        }
        if (ended) break;
        const auto done = read_numbers(returned);
        start = done.empty() ? 0 : *std::max_element(done.begin(), done.end()) + 1;
    }
    while (auto m = sink.receive(500ms)) { // whatever is still in flight
        received.push_back(m->as<job>().n);
        sink.ack(*m);
    }
    const auto returned_ok = read_numbers(returned);
    std::vector<bool> got(static_cast<std::size_t>(n), false);
    std::size_t unexpected = 0;
    for (int v : received) {
        if (v < 0 || v >= n) ++unexpected;
        else got[static_cast<std::size_t>(v)] = true;
    }
    std::size_t lost = 0;
    for (int v : returned_ok) lost += got[static_cast<std::size_t>(v)] ? 0 : 1;
    CHECK(kills == 3);
    CHECK(unexpected == 0);
    CHECK(lost == 0);
    CHECK(std::count(got.begin(), got.end(), true) == n); // and the final run pushed the rest
    MESSAGE(kills << " kills; " << received.size() << " deliveries for " << n << " tasks; duplicates dropped by the sink: "
                  << sink.counters().duplicates);
}

// Issue 5, fault test 4: the sink (a worker that binds) killed and started again mid-run.
TEST_CASE("reliable faults: a sink killed and restarted mid-run loses nothing" * doctest::timeout(60)) {
    const int n = sanitized ? 5000 : 20000;
    constexpr int window = 64;
    const auto endpoint = "ipc://" + scratch_file("sink.ipc");
    const auto log = scratch_file("sink-log");
    context ctx;
    reliable_pusher producer(ctx, {.socket = {.heartbeat = {.interval = 100ms, .timeout = 400ms}},
                                   .max_pending = static_cast<std::size_t>(n)});
    auto sink = test::process::spawn("reliable_worker", {endpoint, log, std::to_string(window), "bind"});
    producer.connect(endpoint);
    for (int i = 0; i < n; ++i) REQUIRE(producer.push(job{i}) == status::ok);
    REQUIRE(producer.drain(30s, static_cast<std::size_t>(n - n / 2)) == status::ok); // half acknowledged
    sink.kill(SIGKILL);
    REQUIRE(sink.wait(10s).has_value());
    sink = test::process::spawn("reliable_worker", {endpoint, log, std::to_string(window), "bind"});
    REQUIRE(producer.drain(30s) == status::ok);
    sink.kill(SIGKILL);
    const auto t = check(read_numbers(log), n);
    CHECK(t.lost == 0);
    CHECK(t.unexpected == 0);
    CHECK(t.unique == static_cast<std::size_t>(n));
    CHECK(t.duplicated <= static_cast<std::size_t>(window));
    CHECK(producer.counters().acknowledged == static_cast<std::uint64_t>(n));
}

// Issue 5, fault test 5: a burst far over the bound against a slow consumer. Every request is
// answered at once, accepted or refused, and exactly the accepted ones are processed.
TEST_CASE("reliable faults: a burst against a bound is answered at once and accepted equals processed" *
          doctest::timeout(60)) {
    constexpr int n = 100000, bound = 1000;
    context ctx;
    reliable_pusher queue(ctx, {.max_pending = bound});
    const auto at = queue.bind(test::bind_endpoint(transport::ipc));
    const auto log = scratch_file("burst-log");
    auto consumer = test::process::spawn("reliable_worker", {at, log, "8"});
    int accepted = 0, refused = 0;
    auto slowest = clock_type::duration::zero();
    int slowest_at = -1, over_1ms = 0;
    for (int i = 0; i < n; ++i) {
        const auto asked = clock_type::now();
        const auto s = queue.try_push(job{i});
        const auto took = clock_type::now() - asked;
        if (took > slowest) slowest = took, slowest_at = i;
        over_1ms += took > 1ms;
        REQUIRE((s == status::ok || s == status::full));
        (s == status::ok ? accepted : refused)++;
    }
    REQUIRE(queue.drain(60s) == status::ok);
    consumer.kill(SIGKILL);
    const auto processed = read_numbers(log);
    const auto t = check(processed, n);
    CHECK(accepted + refused == n);
    CHECK(refused > 0);
    CHECK(t.handled == static_cast<std::size_t>(accepted)); // accepted == processed, exactly
    CHECK(t.duplicated == 0);
    CHECK(queue.counters().refused == static_cast<std::uint64_t>(refused));
    CHECK(queue.counters().acknowledged == static_cast<std::uint64_t>(accepted));
    // try_push never waits: every call answered ok or full (above), none timed out. How long the
    // slowest answer took is the scheduler's business on a busy machine: reported, not asserted.
    CHECK(queue.counters().timed_out == 0);
    MESSAGE(accepted << " accepted, " << refused << " refused, slowest answer "
                     << std::chrono::duration_cast<std::chrono::microseconds>(slowest).count() << " us (call "
                     << slowest_at << "), " << over_1ms << " over 1 ms");
}
