#include <courier/reliable.hpp>

#include "support/bytes.hpp"
#include "support/eventually.hpp"
#include "support/loopback.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <filesystem>
#include <set>
#include <span>
#include <string_view>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace courier;
using namespace std::chrono_literals;
using test::from_hex;
using test::to_hex;
using test::transport;

namespace {

struct job {
    static constexpr std::string_view courier_type_name = "test.Job";
    int n = 0;
    MSGPACK_DEFINE_MAP(n)
};

/// A fresh outbox path in this process's temp dir.
std::filesystem::path outbox_path(const char* name) {
    auto p = std::filesystem::temp_directory_path() /
             ("courier-test-" + std::to_string(::getpid()) + "-" + name + ".db");
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(p.string() + suffix);
    return p;
}

/// A hello's payload as docs/wire-format.md specifies it: a msgpack map, window last.
std::vector<std::byte> hello_payload(std::string_view role, std::uint64_t node, std::uint64_t window) {
    msgpack::sbuffer out;
    msgpack::packer<msgpack::sbuffer> pk(out);
    pk.pack_map(3);
    pk.pack(std::string("role"));
    pk.pack(std::string(role));
    pk.pack(std::string("node"));
    pk.pack(node);
    pk.pack(std::string("window"));
    pk.pack(window);
    const auto* p = reinterpret_cast<const std::byte*>(out.data());
    return {p, p + out.size()};
}

/// A reliable peer made by hand on a plain ROUTER from the wire spec alone: routing id 'c' and
/// its node, big-endian, and a probe on every new connection.
struct plain_peer {
    zmq::socket_t sock;
    std::string rid; // of the courier peer, from its probe

    plain_peer(context& ctx, std::uint64_t node) : sock(ctx.native(), zmq::socket_type::router) {
        std::string id(9, 'c');
        for (int i = 0; i < 8; ++i) id[1 + i] = static_cast<char>(node >> (56 - 8 * i));
        sock.set(zmq::sockopt::linger, 0);
        sock.set(zmq::sockopt::routing_id, id);
        sock.set(zmq::sockopt::rcvtimeo, 5000);
        sock.set(zmq::sockopt::probe_router, 1);
    }

    /// The next frame from the courier peer (its routing id noted); fails the test after 5 s.
    std::vector<std::byte> next() {
        zmq::message_t from, body;
        REQUIRE(sock.recv(from));
        REQUIRE(from.more());
        REQUIRE(sock.recv(body));
        rid.assign(from.data<char>(), from.size());
        const auto* p = body.data<std::byte>();
        return {p, p + body.size()};
    }

    /// The next envelope whose kind and subject match, skipping the rest (probes, pings, hellos);
    /// fails the test if none came within 5 s.
    std::vector<std::byte> next(kind k, std::string_view subject = {}) {
        const auto until = std::chrono::steady_clock::now() + 5s;
        for (;;) {
            REQUIRE(std::chrono::steady_clock::now() < until);
            auto frame = next();
            if (frame.empty()) continue;
            const auto e = envelope::decode(frame);
            if (e.kind() == k && (k != kind::control || e.subject() == subject)) return frame;
        }
    }

    void send(std::span<const std::byte> frame) {
        sock.send(zmq::buffer(rid.data(), rid.size()), zmq::send_flags::sndmore);
        sock.send(zmq::buffer(frame.data(), frame.size()));
    }

    void control(std::string_view subject, std::span<const std::byte> payload = {}, std::uint64_t correlation = 0) {
        send(encode(outgoing{.kind = kind::control,
                             .id = next_message_id(),
                             .correlation_id = correlation,
                             .subject = subject,
                             .payload = payload}));
    }
};

} // namespace

// Every task reaches the puller once and is acknowledged once; one puller sees push order.
TEST_CASE("reliable: every task is delivered once, in order, and acknowledged" * doctest::timeout(30)) {
    test::on_every_transport([](transport t) {
        context ctx;
        reliable_puller worker(ctx);
        reliable_pusher producer(ctx);
        producer.connect(worker.bind(test::bind_endpoint(t)));
        constexpr int n = 2000;
        for (int i = 0; i < n; ++i) REQUIRE(producer.push(job{i}) == status::ok);
        for (int i = 0; i < n; ++i) {
            auto m = worker.receive(5s);
            REQUIRE(m.has_value());
            CHECK(m->as<job>().n == i);
            CHECK(m->id() == static_cast<std::uint64_t>(i + 1));
            CHECK(m->producer_id() == producer.producer_id());
            worker.ack(*m);
        }
        REQUIRE(producer.drain(5s) == status::ok);
        CHECK_FALSE(worker.receive(10ms).has_value());
        const auto p = producer.counters();
        CHECK(p.sent == n);
        CHECK(p.acknowledged == n);
        CHECK(p.redelivered == 0);
        CHECK(p.expired == 0);
        CHECK(producer.pending() == 0);
        const auto w = worker.counters();
        CHECK(w.received == n);
        CHECK(w.acknowledged == n);
        CHECK(w.duplicates == 0);
        CHECK(w.rejected == 0);
    });
}

