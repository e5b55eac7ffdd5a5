#include <courier/pubsub.hpp>

#include <courier/pipeline.hpp>

#include "support/eventually.hpp"
#include "support/loopback.hpp"
#include "support/process.hpp"

#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace courier;
using namespace std::chrono_literals;
using test::transport;

namespace {

struct tick {
    static constexpr std::string_view courier_type_name = "test.Tick";
    int seq = 0;
    std::string symbol;
    MSGPACK_DEFINE_MAP(seq, symbol)
};

// A connected publisher/subscriber pair on one transport, subscription live.
struct pair {
    explicit pair(transport t, subscriber_options so = {})
        : pub(ctx), sub(ctx, std::move(so)) {
        sub.connect(pub.bind(test::bind_endpoint(t)));
    }
    context ctx;
    publisher pub;
    subscriber sub;
};


} // namespace

TEST_CASE("pubsub: subscriber receives only matching topics, in order" * doctest::timeout(30)) {
    test::on_every_transport([](transport t) {
        pair p(t);
        p.sub.subscribe("prices.");
        test::await_subscription(p.pub, p.sub);
        const auto before = p.sub.counters().received;
        const auto sent_before = p.pub.counters().sent;
        for (int i = 0; i < 500; ++i) {
            CHECK(p.pub.publish("prices.EURUSD", tick{i, "EURUSD"}) == status::ok);
            CHECK(p.pub.publish("news.today", tick{i, "news"}) == status::ok);
        }
        CHECK(p.pub.publish("prices.end", tick{-1, "end"}) == status::ok);
        std::vector<int> seqs;
        int news = 0;
        for (;;) {
            auto m = p.sub.receive(5s);
            REQUIRE(m.has_value());
            if (m->topic() == "prices.end") break;
            if (m->topic().starts_with("news")) ++news;
            auto value = m->as<tick>();
            CHECK(m->type_name() == "test.Tick");
            seqs.push_back(value.seq);
        }
        CHECK(news == 0);
        REQUIRE(seqs.size() == 500);
        for (int i = 0; i < 500; ++i) CHECK(seqs[static_cast<std::size_t>(i)] == i);
        CHECK(p.sub.counters().received - before == 501);
        CHECK(p.sub.counters().rejected == 0);
        CHECK(p.pub.counters().sent - sent_before == 1001);
    });
}

TEST_CASE("pubsub: unsubscribe stops delivery of that prefix only" * doctest::timeout(30)) {
    pair p(transport::tcp);
    p.sub.subscribe("a.");
    p.sub.subscribe("b.");
    test::await_subscription(p.pub, p.sub);
    p.sub.unsubscribe("b.");
    test::await_subscription(p.pub, p.sub); // the unsubscribe has reached the publisher
    for (int i = 0; i < 10; ++i) {
        CHECK(p.pub.publish("b.x", i) == status::ok);
        CHECK(p.pub.publish("a.x", i) == status::ok);
    }
    CHECK(p.pub.publish("a.end", 0) == status::ok);
    int a = 0, b = 0;
    for (;;) {
        auto m = p.sub.receive(5s);
        REQUIRE(m.has_value());
        if (m->topic() == "a.end") break;
        (m->topic().starts_with("a.") ? a : b)++;
    }
    CHECK(a == 10);
    CHECK(b == 0);
}

TEST_CASE("pubsub: receive returns nothing after its timeout when nothing matches" * doctest::timeout(30)) {
    pair p(transport::inproc);
    p.sub.subscribe("x.");
    test::await_subscription(p.pub, p.sub);
    CHECK(p.pub.publish("y.other", 1) == status::ok);
    CHECK_FALSE(p.sub.receive(50ms).has_value());
    CHECK_FALSE(p.sub.receive<int>(0ms).has_value());
}

TEST_CASE("pubsub: dispatch routes to the handler of the longest matching prefix" * doctest::timeout(30)) {
    pair p(transport::ipc);
    int orders = 0, created = 0, raw = 0;
    std::vector<int> created_values;
    p.sub.on<int>("orders.", [&](std::string_view topic, const int&) {
        CHECK(topic.starts_with("orders."));
        ++orders;
    });
    p.sub.on<int>("orders.created", [&](std::string_view, const int& v) {
        ++created;
        created_values.push_back(v);
    });
    p.sub.on("raw.", [&](const message& m) {
        CHECK(m.type_name() == "bytes");
        CHECK(m.payload().size() == 3);
        ++raw;
    });
    test::await_subscription(p.pub, p.sub);
    CHECK(p.pub.publish("orders.created", 1) == status::ok);
    CHECK(p.pub.publish("orders.cancelled", 2) == status::ok);
    CHECK(p.pub.publish("orders.created.eu", 3) == status::ok);
    CHECK(p.pub.publish("raw.blob", bytes{std::byte{1}, std::byte{2}, std::byte{3}}) == status::ok);
    CHECK(p.pub.publish("orders.created", std::string("not an int")) == status::ok); // rejected by the typed handler
    CHECK(p.pub.publish("orders.created", 4) == status::ok);
    for (int i = 0; i < 5; ++i) REQUIRE(p.sub.dispatch(5s));
    CHECK(orders == 1);
    CHECK(created == 3);
    CHECK(created_values == std::vector<int>{1, 3, 4});
    CHECK(raw == 1);
    CHECK(p.sub.counters().rejected == 1);
    CHECK_FALSE(p.sub.dispatch(20ms));
    CHECK_THROWS_AS(p.sub.on("raw.", [](const message&) {}), error);
}

