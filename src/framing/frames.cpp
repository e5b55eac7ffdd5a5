// The one frame builder: see frames.hpp.

#include "framing/frames.hpp"

#include "wire/envelope_writer.hpp"

namespace courier::detail {
namespace {

message_frames with_topic_frame(bool with_topic, std::string_view topic) {
    message_frames m;
    if (with_topic) m.frames[m.count++] = zmq::message_t(topic.data(), topic.size());
    return m;
}

} // namespace

zmq::message_t envelope_frame(const outgoing& e) {
    zmq::message_t frame(encoded_size(e));
    encode(e, frame.data<std::byte>());
    return frame;
}

message_frames message_of(bool with_topic, std::string_view topic, std::string_view type,
                          std::span<const std::byte> payload, header_list headers) {
    auto m = with_topic_frame(with_topic, topic);
    m.frames[m.count++] = envelope_frame({.kind = kind::message,
                                          .id = next_message_id(),
                                          .timestamp_ns = now_ns(),
                                          .type_name = type,
                                          .headers = headers,
                                          .payload = payload});
    return m;
}

message_frames message_of(bool with_topic, std::string_view topic, std::string_view type,
                          std::span<const std::byte> payload, header_list headers, numbering n) {
    auto m = with_topic_frame(with_topic, topic);
    m.frames[m.count++] = envelope_frame({.kind = kind::message,
                                          .id = n.sequence,
                                          .correlation_id = n.publisher,
                                          .timestamp_ns = now_ns(),
                                          .type_name = type,
                                          .headers = headers,
                                          .payload = payload});
    return m;
}

message_frames encoded_message_of(bool with_topic, std::string_view topic, std::span<const std::byte> envelope,
                                  const numbering* n) {
    auto m = with_topic_frame(with_topic, topic);
    auto& frame = m.frames[m.count++] = zmq::message_t(envelope.data(), envelope.size());
    if (n) renumber({frame.data<std::byte>(), frame.size()}, n->sequence, n->publisher);
    return m;
}

message_frames batch_of(bool with_topic, std::string_view topic, std::string_view type, std::int64_t timestamp_ns,
                        std::span<const std::byte> records, std::size_t count, std::uint64_t first_id,
                        std::uint64_t correlation) {
    auto m = with_topic_frame(with_topic, topic);
    const outgoing head{.id = first_id, .correlation_id = correlation, .timestamp_ns = timestamp_ns, .type_name = type};
    auto& frame = m.frames[m.count++] = zmq::message_t(records_envelope_size(head, records, count));
    encode_records(head, records, count, frame.data<std::byte>());
    return m;
}

zmq::message_t request_frame(std::uint64_t id, std::string_view method, std::string_view type,
                             std::span<const std::byte> payload, header_list headers) {
    return envelope_frame({.kind = kind::request,
                           .id = id,
                           .timestamp_ns = now_ns(),
                           .type_name = type,
                           .subject = method,
                           .headers = headers,
                           .payload = payload});
}

zmq::message_t reply_frame(kind k, std::uint64_t request_id, std::string_view method, std::string_view type,
                           std::span<const std::byte> payload) {
    return envelope_frame({.kind = k,
                           .id = next_message_id(),
                           .correlation_id = request_id,
                           .timestamp_ns = now_ns(),
                           .type_name = type,
                           .subject = method,
                           .payload = payload});
}

zmq::message_t control_frame(std::string_view command, std::span<const std::byte> payload, std::uint64_t correlation) {
    return envelope_frame({.kind = kind::control,
                           .id = next_message_id(),
                           .correlation_id = correlation,
                           .timestamp_ns = now_ns(),
                           .subject = command,
                           .payload = payload});
}

zmq::message_t task_frame(std::uint64_t sequence, std::string_view type, std::span<const std::byte> payload,
                          header_list headers) {
    return envelope_frame({.kind = kind::message,
                           .id = sequence,
                           .timestamp_ns = now_ns(),
                           .type_name = type,
                           .headers = headers,
                           .payload = payload});
}

} // namespace courier::detail