// Credit: a puller never holds more than its window of unacknowledged tasks.
TEST_CASE("reliable: a puller gets no more than its window before it acknowledges" * doctest::timeout(30)) {
    context ctx;
    reliable_puller worker(ctx, {.window = 5});
    reliable_pusher producer(ctx);
    producer.connect(worker.bind(test::bind_endpoint(transport::tcp)));
    for (int i = 0; i < 20; ++i) REQUIRE(producer.push(job{i}) == status::ok);
    std::vector<message> held;
    for (int i = 0; i < 5; ++i) {
        auto m = worker.receive(5s);
        REQUIRE(m.has_value());
        held.push_back(std::move(*m));
    }
    CHECK_FALSE(worker.receive(200ms).has_value()); // the sixth waits for an ack
    worker.ack(held.front());
    auto sixth = worker.receive(5s);
    REQUIRE(sixth.has_value());
    CHECK(sixth->as<job>().n == 5);
    CHECK(producer.counters().sent == 6);
}

// Two pullers share the work; each task goes to exactly one of them.
TEST_CASE("reliable: tasks are shared between pullers, none twice" * doctest::timeout(30)) {
    context ctx;
    reliable_pusher producer(ctx);
    const auto at = producer.bind(test::bind_endpoint(transport::tcp));
    constexpr int n = 3000;
    std::vector<std::vector<int>> got(2);
    {
        std::vector<std::jthread> workers;
        for (int w = 0; w < 2; ++w) {
            workers.emplace_back([&, w] {
                reliable_puller puller(ctx, {.window = 16});
                puller.connect(at);
                for (;;) {
                    auto m = puller.receive(1s);
                    if (!m) break;
                    got[w].push_back(m->as<job>().n);
                    puller.ack(*m);
                }
            });
        }
        for (int i = 0; i < n; ++i) REQUIRE(producer.push(job{i}) == status::ok);
        REQUIRE(producer.drain(20s) == status::ok);
    }
    std::set<int> all;
    for (const auto& g : got) all.insert(g.begin(), g.end());
    CHECK(got[0].size() + got[1].size() == n); // none twice
    CHECK(all.size() == n);                      // none lost
    CHECK(!got[0].empty());
    CHECK(!got[1].empty());
    for (const auto& g : got) CHECK(std::is_sorted(g.begin(), g.end())); // no failure: each in order
    CHECK(producer.counters().redelivered == 0);
}

// Visibility timeout: a task held unacknowledged too long goes to another puller, and the one that
// let it time out gets nothing more until it is heard from again (it may be frozen).
TEST_CASE("reliable: a task not acknowledged in time goes to another puller" * doctest::timeout(30)) {
    context ctx;
    reliable_pusher producer(ctx, {.visibility_timeout = 200ms});
    const auto at = producer.bind(test::bind_endpoint(transport::tcp));
    reliable_puller slow(ctx, {.window = 1});
    slow.connect(at);
    REQUIRE(producer.push(job{1}) == status::ok);
    auto held = slow.receive(5s);
    REQUIRE(held.has_value());
    reliable_puller other(ctx);
    other.connect(at);
    auto again = other.receive(5s); // after the timeout, handed to the other
    REQUIRE(again.has_value());
    CHECK(again->as<job>().n == 1);
    CHECK(again->id() == held->id());
    REQUIRE(producer.push(job{2}) == status::ok);
    auto second = other.receive(5s); // the slow one is passed over while it says nothing
    REQUIRE(second.has_value());
    CHECK(second->as<job>().n == 2);
    slow.ack(*held); // late, but it completes the task
    other.ack(*again); // too late: already done, ignored
    other.ack(*second);
    REQUIRE(producer.drain(5s) == status::ok);
    const auto p = producer.counters();
    CHECK(p.sent == 2);
    CHECK(p.expired == 1);
    CHECK(p.redelivered == 1);
    CHECK(p.acknowledged == 2);
    CHECK(slow.counters().received == 1);
    CHECK(other.counters().received == 2);
    CHECK_FALSE(slow.receive(100ms).has_value());
}

