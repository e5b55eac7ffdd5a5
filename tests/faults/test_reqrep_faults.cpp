// Request-reply against real failures: server processes (tests/faults/peer.cpp) killed with
// SIGKILL, frozen with SIGSTOP and restarted; contexts shut down under calls. The eight cases of
// issue 4, each bounded in time, with exact counts. They run serially (ctest RUN_SERIAL): three
// of them assert the time bounds the issue states as contracts.

#include <courier/reqrep.hpp>

#include "peer_process.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <future>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace courier;
using namespace std::chrono_literals;
using test::child;
using test::start_peer;
using clk = std::chrono::steady_clock;

namespace {

std::int64_t ms_since(clk::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clk::now() - t).count();
}

/// The next event of `kind` within `timeout`; events of other kinds before it are appended to `others`.
std::optional<peer_event> next_event(event_queue& q, event_kind kind, std::chrono::milliseconds timeout,
                                     std::vector<peer_event>* others = nullptr) {
    const auto until = clk::now() + timeout;
    while (clk::now() < until) {
        auto e = q.wait(std::chrono::duration_cast<std::chrono::milliseconds>(until - clk::now()) + 1ms);
        if (!e) break;
        if (e->kind == kind) return e;
        if (others) others->push_back(*e);
    }
    return std::nullopt;
}

/// [requests, distinct request ids] a mute peer has read.
std::vector<std::uint64_t> mute_stats(const std::string& endpoint) {
    context ctx;
    client c(ctx, {.socket = {.linger = 0ms}, .timeout = 10s, .attempts = 1});
    c.connect(endpoint);
    return c.call<std::vector<std::uint64_t>>("stats", std::uint64_t{0}).value();
}

client_options with_events(client_options o) {
    o.socket.events.queue_capacity = 64;
    return o;
}

/// Kills (SIGKILL) and restarts peers while a client runs: after every `every` answered calls,
/// peer number (k % peers.size()) for the k-th time, until `times` restarts. Owns the peers.
class killer {
public:
    killer(std::vector<child>& peers, const std::vector<std::string>& endpoints, const std::atomic<int>& done,
           int every, int times)
        : thread_([&peers, &endpoints, &done, every, times, this](std::stop_token stop) {
              try {
                  for (int k = 1; k <= times && !stop.stop_requested(); ++k) {
                      while (done.load() < k * every && !stop.stop_requested()) std::this_thread::yield();
                      if (stop.stop_requested()) return;
                      const auto i = static_cast<std::size_t>(k - 1) % peers.size();
                      peers[i].kill_and_reap();
                      std::string bound;
                      peers[i] = start_peer(endpoints[i], {}, bound); // same endpoint: a restart
                      ++restarts;
                  }
              } catch (const std::exception& e) {
                  error = e.what();
              }
          }) {}
    void join() {
        thread_.request_stop();
        thread_.join();
    }
    std::atomic<int> restarts{0};
    std::string error;

private:
    std::jthread thread_;
};

} // namespace

TEST_CASE("fault 1: a server that never answers gets exactly 3 attempts and the call ends unavailable in time, "
          "then a healthy server answers" *
          doctest::timeout(60)) {
    std::string mute_ep, healthy_ep;
    auto mute = start_peer("tcp://127.0.0.1:*", {"--mute"}, mute_ep);
    auto healthy = start_peer("tcp://127.0.0.1:*", {}, healthy_ep);
    context ctx;
    const auto per_attempt = 200ms;
    client c(ctx, with_events({.timeout = per_attempt,
                               .attempts = 3,
                               .backoff = {.initial = 100ms, .multiplier = 2.0, .max = 1000ms}}));
    c.connect(mute_ep);
    // Connected first, so that every attempt is really sent (requests go only to live connections).
    REQUIRE(next_event(*c.events(), event_kind::connected, 20s));

    const auto start = clk::now();
    auto r = c.call<std::uint64_t>("echo", std::uint64_t{1});
    const auto elapsed = ms_since(start);
    CHECK(r.state() == status::unavailable);
    CHECK(r.detail().find(mute_ep) != std::string::npos);
    CHECK(r.detail().find("3 attempts") != std::string::npos);
    // The contract: 3 x 200 ms + the two pauses (100 + 200 ms) = 900 ms at least; later only by
    // scheduling, so the upper bound is 5x, which no loaded, sanitized run reaches by chance while a
    // fourth attempt or a wait for the client's default timeouts (3 x 1.5 s) would.
    const std::int64_t bound = 3 * 200 + 100 + 200;
    MESSAGE("unavailable after " << elapsed << " ms (contract " << bound << " ms)");
    CHECK(elapsed >= bound);
    CHECK(elapsed <= bound * 5);
    CHECK(c.counters().sent == 3);
    CHECK(c.counters().retries == 2);
    CHECK(c.counters().unavailable == 1);
    CHECK(c.counters().received == 0);
    CHECK(mute_stats(mute_ep) == std::vector<std::uint64_t>{3, 1}); // three requests, one id

    c.disconnect(mute_ep);
    c.connect(healthy_ep);
    REQUIRE(next_event(*c.events(), event_kind::connected, 20s));
    auto next = c.call<std::uint64_t>("echo", std::uint64_t{2});
    REQUIRE(next.ok());
    CHECK(next.value() == 2);
    CHECK(c.counters().sent == 4);
    CHECK(c.counters().late == 0);
}

