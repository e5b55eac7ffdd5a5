#pragma once
// Private: the fields codec's decoder. Reads the payload bytes straight into a COURIER_FIELDS
// struct with the one reader (detail/reader.hpp), accepting what msgpack-cxx's conversions
// accept, under the receiver's decode_limits. No msgpack::object, no zone, no key map; scalar
// members allocate nothing. Other member types go through msgpack-cxx, from their bytes alone.

#include "courier/detail/fields_traits.hpp"
#include "courier/detail/payload.hpp"
#include "courier/detail/reader.hpp"
#include "courier/envelope.hpp"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <ratio>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace courier::detail {

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

/// A msgpack timestamp as a T (a std::chrono::time_point); type_mismatch when T cannot hold it.
template <class T>
[[gnu::always_inline]] inline T read_time_point(reader& r, const char* field) {
    typename T::duration d;
    const auto t = r.time(field);
    if (!to_duration(t, d)) [[unlikely]]
        r.time_out_of_range(field, t, T::period::num, T::period::den, std::numeric_limits<typename T::rep>::digits,
                            std::is_signed_v<typename T::rep>);
    return T(d);
}

/// The reader of a payload under the receiver's limits.
inline reader payload_reader(std::span<const std::byte> in, const decode_limits& limits) noexcept {
    return reader(in, wire_part::payload, {limits.max_depth, limits.max_elements, limits.max_decoded_bytes});
}

/// What decoding `c` through msgpack-cxx is charged against max_decoded_bytes: its object tree
/// (one msgpack::object per value, exact) and as much again for the value it converts into
/// (an estimate: msgpack-cxx's conversions cannot be counted), plus the bytes it may copy.
constexpr std::uint64_t msgpack_cost(value_count c) noexcept {
    return c.values * 2 * sizeof(msgpack::object) + c.bytes;
}

/// Decodes one member through msgpack-cxx (a type courier does not read itself).
void unpack_member(reader& r, const char* field, std::size_t depth, msgpack::object& out);

template <class T>
    requires(!scalar<T>)
void read_value(reader& r, T& v, const char* field, std::size_t depth);

/// Scalars are read inline, where the struct's entries are read.
template <class T>
    requires scalar<T>
[[gnu::always_inline]] inline void read_value(reader& r, T& v, const char* field, std::size_t) {
    if constexpr (std::is_same_v<T, bool>) v = r.boolean(field);
    else if constexpr (plain_integer<T>) v = r.integer<T>(field);
    else if constexpr (std::is_enum_v<T>) v = static_cast<T>(r.integer<std::underlying_type_t<T>>(field));
    else v = r.floating<T>(field);
}

/// Reads map entries while their keys come in the listed order: one compare each, straight-line.
/// Returns how many it read.
template <class... A>
[[gnu::always_inline]] inline std::uint32_t read_in_order(reader& r, std::uint32_t n, std::size_t depth,
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
void read_by_search(reader& r, std::uint32_t n, std::uint32_t i, std::size_t depth, A&... a) {
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
[[gnu::noinline]] void read_rest(reader& r, T& v, std::uint32_t n, std::uint32_t i, std::size_t depth) {
    v.courier_fields([&](auto&... a) { read_by_search(r, n, i, depth, a...); });
}

template <class T>
    requires(!scalar<T>)
void read_value(reader& r, T& v, const char* field, std::size_t depth) {
    if constexpr (described<T>) {
        const auto n = r.map_header(field, depth);
        const auto i = v.courier_fields([&](auto&... a) { return read_in_order(r, n, depth + 1, a...); });
        if (i != n) [[unlikely]]
            read_rest(r, v, n, i, depth + 1);
    } else if constexpr (is_time_point<T>::value) {
        v = read_time_point<T>(r, field);
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
            r.mismatch(field, e.what());
        }
    }
}

/// Reads `in`, which must hold exactly one value, as a T.
template <class T>
T decode_value(std::span<const std::byte> in, const decode_limits& limits) {
    auto r = payload_reader(in, limits);
    T value{};
    read_value(r, value, "payload", 0);
    if (r.remaining() != 0) [[unlikely]]
        r.trailing();
    return value;
}

} // namespace courier::detail
