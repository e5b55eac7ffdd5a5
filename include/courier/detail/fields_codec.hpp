#pragma once
// Private: courier's own encoder and decoder for COURIER_FIELDS types (courier/fields.hpp).
// Encoding writes exactly what msgpack-cxx writes for the same MSGPACK_DEFINE_MAP struct;
// decoding reads the payload bytes straight into the struct, accepting what msgpack-cxx's
// conversions accept, under the receiver's decode_limits. No msgpack::object, no zone, no key
// map; scalar members allocate nothing.

#include "courier/detail/payload.hpp"
#include "courier/detail/wire.hpp"
#include "courier/envelope.hpp"
#include "courier/fields.hpp"

#include <algorithm>
#include <bit>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <ratio>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace courier::detail {

// ---- which member types courier reads and writes itself ---------------------------------------

template <class T>
struct is_optional : std::false_type {};
template <class U>
struct is_optional<std::optional<U>> : std::true_type {};

template <class T>
struct is_vector : std::false_type {};
template <class U>
struct is_vector<std::vector<U>> : std::true_type {};

/// Element types whose vectors travel as bin, as msgpack-cxx sends them.
template <class T>
concept byte_like = std::same_as<T, std::byte> || std::same_as<T, char> || std::same_as<T, unsigned char>;
template <class T>
concept byte_vector = is_vector<T>::value && byte_like<typename T::value_type>;

/// The integer types msgpack-cxx packs as integers (not bool, not the character types beyond char).
template <class T>
concept plain_integer = std::integral<T> && !std::same_as<T, bool> && !std::same_as<T, wchar_t> &&
                        !std::same_as<T, char8_t> && !std::same_as<T, char16_t> && !std::same_as<T, char32_t>;

/// A std::chrono::time_point with an arithmetic tick count: travels as a msgpack timestamp
/// (ext -1), written by msgpack-cxx, read by courier with its range checked.
template <class T>
struct is_time_point : std::false_type {};
template <class Clock, class Rep, class Period>
struct is_time_point<std::chrono::time_point<Clock, std::chrono::duration<Rep, Period>>>
    : std::bool_constant<std::is_arithmetic_v<Rep> && !std::is_same_v<Rep, bool>> {};

/// Members of a fixed size on the wire's side: read and written inline.
template <class T>
constexpr bool scalar = std::is_same_v<T, bool> || plain_integer<T> || std::is_enum_v<T> || std::is_same_v<T, float> ||
                        std::is_same_v<T, double>;

/// A payload type courier decodes itself at the top level: a described struct or a time_point,
/// or a vector or optional of one.
template <class T>
constexpr bool fast_payload() {
    if constexpr (described<T> || is_time_point<T>::value) return true;
    else if constexpr (is_vector<T>::value || is_optional<T>::value) return fast_payload<typename T::value_type>();
    else return false;
}

// ---- reading ----------------------------------------------------------------------------------

/// A msgpack timestamp: seconds since the Unix epoch, and nanoseconds in [0, 1e9).
struct timestamp {
    std::int64_t seconds;
    std::uint32_t nanoseconds;
};

/// `t` as a count of Duration's ticks since the epoch, truncated toward zero (as duration_cast
/// truncates); false when Duration's rep cannot hold it. Exact: 128-bit arithmetic, no overflow.
template <class Duration>
bool to_duration(timestamp t, Duration& out) noexcept {
    using rep = typename Duration::rep;
    using ticks_per_ns = std::ratio_divide<std::nano, typename Duration::period>;
    __extension__ typedef __int128 wide;
    const wide ns = static_cast<wide>(t.seconds) * 1'000'000'000 + t.nanoseconds; // |ns| < 2^94
    if constexpr (std::is_floating_point_v<rep>) {
        // At most 2^94 * 10^18 / 1: within float's range, so never infinite.
        out = Duration(static_cast<rep>(static_cast<long double>(ns) * ticks_per_ns::num / ticks_per_ns::den));
        return true;
    } else {
        wide ticks;
        if (__builtin_mul_overflow(ns, static_cast<wide>(ticks_per_ns::num), &ticks)) return false;
        ticks /= ticks_per_ns::den;
        if (ticks < static_cast<wide>(std::numeric_limits<rep>::min()) ||
            ticks > static_cast<wide>(std::numeric_limits<rep>::max()))
            return false;
        out = Duration(static_cast<rep>(ticks));
        return true;
    }
}