TEST_CASE("fault 2: a server killed and restarted every 200 calls of 2000: each call answered once, in order" *
          doctest::timeout(60)) {
    std::vector<std::string> endpoints(1);
    std::vector<child> peers;
    peers.push_back(start_peer(test::fixed_tcp_endpoint(), {}, endpoints[0]));
    context ctx;
    client c(ctx, {.socket = {.linger = 0ms},
                   .timeout = 300ms,
                   .attempts = 20,
                   .backoff = {.initial = 20ms, .multiplier = 2.0, .max = 200ms}});
    c.connect(endpoints[0]);
    std::atomic<int> done{0};
    killer k(peers, endpoints, done, 200, 9);
    int answered = 0, failed = 0, wrong = 0, twice = 0;
    std::set<std::uint64_t> seen;
    for (std::uint64_t i = 1; i <= 2000; ++i) {
        auto r = c.call<std::uint64_t>("echo", i);
        if (!r) ++failed;
        else if (r.value() != i) ++wrong; // a stale reply of an earlier call: out of order
        else if (!seen.insert(i).second) ++twice;
        else ++answered;
        ++done;
    }
    k.join();
    REQUIRE(k.error.empty());
    MESSAGE("retries " << c.counters().retries << ", late replies dropped " << c.counters().late);
    CHECK(k.restarts == 9);
    CHECK(answered + failed == 2000);
    CHECK(failed == 0); // 20 attempts cover a restart many times over
    CHECK(wrong == 0);
    CHECK(twice == 0);
    CHECK(c.counters().received == 2000);
    CHECK(c.in_flight() == 0);
}

TEST_CASE("fault 3: three servers, one killed at a time while 2000 calls run: all 2000 succeed" * doctest::timeout(60)) {
    std::vector<std::string> endpoints(3);
    std::vector<child> peers;
    for (auto& ep : endpoints) peers.push_back(start_peer(test::fixed_tcp_endpoint(), {}, ep));
    context ctx;
    client c(ctx, {.socket = {.linger = 0ms}, .timeout = 300ms, .attempts = 20, .backoff = {.initial = 10ms}});
    for (const auto& ep : endpoints) c.connect(ep);
    std::atomic<int> done{0};
    killer k(peers, endpoints, done, 300, 6); // each server killed twice, one at a time
    int answered = 0, failed = 0;
    for (std::uint64_t i = 1; i <= 2000; ++i) {
        auto r = c.call<std::uint64_t>("echo", i);
        if (r && r.value() == i) ++answered;
        else ++failed;
        ++done;
    }
    k.join();
    REQUIRE(k.error.empty());
    MESSAGE("retries " << c.counters().retries);
    CHECK(k.restarts == 6);
    CHECK(answered == 2000);
    CHECK(failed == 0);
    CHECK(c.counters().received == 2000);
}

