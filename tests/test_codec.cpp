#include <courier/codec.hpp>

#include "support/bytes.hpp"
#include "support/heap.hpp"

#include <doctest/doctest.h>

#include <malloc.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

using namespace courier;
using namespace std::chrono_literals;

namespace {

using test::from_hex;
using test::packed_by_msgpack;

using sys_ns = std::chrono::time_point<std::chrono::system_clock, std::chrono::nanoseconds>;
using sys_us = std::chrono::time_point<std::chrono::system_clock, std::chrono::microseconds>;
using sys_s = std::chrono::time_point<std::chrono::system_clock, std::chrono::seconds>;
using sys_real = std::chrono::time_point<std::chrono::system_clock, std::chrono::duration<double>>;
using sys_ms32 = std::chrono::time_point<std::chrono::system_clock, std::chrono::duration<std::int32_t, std::milli>>;

struct tick {
    static constexpr std::string_view courier_type_name = "market.Tick";
    std::string symbol;
    double price = 0;
    std::vector<int> sizes;
    MSGPACK_DEFINE_MAP(symbol, price, sizes)
};

struct other {
    static constexpr std::string_view courier_type_name = "market.Other";
    int x = 0;
    MSGPACK_DEFINE_MAP(x)
};

struct undeclared {
    int y = 0;
    MSGPACK_DEFINE_MAP(y)
};

template <class T>
T round_trip(const T& value) {
    detail::buffer buf;
    auto bytes = encode_payload(value, buf);
    std::vector<std::byte> copy(bytes.begin(), bytes.end());
    return decode_payload<T>(copy, type_name<T>::value, {});
}

errc failure(std::span<const std::byte> payload, std::string* what = nullptr) {
    try {
        decode_payload<std::vector<std::vector<int>>>(payload, "", {});
    } catch (const error& e) {
        if (what != nullptr) *what = e.what();
        return e.kind();
    }
    FAIL("decode accepted bad input");
    return {};
}

} // namespace

TEST_CASE("codec: structs, containers, strings and raw bytes round-trip") {
    auto t = round_trip(tick{"EURUSD", 1.25, {1, 2, 3}});
    CHECK(t.symbol == "EURUSD");
    CHECK(t.price == 1.25);
    CHECK(t.sizes == std::vector<int>{1, 2, 3});
    CHECK(round_trip(std::string("hello")) == "hello");
    CHECK(round_trip(std::map<std::string, int>{{"a", 1}, {"b", 2}}) == std::map<std::string, int>{{"a", 1}, {"b", 2}});
    CHECK(round_trip(-42) == -42);
    const bytes raw{std::byte{0}, std::byte{0xff}, std::byte{0xc1}};
    CHECK(round_trip(raw) == raw);
}

TEST_CASE("codec: raw bytes travel verbatim, without msgpack around them") {
    const bytes raw{std::byte{1}, std::byte{2}};
    detail::buffer buf;
    auto out = encode_payload(raw, buf);
    CHECK(out.size() == 2);
    CHECK(out.data() == raw.data());
}

TEST_CASE("codec: type names are declared, built in, or derived for diagnostics") {
    CHECK(type_name<tick>::value == "market.Tick");
    CHECK(type_name<std::string>::value == "str");
    CHECK(type_name<bytes>::value == "bytes");
    CHECK(type_name<int>::value == "int");
    CHECK(type_name<unsigned>::value == "uint");
    CHECK(type_name<double>::value == "float");
    CHECK(type_name<bool>::value == "bool");
    CHECK(type_name<undeclared>::value.find("undeclared") != std::string_view::npos);
    CHECK(has_stable_type_name<tick>);
    CHECK_FALSE(has_stable_type_name<undeclared>);
}

TEST_CASE("codec: a payload that does not convert to the type asked for is a type_mismatch naming both") {
    detail::buffer buf;
    auto bytes = encode_payload(std::string("not a number"), buf);
    try {
        decode_payload<int>(bytes, "str", {});
        FAIL("accepted a string as an int");
    } catch (const error& e) {
        CHECK(e.kind() == errc::type_mismatch);
        CHECK(std::string(e.what()).find("'str'") != std::string::npos);
        CHECK(std::string(e.what()).find("'int'") != std::string::npos);
    }
}

