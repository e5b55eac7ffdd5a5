#include <courier/fields.hpp>

#include <courier/codec.hpp>
#include <courier/pipeline.hpp>

#include "support/bytes.hpp"
#include "support/heap.hpp"
#include "support/loopback.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <deque>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

using namespace courier;

namespace {

using test::from_hex;
using test::packed_by_msgpack;

enum class side : std::uint8_t { buy = 1, sell = 2 };
enum level : int { low = -3, high = 7 };

} // namespace

MSGPACK_ADD_ENUM(side);
MSGPACK_ADD_ENUM(level);

namespace {

// Each described struct has a MSGPACK_DEFINE_MAP twin with the same members, the reference for
// the bytes on the wire.
struct leg {
    std::string venue;
    double price = 0;
    COURIER_FIELDS(venue, price)
};
struct leg_ref {
    std::string venue;
    double price = 0;
    MSGPACK_DEFINE_MAP(venue, price)
};

struct order {
    static constexpr std::string_view courier_type_name = "test.Order";
    std::uint64_t id = 0;
    std::int32_t qty = 0;
    std::int8_t small = 0;
    std::uint16_t port = 0;
    bool urgent = false;
    float ratio = 0;
    double price = 0;
    side way = side::buy;
    level lvl = low;
    char code = 'x';
    std::string sku;
    std::vector<std::int64_t> fills;
    std::vector<std::string> tags;
    std::vector<bool> flags;
    std::vector<std::byte> blob;
    std::optional<std::int32_t> limit;
    std::optional<std::string> note;
    leg first;
    std::vector<leg> legs;
    std::optional<leg> hedge;
    std::map<std::string, int> extra; // not courier's own: goes through msgpack-cxx
    COURIER_FIELDS(id, qty, small, port, urgent, ratio, price, way, lvl, code, sku, fills, tags, flags, blob, limit,
                   note, first, legs, hedge, extra)
};
struct order_ref {
    std::uint64_t id = 0;
    std::int32_t qty = 0;
    std::int8_t small = 0;
    std::uint16_t port = 0;
    bool urgent = false;
    float ratio = 0;
    double price = 0;
    side way = side::buy;
    level lvl = low;
    char code = 'x';
    std::string sku;
    std::vector<std::int64_t> fills;
    std::vector<std::string> tags;
    std::vector<bool> flags;
    std::vector<std::byte> blob;
    std::optional<std::int32_t> limit;
    std::optional<std::string> note;
    leg_ref first;
    std::vector<leg_ref> legs;
    std::optional<leg_ref> hedge;
    std::map<std::string, int> extra;
    MSGPACK_DEFINE_MAP(id, qty, small, port, urgent, ratio, price, way, lvl, code, sku, fills, tags, flags, blob, limit,
                       note, first, legs, hedge, extra)
};

order sample() {
    order o;
    o.id = 0x0102030405060708;
    o.qty = -70000;
    o.small = -5;
    o.port = 65535;
    o.urgent = true;
    o.ratio = 0.25f;
    o.price = 101.375;
    o.way = side::sell;
    o.lvl = high;
    o.code = 'Q';
    o.sku = std::string(40, 'k'); // str8
    o.fills = {0, 1, -1, 127, 128, -32, -33, 255, 256, 65536, -2147483649LL, INT64_MAX, INT64_MIN};
    o.tags = {"a", "", std::string(300, 't')};
    o.flags = {true, false, true};
    o.blob = {std::byte{0}, std::byte{0xff}};
    o.limit = 12;
    o.note = std::nullopt;
    o.first = {"XNAS", 10.5};
    o.legs = {{"A", 1}, {"B", -2.5}};
    o.hedge = leg{"H", 3};
    o.extra = {{"k", 1}, {"j", -2}};
    return o;
}

order_ref reference_of(const order& o) {
    order_ref r;
    r.id = o.id, r.qty = o.qty, r.small = o.small, r.port = o.port, r.urgent = o.urgent, r.ratio = o.ratio;
    r.price = o.price, r.way = o.way, r.lvl = o.lvl, r.code = o.code, r.sku = o.sku, r.fills = o.fills;
    r.tags = o.tags, r.flags = o.flags, r.blob = o.blob, r.limit = o.limit, r.note = o.note;
    r.first = {o.first.venue, o.first.price};
    for (const auto& l : o.legs) r.legs.push_back({l.venue, l.price});
    if (o.hedge) r.hedge = leg_ref{o.hedge->venue, o.hedge->price};
    r.extra = o.extra;
    return r;
}

bool same(const leg& a, const leg& b) { return a.venue == b.venue && a.price == b.price; }
bool same(const order& a, const order& b) {
    bool legs = a.legs.size() == b.legs.size();
    for (std::size_t i = 0; legs && i < a.legs.size(); ++i) legs = same(a.legs[i], b.legs[i]);
    return a.id == b.id && a.qty == b.qty && a.small == b.small && a.port == b.port && a.urgent == b.urgent &&
           a.ratio == b.ratio && a.price == b.price && a.way == b.way && a.lvl == b.lvl && a.code == b.code &&
           a.sku == b.sku && a.fills == b.fills && a.tags == b.tags && a.flags == b.flags && a.blob == b.blob &&
           a.limit == b.limit && a.note == b.note && same(a.first, b.first) && legs &&
           a.hedge.has_value() == b.hedge.has_value() && (!a.hedge || same(*a.hedge, *b.hedge)) && a.extra == b.extra;
}

template <class T>
std::vector<std::byte> encoded(const T& value) {
    detail::buffer buf;
    auto out = encode_payload(value, buf);
    return {out.begin(), out.end()};
}

template <class T>
errc failure_of(std::span<const std::byte> payload, const decode_limits& limits = {}, std::string* what = nullptr) {
    try {
        (void)decode_payload<T>(payload, "", limits);
    } catch (const error& e) {
        if (what != nullptr) *what = e.what();
        return e.kind();
    }
    FAIL("decode accepted bad input");
    return {};
}

struct tick {
    std::uint64_t seq = 0;
    std::int64_t price = 0;
    double quantity = 0;
    std::uint32_t venue = 0;
    std::uint32_t flags = 0;
    COURIER_FIELDS(seq, price, quantity, venue, flags)
};
struct tick_ref {
    std::uint64_t seq = 0;
    std::int64_t price = 0;
    double quantity = 0;
    std::uint32_t venue = 0;
    std::uint32_t flags = 0;
    MSGPACK_DEFINE_MAP(seq, price, quantity, venue, flags)
};

struct with_defaults {
    int a = 11;
    std::string b = "default";
    std::optional<int> c = 5;
    COURIER_FIELDS(a, b, c)
};

struct renamed {
    int value = 0;
    COURIER_FIELDS(MSGPACK_NVP("the-value", value))
};

struct node {
    std::vector<node> children;
    int id = 0;
    COURIER_FIELDS(children, id)
};

struct unsigned_only {
    std::uint8_t u = 0;
    COURIER_FIELDS(u)
};
struct signed_only {
    std::int16_t s = 0;
    COURIER_FIELDS(s)
};
enum class colour : std::int16_t { red = -300, green = 2 };
// colour has no MSGPACK_ADD_ENUM: courier's own path needs none, and nothing here asks
// msgpack-cxx to pack or convert this struct.
struct painted {
    colour c = colour::green;
    COURIER_FIELDS(c)
};

struct real_ref {
    double d = 0;
    float f = 0;
    MSGPACK_DEFINE_MAP(d, f)
};
struct text_only {
    std::string s;
    COURIER_FIELDS(s)
};
struct flag_only {
    bool f = false;
    COURIER_FIELDS(f)
};
struct real_only {
    double d = 0;
    float f = 0;
    COURIER_FIELDS(d, f)
};

using sys_ns = std::chrono::time_point<std::chrono::system_clock, std::chrono::nanoseconds>;
using sys_us = std::chrono::time_point<std::chrono::system_clock, std::chrono::microseconds>;

struct stamped {
    sys_ns at;
    std::optional<sys_us> maybe;
    std::vector<sys_ns> many;
    COURIER_FIELDS(at, maybe, many)
};
struct stamped_ref {
    sys_ns at;
    std::optional<sys_us> maybe;
    std::vector<sys_ns> many;
    MSGPACK_DEFINE_MAP(at, maybe, many)
};

struct worded {
    std::vector<std::string> words;
    std::deque<int> extra; // not courier's own: goes through msgpack-cxx
    COURIER_FIELDS(words, extra)
};
struct deep_words {
    std::vector<std::vector<std::string>> words;
    COURIER_FIELDS(words)
};

} // namespace