TEST_CASE("fault 4: a retry of a request already handled gets the stored reply and the handler runs once" *
          doctest::timeout(60)) {
    context ctx;
    // One worker: requests are handled one after another on run()'s thread, so a later call's
    // answer tells that the reply before it has left.
    server s(ctx, {.socket = {.events = {.queue_capacity = 64}}, .workers = 1});
    std::atomic<int> runs{0};
    std::promise<void> started, release;
    auto released = release.get_future();
    s.serve<std::uint64_t, std::uint64_t>("once", [&](const std::uint64_t& v) {
        if (runs++ == 0) {
            started.set_value();
            released.wait();
        }
        return v * 10;
    });
    s.serve<std::uint64_t, std::uint64_t>("barrier", [](const std::uint64_t& v) { return v; });
    const auto endpoint = s.bind("tcp://127.0.0.1:*");
    std::jthread serving([&](std::stop_token stop) { s.run(stop, 10ms); });
    bool release_sent = false;
    struct release_on_exit { // a failed REQUIRE must not leave the handler (and run()) waiting
        std::promise<void>& p;
        bool& sent;
        ~release_on_exit() {
            if (!sent) p.set_value();
        }
    } guard{release, release_sent};

    client c(ctx, with_events({.timeout = 300ms, .attempts = 5, .backoff = {.initial = 10ms}}));
    c.connect(endpoint);
    REQUIRE(next_event(*c.events(), event_kind::connected, 10s));
    REQUIRE(next_event(*s.events(), event_kind::connected, 10s));
    auto call = c.send("once", std::uint64_t{7});
    REQUIRE(call.state == status::ok);
    REQUIRE(started.get_future().wait_for(10s) == std::future_status::ready);

    // The first attempt is being handled. The client goes away, so its reply cannot be delivered
    // and is only stored.
    c.disconnect(endpoint);
    // libzmq finishes closing the connection only as the client's socket processes its commands,
    // which it does inside calls on that socket: keep calling while waiting for the server to see it.
    std::optional<peer_event> gone;
    for (const auto until = clk::now() + 10s; !gone && clk::now() < until;) {
        (void)c.native().get(zmq::sockopt::events);
        gone = next_event(*s.events(), event_kind::disconnected, 10ms);
    }
    REQUIRE(gone);
    release.set_value();
    release_sent = true;
    // The reply leaves for a caller that is gone: refused at once (unroutable) if the server's
    // socket has already seen the connection end, else lost with it (counted sent). Either way the
    // client never gets it.
    auto handed_off = [&] { return s.counters().unroutable + s.counters().sent; };
    {
        client other(ctx, {.timeout = 10s, .attempts = 1});
        other.connect(endpoint);
        REQUIRE(other.call<std::uint64_t>("barrier", std::uint64_t{1}).ok()); // handled after the reply left
    }
    REQUIRE(handed_off() == 2); // the reply to the gone caller, and the barrier's

    // Back under the same routing id; the retry (same request id) is answered from the cache.
    c.connect(endpoint);
    REQUIRE(next_event(*c.events(), event_kind::connected, 10s));
    auto r = c.wait<std::uint64_t>(call);
    REQUIRE(r.ok());
    CHECK(r.value() == 70);
    CHECK(runs == 1);
    CHECK(s.counters().replayed == 1);
    CHECK(s.counters().duplicates == 0);
    CHECK(s.counters().received == 3); // the first attempt, the barrier call and the retry
    serving.request_stop();
    serving.join();
    CHECK(handed_off() == 3); // the lost reply, the barrier's and the stored one
    CHECK(c.counters().sent == 2);
    CHECK(c.counters().received == 1);
    CHECK(c.counters().retries == 1);
}

TEST_CASE("fault 5: a peer frozen with SIGSTOP is reported dead, not disconnected, by its heartbeats" *
          doctest::timeout(60)) {
    std::string endpoint;
    auto peer = start_peer("tcp://127.0.0.1:*", {"--heartbeat", "100", "300"}, endpoint);
    context ctx;
    client c(ctx, with_events({.socket = {.heartbeat = {.interval = 100ms, .timeout = 300ms}}}));
    c.connect(endpoint);
    REQUIRE(next_event(*c.events(), event_kind::connected, 20s));
    REQUIRE(c.call<std::uint64_t>("echo", std::uint64_t{1}).ok());

    peer.signal(SIGSTOP);
    const auto frozen = clk::now();
    std::vector<peer_event> others;
    auto dead = next_event(*c.events(), event_kind::dead_peer, 5s, &others);
    REQUIRE(dead);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(dead->at - frozen).count();
    MESSAGE("dead_peer after " << took << " ms");
    CHECK(others.empty()); // in particular no "disconnected": the peer never closed the connection
    CHECK(dead->endpoint == endpoint);
    // The contract is heartbeat timeout (300 ms): libzmq probes every 100 ms and gives up 200 ms
    // after an unanswered probe. Reported, not asserted to the millisecond; 5x still tells the
    // heartbeat from TCP's own keepalive (minutes) or no detection at all.
    CHECK(took <= 5 * 300);
    peer.signal(SIGCONT);
}

