// The reader's cold halves: its errors, describe(), timestamps and the iterative skip.

#include "courier/detail/reader.hpp"

#include "courier/error.hpp"

#include <algorithm>
#include <cstdio>
#include <string>

namespace courier::detail {
namespace {

/// A msgpack type byte in words: "fixstr (0xa1)".
std::string describe(std::uint8_t tag) {
    const char* what = "reserved";
    if (tag <= 0x7f) what = "positive fixint";
    else if (tag <= 0x8f) what = "fixmap";
    else if (tag <= 0x9f) what = "fixarray";
    else if (tag <= 0xbf) what = "fixstr";
    else if (tag >= 0xe0) what = "negative fixint";
    else if (tag == 0xc0) what = "nil";
    else if (tag == 0xc2 || tag == 0xc3) what = "bool";
    else if (tag >= 0xc4 && tag <= 0xc6) what = "bin";
    else if ((tag >= 0xc7 && tag <= 0xc9) || (tag >= 0xd4 && tag <= 0xd8)) what = "ext";
    else if (tag == 0xca || tag == 0xcb) what = "float";
    else if (tag >= 0xcc && tag <= 0xcf) what = "uint";
    else if (tag >= 0xd0 && tag <= 0xd3) what = "int";
    else if (tag >= 0xd9 && tag <= 0xdb) what = "str";
    else if (tag == 0xdc || tag == 0xdd) what = "array";
    else if (tag == 0xde || tag == 0xdf) what = "map";
    char buf[48];
    std::snprintf(buf, sizeof buf, "%s (0x%02x)", what, tag);
    return buf;
}

const char* name_of(wire_part part) noexcept { return part == wire_part::envelope ? "envelope" : "payload"; }

std::string in_field(wire_part part, const char* field) {
    return std::string(name_of(part)) + " field '" + field + "': ";
}

/// A value of the wrong type: malformed in the envelope (courier wrote it), type_mismatch in a
/// payload (valid msgpack the application sent as another type).
errc wrong_type_kind(wire_part part) noexcept {
    return part == wire_part::envelope ? errc::malformed : errc::type_mismatch;
}

} // namespace

void reader::ended(const char* field) const {
    throw error(errc::truncated, in_field(part_, field) + "input ends at byte " + std::to_string(offset()));
}

void reader::short_of(std::size_t n, const char* field) const {
    throw error(errc::truncated, in_field(part_, field) + "declares " + std::to_string(n) + " bytes but only " +
                                     std::to_string(remaining()) + " remain");
}

void reader::wrong_type(const char* field, const char* expected, std::uint8_t tag) const {
    if (tag == 0xc1)
        throw error(errc::malformed, in_field(part_, field) + describe(tag) + " is not valid msgpack, at byte " +
                                         std::to_string(offset() - 1));
    throw error(wrong_type_kind(part_), in_field(part_, field) + "expected " + expected + ", found " + describe(tag) +
                                            " at byte " + std::to_string(offset() - 1));
}

void reader::mismatch(const char* field, const char* why) const {
    throw error(wrong_type_kind(part_), in_field(part_, field) + why);
}

void reader::out_of_range(const char* field, std::uint64_t bits, bool negative, int bits_wanted,
                          bool is_signed) const {
    const auto value = negative ? std::to_string(static_cast<std::int64_t>(bits)) : std::to_string(bits);
    mismatch(field, (value + " does not fit a " + std::to_string(bits_wanted) + "-bit " +
                     (is_signed ? "signed" : "unsigned") + " integer")
                        .c_str());
}

void reader::over_budget(const char* field, std::uint64_t wanted) const {
    throw error(errc::limit_exceeded, in_field(part_, field) + "decoding needs " + std::to_string(wanted) +
                                          " more bytes at byte " + std::to_string(offset()) +
                                          ", over max_decoded_bytes (" +
                                          std::to_string(limits_.max_decoded_bytes) + ") for the " +
                                          name_of(part_));
}

void reader::too_deep(const char* field) const {
    throw error(errc::limit_exceeded, in_field(part_, field) + "nested deeper than " +
                                          std::to_string(limits_.max_depth));
}

void reader::too_many(const char* field, std::uint64_t n, std::size_t bytes_per_element, const char* noun) const {
    if (n > remaining() / bytes_per_element)
        throw error(errc::truncated, in_field(part_, field) + "declares " + std::to_string(n) + " " + noun +
                                         " but only " + std::to_string(remaining()) + " bytes remain");
    throw error(errc::limit_exceeded, in_field(part_, field) + "declares more than max_elements (" +
                                          std::to_string(limits_.max_elements) + ") elements");
}

void reader::trailing() const {
    throw error(errc::malformed, std::string(name_of(part_)) + ": " + std::to_string(remaining()) +
                                     " bytes after the msgpack value");
}

void reader::time_out_of_range(const char* field, timestamp t, std::intmax_t num, std::intmax_t den, int digits,
                               bool is_signed) const {
    mismatch(field, ("timestamp " + std::to_string(t.seconds) + " s + " + std::to_string(t.nanoseconds) +
                     " ns is outside a time_point of " + std::to_string(num) + "/" + std::to_string(den) +
                     " s ticks counted in a " + std::to_string(digits + (is_signed ? 1 : 0)) + "-bit " +
                     (is_signed ? "signed" : "unsigned") + " integer")
                        .c_str());
}

timestamp reader::time(const char* field) {
    const auto tag = byte(field);
    std::size_t n;
    switch (tag) {
    case 0xd6: n = 4; break;
    case 0xd7: n = 8; break;
    case 0xc7: n = big_endian<1>(field); break;
    case 0xc8: n = big_endian<2>(field); break;
    case 0xc9: n = big_endian<4>(field); break;
    default: wrong_type(field, "a timestamp (ext -1)", tag);
    }
    const auto type = static_cast<std::int8_t>(byte(field));
    const auto* p = take(n, field);
    if (type != -1 || (n != 4 && n != 8 && n != 12))
        mismatch(field, ("expected a timestamp (ext -1 of 4, 8 or 12 bytes), found ext " + std::to_string(type) +
                         " of " + std::to_string(n) + " bytes at byte " + std::to_string(p - begin_ - 1))
                            .c_str());
    auto load = [p](std::size_t from, std::size_t bytes) {
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < bytes; ++i) v = (v << 8) | static_cast<std::uint8_t>(p[from + i]);
        return v;
    };
    timestamp t{};
    if (n == 4) {
        t = {static_cast<std::int64_t>(load(0, 4)), 0};
    } else if (n == 8) {
        const auto v = load(0, 8);
        t = {static_cast<std::int64_t>(v & 0x3ffffffffu), static_cast<std::uint32_t>(v >> 34)};
    } else {
        t = {static_cast<std::int64_t>(load(4, 8)), static_cast<std::uint32_t>(load(0, 4))};
    }
    if (t.nanoseconds >= 1'000'000'000u)
        throw error(errc::malformed, in_field(part_, field) + "timestamp with " + std::to_string(t.nanoseconds) +
                                         " nanoseconds (the msgpack spec allows at most 999999999)");
    return t;
}

value_count reader::scan(const char* field, std::size_t depth) {
    // Iterative: `pending` counts values still to skip at any level; each iteration consumes at
    // least one byte, so a huge declared count fails at the end of input, never loops on.
    const std::size_t max_depth = std::min<std::size_t>(limits_.max_depth, 64);
    std::uint64_t pending = 1;
    std::size_t level = depth;
    std::uint64_t left_at_level[64] = {};
    value_count count;
    while (pending != 0) {
        const auto tag = byte(field);
        ++count.values;
        std::uint64_t children = 0;
        std::size_t skip_bytes = 0;
        if (tag <= 0x7f || tag >= 0xe0 || tag == 0xc0 || tag == 0xc2 || tag == 0xc3) {
        } else if ((tag & 0xf0) == 0x80) children = 2u * (tag & 0x0f);
        else if ((tag & 0xf0) == 0x90) children = tag & 0x0f;
        else if ((tag & 0xe0) == 0xa0) skip_bytes = tag & 0x1f;
        else switch (tag) {
            case 0xc4: case 0xd9: skip_bytes = big_endian<1>(field); break;
            case 0xc5: case 0xda: skip_bytes = big_endian<2>(field); break;
            case 0xc6: case 0xdb: skip_bytes = big_endian<4>(field); break;
            case 0xc7: skip_bytes = 1 + big_endian<1>(field); break;
            case 0xc8: skip_bytes = 1 + big_endian<2>(field); break;
            case 0xc9: skip_bytes = 1 + big_endian<4>(field); break;
            case 0xca: skip_bytes = 4; break;
            case 0xcb: skip_bytes = 8; break;
            case 0xcc: case 0xd0: skip_bytes = 1; break;
            case 0xcd: case 0xd1: skip_bytes = 2; break;
            case 0xce: case 0xd2: skip_bytes = 4; break;
            case 0xcf: case 0xd3: skip_bytes = 8; break;
            case 0xd4: skip_bytes = 2; break;
            case 0xd5: skip_bytes = 3; break;
            case 0xd6: skip_bytes = 5; break;
            case 0xd7: skip_bytes = 9; break;
            case 0xd8: skip_bytes = 17; break;
            case 0xdc: children = big_endian<2>(field); break;
            case 0xdd: children = big_endian<4>(field); break;
            case 0xde: children = 2 * big_endian<2>(field); break;
            case 0xdf: children = 2 * big_endian<4>(field); break;
            default: wrong_type(field, "a msgpack value", tag); // 0xc1: malformed
            }
        take(skip_bytes, field);
        count.bytes += skip_bytes;
        --pending;
        if (children != 0) {
            const bool map = (tag & 0xf0) == 0x80 || tag == 0xde || tag == 0xdf;
            const auto elements = map ? children / 2 : children;
            if (children > remaining() || elements > limits_.max_elements)
                too_many(field, elements, map ? 2 : 1, map ? "entries" : "elements");
            if (level >= max_depth) too_deep(field);
            left_at_level[level++] = pending;
            pending = children;
        }
        while (pending == 0 && level != depth) pending = left_at_level[--level];
    }
    return count;
}

} // namespace courier::detail