TEST_CASE("fields: described structs encode to the exact bytes msgpack-cxx writes for MSGPACK_DEFINE_MAP") {
    const auto o = sample();
    const auto ours = encoded(o);
    CHECK(ours == packed_by_msgpack(reference_of(o)));
    // msgpack-cxx packing the described type itself writes the same bytes.
    CHECK(ours == packed_by_msgpack(o));
    // The example in docs/wire-format.md.
    CHECK(encoded(tick{7, -3, 1.5, 2, 3}) ==
          from_hex("85a373657107a57072696365fda87175616e74697479cb3ff8000000000000a576656e756502a5666c61677303"));
    // The bench's struct, with values that take every integer width and integral doubles.
    for (double q : {0.0, -0.0, 1.0, 0.5, -7.0, 1e300, -1e19, 18446744073709551615.0, std::nan("")}) {
        const tick t{.seq = 1ull << 40, .price = -129, .quantity = q, .venue = 70000, .flags = 3};
        CHECK(encoded(t) == packed_by_msgpack(tick_ref{t.seq, t.price, t.quantity, t.venue, t.flags}));
    }
    for (float f : {0.0f, 2.0f, -2.5f, 3e38f, -1e10f, std::nanf("")}) {
        const real_only r{.d = f, .f = f};
        CHECK(encoded(r) == packed_by_msgpack(real_ref{r.d, r.f}));
    }
}

