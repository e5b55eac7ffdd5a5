#include <courier/pipeline.hpp>

#include <courier/detail/wire.hpp>

#include "support/loopback.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace courier;
using namespace std::chrono_literals;
using test::transport;

namespace {

struct task {
    static constexpr std::string_view courier_type_name = "test.Task";
    int id = 0;
    std::string body;
    MSGPACK_DEFINE_MAP(id, body)
};


} // namespace

TEST_CASE("pipeline: a pusher delivers every message to a puller once, in order" * doctest::timeout(30)) {
    test::on_every_transport([](transport t) {
        context ctx;
        puller in(ctx);
        pusher out(ctx);
        out.connect(in.bind(test::bind_endpoint(t)));
        constexpr int n = 2000;
        for (int i = 0; i < n; ++i) REQUIRE(out.push(task{i, "work"}) == status::ok);
        for (int i = 0; i < n; ++i) {
            auto got = in.receive<task>(5s);
            REQUIRE(got.has_value());
            CHECK(got->id == i);
        }
        CHECK_FALSE(in.receive(10ms).has_value());
        CHECK(out.counters().sent == n);
        CHECK(in.counters().received == n);
        CHECK(in.counters().rejected == 0);
    });
}

TEST_CASE("pipeline: ventilator to workers to sink delivers every task exactly once" * doctest::timeout(60)) {
    test::on_every_transport([](transport t) {
        context ctx;
        pusher ventilator(ctx);
        puller sink(ctx);
        const auto tasks_at = ventilator.bind(test::bind_endpoint(t));
        const auto results_at = sink.bind(test::bind_endpoint(t));
        constexpr int n = 3000, workers = 3;
        std::vector<int> done_by(workers, 0);
        std::vector<std::jthread> threads;
        for (int w = 0; w < workers; ++w) {
            threads.emplace_back([&, w] {
                puller in(ctx);
                pusher out(ctx);
                in.connect(tasks_at);
                out.connect(results_at);
                while (auto job = in.receive<task>(5s)) {
                    if (job->id < 0) break; // end of work, one per worker
                    ++done_by[static_cast<std::size_t>(w)];
                    REQUIRE(out.push(task{job->id, "done by " + std::to_string(w)}) == status::ok);
                }
            });
        }
        for (int i = 0; i < n; ++i) REQUIRE(ventilator.push(task{i, "job"}) == status::ok);
        std::map<int, int> seen;
        for (int i = 0; i < n; ++i) {
            auto r = sink.receive<task>(10s);
            REQUIRE(r.has_value());
            ++seen[r->id];
        }
        for (int w = 0; w < workers; ++w) REQUIRE(ventilator.push(task{-1, "stop"}) == status::ok);
        threads.clear();
        int lost = 0, duplicated = 0;
        for (int i = 0; i < n; ++i) {
            auto it = seen.find(i);
            if (it == seen.end()) ++lost;
            else duplicated += it->second - 1;
        }
        CHECK(lost == 0);
        CHECK(duplicated == 0);
        CHECK(seen.size() == n);
        CHECK(done_by[0] + done_by[1] + done_by[2] == n);
        CHECK_FALSE(sink.receive(10ms).has_value());
    });
}

TEST_CASE("pipeline: a push with no puller connected ends with status::timeout" * doctest::timeout(30)) {
    context ctx;
    pusher out(ctx, {.socket = {.send_timeout = 50ms}});
    (void)out.bind(test::bind_endpoint(transport::tcp));
    CHECK(out.push(1) == status::timeout);
    CHECK(out.push(2, 10ms) == status::timeout);
    CHECK(out.counters().timed_out == 2);
    CHECK(out.counters().sent == 0);
}

