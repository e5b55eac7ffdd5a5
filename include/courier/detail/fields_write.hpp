#pragma once
// Private: the fields codec's encoder. Writes exactly what msgpack-cxx writes for the same
// MSGPACK_DEFINE_MAP struct, with the one writer (detail/wire.hpp); scalars and structs of
// scalars in one reservation.

#include "courier/detail/fields_traits.hpp"
#include "courier/detail/payload.hpp"
#include "courier/detail/wire.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace courier::detail {

/// Writes what msgpack-cxx's packer writes for a float or a double: integral values as integers.
template <class F>
inline void write_real(writer& w, F d) noexcept {
    if (d == d) {
        if (d >= 0 && d < static_cast<F>(18446744073709551616.0) && d == static_cast<F>(static_cast<std::uint64_t>(d)))
            return w.uint(static_cast<std::uint64_t>(d));
        if (d < 0 && d >= static_cast<F>(-9223372036854775808.0) && d == static_cast<F>(static_cast<std::int64_t>(d)))
            return w.integer(static_cast<std::int64_t>(d));
    }
    if constexpr (std::is_same_v<F, float>) w.float32(d);
    else w.float64(d);
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
    } else if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
        write_real(w, v);
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