TEST_CASE("fields: enums travel as their underlying integer, with or without MSGPACK_ADD_ENUM") {
    CHECK(encoded(painted{colour::red}) == from_hex("81a163d1fed4"));
    CHECK(decode_payload<painted>(from_hex("81a163d1fed4"), "", {}).c == colour::red);
    CHECK(failure_of<painted>(from_hex("81a163cd8000")) == errc::type_mismatch); // 32768 is not an int16
}

TEST_CASE("fields: described structs round-trip through courier and through msgpack-cxx") {
    const auto o = sample();
    const auto bytes = encoded(o);
    CHECK(same(decode_payload<order>(bytes, "test.Order", {}), o));
    // msgpack-cxx reads courier's bytes, and courier reads msgpack-cxx's.
    auto handle = msgpack::unpack(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    CHECK(same(handle.get().as<order>(), o));
    CHECK(same(decode_payload<order>(packed_by_msgpack(reference_of(o)), "", {}), o));
    // msgpack::object made from a described value (msgpack_object) converts back.
    msgpack::zone zone;
    msgpack::object obj(o, zone);
    CHECK(same(obj.as<order>(), o));
    // Vectors and optionals of described structs are read by courier too.
    const std::vector<leg> legs{{"X", 1.5}, {"Y", 2}};
    const auto back = decode_payload<std::vector<leg>>(encoded(legs), "", {});
    REQUIRE(back.size() == 2);
    CHECK(same(back[0], legs[0]));
    CHECK(same(back[1], legs[1]));
    CHECK(encoded(legs) == packed_by_msgpack(std::vector<leg_ref>{{"X", 1.5}, {"Y", 2}}));
}

TEST_CASE("fields: keys out of order, unknown, repeated or missing read as msgpack-cxx reads them") {
    // {"price": 2.5, "extra": [1, {"x": nil}], "venue": "V", "price": 9}: reordered, one unknown
    // key, one repeated (the first wins, as in msgpack-cxx).
    const auto bytes = from_hex("84a57072696365cb4004000000000000a56578747261920181a178c0a576656e7565a156a5707269636509");
    const auto ours = decode_payload<leg>(bytes, "", {});
    CHECK(ours.venue == "V");
    CHECK(ours.price == 2.5);
    const auto theirs = msgpack::unpack(reinterpret_cast<const char*>(bytes.data()), bytes.size()).get().as<leg_ref>();
    CHECK(theirs.venue == ours.venue);
    CHECK(theirs.price == ours.price);
    // In order, then a repeat of the first: still the first wins.
    const auto repeat = decode_payload<leg>(from_hex("83a576656e7565a141a57072696365cb4004000000000000a576656e7565a142"), "", {});
    CHECK(repeat.venue == "A");
    // An empty map leaves every member at its default; so does a map of unknown keys.
    const auto d = decode_payload<with_defaults>(from_hex("80"), "", {});
    CHECK(d.a == 11);
    CHECK(d.b == "default");
    CHECK(d.c == 5);
    CHECK(decode_payload<with_defaults>(from_hex("81a17a01"), "", {}).b == "default");
    // A nil for an optional empties it.
    CHECK_FALSE(decode_payload<with_defaults>(from_hex("81a163c0"), "", {}).c.has_value());
}

TEST_CASE("fields: other encodings of the same values are read as msgpack-cxx reads them") {
    // A uint8 member sent as int8 5 and as int64 5.
    CHECK(decode_payload<unsigned_only>(from_hex("81a175d005"), "", {}).u == 5);
    CHECK(decode_payload<unsigned_only>(from_hex("81a175d30000000000000005"), "", {}).u == 5);
    // Integers into double and float members; a float32 into a float.
    const auto r = decode_payload<real_only>(from_hex("82a164d0fea166cd0100"), "", {});
    CHECK(r.d == -2.0);
    CHECK(r.f == 256.0f);
    CHECK(decode_payload<real_only>(from_hex("81a166ca3f800000"), "", {}).f == 1.0f);
    // A string sent as str32 and as bin; a key sent as str8 (not the shortest form).
    CHECK(decode_payload<text_only>(from_hex("81a173db000000026869"), "", {}).s == "hi");
    CHECK(decode_payload<text_only>(from_hex("81a173c4026869"), "", {}).s == "hi");
    CHECK(decode_payload<text_only>(from_hex("81d90173a26869"), "", {}).s == "hi");
    // MSGPACK_NVP renames a member on the wire.
    CHECK(encoded(renamed{42}) == from_hex("81a97468652d76616c75652a"));
    CHECK(decode_payload<renamed>(from_hex("81a97468652d76616c75652a"), "", {}).value == 42);
}

TEST_CASE("fields: a value of the wrong type is a type_mismatch naming the member and both types") {
    std::string what;
    CHECK(failure_of<unsigned_only>(from_hex("81a175ff"), {}, &what) == errc::type_mismatch); // -1 into uint8
    CHECK(what.find("'u'") != std::string::npos);
    CHECK(failure_of<unsigned_only>(from_hex("81a175cd0100"), {}, &what) == errc::type_mismatch); // 256 into uint8
    CHECK(what.find("does not fit") != std::string::npos);
    CHECK(failure_of<signed_only>(from_hex("81a173cd8000")) == errc::type_mismatch); // 32768 into int16
    CHECK(decode_payload<signed_only>(from_hex("81a173d1ffff"), "", {}).s == -1);
    CHECK(failure_of<signed_only>(from_hex("81a173a131"), {}, &what) == errc::type_mismatch); // "1" into int16
    CHECK(what.find("expected an integer, found fixstr") != std::string::npos);
    CHECK(failure_of<text_only>(from_hex("81a17301")) == errc::type_mismatch);      // int into string
    CHECK(failure_of<flag_only>(from_hex("81a16601")) == errc::type_mismatch);      // int into bool
    CHECK(failure_of<signed_only>(from_hex("81a173c0")) == errc::type_mismatch);    // nil into int
    CHECK(failure_of<real_only>(from_hex("81a164a0")) == errc::type_mismatch);      // str into double
    CHECK(failure_of<order>(from_hex("81a566696c6c7381a16101")) == errc::type_mismatch); // map into vector
    CHECK(failure_of<order>(from_hex("81a56669727374c0")) == errc::type_mismatch);       // nil into a struct
    CHECK(failure_of<order>(from_hex("81a5657874726101")) == errc::type_mismatch);       // int into std::map (msgpack-cxx)
    CHECK(failure_of<order>(from_hex("9101")) == errc::type_mismatch);                   // an array, not a map
    CHECK(failure_of<order>(from_hex("8101a16101"), {}, &what) == errc::type_mismatch);  // an int key
    // Through decode_payload the message names the sent and the wanted type, as for msgpack-cxx types.
    try {
        (void)decode_payload<order>(from_hex("9101"), "other.Thing", {});
        FAIL("accepted an array as a struct");
    } catch (const error& e) {
        CHECK(e.kind() == errc::type_mismatch);
        CHECK(std::string(e.what()).find("the names differ") != std::string::npos);
    }
    try {
        (void)decode_payload<order>(from_hex("9101"), "test.Order", {});
        FAIL("accepted an array as a struct");
    } catch (const error& e) {
        CHECK(std::string(e.what()).find("'test.Order'") != std::string::npos);
        CHECK(std::string(e.what()).find("expected a map, found fixarray") != std::string::npos);
    }
}

TEST_CASE("fields: every truncation of a valid encoding is refused as truncated") {
    const auto bytes = encoded(sample());
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        const std::span<const std::byte> cut(bytes.data(), n);
        CAPTURE(n);
        CHECK(failure_of<order>(cut) == errc::truncated);
    }
    const auto t = encoded(tick{1, 2, 3.5, 4, 5});
    for (std::size_t n = 0; n < t.size(); ++n) CHECK(failure_of<tick>({t.data(), n}) == errc::truncated);
}