TEST_CASE("pipeline: a puller skips bad input and keeps the good messages behind it" * doctest::timeout(30)) {
    context ctx;
    std::vector<errc> seen;
    puller in(ctx, {.socket = {.on_rejected = [&](const error& e) { seen.push_back(e.kind()); }}});
    in.bind("inproc://bad-pusher");
    zmq::socket_t plain(ctx.native(), zmq::socket_type::push);
    plain.set(zmq::sockopt::linger, 0);
    plain.connect("inproc://bad-pusher");
    const std::vector<std::byte> garbage{std::byte{0xdd}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff},
                                         std::byte{0xff}};
    auto request = encode(outgoing{.kind = kind::request, .id = 1});
    auto ok = encode(outgoing{.kind = kind::message, .id = 2, .type_name = "int", .payload = std::vector<std::byte>{std::byte{5}}});
    plain.send(zmq::buffer(garbage), zmq::send_flags::none);
    plain.send(zmq::buffer(request), zmq::send_flags::none);
    plain.send(zmq::buffer(ok), zmq::send_flags::sndmore);
    plain.send(zmq::buffer(ok), zmq::send_flags::none);
    plain.send(zmq::buffer(ok), zmq::send_flags::none);
    auto got = in.receive<int>(5s);
    REQUIRE(got.has_value());
    CHECK(*got == 5);
    CHECK(seen == std::vector<errc>{errc::truncated, errc::malformed, errc::malformed});
    CHECK(in.counters().rejected == 3);
    CHECK(in.counters().received == 1);
}

TEST_CASE("pipeline: a peer's frame over max_message_size never reaches the application" * doctest::timeout(30)) {
    context ctx;
    puller in(ctx, {.socket = {.max_message_size = 256}});
    auto endpoint = in.bind(test::bind_endpoint(transport::tcp));
    pusher big(ctx);
    big.connect(endpoint);
    REQUIRE(big.push(std::string(1000, 'x')) == status::ok); // libzmq drops the connection of an oversize peer
    pusher small(ctx);
    small.connect(endpoint);
    REQUIRE(small.push(std::string("small")) == status::ok);
    auto got = in.receive<std::string>(5s);
    REQUIRE(got.has_value());
    CHECK(*got == "small");
    CHECK_FALSE(in.receive(50ms).has_value());
}

TEST_CASE("pipeline: a batch frame is handed out one message at a time, in order" * doctest::timeout(30)) {
    context ctx;
    puller in(ctx);
    in.bind("inproc://batches");
    zmq::socket_t plain(ctx.native(), zmq::socket_type::push);
    plain.set(zmq::sockopt::linger, 0);
    plain.connect("inproc://batches");
    std::vector<std::vector<std::byte>> payloads;
    detail::buffer buf;
    for (int i = 0; i < 100; ++i) {
        auto p = encode_payload(task{i, std::string(static_cast<std::size_t>(i), 'x')}, buf);
        payloads.emplace_back(p.begin(), p.end());
    }
    std::vector<std::span<const std::byte>> views(payloads.begin(), payloads.end());
    auto batch = encode_batch(outgoing{.id = 1000, .timestamp_ns = 7, .type_name = "test.Task"}, views);
    // The same records but the last, which declares 5 bytes and has 1: the whole batch goes.
    std::vector<std::byte> records;
    for (const auto& p : payloads) {
        std::vector<std::byte> one(detail::bin_header_size(p.size()) + p.size());
        detail::writer(one.data()).bin(p);
        records.insert(records.end(), one.begin(), one.end());
    }
    records.insert(records.end(), {std::byte{0xc4}, std::byte{5}, std::byte{1}});
    auto bad = encode(outgoing{.kind = kind::batch, .id = 1, .type_name = "test.Task", .payload = records});
    plain.send(zmq::buffer(bad), zmq::send_flags::none);
    plain.send(zmq::buffer(batch), zmq::send_flags::none);
    plain.send(zmq::buffer(encode(outgoing{.id = 5, .type_name = "int", .payload = std::vector<std::byte>{std::byte{9}}})),
               zmq::send_flags::none);
    for (int i = 0; i < 100; ++i) {
        auto m = in.receive(5s);
        REQUIRE(m.has_value());
        CHECK(m->kind() == kind::message);
        CHECK(m->id() == 1000u + static_cast<unsigned>(i));
        CHECK(m->timestamp_ns() == 7);
        auto t = m->as<task>();
        CHECK(t.id == i);
        CHECK(t.body.size() == static_cast<std::size_t>(i));
    }
    CHECK(in.receive<int>(5s) == std::optional<int>(9));
    CHECK(in.counters().received == 101);
    CHECK(in.counters().rejected == 1);
}

