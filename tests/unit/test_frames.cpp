// The one frame builder (src/framing/frames.hpp) and the envelope encoder's batching forms
// (src/wire/envelope_writer.hpp), without sockets: each pattern's frames byte for byte against
// encode() and the spec's vectors (docs/wire-format.md).

#include "framing/frames.hpp"
#include "wire/envelope_writer.hpp"
#include "wire/ids.hpp"

#include <courier/envelope.hpp>

#include "support/bytes.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

using namespace courier;
using namespace courier::detail;
using test::from_hex;
using test::to_hex;

namespace {

std::span<const std::byte> bytes_of(const zmq::message_t& m) { return {m.data<std::byte>(), m.size()}; }
std::string text_of(const zmq::message_t& m) { return {m.data<char>(), m.size()}; }

/// What encode() writes for `e` with the id and timestamp the frame carries (the builder draws
/// them itself), so that the rest can be compared byte for byte.
std::string reencoded(const zmq::message_t& frame, outgoing e) {
    const auto got = envelope::decode(bytes_of(frame));
    e.id = got.id();
    e.timestamp_ns = got.timestamp_ns();
    return to_hex(encode(e));
}

const std::vector<std::byte> payload_a = from_hex("82a3736b75a3412d31a371747902");
const std::vector<std::byte> payload_b = from_hex("c0");
const header trace[] = {{"trace", "t-42"}};

} // namespace

TEST_CASE("frames of a published message are [topic][envelope], byte for byte what encode writes") {
    auto m = message_of(true, "orders", "shop.Order", payload_a, trace);
    REQUIRE(m.count == 2);
    CHECK(text_of(m.frames[0]) == "orders");
    const auto e = envelope::decode(bytes_of(m.frames[1]));
    CHECK(e.kind() == kind::message);
    CHECK(e.id() != 0);
    CHECK(e.correlation_id() == 0);
    CHECK(to_hex(bytes_of(m.frames[1])) ==
          reencoded(m.frames[1], {.kind = kind::message, .type_name = "shop.Order", .headers = trace, .payload = payload_a}));
    // A pushed message has no topic frame.
    auto pushed = message_of(false, "ignored", "shop.Order", payload_a, {});
    REQUIRE(pushed.count == 1);
    CHECK(to_hex(bytes_of(pushed.frames[0])) ==
          reencoded(pushed.frames[0], {.kind = kind::message, .type_name = "shop.Order", .payload = payload_a}));
}

TEST_CASE("frames of a numbered message carry the sequence as id and the publisher as correlation id") {
    auto m = message_of(true, "t", "int", payload_b, {}, numbering{.sequence = 7, .publisher = 0x0102030405060708});
    REQUIRE(m.count == 2);
    const auto e = envelope::decode(bytes_of(m.frames[1]));
    CHECK(e.id() == 7);
    CHECK(e.correlation_id() == 0x0102030405060708u);
    CHECK(to_hex(bytes_of(m.frames[1])) ==
          reencoded(m.frames[1], {.kind = kind::message, .id = 7, .correlation_id = 0x0102030405060708,
                                  .type_name = "int", .payload = payload_b}));
}

TEST_CASE("a batch of records is the spec's batch vector byte for byte") {
    // docs/wire-format.md: three ints, ids from 100, timestamp 42.
    std::vector<std::byte> records;
    for (auto p : {from_hex("01"), from_hex("02"), from_hex("cd012c")}) append_record(records, p);
    auto m = batch_of(false, "", "int", 42, records, 3, 100, 0);
    REQUIRE(m.count == 1);
    CHECK(to_hex(bytes_of(m.frames[0])) == "9a01000564002aa3696e74a080c40bc40101c40102c403cd012c");
    // encode_batch is a user of the same encoder.
    const std::vector<std::byte> p1 = from_hex("01"), p2 = from_hex("02"), p3 = from_hex("cd012c");
    const std::span<const std::byte> payloads[] = {p1, p2, p3};
    CHECK(to_hex(encode_batch({.id = 100, .timestamp_ns = 42, .type_name = "int"}, payloads)) ==
          to_hex(bytes_of(m.frames[0])));
}

TEST_CASE("a batch of N records decodes back to the same N payloads and consecutive ids") {
    constexpr std::size_t n = 300; // records over 255 bytes in all: a bin16 header
    std::vector<std::vector<std::byte>> sent;
    std::vector<std::byte> records;
    for (std::size_t i = 0; i < n; ++i) {
        sent.push_back(std::vector<std::byte>(i % 7, static_cast<std::byte>(i)));
        append_record(records, sent.back());
    }
    auto m = batch_of(true, "topic", "bytes", 5, records, n, 1000, 9);
    REQUIRE(m.count == 2);
    CHECK(text_of(m.frames[0]) == "topic");
    const auto frame = bytes_of(m.frames[1]);
    CHECK(frame.size() ==
          records_envelope_size({.id = 1000, .correlation_id = 9, .timestamp_ns = 5, .type_name = "bytes"}, records, n));
    const auto layout = envelope::parse(frame, {});
    CHECK(layout.kind == kind::batch);
    CHECK(layout.id == 1000);
    CHECK(layout.correlation_id == 9);
    CHECK(layout.timestamp_ns == 5);
    REQUIRE(layout.batch_count == n);
    std::uint32_t at = layout.payload.offset;
    for (std::size_t i = 0; i < n; ++i) {
        envelope_layout::range r;
        at = next_record(frame.data(), at, r);
        CHECK(to_hex(frame.subspan(r.offset, r.size)) == to_hex(sent[i]));
    }
    CHECK(at == layout.payload.offset + layout.payload.size);
}

