#include <courier/batch.hpp>

#include <courier/pipeline.hpp>
#include <courier/pubsub.hpp>

#include "support/loopback.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace courier;
using namespace std::chrono_literals;
using test::transport;

namespace {

struct point {
    static constexpr std::string_view courier_type_name = "test.Point";
    int sender = 0;
    int seq = 0;
    MSGPACK_DEFINE_MAP(sender, seq)
};

// Frames as a plain PULL socket sees them: (kind, messages in the frame).
std::vector<std::pair<kind, std::uint32_t>> frames_of(zmq::socket_t& plain, std::size_t messages) {
    std::vector<std::pair<kind, std::uint32_t>> out;
    std::size_t seen = 0;
    while (seen < messages) {
        zmq::message_t frame;
        REQUIRE(plain.recv(frame));
        auto layout = envelope::parse({frame.data<std::byte>(), frame.size()}, {});
        const auto n = layout.kind == kind::batch ? layout.batch_count : 1u;
        out.emplace_back(layout.kind, n);
        seen += n;
    }
    return out;
}

zmq::socket_t plain_puller(context& ctx, const std::string& endpoint) {
    zmq::socket_t s(ctx.native(), zmq::socket_type::pull);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::rcvtimeo, 5000);
    s.bind(endpoint);
    return s;
}

} // namespace

TEST_CASE("batch: messages queued while the sender is busy go out together, max_messages at a time" *
          doctest::timeout(30)) {
    context ctx;
    auto plain = plain_puller(ctx, "inproc://batches");
    // direct_gap 1 s: only the first call leaves directly; max_delay 1 s: a batch goes when full.
    pusher out(ctx, {.batching = batching{.max_messages = 256, .max_delay = 1s, .direct_gap = 1s}});
    out.connect("inproc://batches");
    for (int i = 0; i < 768; ++i) REQUIRE(out.push(i) == status::ok);
    CHECK(out.flush() == status::ok);
    auto frames = frames_of(plain, 768);
    using f = std::pair<kind, std::uint32_t>;
    CHECK(frames == std::vector<f>{{kind::message, 1}, {kind::batch, 256}, {kind::batch, 256}, {kind::batch, 255}});
    CHECK(out.counters().sent == 768);
}

TEST_CASE("batch: a batch frame stays within max_bytes, and a larger message travels alone" * doctest::timeout(30)) {
    context ctx;
    auto plain = plain_puller(ctx, "inproc://sized");
    pusher out(ctx, {.batching = batching{.max_bytes = 1000, .max_delay = 1s, .direct_gap = 1s}});
    out.connect("inproc://sized");
    const bytes hundred(100, std::byte{1}); // a record of 102 bytes: 9 fit in 1000
    REQUIRE(out.push(hundred) == status::ok); // direct
    for (int i = 0; i < 18; ++i) REQUIRE(out.push(hundred) == status::ok);
    REQUIRE(out.push(bytes(5000, std::byte{2})) == status::ok);
    CHECK(out.flush() == status::ok);
    auto frames = frames_of(plain, 20);
    using f = std::pair<kind, std::uint32_t>;
    CHECK(frames == std::vector<f>{{kind::message, 1}, {kind::batch, 9}, {kind::batch, 9}, {kind::message, 1}});
}

TEST_CASE("batch: receivers hand batched messages out one by one, in order, on every transport" *
          doctest::timeout(60)) {
    auto check = [](transport t) {
        context ctx;
        puller in(ctx);
        pusher out(ctx, {.batching = batching{}});
        out.connect(in.bind(test::bind_endpoint(t)));
        constexpr int n = 20000;
        // The receiver reads while the sender sends: what is in flight is bounded by the HWMs.
        int received = 0, in_order = 0;
        std::jthread reader([&] {
            while (received < n) {
                auto p = in.receive<point>(5s);
                if (!p) return;
                if (p->seq == received) ++in_order;
                ++received;
            }
        });
        for (int i = 0; i < n; ++i) REQUIRE(out.push(point{0, i}) == status::ok);
        reader.join();
        CHECK(received == n);
        CHECK(in_order == n);
        CHECK_FALSE(in.receive(10ms).has_value());
        CHECK(out.counters().sent == n);
        CHECK(in.counters().received == n);
    };
    SUBCASE("inproc") { check(transport::inproc); }
    SUBCASE("ipc") { check(transport::ipc); }
    SUBCASE("tcp") { check(transport::tcp); }
}

