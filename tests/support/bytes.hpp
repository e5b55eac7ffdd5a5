#pragma once
// Bytes for wire tests: hex in and out (the spec's vectors are written in hex), and what plain
// msgpack-cxx writes for a value (the reference courier's encoders are held to).

#include <msgpack.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace courier::test {

/// The bytes `hex` spells, two lowercase or uppercase digits a byte.
inline std::vector<std::byte> from_hex(std::string_view hex) {
    std::vector<std::byte> out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        out.push_back(static_cast<std::byte>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
    return out;
}

/// `bytes` as lowercase hex.
inline std::string to_hex(std::span<const std::byte> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (auto b : bytes) {
        out += digits[std::to_integer<int>(b) >> 4];
        out += digits[std::to_integer<int>(b) & 15];
    }
    return out;
}

/// `value` as msgpack-cxx's own packer writes it.
template <class T>
std::vector<std::byte> packed_by_msgpack(const T& value) {
    msgpack::sbuffer sb;
    msgpack::pack(sb, value);
    const auto* p = reinterpret_cast<const std::byte*>(sb.data());
    return {p, p + sb.size()};
}

} // namespace courier::test
