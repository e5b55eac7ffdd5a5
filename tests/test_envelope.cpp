#include <courier/envelope.hpp>

#include <courier/codec.hpp>
#include <courier/error.hpp>

#include "support/bytes.hpp"
#include "wire/envelope_writer.hpp" // how a batch record is read

#include <doctest/doctest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

using namespace courier;

namespace {

using test::from_hex;
using test::to_hex;

errc decode_error(const std::vector<std::byte>& frame, std::string* what = nullptr,
                  const decode_limits& limits = {}) {
    try {
        envelope::decode(frame, limits);
    } catch (const error& e) {
        if (what != nullptr) *what = e.what();
        return e.kind();
    }
    FAIL("decode accepted bad input");
    return {};
}

// The test vectors of docs/wire-format.md, produced there with Python's msgpack package.
constexpr std::string_view minimal_hex = "9a010001010000a0a080c400";
constexpr std::string_view request_hex =
    "9a010002cf010203040506070800cf17979cfe3d85cd15aa73686f702e4f72646572a5707269636581a57472616365a4742d3432c40e82a3"
    "736b75a3412d31a371747902";
constexpr std::string_view order_payload_hex = "82a3736b75a3412d31a371747902";
constexpr std::string_view error_hex = "9a01000407cf0102030405060708ffa3737472a5707269636580c40dac6f7574206f662073746f636b";
constexpr std::string_view batch_hex = "9a01000564002aa3696e74a080c40bc40101c40102c403cd012c";
constexpr std::string_view newer_minor_hex = "9c010301090005a3737472a080c403a2686981a666757475726593010203c0";

struct order {
    std::string sku;
    int qty = 0;
    MSGPACK_DEFINE_MAP(sku, qty)
};

} // namespace

TEST_CASE("envelope: the minimal message encodes to its test vector byte for byte") {
    const outgoing e{.kind = kind::message, .id = 1};
    CHECK(to_hex(encode(e)) == minimal_hex);
    CHECK(encoded_size(e) == minimal_hex.size() / 2);
}

TEST_CASE("envelope: a request with headers and a typed payload encodes to its test vector") {
    auto& buf = detail::scratch();
    auto payload = encode_payload(order{"A-1", 2}, buf);
    CHECK(to_hex(payload) == order_payload_hex);
    const header trace[] = {{"trace", "t-42"}};
    const outgoing e{.kind = kind::request,
                     .id = 0x0102030405060708,
                     .timestamp_ns = 1700000000123456789,
                     .type_name = "shop.Order",
                     .subject = "price",
                     .headers = trace,
                     .payload = payload};
    CHECK(to_hex(encode(e)) == request_hex);
}

TEST_CASE("envelope: an error reply encodes to its test vector") {
    auto payload = from_hex("ac6f7574206f662073746f636b");
    const outgoing e{.kind = kind::error,
                     .id = 7,
                     .correlation_id = 0x0102030405060708,
                     .timestamp_ns = -1,
                     .type_name = "str",
                     .subject = "price",
                     .payload = payload};
    CHECK(to_hex(encode(e)) == error_hex);
}

TEST_CASE("envelope: the request vector decodes to every field, payload left opaque") {
    auto frame = from_hex(request_hex);
    auto e = envelope::decode(frame);
    CHECK(e.minor_version() == 0);
    CHECK(e.kind() == kind::request);
    CHECK(e.id() == 0x0102030405060708);
    CHECK(e.correlation_id() == 0);
    CHECK(e.timestamp_ns() == 1700000000123456789);
    CHECK(e.type_name() == "shop.Order");
    CHECK(e.subject() == "price");
    REQUIRE(e.headers().size() == 1);
    CHECK(e.headers().find("trace") == std::optional<std::string_view>("t-42"));
    CHECK_FALSE(e.headers().find("missing").has_value());
    CHECK(to_hex(e.payload()) == order_payload_hex);
    auto o = decode_payload<order>(e.payload(), e.type_name(), {});
    CHECK(o.sku == "A-1");
    CHECK(o.qty == 2);
}