TEST_CASE("pubsub: receive<T> skips a message of another type and returns the next good one" * doctest::timeout(30)) {
    std::vector<errc> seen;
    pair p(transport::inproc, {.socket = {.on_rejected = [&](const error& e) { seen.push_back(e.kind()); }}});
    p.sub.subscribe("t");
    test::await_subscription(p.pub, p.sub);
    CHECK(p.pub.publish("t", std::string("text")) == status::ok);
    CHECK(p.pub.publish("t", tick{7, "x"}) == status::ok);
    auto got = p.sub.receive<tick>(5s);
    REQUIRE(got.has_value());
    CHECK(got->seq == 7);
    CHECK(seen == std::vector<errc>{errc::type_mismatch});
    CHECK(p.sub.counters().rejected == 1);
}

TEST_CASE("pubsub: a plain zmq SUB socket subscribes by prefix and reads the envelope" * doctest::timeout(30)) {
    context ctx;
    publisher pub(ctx);
    auto endpoint = pub.bind(test::bind_endpoint(transport::tcp));
    zmq::socket_t plain(ctx.native(), zmq::socket_type::sub);
    plain.set(zmq::sockopt::linger, 0);
    plain.connect(endpoint);
    plain.set(zmq::sockopt::subscribe, "orders.");
    test::await_subscription(pub, plain);
    CHECK(pub.publish("orders.new", tick{5, "ABC"}, {{"trace", "t-1"}}) == status::ok);
    CHECK(pub.publish("other", 0) == status::ok);
    zmq::message_t topic, body;
    REQUIRE(plain.recv(topic));
    REQUIRE(topic.more());
    REQUIRE(plain.recv(body));
    CHECK_FALSE(body.more());
    CHECK(topic.to_string() == "orders.new");
    auto e = envelope::decode({body.data<std::byte>(), body.size()});
    CHECK(e.kind() == kind::message);
    CHECK(e.id() == 1); // the first message on its topic
    CHECK(e.correlation_id() == pub.id());
    CHECK(e.type_name() == "test.Tick");
    CHECK(e.headers().find("trace") == std::optional<std::string_view>("t-1"));
    CHECK(decode_payload<tick>(e.payload(), e.type_name(), {}).seq == 5);
}