TEST_CASE("pipeline: raw frames travel as they are, both ways with plain zmq peers" * doctest::timeout(30)) {
    context ctx;
    puller in(ctx);
    pusher out(ctx);
    out.connect(in.bind(test::bind_endpoint(transport::tcp)));
    const bytes body{std::byte{0xc1}, std::byte{0}, std::byte{7}}; // not msgpack: raw is never decoded
    for (int i = 0; i < 100; ++i) REQUIRE(out.push_raw(body) == status::ok);
    for (int i = 0; i < 100; ++i) {
        auto m = in.receive_raw(5s);
        REQUIRE(m.has_value());
        CHECK(bytes(m->bytes().begin(), m->bytes().end()) == body);
        CHECK(m->topic().empty());
    }
    CHECK(in.counters().received == 100);
    CHECK(in.counters().rejected == 0);

    // A multipart message is not a pipeline message: rejected, the next one is received.
    zmq::socket_t plain(ctx.native(), zmq::socket_type::push);
    plain.set(zmq::sockopt::linger, 0);
    plain.bind("inproc://raw-plain");
    puller from_plain(ctx);
    from_plain.connect("inproc://raw-plain");
    plain.send(zmq::str_buffer("a"), zmq::send_flags::sndmore);
    plain.send(zmq::str_buffer("b"), zmq::send_flags::none);
    plain.send(zmq::str_buffer("hello"), zmq::send_flags::none);
    auto m = from_plain.receive_raw(5s);
    REQUIRE(m.has_value());
    CHECK(std::string_view(reinterpret_cast<const char*>(m->bytes().data()), m->bytes().size()) == "hello");
    CHECK(from_plain.counters().rejected == 1);
}

TEST_CASE("pipeline: a raw push on a batching pusher keeps its place after the queued messages" *
          doctest::timeout(30)) {
    context ctx;
    puller in(ctx);
    pusher out(ctx, {.batching = batching{.max_delay = 1s, .direct_gap = 1s}});
    out.connect(in.bind("inproc://raw-after-batch"));
    for (int i = 0; i < 10; ++i) REQUIRE(out.push(i) == status::ok);
    REQUIRE(out.push_raw(bytes{std::byte{42}}) == status::ok);
    for (int i = 0; i < 10; ++i) CHECK(in.receive<int>(5s) == std::optional<int>(i));
    auto raw = in.receive_raw(5s);
    REQUIRE(raw.has_value());
    CHECK(raw->bytes().size() == 1);
}

TEST_CASE("pipeline: a flood of bad input cannot hold a receive past its timeout" * doctest::timeout(30)) {
    context ctx;
    puller in(ctx, {.socket = {.receive_hwm = 100000}});
    in.bind("inproc://flood");
    zmq::socket_t plain(ctx.native(), zmq::socket_type::push);
    plain.set(zmq::sockopt::linger, 0);
    plain.set(zmq::sockopt::sndhwm, 100000);
    plain.connect("inproc://flood");
    for (int i = 0; i < 1000; ++i) plain.send(zmq::str_buffer("garbage"), zmq::send_flags::none);
    // Deadline 0: the first rejection finds it passed and the receive returns.
    CHECK_FALSE(in.receive(0ms).has_value());
    CHECK(in.counters().rejected == 1);
    CHECK_FALSE(in.receive<int>(0ms).has_value());
    CHECK(in.counters().rejected == 2);
}