TEST_CASE("envelope: the error vector decodes, negative timestamp included") {
    auto frame = from_hex(error_hex);
    auto e = envelope::decode(frame);
    CHECK(e.kind() == kind::error);
    CHECK(e.id() == 7);
    CHECK(e.correlation_id() == 0x0102030405060708);
    CHECK(e.timestamp_ns() == -1);
    CHECK(decode_payload<std::string>(e.payload(), e.type_name(), {}) == "out of stock");
}

TEST_CASE("envelope: a newer minor version's extra fields are ignored") {
    auto frame = from_hex(newer_minor_hex);
    auto e = envelope::decode(frame);
    CHECK(e.minor_version() == 3);
    CHECK(e.kind() == kind::message);
    CHECK(e.id() == 9);
    CHECK(e.timestamp_ns() == 5);
    CHECK(decode_payload<std::string>(e.payload(), e.type_name(), {}) == "hi");
}

TEST_CASE("envelope: headers iterate in order and encode round trip") {
    const std::vector<header> hs{{"a", "1"}, {"trace", "x"}, {"", ""}, {std::string_view("k\0z", 3), "v"}};
    auto frame = encode(outgoing{.kind = kind::message, .id = 3, .headers = hs});
    auto e = envelope::decode(frame);
    std::vector<std::pair<std::string, std::string>> got;
    for (auto h : e.headers()) got.emplace_back(h.name, h.value);
    REQUIRE(got.size() == 4);
    CHECK(got[0] == std::pair<std::string, std::string>("a", "1"));
    CHECK(got[1] == std::pair<std::string, std::string>("trace", "x"));
    CHECK(got[2] == std::pair<std::string, std::string>("", ""));
    CHECK(got[3] == std::pair<std::string, std::string>(std::string("k\0z", 3), "v"));
}

TEST_CASE("envelope: every size class of every field round-trips") {
    std::string big_name(300, 'n');
    std::vector<std::byte> big_payload(70000, std::byte{0x5a});
    const std::string big_value(70000, 'v');
    for (std::uint64_t id : {0ull, 127ull, 128ull, 255ull, 256ull, 65535ull, 65536ull, 0xffffffffull, 0x100000000ull, ~0ull})
        for (std::int64_t ts : {0ll, -1ll, -32ll, -33ll, -128ll, -129ll, -32768ll, -32769ll, -2147483648ll,
                                -2147483649ll, 9223372036854775807ll}) {
            const header hs[] = {{big_name, big_value}};
            outgoing o{.kind = kind::reply, .id = id, .correlation_id = id, .timestamp_ns = ts,
                       .type_name = "t", .subject = big_name, .headers = hs, .payload = big_payload};
            auto frame = encode(o);
            REQUIRE(frame.size() == encoded_size(o));
            auto e = envelope::decode(frame, {.max_name = 1000});
            CHECK(e.id() == id);
            CHECK(e.correlation_id() == id);
            CHECK(e.timestamp_ns() == ts);
            CHECK(e.subject() == big_name);
            CHECK(e.payload().size() == big_payload.size());
            CHECK((*e.headers().begin()).value.size() == 70000);
        }
}

TEST_CASE("envelope: an unknown major version is rejected with a clear error") {
    auto frame = from_hex(minimal_hex);
    frame[1] = std::byte{2};
    std::string what;
    CHECK(decode_error(frame, &what) == errc::unsupported_version);
    CHECK(what.find("major version 2") != std::string::npos);
}

TEST_CASE("envelope: every truncation of a valid envelope is reported as truncated") {
    auto frame = from_hex(request_hex);
    for (std::size_t n = 0; n < frame.size(); ++n) {
        std::vector<std::byte> cut(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(n));
        CAPTURE(n);
        CHECK(decode_error(cut) == errc::truncated);
    }
}

