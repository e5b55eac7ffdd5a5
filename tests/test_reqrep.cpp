#include <courier/reqrep.hpp>

#include "support/loopback.hpp"
#include "transport/socket.hpp" // detail::acquired for plain sockets (private: src/ is on the tests' include path)

#include <doctest/doctest.h>

#include <chrono>
#include <atomic>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace courier;
using namespace std::chrono_literals;
using test::transport;

namespace {

struct quote {
    static constexpr std::string_view courier_type_name = "test.Quote";
    std::string sku;
    int qty = 0;
    MSGPACK_DEFINE_MAP(sku, qty)
};

struct price {
    static constexpr std::string_view courier_type_name = "test.Price";
    std::string sku;
    long cents = 0;
    MSGPACK_DEFINE_MAP(sku, cents)
};

// A server with a few methods, serving on its own thread until destroyed. One worker: requests
// are handled in arrival order, so a late reply of "hang" always comes before the next answer.
struct running_server {
    running_server(context& ctx, transport t) : srv(ctx, {.workers = 1}) {
        endpoint = srv.bind(test::bind_endpoint(t));
        srv.serve<quote, price>("price", [](const quote& q) { return price{q.sku, 100L * q.qty}; });
        srv.serve<std::string, std::string>("echo", [](const std::string& s, const message& m) {
            auto suffix = m.headers().find("suffix");
            return s + std::string(suffix.value_or(""));
        });
        srv.serve<int, int>("fail", [](const int&) -> int { throw std::runtime_error("out of stock"); });
        srv.serve<int, int>("hang", [this](const int& v) {
            release.get_future().wait();
            return v;
        });
        thread = std::jthread([this](std::stop_token stop) { srv.run(stop, 20ms); });
    }
    server srv;
    std::string endpoint;
    std::promise<void> release;
    std::jthread thread;
};


} // namespace

TEST_CASE("reqrep: a client calls a named method and gets its typed answer" * doctest::timeout(30)) {
    test::on_every_transport([](transport t) {
        context ctx;
        running_server s(ctx, t);
        client c(ctx);
        c.connect(s.endpoint);
        for (int i = 1; i <= 100; ++i) {
            auto r = c.call<price>("price", quote{"sku-" + std::to_string(i), i});
            REQUIRE(r.ok());
            CHECK(r.value().sku == "sku-" + std::to_string(i));
            CHECK(r.value().cents == 100L * i);
        }
        CHECK(c.counters().sent == 100);
        CHECK(c.counters().received == 100);
        CHECK(c.counters().late == 0);
        CHECK(c.in_flight() == 0);
    });
}

TEST_CASE("reqrep: many calls in flight are matched to their replies by correlation id" * doctest::timeout(30)) {
    context ctx;
    running_server s(ctx, transport::tcp);
    client c(ctx);
    c.connect(s.endpoint);
    std::vector<pending_call> calls;
    for (int i = 0; i < 50; ++i) calls.push_back(c.send("price", quote{"s" + std::to_string(i), i}, 10s));
    CHECK(c.in_flight() == 50);
    // Waiting in reverse order: replies that come first are kept for their own wait.
    for (int i = 49; i >= 0; --i) {
        auto r = c.wait<price>(calls[static_cast<std::size_t>(i)]);
        REQUIRE(r.ok());
        CHECK(r.value().sku == "s" + std::to_string(i));
        CHECK(r.value().cents == 100L * i);
    }
    CHECK(c.in_flight() == 0);
    CHECK(c.counters().received == 50);
    CHECK_THROWS_AS(c.wait<price>(calls[0]), error); // waited twice
}

