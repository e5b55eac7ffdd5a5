#include <courier/codec.hpp>

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

using namespace courier;

namespace {

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

std::vector<std::byte> hex(std::string_view h) {
    std::vector<std::byte> out;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2)
        out.push_back(static_cast<std::byte>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
    return out;
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
    CHECK(failure(hex("ddffffffff"), &what) == errc::truncated);
    CHECK(what.find("more elements than its 5-byte input can hold") != std::string::npos);
    // The classic ~500-byte bomb: nested arrays each declaring 2^32-1 elements.
    std::string bomb;
    for (int i = 0; i < 100; ++i) bomb += "ddffffffff";
    CHECK(failure(hex(bomb)) == errc::truncated);
    // A map32 declaring 4 billion pairs.
    CHECK(failure(hex("dfffffffff")) == errc::truncated);
}

TEST_CASE("codec: declared lengths beyond the input are refused, not allocated") {
    CHECK(failure(hex("dbffffffff61")) == errc::truncated);   // str32 of 4 GiB, 1 byte present
    CHECK(failure(hex("c6000000106161")) == errc::truncated); // bin32 of 16 bytes, 2 present
    CHECK(failure(hex("930101")) == errc::truncated);
    CHECK(failure({}) == errc::truncated);
}

TEST_CASE("codec: deep nesting hits the depth limit") {
    std::string deep;
    for (int i = 0; i < 200; ++i) deep += "91";
    deep += "00";
    std::string what;
    CHECK(failure(hex(deep), &what) == errc::limit_exceeded);
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
    CHECK(failure(hex("9000")) == errc::malformed);
    CHECK(failure(hex("c1")) == errc::malformed);
}