TEST_CASE("fields: huge declared lengths and counts are refused before anything is reserved") {
    std::string what;
    // The struct's map declares 4 billion entries in 5 bytes.
    CHECK(failure_of<order>(from_hex("dfffffffff"), {}, &what) == errc::truncated);
    CHECK(what.find("4294967295") != std::string::npos);
    // str32 of 4 GiB for a string member, with 1 byte present; bin32 of 16 bytes with 2.
    CHECK(failure_of<text_only>(from_hex("81a173dbffffffff61")) == errc::truncated);
    CHECK(failure_of<order>(from_hex("81a4626c6f62c6000000106161")) == errc::truncated);
    // array32 of 4 billion fills; a vector of 4 billion legs.
    CHECK(failure_of<order>(from_hex("81a566696c6c73ddffffffff01")) == errc::truncated);
    CHECK(failure_of<order>(from_hex("81a46c656773ddffffffff80")) == errc::truncated);
    // The same inside a value skipped under an unknown key, and inside a msgpack-cxx member.
    CHECK(failure_of<leg>(from_hex("81a17adfffffffff")) == errc::truncated);
    CHECK(failure_of<order>(from_hex("81a56578747261dfffffffff")) == errc::truncated);
    // Within the input but over max_elements.
    std::vector<std::int64_t> many(100, 1);
    order o;
    o.fills = many;
    const auto bytes = encoded(o);
    CHECK(decode_payload<order>(bytes, "", {.max_elements = 100}).fills.size() == 100);
    CHECK(failure_of<order>(bytes, {.max_elements = 99}, &what) == errc::limit_exceeded);
    CHECK(what.find("more than max_elements (99)") != std::string::npos);
}