// The duplicate filter, driven by a hand-made pusher speaking the wire protocol
// (docs/patterns/reliable.md): a copy of a task the application still holds is dropped silently;
// a copy of one already acknowledged is dropped and acknowledged again (the first ack was lost).
TEST_CASE("reliable: a puller drops copies of a task it has, and acknowledges again one it finished" *
          doctest::timeout(30)) {
    context ctx;
    zmq::socket_t fake(ctx.native(), zmq::socket_type::router);
    fake.set(zmq::sockopt::linger, 0);
    fake.set(zmq::sockopt::routing_id, std::string("c\x01\x02\x03\x04\x05\x06\x07\x08", 9));
    fake.set(zmq::sockopt::rcvtimeo, 5000);
    fake.set(zmq::sockopt::probe_router, 1);
    const auto at = test::bind_endpoint(transport::tcp);
    fake.bind(at);
    reliable_puller worker(ctx);
    worker.connect(fake.get(zmq::sockopt::last_endpoint));
    // The puller's probe (an empty frame) names it; the pusher answers with its hello.
    zmq::message_t rid, body;
    REQUIRE(fake.recv(rid));
    REQUIRE(fake.recv(body));
    CHECK(body.size() == 0);
    {
        msgpack::sbuffer hello_body;
        msgpack::packer<msgpack::sbuffer> pk(hello_body);
        pk.pack_map(2);
        pk.pack(std::string("role"));
        pk.pack(std::string("pusher"));
        pk.pack(std::string("node"));
        pk.pack(std::uint64_t{0x0102030405060708u});
        const auto hello = encode(outgoing{.kind = kind::control,
                                           .id = 1,
                                           .subject = "hello",
                                           .payload = std::as_bytes(std::span(hello_body.data(), hello_body.size()))});
        fake.send(zmq::buffer(rid.data(), rid.size()), zmq::send_flags::sndmore);
        fake.send(zmq::buffer(hello.data(), hello.size()));
    }
    const auto payload = encode_payload(job{5}, detail::scratch());
    const std::vector<std::byte> bytes(payload.begin(), payload.end());
    const auto task = encode(outgoing{.kind = kind::message, .id = 5, .type_name = "test.Job", .payload = bytes});
    auto send_task = [&] {
        fake.send(zmq::buffer(rid.data(), rid.size()), zmq::send_flags::sndmore);
        fake.send(zmq::buffer(task.data(), task.size()));
    };
    auto next_ack = [&]() -> std::vector<std::uint64_t> {
        for (;;) { // skip hello and anything else until an ack
            zmq::message_t from, frame;
            REQUIRE(fake.recv(from));
            REQUIRE(fake.recv(frame));
            if (frame.size() == 0) continue;
            auto e = envelope::decode({frame.data<std::byte>(), frame.size()});
            if (e.kind() == kind::control && e.subject() == "ack")
                return decode_payload<std::vector<std::uint64_t>>(e.payload(), "", {});
        }
    };
    send_task();
    send_task(); // a copy while the application holds it
    auto m = worker.receive(5s);
    REQUIRE(m.has_value());
    CHECK(m->id() == 5);
    CHECK(m->producer_id() == 0x0102030405060708u);
    CHECK_FALSE(worker.receive(100ms).has_value()); // the copy is dropped, not acknowledged
    worker.ack(*m);
    CHECK(next_ack() == std::vector<std::uint64_t>{5});
    send_task(); // a copy after it was acknowledged
    CHECK_FALSE(worker.receive(100ms).has_value());
    CHECK(next_ack() == std::vector<std::uint64_t>{5}); // acknowledged again
    const auto c = worker.counters();
    CHECK(c.received == 1);
    CHECK(c.duplicates == 2);
    CHECK(c.acknowledged == 1);
}

// A puller that leaves tells its pushers, which hand its tasks to others at once.
TEST_CASE("reliable: tasks of a puller that closes go to another puller at once" * doctest::timeout(30)) {
    context ctx;
    reliable_pusher producer(ctx, {.visibility_timeout = std::chrono::minutes(10)});
    const auto at = producer.bind(test::bind_endpoint(transport::ipc));
    constexpr int n = 10;
    {
        reliable_puller leaver(ctx, {.window = n});
        leaver.connect(at);
        for (int i = 0; i < n; ++i) REQUIRE(producer.push(job{i}) == status::ok);
        for (int i = 0; i < n; ++i) REQUIRE(leaver.receive(5s).has_value()); // held, never acknowledged
    } // closes: says bye
    reliable_puller stayer(ctx);
    stayer.connect(at);
    std::set<int> got;
    for (int i = 0; i < n; ++i) {
        auto m = stayer.receive(5s);
        REQUIRE(m.has_value());
        got.insert(m->as<job>().n);
        stayer.ack(*m);
    }
    REQUIRE(producer.drain(5s) == status::ok);
    CHECK(got.size() == n);
    CHECK(producer.counters().redelivered == n);
    CHECK(producer.counters().expired == 0);
}