TEST_CASE("envelope: wrong types name the field") {
    struct bad_case {
        const char* hex;
        const char* field;
    };
    const bad_case cases[] = {
        {"81a16101", "envelope"},                          // a map, not an array
        {"9a0100a101010000a0a080c400", "kind"},            // kind as a string
        {"9a01000101000000a080c400", "type name"},         // type name as an int
        {"9a010001010000a0a081a16101c400", "header value"}, // header value as an int
        {"9a010001010000a0a080a0", "payload"},             // payload as str, not bin
        {"9a010001ff0000a0a080c400", "message id"},        // negative id
    };
    for (const auto& c : cases) {
        CAPTURE(c.hex);
        std::string what;
        CHECK(decode_error(from_hex(c.hex), &what) == errc::malformed);
        CHECK(what.find(c.field) != std::string::npos);
    }
}

TEST_CASE("envelope: an unknown kind, too few fields and trailing bytes are malformed") {
    CHECK(decode_error(from_hex("9a010009010000a0a080c400")) == errc::malformed);
    CHECK(decode_error(from_hex("99010001010000a0a080")) == errc::malformed);
    CHECK(decode_error(from_hex("910a")) == errc::malformed);
    CHECK(decode_error(from_hex("920a00")) == errc::unsupported_version);
    CHECK(decode_error(from_hex("9a010001010000a0a080c40000")) == errc::malformed);
}

TEST_CASE("envelope: huge declared lengths fail without allocating them") {
    // bin32 payload declaring 4 GiB, with 2 bytes present.
    CHECK(decode_error(from_hex("9a010001010000a0a080c6ffffffff0000")) == errc::truncated);
    // str32 type name declaring 4 GiB.
    CHECK(decode_error(from_hex("9a010001010000dbffffffff")) == errc::truncated);
    // array32 of 4 billion fields: the extension fields run out of input.
    CHECK(decode_error(from_hex("ddffffffff010001010000a0a080c400")) == errc::truncated);
    // map32 of 4 billion headers: over max_headers before reading one.
    std::string what;
    CHECK(decode_error(from_hex("9a010001010000a0a0dfffffffff"), &what) == errc::limit_exceeded);
    CHECK(what.find("headers") != std::string::npos);
    // An extension field that declares an array of 4 billion elements.
    CHECK(decode_error(from_hex("9b010001010000a0a080c400ddffffffff00")) == errc::truncated);
}

TEST_CASE("envelope: deep nesting in an extension field hits the depth limit") {
    std::string hex = "9b010001010000a0a080c400";
    for (int i = 0; i < 100; ++i) hex += "91";
    hex += "00";
    std::string what;
    CHECK(decode_error(from_hex(hex), &what) == errc::limit_exceeded);
    CHECK(what.find("deeper") != std::string::npos);
    // Within the limit it is skipped.
    std::string ok = "9b010001010000a0a080c400";
    for (int i = 0; i < 10; ++i) ok += "91";
    ok += "00";
    auto frame = from_hex(ok);
    CHECK(envelope::decode(frame).id() == 1);
}

TEST_CASE("envelope: names over max_name and headers over max_headers are limit_exceeded") {
    std::string name(300, 'x');
    auto frame = encode(outgoing{.type_name = name});
    CHECK(decode_error(frame) == errc::limit_exceeded);
    CHECK(decode_error(frame, nullptr, {.max_name = 299}) == errc::limit_exceeded);
    CHECK(envelope::decode(frame, {.max_name = 300}).type_name() == name);

    std::vector<header> many(65, header{"k", "v"});
    auto crowded = encode(outgoing{.headers = many});
    CHECK(decode_error(crowded) == errc::limit_exceeded);
    CHECK(envelope::decode(crowded, {.max_headers = 65}).headers().size() == 65);
}