TEST_CASE("reqrep: a call to a server that does not answer ends timeout, not before its timeout, and the next call works" *
          doctest::timeout(30)) {
    context ctx;
    running_server s(ctx, transport::tcp);
    client c(ctx, {.attempts = 1}); // one attempt: a plain timeout (retries end as unavailable instead)
    c.connect(s.endpoint);
    REQUIRE(c.call<std::string>("echo", std::string("warm-up")).ok());

    const auto timeout = 1000ms;
    const auto start = std::chrono::steady_clock::now();
    auto r = c.call<int>("hang", 1, timeout);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(r.state() == status::timeout);
    CHECK(r.detail().find("hang") != std::string::npos);
    MESSAGE("timed out after " << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms");
    CHECK(elapsed >= timeout); // never early
    // Late only by scheduling: 5x leaves room for any loaded, sanitized run; a call that never ended
    // or waited for the next deadline would still be caught.
    CHECK(elapsed <= timeout * 5);
    CHECK_THROWS_WITH_AS(r.value(), doctest::Contains("no reply"), error);
    CHECK(c.counters().timed_out == 1);

    s.release.set_value(); // the server answers now: too late, and the client drops it
    auto next = c.call<std::string>("echo", std::string("after"), 5s);
    REQUIRE(next.ok());
    CHECK(next.value() == "after");
    CHECK(c.counters().late == 1);
    CHECK(c.in_flight() == 0);
}

TEST_CASE("reqrep: a handler exception reaches the caller with its message and the server keeps serving" *
          doctest::timeout(30)) {
    context ctx;
    running_server s(ctx, transport::ipc);
    client c(ctx);
    c.connect(s.endpoint);
    auto r = c.call<int>("fail", 1);
    CHECK(r.state() == status::remote_error);
    CHECK(r.detail() == "out of stock");
    try {
        (void)r.value();
        FAIL("value() of a failed call returned");
    } catch (const error& e) {
        CHECK(e.kind() == errc::remote_error);
        CHECK(std::string(e.what()).find("out of stock") != std::string::npos);
    }
    auto ok = c.call<std::string>("echo", std::string("still here"), {{"suffix", "!"}});
    REQUIRE(ok.ok());
    CHECK(ok.value() == "still here!");
    s.thread.request_stop();
    s.thread.join();
    CHECK(s.srv.counters().failed == 1);
    CHECK(s.srv.counters().received == 2);
    CHECK(s.srv.counters().sent == 2);
}

TEST_CASE("reqrep: an unknown method and a request of the wrong type answer with errors naming them" *
          doctest::timeout(30)) {
    context ctx;
    running_server s(ctx, transport::inproc);
    client c(ctx);
    c.connect(s.endpoint);
    auto unknown = c.call<int>("nope", 1);
    CHECK(unknown.state() == status::remote_error);
    CHECK(unknown.detail() == "no method 'nope' on this server");
    auto wrong = c.call<price>("price", std::string("not a quote"));
    CHECK(wrong.state() == status::remote_error);
    CHECK(wrong.detail().find("cannot be read as 'test.Quote'") != std::string::npos);
}

TEST_CASE("reqrep: a reply that does not read as the answer type throws type_mismatch" * doctest::timeout(30)) {
    context ctx;
    running_server s(ctx, transport::inproc);
    client c(ctx);
    c.connect(s.endpoint);
    CHECK_THROWS_WITH_AS(c.call<int>("echo", std::string("x")), doctest::Contains("cannot be read as 'int'"), error);
}

TEST_CASE("reqrep: calls in flight are bounded by max_in_flight" * doctest::timeout(30)) {
    context ctx;
    running_server s(ctx, transport::inproc);
    client c(ctx, {.max_in_flight = 2});
    c.connect(s.endpoint);
    auto a = c.send("price", quote{"a", 1}, 5s);
    auto b = c.send("price", quote{"b", 2}, 5s);
    auto full = c.send("price", quote{"c", 3}, 5s);
    CHECK(full.state == status::full);
    CHECK(c.wait<price>(full).state() == status::full);
    CHECK(c.wait<price>(a).value().cents == 100);
    CHECK(c.wait<price>(b).value().cents == 200);
    CHECK(c.send("price", quote{"d", 4}, 5s).state == status::ok);
}

TEST_CASE("reqrep: a plain zmq REQ socket can call a courier server" * doctest::timeout(30)) {
    context ctx;
    running_server s(ctx, transport::tcp);
    zmq::socket_t req(ctx.native(), zmq::socket_type::req);
    req.set(zmq::sockopt::linger, 0);
    req.set(zmq::sockopt::rcvtimeo, 5000);
    req.connect(s.endpoint);
    detail::buffer payload;
    auto request = encode(outgoing{.kind = kind::request,
                                   .id = 77,
                                   .type_name = "str",
                                   .subject = "echo",
                                   .payload = encode_payload(std::string("plain"), payload)});
    req.send(zmq::buffer(request), zmq::send_flags::none);
    zmq::message_t reply;
    REQUIRE(req.recv(reply));
    detail::acquired(reply); // a plain socket: tell TSan what libzmq synchronised
    auto e = envelope::decode({reply.data<std::byte>(), reply.size()});
    CHECK(e.kind() == kind::reply);
    CHECK(e.correlation_id() == 77);
    CHECK(decode_payload<std::string>(e.payload(), e.type_name(), {}) == "plain");
}

TEST_CASE("reqrep: bad requests are counted and skipped, the good request behind them is answered" *
          doctest::timeout(30)) {
    context ctx;
    running_server s(ctx, transport::inproc);
    zmq::socket_t dealer(ctx.native(), zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, 0);
    dealer.set(zmq::sockopt::rcvtimeo, 5000);
    dealer.connect(s.endpoint);
    const std::vector<std::byte> empty, garbage{std::byte{0xc1}, std::byte{0x00}};
    auto not_request = encode(outgoing{.kind = kind::message, .id = 5});
    auto send = [&](std::initializer_list<std::vector<std::byte>> frames) {
        std::size_t i = 0;
        for (const auto& f : frames)
            dealer.send(zmq::buffer(f), ++i < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    };
    send({empty, garbage});           // not msgpack
    send({empty, not_request});       // wrong kind
    send({empty, empty, not_request}); // too many frames
    send({garbage, garbage});         // no delimiter and garbage
    detail::buffer payload;
    auto good = encode(outgoing{.kind = kind::request,
                                .id = 8,
                                .type_name = "str",
                                .subject = "echo",
                                .payload = encode_payload(std::string("fine"), payload)});
    send({empty, good});
    zmq::message_t delimiter, body;
    REQUIRE(dealer.recv(delimiter));
    CHECK(delimiter.size() == 0);
    REQUIRE(dealer.recv(body));
    detail::acquired(body);
    auto e = envelope::decode({body.data<std::byte>(), body.size()});
    CHECK(e.correlation_id() == 8);
    s.thread.request_stop();
    s.thread.join();
    CHECK(s.srv.counters().rejected == 4);
    CHECK(s.srv.counters().received == 1);
}

TEST_CASE("reqrep: a call in flight ends with status::closed when the context shuts down" * doctest::timeout(30)) {
    context ctx;
    std::optional<call_result<int>> result;
    {
        server never(ctx); // bound, never serves: the call can only end by shutdown
        auto endpoint = never.bind(test::bind_endpoint(transport::tcp));
        client c(ctx);
        c.connect(endpoint);
        auto call = c.send("anything", 1, 20s);
        REQUIRE(call.state == status::ok);
        std::jthread shutter([&] { ctx.shutdown(); });
        result.emplace(c.wait<int>(call));
    }
    CHECK(result->state() == status::closed);
}

TEST_CASE("reqrep: options are validated when the object is made" * doctest::timeout(30)) {
    context ctx;
    CHECK_THROWS_AS(client(ctx, {.timeout = 0ms}), error);
    CHECK_THROWS_AS(client(ctx, {.max_in_flight = 0}), error);
    CHECK_THROWS_AS(server(ctx, {.socket = {.send_hwm = 0}}), error);
    server s(ctx);
    s.serve<int, int>("m", [](const int& v) { return v; });
    CHECK_THROWS_AS((s.serve<int, int>("m", [](const int& v) { return v; })), error);
    CHECK_THROWS_AS((s.serve<int, int>("", [](const int& v) { return v; })), error);
}

TEST_CASE("reqrep: a call made after the context shut down ends with status::closed" * doctest::timeout(30)) {
    context ctx;
    client c(ctx);
    c.connect("inproc://nobody");
    ctx.shutdown();
    auto r = c.call<int>("anything", 1, 5s);
    CHECK(r.state() == status::closed);
    CHECK(c.in_flight() == 0);
}

TEST_CASE("reqrep: a call that cannot even be sent times out once and is counted once" * doctest::timeout(30)) {
    context ctx;
    client c(ctx, {.socket = {.send_hwm = 1}, .attempts = 1});
    c.connect("inproc://nobody-listens"); // the pipe exists and holds one request, then it is full
    auto first = c.call<int>("m", 1, 50ms);  // queued, never answered
    auto second = c.call<int>("m", 2, 50ms); // finds the pipe full until its deadline
    CHECK(first.state() == status::timeout);
    CHECK(second.state() == status::timeout);
    CHECK(second.detail().find("could not be sent") != std::string::npos);
    CHECK(c.counters().timed_out == 2);
    CHECK(c.counters().sent == 1);
}

TEST_CASE("reqrep: server::run returns when the context shuts down" * doctest::timeout(30)) {
    context ctx;
    server s(ctx);
    (void)s.bind("inproc://run-until-shutdown");
    bool returned = false;
    std::jthread t([&](std::stop_token stop) {
        s.run(stop, 10s);
        returned = true;
    });
    ctx.shutdown();
    t.join();
    CHECK(returned);
}

namespace {

// Sends request envelopes with chosen ids from a plain DEALER: the same id twice is a retry.
struct raw_caller {
    raw_caller(context& ctx, const std::string& endpoint) : dealer(ctx.native(), zmq::socket_type::dealer) {
        dealer.set(zmq::sockopt::linger, 0);
        dealer.set(zmq::sockopt::rcvtimeo, 5000);
        dealer.set(zmq::sockopt::routing_id, "raw-caller");
        dealer.connect(endpoint);
    }
    std::uint64_t call(std::uint64_t id, std::uint64_t value) {
        detail::buffer payload;
        auto request = encode(outgoing{.kind = kind::request,
                                       .id = id,
                                       .type_name = "uint",
                                       .subject = "count",
                                       .payload = encode_payload(value, payload)});
        dealer.send(zmq::message_t(), zmq::send_flags::sndmore);
        dealer.send(zmq::buffer(request), zmq::send_flags::none);
        zmq::message_t delimiter, body;
        if (!dealer.recv(delimiter) || !dealer.recv(body)) throw std::runtime_error("raw_caller: no reply");
        detail::acquired(body);
        auto e = envelope::decode({body.data<std::byte>(), body.size()});
        if (e.correlation_id() != id) throw std::runtime_error("raw_caller: reply to another request");
        return decode_payload<std::uint64_t>(e.payload(), e.type_name(), {});
    }
    zmq::socket_t dealer;
};

} // namespace

TEST_CASE("reqrep: a retried request id is answered from the reply cache without running the handler again" *
          doctest::timeout(30)) {
    context ctx;
    server s(ctx);
    std::atomic<std::uint64_t> runs{0};
    s.serve<std::uint64_t, std::uint64_t>("count", [&](const std::uint64_t& v) { return v + 100 * ++runs; });
    const auto endpoint = s.bind(test::bind_endpoint(transport::inproc));
    std::jthread serving([&](std::stop_token stop) { s.run(stop, 10ms); });
    raw_caller caller(ctx, endpoint);
    CHECK(caller.call(5, 1) == 101);
    CHECK(caller.call(5, 1) == 101); // the stored reply, not a second run (which would say 201)
    CHECK(caller.call(6, 1) == 201);
    serving.request_stop();
    serving.join(); // counted after the send: read once the server has stopped
    CHECK(runs == 2);
    CHECK(s.counters().replayed == 1);
    CHECK(s.counters().received == 3);
    CHECK(s.counters().sent == 3);
}

TEST_CASE("reqrep: beyond reply_cache_size the oldest reply is forgotten and its retry runs again" *
          doctest::timeout(30)) {
    context ctx;
    server s(ctx, {.reply_cache_size = 1});
    std::atomic<std::uint64_t> runs{0};
    s.serve<std::uint64_t, std::uint64_t>("count", [&](const std::uint64_t& v) { return v + 100 * ++runs; });
    const auto endpoint = s.bind(test::bind_endpoint(transport::inproc));
    std::jthread serving([&](std::stop_token stop) { s.run(stop, 10ms); });
    raw_caller caller(ctx, endpoint);
    CHECK(caller.call(5, 1) == 101);
    CHECK(caller.call(6, 1) == 201); // pushes id 5 out
    CHECK(caller.call(5, 1) == 301); // forgotten: the handler runs a second time
    CHECK(runs == 3);
    CHECK(s.counters().evicted == 2);
    CHECK(s.counters().replayed == 0);
}

// Driven by a hand-made DEALER client so that the test knows when the retry has been read: one
// connection is FIFO and the server reads it in order, so once a later quick call is answered the
// retry before it has been dropped, and the slow handler may finish.
TEST_CASE("reqrep: a retry that comes while the first attempt runs is dropped, the first reply answers the call" *
          doctest::timeout(30)) {
    context ctx;
    server s(ctx, {.workers = 2});
    std::atomic<int> runs{0};
    std::promise<void> release;
    auto released = release.get_future().share();
    s.serve<int, int>("slow", [&](const int& v) {
        ++runs;
        REQUIRE(released.wait_for(10s) == std::future_status::ready);
        return v;
    });
    s.serve<int, int>("quick", [](const int& v) { return v; });
    const auto endpoint = s.bind(test::bind_endpoint(transport::tcp));
    std::jthread serving([&](std::stop_token stop) { s.run(stop, 10ms); });
    zmq::socket_t raw(ctx.native(), zmq::socket_type::dealer);
    raw.set(zmq::sockopt::linger, 0);
    raw.set(zmq::sockopt::rcvtimeo, 5000);
    raw.connect(endpoint);
    auto request = [&](std::uint64_t id, std::string_view method, int v) {
        const auto payload = encode_payload(v, detail::scratch());
        const std::vector<std::byte> body(payload.begin(), payload.end());
        const auto env = encode(outgoing{.kind = kind::request, .id = id, .type_name = "int", .subject = method,
                                         .payload = body});
        raw.send(zmq::message_t(), zmq::send_flags::sndmore);
        raw.send(zmq::buffer(env.data(), env.size()));
    };
    auto reply = [&]() -> std::optional<std::pair<std::uint64_t, int>> {
        zmq::message_t delimiter, frame;
        if (!raw.recv(delimiter) || !raw.recv(frame)) return std::nullopt;
        auto e = envelope::decode({frame.data<std::byte>(), frame.size()});
        return std::pair{e.correlation_id(), decode_payload<int>(e.payload(), e.type_name(), {})};
    };
    request(42, "slow", 7);
    request(42, "slow", 7); // the retry, same request id, while the first runs
    request(43, "quick", 8);
    auto first = reply();
    REQUIRE(first.has_value());
    CHECK(*first == std::pair<std::uint64_t, int>{43, 8}); // the retry was read before this
    CHECK(s.counters().duplicates == 1);
    release.set_value();
    auto second = reply();
    REQUIRE(second.has_value());
    CHECK(*second == std::pair<std::uint64_t, int>{42, 7});
    raw.set(zmq::sockopt::rcvtimeo, 200);
    CHECK_FALSE(reply().has_value()); // answered once
    CHECK(runs == 1);
}

TEST_CASE("reqrep: a call that must not be retried is sent once and ends as a timeout" * doctest::timeout(30)) {
    context ctx;
    server never(ctx); // bound, never serves: requests queue and are never answered
    const auto endpoint = never.bind(test::bind_endpoint(transport::inproc));
    client c(ctx, {.timeout = 50ms, .attempts = 3});
    c.connect(endpoint);
    auto r = c.call<int>("hang", 1, call_options{.retry = false});
    CHECK(r.state() == status::timeout);
    CHECK(c.counters().sent == 1);
    CHECK(c.counters().retries == 0);
    auto retried = c.call<int>("hang", 2);
    CHECK(retried.state() == status::unavailable);
    CHECK(retried.detail().find("3 attempts") != std::string::npos);
    CHECK(retried.detail().find(endpoint) != std::string::npos);
    CHECK_THROWS_WITH_AS(retried.value(), doctest::Contains("unavailable"), error);
    CHECK(c.counters().sent == 4);
    CHECK(c.counters().retries == 2);
    CHECK(c.counters().unavailable == 1);
}

TEST_CASE("reqrep: a slow handler hands the socket to a standby worker, quick calls go on being answered" *
          doctest::timeout(30)) {
    context ctx;
    server s(ctx, {.workers = 2});
    std::promise<void> release;
    auto released = release.get_future().share();
    s.serve<int, int>("slow", [released](const int& v) {
        released.wait();
        return v;
    });
    s.serve<int, int>("quick", [](const int& v) { return v + 1; });
    const auto endpoint = s.bind(test::bind_endpoint(transport::tcp));
    std::jthread serving([&](std::stop_token stop) { s.run(stop, 10ms); });
    struct release_on_exit {
        std::promise<void>& p;
        bool sent = false;
        ~release_on_exit() {
            if (!sent) p.set_value();
        }
    } guard{release};

    client slow_caller(ctx, {.timeout = 10s, .attempts = 1});
    slow_caller.connect(endpoint);
    auto slow = slow_caller.send("slow", 1);
    client quick_caller(ctx, {.timeout = 10s, .attempts = 1});
    quick_caller.connect(endpoint);
    for (int i = 0; i < 50; ++i) {
        auto r = quick_caller.call<int>("quick", i);
        REQUIRE(r.ok());
        CHECK(r.value() == i + 1);
    }
    release.set_value();
    guard.sent = true;
    auto r = slow_caller.wait<int>(slow);
    REQUIRE(r.ok());
    CHECK(r.value() == 1);
    serving.request_stop();
    serving.join();
    CHECK(s.counters().handovers == 1);
    CHECK(s.counters().sent == 51);
}

TEST_CASE("reqrep: drain finishes the request under way, sends its reply, then closes the server" *
          doctest::timeout(30)) {
    context ctx;
    server s(ctx, {.workers = 2});
    std::promise<void> started, release;
    auto released = release.get_future().share();
    s.serve<int, int>("slow", [&, released](const int& v) {
        started.set_value();
        released.wait();
        return v * 2;
    });
    const auto endpoint = s.bind(test::bind_endpoint(transport::tcp));
    std::jthread serving([&](std::stop_token stop) { s.run(stop, 10ms); });
    client c(ctx, {.timeout = 10s, .attempts = 1});
    c.connect(endpoint);
    auto call = c.send("slow", 21);
    REQUIRE(started.get_future().wait_for(10s) == std::future_status::ready);
    auto drained = std::async(std::launch::async, [&] { return s.drain(10s); });
    // drain() waits for the handler; it cannot be done before the handler returns.
    CHECK(drained.wait_for(50ms) == std::future_status::timeout);
    release.set_value();
    CHECK(drained.get());
    auto r = c.wait<int>(call);
    INFO("call: ", to_string(r.state()), " (", r.detail(), "); server sent ", s.counters().sent, ", unroutable ",
         s.counters().unroutable, "; client received ", c.counters().received, ", late ", c.counters().late,
         ", cut-offs ", c.counters().cut_offs);
    REQUIRE(r.ok());
    CHECK(r.value() == 42);
    serving.join(); // run() has returned
    CHECK(s.counters().sent == 1);
    auto after = c.call<int>("slow", 1, call_options{.timeout = 100ms, .retry = false});
    CHECK(after.state() == status::timeout); // nobody serves any more
}
