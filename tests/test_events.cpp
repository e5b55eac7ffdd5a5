#include <courier/events.hpp>

#include <courier/pubsub.hpp>
#include <courier/reliable.hpp>
#include <courier/reqrep.hpp>

#include "support/loopback.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
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

// ---- cut-offs: libzmq drops a connection for good after a protocol error; courier redials ------
// libzmq 4.3.4 ends a connection whose peer sends a frame over ZMQ_MAXMSGSIZE as a protocol error
// and, unlike after a connection or heartbeat error, never redials it. A socket that connected
// must redial it itself, count it, report it, and receive the good messages that come after.
// inproc is not tested: it has no size limit, so a peer cannot cut a socket off that way.

namespace {

constexpr std::size_t small_limit = 1024;
constexpr std::size_t oversize = 4096;

std::chrono::milliseconds ms_since(std::chrono::steady_clock::time_point from, std::chrono::steady_clock::time_point to) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(to - from);
}

std::string_view text_of(std::span<const std::byte> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

/// Keeps the events a socket reports through its callback, for a test to wait on.
struct event_log {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<peer_event> seen;

    socket_options into(socket_options o) {
        o.events.on_event = [this](const peer_event& e) {
            {
                std::lock_guard lock(mutex);
                seen.push_back(e);
            }
            changed.notify_all();
        };
        return o;
    }
    /// The first event of `kind` after position `from`, and its position; waits up to `timeout`.
    std::optional<std::pair<peer_event, std::size_t>> find(event_kind kind, std::size_t from,
                                                           std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex);
        std::optional<std::pair<peer_event, std::size_t>> found;
        changed.wait_for(lock, timeout, [&] {
            for (std::size_t i = from; i < seen.size(); ++i)
                if (seen[i].kind == kind) {
                    found.emplace(seen[i], i);
                    return true;
                }
            return false;
        });
        return found;
    }
    std::size_t count(event_kind kind) {
        std::lock_guard lock(mutex);
        return static_cast<std::size_t>(
            std::count_if(seen.begin(), seen.end(), [&](const auto& e) { return e.kind == kind; }));
    }
};

/// Reads `s` until a message whose first frame is `first` arrives (true) or `timeout` passes.
bool await_frame(zmq::socket_t& s, std::string_view first, std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = ms_since(std::chrono::steady_clock::now(), until);
        if (left <= 0ms) return false;
        zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
        if (zmq::poll(&item, 1, left) == 0) continue;
        zmq::message_t m;
        (void)s.recv(m);
        const bool match = m.to_string_view() == first;
        while (m.more()) (void)s.recv(m);
        if (match) return true;
    }
}

zmq::message_t frame_of(const outgoing& e) {
    const auto bytes = encode(e);
    return zmq::message_t(bytes.data(), bytes.size());
}

/// One cut_off event naming `endpoint` and the limit, followed by the redialled connection's
/// connected event.
void check_cut_off_event(event_log& log, const std::string& endpoint) {
    auto cut = log.find(event_kind::cut_off, 0, 10s);
    REQUIRE(cut);
    CHECK(cut->first.endpoint == endpoint);
    CHECK(cut->first.reason.find("max_message_size") != std::string::npos);
    MESSAGE("cut_off event: " << cut->first.endpoint << ": " << cut->first.reason);
    auto up = log.find(event_kind::connected, cut->second + 1, 10s);
    REQUIRE(up);
    CHECK(up->first.endpoint == endpoint);
    CHECK(log.count(event_kind::cut_off) == 1);
}

} // namespace

TEST_CASE("cut-off: a subscriber redials a publisher whose oversize frame made libzmq drop it, and gets "
          "what follows" * doctest::timeout(60)) {
    for (auto t : {transport::tcp, transport::ipc}) {
        CAPTURE(static_cast<int>(t));
        for (const bool events : {true, false}) {
            CAPTURE(events);
            context ctx;
            // A plain XPUB plays the publisher: it can send a frame of any size, and (verbose) it
            // sees the subscription every new connection of the subscriber sends.
            zmq::socket_t pub(ctx.native(), zmq::socket_type::xpub);
            pub.set(zmq::sockopt::linger, 0);
            pub.set(zmq::sockopt::xpub_verbose, 1);
            pub.bind(test::bind_endpoint(t));
            const auto endpoint = pub.get(zmq::sockopt::last_endpoint);
            socket_options o{.max_message_size = small_limit};
            event_log log;
            subscriber sub(ctx, {.socket = events ? log.into(o) : o});
            sub.connect(endpoint);
            sub.subscribe("t");
            REQUIRE(await_frame(pub, "\x01t", 10s));
            auto publish = [&](const std::string& body) {
                (void)pub.send(zmq::buffer(std::string_view("t")), zmq::send_flags::sndmore);
                (void)pub.send(zmq::buffer(body), zmq::send_flags::none);
            };
            for (int i = 0; i < 3; ++i) publish("before " + std::to_string(i));
            int before = 0;
            for (int i = 0; i < 3; ++i)
                if (auto m = sub.receive_raw(10s); m && m->bytes().size() == 8) ++before;
            REQUIRE(before == 3);

            // The publisher's side, on its own thread while the subscriber waits in receive: one
            // frame over the subscriber's limit, then, once the subscriber is back (its
            // subscription arrives again on the new connection), three good messages.
            bool resubscribed = false;
            std::thread peer([&] {
                publish(std::string(oversize, 'x'));
                resubscribed = await_frame(pub, "\x01t", 10s);
                if (resubscribed)
                    for (int i = 0; i < 3; ++i) publish("after " + std::to_string(i));
            });
            int after = 0;
            const auto start = std::chrono::steady_clock::now();
            for (int i = 0; i < 3; ++i)
                if (auto m = sub.receive_raw(15s);
                    m && text_of(m->bytes()).starts_with("after"))
                    ++after;
            peer.join();
            MESSAGE("cut off to 3 good messages received: "
                    << ms_since(start, std::chrono::steady_clock::now()).count()
                    << " ms");
            CHECK(resubscribed);
            CHECK(after == 3);
            CHECK(sub.counters().received == 6);
            CHECK(sub.counters().rejected == 0);
            CHECK(sub.counters().cut_offs == 1);
            if (events) check_cut_off_event(log, endpoint);
        }
    }
}

