#pragma once
// Private: the one frame builder. Every frame courier sends is made here, for every pattern:
// which envelope fields each carries and how the frames of one message are laid out. The bytes
// of an envelope come from the one encoder (src/wire/envelope.cpp).

#include "courier/envelope.hpp"

#include <zmq.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace courier::detail {

/// The encoded envelope of `e` in a new frame.
zmq::message_t envelope_frame(const outgoing& e);

/// The frames of one published or pushed message: [topic][envelope], or [envelope].
struct message_frames {
    std::array<zmq::message_t, 2> frames;
    std::size_t count = 0;
    std::span<zmq::message_t> all() noexcept { return {frames.data(), count}; }
};

/// A published message's place in its topic's stream: its envelope carries id = sequence and
/// correlation id = publisher.
struct numbering {
    std::uint64_t sequence;
    std::uint64_t publisher;
};

// ---- publish / push ----

/// A message of kind::message with id next_message_id(), [topic][envelope] when `with_topic`.
message_frames message_of(bool with_topic, std::string_view topic, std::string_view type,
                          std::span<const std::byte> payload, header_list headers);
/// The same, numbered.
message_frames message_of(bool with_topic, std::string_view topic, std::string_view type,
                          std::span<const std::byte> payload, header_list headers, numbering n);
/// A message encoded early (encode(), or encode_renumberable() when `n` is given, which then
/// numbers it as it leaves), [topic][envelope] when `with_topic`.
message_frames encoded_message_of(bool with_topic, std::string_view topic, std::span<const std::byte> envelope,
                                  const numbering* n);
/// `count` (>= 1) messages of one topic and type as one frame: `records` as append_record()
/// wrote them (wire/envelope_writer.hpp), ids first_id, first_id + 1, ..., correlation id
/// `correlation`; one record travels as a plain message. [topic][envelope] when `with_topic`.
message_frames batch_of(bool with_topic, std::string_view topic, std::string_view type, std::int64_t timestamp_ns,
                        std::span<const std::byte> records, std::size_t count, std::uint64_t first_id,
                        std::uint64_t correlation);

// ---- request / reply ----

/// A client's request `id` for `method`.
zmq::message_t request_frame(std::uint64_t id, std::string_view method, std::string_view type,
                             std::span<const std::byte> payload, header_list headers);
/// A server's answer (kind::reply or kind::error) to request `request_id` for `method`.
zmq::message_t reply_frame(kind k, std::uint64_t request_id, std::string_view method, std::string_view type,
                           std::span<const std::byte> payload);

// ---- reliable pipeline ----

/// A control message `command` (hello, ack, credit...), answering `correlation` if not 0.
zmq::message_t control_frame(std::string_view command, std::span<const std::byte> payload = {},
                             std::uint64_t correlation = 0);
/// A reliable task numbered `sequence` in its pusher's stream.
zmq::message_t task_frame(std::uint64_t sequence, std::string_view type, std::span<const std::byte> payload,
                          header_list headers);

} // namespace courier::detail
