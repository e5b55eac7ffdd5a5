#pragma once
// Private: which member types the fields codec (courier/fields.hpp) reads and writes itself, and
// what it knows about them. Shared by detail/fields_read.hpp and detail/fields_write.hpp.

#include "courier/fields.hpp"

#include <chrono>
#include <concepts>
#include <cstddef>
#include <optional>
#include <string_view>
#include <type_traits>
#include <vector>

namespace courier::detail {

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

template <class T>
std::string_view key_of(const T& name) noexcept {
    if constexpr (std::is_array_v<T>) return {name, std::extent_v<T> - 1};
    else return std::string_view(name);
}

} // namespace courier::detail