TEST_CASE("cut-off: a client redials a server whose oversize reply made libzmq drop it, and its calls go on" *
          doctest::timeout(90)) {
    for (auto t : {transport::tcp, transport::ipc}) {
        CAPTURE(static_cast<int>(t));
        context ctx;
        // A plain ROUTER plays the server: it answers the second request it sees with a frame over
        // the client's limit, every other one with a good reply.
        zmq::socket_t router(ctx.native(), zmq::socket_type::router);
        router.set(zmq::sockopt::linger, 0);
        router.bind(test::bind_endpoint(t));
        const auto endpoint = router.get(zmq::sockopt::last_endpoint);
        event_log log;
        client c(ctx, {.socket = log.into({.max_message_size = small_limit}), .timeout = 1000ms});
        c.connect(endpoint);

        std::atomic<bool> stop{false};
        int requests = 0;
        std::thread peer([&] {
            while (!stop.load()) {
                zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
                if (zmq::poll(&item, 1, 20ms) == 0) continue;
                std::vector<zmq::message_t> frames;
                do {
                    (void)router.recv(frames.emplace_back());
                } while (frames.back().more());
                if (frames.size() != 3) continue;
                ++requests;
                const auto request = envelope::parse({frames[2].data<std::byte>(), frames[2].size()}, decode_limits{});
                zmq::message_t body;
                if (requests == 2) {
                    body = zmq::message_t(std::string(oversize, 'x'));
                } else {
                    detail::buffer out;
                    body = frame_of({.kind = kind::reply,
                                     .id = 1000u + static_cast<unsigned>(requests),
                                     .correlation_id = request.id,
                                     .type_name = type_name<std::string>::value,
                                     .payload = encode_payload(std::string("pong"), out)});
                }
                (void)router.send(frames[0], zmq::send_flags::sndmore);
                (void)router.send(zmq::message_t(), zmq::send_flags::sndmore);
                (void)router.send(body, zmq::send_flags::none);
            }
        });
        int answered = 0;
        for (int i = 0; i < 5; ++i) {
            const auto start = std::chrono::steady_clock::now();
            auto r = c.call<std::string>("ping", std::string("x"));
            MESSAGE("call " << i << ": " << to_string(r.state()) << " in "
                            << ms_since(start, std::chrono::steady_clock::now()).count()
                            << " ms " << r.detail());
            if (r.ok() && r.value() == "pong") ++answered;
        }
        stop = true;
        peer.join();
        // The second call's first attempt got the oversize reply; its retry went over the
        // redialled connection: 5 calls, 6 requests, one retry.
        CHECK(answered == 5);
        CHECK(requests == 6);
        CHECK(c.counters().retries == 1);
        CHECK(c.counters().received == 5);
        CHECK(c.counters().cut_offs == 1);
        check_cut_off_event(log, endpoint);
    }
}

namespace {

/// A reliable pusher's hello (docs/wire-format.md): a control envelope, subject "hello", payload
/// the map {role, node, window}.
zmq::message_t pusher_hello(std::uint64_t node) {
    msgpack::sbuffer out;
    msgpack::packer<msgpack::sbuffer> pk(out);
    pk.pack_map(3);
    pk.pack(std::string("role"));
    pk.pack(std::string("pusher"));
    pk.pack(std::string("node"));
    pk.pack(node);
    pk.pack(std::string("window"));
    pk.pack(std::uint64_t{64});
    return frame_of({.kind = kind::control,
                     .id = 1,
                     .subject = "hello",
                     .payload = std::as_bytes(std::span(out.data(), out.size()))});
}

/// Reads `router` until a connection's probe ([routing id][empty]) arrives: its routing id.
std::optional<zmq::message_t> await_probe(zmq::socket_t& router, std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = ms_since(std::chrono::steady_clock::now(), until);
        if (left <= 0ms) return std::nullopt;
        zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
        if (zmq::poll(&item, 1, left) == 0) continue;
        std::vector<zmq::message_t> frames;
        do {
            (void)router.recv(frames.emplace_back());
        } while (frames.back().more());
        if (frames.size() == 2 && frames[1].size() == 0) return std::move(frames[0]);
    }
}

} // namespace