TEST_CASE("pubsub: bad input from a plain publisher is counted and skipped, good messages behind it arrive" *
          doctest::timeout(30)) {
    context ctx;
    std::vector<errc> seen;
    subscriber sub(ctx, {.socket = {.on_rejected = [&](const error& e) { seen.push_back(e.kind()); }}});
    zmq::socket_t plain(ctx.native(), zmq::socket_type::pub);
    plain.set(zmq::sockopt::linger, 0);
    plain.bind("inproc://bad-publisher");
    sub.connect("inproc://bad-publisher");
    sub.subscribe("");

    auto good = encode(outgoing{.kind = kind::message, .id = 1, .type_name = "int", .payload = std::vector<std::byte>{std::byte{42}}});
    auto send = [&](std::initializer_list<std::vector<std::byte>> frames) {
        std::size_t i = 0;
        for (const auto& f : frames) {
            plain.send(zmq::buffer(f), ++i < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
        }
    };
    const std::vector<std::byte> topic{std::byte{'t'}};
    // Probe until the subscription is live: plain PUB has no courier barrier, so send good
    // messages until one arrives.
    const auto until = std::chrono::steady_clock::now() + 10s;
    for (;;) {
        REQUIRE(std::chrono::steady_clock::now() < until);
        send({topic, good});
        if (sub.receive(10ms)) break;
    }
    const auto before = sub.counters();
    // Drain probes still in flight by sending a marker.
    auto marker = encode(outgoing{.kind = kind::message, .id = 2, .type_name = "int", .payload = std::vector<std::byte>{std::byte{7}}});
    send({topic, marker});
    for (;;) {
        auto m = sub.receive(5s);
        REQUIRE(m.has_value());
        if (m->id() == 2) break;
    }
    REQUIRE(seen.empty());

    const std::vector<std::byte> truncated(good.begin(), good.end() - 1);
    auto major2 = good;
    major2[1] = std::byte{2};
    auto wrong_kind = encode(outgoing{.kind = kind::request, .id = 3});
    send({good});                        // missing topic frame
    send({topic, {std::byte{0xc1}}});     // not msgpack
    send({topic, truncated});             // truncated
    send({topic, major2});                // unknown major version
    send({topic, good, good});            // extra frame
    send({topic, wrong_kind});            // a request on pub-sub
    auto last = encode(outgoing{.kind = kind::message, .id = 99, .type_name = "int", .payload = std::vector<std::byte>{std::byte{9}}});
    send({topic, last});

    auto m = sub.receive(5s);
    REQUIRE(m.has_value());
    CHECK(m->id() == 99);
    CHECK(m->as<int>() == 9);
    CHECK(seen == std::vector<errc>{errc::missing_frame, errc::malformed, errc::truncated, errc::unsupported_version,
                                    errc::malformed, errc::malformed});
    CHECK(sub.counters().rejected - before.rejected == 6);
    CHECK(sub.counters().received - before.received == 2); // the marker and the last good one
}

TEST_CASE("pubsub: a message over max_message_size is refused by the sender" * doctest::timeout(30)) {
    context ctx;
    publisher pub(ctx, {.socket = {.max_message_size = 1024}});
    CHECK_THROWS_WITH_AS((void)pub.publish("t", std::string(2000, 'x')), doctest::Contains("max_message_size"), error);
    try {
        (void)pub.publish("t", std::string(2000, 'x')); // throws
    } catch (const error& e) {
        CHECK(e.kind() == errc::message_too_large);
    }
    CHECK(pub.counters().sent == 0);
}

TEST_CASE("pubsub: raw frames reach a raw subscriber and a plain SUB socket unchanged" * doctest::timeout(30)) {
    pair p(transport::ipc);
    p.sub.subscribe("raw.");
    test::await_subscription(p.pub, p.sub);
    const bytes body{std::byte{1}, std::byte{2}, std::byte{3}};
    CHECK(p.pub.publish_raw("raw.x", body) == status::ok);
    CHECK(p.pub.publish_raw("other", body) == status::ok);
    CHECK(p.pub.publish_raw("raw.y", {}) == status::ok);
    auto a = p.sub.receive_raw(5s);
    REQUIRE(a.has_value());
    CHECK(a->topic() == "raw.x");
    CHECK(bytes(a->bytes().begin(), a->bytes().end()) == body);
    auto b = p.sub.receive_raw(5s);
    REQUIRE(b.has_value());
    CHECK(b->topic() == "raw.y");
    CHECK(b->bytes().empty());
}

TEST_CASE("pubsub: a typed handler can see the whole message" * doctest::timeout(30)) {
    pair p(transport::inproc);
    std::string trace;
    int value = 0;
    p.sub.on<int>("t", [&](const message& m, const int& v) {
        trace = std::string(m.headers().find("trace").value_or(""));
        value = v;
    });
    test::await_subscription(p.pub, p.sub);
    CHECK(p.pub.publish("t", 5, {{"trace", "abc"}}) == status::ok);
    REQUIRE(p.sub.dispatch(5s));
    CHECK(trace == "abc");
    CHECK(value == 5);
}

// ---- sequences, gaps, presence, delivery modes, try_publish ----

namespace {

// What a subscriber heard of one gap, with the topic copied out of the callback.
struct heard_gap {
    std::uint64_t publisher = 0;
    std::string topic;
    std::uint64_t first = 0, count = 0;
};

subscriber_options recording_gaps(std::vector<heard_gap>& gaps, int receive_hwm = 1000) {
    return {.socket = {.receive_hwm = receive_hwm},
            .on_gap = [&gaps](const gap& g) { gaps.push_back({g.publisher, std::string(g.topic), g.first, g.count}); }};
}

} // namespace

TEST_CASE("pubsub: wait_for_subscribers returns once subscribers on inproc, ipc and tcp are subscribed" *
          doctest::timeout(30)) {
    context ctx;
    publisher pub(ctx);
    const std::vector<std::string> endpoints{pub.bind(test::bind_endpoint(transport::inproc)),
                                             pub.bind(test::bind_endpoint(transport::ipc)),
                                             pub.bind(test::bind_endpoint(transport::tcp))};
    CHECK(pub.subscribers() == 0);
    CHECK(pub.wait_for_subscribers(0, 0ms) == status::ok);
    CHECK(pub.wait_for_subscribers(1, 20ms) == status::timeout);
    std::vector<std::unique_ptr<subscriber>> subs;
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
        subs.push_back(std::make_unique<subscriber>(ctx));
        // Either order works: the subscriber announces itself after its first subscription.
        if (i % 2 == 0) {
            subs.back()->subscribe("t.");
            subs.back()->connect(endpoints[i]);
        } else {
            subs.back()->connect(endpoints[i]);
            subs.back()->subscribe("t.");
        }
    }
    REQUIRE(pub.wait_for_subscribers(3, 10s) == status::ok);
    CHECK(pub.subscribers() == 3);
    CHECK(pub.wait_for_subscribers(4, 20ms) == status::timeout);
    // Subscribed means subscribed: everything published from now on arrives, the first message too.
    for (int i = 0; i < 100; ++i) REQUIRE(pub.publish("t.x", i) == status::ok);
    for (auto& sub : subs) {
        for (int i = 0; i < 100; ++i) {
            auto got = sub->receive<int>(5s);
            REQUIRE(got.has_value());
            CHECK(*got == i);
        }
        CHECK(sub->counters().gaps == 0);
    }
    // A subscriber that leaves stops counting.
    subs.back()->close();
    REQUIRE(test::eventually([&] { return pub.subscribers() == 2; }, 10s));
}

