#pragma once
// Private: the one strict msgpack reader, for the envelope (src/wire/envelope_parse.cpp) and for payloads
// (the fields codec, detail/fields_read.hpp). Every read is bounds-checked against the input;
// nothing here allocates. What is read (the envelope or a payload) names the errors and decides
// whether a wrong type is malformed or type_mismatch; the limits are parameters. The hot halves
// are inline; the throwing halves, describe() and the iterative skip are in src/wire/reader.cpp.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string_view>
#include <type_traits>

namespace courier::detail {

/// A msgpack timestamp: seconds since the Unix epoch, and nanoseconds in [0, 1e9).
struct timestamp {
    std::int64_t seconds;
    std::uint32_t nanoseconds;
};

/// Values and bytes in a run of msgpack: what decoding it through msgpack-cxx costs.
struct value_count {
    std::uint64_t values = 0; ///< msgpack values, containers and their elements included
    std::uint64_t bytes = 0;  ///< bytes other than type and length headers (str, bin, ext bodies...)
};

/// True if the `n` bytes at `p` are those of `name`: word compares, no call (n is a constant).
template <std::size_t n>
[[gnu::always_inline]] inline bool same_bytes(const std::byte* p, const char* name) noexcept {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t a, b;
        std::memcpy(&a, p + i, 8);
        std::memcpy(&b, name + i, 8);
        if (a != b) return false;
    }
    if constexpr (n % 8 >= 4) {
        std::uint32_t a, b;
        std::memcpy(&a, p + i, 4);
        std::memcpy(&b, name + i, 4);
        if (a != b) return false;
        i += 4;
    }
    for (; i < n; ++i)
        if (p[i] != static_cast<std::byte>(name[i])) return false;
    return true;
}

/// What a reader reads: the prefix of its errors, and what a wrong type is.
enum class wire_part : std::uint8_t {
    envelope, ///< "envelope field 'x': ..."; a wrong type is malformed (courier wrote the envelope)
    payload,  ///< "payload field 'x': ..."; a wrong type is type_mismatch (valid msgpack, another type)
};

/// What a reader enforces: on containers read with a depth (array_header(f, d), map_header(f, d),
/// skip, scan) and on charge().
struct read_limits {
    std::size_t max_depth = 64;                                         ///< 1 .. 64: containers within containers
    std::size_t max_elements = std::numeric_limits<std::size_t>::max(); ///< elements of one array or map, 1 ..
    std::size_t max_decoded_bytes = std::numeric_limits<std::size_t>::max(); ///< what charge() may take, 1 ..
};

/// A strict msgpack reader over one byte range. Every declared length is checked against the
/// bytes left; every declared count read with a depth is checked against the bytes left (an
/// element takes at least one byte) and the limits before anything is reserved. Errors are
/// courier::error naming the part and the field: truncated, malformed, limit_exceeded, and
/// type_mismatch (payload) or malformed (envelope) for a wrong type.
/// @par Thread safety: one thread at a time; the input must outlive the reader.
class reader {
public:
    explicit reader(std::span<const std::byte> in, wire_part part = wire_part::envelope,
                    const read_limits& limits = {}) noexcept
        : begin_(in.data()), pos_(in.data()), end_(in.data() + in.size()), limits_(limits),
          budget_(limits.max_decoded_bytes), part_(part) {}