/// Values and bytes in a run of msgpack: what decoding it through msgpack-cxx costs.
struct value_count {
    std::uint64_t values = 0; ///< msgpack values, containers and their elements included
    std::uint64_t bytes = 0;  ///< bytes other than type and length headers (str, bin, ext bodies...)
};
/// What decoding `c` through msgpack-cxx is charged against max_decoded_bytes: its object tree
/// (one msgpack::object per value, exact) and as much again for the value it converts into
/// (an estimate: msgpack-cxx's conversions cannot be counted), plus the bytes it may copy.
constexpr std::uint64_t msgpack_cost(value_count c) noexcept {
    return c.values * 2 * sizeof(msgpack::object) + c.bytes;
}

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

/// A strict msgpack reader over a payload. Every read is bounds-checked; every declared count
/// is checked against the bytes left (an element takes at least one byte) and the limits before
/// anything is reserved. Errors are courier::error: type_mismatch (valid msgpack, wrong type for
/// the member), truncated, malformed, limit_exceeded; each names the member.
class payload_reader {
public:
    payload_reader(std::span<const std::byte> in, const decode_limits& limits) noexcept
        : begin_(in.data()), pos_(in.data()), end_(in.data() + in.size()), limits_(limits),
          budget_(limits.max_decoded_bytes) {}