TEST_CASE("pubsub: a batching publisher waits for subscribers too" * doctest::timeout(30)) {
    context ctx;
    publisher pub(ctx, {.batching = batching{}});
    subscriber sub(ctx);
    sub.subscribe("t");
    sub.connect(pub.bind(test::bind_endpoint(transport::tcp)));
    REQUIRE(pub.wait_for_subscribers(1, 10s) == status::ok);
    for (int i = 0; i < 50; ++i) REQUIRE(pub.publish("t", i) == status::ok);
    for (int i = 0; i < 50; ++i) CHECK(sub.receive<int>(5s) == i);
}

TEST_CASE("pubsub: a subscriber counts exactly the messages dropped in the middle of a stream" *
          doctest::timeout(30)) {
    context ctx;
    std::vector<heard_gap> gaps;
    publisher pub(ctx, {.socket = {.send_hwm = 10}});
    subscriber sub(ctx, recording_gaps(gaps, 10));
    sub.subscribe("s");
    sub.connect(pub.bind(test::bind_endpoint(transport::inproc)));
    REQUIRE(pub.wait_for_subscribers(1, 10s) == status::ok);

    // The subscriber does not read: beyond the queues' bound, lossy publishing drops.
    for (int i = 0; i < 100; ++i) REQUIRE(pub.publish("s", i) == status::ok);
    std::vector<int> got;
    // Over inproc whatever was not dropped is already queued: read until the queue is empty.
    while (auto v = sub.receive<int>(0ms)) got.push_back(*v);
    const auto kept = got.size();
    REQUIRE(kept > 0);
    REQUIRE(kept < 100);
    CHECK(gaps.empty()); // nothing after the loss has arrived yet: no gap is known

    CHECK(pub.subscribers() == 1); // lets the publisher see that the queue was read
    for (int i = 100; i < 105; ++i) REQUIRE(pub.publish("s", i) == status::ok);
    for (int i = 100; i < 105; ++i) {
        auto v = sub.receive<int>(5s);
        REQUIRE(v.has_value());
        got.push_back(*v);
    }
    for (std::size_t i = 0; i < kept; ++i) CHECK(got[i] == static_cast<int>(i));
    for (std::size_t i = 0; i < 5; ++i) CHECK(got[kept + i] == 100 + static_cast<int>(i));
    const auto missed = 100 - kept;
    CHECK(sub.counters().gaps == missed);
    CHECK(sub.counters().received == kept + 5);
    CHECK(sub.counters().received + sub.counters().gaps == 105); // sent = received + gaps
    REQUIRE(gaps.size() == 1);
    CHECK(gaps[0].publisher == pub.id());
    CHECK(gaps[0].topic == "s");
    CHECK(gaps[0].first == kept + 1); // numbers start at 1
    CHECK(gaps[0].count == missed);
}

TEST_CASE("pubsub: numbers run per topic, so a prefix subscription sees no false gaps, batched or not" *
          doctest::timeout(60)) {
    test::on_every_transport([](transport t) {
        for (const bool batched : {false, true}) {
            CAPTURE(batched);
            context ctx;
            publisher pub(ctx, {.batching = batched ? std::optional<batching>(batching{}) : std::nullopt});
            std::vector<heard_gap> gaps;
            subscriber sub(ctx, recording_gaps(gaps));
            sub.subscribe("a.");
            sub.connect(pub.bind(test::bind_endpoint(t)));
            REQUIRE(pub.wait_for_subscribers(1, 10s) == status::ok);
            // Runs of one topic (batches of many) between the others; some messages carry headers,
            // which a batching publisher sends whole and numbers as they leave.
            for (int round = 0, i = 0; round < 6; ++round) {
                for (int k = 0; k < 50; ++k, ++i) {
                    REQUIRE(pub.publish("a.x", i) == status::ok);
                    REQUIRE(pub.publish("b.z", i) == status::ok); // not subscribed
                }
                for (int k = 0; k < 50; ++k) {
                    const int v = round * 50 + k;
                    REQUIRE((v % 7 == 0 ? pub.publish("a.y", v, {{"h", "v"}}) : pub.publish("a.y", v)) == status::ok);
                }
            }
            REQUIRE(pub.publish("a.end", -1) == status::ok);
            std::map<std::string, std::vector<std::uint64_t>, std::less<>> ids;
            std::map<std::string, std::vector<int>, std::less<>> values;
            for (;;) {
                auto m = sub.receive(5s);
                REQUIRE(m.has_value());
                CHECK(m->correlation_id() == pub.id());
                if (m->topic() == "a.end") break;
                ids[std::string(m->topic())].push_back(m->id());
                values[std::string(m->topic())].push_back(m->as<int>());
            }
            CHECK(ids.size() == 2);
            for (const auto* topic : {"a.x", "a.y"}) {
                CAPTURE(topic);
                REQUIRE(ids[topic].size() == 300);
                for (std::size_t i = 0; i < 300; ++i) {
                    CHECK(ids[topic][i] == i + 1);
                    CHECK(values[topic][i] == static_cast<int>(i));
                }
            }
            CHECK(sub.counters().gaps == 0);
            CHECK(gaps.empty());
        }
    });
}