    std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - pos_); }
    std::size_t offset() const noexcept { return static_cast<std::size_t>(pos_ - begin_); }
    const std::byte* position() const noexcept { return pos_; }
    const read_limits& limits() const noexcept { return limits_; }

    /// Takes `n` bytes of decoded memory from what max_decoded_bytes leaves, before they are
    /// allocated; limit_exceeded naming the field when they are not there.
    [[gnu::always_inline]] void charge(std::uint64_t n, const char* field) {
        if (n > budget_) [[unlikely]]
            over_budget(field, n);
        budget_ -= static_cast<std::size_t>(n);
    }
    /// charge(n * each), without overflow.
    [[gnu::always_inline]] void charge_elements(std::uint64_t n, std::size_t each, const char* field) {
        if (n > budget_ / each) [[unlikely]]
            over_budget(field, n * each);
        budget_ -= static_cast<std::size_t>(n * each);
    }

    /// A map or array header, its count unchecked (the caller checks it against its own limit).
    [[gnu::always_inline]] std::uint32_t map_header(const char* field) {
        const auto tag = byte(field);
        if ((tag & 0xf0) == 0x80) return tag & 0x0f;
        if (tag == 0xde) return static_cast<std::uint32_t>(big_endian<2>(field));
        if (tag == 0xdf) return static_cast<std::uint32_t>(big_endian<4>(field));
        wrong_type(field, "a map", tag);
    }
    [[gnu::always_inline]] std::uint32_t array_header(const char* field) {
        const auto tag = byte(field);
        if ((tag & 0xf0) == 0x90) return tag & 0x0f;
        if (tag == 0xdc) return static_cast<std::uint32_t>(big_endian<2>(field));
        if (tag == 0xdd) return static_cast<std::uint32_t>(big_endian<4>(field));
        wrong_type(field, "an array", tag);
    }
    /// A map or array header for a container at nesting level depth + 1, its count checked.
    [[gnu::always_inline]] std::uint32_t map_header(const char* field, std::size_t depth) {
        const auto n = map_header(field);
        check_container(field, n, 2, depth);
        return n;
    }
    [[gnu::always_inline]] std::uint32_t array_header(const char* field, std::size_t depth) {
        const auto n = array_header(field);
        check_container(field, n, 1, depth);
        return n;
    }

    /// Consumes the key `name` if it is next, in the shortest str form (what msgpack writers
    /// write); anything else is left for key().
    template <std::size_t N>
    [[gnu::always_inline]] bool expect_key(const char (&name)[N]) noexcept {
        constexpr std::size_t n = N - 1;
        if constexpr (n < 32) {
            if (remaining() < n + 1 || static_cast<std::uint8_t>(pos_[0]) != (0xa0 | n) || !same_bytes<n>(pos_ + 1, name))
                return false;
            pos_ += n + 1;
            return true;
        } else {
            return expect_key(std::string_view(name, n));
        }
    }
    bool expect_key(std::string_view name) noexcept {
        auto save = pos_;
        if (pos_ == end_) return false;
        const auto tag = static_cast<std::uint8_t>(*pos_);
        std::size_t n;
        if ((tag & 0xe0) == 0xa0) n = tag & 0x1f, pos_ += 1;
        else if (tag == 0xd9 && remaining() >= 2) n = static_cast<std::uint8_t>(pos_[1]), pos_ += 2;
        else return false;
        if (n == name.size() && remaining() >= n && std::memcmp(pos_, name.data(), n) == 0) {
            pos_ += n;
            return true;
        }
        pos_ = save;
        return false;
    }
    /// Any map key: a str (msgpack-cxx refuses other key types for a struct).
    std::string_view key() { return str("key"); }

    /// A str.
    std::string_view str(const char* field) {
        const auto tag = byte(field);
        std::size_t n;
        if ((tag & 0xe0) == 0xa0) n = tag & 0x1f;
        else if (tag == 0xd9) n = big_endian<1>(field);
        else if (tag == 0xda) n = big_endian<2>(field);
        else if (tag == 0xdb) n = big_endian<4>(field);
        else wrong_type(field, "a string", tag);
        return {reinterpret_cast<const char*>(take(n, field)), n};
    }
    /// A bin.
    std::span<const std::byte> bin(const char* field) {
        const auto tag = byte(field);
        std::size_t n;
        if (tag == 0xc4) n = big_endian<1>(field);
        else if (tag == 0xc5) n = big_endian<2>(field);
        else if (tag == 0xc6) n = big_endian<4>(field);
        else wrong_type(field, "bin (raw bytes)", tag);
        return {take(n, field), n};
    }
    /// A str or bin (msgpack-cxx converts either to a string or a byte vector).
    [[gnu::always_inline]] std::span<const std::byte> text(const char* field) {
        const auto tag = byte(field);
        std::size_t n;
        if ((tag & 0xe0) == 0xa0) n = tag & 0x1f;
        else if (tag == 0xd9 || tag == 0xc4) n = big_endian<1>(field);
        else if (tag == 0xda || tag == 0xc5) n = big_endian<2>(field);
        else if (tag == 0xdb || tag == 0xc6) n = big_endian<4>(field);
        else wrong_type(field, "a string or bin", tag);
        return {take(n, field), n};
    }

    [[gnu::always_inline]] bool boolean(const char* field) {
        const auto tag = byte(field);
        if (tag == 0xc2) return false;
        if (tag == 0xc3) return true;
        wrong_type(field, "a bool", tag);
    }
    /// True (and consumed) if the next value is nil.
    bool nil() noexcept {
        if (pos_ != end_ && static_cast<std::uint8_t>(*pos_) == 0xc0) {
            ++pos_;
            return true;
        }
        return false;
    }

    /// A uint of any width (a negative int is a wrong type, not a range error).
    std::uint64_t uint(const char* field) {
        const auto tag = byte(field);
        if (tag <= 0x7f) return tag;
        switch (tag) {
        case 0xcc: return big_endian<1>(field);
        case 0xcd: return big_endian<2>(field);
        case 0xce: return big_endian<4>(field);
        case 0xcf: return big_endian<8>(field);
        default: wrong_type(field, "an unsigned integer", tag);
        }
    }
    /// Any integer form whose value fits an I.
    template <class I>
    [[gnu::always_inline]] I integer(const char* field) {
        const auto v = any_integer(field);
        if constexpr (std::is_unsigned_v<I>) {
            if (v.negative || v.bits > std::numeric_limits<I>::max()) [[unlikely]]
                out_of_range(field, v.bits, v.negative, std::numeric_limits<I>::digits, false);
            return static_cast<I>(v.bits);
        } else {
            const bool fits = v.negative ? static_cast<std::int64_t>(v.bits) >= std::numeric_limits<I>::min()
                                         : v.bits <= static_cast<std::uint64_t>(std::numeric_limits<I>::max());
            if (!fits) [[unlikely]]
                out_of_range(field, v.bits, v.negative, std::numeric_limits<I>::digits + 1, true);
            return static_cast<I>(static_cast<std::int64_t>(v.bits));
        }
    }
    /// float32, float64, or any integer (converted), as msgpack-cxx accepts for float and double.
    template <class F>
    [[gnu::always_inline]] F floating(const char* field) {
        if (pos_ != end_) {
            const auto tag = static_cast<std::uint8_t>(*pos_);
            if (tag == 0xcb) {
                ++pos_;
                return static_cast<F>(std::bit_cast<double>(big_endian<8>(field)));
            }
            if (tag == 0xca) {
                ++pos_;
                return static_cast<F>(std::bit_cast<float>(static_cast<std::uint32_t>(big_endian<4>(field))));
            }
        }
        const auto v = any_integer(field, "a number");
        return v.negative ? static_cast<F>(static_cast<std::int64_t>(v.bits)) : static_cast<F>(v.bits);
    }
    /// A msgpack timestamp (ext type -1 of 4, 8 or 12 bytes, in any ext form). A wrong type for
    /// another type, malformed for nanoseconds of 1e9 or more (the msgpack spec forbids them).
    timestamp time(const char* field);

    /// Skips one well-formed value of any type, nested in `depth` containers.
    void skip(const char* field, std::size_t depth) { (void)scan(field, depth); }
    /// skip(), counting what it skipped. Iterative: no recursion whatever the input nests.
    value_count scan(const char* field, std::size_t depth);

    /// Throws malformed: bytes are left after the value.
    [[noreturn, gnu::cold]] void trailing() const;
    /// Throws the wrong-type error for `field` (the kind this reader's part gives it).
    [[noreturn, gnu::cold]] void mismatch(const char* field, const char* why) const;
    [[noreturn, gnu::cold]] void time_out_of_range(const char* field, timestamp t, std::intmax_t num,
                                                   std::intmax_t den, int digits, bool is_signed) const;