TEST_CASE("fields: deep nesting hits the depth limit, in members and in skipped values") {
    // node{children: [node{children: [...]}]}, 20 nodes: 41 levels of maps and arrays.
    node root;
    node* n = &root;
    for (int i = 0; i < 20; ++i) n = &n->children.emplace_back();
    const auto bytes = encoded(root);
    std::string what;
    CHECK(failure_of<node>(bytes, {}, &what) == errc::limit_exceeded);
    CHECK(what.find("nested deeper than 32") != std::string::npos);
    CHECK_NOTHROW((void)decode_payload<node>(bytes, "", {.max_depth = 64}));
    // 200 nested arrays under an unknown key.
    std::string deep = "81a17a";
    for (int i = 0; i < 200; ++i) deep += "91";
    deep += "00";
    CHECK(failure_of<leg>(from_hex(deep)) == errc::limit_exceeded);
    // And in a member msgpack-cxx reads (a map of 200 nested arrays is not a std::map<string, int>,
    // but the depth is refused before msgpack-cxx sees it).
    std::string deep_member = "81a56578747261";
    for (int i = 0; i < 200; ++i) deep_member += "91";
    deep_member += "00";
    CHECK(failure_of<order>(from_hex(deep_member)) == errc::limit_exceeded);
}

TEST_CASE("fields: trailing bytes and invalid msgpack are malformed") {
    CHECK(failure_of<leg>(from_hex("8000")) == errc::malformed);
    CHECK(failure_of<leg>(from_hex("c1")) == errc::malformed);
    CHECK(failure_of<leg>(from_hex("81a17ac1")) == errc::malformed);         // under an unknown key
    CHECK(failure_of<signed_only>(from_hex("81a173c1")) == errc::malformed); // where an int belongs
}