TEST_CASE("pubsub: a publisher started again has a new id, and its subscribers count no gap" * doctest::timeout(60)) {
    context ctx;
    std::vector<heard_gap> gaps;
    subscriber sub(ctx, recording_gaps(gaps));
    sub.subscribe("t");
    std::string endpoint;
    std::uint64_t first_id = 0;
    {
        publisher first(ctx, {.socket = {.linger = 0ms}});
        endpoint = first.bind(test::bind_endpoint(transport::ipc));
        sub.connect(endpoint);
        REQUIRE(first.wait_for_subscribers(1, 10s) == status::ok);
        first_id = first.id();
        for (int i = 0; i < 10; ++i) REQUIRE(first.publish("t", i) == status::ok);
        for (int i = 0; i < 10; ++i) {
            auto m = sub.receive(5s);
            REQUIRE(m.has_value());
            CHECK(m->id() == static_cast<std::uint64_t>(i + 1));
        }
    }
    publisher again(ctx);
    CHECK(again.id() != first_id);
    again.bind(endpoint);
    // The subscriber reconnects by itself; libzmq resends its subscriptions on its own thread,
    // inside a receive, so it waits in receive meanwhile.
    std::vector<message> got;
    std::jthread receiving([&sub, &got] {
        while (got.size() < 10)
            if (auto m = sub.receive(20s)) got.push_back(std::move(*m));
            else break;
    });
    REQUIRE(again.wait_for_subscribers(1, 20s) == status::ok);
    for (int i = 0; i < 10; ++i) REQUIRE(again.publish("t", 100 + i) == status::ok);
    receiving.join();
    REQUIRE(got.size() == 10);
    for (int i = 0; i < 10; ++i) {
        const auto& m = got[static_cast<std::size_t>(i)];
        CHECK(m.correlation_id() == again.id());
        CHECK(m.id() == static_cast<std::uint64_t>(i + 1));
        CHECK(m.as<int>() == 100 + i);
    }
    CHECK(sub.counters().gaps == 0);
    CHECK(gaps.empty());
}

TEST_CASE("pubsub: lossless delivery waits for a slow subscriber and loses nothing" * doctest::timeout(60)) {
    test::on_every_transport([](transport t) {
        context ctx;
        publisher pub(ctx, {.socket = {.send_hwm = 10}, .delivery = delivery::lossless});
        subscriber sub(ctx, {.socket = {.receive_hwm = 10}});
        sub.subscribe("t");
        sub.connect(pub.bind(test::bind_endpoint(t)));
        REQUIRE(pub.wait_for_subscribers(1, 10s) == status::ok);
        constexpr int n = 5000;
        int ok = 0;
        // Far more than both queues hold; the subscriber reads on this thread, the publisher waits.
        std::jthread publishing([&pub, &ok] {
            for (int i = 0; i < n; ++i)
                if (pub.publish("t", i) == status::ok) ++ok;
        });
        int received = 0;
        for (int i = 0; i < n; ++i) {
            auto v = sub.receive<int>(10s);
            REQUIRE(v.has_value());
            CHECK(*v == i);
            ++received;
        }
        publishing.join();
        CHECK(ok == n);
        CHECK(received == n);
        CHECK(pub.counters().sent == n);
        CHECK(pub.counters().timed_out == 0);
        CHECK(sub.counters().gaps == 0);
        CHECK_FALSE(sub.receive(20ms).has_value());
    });
}