TEST_CASE("fault 6: a busy peer under load for 10 s raises no dead-peer event" * doctest::timeout(60)) {
    std::string endpoint;
    // Default heartbeats (1 s probes, dead after 3 s), as an application gets them. With fault 5's
    // 300 ms, a ThreadSanitizer build on this shared 2-core machine stalled long enough once to
    // trip them: that is the scheduler, not the peer, and not what this case is about.
    auto peer = start_peer("tcp://127.0.0.1:*", {"--workers", "2"}, endpoint);
    context ctx;
    client c(ctx, with_events({.timeout = 10s, .attempts = 1}));
    c.connect(endpoint);
    REQUIRE(next_event(*c.events(), event_kind::connected, 20s));
    // Four calls of 20 ms of CPU each in flight at all times: both workers of the peer busy.
    std::vector<pending_call> window;
    int sent = 0, answered = 0;
    const auto until = clk::now() + 10s;
    while (clk::now() < until) {
        while (window.size() < 4) {
            window.push_back(c.send("work", std::uint64_t{20}));
            ++sent;
        }
        if (c.wait<std::uint64_t>(window.front()).ok()) ++answered;
        window.erase(window.begin());
    }
    for (auto& call : window)
        if (c.wait<std::uint64_t>(call).ok()) ++answered;
    MESSAGE(answered << " calls of 20 ms answered");
    CHECK(answered == sent);
    CHECK(c.events()->size() == 0); // no dead_peer, no disconnected
    CHECK(c.events()->dropped() == 0);
}

TEST_CASE("fault 7: 100 threads opening and closing clients while they connect: no crash, hang or leak" *
          doctest::timeout(60)) {
    context ctx;
    server s(ctx);
    s.serve<std::uint64_t, std::uint64_t>("echo", [](const std::uint64_t& v) { return v; });
    const auto endpoint = s.bind("tcp://127.0.0.1:*");
    std::jthread serving([&](std::stop_token stop) { s.run(stop, 10ms); });
    std::atomic<int> answered{0}, made{0};
    {
        std::vector<std::jthread> threads;
        for (int t = 0; t < 100; ++t)
            threads.emplace_back([&, t] {
                for (int round = 0; round < 4; ++round) {
                    client_options o{.socket = {.linger = 0ms}, .timeout = 10s};
                    if ((t + round) % 2 == 0) o.socket.events.queue_capacity = 4; // a monitor thread too
                    client c(ctx, o);
                    c.connect(endpoint);
                    ++made;
                    if (round % 2 == 1 && c.call<std::uint64_t>("echo", std::uint64_t(round)).ok()) ++answered;
                    if (round == 3) c.close(); // the others close in the destructor, maybe mid-handshake
                }
            });
    }
    CHECK(made == 400);
    CHECK(answered == 200);
}

TEST_CASE("fault 8: a context shut down under calls in flight ends every call closed within linger + 100 ms" *
          doctest::timeout(60)) {
    std::string endpoint;
    auto mute = start_peer("tcp://127.0.0.1:*", {"--mute"}, endpoint);
    const auto linger = 200ms;
    constexpr int callers = 8;
    std::vector<status> states(callers, status::ok);
    std::vector<clk::time_point> ended(callers);
    clk::time_point shut;
    {
        context ctx;
        std::atomic<int> connected{0};
        std::vector<std::jthread> threads;
        for (int i = 0; i < callers; ++i)
            threads.emplace_back([&, i] {
                client c(ctx, with_events({.socket = {.linger = linger}, .timeout = 20s}));
                c.connect(endpoint);
                if (next_event(*c.events(), event_kind::connected, 20s)) ++connected;
                auto r = c.call<std::uint64_t>("echo", std::uint64_t(i));
                ended[static_cast<std::size_t>(i)] = clk::now();
                states[static_cast<std::size_t>(i)] = r.state();
            });
        struct shutdown_on_exit { // a failed REQUIRE must not leave the callers waiting
            context& c;
            ~shutdown_on_exit() { c.shutdown(); }
        } guard{ctx};
        // Every call is in flight once the peer has read all of them.
        // The mute peer prints a line per request it reads.
        for (int i = 0; i < callers; ++i) REQUIRE(mute.read_line(20s) == "request");
        REQUIRE(connected == callers);
        REQUIRE(mute_stats(endpoint)[0] == callers);
        shut = clk::now();
        ctx.shutdown();
    } // threads joined, then the context is destroyed
    for (int i = 0; i < callers; ++i) {
        CHECK(states[static_cast<std::size_t>(i)] == status::closed);
        const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(ended[static_cast<std::size_t>(i)] - shut);
        // The contract: linger + 100 ms. A shutdown wakes every blocked call at once; linger bounds
        // what closing the sockets may add. Reported; asserted at 5x, far below the calls' own 20 s.
        MESSAGE("caller " << i << " ended " << took.count() << " ms after the shutdown");
        CHECK(took <= 5 * (linger + 100ms));
    }
}