TEST_CASE("batch: a batching publisher keeps the order across topics" * doctest::timeout(30)) {
    context ctx;
    publisher pub(ctx, {.batching = batching{.max_delay = 1s, .direct_gap = 1s}});
    subscriber sub(ctx);
    sub.connect(pub.bind(test::bind_endpoint(transport::tcp)));
    sub.subscribe("a");
    sub.subscribe("b");
    test::await_subscription(pub, sub);
    std::vector<std::string> sent;
    for (int run = 0; run < 6; ++run)
        for (int i = 0; i < 10; ++i) {
            const std::string topic = run % 2 ? "b" : "a";
            CHECK(pub.publish(topic, run * 10 + i) == status::ok);
            sent.push_back(topic + std::to_string(run * 10 + i));
        }
    CHECK(pub.flush() == status::ok);
    std::vector<std::string> got;
    for (std::size_t i = 0; i < sent.size(); ++i) {
        auto m = sub.receive(5s);
        REQUIRE(m.has_value());
        got.push_back(std::string(m->topic()) + std::to_string(m->as<int>()));
    }
    CHECK(got == sent);
}

TEST_CASE("batch: messages with headers travel alone, in order with the rest" * doctest::timeout(30)) {
    context ctx;
    puller in(ctx);
    pusher out(ctx, {.batching = batching{.max_delay = 1s, .direct_gap = 1s}});
    out.connect(in.bind("inproc://headers"));
    for (int i = 0; i < 30; ++i) {
        if (i % 10 == 5) REQUIRE(out.push(i, {{"trace", std::to_string(i)}}) == status::ok);
        else REQUIRE(out.push(i) == status::ok);
    }
    CHECK(out.flush() == status::ok);
    for (int i = 0; i < 30; ++i) {
        auto m = in.receive(5s);
        REQUIRE(m.has_value());
        CHECK(m->as<int>() == i);
        CHECK(m->headers().find("trace").has_value() == (i % 10 == 5));
    }
}

TEST_CASE("batch: at low load every message leaves at once, unbatched" * doctest::timeout(30)) {
    context ctx;
    auto plain = plain_puller(ctx, "inproc://low-load");
    pusher out(ctx, {.batching = batching{.direct_gap = 0us}});
    out.connect("inproc://low-load");
    for (int i = 0; i < 50; ++i) {
        REQUIRE(out.push(i) == status::ok);
        auto frames = frames_of(plain, 1); // waits for the message before the next push
        CHECK(frames.front().first == kind::message);
    }
}

// close() hands everything queued to libzmq before closing the socket. The receiver here has room
// for all of it: libzmq 4.3.4 itself can drop an ipc stream's tail when the sender closes while a
// receiver with a small receive_hwm is behind (zeromq/libzmq#4660; docs/patterns/pipeline.md).
TEST_CASE("batch: close() flushes the queue, nothing queued is lost, on tcp and ipc, many times over" *
          doctest::timeout(60)) {
    auto check = [](transport t) {
        context ctx;
        puller in(ctx, {.socket = {.receive_hwm = 100000}});
        const auto endpoint = in.bind(test::bind_endpoint(t));
        for (int round = 0; round < 20; ++round) {
            {
                pusher out(ctx, {.batching = batching{}});
                out.connect(endpoint);
                for (int i = 0; i < 1000; ++i) REQUIRE(out.push(point{round, i}) == status::ok);
                out.close();
            }
            for (int i = 0; i < 1000; ++i) {
                auto p = in.receive<point>(5s);
                REQUIRE_MESSAGE(p.has_value(), "round " << round << " lost messages from " << i);
                REQUIRE(p->sender == round);
                REQUIRE(p->seq == i);
            }
        }
    };
    SUBCASE("tcp") { check(transport::tcp); }
    SUBCASE("ipc") { check(transport::ipc); }
}