    std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - pos_); }
    const std::byte* position() const noexcept { return pos_; }
    const decode_limits& limits() const noexcept { return limits_; }

    /// Takes `n` bytes of decoded memory from what max_decoded_bytes leaves, before they are
    /// allocated; limit_exceeded naming the member when they are not there.
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

    /// A msgpack timestamp (ext type -1 of 4, 8 or 12 bytes, in any ext form). type_mismatch for
    /// another type, malformed for nanoseconds of 1e9 or more (the msgpack spec forbids them).
    timestamp time(const char* field);
    template <class T>
    [[gnu::always_inline]] T time_point(const char* field) {
        typename T::duration d;
        const auto t = time(field);
        if (!to_duration(t, d)) [[unlikely]]
            time_out_of_range(field, t, T::period::num, T::period::den, std::numeric_limits<typename T::rep>::digits,
                              std::is_signed_v<typename T::rep>);
        return T(d);
    }

    /// Reads a map header for a container at nesting level depth + 1.
    [[gnu::always_inline]] std::uint32_t map_header(const char* field, std::size_t depth) {
        const auto tag = byte(field);
        std::uint32_t n;
        if ((tag & 0xf0) == 0x80) n = tag & 0x0f;
        else if (tag == 0xde) n = static_cast<std::uint32_t>(big_endian<2>(field));
        else if (tag == 0xdf) n = static_cast<std::uint32_t>(big_endian<4>(field));
        else wrong_type(field, "a map", tag);
        check_container(field, n, 2, depth);
        return n;
    }
    [[gnu::always_inline]] std::uint32_t array_header(const char* field, std::size_t depth) {
        const auto tag = byte(field);
        std::uint32_t n;
        if ((tag & 0xf0) == 0x90) n = tag & 0x0f;
        else if (tag == 0xdc) n = static_cast<std::uint32_t>(big_endian<2>(field));
        else if (tag == 0xdd) n = static_cast<std::uint32_t>(big_endian<4>(field));
        else wrong_type(field, "an array", tag);
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
    std::string_view key() {
        const auto tag = byte("key");
        if ((tag & 0xe0) != 0xa0 && tag != 0xd9 && tag != 0xda && tag != 0xdb) wrong_type("key", "a string", tag);
        return str_body(tag, "key");
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

    /// Skips one well-formed value of any type, nested in `depth` containers.
    void skip(const char* field, std::size_t depth) { (void)scan(field, depth); }
    /// skip(), counting what it skipped.
    value_count scan(const char* field, std::size_t depth);
    [[noreturn, gnu::cold]] void trailing() const;

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

    std::string_view str_body(std::uint8_t tag, const char* field) {
        std::size_t n;
        if ((tag & 0xe0) == 0xa0) n = tag & 0x1f;
        else if (tag == 0xd9) n = big_endian<1>(field);
        else if (tag == 0xda) n = big_endian<2>(field);
        else n = big_endian<4>(field);
        return {reinterpret_cast<const char*>(take(n, field)), n};
    }

    [[gnu::always_inline]] void check_container(const char* field, std::uint32_t n, std::size_t bytes_per_element, std::size_t depth) {
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
    [[noreturn, gnu::cold]] void too_many(const char* field, std::uint32_t n, std::size_t bytes_per_element) const;
    [[noreturn, gnu::cold]] void over_budget(const char* field, std::uint64_t wanted) const;
    [[noreturn, gnu::cold]] void time_out_of_range(const char* field, timestamp t, std::intmax_t num, std::intmax_t den,
                                                   int digits, bool is_signed) const;

    const std::byte* begin_;
    const std::byte* pos_;
    const std::byte* end_;
    const decode_limits& limits_;
    std::size_t budget_; // bytes of decoded memory still allowed (max_decoded_bytes, less charges)
};

/// Decodes one member through msgpack-cxx (a type courier does not read itself).
void unpack_member(payload_reader& r, const char* field, std::size_t depth, msgpack::object& out);
[[noreturn]] void member_mismatch(const char* field, const char* why);

template <class T>
    requires(!scalar<T>)
void read_value(payload_reader& r, T& v, const char* field, std::size_t depth);

/// Scalars are read inline, where the struct's entries are read.
template <class T>
    requires scalar<T>
[[gnu::always_inline]] inline void read_value(payload_reader& r, T& v, const char* field, std::size_t) {
    if constexpr (std::is_same_v<T, bool>) v = r.boolean(field);
    else if constexpr (plain_integer<T>) v = r.integer<T>(field);
    else if constexpr (std::is_enum_v<T>) v = static_cast<T>(r.integer<std::underlying_type_t<T>>(field));
    else v = r.floating<T>(field);
}

template <class T>
std::string_view key_of(const T& name) noexcept {
    if constexpr (std::is_array_v<T>) return {name, std::extent_v<T> - 1};
    else return std::string_view(name);
}

/// Reads map entries while their keys come in the listed order: one compare each, straight-line.
/// Returns how many it read.
template <class... A>
[[gnu::always_inline]] inline std::uint32_t read_in_order(payload_reader& r, std::uint32_t n, std::size_t depth,
                                                          A&... a) {
    constexpr std::size_t fields = sizeof...(A) / 2;
    static_assert(sizeof...(A) % 2 == 0 && fields <= 64, "COURIER_FIELDS: at most 64 members");
    std::tuple<A&...> t(a...);
    std::uint32_t i = 0;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (void)((i < n && r.expect_key(std::get<2 * I>(t)) &&
                (read_value(r, std::get<2 * I + 1>(t), std::get<2 * I>(t), depth), ++i, true)) &&
               ...);
    }(std::make_index_sequence<fields>{});
    return i;
}

/// The entries after the first key out of the listed order: matched by search; a key seen
/// before (msgpack-cxx keeps the first) and unknown keys are skipped.
template <class... A>
void read_by_search(payload_reader& r, std::uint32_t n, std::uint32_t i, std::size_t depth, A&... a) {
    std::tuple<A&...> t(a...);
    std::uint64_t seen = i >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << i) - 1;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        for (; i < n; ++i) {
            const auto key = r.key();
            const bool known =
                ((key == key_of(std::get<2 * I>(t)) &&
                  (((seen >> I) & 1) != 0 ? r.skip(std::get<2 * I>(t), depth)
                                          : (read_value(r, std::get<2 * I + 1>(t), std::get<2 * I>(t), depth),
                                             void(seen |= std::uint64_t{1} << I)),
                   true)) ||
                 ...);
            if (!known) r.skip("unknown key", depth);
        }
    }(std::make_index_sequence<sizeof...(A) / 2>{});
}

template <class T>
[[gnu::noinline]] void read_rest(payload_reader& r, T& v, std::uint32_t n, std::uint32_t i, std::size_t depth) {
    v.courier_fields([&](auto&... a) { read_by_search(r, n, i, depth, a...); });
}