TEST_CASE("pubsub: try_publish answers full at once when a lossless subscriber's queue is full" *
          doctest::timeout(30)) {
    context ctx;
    publisher pub(ctx, {.socket = {.send_hwm = 10, .send_timeout = 50ms}, .delivery = delivery::lossless});
    std::vector<heard_gap> gaps;
    subscriber sub(ctx, recording_gaps(gaps, 10));
    sub.subscribe("t");
    sub.connect(pub.bind(test::bind_endpoint(transport::inproc)));
    REQUIRE(pub.wait_for_subscribers(1, 10s) == status::ok);
    int ok = 0, full = 0;
    for (int i = 0; i < 1000; ++i) {
        const auto s = pub.try_publish("t", ok);
        if (s == status::ok) ++ok;
        else {
            CHECK(s == status::full);
            ++full;
        }
    }
    CHECK(ok > 0);
    CHECK(full > 0);
    CHECK(ok + full == 1000);
    // A publish that finds no room within send_timeout sends nothing.
    CHECK(pub.publish("t", -1) == status::timeout);
    const auto c = pub.counters();
    CHECK(c.refused == static_cast<std::uint64_t>(full));
    CHECK(c.sent == static_cast<std::uint64_t>(ok));
    CHECK(c.timed_out == 1);
    // What was accepted all arrives; what was refused used no number, so no gap either.
    for (int i = 0; i < ok; ++i) CHECK(sub.receive<int>(5s) == i);
    CHECK(pub.subscribers() == 1); // lets the publisher see that the queue was read
    REQUIRE(pub.publish("t", ok) == status::ok);
    CHECK(sub.receive<int>(5s) == ok);
    CHECK(sub.counters().gaps == 0);
    CHECK(gaps.empty());
}

TEST_CASE("pubsub: try_publish answers full when the batching queue is full, and every message is accounted for" *
          doctest::timeout(60)) {
    context ctx;
    // Calls closer than direct_gap are queued; the sending thread waits for the stalled subscriber.
    publisher pub(ctx, {.socket = {.send_hwm = 10, .send_timeout = 100ms},
                        .batching = batching{.max_queued_bytes = 1024, .direct_gap = std::chrono::seconds(1)},
                        .delivery = delivery::lossless});
    subscriber sub(ctx, {.socket = {.receive_hwm = 10}});
    sub.subscribe("t");
    sub.connect(pub.bind(test::bind_endpoint(transport::inproc)));
    REQUIRE(pub.wait_for_subscribers(1, 10s) == status::ok);
    std::uint64_t ok = 0, full = 0;
    for (int i = 0; i < 5000 && full == 0; ++i) {
        const auto s = pub.try_publish("t", std::string(20, 'x'));
        if (s == status::ok) ++ok;
        else {
            CHECK(s == status::full);
            ++full;
        }
    }
    CHECK(full == 1);
    (void)pub.flush(); // everything queued has left, or was dropped send_timeout after its publish
    const auto c = pub.counters();
    CHECK(c.refused == full);
    CHECK(c.timed_out == 0);
    CHECK(c.sent + c.dropped == ok);
}

TEST_CASE("pubsub: streams forgotten beyond the limits start again without a false gap" * doctest::timeout(30)) {
    context ctx;
    // The publisher remembers one topic: each change of topic starts the other again at 1.
    publisher forgetful(ctx, {.max_topics = 1});
    // This subscriber remembers one stream: each change of topic is a new baseline.
    subscriber sub(ctx, {.max_streams = 1});
    subscriber full_memory(ctx);
    const auto endpoint = forgetful.bind(test::bind_endpoint(transport::inproc));
    for (auto* s : {&sub, &full_memory}) {
        s->subscribe("t.");
        s->connect(endpoint);
    }
    REQUIRE(forgetful.wait_for_subscribers(2, 10s) == status::ok);
    for (int i = 0; i < 30; ++i) REQUIRE(forgetful.publish(i % 3 == 2 ? "t.b" : "t.a", i) == status::ok);
    // t.a: 1, 2; then t.b forgets t.a: 1; t.a starts again: 1, 2; ...
    for (auto* s : {&sub, &full_memory}) {
        for (int i = 0; i < 30; ++i) {
            auto m = s->receive(5s);
            REQUIRE(m.has_value());
            CHECK(m->as<int>() == i);
            CHECK(m->id() == (i % 3 == 1 ? 2u : 1u));
        }
        CHECK(s->counters().gaps == 0);
    }
}

TEST_CASE("pubsub: publisher and subscriber options out of range are refused, naming the field") {
    context ctx;
    CHECK_THROWS_WITH_AS(publisher(ctx, {.max_topics = 0}), doctest::Contains("max_topics"), error);
    CHECK_THROWS_WITH_AS(subscriber(ctx, {.max_streams = 0}), doctest::Contains("max_streams"), error);
    try {
        subscriber s(ctx, {.max_streams = std::size_t{1} << 30});
        FAIL("accepted max_streams of 2^30");
    } catch (const error& e) {
        CHECK(e.kind() == errc::invalid_option);
    }
}

// ---- fault test 6: a subscriber frozen while 100,000 messages are published at HWM 1,000 ----

namespace {

// What the frozen subscriber saw, sent back to the test over a pusher.
struct stall_report {
    std::uint64_t received = 0;        // data messages handed to it
    std::uint64_t gaps = 0;            // counters().gaps when the first end marker came
    std::uint64_t rejected = 0;
    std::uint64_t out_of_order = 0;    // data whose value did not match its sequence number
    std::uint64_t first_sequence = 0;  // the first message's number
    std::uint64_t marker = 0;          // which end marker came first (0, 1, ...)
    std::uint64_t marker_sequence = 0; // and its number
    std::uint64_t publisher = 0;
    MSGPACK_DEFINE_MAP(received, gaps, rejected, out_of_order, first_sequence, marker, marker_sequence, publisher)
};

// Whether /proc says the process is stopped (state T).
bool is_stopped(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');
    return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'T';
}

} // namespace