TEST_CASE("batch: four threads through one publisher lose nothing and keep each thread's order" *
          doctest::timeout(60)) {
    context ctx;
    publisher pub(ctx, {.socket = {.send_hwm = 1'000'000}, .batching = batching{}});
    subscriber sub(ctx, {.socket = {.receive_hwm = 1'000'000}});
    sub.connect(pub.bind(test::bind_endpoint(transport::tcp)));
    sub.subscribe("p");
    test::await_subscription(pub, sub);
    CHECK(pub.flush() == status::ok);
    const auto before = pub.counters();
    constexpr int threads = 4, each = 25000;
    std::atomic<int> refused{0}; // doctest's CHECK is for the test's thread: count, check after
    {
        std::vector<std::jthread> senders;
        for (int t = 0; t < threads; ++t)
            senders.emplace_back([&, t] {
                for (int i = 0; i < each; ++i)
                    if (pub.publish("p", point{t, i}) != status::ok) ++refused;
            });
    }
    CHECK(refused == 0);
    CHECK(pub.flush() == status::ok);
    std::vector<int> next(threads, 0);
    int received = 0, out_of_order = 0;
    while (received < threads * each) {
        auto p = sub.receive<point>(5s);
        REQUIRE(p.has_value());
        if (p->seq != next[static_cast<std::size_t>(p->sender)]) ++out_of_order;
        next[static_cast<std::size_t>(p->sender)] = p->seq + 1;
        ++received;
    }
    CHECK(out_of_order == 0);
    CHECK_FALSE(sub.receive(20ms).has_value());
    const auto c = pub.counters();
    CHECK(c.sent - before.sent == threads * each);
    CHECK(c.dropped == 0);
}

TEST_CASE("batch: a full queue makes push wait and then time out; what close() cannot send is counted dropped" *
          doctest::timeout(30)) {
    context ctx;
    // No puller, and a send_timeout far longer than the test: the queue only fills.
    pusher out(ctx, {.socket = {.linger = 0ms, .send_timeout = 60s},
                     .batching = batching{.max_queued_bytes = 1024, .direct_gap = 1s}});
    (void)out.bind(test::bind_endpoint(transport::tcp));
    const bytes hundred(100, std::byte{1}); // 102 bytes queued per message: 10 fit in 1024
    std::vector<status> got;
    for (int i = 0; i < 12; ++i) got.push_back(out.push(hundred, 10ms));
    // The first finds no puller for a direct send and is queued like the rest.
    std::vector<status> expected(10, status::ok);
    expected.insert(expected.end(), 2, status::timeout);
    CHECK(got == expected);
    out.close(); // linger 0: the ten queued messages are dropped at once
    const auto c = out.counters();
    CHECK(c.sent == 0);
    CHECK(c.dropped == 10);
    CHECK(c.timed_out == 2);
}

TEST_CASE("batch: options are validated" * doctest::timeout(30)) {
    context ctx;
    CHECK_THROWS_AS(pusher(ctx, {.batching = batching{.max_messages = 0}}), error);
    CHECK_THROWS_AS(pusher(ctx, {.batching = batching{.max_bytes = 32u << 20}}), error);
    CHECK_THROWS_AS(publisher(ctx, {.batching = batching{.max_delay = 2s}}), error);
    CHECK_THROWS_AS(publisher(ctx, {.batching = batching{.cpu = -2}}), error);
    CHECK_THROWS_AS(publisher(ctx, {.socket = {.max_message_size = 4096}, .batching = batching{}}), error);
}

TEST_CASE("batch: behind a stalled puller every push is accounted for exactly" * doctest::timeout(60)) {
    context ctx;
    // inproc: no kernel buffers, so what the stalled path can hold is exactly the two HWMs (20
    // frames of at most 64 messages) plus the queue bound, far below what is pushed.
    puller in(ctx, {.socket = {.receive_hwm = 10}});
    const auto endpoint = in.bind(test::bind_endpoint(transport::inproc));
    pusher out(ctx, {.socket = {.send_hwm = 10, .send_timeout = 100ms},
                     .batching = batching{.max_messages = 64, .max_queued_bytes = 64u << 10}});
    out.connect(endpoint);
    constexpr int n = 100000;
    std::uint64_t accepted = 0, refused = 0;
    for (int i = 0; i < n; ++i) (out.push(point{0, i}, 0ms) == status::ok ? accepted : refused)++;
    out.close(); // what cannot be handed to libzmq within send_timeout is dropped and counted
    const auto c = out.counters();
    CHECK(accepted + refused == n);
    CHECK(c.sent + c.dropped == accepted);
    CHECK(c.timed_out == refused);
    CHECK(refused > 0); // 100,000 pushes cannot fit in ~3,300 places: the bound was hit
    // Everything libzmq took is delivered once the puller reads, in order, nothing twice.
    std::uint64_t received = 0;
    int last = -1, out_of_order = 0;
    while (auto p = in.receive<point>(500ms)) {
        if (p->seq <= last) ++out_of_order;
        last = p->seq;
        ++received;
    }
    CHECK(received == c.sent);
    CHECK(out_of_order == 0);
}

