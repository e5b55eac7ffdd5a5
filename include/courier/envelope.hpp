#pragma once
// The envelope: wire format v1 (docs/wire-format.md). Encoding, strict decoding under limits,
// and a non-owning view of a decoded envelope.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace courier {

/// Wire format version this build writes. It reads any minor version of the same major.
inline constexpr unsigned wire_major = 1;
inline constexpr unsigned wire_minor = 0;

/// What an envelope is for. Values are on the wire; new kinds come with new minor versions.
enum class kind : std::uint8_t {
    message = 1, ///< published or pushed
    request = 2, ///< a call; `subject` names the method
    reply = 3,   ///< a call's answer; `correlation_id` is the request's id
    error = 4,   ///< a call's failure; the payload is the error text
    batch = 5,   ///< several messages in one frame; the payload holds one bin per message
    control = 6, ///< acknowledged pipeline's own traffic; `subject` names it (hello, ack, ping, bye)
};

/// Bounds on what a decoder accepts from untrusted bytes. Lengths and counts are further capped
/// by the input's own size, so no declared length can make the decoder reserve more than the
/// input could fill; max_decoded_bytes then bounds what decoding one payload may take in all.
struct decode_limits {
    std::size_t max_headers = 64;        ///< header entries in one envelope; 1 ..
    std::size_t max_name = 256;          ///< bytes in a type name, subject, header name; 1 ..
    std::size_t max_depth = 32;          ///< nesting of arrays/maps in a payload or extension field; 1 .. 64
    std::size_t max_elements = 1u << 20; ///< elements in one array or map inside a payload; 1 ..
    std::size_t max_batch = 1u << 16;    ///< messages in one batch frame; 1 ..
    /// Memory decoding one payload may take, in bytes: what courier's reader allocates (strings,
    /// vectors), and for types msgpack-cxx converts, its object tree (counted exactly) plus as
    /// much again for the converted value (an estimate). 1 .. SIZE_MAX; default 64 MiB, 4x the
    /// default max_message_size. Checked before allocating: over it, limit_exceeded.
    std::size_t max_decoded_bytes = std::size_t{64} << 20;

    /// Throws courier::error(invalid_option) when a limit is zero.
    void validate() const;
};

/// One header, as given to a send call.
struct header {
    std::string_view name{};
    std::string_view value{};
};

/// Headers for a send call: a braced list `{{"trace", id}}` or any contiguous range of header.
class header_list {
public:
    header_list() noexcept = default;
    header_list(std::initializer_list<header> h) noexcept : items_(h.begin(), h.size()) {}
    header_list(std::span<const header> h) noexcept : items_(h) {}
    template <std::size_t N>
    header_list(const header (&h)[N]) noexcept : items_(h) {}
    header_list(const std::vector<header>& h) noexcept : items_(h) {}
    std::span<const header> items() const noexcept { return items_; }

private:
    std::span<const header> items_;
};

/// Read-only view of a decoded envelope's headers; valid as long as the envelope's bytes.
/// Iterating decodes in place (the decoder validated every entry), so reading costs no allocation.
class header_view {
public:
    class iterator {
    public:
        using value_type = header;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        header operator*() const { return current_; }
        iterator& operator++();
        iterator operator++(int) {
            auto old = *this;
            ++*this;
            return old;
        }
        bool operator==(const iterator& o) const noexcept { return left_ == o.left_; }

    private:
        friend class header_view;
        iterator(const std::byte* pos, const std::byte* end, std::size_t left);
        void load();
        const std::byte* pos_ = nullptr;
        const std::byte* end_ = nullptr;
        std::size_t left_ = 0;
        header current_{};
    };

    header_view() noexcept = default;
    header_view(std::span<const std::byte> encoded, std::size_t count) noexcept
        : encoded_(encoded), count_(count) {}

    std::size_t size() const noexcept { return count_; }
    bool empty() const noexcept { return count_ == 0; }
    iterator begin() const { return {encoded_.data(), encoded_.data() + encoded_.size(), count_}; }
    iterator end() const { return {}; }
    /// The value of the first header named `name`.
    std::optional<std::string_view> find(std::string_view name) const;

private:
    std::span<const std::byte> encoded_; // the map's entries, after its header
    std::size_t count_ = 0;
};

