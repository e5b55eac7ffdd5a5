#include <courier/pubsub.hpp>

#include "support/loopback.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
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
            p.pub.publish("prices.EURUSD", tick{i, "EURUSD"});
            p.pub.publish("news.today", tick{i, "news"});
        }
        p.pub.publish("prices.end", tick{-1, "end"});
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
        p.pub.publish("b.x", i);
        p.pub.publish("a.x", i);
    }
    p.pub.publish("a.end", 0);
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
    p.pub.publish("y.other", 1);
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
    p.pub.publish("orders.created", 1);
    p.pub.publish("orders.cancelled", 2);
    p.pub.publish("orders.created.eu", 3);
    p.pub.publish("raw.blob", bytes{std::byte{1}, std::byte{2}, std::byte{3}});
    p.pub.publish("orders.created", std::string("not an int")); // rejected by the typed handler
    p.pub.publish("orders.created", 4);
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
    p.pub.publish("t", std::string("text"));
    p.pub.publish("t", tick{7, "x"});
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
    pub.publish("orders.new", tick{5, "ABC"}, {{"trace", "t-1"}});
    pub.publish("other", 0);
    zmq::message_t topic, body;
    REQUIRE(plain.recv(topic));
    REQUIRE(topic.more());
    REQUIRE(plain.recv(body));
    CHECK_FALSE(body.more());
    CHECK(topic.to_string() == "orders.new");
    auto e = envelope::decode({body.data<std::byte>(), body.size()});
    CHECK(e.kind() == kind::message);
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
    CHECK_THROWS_WITH_AS(pub.publish("t", std::string(2000, 'x')), doctest::Contains("max_message_size"), error);
    try {
        pub.publish("t", std::string(2000, 'x'));
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
    p.pub.publish_raw("raw.x", body);
    p.pub.publish_raw("other", body);
    p.pub.publish_raw("raw.y", {});
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
    p.pub.publish("t", 5, {{"trace", "abc"}});
    REQUIRE(p.sub.dispatch(5s));
    CHECK(trace == "abc");
    CHECK(value == 5);
}