namespace {

// Pushes `per_thread` messages from each of `threads` threads at once; returns how many pushes
// answered status::ok.
int push_from_threads(pusher& out, int threads, int per_thread) {
    std::atomic<int> ok{0};
    {
        std::vector<std::jthread> pushers;
        for (int t = 0; t < threads; ++t)
            pushers.emplace_back([&, t] {
                for (int i = 0; i < per_thread; ++i)
                    if (out.push(point{t, i}) == status::ok) ++ok;
            });
    }
    return ok.load();
}

std::chrono::milliseconds since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
}

} // namespace

// Issue 9: with no puller, every queued batch used to get a send_timeout of its own (12 s here).
TEST_CASE("batch: close() of a pusher with no puller returns within linger and counts what it drops" *
          doctest::timeout(60)) {
    context ctx;
    pusher out(ctx, {.socket = {.linger = 500ms, .send_timeout = 1s}, .batching = batching{.max_messages = 64}});
    (void)out.bind(test::bind_endpoint(transport::tcp));
    const int ok = push_from_threads(out, 2, 350);
    const auto start = std::chrono::steady_clock::now();
    out.close();
    const auto took = since(start);
    MESSAGE("close() with 700 messages queued and no puller took " << took.count() << " ms (linger 500 ms)");
    CHECK(took <= 2500ms); // 5 x linger
    CHECK(ok == 700);      // a batching push waits only for room in the queue
    const auto c = out.counters();
    CHECK(c.sent == 0);
    CHECK(c.dropped == 700);
    CHECK(c.sent + c.dropped == static_cast<std::uint64_t>(ok));
    CHECK(c.timed_out == 0);
}

// Issue 9: flush() waited send_timeout per queued batch (12 s here); now every message has one
// deadline, send_timeout after its push, and flush() says whether any was dropped.
TEST_CASE("batch: flush() of a pusher with no puller returns within send_timeout and reports the drops" *
          doctest::timeout(60)) {
    context ctx;
    pusher out(ctx, {.socket = {.linger = 500ms, .send_timeout = 1s}, .batching = batching{.max_messages = 64}});
    (void)out.bind(test::bind_endpoint(transport::tcp));
    const int ok = push_from_threads(out, 2, 350);
    const auto start = std::chrono::steady_clock::now();
    const auto flushed = out.flush();
    const auto took = since(start);
    MESSAGE("flush() with 700 messages queued and no puller took " << took.count() << " ms (send_timeout 1 s)");
    CHECK(flushed == status::timeout);
    CHECK(took <= 5s); // 5 x send_timeout
    CHECK(ok == 700);
    auto c = out.counters(); // all of it is accounted for when flush() returns
    CHECK(c.sent == 0);
    CHECK(c.dropped == 700);
    CHECK(c.timed_out == 0);
    CHECK(out.flush() == status::ok); // nothing queued now
    out.close();
    c = out.counters();
    CHECK(c.sent + c.dropped == static_cast<std::uint64_t>(ok));
}

