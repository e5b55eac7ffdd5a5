#pragma once
// Private (framing layer): what receives the messages of one pattern from a socket. It knows the
// frame shapes ([topic][envelope] or [envelope]), parses envelopes, and hands a batch out one
// message at a time. The thin socket below it knows nothing of envelopes.

#include "courier/detail/deadline.hpp"
#include "courier/detail/receive.hpp"
#include "courier/envelope.hpp"
#include "courier/message.hpp"
#include "transport/socket.hpp"
#include "wire/envelope_writer.hpp"

#include <zmq.hpp>

#include <array>
#include <cstdint>
#include <optional>

namespace courier::detail {

/// A received batch frame being handed out one message at a time.
struct batch_cursor {
    zmq::message_t topic, frame;
    envelope_layout layout{};
    std::uint32_t next = 0, end = 0;
    std::uint64_t next_id = 0;

    bool active() const noexcept { return next < end; }
    /// Steps to the next record: where its payload lies in `frame`; next_id moves on with it.
    envelope_layout::range take() noexcept { return take(frame.data<std::byte>()); }
    /// The same, given frame.data() (one libzmq call fewer per message).
    envelope_layout::range take(const std::byte* data) noexcept {
        envelope_layout::range r;
        ++next_id;
        next = next_record(data, next, r);
        return r;
    }
};

/// Receives the messages of kind::message (and batches of them) of one publish-subscribe or
/// pipeline socket. Bad input met on the way is rejected through the socket (counted, reported)
/// and skipped; no call waits past its deadline however much of it comes.
/// @par Thread safety: none; used with its socket by one thread at a time.
class inbox {
public:
    /// `with_topic`: frames are [topic][envelope] (publish-subscribe), else [envelope].
    explicit inbox(bool with_topic) noexcept : with_topic_(with_topic) {}

    /// The next good message, or nothing on timeout. A message of a batch shares its frame with
    /// the rest of the batch (libzmq counts references).
    std::optional<message> receive_message(socket& s, deadline& until);
    /// The next message framed [topic][body] or [body], without decoding the body; other shapes
    /// are rejected and skipped.
    std::optional<raw_message> receive_raw(socket& s, deadline& until);
    /// The next good message's payload, for the typed receive: read in place (a batch's records
    /// straight from its frame), no message object made. Lent until the next call.
    std::optional<payload_view> next_payload(socket& s, deadline& until);

private:
    /// Receives until a good envelope of kind::message or batch came (true) or `until` passed.
    /// A message stays in held_; a batch goes to batch_, whose first record is not yet taken.
    bool receive_envelope(socket& s, deadline& until, envelope_layout& layout);
    /// The next message of the batch in hand.
    message next_of_batch(const decode_limits& limits);

    batch_cursor batch_;
    std::array<zmq::message_t, 2> held_; // the last message received: [topic][envelope] or [envelope]
    bool with_topic_;
};

} // namespace courier::detail
