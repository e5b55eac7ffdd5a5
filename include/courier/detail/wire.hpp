#pragma once
// Private: the one msgpack writer and the encoded-size functions, for the envelope and the fields
// codec. Nothing here allocates or checks: the caller sizes the memory first. (The one reader is
// detail/reader.hpp.)

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace courier::detail {

// Encoded sizes, so that a frame can be sized exactly before it is written.
constexpr std::size_t uint_size(std::uint64_t v) noexcept {
    return v < 128 ? 1 : v <= 0xff ? 2 : v <= 0xffff ? 3 : v <= 0xffffffffu ? 5 : 9;
}
constexpr std::size_t int_size(std::int64_t v) noexcept {
    if (v >= 0) return uint_size(static_cast<std::uint64_t>(v));
    return v >= -32 ? 1 : v >= -128 ? 2 : v >= -32768 ? 3 : v >= -2147483648LL ? 5 : 9;
}
constexpr std::size_t str_header_size(std::size_t n) noexcept {
    return n < 32 ? 1 : n <= 0xff ? 2 : n <= 0xffff ? 3 : 5;
}
constexpr std::size_t bin_header_size(std::size_t n) noexcept {
    return n <= 0xff ? 2 : n <= 0xffff ? 3 : 5;
}
constexpr std::size_t container_header_size(std::size_t n) noexcept {
    return n < 16 ? 1 : n <= 0xffff ? 3 : 5;
}

/// Writes msgpack values into memory the caller sized with the functions above.
class writer {
public:
    explicit writer(std::byte* out) noexcept : pos_(out) {}
    std::byte* position() const noexcept { return pos_; }

    void array_header(std::size_t n) noexcept { container(n, 0x90, 0xdc, 0xdd); }
    void map_header(std::size_t n) noexcept { container(n, 0x80, 0xde, 0xdf); }
    void uint(std::uint64_t v) noexcept;
    void integer(std::int64_t v) noexcept;
    void str(std::string_view s) noexcept;
    void bin(std::span<const std::byte> b) noexcept;
    void bin_header(std::size_t n) noexcept;
    void nil() noexcept { put(0xc0); }
    void boolean(bool b) noexcept { put(b ? 0xc3 : 0xc2); }
    void float32(float f) noexcept {
        put(0xca);
        big_endian(std::bit_cast<std::uint32_t>(f), 4);
    }
    void float64(double d) noexcept {
        put(0xcb);
        big_endian(std::bit_cast<std::uint64_t>(d), 8);
    }

private:
    void put(std::uint8_t b) noexcept { *pos_++ = static_cast<std::byte>(b); }
    // n is a constant wherever this is inlined: one byte swap and one store.
    void big_endian(std::uint64_t v, std::size_t n) noexcept {
        switch (n) {
        case 1: put(static_cast<std::uint8_t>(v)); return;
        case 2: return store(__builtin_bswap16(static_cast<std::uint16_t>(v)));
        case 4: return store(__builtin_bswap32(static_cast<std::uint32_t>(v)));
        default: return store(__builtin_bswap64(v));
        }
    }
    template <class U>
    void store(U v) noexcept {
        std::memcpy(pos_, &v, sizeof v);
        pos_ += sizeof v;
    }
    void raw(const void* p, std::size_t n) noexcept {
        if (n != 0) std::memcpy(pos_, p, n);
        pos_ += n;
    }
    void container(std::size_t n, std::uint8_t fix, std::uint8_t tag16, std::uint8_t tag32) noexcept;

    std::byte* pos_;
};

inline void writer::container(std::size_t n, std::uint8_t fix, std::uint8_t tag16, std::uint8_t tag32) noexcept {
    if (n < 16) put(static_cast<std::uint8_t>(fix | n));
    else if (n <= 0xffff) put(tag16), big_endian(n, 2);
    else put(tag32), big_endian(n, 4);
}

inline void writer::uint(std::uint64_t v) noexcept {
    if (v < 128) put(static_cast<std::uint8_t>(v));
    else if (v <= 0xff) put(0xcc), big_endian(v, 1);
    else if (v <= 0xffff) put(0xcd), big_endian(v, 2);
    else if (v <= 0xffffffffu) put(0xce), big_endian(v, 4);
    else put(0xcf), big_endian(v, 8);
}

inline void writer::integer(std::int64_t v) noexcept {
    if (v >= 0) return uint(static_cast<std::uint64_t>(v));
    auto u = static_cast<std::uint64_t>(v);
    if (v >= -32) put(static_cast<std::uint8_t>(u));
    else if (v >= -128) put(0xd0), big_endian(u, 1);
    else if (v >= -32768) put(0xd1), big_endian(u, 2);
    else if (v >= -2147483648LL) put(0xd2), big_endian(u, 4);
    else put(0xd3), big_endian(u, 8);
}

inline void writer::str(std::string_view s) noexcept {
    auto n = s.size();
    if (n < 32) put(static_cast<std::uint8_t>(0xa0 | n));
    else if (n <= 0xff) put(0xd9), big_endian(n, 1);
    else if (n <= 0xffff) put(0xda), big_endian(n, 2);
    else put(0xdb), big_endian(n, 4);
    raw(s.data(), n);
}

inline void writer::bin_header(std::size_t n) noexcept {
    if (n <= 0xff) put(0xc4), big_endian(n, 1);
    else if (n <= 0xffff) put(0xc5), big_endian(n, 2);
    else put(0xc6), big_endian(n, 4);
}

inline void writer::bin(std::span<const std::byte> b) noexcept {
    bin_header(b.size());
    raw(b.data(), b.size());
}

} // namespace courier::detail
