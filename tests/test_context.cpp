#include <courier/context.hpp>

#include <courier/pipeline.hpp>
#include <courier/reliable.hpp>
#include <courier/server.hpp>

#include "support/eventually.hpp"

#include "core/context_access.hpp"

#include <doctest/doctest.h>

#include <sched.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace courier;
using namespace std::chrono_literals;

TEST_CASE("context: I/O threads default to one per core") {
    context ctx;
    CHECK(ctx.io_threads() == static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    context two({.io_threads = 2});
    CHECK(two.io_threads() == 2);
}

TEST_CASE("context: options are validated when it is made") {
    CHECK_THROWS_AS(context({.io_threads = -1}), error);
    CHECK_THROWS_AS(context({.io_threads = 1000}), error);
    CHECK_THROWS_AS(context({.io_thread_cpus = {100000}}), error);
    CHECK_THROWS_AS(context({.max_sockets = 0}), error);
    try {
        context({.io_threads = -1});
    } catch (const error& e) {
        CHECK(e.kind() == errc::invalid_option);
        CHECK(std::string(e.what()).find("io_threads") != std::string::npos);
    }
}

TEST_CASE("context: I/O threads pinned to CPU 0 carry messages" * doctest::timeout(30)) {
    context ctx({.io_threads = 1, .io_thread_cpus = {0}});
    puller in(ctx);
    pusher out(ctx);
    out.connect(in.bind("tcp://127.0.0.1:*"));
    REQUIRE(out.push(42) == status::ok);
    CHECK(in.receive<int>(5s) == std::optional<int>(42));
}

TEST_CASE("context: adopts an existing cppzmq context and talks to its plain sockets" * doctest::timeout(30)) {
    zmq::context_t existing;
    {
        context ctx(existing);
        zmq::socket_t plain(existing, zmq::socket_type::pull);
        plain.set(zmq::sockopt::linger, 0);
        plain.bind("inproc://adopted");
        pusher out(ctx);
        out.connect("inproc://adopted"); // inproc only works within one libzmq context
        REQUIRE(out.push(std::string("shared")) == status::ok);
        zmq::message_t frame;
        plain.set(zmq::sockopt::rcvtimeo, 5000);
        REQUIRE(plain.recv(frame));
        auto e = envelope::decode({frame.data<std::byte>(), frame.size()});
        CHECK(decode_payload<std::string>(e.payload(), e.type_name(), {}) == "shared");
    }
    // The borrowed context outlives courier's: it still makes sockets.
    zmq::socket_t after(existing, zmq::socket_type::pub);
    CHECK(static_cast<bool>(after));
}

TEST_CASE("context: shutdown ends a blocked receive with error(closed)" * doctest::timeout(30)) {
    context ctx;
    std::optional<errc> got;
    {
        puller in(ctx);
        (void)in.bind("inproc://never");
        std::jthread shutter([&] { ctx.shutdown(); });
        try {
            (void)in.receive(20s);
        } catch (const error& e) {
            got = e.kind();
        }
    }
    CHECK(got == std::optional<errc>(errc::closed));
}

TEST_CASE("context: library threads are pinned to library_thread_cpus in turn") {
    context ctx({.library_thread_cpus = {0, 1}});
    // Private since issue 10 (only the library's threads ask): reached through core/context_access.hpp.
    using detail::context_access;
    CHECK(context_access::next_library_cpu(ctx) == 0);
    CHECK(context_access::next_library_cpu(ctx) == 1);
    CHECK(context_access::next_library_cpu(ctx) == 0);
    context unpinned;
    CHECK(context_access::next_library_cpu(unpinned) == -1);
    CHECK_THROWS_AS(context({.library_thread_cpus = {4096}}), error);
}

TEST_CASE("context: a batching sender pinned to a CPU delivers" * doctest::timeout(30)) {
    context ctx({.library_thread_cpus = {0}});
    puller in(ctx);
    pusher out(ctx, {.batching = batching{}});
    out.connect(in.bind("inproc://pinned"));
    for (int i = 0; i < 1000; ++i) REQUIRE(out.push(i) == status::ok);
    for (int i = 0; i < 1000; ++i) REQUIRE(in.receive<int>(5s) == std::optional<int>(i));
}

namespace {

/// This process's threads: thread id -> name (/proc/self/task/<tid>/comm).
std::multimap<std::string, int> threads_by_name() {
    std::multimap<std::string, int> out;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream comm(task.path() / "comm");
        std::string name;
        std::getline(comm, name);
        out.emplace(name, std::stoi(task.path().filename().string()));
    }
    return out;
}

/// The one CPU thread `tid` may run on, or -1 if it may run on several.
int only_cpu(int tid) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(tid, sizeof set, &set) != 0 || CPU_COUNT(&set) != 1) return -1;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) return c;
    return -1;
}

} // namespace

// Every thread courier starts goes through one mechanism (docs/threads.md): named, and the
// batching sender's and the reliable pusher's pinned to library_thread_cpus in turn.
TEST_CASE("context: every library thread is named, and senders are pinned to library_thread_cpus" *
          doctest::timeout(30)) {
    context ctx({.io_threads = 1, .library_thread_cpus = {0}});
    pusher batched(ctx, {.batching = batching{}});
    reliable_pusher reliable(ctx);
    puller watched(ctx, {.socket = {.events = {.queue_capacity = 16}}});
    server srv(ctx, {.workers = 2});
    (void)srv.bind("inproc://named-threads");
    std::jthread serving([&](std::stop_token stop) { srv.run(stop, 10ms); });
    // The pool's second worker starts inside run(), on another thread: wait until it is there.
    REQUIRE(test::eventually([] { return threads_by_name().count("courier-server") == 1; }, 10s));
    const auto threads = threads_by_name();
    CHECK(threads.count("courier-send") == 1);
    CHECK(threads.count("courier-pusher") == 1);
    CHECK(threads.count("courier-events") == 1);
    CHECK(only_cpu(threads.find("courier-send")->second) == 0);
    CHECK(only_cpu(threads.find("courier-pusher")->second) == 0);
    serving.request_stop();
}