TEST_CASE("envelope: random corruption never crashes, hangs or escapes as anything but courier::error") {
    auto frame = from_hex(request_hex);
    std::mt19937 rng(12345);
    int decoded = 0, rejected = 0;
    for (int i = 0; i < 20000; ++i) {
        auto bad = frame;
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] = static_cast<std::byte>(rng() & 0xff);
        if (rng() % 4 == 0) bad.resize(rng() % bad.size());
        try {
            auto e = envelope::decode(bad);
            for (auto h : e.headers()) (void)h;
            ++decoded;
        } catch (const error&) {
            ++rejected;
        }
    }
    CHECK(decoded + rejected == 20000);
    CHECK(rejected > 0);
}

TEST_CASE("envelope: decode_limits are validated") {
    CHECK_THROWS_WITH_AS(decode_limits{.max_headers = 0}.validate(), doctest::Contains("max_headers"), error);
    CHECK_THROWS_WITH_AS(decode_limits{.max_name = 0}.validate(), doctest::Contains("max_name"), error);
    CHECK_THROWS_WITH_AS(decode_limits{.max_depth = 0}.validate(), doctest::Contains("max_depth"), error);
    CHECK_THROWS_WITH_AS(decode_limits{.max_elements = 0}.validate(), doctest::Contains("max_elements"), error);
    CHECK_THROWS_WITH_AS(decode_limits{.max_batch = 0}.validate(), doctest::Contains("max_batch"), error);
    CHECK_THROWS_WITH_AS(decode_limits{.max_decoded_bytes = 0}.validate(), doctest::Contains("max_decoded_bytes"),
                         error);
    CHECK_THROWS_WITH_AS(decode_limits{.max_depth = 65}.validate(), doctest::Contains("65"), error);
    CHECK_NOTHROW(decode_limits{}.validate());
}

TEST_CASE("envelope: message ids are unique and never 0") {
    std::set<std::uint64_t> ids;
    for (int i = 0; i < 10000; ++i) ids.insert(next_message_id());
    CHECK(ids.size() == 10000);
    CHECK(ids.count(0) == 0);
}

TEST_CASE("envelope: a batch of three ints encodes to its test vector") {
    auto& buf = detail::scratch();
    std::vector<std::vector<std::byte>> payloads;
    for (int v : {1, 2, 300}) {
        auto p = encode_payload(v, buf);
        payloads.emplace_back(p.begin(), p.end());
    }
    std::vector<std::span<const std::byte>> views(payloads.begin(), payloads.end());
    CHECK(to_hex(encode_batch(outgoing{.id = 100, .timestamp_ns = 42, .type_name = "int"}, views)) == batch_hex);
    // One message is sent as a plain message envelope.
    auto single = encode_batch(outgoing{.id = 1}, {views.data(), 1});
    CHECK(envelope::decode(single).kind() == kind::message);
}

TEST_CASE("envelope: a batch decodes with every record validated and counted") {
    auto frame = from_hex(batch_hex);
    auto e = envelope::decode(frame);
    CHECK(e.kind() == kind::batch);
    auto layout = envelope::parse(frame, {});
    CHECK(layout.batch_count == 3);
    std::vector<int> values;
    auto at = layout.payload.offset;
    while (at < layout.payload.offset + layout.payload.size) {
        envelope_layout::range r;
        at = detail::next_record(frame.data(), at, r);
        values.push_back(decode_payload<int>(std::span(frame).subspan(r.offset, r.size), "int", {}));
    }
    CHECK(values == std::vector<int>{1, 2, 300});
}

TEST_CASE("envelope: a bad batch is rejected whole") {
    // Record 3 declares 3 bytes with 2 present: the payload bin is consistent, a record is not.
    CHECK(decode_error(from_hex("9a01000564002aa3696e74a080c40ac40101c40102c403cd01")) == errc::truncated);
    // A record that is not a bin.
    CHECK(decode_error(from_hex("9a01000564002aa3696e74a080c40301c401")) == errc::malformed);
    // An empty batch.
    CHECK(decode_error(from_hex("9a01000564002aa3696e74a080c400")) == errc::malformed);
    // More records than max_batch.
    auto frame = from_hex(batch_hex);
    CHECK(decode_error(frame, nullptr, {.max_batch = 2}) == errc::limit_exceeded);
}