// Bounded admission: try_push answers at once when the bound is reached; push waits, then times out.
TEST_CASE("reliable: try_push refuses at once when max_pending tasks are outstanding" * doctest::timeout(30)) {
    context ctx;
    reliable_pusher producer(ctx, {.max_pending = 100});
    for (int i = 0; i < 100; ++i) REQUIRE(producer.try_push(job{i}) == status::ok);
    CHECK(producer.try_push(job{100}) == status::full);
    CHECK(producer.try_push(job{101}) == status::full);
    CHECK(producer.push(job{102}, 50ms) == status::timeout);
    CHECK(producer.pending() == 100);
    const auto c = producer.counters();
    CHECK(c.refused == 2);
    CHECK(c.timed_out == 1);
    // Room comes back as tasks are acknowledged.
    reliable_puller worker(ctx);
    producer.connect(worker.bind(test::bind_endpoint(transport::inproc)));
    auto m = worker.receive(5s);
    REQUIRE(m.has_value());
    worker.ack(*m);
    auto until = std::chrono::steady_clock::now() + 5s;
    while (producer.pending() == 100 && std::chrono::steady_clock::now() < until) (void)worker.receive(10ms);
    CHECK(producer.try_push(job{103}) == status::ok);
}

// close() waits for every acknowledgement (within linger), so a close right after the last push
// loses nothing even on ipc, where libzmq 4.3.4 can drop the tail of a stream whose sender closes
// while the receiver is behind (zeromq/libzmq#4660).
TEST_CASE("reliable: close right after pushing delivers every task, repeated" * doctest::timeout(60)) {
    for (auto t : {transport::ipc, transport::tcp}) {
        CAPTURE(static_cast<int>(t));
        for (int round = 0; round < 10; ++round) {
            CAPTURE(round);
            context ctx;
            reliable_puller worker(ctx, {.socket = {.receive_hwm = 10}});
            const auto at = worker.bind(test::bind_endpoint(t));
            constexpr int n = 10000;
            std::vector<int> got;
            std::jthread receiving([&] {
                while (got.size() < static_cast<std::size_t>(n)) {
                    auto m = worker.receive(5s);
                    if (!m) return;
                    got.push_back(m->as<job>().n);
                    worker.ack(*m);
                }
            });
            {
                reliable_pusher producer(ctx, {.socket = {.linger = 20s}, .max_pending = n});
                producer.connect(at);
                for (int i = 0; i < n; ++i) REQUIRE(producer.push(job{i}) == status::ok);
                producer.close();
                CHECK(producer.counters().dropped == 0);
                CHECK(producer.counters().acknowledged == n);
            }
            receiving.join();
            REQUIRE(got.size() == n);
            for (int i = 0; i < n; ++i) REQUIRE(got[i] == i);
            CHECK(worker.counters().duplicates == 0);
        }
    }
}

// The outbox: what was pushed and not acknowledged survives the producer.
TEST_CASE("reliable: a pusher started again on its outbox hands out what was not acknowledged" *
          doctest::timeout(30)) {
    const auto path = outbox_path("restart");
    context ctx;
    std::uint64_t id = 0;
    {
        reliable_pusher first(ctx, {.socket = {.linger = 0ms}, .outbox = path});
        id = first.producer_id();
        for (int i = 0; i < 100; ++i) REQUIRE(first.push(job{i}) == status::ok);
        CHECK(first.pending() == 100);
    } // closed with nobody to take them: they stay on disk
    reliable_puller worker(ctx);
    const auto at = worker.bind(test::bind_endpoint(transport::tcp));
    {
        reliable_pusher second(ctx, {.outbox = path});
        CHECK(second.producer_id() == id);
        CHECK(second.pending() == 100);
        second.connect(at);
        for (int i = 0; i < 100; ++i) {
            auto m = worker.receive(5s);
            REQUIRE(m.has_value());
            CHECK(m->as<job>().n == i);
            CHECK(m->id() == static_cast<std::uint64_t>(i + 1));
            CHECK(m->producer_id() == id);
            worker.ack(*m);
        }
        REQUIRE(second.drain(5s) == status::ok);
    }
    {
        // Empty now, and numbering goes on where it stopped: the puller's duplicate filter must
        // not mistake new tasks for old ones.
        reliable_pusher third(ctx, {.outbox = path});
        CHECK(third.pending() == 0);
        third.connect(at);
        REQUIRE(third.push(job{100}) == status::ok);
        auto m = worker.receive(5s);
        REQUIRE(m.has_value());
        CHECK(m->id() == 101);
        worker.ack(*m);
        REQUIRE(third.drain(5s) == status::ok);
    }
    CHECK(worker.counters().duplicates == 0);
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
}