/// Where each field of a decoded envelope lies in its frame. Offsets, not pointers, so that the
/// frame holding the bytes may move (libzmq keeps small messages inline).
struct envelope_layout {
    struct range {
        std::uint32_t offset = 0;
        std::uint32_t size = 0;
    };
    unsigned minor = 0;
    courier::kind kind = kind::message;
    std::uint64_t id = 0;
    std::uint64_t correlation_id = 0;
    std::int64_t timestamp_ns = 0;
    range type_name, subject, headers, payload;
    std::uint32_t header_count = 0;
    std::uint32_t batch_count = 0; ///< messages in a batch (kind::batch), validated; 0 otherwise
};

/// A decoded envelope over bytes it does not own.
class envelope {
public:
    /// Decodes and validates `frame` under `limits`. Throws courier::error whose kind() is
    /// truncated, malformed, unsupported_version or limit_exceeded and whose message names the
    /// field. The payload is not decoded: it stays opaque bytes until someone asks for a type.
    static envelope decode(std::span<const std::byte> frame, const decode_limits& limits = {});
    /// An envelope views its bytes: decoding a temporary would leave it dangling.
    static envelope decode(std::vector<std::byte>&& frame, const decode_limits& limits = {}) = delete;
    /// Decodes only the layout; used by owners of frames that may move.
    static envelope_layout parse(std::span<const std::byte> frame, const decode_limits& limits);

    envelope(std::span<const std::byte> frame, const envelope_layout& layout) noexcept
        : frame_(frame), layout_(layout) {}

    unsigned minor_version() const noexcept { return layout_.minor; }
    courier::kind kind() const noexcept { return layout_.kind; }
    std::uint64_t id() const noexcept { return layout_.id; }
    std::uint64_t correlation_id() const noexcept { return layout_.correlation_id; }
    /// Nanoseconds since the Unix epoch when the sender made the envelope; 0 if not set.
    std::int64_t timestamp_ns() const noexcept { return layout_.timestamp_ns; }
    std::string_view type_name() const noexcept { return text(layout_.type_name); }
    std::string_view subject() const noexcept { return text(layout_.subject); }
    header_view headers() const noexcept {
        return {bytes(layout_.headers), layout_.header_count};
    }
    std::span<const std::byte> payload() const noexcept { return bytes(layout_.payload); }

private:
    std::span<const std::byte> bytes(envelope_layout::range r) const noexcept {
        return frame_.subspan(r.offset, r.size);
    }
    std::string_view text(envelope_layout::range r) const noexcept {
        return {reinterpret_cast<const char*>(frame_.data()) + r.offset, r.size};
    }
    std::span<const std::byte> frame_;
    envelope_layout layout_;
};

/// The fields a sender sets; the encoder adds the version.
struct outgoing {
    courier::kind kind = kind::message;
    std::uint64_t id = 0;
    std::uint64_t correlation_id = 0;
    std::int64_t timestamp_ns = 0;
    std::string_view type_name{};
    std::string_view subject{};
    header_list headers{};
    std::span<const std::byte> payload{};
};

/// Exact size of the encoded envelope.
std::size_t encoded_size(const outgoing& e) noexcept;
/// Writes the envelope to `out`, which must hold encoded_size(e) bytes. Returns bytes written.
std::size_t encode(const outgoing& e, std::byte* out) noexcept;
/// Convenience: the encoded envelope as a new vector.
std::vector<std::byte> encode(const outgoing& e);

/// A batch frame: `first`'s fields (kind and payload ignored) shared by one message per payload;
/// message i gets id first.id + i. A single payload is encoded as a plain message envelope.
std::vector<std::byte> encode_batch(const outgoing& first, std::span<const std::span<const std::byte>> payloads);

/// A fresh message id: unique within the process, random across processes, never 0.
std::uint64_t next_message_id() noexcept;
/// The first of `n` consecutive fresh ids (for a batch), none of them 0.
std::uint64_t next_message_ids(std::uint64_t n) noexcept;
/// Now, in nanoseconds since the Unix epoch.
std::int64_t now_ns() noexcept;

} // namespace courier
