#include "courier/codec.hpp"

#include <algorithm>
#include <cstdio>

namespace courier::detail {

buffer& scratch() noexcept {
    thread_local buffer b;
    b.clear();
    return b;
}

namespace {

[[noreturn]] void too_many(const decode_limits& limits, std::size_t cap, const char* what) {
    if (cap < limits.max_elements)
        throw error(errc::truncated, std::string("payload: ") + what + " declares more elements than its " +
                                         std::to_string(cap) + "-byte input can hold");
    throw error(errc::limit_exceeded, std::string("payload: ") + what + " declares more than max_elements (" +
                                          std::to_string(limits.max_elements) + ") elements");
}

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

std::string in_field(const char* field) { return std::string("payload field '") + field + "': "; }

} // namespace

[[noreturn]] void decoded_too_large(std::uint64_t wanted, const decode_limits& limits) {
    throw error(errc::limit_exceeded, "payload: decoding it would take about " + std::to_string(wanted) +
                                          " bytes, over max_decoded_bytes (" +
                                          std::to_string(limits.max_decoded_bytes) + ")");
}

namespace {

// Counts `in` (one msgpack value); limit_exceeded if decoding it through msgpack-cxx would cost
// more than max_decoded_bytes.
void check_budget(std::span<const std::byte> in, const decode_limits& limits) {
    payload_reader r(in, limits);
    const auto count = r.scan("payload", 0); // also refuses what unpack would refuse, earlier
    if (msgpack_cost(count) > limits.max_decoded_bytes) decoded_too_large(msgpack_cost(count), limits);
}

} // namespace

msgpack::zone& payload_zone() {
    thread_local msgpack::zone zone;
    zone.clear();
    return zone;
}

msgpack::object unpack_payload(std::span<const std::byte> in, const decode_limits& limits, msgpack::zone& zone) {
    // Every element takes at least one byte, so no count may exceed the input's size: the zone
    // never reserves more than a small multiple of the frame, whatever the input declares.
    const std::size_t size = in.size();
    // The same bound makes counting needless for all but large inputs: at most `size` values.
    constexpr std::uint64_t most_per_byte = msgpack_cost({1, 1});
    if (size > limits.max_decoded_bytes / most_per_byte) [[unlikely]]
        check_budget(in, limits);
    const msgpack::unpack_limit limit(std::min(limits.max_elements, size),     // array
                                      std::min(limits.max_elements, size / 2), // map
                                      size, size, size,                        // str, bin, ext
                                      limits.max_depth);
    std::size_t offset = 0;
    bool referenced = false;
    msgpack::object object;
    try {
        // Strings, bins and exts are referenced in `in`, not copied into the zone: the object
        // is converted before the caller's input goes away.
        object = msgpack::unpack(zone, reinterpret_cast<const char*>(in.data()), size, offset, referenced,
                                 [](msgpack::type::object_type, std::size_t, void*) { return true; }, nullptr,
                                 limit);
    } catch (const msgpack::insufficient_bytes&) {
        throw error(errc::truncated, "payload: input ends before the msgpack value it declares (" +
                                         std::to_string(size) + " bytes)");
    } catch (const msgpack::array_size_overflow&) {
        too_many(limits, size, "an array");
    } catch (const msgpack::map_size_overflow&) {
        too_many(limits, size / 2, "a map");
    } catch (const msgpack::depth_size_overflow&) {
        throw error(errc::limit_exceeded, "payload: nested deeper than " + std::to_string(limits.max_depth));
    } catch (const msgpack::size_overflow& e) {
        throw error(errc::limit_exceeded, std::string("payload: a declared length or count is over the limit (") +
                                              e.what() + ")");
    } catch (const msgpack::parse_error& e) {
        throw error(errc::malformed, std::string("payload: not valid msgpack (") + e.what() + ")");
    } catch (const msgpack::unpack_error& e) {
        throw error(errc::malformed, std::string("payload: ") + e.what());
    }
    if (offset != size)
        throw error(errc::malformed, "payload: " + std::to_string(size - offset) +
                                         " bytes after the msgpack value");
    return object;
}

void throw_type_mismatch(std::string_view sent, std::string_view wanted, const char* why) {
    throw error(errc::type_mismatch, "payload sent as '" + std::string(sent) + "' cannot be read as '" +
                                         std::string(wanted) + "': " + why);
}

// ---- payload_reader: the cold halves, and skipping ----

void payload_reader::ended(const char* field) const {
    throw error(errc::truncated, in_field(field) + "input ends at byte " + std::to_string(pos_ - begin_));
}

void payload_reader::short_of(std::size_t n, const char* field) const {
    throw error(errc::truncated, in_field(field) + "declares " + std::to_string(n) + " bytes but only " +
                                     std::to_string(remaining()) + " remain");
}

void payload_reader::wrong_type(const char* field, const char* expected, std::uint8_t tag) const {
    if (tag == 0xc1)
        throw error(errc::malformed, in_field(field) + describe(tag) + " is not valid msgpack, at byte " +
                                         std::to_string(pos_ - begin_ - 1));
    throw error(errc::type_mismatch, in_field(field) + "expected " + expected + ", found " + describe(tag) +
                                         " at byte " + std::to_string(pos_ - begin_ - 1));
}

void payload_reader::out_of_range(const char* field, std::uint64_t bits, bool negative, int bits_wanted,
                                  bool is_signed) const {
    const auto value = negative ? std::to_string(static_cast<std::int64_t>(bits)) : std::to_string(bits);
    throw error(errc::type_mismatch, in_field(field) + value + " does not fit a " + std::to_string(bits_wanted) +
                                         "-bit " + (is_signed ? "signed" : "unsigned") + " integer");
}

void payload_reader::over_budget(const char* field, std::uint64_t wanted) const {
    throw error(errc::limit_exceeded, in_field(field) + "decoding needs " + std::to_string(wanted) +
                                          " more bytes at byte " + std::to_string(pos_ - begin_) +
                                          ", over max_decoded_bytes (" + std::to_string(limits_.max_decoded_bytes) +
                                          ") for the payload");
}

timestamp payload_reader::time(const char* field) {
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
        throw error(errc::type_mismatch, in_field(field) + "expected a timestamp (ext -1 of 4, 8 or 12 bytes), found ext " +
                                             std::to_string(type) + " of " + std::to_string(n) + " bytes at byte " +
                                             std::to_string(p - begin_ - 1));
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
        throw error(errc::malformed, in_field(field) + "timestamp with " + std::to_string(t.nanoseconds) +
                                         " nanoseconds (the msgpack spec allows at most 999999999)");
    return t;
}

void payload_reader::time_out_of_range(const char* field, timestamp t, std::intmax_t num, std::intmax_t den,
                                       int digits, bool is_signed) const {
    throw error(errc::type_mismatch, in_field(field) + "timestamp " + std::to_string(t.seconds) + " s + " +
                                         std::to_string(t.nanoseconds) + " ns is outside a time_point of " +
                                         std::to_string(num) + "/" + std::to_string(den) + " s ticks counted in a " +
                                         std::to_string(digits + (is_signed ? 1 : 0)) + "-bit " +
                                         (is_signed ? "signed" : "unsigned") + " integer");
}

void payload_reader::too_deep(const char* field) const {
    throw error(errc::limit_exceeded, in_field(field) + "nested deeper than " + std::to_string(limits_.max_depth));
}

void payload_reader::too_many(const char* field, std::uint32_t n, std::size_t bytes_per_element) const {
    if (n > remaining() / bytes_per_element)
        throw error(errc::truncated, in_field(field) + "declares " + std::to_string(n) + " elements but only " +
                                         std::to_string(remaining()) + " bytes remain");
    throw error(errc::limit_exceeded, in_field(field) + "declares more than max_elements (" +
                                          std::to_string(limits_.max_elements) + ") elements");
}

void payload_reader::trailing() const {
    throw error(errc::malformed, "payload: " + std::to_string(remaining()) + " bytes after the msgpack value");
}

value_count payload_reader::scan(const char* field, std::size_t depth) {
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
            default:
                throw error(errc::malformed, in_field(field) + describe(tag) + " is not valid msgpack, at byte " +
                                                 std::to_string(pos_ - begin_ - 1));
            }
        take(skip_bytes, field);
        count.bytes += skip_bytes;
        --pending;
        if (children != 0) {
            const bool map = (tag & 0xf0) == 0x80 || tag == 0xde || tag == 0xdf;
            const auto elements = map ? children / 2 : children;
            if (children > remaining())
                throw error(errc::truncated, in_field(field) + "declares " + std::to_string(elements) +
                                                 (map ? " entries" : " elements") + " but only " +
                                                 std::to_string(remaining()) + " bytes remain");
            if (elements > limits_.max_elements)
                throw error(errc::limit_exceeded, in_field(field) + "declares more than max_elements (" +
                                                      std::to_string(limits_.max_elements) + ") elements");
            if (level >= max_depth) too_deep(field);
            left_at_level[level++] = pending;
            pending = children;
        }
        while (pending == 0 && level != depth) pending = left_at_level[--level];
    }
    return count;
}

void unpack_member(payload_reader& r, const char* field, std::size_t depth, msgpack::object& out) {
    const auto start = r.position();
    // Validates the value under the limits before msgpack-cxx sees it, and counts what it costs.
    r.charge(msgpack_cost(r.scan(field, depth)), field);
    decode_limits limits = r.limits();
    limits.max_depth = std::max<std::size_t>(1, limits.max_depth - std::min(depth, limits.max_depth));
    limits.max_decoded_bytes = SIZE_MAX; // charged above
    out = unpack_payload({start, r.position()}, limits, payload_zone());
}

void member_mismatch(const char* field, const char* why) {
    throw error(errc::type_mismatch, in_field(field) + why);
}

} // namespace courier::detail
