#include "framing/inbox.hpp"

#include <string>

namespace courier::detail {

// The frame is shared (libzmq counts references to large messages), except by the batch's last
// message, which takes it over.
message inbox::next_of_batch(const decode_limits& limits) {
    auto& b = batch_;
    auto layout = b.layout;
    layout.kind = kind::message;
    layout.batch_count = 0;
    layout.id = b.next_id;
    layout.payload = b.take();
    zmq::message_t topic, frame;
    if (b.active()) {
        topic.copy(b.topic);
        frame.copy(b.frame);
    } else {
        topic.move(b.topic);
        frame.move(b.frame);
    }
    return {std::move(topic), std::move(frame), layout, limits};
}

std::optional<raw_message> inbox::receive_raw(socket& s, deadline& until) {
    std::array<zmq::message_t, 2> frames;
    const std::size_t expected = with_topic_ ? 2 : 1;
    for (;;) {
        auto count = s.receive({frames.data(), expected}, until);
        if (count == 0) return std::nullopt;
        if (count == expected) {
            ++s.counters.received;
            if (with_topic_) return raw_message(std::move(frames[0]), std::move(frames[1]));
            return raw_message(zmq::message_t(), std::move(frames[0]));
        }
        s.reject(error(count < expected ? errc::missing_frame : errc::malformed,
                       "raw message of " + std::to_string(count) + " frames (expected " +
                           (with_topic_ ? "[topic][body])" : "[body])")));
        if (until.passed()) return std::nullopt; // a flood of bad input cannot hold a receive past its timeout
    }
}

bool inbox::receive_envelope(socket& s, deadline& until, envelope_layout& layout) {
    const std::size_t expected = with_topic_ ? 2 : 1;
    const char* shape = with_topic_ ? "publish-subscribe message" : "pipeline message";
    for (;;) {
        auto count = s.receive({held_.data(), expected}, until);
        if (count == 0) return false;
        try {
            if (count < expected)
                throw error(errc::missing_frame, std::string(shape) + " of 1 frame: the topic frame or the envelope "
                                                                      "frame is missing (expected [topic][envelope])");
            if (count > expected)
                throw error(errc::malformed, std::string(shape) + " of " + std::to_string(count) + " frames (expected " +
                                                 (with_topic_ ? "[topic][envelope])" : "[envelope])"));
            auto& body = held_[expected - 1];
            layout = envelope::parse({body.data<std::byte>(), body.size()}, s.options().limits);
            if (layout.kind != kind::message && layout.kind != kind::batch)
                throw error(errc::malformed, std::string(shape) + ": envelope of kind " +
                                                 std::to_string(static_cast<int>(layout.kind)) + " (expected 1, message)");
            ++s.counters.received;
            if (layout.kind == kind::batch) {
                batch_.layout = layout;
                batch_.next = layout.payload.offset;
                batch_.end = layout.payload.offset + layout.payload.size;
                batch_.next_id = layout.id;
                batch_.frame = std::move(body);
                batch_.topic = with_topic_ ? std::move(held_[0]) : zmq::message_t();
            }
            return true;
        } catch (const error& e) {
            s.reject(e);
        }
        if (until.passed()) return false; // a flood of bad input cannot hold a receive past its timeout
    }
}

std::optional<message> inbox::receive_message(socket& s, deadline& until) {
    if (batch_.active()) {
        ++s.counters.received;
        return next_of_batch(s.options().limits);
    }
    envelope_layout layout;
    if (!receive_envelope(s, until, layout)) return std::nullopt;
    if (layout.kind == kind::batch) return next_of_batch(s.options().limits);
    if (with_topic_) return message(std::move(held_[0]), std::move(held_[1]), layout, s.options().limits);
    return message(zmq::message_t(), std::move(held_[0]), layout, s.options().limits);
}

std::optional<payload_view> inbox::next_payload(socket& s, deadline& until) {
    const auto& limits = s.options().limits;
    if (batch_.active()) {
        ++s.counters.received;
    } else {
        envelope_layout layout;
        if (!receive_envelope(s, until, layout)) return std::nullopt;
        if (layout.kind != kind::batch) {
            const auto& body = held_[with_topic_ ? 1 : 0];
            const envelope e({body.data<std::byte>(), body.size()}, layout);
            return payload_view{.bytes = e.payload(),
                                .type = e.type_name(),
                                .limits = &limits,
                                .topic = with_topic_ ? std::string_view(held_[0].data<char>(), held_[0].size())
                                                     : std::string_view(),
                                .id = layout.id,
                                .correlation_id = layout.correlation_id};
        }
    }
    // The rest of a batch: read straight from its frame, no message object per record.
    auto& b = batch_;
    const auto* data = b.frame.data<std::byte>();
    const auto id = b.next_id;
    const auto r = b.take(data);
    return payload_view{.bytes = {data + r.offset, r.size},
                        .type = {reinterpret_cast<const char*>(data) + b.layout.type_name.offset, b.layout.type_name.size},
                        .limits = &limits,
                        .topic = {b.topic.data<char>(), b.topic.size()},
                        .id = id,
                        .correlation_id = b.layout.correlation_id};
}

} // namespace courier::detail
