#pragma once
// Private: the one libzmq socket every pattern class owns, with the options applied, deadlines
// on every blocking call, counting, and bad-input handling shared by all patterns.

#include "courier/context.hpp"
#include "courier/detail/counters.hpp"
#include "courier/detail/monitor.hpp"
#include "courier/error.hpp"
#include "courier/message.hpp"
#include "courier/options.hpp"

#include <zmq.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace courier::detail {

using clock = std::chrono::steady_clock;

/// Deadline `timeout` from now, saturating instead of overflowing.
inline clock::time_point deadline_after(std::chrono::milliseconds timeout) noexcept {
    if (timeout > std::chrono::hours(24 * 365)) return clock::time_point::max();
    return clock::now() + timeout;
}

/// A deadline whose clock is read only when a call must wait: a message already there, or room
/// to send, costs no clock read.
class deadline {
public:
    static deadline after(std::chrono::milliseconds timeout) noexcept {
        deadline d;
        d.timeout_ = timeout;
        return d;
    }
    static deadline at(clock::time_point when) noexcept {
        deadline d;
        d.when_ = when;
        d.known_ = true;
        return d;
    }
    static deadline never() noexcept { return at(clock::time_point::max()); }
    /// Milliseconds left, rounded up (a 0.4 ms remainder must not become a busy 0); 0 once
    /// passed; -1 for never.
    int remaining_ms() noexcept {
        const auto at = when();
        if (at == clock::time_point::max()) return -1;
        const auto left = at - clock::now();
        if (left <= clock::duration::zero()) return 0;
        const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
        return ms > INT32_MAX ? INT32_MAX : static_cast<int>(ms);
    }
    /// True once the deadline is behind us (starts the clock if it was not started).
    bool passed() noexcept {
        const auto at = when(); // first: the operands of <= may be evaluated in either order
        return at <= clock::now();
    }
    clock::time_point when() noexcept {
        if (!known_) {
            when_ = deadline_after(timeout_);
            known_ = true;
        }
        return when_;
    }

private:
    std::chrono::milliseconds timeout_{0};
    clock::time_point when_{};
    bool known_ = false;
};

/// Move-only owner of one libzmq socket. Not thread-safe, like the socket it owns.
///
/// Cut-offs: libzmq 4.3.4 drops a connection for good after a protocol error (a frame over
/// max_message_size, malformed framing) and never redials it. A socket that connect()s to a tcp or
/// ipc endpoint and reads from it therefore has a monitor (events.cpp, a thread) that finds such
/// drops; the owner redials them (disconnect, then connect) in its own receive and send calls:
/// when a call must wait, which it then does in slices of `wait_slice`, or, on a socket that is
/// never idle, at the first receive `hold` after the drop was found. A message already there
/// costs one relaxed atomic load more.
class socket {
public:
    socket(context& ctx, zmq::socket_type type, socket_options options);
    socket(socket&&) noexcept = default;
    socket& operator=(socket&&) noexcept = default;
    ~socket() { close(); }

    /// How long a wait blocks in libzmq at most, on a socket that redials cut-offs.
    static constexpr std::chrono::milliseconds wait_slice{100};
    /// How long a found cut-off may wait for the socket to run dry before it is redialled anyway
    /// (redialling drops what the dead connection delivered and nobody has read yet).
    static constexpr std::chrono::milliseconds hold{1000};

    /// Binds and returns the endpoint actually bound (a `*` port resolved).
    std::string bind(std::string_view endpoint);
    /// Connects; a tcp or ipc endpoint of a socket that receives is also watched for cut-offs.
    void connect(std::string_view endpoint);
    void unbind(std::string_view endpoint);
    void disconnect(std::string_view endpoint);
    void close() noexcept;
    bool is_open() const noexcept { return static_cast<bool>(sock_); }
    /// The queue of peer events (options().events.queue_capacity > 0), else nullptr.
    event_queue* events() noexcept { return monitor_ ? monitor_->queue() : nullptr; }

    /// Sends `frames` as one message, waiting for room until `deadline`. Returns false on timeout.
    /// Throws courier::error(closed) if the context is shut down, message_too_large if over the limit.
    bool send(std::span<zmq::message_t> frames, deadline& until);

    /// Receives one message into `frames`, waiting until `deadline`. Returns the number of frames
    /// the message had (frames beyond frames.size() are read and discarded, so the count can be
    /// larger), or 0 on timeout. Throws courier::error(closed) if the context is shut down.
    std::size_t receive(std::span<zmq::message_t> frames, deadline& until);