TEST_CASE("codec: declared names that differ are a type_mismatch even if the bytes would convert") {
    detail::buffer buf;
    auto bytes = encode_payload(other{1}, buf);
    CHECK_THROWS_WITH_AS(decode_payload<tick>(bytes, "market.Other", {}),
                         doctest::Contains("the names differ"), error);
    // An empty or undeclared name is not checked: plain msgpack peers need not send one.
    CHECK(decode_payload<other>(bytes, "", {}).x == 1);
}

TEST_CASE("codec: huge declared array sizes are refused before any allocation") {
    // array32 declaring 4 billion elements in 5 bytes: unlimited msgpack-cxx would reserve
    // 4e9 * sizeof(msgpack::object) up front.
    std::string what;
    CHECK(failure(from_hex("ddffffffff"), &what) == errc::truncated);
    CHECK(what.find("more elements than its 5-byte input can hold") != std::string::npos);
    // The classic ~500-byte bomb: nested arrays each declaring 2^32-1 elements.
    std::string bomb;
    for (int i = 0; i < 100; ++i) bomb += "ddffffffff";
    CHECK(failure(from_hex(bomb)) == errc::truncated);
    // A map32 declaring 4 billion pairs.
    CHECK(failure(from_hex("dfffffffff")) == errc::truncated);
}

TEST_CASE("codec: declared lengths beyond the input are refused, not allocated") {
    CHECK(failure(from_hex("dbffffffff61")) == errc::truncated);   // str32 of 4 GiB, 1 byte present
    CHECK(failure(from_hex("c6000000106161")) == errc::truncated); // bin32 of 16 bytes, 2 present
    CHECK(failure(from_hex("930101")) == errc::truncated);
    CHECK(failure({}) == errc::truncated);
}

TEST_CASE("codec: deep nesting hits the depth limit") {
    std::string deep;
    for (int i = 0; i < 200; ++i) deep += "91";
    deep += "00";
    std::string what;
    CHECK(failure(from_hex(deep), &what) == errc::limit_exceeded);
    CHECK(what.find("deeper than 32") != std::string::npos);
}

TEST_CASE("codec: max_elements bounds containers below the input size") {
    detail::buffer buf;
    std::vector<int> v(100, 1);
    auto bytes = encode_payload(v, buf);
    CHECK(decode_payload<std::vector<int>>(bytes, "", {.max_elements = 100}).size() == 100);
    CHECK_THROWS_WITH_AS(decode_payload<std::vector<int>>(bytes, "", {.max_elements = 99}),
                         doctest::Contains("more than max_elements (99)"), error);
}

TEST_CASE("codec: trailing bytes and invalid msgpack are malformed") {
    CHECK(failure(from_hex("9000")) == errc::malformed);
    CHECK(failure(from_hex("c1")) == errc::malformed);
}

// ---- timestamps (msgpack ext -1) as std::chrono::time_point ---------------------------------------

namespace {

template <class T>
errc time_failure(std::string_view h, std::string* what = nullptr) {
    try {
        (void)decode_payload<T>(from_hex(h), "", {});
    } catch (const error& e) {
        if (what != nullptr) *what = e.what();
        return e.kind();
    }
    FAIL("decode accepted " << h);
    return {};
}

template <class T>
T time_of(std::string_view h) {
    return decode_payload<T>(from_hex(h), "", {});
}

} // namespace

