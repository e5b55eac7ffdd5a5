// The server's reply cache (src/reqrep/reply_cache.hpp), without sockets: the clock is passed in.
#include "reqrep/reply_cache.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

using courier::detail::counter;
using courier::detail::reply_cache;
using courier::detail::reply_cache_limits;
using namespace std::chrono_literals;
using state = reply_cache::state;

namespace {

const auto t0 = std::chrono::steady_clock::time_point{} + 1h;

zmq::message_t reply_of(const std::string& text) { return zmq::message_t(text.data(), text.size()); }

std::string text_of(const zmq::message_t& m) { return {m.data<char>(), m.size()}; }

/// Starts `key` at `at` and answers it with `text`.
void answer(reply_cache& cache, const std::string& key, const std::string& text,
            std::chrono::steady_clock::time_point at) {
    zmq::message_t none;
    REQUIRE(cache.begin(key, none, at) == state::absent);
    auto r = reply_of(text);
    cache.complete(key, r);
}

} // namespace

TEST_CASE("reply cache: a new key is absent, then running until answered, then answered with its reply") {
    counter evicted;
    reply_cache cache({.entries = 10, .window = 60s, .bytes = 1024}, &evicted);
    REQUIRE(cache.enabled());
    zmq::message_t out;
    CHECK(cache.begin("a", out, t0) == state::absent);
    CHECK(cache.begin("a", out, t0) == state::running); // a retry while the handler runs
    auto r = reply_of("answer a");
    cache.complete("a", r);
    CHECK(cache.begin("a", out, t0 + 1s) == state::answered);
    CHECK(text_of(out) == "answer a");
    CHECK(cache.begin("b", out, t0 + 1s) == state::absent); // a miss
    CHECK(cache.size() == 2);
    CHECK(cache.bytes() == 8);
    CHECK(evicted.load() == 0);
}

TEST_CASE("reply cache: size 0 is off") {
    reply_cache cache({.entries = 0, .window = 60s, .bytes = 1024});
    CHECK_FALSE(cache.enabled());
}

TEST_CASE("reply cache: over the entry bound the oldest is forgotten first, counted as evicted") {
    counter evicted;
    reply_cache cache({.entries = 3, .window = 60s, .bytes = 1 << 20}, &evicted);
    for (int i = 0; i < 5; ++i) answer(cache, "k" + std::to_string(i), "r" + std::to_string(i), t0 + i * 1ms);
    CHECK(cache.size() == 3);
    CHECK(evicted.load() == 2);
    zmq::message_t out;
    CHECK(cache.begin("k4", out, t0 + 10ms) == state::answered);
    CHECK(text_of(out) == "r4");
    CHECK(cache.begin("k2", out, t0 + 10ms) == state::answered);
    CHECK(cache.begin("k0", out, t0 + 10ms) == state::absent); // evicted: the handler would run again
    // k0's new entry pushes out the oldest placed, k2 (reading it did not make it younger).
    CHECK(evicted.load() == 3);
    CHECK(cache.size() == 3);
}

TEST_CASE("reply cache: over the byte bound the oldest replies are forgotten, and a reply over it is not kept") {
    counter evicted;
    reply_cache cache({.entries = 100, .window = 60s, .bytes = 10}, &evicted);
    answer(cache, "a", "1234", t0);
    answer(cache, "b", "5678", t0 + 1ms);
    CHECK(cache.bytes() == 8);
    answer(cache, "c", "9012", t0 + 2ms); // 12 bytes > 10: "a" goes
    CHECK(cache.bytes() == 8);
    CHECK(cache.size() == 2);
    CHECK(evicted.load() == 1);
    zmq::message_t out;
    CHECK(cache.begin("a", out, t0 + 3ms) == state::absent);
    // A reply larger than the whole bound is not kept: the key is forgotten, not evicted.
    REQUIRE(cache.begin("big", out, t0 + 4ms) == state::absent);
    auto big = reply_of("more than ten bytes");
    cache.complete("big", big);
    CHECK(cache.begin("big", out, t0 + 5ms) == state::absent);
}

TEST_CASE("reply cache: a key is forgotten once its window has passed, which is not an eviction") {
    counter evicted;
    reply_cache cache({.entries = 100, .window = 10s, .bytes = 1024}, &evicted);
    answer(cache, "old", "x", t0);
    answer(cache, "newer", "y", t0 + 5s);
    zmq::message_t out;
    CHECK(cache.begin("old", out, t0 + 10s - 1ms) == state::answered); // just inside
    CHECK(cache.begin("newer", out, t0 + 10s) == state::answered);
    CHECK(cache.begin("old", out, t0 + 10s) == state::absent); // its 10 s are over: a new request
    CHECK(cache.begin("newer", out, t0 + 15s) == state::absent);
    CHECK(evicted.load() == 0);
}

TEST_CASE("reply cache: an answer for a key already forgotten is dropped") {
    reply_cache cache({.entries = 1, .window = 60s, .bytes = 1024});
    zmq::message_t out;
    REQUIRE(cache.begin("a", out, t0) == state::absent);
    REQUIRE(cache.begin("b", out, t0) == state::absent); // "a" (running) is evicted
    auto r = reply_of("late");
    cache.complete("a", r);
    CHECK(cache.size() == 1);
    CHECK(cache.bytes() == 0);
    CHECK(cache.begin("a", out, t0) == state::absent);
}
