#pragma once
// Private: the envelope encoder's forms beyond encode() (courier/envelope.hpp), for the batching
// sender, and how a batch record is read back. All of them, and encode() and encode_batch(), write
// through one function in src/wire/envelope.cpp, so a change to the envelope is made there once;
// a batch's records are written and read in this file only.

#include "courier/envelope.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace courier::detail {

// ---- batches: payloads written as records first, the envelope around them when they leave ----

/// The bytes one payload takes as a batch record (a msgpack bin).
std::size_t record_size(std::span<const std::byte> payload) noexcept;
/// Appends `payload` to `records` as one batch record.
void append_record(std::vector<std::byte>& records, std::span<const std::byte> payload);

/// The record at `offset` in a batch payload envelope::parse() validated (`data` is its frame):
/// sets `payload` to where the record's bytes lie and returns the offset after it. Inline, with
/// bin8 first: a batch of small messages pays one compare per record.
inline std::uint32_t next_record(const std::byte* data, std::uint32_t offset, envelope_layout::range& payload) noexcept {
    const auto tag = static_cast<std::uint8_t>(data[offset]);
    if (tag == 0xc4) { // bin8: every record under 256 bytes
        payload = {offset + 2, static_cast<std::uint8_t>(data[offset + 1])};
        return payload.offset + payload.size;
    }
    const std::uint32_t header = tag == 0xc5 ? 3 : 5;
    std::uint32_t size = 0;
    for (std::uint32_t i = 1; i < header; ++i) size = (size << 8) | static_cast<std::uint8_t>(data[offset + i]);
    payload = {offset + header, size};
    return offset + header + size;
}

/// The envelope of `count` (>= 1) records, `records` as append_record() wrote them, with the
/// fields of `head` (its kind and payload are not used): kind batch whose payload is the records,
/// or for one record, kind message whose payload is that record's payload (a record is exactly a
/// message's last field). The size first, then the bytes into `out`, which holds that size.
std::size_t records_envelope_size(const outgoing& head, std::span<const std::byte> records,
                                  std::size_t count) noexcept;
std::size_t encode_records(const outgoing& head, std::span<const std::byte> records, std::size_t count,
                           std::byte* out) noexcept;

/// The most bytes a records envelope adds to its records and type name (it has no subject and no
/// headers): array, versions, kind, ids, timestamp, the type name's header, empty subject and
/// headers, the records' bin header.
inline constexpr std::size_t records_envelope_overhead = 1 + 1 + 1 + 1 + 9 + 9 + 9 + 5 + 1 + 1 + 5;

// ---- a message encoded before its ids are known ----

/// encode(e), but with the id and correlation id written as 9-byte uint64s (msgpack 0xcf, a
/// width every reader accepts) whatever their values, so that renumber() can set them later.
std::vector<std::byte> encode_renumberable(const outgoing& e);
/// Sets the id and correlation id of an envelope encode_renumberable() wrote.
void renumber(std::span<std::byte> envelope, std::uint64_t id, std::uint64_t correlation) noexcept;

} // namespace courier::detail
