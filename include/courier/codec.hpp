#pragma once
// Typed payloads: how a value becomes the envelope's payload bytes and back, and the name it
// travels under. Any type msgpack-cxx can convert works; courier::bytes travels verbatim; a
// COURIER_FIELDS struct (courier/fields.hpp) is encoded and decoded by courier itself.

#include "courier/detail/fields_codec.hpp"
#include "courier/detail/payload.hpp"
#include "courier/envelope.hpp"
#include "courier/error.hpp"
#include "courier/fields.hpp"

#include <msgpack.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace courier {

/// Raw bytes: sent as the payload itself, no msgpack inside, type name "bytes".
using bytes = std::vector<std::byte>;
/// A non-owning view of raw bytes to send.
using bytes_view = std::span<const std::byte>;

/// The type name a value of T travels under. A type states its own, stable across languages, with
/// `static constexpr std::string_view courier_type_name = "shop.Order";` (a specialisation of this
/// template also sets the name sent, but receivers do not check it: has_stable_type_name). Raw
/// bytes, strings, bool, integers and floating point travel as "bytes", "str", "bool", "int",
/// "uint" and "float"; any other type under a name derived from the C++ type, for diagnostics.
template <class T>
struct type_name;

namespace detail {

template <class T>
constexpr std::string_view compiler_type_name() {
    // "... [with T = shop::Order; ...]" (GCC) or "... [T = shop::Order]" (Clang).
    std::string_view f = __PRETTY_FUNCTION__;
    auto start = f.find("T = ");
    if (start == std::string_view::npos) return "unknown";
    start += 4;
    auto stop = f.find_first_of(";]", start);
    return f.substr(start, stop - start);
}

template <class T>
concept has_declared_name = requires {
    { T::courier_type_name } -> std::convertible_to<std::string_view>;
};

template <class T>
concept raw_bytes = std::is_same_v<T, bytes> || std::is_same_v<T, bytes_view>;

} // namespace detail

template <class T>
struct type_name {
    static constexpr std::string_view value = [] {
        if constexpr (detail::has_declared_name<T>) return std::string_view(T::courier_type_name);
        else if constexpr (detail::raw_bytes<T>) return std::string_view("bytes");
        else if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>)
            return std::string_view("str");
        else if constexpr (std::is_same_v<T, bool>) return std::string_view("bool");
        else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) return std::string_view("int");
        else if constexpr (std::is_integral_v<T>) return std::string_view("uint");
        else if constexpr (std::is_floating_point_v<T>) return std::string_view("float");
        else return detail::compiler_type_name<T>();
    }();
};

/// True when a type declared its name with a courier_type_name member, so a receiver checks it.
template <class T>
inline constexpr bool has_stable_type_name = detail::has_declared_name<T>;

/// The payload bytes of `value`: for raw bytes, the bytes; otherwise its msgpack encoding,
/// written into `out` (cleared first). The result views `value` or `out`.
template <class T>
std::span<const std::byte> encode_payload(const T& value, detail::buffer& out) {
    if constexpr (detail::raw_bytes<T>) {
        return value;
    } else {
        out.clear();
        if constexpr (detail::fast_payload<T>()) detail::write_value(out, value);
        else msgpack::pack(out, value);
        return out.view();
    }
}

/// Reads `payload`, sent under `sent_type`, as a T. Throws courier::error: type_mismatch when the
/// bytes do not convert to T, or T has a stable name and `sent_type` is a different non-empty one;
/// and the decoding errors of unpack_payload.
template <class T>
T decode_payload(std::span<const std::byte> payload, std::string_view sent_type, const decode_limits& limits) {
    if constexpr (has_stable_type_name<T>) {
        if (!sent_type.empty() && sent_type != type_name<T>::value)
            detail::throw_type_mismatch(sent_type, type_name<T>::value, "the names differ");
    }
    if constexpr (detail::raw_bytes<T>) {
        if (payload.size() > limits.max_decoded_bytes) detail::decoded_too_large(payload.size(), limits);
        return bytes(payload.begin(), payload.end());
    } else if constexpr (detail::fast_payload<T>()) {
        try {
            return detail::decode_value<T>(payload, limits);
        } catch (const error& e) {
            if (e.kind() != errc::type_mismatch) throw;
            detail::throw_type_mismatch(sent_type, type_name<T>::value, e.what());
        }
    } else {
        auto object = detail::unpack_payload(payload, limits, detail::payload_zone());
        try {
            return object.as<T>();
        } catch (const std::exception& e) {
            detail::throw_type_mismatch(sent_type, type_name<T>::value, e.what());
        }
    }
}

} // namespace courier