TEST_CASE("codec: timestamps a time_point cannot hold are a type_mismatch, not undefined behaviour") {
    // The two payloads. 2^34-1 seconds (64-bit form) and 2^63-1 seconds (96-bit form)
    // overflow a count of nanoseconds: msgpack-cxx 4.1 wraps them (UB) to a time before 1970.
    std::string what;
    CHECK(time_failure<std::chrono::system_clock::time_point>("d7ff00000003ffffffff", &what) == errc::type_mismatch);
    CHECK(what.find("timestamp 17179869183 s + 0 ns is outside a time_point of 1/1000000000 s ticks") !=
          std::string::npos);
    CHECK(time_failure<std::chrono::system_clock::time_point>("c70cff000000007fffffffffffffff", &what) ==
          errc::type_mismatch);
    CHECK(what.find("9223372036854775807 s") != std::string::npos);
    // A coarser tick holds them.
    CHECK(time_of<sys_us>("d7ff00000003ffffffff").time_since_epoch() == std::chrono::seconds((1LL << 34) - 1));
    CHECK(time_of<sys_s>("c70cff000000007fffffffffffffff").time_since_epoch().count() == INT64_MAX);
    CHECK(time_failure<sys_us>("c70cff000000007fffffffffffffff") == errc::type_mismatch);
    // The most and least nanoseconds an int64 holds, and one beyond each:
    // 2^63-1 ns = 9223372036 s + 854775807 ns; -2^63 ns = -9223372037 s + 145224192 ns.
    CHECK(time_of<sys_ns>("c70cff32f2d7ff0000000225c17d04").time_since_epoch().count() == INT64_MAX);
    CHECK(time_failure<sys_ns>("c70cff32f2d8000000000225c17d04") == errc::type_mismatch);
    CHECK(time_of<sys_ns>("c70cff08a7f200fffffffdda3e82fb").time_since_epoch().count() == INT64_MIN);
    CHECK(time_failure<sys_ns>("c70cff08a7f1fffffffffdda3e82fb") == errc::type_mismatch);
    CHECK(time_of<sys_s>("c70cff000000008000000000000000").time_since_epoch().count() == INT64_MIN);
    // A 32-bit millisecond count holds about 24.8 days either side of 1970.
    CHECK(time_of<sys_ms32>("d6ff0020c49b").time_since_epoch().count() == 2'147'483'000);
    CHECK(time_failure<sys_ms32>("d6ff0020c49c") == errc::type_mismatch);
    // A floating-point tick holds every timestamp.
    CHECK(time_of<sys_real>("c70cff000000007fffffffffffffff").time_since_epoch().count() == doctest::Approx(9.223372036854775807e18));
    // Inside a vector and an optional, read by courier as well.
    CHECK(time_failure<std::vector<sys_ns>>("92d6ff00000001d7ff00000003ffffffff") == errc::type_mismatch);
    CHECK(time_failure<std::optional<sys_ns>>("d7ff00000003ffffffff") == errc::type_mismatch);
}

TEST_CASE("codec: timestamps with a billion nanoseconds or more are malformed") {
    // The msgpack spec: nanoseconds must not be larger than 999999999.
    std::string what;
    CHECK(time_failure<sys_ns>("d7ffee6b280000000000", &what) == errc::malformed); // 64-bit, 10^9 ns
    CHECK(what.find("1000000000 nanoseconds") != std::string::npos);
    CHECK(time_failure<sys_s>("d7fffffffffc00000000") == errc::malformed);          // 64-bit, 2^30-1 ns
    CHECK(time_failure<sys_ns>("c70cffffffffff0000000000000000") == errc::malformed); // 96-bit, 2^32-1 ns
    CHECK(time_of<sys_ns>("d7ffee6b27fc00000000").time_since_epoch() == 999'999'999ns);
}

TEST_CASE("codec: a time_point reads each timestamp form, truncating toward zero like duration_cast") {
    CHECK(time_of<sys_ns>("d6ff00000001").time_since_epoch() == 1s);                         // 32-bit
    CHECK(time_of<sys_ns>("d6ffffffffff").time_since_epoch() == std::chrono::seconds(0xffffffffLL));
    CHECK(time_of<sys_ns>("d7ff00001770" "00000001").time_since_epoch() == 1s + 1500ns);     // 64-bit
    CHECK(time_of<sys_us>("d7ff00001770" "00000001").time_since_epoch() == 1s + 1us);
    CHECK(time_of<sys_ns>("c70cff000001f4ffffffffffffffff").time_since_epoch() == -1s + 500ns); // 96-bit
    CHECK(time_of<sys_us>("c70cff000001f4ffffffffffffffff").time_since_epoch() == -999'999us);
    // Any ext form of the right size is read, as msgpack-cxx reads it.
    CHECK(time_of<sys_ns>("c704ff00000002").time_since_epoch() == 2s);
    // Other ext types or sizes, and other msgpack types, are not timestamps.
    CHECK(time_failure<sys_ns>("d60500000001") == errc::type_mismatch);
    CHECK(time_failure<sys_ns>("d8ff00000000000000000000000000000000") == errc::type_mismatch);
    CHECK(time_failure<sys_ns>("01") == errc::type_mismatch);
    // Cut short anywhere: truncated.
    const auto whole = from_hex("c70cff000001f4ffffffffffffffff");
    for (std::size_t n = 0; n < whole.size(); ++n) {
        CAPTURE(n);
        try {
            (void)decode_payload<sys_ns>(std::span(whole).first(n), "", {});
            FAIL("accepted a cut timestamp");
        } catch (const error& e) {
            CHECK(e.kind() == errc::truncated);
        }
    }
}

TEST_CASE("codec: time_points encode to the bytes msgpack-cxx writes and read back exactly") {
    const std::vector<sys_ns> times{sys_ns{}, sys_ns{1s}, sys_ns{1s + 1ns}, sys_ns{-1ns}, sys_ns{std::chrono::seconds(1LL << 33)},
                                    sys_ns{std::chrono::nanoseconds(INT64_MAX)}, sys_ns{std::chrono::nanoseconds(INT64_MIN)}};
    for (const auto t : times) {
        CAPTURE(t.time_since_epoch().count());
        detail::buffer buf;
        const auto out = encode_payload(t, buf);
        const std::vector<std::byte> ours(out.begin(), out.end());
        CHECK(ours == packed_by_msgpack(t));
        CHECK(decode_payload<sys_ns>(ours, "", {}) == t);
    }
    const sys_us micro{std::chrono::microseconds(-1'500'000)};
    CHECK(decode_payload<sys_us>(packed_by_msgpack(micro), "", {}) == micro);
    detail::buffer buf;
    const auto out = encode_payload(times, buf);
    CHECK(std::vector<std::byte>(out.begin(), out.end()) == packed_by_msgpack(times));
    CHECK(decode_payload<std::vector<sys_ns>>(out, "", {}) == times);
}

TEST_CASE("codec: msgpack-cxx's timespec reads the extreme timestamps without overflow") {
    // The other timestamp conversion msgpack-cxx 4.1 has (it has none for durations): it copies
    // seconds and nanoseconds without arithmetic, so the payloads are exact, not UB.
    const auto far = decode_payload<timespec>(from_hex("c70cff000000007fffffffffffffff"), "", {});
    CHECK(far.tv_sec == INT64_MAX);
    CHECK(far.tv_nsec == 0);
    const auto wide = decode_payload<timespec>(from_hex("d7ff00000003ffffffff"), "", {});
    CHECK(wide.tv_sec == (1LL << 34) - 1);
    const auto least = decode_payload<timespec>(from_hex("c70cff000000008000000000000000"), "", {});
    CHECK(least.tv_sec == INT64_MIN);
}

// ---- decoding memory: max_decoded_bytes ------------------------------------------------------------

namespace {

// The worst case the issue measured: a frame near max_message_size (16 MiB) of values that take
// one byte each, nested so that no container holds more than max_elements. An array of 15 arrays
// of 1,046,000 empty arrays: 15,690,076 bytes.
std::vector<std::byte> small_nested_values(int arrays = 15) {
    constexpr std::uint32_t inner = 1'046'000;
    std::vector<std::byte> out;
    out.reserve(1 + 15 * (5 + inner));
    out.push_back(static_cast<std::byte>(0x90 | arrays));
    for (int i = 0; i < arrays; ++i) {
        for (auto b : {0xdd, 0x00, 0x0f, 0xf5, 0xf0}) out.push_back(static_cast<std::byte>(b)); // array32 of 1,046,000
        out.insert(out.end(), inner, std::byte{0x90});
    }
    return out;
}

std::size_t heap_in_use() {
    // malloc'd bytes, mmapped blocks included: msgpack-cxx's zone is malloc'd, not new'd.
    // (Always 0 under ASan, whose allocator mallinfo2 does not see.)
    const auto m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

} // namespace

TEST_CASE("codec: a 15.7 MB payload of small nested values is refused by max_decoded_bytes, not decoded into 0.7 GiB") {
    const auto payload = small_nested_values();
    // It is within every other default limit: the frame fits max_message_size and decodes.
    const auto frame = encode({.type_name = "nested", .payload = payload});
    REQUIRE(frame.size() <= 16u << 20);
    const auto env = envelope::decode(frame);
    MESSAGE("frame of " << frame.size() << " bytes");

    using nested = std::vector<std::vector<std::vector<int>>>;
    const auto zone_before = heap_in_use();
    std::string what;
    std::size_t peak = 0;
    {
        test::heap_meter meter;
        try {
            (void)decode_payload<nested>(env.payload(), env.type_name(), {});
            FAIL("decoded it");
        } catch (const error& e) {
            what = e.what();
            CHECK(e.kind() == errc::limit_exceeded);
        }
        peak = meter.peak();
    }
    // The thread's zone keeps what msgpack-cxx took until the next decode: none, it never ran.
    const auto zone_after = heap_in_use();
    MESSAGE("refused: " << what);
    MESSAGE("operator new peak " << (test::heap_meter::available() ? std::to_string(peak) : "(not counted)")
                                 << " bytes; malloc in use " << zone_before << " -> " << zone_after);
    CHECK(what.find("over max_decoded_bytes (67108864)") != std::string::npos);
    if (test::heap_meter::available()) CHECK(peak < 64u << 10);
    CHECK(zone_after <= zone_before + (1u << 20)); // before: 503 MB of zone chunks

    // One of its fifteen arrays is within the budget (about 50 MB charged), and decodes.
    const auto one = decode_payload<nested>(small_nested_values(1), "", {});
    REQUIRE(one.size() == 1);
    CHECK(one[0].size() == 1'046'000);
}

TEST_CASE("codec: a 16 MB frame of max_elements short strings decodes within the default budget") {
    // The largest legitimate charge: a million 15-byte strings through msgpack-cxx, 1,000,001
    // values at 48 bytes and 15 MB of text, about 63 MB of the 64 MiB.
    const std::vector<std::string> words(1'000'000, std::string(15, 'w'));
    detail::buffer buf;
    const auto payload = encode_payload(words, buf);
    REQUIRE(payload.size() < 16u << 20);
    CHECK(decode_payload<std::vector<std::string>>(payload, "", {}) == words);
}

TEST_CASE("codec: max_decoded_bytes bounds raw bytes and msgpack-cxx decoding, counted exactly") {
    const bytes raw(100, std::byte{7});
    CHECK(decode_payload<bytes>(raw, "bytes", {.max_decoded_bytes = 100}) == raw);
    CHECK_THROWS_WITH_AS(decode_payload<bytes>(raw, "bytes", {.max_decoded_bytes = 99}),
                         doctest::Contains("over max_decoded_bytes (99)"), error);
    // 100 one-byte ints: 101 msgpack objects, charged twice (the tree, and an estimate of the
    // vector it converts into).
    detail::buffer buf;
    const auto ints = encode_payload(std::vector<int>(100, 1), buf);
    const std::size_t cost = 101 * 2 * sizeof(msgpack::object);
    CHECK(decode_payload<std::vector<int>>(ints, "", {.max_decoded_bytes = cost}).size() == 100);
    try {
        (void)decode_payload<std::vector<int>>(ints, "", {.max_decoded_bytes = cost - 1});
        FAIL("decoded over the budget");
    } catch (const error& e) {
        CHECK(e.kind() == errc::limit_exceeded);
        CHECK(std::string(e.what()).find("about " + std::to_string(cost) + " bytes") != std::string::npos);
    }
    // The budget is validated like the other limits.
    CHECK_THROWS_AS(decode_limits{.max_decoded_bytes = 0}.validate(), error);
}
