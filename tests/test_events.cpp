#include <courier/events.hpp>

#include <courier/reqrep.hpp>

#include "support/loopback.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

using namespace courier;
using namespace std::chrono_literals;
using test::transport;

namespace {

socket_options with_queue(socket_options o = {}) {
    o.events.queue_capacity = 16;
    return o;
}

} // namespace

TEST_CASE("events: a client sees its server connect, then disconnect when the server closes" * doctest::timeout(30)) {
    for (auto t : {transport::tcp, transport::ipc}) {
        CAPTURE(static_cast<int>(t));
        context ctx;
        server s(ctx);
        const auto endpoint = s.bind(test::bind_endpoint(t));
        client c(ctx, {.socket = with_queue()});
        c.connect(endpoint);
        auto up = c.events()->wait(10s);
        REQUIRE(up);
        CHECK(up->kind == event_kind::connected);
        CHECK(up->endpoint == endpoint);
        s.close();
        auto down = c.events()->wait(10s);
        REQUIRE(down);
        // The server closed its side: a disconnect, not a dead peer (that is for silent peers).
        CHECK(down->kind == event_kind::disconnected);
        CHECK(down->endpoint == endpoint);
        CHECK(c.events()->size() == 0);
        CHECK(c.events()->dropped() == 0);
    }
}

TEST_CASE("events: a server sees a client connect from its own address and leave" * doctest::timeout(30)) {
    context ctx;
    server s(ctx, {.socket = with_queue()});
    const auto endpoint = s.bind(test::bind_endpoint(transport::tcp));
    std::string peer;
    {
        client c(ctx, {.socket = {.linger = 0ms}});
        c.connect(endpoint);
        auto up = s.events()->wait(10s);
        REQUIRE(up);
        CHECK(up->kind == event_kind::connected);
        CHECK(up->endpoint == endpoint); // a bound socket names its own endpoint
        CHECK(up->peer.rfind("tcp://127.0.0.1:", 0) == 0);
        CHECK(up->peer != endpoint);
        peer = up->peer;
    } // the client closes
    auto down = s.events()->wait(10s);
    REQUIRE(down);
    CHECK(down->kind == event_kind::disconnected);
    CHECK(down->peer == peer);
}

TEST_CASE("events: the callback gets every event on the monitor thread" * doctest::timeout(30)) {
    context ctx;
    std::mutex mu;
    std::condition_variable cv;
    int connected = 0, disconnected = 0, dead = 0; // under mu
    socket_options o;
    o.events.on_event = [&](const peer_event& e) {
        std::lock_guard lock(mu);
        if (e.kind == event_kind::connected) ++connected;
        if (e.kind == event_kind::disconnected) ++disconnected;
        if (e.kind == event_kind::dead_peer) ++dead;
        cv.notify_all();
    };
    client c(ctx, {.socket = o});
    CHECK(c.events() == nullptr); // a callback only: no queue
    std::vector<server> servers;
    for (int i = 0; i < 3; ++i) {
        servers.emplace_back(ctx);
        c.connect(servers.back().bind(test::bind_endpoint(transport::tcp)));
    }
    {
        std::unique_lock lock(mu);
        CHECK(cv.wait_for(lock, 10s, [&] { return connected >= 3; }));
        CHECK(connected == 3);
    }
    servers.clear();
    std::unique_lock lock(mu);
    CHECK(cv.wait_for(lock, 10s, [&] { return disconnected >= 3; }));
    CHECK(disconnected == 3);
    CHECK(dead == 0);
}

TEST_CASE("events: a full queue drops its oldest event and counts it") {
    event_queue q(2);
    for (int i = 0; i < 3; ++i) q.push({.kind = event_kind::connected, .endpoint = std::to_string(i)});
    CHECK(q.size() == 2);
    CHECK(q.dropped() == 1);
    CHECK(q.try_pop()->endpoint == "1");
    CHECK(q.try_pop()->endpoint == "2");
    CHECK_FALSE(q.try_pop());
    CHECK_FALSE(q.wait(1ms));
}

TEST_CASE("events: heartbeat and event options are validated when the socket is made") {
    context ctx;
    CHECK_THROWS_AS(client(ctx, {.socket = {.heartbeat = {.interval = 5ms}}}), error);
    CHECK_THROWS_AS(client(ctx, {.socket = {.heartbeat = {.interval = 100ms, .timeout = 100ms}}}), error);
    CHECK_THROWS_AS(server(ctx, {.socket = {.heartbeat = {.interval = 1s, .timeout = std::chrono::hours(2)}}}), error);
    socket_options huge;
    huge.events.queue_capacity = 2'000'000;
    try {
        client c(ctx, {.socket = huge});
        FAIL("a queue of 2,000,000 events was accepted");
    } catch (const error& e) {
        CHECK(e.kind() == errc::invalid_option);
        CHECK(std::string(e.what()).find("queue_capacity") != std::string::npos);
    }
    CHECK_NOTHROW(client(ctx, {.socket = {.heartbeat = {.interval = 0ms}}})); // off
}