TEST_CASE("fields: random corruptions of a valid encoding are refused with a courier error or read") {
    // Deterministic: flip bytes of the sample's encoding and decode; nothing may crash, hang, or
    // throw anything but courier::error. Under ASan this also checks every read is in bounds.
    const auto good = encoded(sample());
    std::uint64_t state = 0x9e3779b97f4a7c15ull;
    auto next = [&] {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        return state;
    };
    int refused = 0, read = 0;
    for (int round = 0; round < 3000; ++round) {
        auto bytes = good;
        const int flips = 1 + static_cast<int>(next() % 4);
        for (int f = 0; f < flips; ++f) bytes[next() % bytes.size()] = static_cast<std::byte>(next());
        try {
            (void)decode_payload<order>(bytes, "", {});
            ++read;
        } catch (const error&) {
            ++refused;
        }
    }
    CHECK(refused + read == 3000);
    CHECK(refused > 0);
}

TEST_CASE("fields: described structs travel through pushers and pullers, batched or not" * doctest::timeout(30)) {
    context ctx;
    for (bool batched : {false, true}) {
        CAPTURE(batched);
        puller in(ctx);
        pusher out(ctx, {.batching = batched ? std::optional<courier::batching>(courier::batching{}) : std::nullopt});
        out.connect(in.bind(test::bind_endpoint(test::transport::inproc)));
        constexpr int count = 500;
        for (int i = 0; i < count; ++i) {
            auto o = sample();
            o.id = static_cast<std::uint64_t>(i);
            REQUIRE(out.push(o) == status::ok);
        }
        CHECK(out.flush() == status::ok);
        for (int i = 0; i < count; ++i) {
            auto got = in.receive<order>(std::chrono::seconds(5));
            REQUIRE(got.has_value());
            auto want = sample();
            want.id = static_cast<std::uint64_t>(i);
            CHECK(same(*got, want));
        }
        CHECK(in.counters().received == count);
        CHECK(in.counters().rejected == 0);
    }
}