TEST_CASE("a batch of one record is a plain message envelope, byte for byte") {
    std::vector<std::byte> records;
    append_record(records, payload_a);
    auto m = batch_of(false, "", "shop.Order", 77, records, 1, 12, 34);
    REQUIRE(m.count == 1);
    CHECK(to_hex(bytes_of(m.frames[0])) == to_hex(encode({.kind = kind::message,
                                                          .id = 12,
                                                          .correlation_id = 34,
                                                          .timestamp_ns = 77,
                                                          .type_name = "shop.Order",
                                                          .payload = payload_a})));
}

TEST_CASE("a message encoded early and numbered as it leaves equals one encoded with its ids") {
    const outgoing early{.kind = kind::message, .timestamp_ns = 1, .type_name = "int", .headers = trace, .payload = payload_b};
    const auto encoded = encode_renumberable(early);
    // Ids that need nine bytes are written the same way by encode(): equal byte for byte.
    numbering big{.sequence = 0x1000000000, .publisher = 0xfedcba9876543210};
    auto m = encoded_message_of(true, "t", encoded, &big);
    REQUIRE(m.count == 2);
    CHECK(text_of(m.frames[0]) == "t");
    auto with_ids = early;
    with_ids.id = big.sequence;
    with_ids.correlation_id = big.publisher;
    CHECK(to_hex(bytes_of(m.frames[1])) == to_hex(encode(with_ids)));
    // Small ids keep the fixed width (as before this builder): the same fields, 16 bytes longer.
    numbering small{.sequence = 7, .publisher = 9};
    auto s = encoded_message_of(false, "", encoded, &small);
    REQUIRE(s.count == 1);
    CHECK(to_hex(bytes_of(s.frames[0])).starts_with("9a010001cf0000000000000007cf000000000000000901a3696e74"));
    with_ids.id = 7;
    with_ids.correlation_id = 9;
    const auto plain = encode(with_ids);
    CHECK(s.frames[0].size() == plain.size() + 16);
    const auto e = envelope::decode(bytes_of(s.frames[0]));
    CHECK(e.id() == 7);
    CHECK(e.correlation_id() == 9);
    CHECK(e.headers().find("trace") == "t-42");
    CHECK(to_hex(e.payload()) == "c0");
    // Without numbering the early bytes go out as they are.
    const auto as_is = encode({.kind = kind::message, .id = 5, .type_name = "int", .payload = payload_b});
    auto u = encoded_message_of(false, "", as_is, nullptr);
    CHECK(to_hex(bytes_of(u.frames[0])) == to_hex(as_is));
}

TEST_CASE("frames of a request, a reply and an error carry the method and the request's id") {
    auto request = request_frame(0x0102030405060708, "shop.Order", "price", payload_a, trace);
    const auto q = envelope::decode(bytes_of(request));
    CHECK(q.kind() == kind::request);
    CHECK(q.id() == 0x0102030405060708u);
    CHECK(to_hex(bytes_of(request)) == reencoded(request, {.kind = kind::request,
                                                           .type_name = "price",
                                                           .subject = "shop.Order",
                                                           .headers = trace,
                                                           .payload = payload_a}));
    auto reply = reply_frame(kind::reply, q.id(), q.subject(), "int", payload_b);
    const auto r = envelope::decode(bytes_of(reply));
    CHECK(r.kind() == kind::reply);
    CHECK(r.correlation_id() == q.id());
    CHECK(r.subject() == "shop.Order");
    CHECK(to_hex(bytes_of(reply)) == reencoded(reply, {.kind = kind::reply,
                                                       .correlation_id = 0x0102030405060708,
                                                       .type_name = "int",
                                                       .subject = "shop.Order",
                                                       .payload = payload_b}));
    auto failed = reply_frame(kind::error, q.id(), q.subject(), "str", payload_b);
    CHECK(envelope::decode(bytes_of(failed)).kind() == kind::error);
    CHECK(envelope::decode(bytes_of(failed)).correlation_id() == q.id());
}

TEST_CASE("frames of the reliable pipeline: a control message names its command, a task carries its sequence") {
    auto ping = control_frame("ping");
    const auto c = envelope::decode(bytes_of(ping));
    CHECK(c.kind() == kind::control);
    CHECK(c.subject() == "ping");
    CHECK(c.payload().empty());
    CHECK(to_hex(bytes_of(ping)) == reencoded(ping, {.kind = kind::control, .subject = "ping"}));
    auto pong = control_frame("pong", payload_b, 41);
    CHECK(to_hex(bytes_of(pong)) ==
          reencoded(pong, {.kind = kind::control, .correlation_id = 41, .subject = "pong", .payload = payload_b}));
    auto task = task_frame(12345, "shop.Order", payload_a, trace);
    const auto t = envelope::decode(bytes_of(task));
    CHECK(t.id() == 12345);
    CHECK(to_hex(bytes_of(task)) == reencoded(task, {.kind = kind::message,
                                                     .id = 12345,
                                                     .type_name = "shop.Order",
                                                     .headers = trace,
                                                     .payload = payload_a}));
}

TEST_CASE("ids: random ids are never 0 and do not repeat; identities are 16 bytes, never starting with 0") {
    std::set<std::uint64_t> seen;
    for (int i = 0; i < 10000; ++i) {
        const auto id = random_id();
        CHECK(id != 0);
        seen.insert(id);
    }
    CHECK(seen.size() == 10000);
    std::set<std::string> identities;
    for (int i = 0; i < 1000; ++i) {
        const auto id = random_identity();
        CHECK(id.size() == 16);
        CHECK(id[0] != '\0');
        identities.insert(id);
    }
    CHECK(identities.size() == 1000);
    const auto first = next_message_ids(3);
    CHECK(first != 0);
    CHECK(next_message_id() != 0);
}