TEST_CASE("reliable: an outbox that cannot be opened is a clear storage error") {
    context ctx;
    try {
        reliable_pusher p(ctx, {.outbox = "/nonexistent-dir/courier/outbox.db"});
        FAIL("expected courier::error");
    } catch (const error& e) {
        CHECK(e.kind() == errc::storage);
        CHECK(std::string(e.what()).find("/nonexistent-dir/courier/outbox.db") != std::string::npos);
    }
}

// Bad input reaches neither the application nor the pusher's books, and work goes on behind it.
TEST_CASE("reliable: garbage from a plain peer is rejected and counted, and good work goes on" *
          doctest::timeout(30)) {
    context ctx;
    std::mutex mu;
    std::condition_variable cv;
    int rejected_seen = 0; // on_rejected runs on the pusher's thread
    reliable_pusher producer(ctx, {.socket = {.on_rejected = [&](const error&) {
                                       std::lock_guard lock(mu);
                                       ++rejected_seen;
                                       cv.notify_all();
                                   }}});
    const auto at = producer.bind(test::bind_endpoint(transport::tcp));
    zmq::socket_t rogue(ctx.native(), zmq::socket_type::dealer);
    rogue.set(zmq::sockopt::linger, 0);
    rogue.connect(at);
    for (const char* junk : {"\x01\x02", "not msgpack", "\x9a\x01\x00\x06"}) rogue.send(zmq::buffer(std::string(junk)));
    reliable_puller worker(ctx);
    worker.connect(at);
    REQUIRE(producer.push(job{7}) == status::ok);
    auto m = worker.receive(5s);
    REQUIRE(m.has_value());
    CHECK(m->as<job>().n == 7);
    worker.ack(*m);
    REQUIRE(producer.drain(5s) == status::ok);
    // The rogue's connection is not ordered with the worker's: its garbage may be read after the
    // task was done. Wait until all three were reported, then the count must be exactly 3.
    {
        std::unique_lock lock(mu);
        REQUIRE(cv.wait_for(lock, 5s, [&] { return rejected_seen >= 3; }));
    }
    CHECK(producer.counters().rejected == 3);
}

TEST_CASE("reliable: options out of range are refused, naming the field") {
    context ctx;
    auto refused = [&](auto make, const char* field) {
        try {
            make();
            FAIL("expected invalid_option for " << field);
        } catch (const error& e) {
            CHECK(e.kind() == errc::invalid_option);
            CHECK(std::string(e.what()).find(field) != std::string::npos);
        }
    };
    refused([&] { reliable_pusher p(ctx, {.max_pending = 0}); }, "max_pending");
    refused([&] { reliable_pusher p(ctx, {.visibility_timeout = 0ms}); }, "visibility_timeout");
    refused([&] { reliable_pusher p(ctx, {.socket = {.heartbeat = {.interval = 1s, .timeout = 1s}}}); },
            "heartbeat_options.timeout");
    // The pattern pings its pullers every heartbeat interval: heartbeats off is refused by name.
    refused([&] { reliable_pusher p(ctx, {.socket = {.heartbeat = {.interval = 0ms}}}); },
            "reliable_pusher_options.socket.heartbeat.interval");
    refused([&] { reliable_puller p(ctx, {.socket = {.heartbeat = {.interval = 0ms}}}); },
            "reliable_puller_options.socket.heartbeat.interval");
    refused([&] { reliable_puller p(ctx, {.window = 0}); }, "window");
    refused([&] { reliable_puller p(ctx, {.dedup_window = 0}); }, "dedup_window");
}

TEST_CASE("reliable: close with nobody to take the tasks gives up after linger and counts them dropped" *
          doctest::timeout(30)) {
    context ctx;
    reliable_pusher producer(ctx, {.socket = {.linger = 100ms}});
    for (int i = 0; i < 10; ++i) REQUIRE(producer.push(job{i}) == status::ok);
    producer.close();
    CHECK(producer.counters().dropped == 10);
    CHECK_THROWS_AS((void)producer.push(job{10}), error);
    producer.close(); // idempotent
}