// The other half of the contract: a puller that reads gets every message, close() included.
TEST_CASE("batch: close() with a puller reading delivers every message within linger, on every transport" *
          doctest::timeout(60)) {
    test::on_every_transport([](transport t) {
        context ctx;
        puller in(ctx);
        const auto endpoint = in.bind(test::bind_endpoint(t));
        // A small send_hwm keeps part of the stream in courier's queue while the puller reads;
        // linger and send_timeout leave a slow (sanitized, loaded) reader ample time.
        pusher out(ctx, {.socket = {.linger = 2s, .send_hwm = 4, .send_timeout = 10s},
                         .batching = batching{.max_messages = 64}});
        out.connect(endpoint);
        // Connected for sure: the first message arrived.
        REQUIRE(out.push(point{-1, 0}) == status::ok);
        REQUIRE(in.receive<point>(10s).has_value());
        constexpr int threads = 2, each = 2000;
        std::vector<int> next(threads, 0);
        int received = 0, out_of_order = 0;
        std::jthread reader([&] {
            while (received < threads * each) {
                auto p = in.receive<point>(10s);
                if (!p) return;
                if (p->seq != next[static_cast<std::size_t>(p->sender)]) ++out_of_order;
                next[static_cast<std::size_t>(p->sender)] = p->seq + 1;
                ++received;
            }
        });
        const int ok = push_from_threads(out, threads, each);
        const auto sent_before = out.counters().sent;
        const auto start = std::chrono::steady_clock::now();
        out.close();
        const auto took = since(start);
        reader.join();
        MESSAGE("close() took " << took.count() << " ms (linger 2 s); "
                                << (1 + threads * each) - static_cast<int>(sent_before)
                                << " messages were still in courier's queue when it began");
        CHECK(took <= 10s); // 5 x linger
        CHECK(ok == threads * each);
        const auto c = out.counters();
        CHECK(c.sent == 1 + threads * each);
        CHECK(c.dropped == 0);
        CHECK(received == threads * each);
        CHECK(out_of_order == 0);
        CHECK_FALSE(in.receive(20ms).has_value());
    });
}

// The same bound for a publisher: lossless, its one subscriber stopped reading.
TEST_CASE("batch: close() of a lossless publisher whose subscriber stopped reading returns within linger" *
          doctest::timeout(60)) {
    context ctx;
    // inproc and small batches: what the stalled path holds (two HWMs of 10 frames of at most 8
    // messages) is far less than what is published.
    publisher pub(ctx, {.socket = {.linger = 500ms, .send_hwm = 10, .send_timeout = 1s},
                        .batching = batching{.max_messages = 8},
                        .delivery = delivery::lossless});
    subscriber sub(ctx, {.socket = {.receive_hwm = 10}});
    sub.subscribe("p");
    sub.connect(pub.bind(test::bind_endpoint(transport::inproc)));
    test::await_subscription(pub, sub);
    const auto before = pub.counters();
    std::atomic<int> ok{0};
    {
        std::vector<std::jthread> publishers;
        for (int t = 0; t < 2; ++t)
            publishers.emplace_back([&, t] {
                for (int i = 0; i < 350; ++i)
                    if (pub.publish("p", point{t, i}) == status::ok) ++ok;
            });
    }
    const auto start = std::chrono::steady_clock::now();
    pub.close();
    const auto took = since(start);
    const auto c = pub.counters();
    MESSAGE("close() took " << took.count() << " ms (linger 500 ms); sent " << c.sent - before.sent << ", dropped "
                            << c.dropped);
    CHECK(took <= 2500ms); // 5 x linger
    CHECK(ok == 700);      // publish waits only for room in the queue
    CHECK(c.sent - before.sent + c.dropped == 700);
    CHECK(c.dropped >= 700 - 2 * 10 * 8);
    CHECK(c.timed_out == 0);
}

// refused: answered full, nothing queued; dropped: accepted, never reached libzmq. A lossy publish
// refused at a full queue is the former (it used to be counted dropped).
TEST_CASE("batch: a lossy publish that finds the queue full is refused and counted refused, not dropped" *
          doctest::timeout(30)) {
    context ctx;
    // max_delay 1 s: the open batch waits, so the 1 KiB queue fills.
    publisher pub(ctx, {.batching = batching{.max_delay = 1s, .max_queued_bytes = 1024, .direct_gap = 1s}});
    (void)pub.bind(test::bind_endpoint(transport::inproc));
    std::uint64_t ok = 0, full = 0;
    for (int i = 0; i < 100; ++i) (pub.publish("t", std::string(50, 'x')) == status::ok ? ok : full)++;
    CHECK(ok > 0);
    CHECK(full > 0);
    CHECK(pub.flush() == status::ok); // a lossy XPUB takes everything at once
    const auto c = pub.counters();
    CHECK(c.refused == full);
    CHECK(c.sent == ok);
    CHECK(c.dropped == 0);
    CHECK(c.timed_out == 0);
}