// args: the publisher's endpoint, the endpoint to push the report to.
COURIER_TEST_CHILD(stalled_subscriber) {
    if (args.size() != 2) return 2;
    try {
        context ctx;
        subscriber sub(ctx, {.socket = {.receive_hwm = 1000}});
        sub.subscribe("data");
        sub.connect(args[0]);
        pusher out(ctx);
        out.connect(args[1]);
        stall_report r;
        // Data is published as values 0, 1, ... numbered 1, 2, ...; end markers as -1, -2, ...
        for (;;) {
            auto m = sub.receive(std::chrono::seconds(60));
            if (!m) return 3;
            if (r.first_sequence == 0) r.first_sequence = m->id();
            const auto v = m->as<std::int64_t>();
            if (v < 0) {
                r.marker = static_cast<std::uint64_t>(-v - 1);
                r.marker_sequence = m->id();
                r.publisher = m->correlation_id();
                break;
            }
            if (static_cast<std::uint64_t>(v) + 1 != m->id()) ++r.out_of_order;
            ++r.received;
        }
        r.gaps = sub.counters().gaps;
        r.rejected = sub.counters().rejected;
        if (out.push(r, std::chrono::seconds(30)) != status::ok) return 4;
        out.close(); // waits (linger) for the report to leave
        return 0;
    } catch (const std::exception&) {
        return 5;
    }
}

// Issue 5, fault test 6. The subscriber is a real process frozen with SIGSTOP; lossy publishing
// must neither block nor fail, and the subscriber must know exactly what it missed. It learns of a
// loss when the next message of the stream arrives, so after thawing it the test publishes end
// markers on the same topic until one gets through; markers dropped before it count as sent.
TEST_CASE("pubsub: behind a subscriber frozen while 100,000 messages are published, its gaps are sent minus received" *
          doctest::timeout(120)) {
    context ctx;
    publisher pub(ctx, {.socket = {.send_hwm = 1000}}); // lossy
    const auto endpoint = pub.bind(test::bind_endpoint(transport::ipc));
    puller reports(ctx);
    const auto report_endpoint = reports.bind(test::bind_endpoint(transport::ipc));
    auto child = test::process::spawn("stalled_subscriber", {endpoint, report_endpoint});
    REQUIRE(pub.wait_for_subscribers(1, 30s) == status::ok);

    child.kill(SIGSTOP);
    REQUIRE(test::eventually([&] { return is_stopped(child.pid()); }, 10s));
    constexpr std::uint64_t n = 100'000;
    std::uint64_t ok = 0;
    // The only subscriber is frozen: if publish could block, this loop would never end.
    for (std::uint64_t i = 0; i < n; ++i)
        if (pub.publish("data", static_cast<std::int64_t>(i)) == status::ok) ++ok;
    CHECK(ok == n);
    CHECK(is_stopped(child.pid())); // still frozen: the loop did not need it

    child.kill(SIGCONT);
    std::optional<stall_report> r;
    std::uint64_t markers = 0;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!r) {
        REQUIRE(std::chrono::steady_clock::now() < deadline);
        REQUIRE(pub.publish("data", -static_cast<std::int64_t>(markers) - 1) == status::ok);
        ++markers;
        r = reports.receive<stall_report>(10ms);
    }
    REQUIRE(child.wait(30s) == 0);

    const auto sent = n + r->marker; // everything on the stream before the marker that came
    MESSAGE("published " << n << " + " << markers << " markers; the subscriber received " << r->received
                          << " and counted " << r->gaps << " missed before marker " << r->marker);
    CHECK(r->publisher == pub.id());
    CHECK(r->first_sequence == 1);
    CHECK(r->marker < markers);
    CHECK(r->marker_sequence == sent + 1);
    CHECK(r->received > 0);
    CHECK(r->received < n); // the stall really dropped messages
    CHECK(r->gaps == sent - r->received);
    CHECK(r->received + r->gaps == sent);
    CHECK(r->out_of_order == 0);
    CHECK(r->rejected == 0);
    const auto c = pub.counters();
    CHECK(c.sent == n + markers);
    CHECK(c.refused == 0);
    CHECK(c.timed_out == 0);
}

