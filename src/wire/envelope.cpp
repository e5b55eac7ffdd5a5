// The one envelope encoder: encode(), encode_batch() (courier/envelope.hpp) and the batching
// sender's forms (wire/envelope_writer.hpp) all size and write an envelope here.

#include "wire/envelope_writer.hpp"

#include "courier/detail/wire.hpp"

#include <cstring>

namespace courier {
namespace detail {
namespace {

constexpr std::uint32_t v1_fields = 10;

/// Where the id starts in an envelope with fixed-width ids: after the array header, the two
/// versions and the kind. The correlation id follows it, 9 bytes later.
constexpr std::size_t fixed_id_at = container_header_size(v1_fields) + uint_size(wire_major) +
                                    uint_size(wire_minor) + uint_size(static_cast<std::uint8_t>(kind::batch));
constexpr std::size_t fixed_uint64_size = 9;

/// How the payload field is written.
enum class body {
    payload,      ///< bin(e.payload)
    records,      ///< bin(records): a batch
    one_record,   ///< the record as it is: it is already bin(payload)
};

// `body` and `fixed_ids` are template parameters: each form compiles to straight-line code, and
// encode(), on every unbatched send, costs what a hand-written encoder would.

/// The fields before the payload field.
template <bool fixed_ids>
std::size_t head_size(const outgoing& e) noexcept {
    std::size_t n = container_header_size(v1_fields) + uint_size(wire_major) + uint_size(wire_minor) +
                    uint_size(static_cast<std::uint8_t>(e.kind)) +
                    (fixed_ids ? 2 * fixed_uint64_size : uint_size(e.id) + uint_size(e.correlation_id)) +
                    int_size(e.timestamp_ns) + str_header_size(e.type_name.size()) + e.type_name.size() +
                    str_header_size(e.subject.size()) + e.subject.size();
    const auto hs = e.headers.items();
    n += container_header_size(hs.size());
    for (const auto& h : hs)
        n += str_header_size(h.name.size()) + h.name.size() + str_header_size(h.value.size()) + h.value.size();
    return n;
}

template <body b, bool fixed_ids>
std::size_t size_of(const outgoing& e, std::span<const std::byte> bytes) noexcept {
    const auto tail = b == body::one_record ? bytes.size() : bin_header_size(bytes.size()) + bytes.size();
    return head_size<fixed_ids>(e) + tail;
}

void put_fixed_uint64(std::byte* at, std::uint64_t v) noexcept {
    at[0] = std::byte{0xcf};
    for (int i = 8; i >= 1; --i, v >>= 8) at[i] = static_cast<std::byte>(v & 0xff);
}

/// Writes the envelope of `e` whose payload field is `bytes` as `b` says; returns its size.
template <body b, bool fixed_ids>
std::size_t write(const outgoing& e, std::span<const std::byte> bytes, std::byte* out) noexcept {
    writer w(out);
    w.array_header(v1_fields);
    w.uint(wire_major);
    w.uint(wire_minor);
    w.uint(static_cast<std::uint8_t>(e.kind));
    if constexpr (fixed_ids) {
        put_fixed_uint64(w.position(), e.id);
        put_fixed_uint64(w.position() + fixed_uint64_size, e.correlation_id);
        w = writer(w.position() + 2 * fixed_uint64_size);
    } else {
        w.uint(e.id);
        w.uint(e.correlation_id);
    }
    w.integer(e.timestamp_ns);
    w.str(e.type_name);
    w.str(e.subject);
    const auto hs = e.headers.items();
    w.map_header(hs.size());
    for (const auto& h : hs) {
        w.str(h.name);
        w.str(h.value);
    }
    if constexpr (b != body::one_record) w.bin_header(bytes.size());
    if (!bytes.empty()) std::memcpy(w.position(), bytes.data(), bytes.size());
    return static_cast<std::size_t>(w.position() - out) + bytes.size();
}

/// `head` as the envelope of `count` records says: kind message for one, else kind batch.
outgoing records_head(const outgoing& head, std::size_t count) noexcept {
    auto e = head;
    e.kind = count == 1 ? kind::message : kind::batch;
    return e;
}

} // namespace

std::size_t record_size(std::span<const std::byte> payload) noexcept {
    return bin_header_size(payload.size()) + payload.size();
}

void append_record(std::vector<std::byte>& records, std::span<const std::byte> payload) {
    const auto at = records.size();
    records.resize(at + record_size(payload));
    writer(records.data() + at).bin(payload);
}

std::size_t records_envelope_size(const outgoing& head, std::span<const std::byte> records,
                                  std::size_t count) noexcept {
    const auto e = records_head(head, count);
    return count == 1 ? size_of<body::one_record, false>(e, records) : size_of<body::records, false>(e, records);
}

std::size_t encode_records(const outgoing& head, std::span<const std::byte> records, std::size_t count,
                           std::byte* out) noexcept {
    const auto e = records_head(head, count);
    return count == 1 ? write<body::one_record, false>(e, records, out) : write<body::records, false>(e, records, out);
}

std::vector<std::byte> encode_renumberable(const outgoing& e) {
    std::vector<std::byte> out(size_of<body::payload, true>(e, e.payload));
    write<body::payload, true>(e, e.payload, out.data());
    return out;
}

void renumber(std::span<std::byte> envelope, std::uint64_t id, std::uint64_t correlation) noexcept {
    put_fixed_uint64(envelope.data() + fixed_id_at, id);
    put_fixed_uint64(envelope.data() + fixed_id_at + fixed_uint64_size, correlation);
}

} // namespace detail

std::size_t encoded_size(const outgoing& e) noexcept {
    return detail::size_of<detail::body::payload, false>(e, e.payload);
}

std::size_t encode(const outgoing& e, std::byte* out) noexcept {
    return detail::write<detail::body::payload, false>(e, e.payload, out);
}

std::vector<std::byte> encode(const outgoing& e) {
    std::vector<std::byte> out(encoded_size(e));
    encode(e, out.data());
    return out;
}

std::vector<std::byte> encode_batch(const outgoing& first, std::span<const std::span<const std::byte>> payloads) {
    std::vector<std::byte> records;
    for (auto p : payloads) detail::append_record(records, p);
    auto head = first;
    if (payloads.size() != 1) head.correlation_id = 0; // a batch's messages are not replies
    std::vector<std::byte> out(detail::records_envelope_size(head, records, payloads.size()));
    detail::encode_records(head, records, payloads.size(), out.data());
    return out;
}

} // namespace courier