TEST_CASE("pipeline: try_push answers full at once when no puller has room, and counts it" * doctest::timeout(30)) {
    context ctx;
    pusher out(ctx, {.socket = {.send_hwm = 10}});
    CHECK(out.try_push(task{-1, "nobody"}) == status::full); // no puller connected
    CHECK(out.counters().refused == 1);
    puller in(ctx, {.socket = {.receive_hwm = 10}});
    out.connect(in.bind(test::bind_endpoint(transport::inproc)));
    int ok = 0, full = 0;
    for (int i = 0; i < 1000; ++i) {
        const auto s = out.try_push(task{ok, "burst"});
        if (s == status::ok) ++ok;
        else {
            CHECK(s == status::full);
            ++full;
        }
    }
    CHECK(ok > 0);
    CHECK(full > 0);
    CHECK(out.counters().refused == static_cast<std::uint64_t>(full) + 1);
    CHECK(out.counters().sent == static_cast<std::uint64_t>(ok));
    CHECK(out.counters().timed_out == 0);
    for (int i = 0; i < ok; ++i) {
        auto got = in.receive<task>(5s);
        REQUIRE(got.has_value());
        CHECK(got->id == i);
    }
    CHECK_FALSE(in.receive(20ms).has_value());
}

TEST_CASE("pipeline: try_push on a batching pusher answers full when the queue is full" * doctest::timeout(30)) {
    context ctx;
    // Calls closer than direct_gap are queued; with no puller the queue only grows.
    pusher out(ctx, {.socket = {.send_timeout = 100ms},
                     .batching = batching{.max_queued_bytes = 1024, .direct_gap = std::chrono::seconds(1)}});
    std::uint64_t ok = 0, full = 0;
    for (int i = 0; i < 5000; ++i) {
        const auto s = out.try_push(task{i, std::string(20, 'x')});
        if (s == status::ok) ++ok;
        else {
            CHECK(s == status::full);
            ++full;
        }
    }
    CHECK(ok > 0);
    CHECK(full > 0);
    // With no puller, everything queued is dropped send_timeout after its push.
    CHECK(out.flush() == status::timeout);
    const auto c = out.counters();
    CHECK(c.refused == full);
    CHECK(c.dropped == ok);
    CHECK(c.sent == 0);
    CHECK(c.timed_out == 0);
}

// Issue 9: a single push with no puller used to wait for one in the calling thread, send_timeout
// long, and end in status::timeout, while a push under load returned ok at once. One contract
// now: a batching push waits only for room in its queue; the queued message then has
// send_timeout to find a puller, or is dropped and counted, which flush() reports.
TEST_CASE("pipeline: a batching push with no puller returns ok at once, and flush() reports it dropped" *
          doctest::timeout(30)) {
    context ctx;
    pusher out(ctx, {.socket = {.linger = 500ms, .send_timeout = 1s}, .batching = batching{}});
    (void)out.bind(test::bind_endpoint(transport::tcp));
    auto start = std::chrono::steady_clock::now();
    const auto pushed = out.push(task{1, "nobody"});
    const auto push_took = std::chrono::steady_clock::now() - start;
    start = std::chrono::steady_clock::now();
    const auto flushed = out.flush();
    const auto flush_took = std::chrono::steady_clock::now() - start;
    MESSAGE("push took " << std::chrono::duration<double, std::milli>(push_took).count() << " ms, flush "
                         << std::chrono::duration<double, std::milli>(flush_took).count()
                         << " ms (send_timeout 1 s)");
    CHECK(pushed == status::ok);
    CHECK(flushed == status::timeout);
    CHECK(flush_took <= 5s); // 5 x send_timeout
    auto c = out.counters();
    CHECK(c.sent == 0);
    CHECK(c.dropped == 1);
    CHECK(c.timed_out == 0);
    // The same pusher delivers once a puller is there.
    puller in(ctx);
    out.connect(in.bind(test::bind_endpoint(transport::inproc)));
    REQUIRE(out.push(task{2, "somebody"}) == status::ok);
    CHECK(out.flush() == status::ok);
    auto got = in.receive<task>(5s);
    REQUIRE(got.has_value());
    CHECK(got->id == 2);
    c = out.counters();
    CHECK(c.sent == 1);
    CHECK(c.dropped == 1);
}

