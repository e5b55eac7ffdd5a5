// The one msgpack reader (courier/detail/reader.hpp), without sockets: every tag form of each
// type, truncation at every byte, wrong types named with the part, depth, element and budget limits.

#include <courier/detail/reader.hpp>

#include <courier/error.hpp>

#include "support/bytes.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using namespace courier;
using courier::detail::reader;
using courier::detail::read_limits;
using courier::detail::wire_part;
using test::from_hex;

namespace {

/// The error reading `hex` with `read` throws: its kind, and its text in `what`.
template <class Read>
errc failure(std::string_view hex, Read read, std::string* what = nullptr, wire_part part = wire_part::payload,
             read_limits limits = {}) {
    const auto bytes = from_hex(hex);
    reader r(bytes, part, limits);
    try {
        read(r);
    } catch (const error& e) {
        if (what != nullptr) *what = e.what();
        return e.kind();
    }
    FAIL("the reader accepted " << hex);
    return {};
}

template <class Read>
auto read_all(std::string_view hex, Read read) {
    const auto bytes = from_hex(hex);
    reader r(bytes);
    auto v = read(r);
    CHECK(r.remaining() == 0);
    return v;
}

} // namespace

TEST_CASE("reader reads every form of an unsigned integer, and uint refuses a negative one") {
    const auto uint = [](reader& r) { return r.uint("n"); };
    CHECK(read_all("00", uint) == 0);
    CHECK(read_all("7f", uint) == 127);
    CHECK(read_all("cc80", uint) == 128);
    CHECK(read_all("cdbeef", uint) == 0xbeef);
    CHECK(read_all("cedeadbeef", uint) == 0xdeadbeefu);
    CHECK(read_all("cf0102030405060708", uint) == 0x0102030405060708u);
    CHECK(read_all("cfffffffffffffffff", [](reader& r) { return r.integer<std::uint64_t>("n"); }) == UINT64_MAX);
    std::string what;
    CHECK(failure("ff", uint, &what, wire_part::envelope) == errc::malformed);
    CHECK(what.starts_with("envelope field 'n': expected an unsigned integer, found negative fixint (0xff) at byte 0: "));
}

TEST_CASE("reader reads every form of a signed integer and names one that does not fit") {
    const auto i64 = [](reader& r) { return r.integer<std::int64_t>("n"); };
    CHECK(read_all("e0", i64) == -32);
    CHECK(read_all("ff", i64) == -1);
    CHECK(read_all("d080", i64) == -128);
    CHECK(read_all("d18000", i64) == -32768);
    CHECK(read_all("d280000000", i64) == INT32_MIN);
    CHECK(read_all("d38000000000000000", i64) == INT64_MIN);
    CHECK(read_all("cf7fffffffffffffff", i64) == INT64_MAX);
    CHECK(read_all("d0ff", [](reader& r) { return r.integer<std::int8_t>("n"); }) == -1);
    std::string what;
    CHECK(failure("cf8000000000000000", i64, &what) == errc::type_mismatch);
    CHECK(what.starts_with("payload field 'n': 9223372036854775808 does not fit a 64-bit signed integer: "));
    CHECK(failure("cf8000000000000000", i64, &what, wire_part::envelope) == errc::malformed);
    CHECK(what.starts_with("envelope field 'n': 9223372036854775808 does not fit a 64-bit signed integer: "));
    CHECK(failure("ff", [](reader& r) { return r.integer<std::uint8_t>("n"); }, &what) == errc::type_mismatch);
    CHECK(what.starts_with("payload field 'n': -1 does not fit a 8-bit unsigned integer: "));
    CHECK(failure("cd0100", [](reader& r) { return r.integer<std::int8_t>("n"); }, &what) == errc::type_mismatch);
    CHECK(what.starts_with("payload field 'n': 256 does not fit a 8-bit signed integer: "));
}

TEST_CASE("reader reads every form of str and bin, and text takes either") {
    const auto str = [](reader& r) { return std::string(r.str("s")); };
    CHECK(read_all("a0", str).empty());
    CHECK(read_all("a3616263", str) == "abc");
    CHECK(read_all("d903616263", str) == "abc");
    CHECK(read_all("da0003616263", str) == "abc");
    CHECK(read_all("db00000003616263", str) == "abc");
    const auto bin = [](reader& r) { return r.bin("b").size(); };
    CHECK(read_all("c400", bin) == 0);
    CHECK(read_all("c403010203", bin) == 3);
    CHECK(read_all("c50003010203", bin) == 3);
    CHECK(read_all("c600000003010203", bin) == 3);
    const auto text = [](reader& r) { return r.text("t").size(); };
    CHECK(read_all("a3616263", text) == 3);
    CHECK(read_all("d903616263", text) == 3);
    CHECK(read_all("c403010203", text) == 3);
    CHECK(read_all("c600000003010203", text) == 3);
    std::string what;
    CHECK(failure("c403010203", str, &what) == errc::type_mismatch);
    CHECK(what.starts_with("payload field 's': expected a string, found bin (0xc4) at byte 0: "));
    CHECK(failure("a3616263", bin, &what, wire_part::envelope) == errc::malformed);
    CHECK(what.starts_with("envelope field 'b': expected bin (raw bytes), found fixstr (0xa3) at byte 0: "));
}