    /// The one way every pattern reports bad input: counts a rejected incoming message
    /// (counters.rejected) and tells the options' on_rejected callback (which must not throw; if
    /// it does, the exception is swallowed so that the receiving thread lives on). Call it from
    /// the thread that counts for this socket (its owner, or the one holding its lock).
    /// `counted_received`: the message was already counted received (its envelope decoded), and
    /// its payload was then refused (wrong type, no handler): that count is taken back.
    void reject(const error& e, bool counted_received = false) noexcept;
    /// reject(e, true).
    void reject_received(const error& e) noexcept { reject(e, true); }

    zmq::socket_t& native() noexcept { return sock_; }
    const socket_options& options() const noexcept { return options_; }
    /// Counted by whoever uses the socket; read from any thread with counters.snapshot().
    live_counters counters{};

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
            if (static_cast<std::uint8_t>(data[next]) == 0xc4) { // bin8: every record under 256 bytes
                r = {next + 2, static_cast<std::uint8_t>(data[next + 1])};
                next = r.offset + r.size;
                return r;
            }
            next = next_batch_record({data, end}, next, r);
            return r;
        }
    } batch;

private:
    /// Redials the cut-offs the monitor found: now if `idle` (the call must wait, so nothing the
    /// dead connection delivered is left unread), else only once they have waited `hold`.
    void redial_cut_offs(bool idle);
    bool watching() const noexcept { return !connected_.empty(); }

    /// An endpoint this socket connected and watches: as the user gave it, as libzmq names it.
    struct connected_endpoint {
        std::string given, named;
    };

    zmq::socket_t sock_;
    socket_options options_;
    zmq::context_t* ctx_;
    zmq::socket_type type_;
    std::unique_ptr<monitor> monitor_; // when options_.events is enabled, or since the first watched connect
    std::vector<connected_endpoint> connected_; // watched for cut-offs
    int receive_timeout_ = -1; // ZMQ_RCVTIMEO as last set, to set it only when it changes
};

/// The encoded envelope of `e` in a new frame.
zmq::message_t envelope_frame(const outgoing& e);

/// The frames of one published or pushed message: [topic][envelope], or [envelope].
struct message_frames {
    std::array<zmq::message_t, 2> frames;
    std::size_t count = 0;
    std::span<zmq::message_t> all() noexcept { return {frames.data(), count}; }
};
message_frames message_of(bool with_topic, std::string_view topic, std::string_view type,
                          std::span<const std::byte> payload, header_list headers);

/// Tell ThreadSanitizer that libzmq hands `m`'s buffer to another thread (released, before a
/// send) or got it from one (acquired, after a receive); no-ops in other builds.
void released(zmq::message_t& m) noexcept;
void acquired(zmq::message_t& m) noexcept;

/// Translates a libzmq error into courier::error (closed, invalid_argument or zmq).
[[noreturn]] void fail(const char* what, const zmq::error_t& e);
/// Sends `frames` as one message, waiting for room until `deadline`; false on timeout. Throws
/// message_too_large if a frame is over `max_size`, and what fail() throws.
bool send_frames(zmq::socket_ref sock, std::span<zmq::message_t> frames, deadline& until, std::size_t max_size);

/// Receives the next good message of kind::message, framed [topic][envelope] when `with_topic`
/// and [envelope] otherwise; bad input on the way is rejected (counted, reported) and skipped.
std::optional<message> receive_message(socket& s, bool with_topic, deadline& until);

/// Receives the next message framed [topic][body] (`with_topic`) or [body], without decoding the
/// body; other shapes are rejected and skipped.
std::optional<raw_message> receive_raw(socket& s, bool with_topic, deadline& until);

/// As receive_message, with the payload read as a T; a message that does not read as T is
/// rejected too.
template <class T>
std::optional<T> receive_as(socket& s, bool with_topic, deadline until) {
    for (;;) {
        std::optional<message> m;
        std::span<const std::byte> payload;
        std::string_view type;
        auto& b = s.batch;
        if (b.active()) {
            // The rest of a batch: decode straight from its frame, no message object per record.
            const auto* data = b.frame.data<std::byte>();
            const auto r = b.take(data);
            ++s.counters.received;
            payload = {data + r.offset, r.size};
            type = {reinterpret_cast<const char*>(data) + b.layout.type_name.offset, b.layout.type_name.size};
        } else {
            m = receive_message(s, with_topic, until);
            if (!m) return std::nullopt;
            payload = m->payload();
            type = m->type_name();
        }
        try {
            return decode_payload<T>(payload, type, s.options().limits);
        } catch (const error& e) {
            s.reject_received(e);
        }
        if (until.passed()) return std::nullopt;
    }
}

} // namespace courier::detail