// A push before any connect() returns ok and waits in the queue; the connect() must not wait for
// the sending thread (which holds the socket while it waits for room) or the message would be
// dropped at its deadline before the puller could ever be reached. Whether the sending thread has
// taken the message when connect() comes is a race: fifty rounds meet it (the rounds where
// connect() found the socket held are reported).
TEST_CASE("pipeline: a batching push before connect() reaches the puller connected after it" * doctest::timeout(60)) {
    context ctx;
    puller in(ctx);
    const auto endpoint = in.bind(test::bind_endpoint(transport::inproc));
    double slowest_ms = 0;
    int held = 0;
    for (int round = 0; round < 50; ++round) {
        pusher out(ctx, {.socket = {.send_timeout = 10s}, .batching = batching{}});
        REQUIRE(out.push(task{round, "early"}) == status::ok); // nowhere to go yet: queued
        std::this_thread::yield(); // the woken sending thread may take it first
        const auto start = std::chrono::steady_clock::now();
        out.connect(endpoint);
        const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        slowest_ms = std::max(slowest_ms, ms);
        if (ms >= 1) ++held;
        auto got = in.receive<task>(5s);
        REQUIRE_MESSAGE(got.has_value(), "round " << round);
        CHECK(got->id == round);
        CHECK(out.flush() == status::ok);
        const auto c = out.counters();
        CHECK(c.sent == 1);
        CHECK(c.dropped == 0);
    }
    MESSAGE("connect() found the socket held in " << held << " of 50 rounds; the slowest took " << slowest_ms
                                                 << " ms (send_timeout 10 s)");
}

// Issue 10: receive<T> goes through the puller's one non-template step. A batch's records are
// read straight from its frame; a record that does not read as T is rejected (received back down,
// rejected up) and the records behind it still arrive, then a message sent alone.
TEST_CASE("pipeline: receive<T> rejects a stray record inside a batch once and hands out the rest in order" *
          doctest::timeout(30)) {
    context ctx;
    std::vector<errc> seen;
    puller in(ctx, {.socket = {.on_rejected = [&](const error& e) { seen.push_back(e.kind()); }}});
    in.bind("inproc://typed-batches");
    zmq::socket_t plain(ctx.native(), zmq::socket_type::push);
    plain.set(zmq::sockopt::linger, 0);
    plain.connect("inproc://typed-batches");
    const std::array<std::byte, 1> zero{std::byte{0}}, one{std::byte{1}}, three{std::byte{3}}, seven{std::byte{7}};
    const std::array<std::byte, 2> stray{std::byte{0xa1}, std::byte{'x'}}; // the string "x" where an int goes
    const std::vector<std::span<const std::byte>> records{zero, one, stray, three};
    plain.send(zmq::buffer(encode_batch(outgoing{.id = 100, .type_name = "int"}, records)), zmq::send_flags::none);
    plain.send(zmq::buffer(encode(outgoing{.id = 200, .type_name = "int", .payload = seven})), zmq::send_flags::none);
    for (const int expected : {0, 1, 3, 7}) CHECK(in.receive<int>(5s) == std::optional<int>(expected));
    CHECK_FALSE(in.receive<int>(0ms).has_value());
    CHECK(in.counters().received == 4);
    CHECK(in.counters().rejected == 1);
    CHECK(seen == std::vector<errc>{errc::type_mismatch});
}