TEST_CASE("reader reads every form of map and array headers, bool, nil, floats and timestamps") {
    CHECK(read_all("85", [](reader& r) { return r.map_header("m"); }) == 5);
    CHECK(read_all("de0100", [](reader& r) { return r.map_header("m"); }) == 256);
    CHECK(read_all("df00010000", [](reader& r) { return r.map_header("m"); }) == 65536);
    CHECK(read_all("95", [](reader& r) { return r.array_header("a"); }) == 5);
    CHECK(read_all("dc0100", [](reader& r) { return r.array_header("a"); }) == 256);
    CHECK(read_all("dd00010000", [](reader& r) { return r.array_header("a"); }) == 65536);
    CHECK(read_all("c3", [](reader& r) { return r.boolean("b"); }));
    CHECK_FALSE(read_all("c2", [](reader& r) { return r.boolean("b"); }));
    CHECK(read_all("c0", [](reader& r) { return r.nil(); }));
    CHECK(read_all("ca3fc00000", [](reader& r) { return r.floating<double>("f"); }) == 1.5);
    CHECK(read_all("cb3ff8000000000000", [](reader& r) { return r.floating<double>("f"); }) == 1.5);
    CHECK(read_all("fe", [](reader& r) { return r.floating<float>("f"); }) == -2.0f);
    // Timestamps 32, 64 and 96: 1 s; 1 s + 2 ns; -1 s + 3 ns.
    auto t = read_all("d6ff00000001", [](reader& r) { return r.time("t"); });
    CHECK((t.seconds == 1 && t.nanoseconds == 0));
    t = read_all("d7ff0000000800000001", [](reader& r) { return r.time("t"); });
    CHECK((t.seconds == 1 && t.nanoseconds == 2));
    t = read_all("c70cff00000003ffffffffffffffff", [](reader& r) { return r.time("t"); });
    CHECK((t.seconds == -1 && t.nanoseconds == 3));
    std::string what;
    CHECK(failure("c70cff3b9aca00ffffffffffffffff", [](reader& r) { return r.time("t"); }, &what) ==
          errc::malformed);
    CHECK(what.find("1000000000 nanoseconds") != std::string::npos);
    CHECK(failure("d60100000001", [](reader& r) { return r.time("t"); }, &what) == errc::type_mismatch);
    CHECK(what.starts_with("payload field 't': expected a timestamp (ext -1 of 4, 8 or 12 bytes), found ext 1 of 4 bytes at byte 1: "));
}

TEST_CASE("reader reports truncated input at every byte of every value, and never reads past it") {
    // One value of each form, nested in an array: 24 values.
    const std::string hex = "dc0018"
                            "7f" "cc80" "cdbeef" "cedeadbeef" "cf0102030405060708"
                            "ff" "d080" "d18000" "d280000000" "d38000000000000000"
                            "a3616263" "d903616263" "c403010203" "c50003010203"
                            "ca3fc00000" "cb3ff8000000000000"
                            "c0" "c3" "81a16101" "dc000101" "d6ff00000001" "c70cff00000003ffffffffffffffff"
                            "d4010a" "d501" "0b0c";
    const auto whole = from_hex(hex);
    {
        reader r(whole);
        const auto count = r.scan("value", 0);
        CHECK(r.remaining() == 0);
        CHECK(count.values == 1 + 24 + 2 + 1);
    }
    for (std::size_t n = 0; n < whole.size(); ++n) {
        const std::span<const std::byte> prefix(whole.data(), n);
        reader r(prefix, wire_part::envelope);
        CAPTURE(n);
        try {
            r.skip("value", 0);
            FAIL("skipped a value cut at byte " << n);
        } catch (const error& e) {
            CHECK(e.kind() == errc::truncated);
            CHECK(std::string(e.what()).starts_with("envelope field 'value': "));
        }
        CHECK(r.offset() <= n);
    }
    // Typed reads of single values, cut short at every byte.
    const std::pair<std::string_view, void (*)(reader&)> typed[] = {
        {"cf0102030405060708", [](reader& r) { (void)r.uint("v"); }},
        {"db00000003616263", [](reader& r) { (void)r.str("v"); }},
        {"c600000003010203", [](reader& r) { (void)r.bin("v"); }},
        {"cb3ff8000000000000", [](reader& r) { (void)r.floating<double>("v"); }},
        {"c70cff00000003ffffffffffffffff", [](reader& r) { (void)r.time("v"); }},
        {"d38000000000000000", [](reader& r) { (void)r.integer<std::int64_t>("v"); }},
    };
    for (const auto& [one, read] : typed) {
        const auto bytes = from_hex(one);
        for (std::size_t n = 0; n < bytes.size(); ++n) {
            reader r({bytes.data(), n});
            CAPTURE(one);
            CAPTURE(n);
            try {
                read(r);
                FAIL("read a value cut at byte " << n);
            } catch (const error& e) {
                CHECK(e.kind() == errc::truncated);
            }
        }
    }
}