TEST_CASE("reliable: a context shutdown ends a push waiting for room with closed" * doctest::timeout(30)) {
    context ctx;
    reliable_pusher producer(ctx, {.max_pending = 1});
    REQUIRE(producer.push(job{0}) == status::ok);
    // Whether the shutdown comes before the push or while it waits, the push ends with closed
    // (well before its 10 s timeout, which the test's own timeout bounds).
    std::jthread stopper([&] { ctx.shutdown(); });
    try {
        (void)producer.push(job{1}, 10s);
        FAIL("expected courier::error(closed)");
    } catch (const error& e) {
        CHECK(e.kind() == errc::closed);
    }
}

// Issue 9, item 2: a new connection from a worker the pusher knows means the old one is gone, with
// whatever was on it: tasks that never arrived, acks that never left. Its tasks are handed out
// again at once, not after the visibility timeout (10 minutes here). The worker is made by hand so
// that it can come back as the very same worker (same node, same routing id), as a paused process
// does when libzmq makes its connection again.
TEST_CASE("reliable: a worker whose connection is made again gets its unacknowledged tasks at once" *
          doctest::timeout(30)) {
    context ctx;
    constexpr std::uint64_t node = 0x1122334455667788u;
    reliable_pusher producer(ctx, {.visibility_timeout = std::chrono::minutes(10)});
    std::string at;
    {
        plain_peer worker(ctx, node);
        worker.sock.bind(test::bind_endpoint(transport::tcp));
        at = worker.sock.get(zmq::sockopt::last_endpoint);
        producer.connect(at);
        REQUIRE(worker.next().empty()); // the pusher's probe
        worker.control("hello", hello_payload("puller", node, 4));
        for (int i = 0; i < 3; ++i) REQUIRE(producer.push(job{i}) == status::ok);
        std::set<std::uint64_t> ids;
        for (int i = 0; i < 3; ++i) {
            const auto frame = worker.next(kind::message);
            ids.insert(envelope::decode(frame).id());
        }
        CHECK(ids == std::set<std::uint64_t>{1, 2, 3});
    } // gone with its three tasks unacknowledged; the pusher reconnects to the endpoint
    plain_peer again(ctx, node);
    // The old listener closes in the background: the port may take a moment to be free again.
    REQUIRE(test::eventually(
        [&] {
            try {
                again.sock.bind(at);
                return true;
            } catch (const zmq::error_t& e) {
                REQUIRE(e.num() == EADDRINUSE);
                return false;
            }
        },
        10s));
    std::set<std::uint64_t> back;
    for (int i = 0; i < 3; ++i) {
        const auto frame = again.next(kind::message); // on the old code: nothing for 10 minutes
        const auto id = envelope::decode(frame).id();
        back.insert(id);
        msgpack::sbuffer ack;
        msgpack::pack(ack, std::vector<std::uint64_t>{id});
        again.control("ack", std::as_bytes(std::span(ack.data(), ack.size())));
    }
    CHECK(back == std::set<std::uint64_t>{1, 2, 3});
    REQUIRE(producer.drain(5s) == status::ok);
    const auto c = producer.counters();
    CHECK(c.sent == 3);
    CHECK(c.redelivered == 3);
    CHECK(c.expired == 0); // handed out again because of the new connection, not the timeout
    CHECK(c.acknowledged == 3);
}

// Issue 9, item 2: a worker that let a task time out is suspect and gets nothing more, but it is
// probed: the pusher's ping every heartbeat interval is answered with a pong by a puller that
// receives, and that clears it. Before, only an application message cleared it, and an idle worker
// sends none: the only worker there was stalled the pipeline for good.
TEST_CASE("reliable: a suspect worker that answers the pusher's ping gets tasks again" * doctest::timeout(30)) {
    context ctx;
    reliable_pusher producer(ctx, {.socket = {.heartbeat = {.interval = 20ms, .timeout = 10s}}, .visibility_timeout = 1s});
    reliable_puller worker(ctx, {.window = 2});
    producer.connect(worker.bind(test::bind_endpoint(transport::tcp)));
    REQUIRE(producer.push(job{1}) == status::ok);
    auto held = worker.receive(5s);
    REQUIRE(held.has_value());
    // Neither acknowledged nor receiving: the task times out, the worker becomes suspect.
    REQUIRE(test::eventually([&] { return producer.counters().expired == 1; }, 10s));
    REQUIRE(producer.push(job{2}) == status::ok);
    // Receiving again answers the pings it missed: it gets the copy of task 1 (dropped, it holds
    // it) and task 2.
    auto next = worker.receive(5s);
    REQUIRE(next.has_value());
    CHECK(next->as<job>().n == 2);
    worker.ack(*held);
    worker.ack(*next);
    REQUIRE(producer.drain(5s) == status::ok);
    const auto p = producer.counters();
    CHECK(p.sent == 2);
    CHECK(p.expired == 1);
    CHECK(p.redelivered == 1);
    CHECK(p.acknowledged == 2);
    const auto w = worker.counters();
    CHECK(w.received == 2);
    CHECK(w.duplicates == 1);
    CHECK(w.acknowledged == 2);
}

