#pragma once
// A received message: owns its frames, reads its envelope in place, decodes its payload on demand.

#include "courier/codec.hpp"
#include "courier/envelope.hpp"

#include <zmq.hpp>

#include <string_view>

namespace courier {

namespace detail {
struct message_access; // what the library sets on a message it hands out (framing/message_access.hpp)
} // namespace detail

/// A message as received. Owns its frames (move-only); every accessor reads the frame in place,
/// and the payload stays opaque bytes until as<T>() decodes it, so forwarding never decodes.
/// @par Thread safety: none needed; a message is a value owned by one thread at a time.
class message {
public:
    message() = default;
    message(zmq::message_t topic, zmq::message_t body, const envelope_layout& layout,
            const decode_limits& limits) noexcept
        : topic_(std::move(topic)), body_(std::move(body)), layout_(layout), limits_(limits) {}

    /// The topic frame (publish-subscribe only; empty otherwise).
    std::string_view topic() const noexcept { return {topic_.data<char>(), topic_.size()}; }
    courier::kind kind() const noexcept { return layout_.kind; }
    std::uint64_t id() const noexcept { return layout_.id; }
    std::uint64_t correlation_id() const noexcept { return layout_.correlation_id; }
    /// The producer that sent it, in an acknowledged pipeline (reliable_puller); 0 otherwise.
    std::uint64_t producer_id() const noexcept { return producer_; }
    std::int64_t timestamp_ns() const noexcept { return layout_.timestamp_ns; }
    std::string_view type_name() const noexcept { return view().type_name(); }
    std::string_view subject() const noexcept { return view().subject(); }
    header_view headers() const noexcept { return view().headers(); }
    std::span<const std::byte> payload() const noexcept { return view().payload(); }
    /// The envelope's fields as a view. A message that came in a batch shares its frame with the
    /// rest of the batch; the view shows this message's fields only.
    envelope view() const noexcept { return {{body_.data<std::byte>(), body_.size()}, layout_}; }

    /// The payload read as a T, under the receiving socket's decode limits. Throws courier::error
    /// (type_mismatch, truncated, malformed, limit_exceeded) naming what was wrong.
    template <class T>
    T as() const {
        return decode_payload<T>(payload(), type_name(), limits_);
    }

private:
    friend struct detail::message_access;

    zmq::message_t topic_;
    zmq::message_t body_;
    envelope_layout layout_{};
    decode_limits limits_{};
    std::uint64_t producer_ = 0;
};

/// Frames received without an envelope (receive_raw): the bytes exactly as a raw sender, or any
/// plain zmq peer, sent them. Owns its frames. @par Thread safety: a value, one thread at a time.
class raw_message {
public:
    raw_message() = default;
    raw_message(zmq::message_t topic, zmq::message_t body) noexcept : topic_(std::move(topic)), body_(std::move(body)) {}
    /// The topic frame (publish-subscribe only; empty otherwise).
    std::string_view topic() const noexcept { return {topic_.data<char>(), topic_.size()}; }
    std::span<const std::byte> bytes() const noexcept { return {body_.data<std::byte>(), body_.size()}; }

private:
    zmq::message_t topic_;
    zmq::message_t body_;
};

} // namespace courier