TEST_CASE("reader calls 0xc1 malformed, not a wrong type, in both parts") {
    std::string what;
    CHECK(failure("c1", [](reader& r) { return r.boolean("b"); }, &what) == errc::malformed);
    CHECK(what.starts_with("payload field 'b': reserved (0xc1) is not valid msgpack, at byte 0: "));
    CHECK(failure("91c1", [](reader& r) { r.skip("x", 0); return 0; }, &what, wire_part::envelope) == errc::malformed);
    CHECK(what.starts_with("envelope field 'x': reserved (0xc1) is not valid msgpack, at byte 1: "));
}

TEST_CASE("reader skip and scan stop at the depth limit, counting from the depth given") {
    const auto nested = [](int levels) {
        std::string hex;
        for (int i = 0; i < levels; ++i) hex += "91";
        return hex + "00";
    };
    const read_limits three{.max_depth = 3};
    CHECK(failure(nested(4), [](reader& r) { r.skip("x", 0); return 0; }, nullptr, wire_part::payload, three) ==
          errc::limit_exceeded);
    std::string what;
    CHECK(failure(nested(3), [](reader& r) { r.skip("x", 1); return 0; }, &what, wire_part::payload, three) ==
          errc::limit_exceeded);
    CHECK(what.starts_with("payload field 'x': nested deeper than 3: "));
    const auto bytes = from_hex(nested(3));
    reader r(bytes, wire_part::payload, three);
    const auto count = r.scan("x", 0);
    CHECK(count.values == 4);
    CHECK(count.bytes == 0);
    // A checked header counts as one level too.
    const auto deep = from_hex("9100");
    reader at_limit(deep, wire_part::payload, three);
    CHECK_THROWS_WITH_AS(at_limit.array_header("a", 3), doctest::Contains("payload field 'a': nested deeper than 3: "), error);
    // 100 levels with the largest limit: refused, iteratively.
    CHECK(failure(nested(100), [](reader& r) { r.skip("x", 0); return 0; }) == errc::limit_exceeded);
}

TEST_CASE("reader refuses more elements than max_elements, and counts no further than the input") {
    const read_limits four{.max_elements = 4};
    std::string what;
    CHECK(failure("950102030405", [](reader& r) { r.skip("x", 0); return 0; }, &what, wire_part::payload, four) ==
          errc::limit_exceeded);
    CHECK(what.starts_with("payload field 'x': declares more than max_elements (4) elements: "));
    CHECK(failure("950102030405", [](reader& r) { return r.array_header("a", 0); }, &what, wire_part::payload,
                  four) == errc::limit_exceeded);
    // Within the limit: every value and body byte counted.
    const auto bytes = from_hex("9301a2686981a16102");
    reader r(bytes, wire_part::payload, four);
    const auto count = r.scan("x", 0);
    CHECK(count.values == 6);
    CHECK(count.bytes == 3);
    // Declared counts beyond the input are truncated before anything else.
    CHECK(failure("ddffffffff00", [](reader& r) { r.skip("x", 0); return 0; }, &what) == errc::truncated);
    CHECK(what.starts_with("payload field 'x': declares 4294967295 elements but only 1 bytes remain: "));
    CHECK(failure("df0000000300", [](reader& r) { r.skip("x", 0); return 0; }, &what) == errc::truncated);
    CHECK(what.starts_with("payload field 'x': declares 3 entries but only 1 bytes remain: "));
    CHECK(failure("dc0003", [](reader& r) { return r.array_header("a", 0); }, &what) == errc::truncated);
    // Unchecked headers leave counts to the caller.
    CHECK(read_all("ddffffffff", [](reader& r) { return r.array_header("a"); }) == 0xffffffffu);
}

TEST_CASE("reader charges decoded bytes against its budget, without overflow") {
    const auto none = from_hex("");
    reader r(none, wire_part::payload, {.max_decoded_bytes = 10});
    r.charge(6, "a");
    r.charge_elements(2, 2, "b");
    CHECK_THROWS_WITH_AS(r.charge(1, "c"),
                         doctest::Contains("payload field 'c': decoding needs 1 more bytes at byte 0, over "
                                           "max_decoded_bytes (10) for the payload: "),
                         error);
    reader big(none, wire_part::payload, {.max_decoded_bytes = 10});
    try {
        big.charge_elements(UINT64_MAX / 2, 4, "d");
        FAIL("charged more than the budget");
    } catch (const error& e) {
        CHECK(e.kind() == errc::limit_exceeded);
    }
    big.charge(10, "e"); // nothing was taken by the refused charge
}

TEST_CASE("reader reads a key in the listed order or leaves it for key()") {
    const auto bytes = from_hex("82a3736b75a3412d31a371747902");
    reader r(bytes);
    CHECK(r.map_header("m", 0) == 2);
    CHECK_FALSE(r.expect_key("qty"));
    CHECK(r.expect_key("sku"));
    CHECK(r.str("sku") == "A-1");
    CHECK(r.key() == "qty");
    CHECK(r.integer<int>("qty") == 2);
    CHECK(r.remaining() == 0);
}