// Issue 9, item 5: "bad input is counted as rejected" holds for control envelopes too. Each end
// takes only the subjects meant for it (docs/wire-format.md): a puller hello and ping, a pusher
// hello, ack, pong and bye; anything else, the empty subject included, is rejected, and good work
// goes on behind it.
TEST_CASE("reliable: a control message with an unknown or empty subject is rejected at either end" *
          doctest::timeout(30)) {
    context ctx;
    constexpr std::uint64_t node = 0x0102030405060708u;
    SUBCASE("puller") {
        std::vector<std::string> reasons; // on_rejected runs on the receiving thread: this one
        reliable_puller worker(ctx, {.socket = {.on_rejected = [&](const error& e) { reasons.emplace_back(e.what()); }}});
        plain_peer fake(ctx, node);
        fake.sock.bind(test::bind_endpoint(transport::tcp));
        worker.connect(fake.sock.get(zmq::sockopt::last_endpoint));
        REQUIRE(fake.next().empty()); // the puller's probe
        fake.control("hello", hello_payload("pusher", node, 0));
        fake.control("");
        fake.control("shutdown");
        fake.control("ack"); // a pusher's word, not a puller's
        const auto payload = encode_payload(job{5}, detail::scratch());
        const std::vector<std::byte> bytes(payload.begin(), payload.end());
        fake.send(encode(outgoing{.kind = kind::message, .id = 1, .type_name = "test.Job", .payload = bytes}));
        auto m = worker.receive(5s); // the control messages came first on this connection
        REQUIRE(m.has_value());
        CHECK(m->as<job>().n == 5);
        CHECK(worker.counters().rejected == 3);
        CHECK(worker.counters().received == 1);
        REQUIRE(reasons.size() == 3);
        CHECK(reasons[0].find("subject ''") != std::string::npos);
        CHECK(reasons[1].find("subject 'shutdown'") != std::string::npos);
        CHECK(reasons[2].find("subject 'ack'") != std::string::npos);
    }
    SUBCASE("pusher") {
        reliable_pusher producer(ctx);
        plain_peer fake(ctx, node);
        fake.sock.connect(producer.bind(test::bind_endpoint(transport::tcp)));
        (void)fake.next(); // the pusher's probe or hello: its routing id
        fake.control("hello", hello_payload("puller", node, 1));
        fake.control("");
        fake.control("shutdown");
        fake.control("ping"); // a pusher's word, not a puller's
        REQUIRE(producer.push(job{1}) == status::ok);
        const auto frame = fake.next(kind::message);
        msgpack::sbuffer ack;
        msgpack::pack(ack, std::vector<std::uint64_t>{envelope::decode(frame).id()});
        fake.control("ack", std::as_bytes(std::span(ack.data(), ack.size())));
        REQUIRE(producer.drain(5s) == status::ok); // the ack came after the three on this connection
        CHECK(producer.counters().rejected == 3);
        CHECK(producer.counters().acknowledged == 1);
    }
}

// The kind 6 vectors of docs/wire-format.md (6 hello, 7 ack, 8 ping), produced there with
// Python's msgpack package; and what courier's own pusher and puller send has the same form.
constexpr std::string_view hello_hex =
    "9a010006010000a0a568656c6c6f80c42383a4726f6c65a670756c6c6572a46e6f6465cf0102030405060708a677696e646f7740";
constexpr std::string_view ack_hex = "9a010006020000a0a361636b80c406930506cd012c";
constexpr std::string_view ping_hex = "9a010006030000a0a470696e6780c400";