// Issue 10: publish_raw answers with a status, as push_raw does: ok once libzmq has the frames;
// timeout, nothing sent and counted timed_out, when a lossless publisher finds no room within
// send_timeout. A batching publisher sends raw frames after its queue, with the same answers.
TEST_CASE("pubsub: publish_raw answers timeout when a lossless subscriber's queue stays full, ok once it is read" *
          doctest::timeout(30)) {
    for (const bool batched : {false, true}) {
        CAPTURE(batched);
        context ctx;
        publisher_options options{.socket = {.send_hwm = 10, .send_timeout = 50ms}, .delivery = delivery::lossless};
        if (batched) options.batching = batching{};
        publisher pub(ctx, options);
        subscriber sub(ctx, {.socket = {.receive_hwm = 10}});
        sub.subscribe("raw");
        sub.connect(pub.bind(test::bind_endpoint(transport::inproc)));
        REQUIRE(pub.wait_for_subscribers(1, 10s) == status::ok);
        const std::array body{std::byte{1}, std::byte{2}, std::byte{3}};
        int ok = 0;
        auto last = status::ok;
        while (ok < 100'000 && (last = pub.publish_raw("raw", body)) == status::ok) ++ok;
        CHECK(last == status::timeout);
        CHECK(ok > 0);
        MESSAGE("raw frames queued before the subscriber's queue was full: " << ok);
        auto c = pub.counters();
        CHECK(c.sent == static_cast<std::uint64_t>(ok));
        CHECK(c.timed_out == 1);
        for (int i = 0; i < ok; ++i) {
            auto m = sub.receive_raw(5s);
            REQUIRE(m.has_value());
            CHECK(m->topic() == "raw");
            CHECK(std::vector<std::byte>(m->bytes().begin(), m->bytes().end()) ==
                  std::vector<std::byte>(body.begin(), body.end()));
        }
        CHECK(pub.subscribers() == 1); // lets the publisher see that the queue was read
        REQUIRE(pub.publish_raw("raw", body) == status::ok);
        CHECK(sub.receive_raw(5s).has_value());
        CHECK_FALSE(sub.receive_raw(0ms).has_value()); // the timed-out one was never sent
        c = pub.counters();
        CHECK(c.sent == static_cast<std::uint64_t>(ok) + 1);
        CHECK(c.timed_out == 1);
        CHECK(sub.counters().received == static_cast<std::uint64_t>(ok) + 1);
        CHECK(sub.counters().rejected == 0);
    }
}

// Issue 10: receive<T> goes through the subscriber's one non-template step, which reads a batch's
// records in place and notes every record's number, a stray's too: a record that does not read as
// T is rejected (received back down, rejected up), not taken for a missed message.
TEST_CASE("pubsub: receive<T> notes the number of a stray record in a batch, so only real gaps are counted" *
          doctest::timeout(30)) {
    context ctx;
    std::vector<heard_gap> gaps;
    subscriber sub(ctx, recording_gaps(gaps, 10));
    zmq::socket_t plain(ctx.native(), zmq::socket_type::pub);
    plain.set(zmq::sockopt::linger, 0);
    plain.bind("inproc://typed-batch-publisher");
    sub.connect("inproc://typed-batch-publisher");
    sub.subscribe("t");
    constexpr std::uint64_t publisher_id = 77;
    const std::array<std::byte, 1> zero{std::byte{0}}, one{std::byte{1}}, three{std::byte{3}}, four{std::byte{4}},
        eight{std::byte{8}};
    const std::array<std::byte, 2> stray{std::byte{0xa1}, std::byte{'x'}}; // the string "x" where an int goes
    // Numbers 1 .. 5 as a publisher frames them: bin8 records, its id in the batch's correlation id
    // (encode_batch leaves it 0: not numbered).
    std::vector<std::byte> records;
    for (std::span<const std::byte> r : {std::span<const std::byte>(zero), std::span<const std::byte>(one),
                                         std::span<const std::byte>(stray), std::span<const std::byte>(three),
                                         std::span<const std::byte>(four)}) {
        records.insert(records.end(), {std::byte{0xc4}, static_cast<std::byte>(r.size())});
        records.insert(records.end(), r.begin(), r.end());
    }
    const auto batch = encode(
        outgoing{.kind = kind::batch, .id = 1, .correlation_id = publisher_id, .type_name = "int", .payload = records});
    // Then number 9 alone: 6, 7 and 8 were missed.
    const auto single = encode(outgoing{.id = 9, .correlation_id = publisher_id, .type_name = "int", .payload = eight});
    const std::string topic = "t";
    for (const auto* frame : {&batch, &single}) {
        plain.send(zmq::buffer(topic), zmq::send_flags::sndmore);
        plain.send(zmq::buffer(*frame), zmq::send_flags::none);
    }
    for (const int expected : {0, 1, 3, 4, 8}) CHECK(sub.receive<int>(5s) == std::optional<int>(expected));
    const auto c = sub.counters();
    CHECK(c.received == 5);
    CHECK(c.rejected == 1);
    CHECK(c.gaps == 3);
    REQUIRE(gaps.size() == 1);
    CHECK(gaps[0].publisher == publisher_id);
    CHECK(gaps[0].topic == "t");
    CHECK(gaps[0].first == 6);
    CHECK(gaps[0].count == 3);
}