TEST_CASE("fields: time_point members are read by courier, range checked, and written as msgpack-cxx writes them") {
    using namespace std::chrono_literals;
    const stamped value{sys_ns{-1ns}, sys_us{1'700'000'000'123'456us}, {sys_ns{}, sys_ns{1s}, sys_ns{std::chrono::nanoseconds(INT64_MAX)}}};
    const auto bytes = encoded(value);
    CHECK(bytes == packed_by_msgpack(stamped_ref{value.at, value.maybe, value.many}));
    const auto back = decode_payload<stamped>(bytes, "", {});
    CHECK(back.at == value.at);
    CHECK(back.maybe == value.maybe);
    CHECK(back.many == value.many);
    // The payloads as a member: {"at": <timestamp>}.
    std::string what;
    CHECK(failure_of<stamped>(from_hex("81a26174d7ff00000003ffffffff"), {}, &what) == errc::type_mismatch);
    CHECK(what.find("'at'") != std::string::npos);
    CHECK(what.find("outside a time_point") != std::string::npos);
    CHECK(failure_of<stamped>(from_hex("81a26174c70cff000000007fffffffffffffff")) == errc::type_mismatch);
    // The same seconds fit microseconds, in an optional, and not nanoseconds, in a vector.
    CHECK(decode_payload<stamped>(from_hex("81a56d61796265d7ff00000003ffffffff"), "", {}).maybe ==
          sys_us{std::chrono::seconds((1LL << 34) - 1)});
    CHECK(failure_of<stamped>(from_hex("81a46d616e7992d6ff00000001d7ff00000003ffffffff"), {}, &what) == errc::type_mismatch);
    CHECK(what.find("'many'") != std::string::npos);
    // A billion nanoseconds or more: malformed; another ext type: type_mismatch.
    CHECK(failure_of<stamped>(from_hex("81a26174d7ffee6b280000000000")) == errc::malformed);
    CHECK(failure_of<stamped>(from_hex("81a26174d60100000001")) == errc::type_mismatch);
    // Skipped under an unknown key, any timestamp is fine: nothing converts it.
    CHECK(decode_payload<stamped>(from_hex("81a17ac70cff000000007fffffffffffffff"), "", {}).at == sys_ns{});
}

TEST_CASE("fields: max_decoded_bytes bounds the strings, vectors and msgpack-cxx members a struct reads") {
    // words: 10 strings of 20 bytes: the vector's 10 std::string, then 20 bytes each.
    worded w;
    w.words.assign(10, std::string(20, 'w'));
    const auto bytes = encoded(w);
    const std::size_t words_cost = 10 * sizeof(std::string) + 10 * 20;
    // extra: an empty array through msgpack-cxx, one object, charged twice.
    const std::size_t extra_cost = 2 * sizeof(msgpack::object);
    CHECK(decode_payload<worded>(bytes, "", {.max_decoded_bytes = words_cost + extra_cost}).words == w.words);
    std::string what;
    CHECK(failure_of<worded>(bytes, {.max_decoded_bytes = words_cost + extra_cost - 1}, &what) == errc::limit_exceeded);
    CHECK(what.find("payload field 'extra'") != std::string::npos);
    CHECK(failure_of<worded>(bytes, {.max_decoded_bytes = words_cost - 1}, &what) == errc::limit_exceeded);
    CHECK(what.find("payload field 'words'") != std::string::npos);
    CHECK(what.find("over max_decoded_bytes (" + std::to_string(words_cost - 1) + ")") != std::string::npos);
    // The vector itself is charged before it is reserved.
    CHECK(failure_of<worded>(bytes, {.max_decoded_bytes = 10 * sizeof(std::string) - 1}) == errc::limit_exceeded);
}

TEST_CASE("fields: a 15.7 MB payload of empty strings stays within max_decoded_bytes instead of taking 0.5 GiB") {
    // {"words": [[15 arrays of 1,046,000 empty strings]]}: one byte each, 32 bytes each as a
    // std::string, within max_elements and max_message_size.
    constexpr std::uint32_t inner = 1'046'000;
    auto words = [](int arrays) {
        std::vector<std::byte> out;
        for (int b : {0x81, 0xa5, 0x77, 0x6f, 0x72, 0x64, 0x73}) out.push_back(static_cast<std::byte>(b));
        out.push_back(static_cast<std::byte>(0x90 | arrays));
        for (int i = 0; i < arrays; ++i) {
            for (int b : {0xdd, 0x00, 0x0f, 0xf5, 0xf0}) out.push_back(static_cast<std::byte>(b));
            out.insert(out.end(), inner, std::byte{0xa0});
        }
        return out;
    };
    const auto payload = words(15);
    REQUIRE(payload.size() < 16u << 20);
    std::string what;
    std::size_t peak = 0;
    {
        test::heap_meter meter;
        CHECK(failure_of<deep_words>(payload, {}, &what) == errc::limit_exceeded);
        peak = meter.peak();
    }
    MESSAGE("payload " << payload.size() << " bytes; refused: " << what);
    MESSAGE("operator new peak while decoding: "
            << (test::heap_meter::available() ? std::to_string(peak) : "(not counted under a sanitizer)") << " bytes");
    CHECK(what.find("over max_decoded_bytes (67108864)") != std::string::npos);
    // What was decoded before the refusal stayed within the budget (plus the error's own text).
    if (test::heap_meter::available()) CHECK(peak <= (std::size_t{64} << 20) + (64u << 10));
    // One of its fifteen arrays (33.5 MB as strings) is within the budget, and decodes.
    const auto one = decode_payload<deep_words>(words(1), "", {});
    REQUIRE(one.words.size() == 1);
    CHECK(one.words[0].size() == inner);
}