TEST_CASE("cut-off: a reliable puller redials a pusher whose oversize frame made libzmq drop it, says hello "
          "again and takes the tasks that follow" * doctest::timeout(60)) {
    for (auto t : {transport::tcp, transport::ipc}) {
        CAPTURE(static_cast<int>(t));
        context ctx;
        // A plain ROUTER plays the pusher: hello on each probe, tasks 1-3, one frame over the
        // puller's limit, then, once the puller is back and has probed again, tasks 4-6.
        zmq::socket_t router(ctx.native(), zmq::socket_type::router);
        router.set(zmq::sockopt::linger, 0);
        router.set(zmq::sockopt::router_handover, 1); // the redialled puller comes back under its routing id
        router.bind(test::bind_endpoint(t));
        const auto endpoint = router.get(zmq::sockopt::last_endpoint);
        event_log log;
        reliable_puller puller(ctx, {.socket = log.into({.max_message_size = small_limit})});
        puller.connect(endpoint);

        int probes = 0;
        std::thread peer([&] {
            auto send = [&](const zmq::message_t& rid, zmq::message_t body) {
                zmq::message_t id;
                id.copy(const_cast<zmq::message_t&>(rid));
                (void)router.send(id, zmq::send_flags::sndmore);
                (void)router.send(body, zmq::send_flags::none);
            };
            auto task = [](std::uint64_t seq) {
                const std::string payload = "task " + std::to_string(seq);
                return frame_of({.kind = kind::message, .id = seq, .payload = std::as_bytes(std::span(payload))});
            };
            for (std::uint64_t first : {1, 4}) {
                auto rid = await_probe(router, 10s);
                if (!rid) return;
                ++probes;
                send(*rid, pusher_hello(42));
                for (std::uint64_t seq = first; seq < first + 3; ++seq) send(*rid, task(seq));
                if (first == 1) send(*rid, zmq::message_t(std::string(oversize, 'x')));
            }
        });
        int tasks = 0;
        for (int i = 0; i < 6; ++i) {
            auto m = puller.receive(15s);
            if (!m) break;
            ++tasks;
            puller.ack(*m);
        }
        peer.join();
        CHECK(probes == 2);
        CHECK(tasks == 6);
        CHECK(puller.counters().received == 6);
        CHECK(puller.counters().duplicates == 0);
        CHECK(puller.counters().rejected == 0);
        CHECK(puller.counters().cut_offs == 1);
        check_cut_off_event(log, endpoint);
    }
}

TEST_CASE("cut-off: a server that closes and comes back is redialled by libzmq, not counted as a cut-off" *
          doctest::timeout(60)) {
    for (auto t : {transport::tcp, transport::ipc}) {
        CAPTURE(static_cast<int>(t));
        context ctx;
        std::string endpoint;
        event_log log;
        client c(ctx, {.socket = log.into({}), .timeout = 1000ms, .attempts = 1});
        {
            server s(ctx);
            endpoint = s.bind(test::bind_endpoint(t));
            s.serve<std::string, std::string>("ping", [](const std::string&) { return std::string("pong"); });
            c.connect(endpoint);
            auto pending = c.send("ping", std::string("x"));
            REQUIRE(s.serve_one(10s));
            CHECK(c.wait<std::string>(pending).ok());
        }
        // The server's side closed: a connection error, after which libzmq redials by itself. A
        // call that times out keeps the client waiting five times the grace the monitor gives
        // libzmq to say so.
        const auto down = log.find(event_kind::disconnected, 0, 10s);
        REQUIRE(down);
        CHECK(c.call<std::string>("ping", std::string("x"), 1000ms).state() == status::timeout);
        server again(ctx);
        CHECK(again.bind(endpoint) == endpoint);
        again.serve<std::string, std::string>("ping", [](const std::string&) { return std::string("pong"); });
        auto pending = c.send("ping", std::string("x"));
        REQUIRE(again.serve_one(10s));
        CHECK(c.wait<std::string>(pending).ok());
        // The monitor thread reports the new connection on its own time: wait for it.
        CHECK(log.find(event_kind::connected, down->second + 1, 10s));
        CHECK(c.counters().cut_offs == 0);
        CHECK(log.count(event_kind::cut_off) == 0);
        CHECK(log.count(event_kind::connected) == 2);
    }
}