template <class T>
    requires(!scalar<T>)
void read_value(payload_reader& r, T& v, const char* field, std::size_t depth) {
    if constexpr (described<T>) {
        const auto n = r.map_header(field, depth);
        const auto i = v.courier_fields([&](auto&... a) { return read_in_order(r, n, depth + 1, a...); });
        if (i != n) [[unlikely]]
            read_rest(r, v, n, i, depth + 1);
    } else if constexpr (is_time_point<T>::value) {
        v = r.time_point<T>(field);
    } else if constexpr (std::is_same_v<T, std::string>) {
        const auto s = r.text(field);
        r.charge(s.size(), field);
        v.assign(reinterpret_cast<const char*>(s.data()), s.size());
    } else if constexpr (byte_vector<T>) {
        const auto s = r.text(field);
        r.charge(s.size(), field);
        const auto* p = reinterpret_cast<const typename T::value_type*>(s.data());
        v.assign(p, p + s.size());
    } else if constexpr (is_vector<T>::value) {
        using element = typename T::value_type;
        const auto n = r.array_header(field, depth);
        // n is within the input and its elements within the budget: reserve them all at once,
        // so the vector never holds twice its size while it grows.
        if constexpr (std::is_same_v<element, bool>) r.charge(n / 8 + 8, field);
        else r.charge_elements(n, sizeof(element), field);
        v.clear();
        v.reserve(n);
        for (std::uint32_t i = 0; i < n; ++i) {
            if constexpr (std::is_same_v<element, bool>) v.push_back(r.boolean(field));
            else read_value(r, v.emplace_back(), field, depth + 1);
        }
    } else if constexpr (is_optional<T>::value) {
        if (r.nil()) v.reset();
        else read_value(r, v.emplace(), field, depth);
    } else {
        // Any other member type: through msgpack-cxx, from this value's bytes alone.
        msgpack::object o;
        unpack_member(r, field, depth, o);
        try {
            o.convert(v);
        } catch (const std::exception& e) {
            member_mismatch(field, e.what());
        }
    }
}

/// Reads `in`, which must hold exactly one value, as a T.
template <class T>
T decode_value(std::span<const std::byte> in, const decode_limits& limits) {
    payload_reader r(in, limits);
    T value{};
    read_value(r, value, "payload", 0);
    if (r.remaining() != 0) [[unlikely]]
        r.trailing();
    return value;
}

// ---- writing ----------------------------------------------------------------------------------

/// Writes what msgpack-cxx's packer writes for a double: integral values as integers.
inline void write_double(writer& w, double d) noexcept {
    if (d == d) {
        if (d >= 0 && d < 18446744073709551616.0 && d == static_cast<double>(static_cast<std::uint64_t>(d)))
            return w.uint(static_cast<std::uint64_t>(d));
        if (d < 0 && d >= -9223372036854775808.0 && d == static_cast<double>(static_cast<std::int64_t>(d)))
            return w.integer(static_cast<std::int64_t>(d));
    }
    w.float64(d);
}
inline void write_float(writer& w, float d) noexcept {
    if (d == d) {
        if (d >= 0 && d < 18446744073709551616.0f && d == static_cast<float>(static_cast<std::uint64_t>(d)))
            return w.uint(static_cast<std::uint64_t>(d));
        if (d < 0 && d >= -9223372036854775808.0f && d == static_cast<float>(static_cast<std::int64_t>(d)))
            return w.integer(static_cast<std::int64_t>(d));
    }
    w.float32(d);
}

template <class T>
void write_value(buffer& out, const T& v);

template <class T>
constexpr std::size_t fixed_bound();

/// The most bytes the entries "name", member, ... can take, or 0 if some have no fixed bound.
template <class... A>
constexpr std::size_t entries_bound() {
    std::size_t total = sizeof...(A) / 2 < 16 ? 1 : 3;
    bool fixed = true;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        using types = std::tuple<std::remove_cvref_t<A>...>;
        (([&] {
             using name = std::tuple_element_t<2 * I, types>;
             using value = std::tuple_element_t<2 * I + 1, types>;
             if constexpr (std::is_array_v<name> && std::extent_v<name> <= 32) {
                 const std::size_t b = fixed_bound<value>();
                 if (b == 0) fixed = false;
                 total += std::extent_v<name> + b; // header byte and the name, then the value
             } else {
                 fixed = false;
             }
         }()),
         ...);
    }(std::make_index_sequence<sizeof...(A) / 2>{});
    return fixed ? total : 0;
}