TEST_CASE("reliable: the hello, ack and ping vectors of the wire spec are what courier writes and reads" *
          doctest::timeout(30)) {
    constexpr std::uint64_t vector_node = 0x0102030405060708u;
    const auto hello = hello_payload("puller", vector_node, 64);
    CHECK(to_hex(encode(outgoing{.kind = kind::control, .id = 1, .subject = "hello", .payload = hello})) == hello_hex);
    const auto ack = from_hex("930506cd012c"); // msgpack [5, 6, 300], inside the bin
    CHECK(to_hex(encode(outgoing{.kind = kind::control, .id = 2, .subject = "ack", .payload = ack})) == ack_hex);
    CHECK(to_hex(encode(outgoing{.kind = kind::control, .id = 3, .subject = "ping"})) == ping_hex);

    // Every control envelope courier sends: no type name, correlation 0 (a pong: the ping's id),
    // no headers; a node in a hello is the one in the sender's routing id.
    auto node_of = [](const std::string& rid) {
        REQUIRE(rid.size() == 9);
        CHECK(rid[0] == 'c');
        std::uint64_t n = 0;
        for (int i = 1; i < 9; ++i) n = n << 8 | static_cast<unsigned char>(rid[static_cast<std::size_t>(i)]);
        return n;
    };
    auto plain_control = [](const envelope& e, std::string_view subject) {
        CHECK(e.kind() == kind::control);
        CHECK(e.subject() == subject);
        CHECK(e.type_name().empty());
        CHECK(e.headers().size() == 0);
        CHECK(e.id() != 0);
    };
    context ctx;
    SUBCASE("a pusher's hello and ping, and the pusher takes an ack of several tasks") {
        reliable_pusher producer(ctx, {.socket = {.heartbeat = {.interval = 20ms}}});
        plain_peer fake(ctx, vector_node);
        fake.sock.connect(producer.bind(test::bind_endpoint(transport::tcp)));
        const auto h = fake.next(kind::control, "hello");
        const auto he = envelope::decode(h);
        plain_control(he, "hello");
        CHECK(he.correlation_id() == 0);
        CHECK(node_of(fake.rid) == producer.producer_id());
        CHECK(to_hex(he.payload()) == to_hex(hello_payload("pusher", producer.producer_id(), 0)));
        fake.control("hello", hello_payload("puller", vector_node, 64));
        const auto p = fake.next(kind::control, "ping");
        const auto pe = envelope::decode(p);
        plain_control(pe, "ping");
        CHECK(pe.correlation_id() == 0);
        CHECK(pe.payload().empty()); // an empty bin
        for (int i = 0; i < 3; ++i) REQUIRE(producer.push(job{i}) == status::ok);
        for (int i = 0; i < 3; ++i) (void)fake.next(kind::message);
        fake.control("ack", from_hex("93010203")); // [1, 2, 3]: one unit of credit each
        REQUIRE(producer.drain(5s) == status::ok);
        CHECK(producer.counters().acknowledged == 3);
    }
    SUBCASE("a puller's hello, ack and pong") {
        reliable_puller worker(ctx, {.window = 64});
        plain_peer fake(ctx, vector_node);
        fake.sock.bind(test::bind_endpoint(transport::tcp));
        worker.connect(fake.sock.get(zmq::sockopt::last_endpoint));
        REQUIRE(fake.next().empty()); // the puller's probe
        const auto worker_node = node_of(fake.rid);
        fake.control("hello", hello_payload("pusher", vector_node, 0));
        const auto ping = from_hex(ping_hex);
        fake.send(ping); // vector 8 as it is, id 3
        const auto payload = encode_payload(job{5}, detail::scratch());
        const std::vector<std::byte> bytes(payload.begin(), payload.end());
        fake.send(encode(outgoing{.kind = kind::message, .id = 5, .type_name = "test.Job", .payload = bytes}));
        auto m = worker.receive(5s);
        REQUIRE(m.has_value());
        worker.ack(*m);
        const auto h = fake.next(kind::control, "hello");
        const auto he = envelope::decode(h);
        plain_control(he, "hello");
        CHECK(to_hex(he.payload()) == to_hex(hello_payload("puller", worker_node, 64)));
        const auto o = fake.next(kind::control, "pong");
        const auto oe = envelope::decode(o);
        plain_control(oe, "pong");
        CHECK(oe.correlation_id() == 3);
        CHECK(oe.payload().empty());
        const auto a = fake.next(kind::control, "ack");
        const auto ae = envelope::decode(a);
        plain_control(ae, "ack");
        CHECK(ae.correlation_id() == 0);
        CHECK(to_hex(ae.payload()) == "9105"); // msgpack [5] inside the bin
    }
}
