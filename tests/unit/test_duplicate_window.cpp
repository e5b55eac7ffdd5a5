// The reliable puller's duplicate window (src/reliable/duplicate_window.hpp), without sockets.
#include "reliable/duplicate_window.hpp"

#include <doctest/doctest.h>

#include <cstdint>

using courier::reliable_detail::duplicate_window;

TEST_CASE("duplicate window: each number is new once, and every repeat is counted as a duplicate") {
    duplicate_window w(64);
    for (std::uint64_t s = 1; s <= 10; ++s) CHECK(w.record(s));
    for (std::uint64_t s = 1; s <= 10; ++s) CHECK_FALSE(w.record(s));
    CHECK_FALSE(w.record(5));
    CHECK(w.duplicates() == 11);
}

TEST_CASE("duplicate window: numbers out of order within the window are new once") {
    duplicate_window w(64);
    CHECK(w.record(10));
    CHECK(w.record(3)); // older than the highest, never seen
    CHECK(w.record(7));
    CHECK_FALSE(w.record(3));
    CHECK_FALSE(w.record(10));
    CHECK(w.record(9));
    CHECK(w.duplicates() == 2);
}

TEST_CASE("duplicate window: it slides with the highest number, forgetting what falls behind it") {
    duplicate_window w(64); // exactly 64 numbers remembered
    REQUIRE(w.size() == 64);
    CHECK(w.record(1));
    CHECK(w.record(64));
    CHECK_FALSE(w.record(1)); // 64 - 1 < 64: still in the window
    CHECK(w.record(65));      // slides: 1 falls out
    CHECK(w.record(1));       // older than the window: not known either way, taken as new
    CHECK(w.record(2)); // in the window, never recorded: new
    CHECK_FALSE(w.record(65));
    CHECK(w.duplicates() == 2);
}

TEST_CASE("duplicate window: a jump past the whole window forgets everything before it") {
    duplicate_window w(128);
    for (std::uint64_t s = 1; s <= 100; ++s) REQUIRE(w.record(s));
    CHECK(w.record(1000)); // a jump of 900 >= 128: the ring is cleared
    // Numbers 873 .. 999 are inside the window now and were never received: each is new once.
    for (std::uint64_t s = 1000 - 127; s < 1000; ++s) CHECK(w.record(s));
    for (std::uint64_t s = 1000 - 127; s <= 1000; ++s) CHECK_FALSE(w.record(s));
    CHECK(w.duplicates() == 128);
}

TEST_CASE("duplicate window: a step forward clears the slots it passes, so old bits are not taken as seen") {
    duplicate_window w(64);
    for (std::uint64_t s = 1; s <= 64; ++s) REQUIRE(w.record(s)); // every slot set
    CHECK(w.record(70)); // a step of 6: the slots of 65 .. 69 (once 1 .. 5's) are cleared
    for (std::uint64_t s = 65; s < 70; ++s) CHECK(w.record(s));
    for (std::uint64_t s = 7; s <= 64; ++s) CHECK_FALSE(w.record(s)); // still inside the window
    CHECK(w.duplicates() == 58);
}

TEST_CASE("duplicate window: a window that is not a multiple of 64 is rounded up") {
    CHECK(duplicate_window(1).size() == 64);
    CHECK(duplicate_window(65).size() == 128);
    CHECK(duplicate_window(0).size() == 64); // out of range (validated by the puller): still no division by zero
}