struct bound_visitor {
    template <class... A>
    constexpr auto operator()(const A&...) const {
        return std::integral_constant<std::size_t, entries_bound<A...>()>{};
    }
};

/// The most bytes a T takes if that is fixed (scalars, and structs of them), else 0.
template <class T>
constexpr std::size_t fixed_bound() {
    if constexpr (scalar<T>) return 9;
    else if constexpr (described<T>) return decltype(std::declval<const T&>().courier_fields(bound_visitor{}))::value;
    else return 0;
}

/// Writes a T whose fixed_bound() is not 0 into memory sized for it.
template <class T>
[[gnu::always_inline]] inline void write_fixed(writer& w, const T& v) {
    if constexpr (described<T>) {
        v.courier_fields([&](const auto&... a) {
            constexpr std::size_t fields = sizeof...(a) / 2;
            std::tuple<const std::remove_cvref_t<decltype(a)>&...> t(a...);
            w.map_header(fields);
            [&]<std::size_t... I>(std::index_sequence<I...>) {
                ((w.str(key_of(std::get<2 * I>(t))), write_fixed(w, std::get<2 * I + 1>(t))), ...);
            }(std::make_index_sequence<fields>{});
        });
    } else if constexpr (std::is_same_v<T, bool>) {
        w.boolean(v);
    } else if constexpr (std::is_same_v<T, float>) {
        write_float(w, v);
    } else if constexpr (std::is_same_v<T, double>) {
        write_double(w, v);
    } else {
        using I = typename std::conditional_t<std::is_enum_v<T>, std::underlying_type<T>, std::type_identity<T>>::type;
        if constexpr (std::is_signed_v<I>) w.integer(static_cast<std::int64_t>(static_cast<I>(v)));
        else w.uint(static_cast<std::uint64_t>(static_cast<I>(v)));
    }
}

template <class Name>
void write_key(buffer& out, const Name& name) {
    const auto key = key_of(name);
    writer w(out.tail(5 + key.size()));
    w.str(key);
    out.commit(w.position());
}

template <class... A>
void write_entries(buffer& out, const A&... a) {
    constexpr std::size_t fields = sizeof...(A) / 2;
    std::tuple<const A&...> t(a...);
    writer w(out.tail(5));
    w.map_header(fields);
    out.commit(w.position());
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        ((write_key(out, std::get<2 * I>(t)), write_value(out, std::get<2 * I + 1>(t))), ...);
    }(std::make_index_sequence<fields>{});
}

template <class T>
void write_value(buffer& out, const T& v) {
    if constexpr (fixed_bound<T>() != 0) {
        // Scalars, and structs of scalars: one reservation, one straight run of writes.
        writer w(out.tail(fixed_bound<T>()));
        write_fixed(w, v);
        out.commit(w.position());
    } else if constexpr (described<T>) {
        v.courier_fields([&](const auto&... a) { write_entries(out, a...); });
    } else if constexpr (std::is_same_v<T, std::string> || byte_vector<T>) {
        writer w(out.tail(5 + v.size()));
        if constexpr (std::is_same_v<T, std::string>) w.str(v);
        else w.bin({reinterpret_cast<const std::byte*>(v.data()), v.size()});
        out.commit(w.position());
    } else if constexpr (is_vector<T>::value) {
        writer w(out.tail(5));
        w.array_header(v.size());
        out.commit(w.position());
        for (const typename T::value_type& e : v) write_value(out, e);
    } else if constexpr (is_optional<T>::value) {
        if (v) {
            write_value(out, *v);
        } else {
            writer w(out.tail(1));
            w.nil();
            out.commit(w.position());
        }
    } else {
        msgpack::packer<buffer> packer(out);
        packer.pack(v);
    }
}

} // namespace courier::detail
