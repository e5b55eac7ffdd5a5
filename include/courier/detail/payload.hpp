#pragma once
// Private: the buffers and the msgpack-cxx entry points every payload codec shares.

#include "courier/envelope.hpp"

#include <msgpack.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace courier::detail {

/// A growable byte buffer: msgpack::packer writes to it (write), and courier's own encoders
/// write straight into its tail (tail, then commit). Reused per thread for sending.
class buffer {
public:
    void write(const char* p, std::size_t n) {
        if (n == 0) return;
        std::memcpy(tail(n), p, n);
        size_ += n;
    }
    /// Room for at least `n` more bytes after what is written; commit() what was used.
    std::byte* tail(std::size_t n) {
        if (n > data_.size() - size_) [[unlikely]]
            grow(n);
        return data_.data() + size_;
    }
    /// Marks everything up to `end` (inside the last tail()) as written.
    void commit(std::byte* end) noexcept { size_ = static_cast<std::size_t>(end - data_.data()); }
    void clear() noexcept { size_ = 0; }
    std::size_t size() const noexcept { return size_; }
    std::span<const std::byte> view() const noexcept { return {data_.data(), size_}; }

private:
    void grow(std::size_t n) { data_.resize(std::max(2 * data_.size(), std::max<std::size_t>(size_ + n, 256))); }

    std::vector<std::byte> data_; // capacity in use; only the first size_ bytes are written
    std::size_t size_ = 0;
};

/// The calling thread's scratch buffer for encoding payloads; empty on return.
buffer& scratch() noexcept;
/// The calling thread's zone for decoding payloads, cleared: decoding allocates nothing once warm.
msgpack::zone& payload_zone();

/// Unpacks one msgpack value that must fill `in` exactly, under `limits` (further capped by the
/// input size), its cost (msgpack_cost) within max_decoded_bytes. The object references `in`'s
/// strings and bins: use it while `in` lives. Throws courier::error (truncated, malformed,
/// limit_exceeded).
msgpack::object unpack_payload(std::span<const std::byte> in, const decode_limits& limits, msgpack::zone& zone);
/// Throws limit_exceeded: decoding would take `wanted` bytes, over max_decoded_bytes.
[[noreturn]] void decoded_too_large(std::uint64_t wanted, const decode_limits& limits);

[[noreturn]] void throw_type_mismatch(std::string_view sent, std::string_view wanted, const char* why);

} // namespace courier::detail