private:
    struct integer_value {
        std::uint64_t bits; // the value; two's complement when negative
        bool negative;
    };
    [[gnu::always_inline]] integer_value any_integer(const char* field, const char* expected = "an integer") {
        const auto tag = byte(field);
        if (tag <= 0x7f) return {tag, false};
        if (tag >= 0xe0) return {static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<std::int8_t>(tag))), true};
        switch (tag) {
        case 0xcc: return {big_endian<1>(field), false};
        case 0xcd: return {big_endian<2>(field), false};
        case 0xce: return {big_endian<4>(field), false};
        case 0xcf: return {big_endian<8>(field), false};
        case 0xd0: return signed_value(static_cast<std::int8_t>(big_endian<1>(field)));
        case 0xd1: return signed_value(static_cast<std::int16_t>(big_endian<2>(field)));
        case 0xd2: return signed_value(static_cast<std::int32_t>(big_endian<4>(field)));
        case 0xd3: return signed_value(static_cast<std::int64_t>(big_endian<8>(field)));
        default: wrong_type(field, expected, tag);
        }
    }
    static integer_value signed_value(std::int64_t v) noexcept { return {static_cast<std::uint64_t>(v), v < 0}; }

    [[gnu::always_inline]] void check_container(const char* field, std::uint32_t n, std::size_t bytes_per_element,
                                                std::size_t depth) {
        if (depth >= limits_.max_depth) [[unlikely]]
            too_deep(field);
        if (n > remaining() / bytes_per_element || n > limits_.max_elements) [[unlikely]]
            too_many(field, n, bytes_per_element);
    }

    [[gnu::always_inline]] std::uint8_t byte(const char* field) {
        if (pos_ == end_) [[unlikely]]
            ended(field);
        return static_cast<std::uint8_t>(*pos_++);
    }
    [[gnu::always_inline]] const std::byte* take(std::size_t n, const char* field) {
        if (n > remaining()) [[unlikely]]
            short_of(n, field);
        auto p = pos_;
        pos_ += n;
        return p;
    }
    template <std::size_t N>
    [[gnu::always_inline]] std::uint64_t big_endian(const char* field) {
        auto p = take(N, field);
        if constexpr (N == 1) {
            return static_cast<std::uint8_t>(*p);
        } else if constexpr (N == 2) {
            std::uint16_t v;
            std::memcpy(&v, p, 2);
            return __builtin_bswap16(v);
        } else if constexpr (N == 4) {
            std::uint32_t v;
            std::memcpy(&v, p, 4);
            return __builtin_bswap32(v);
        } else {
            std::uint64_t v;
            std::memcpy(&v, p, 8);
            return __builtin_bswap64(v);
        }
    }

    [[noreturn, gnu::cold]] void ended(const char* field) const;
    [[noreturn, gnu::cold]] void short_of(std::size_t n, const char* field) const;
    [[noreturn, gnu::cold]] void wrong_type(const char* field, const char* expected, std::uint8_t tag) const;
    [[noreturn, gnu::cold]] void out_of_range(const char* field, std::uint64_t bits, bool negative, int bits_wanted,
                                              bool is_signed) const;
    [[noreturn, gnu::cold]] void too_deep(const char* field) const;
    [[noreturn, gnu::cold]] void too_many(const char* field, std::uint64_t n, std::size_t bytes_per_element,
                                          const char* noun = "elements") const;
    [[noreturn, gnu::cold]] void over_budget(const char* field, std::uint64_t wanted) const;

    const std::byte* begin_;
    const std::byte* pos_;
    const std::byte* end_;
    read_limits limits_;
    std::size_t budget_; // bytes of decoded memory still allowed (max_decoded_bytes, less charges)
    wire_part part_;
};

} // namespace courier::detail
