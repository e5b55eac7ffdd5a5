#pragma once
// Private: the sending side shared by publisher and pusher: one socket, sent to directly, or
// through a batching send_queue when batching is set.

#include "courier/batch.hpp"
#include "courier/context.hpp"
#include "courier/status.hpp"
#include "framing/sequence.hpp"
#include "send/send_queue.hpp"
#include "transport/socket.hpp"

#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace courier::detail {

/// What a send does when there is no room (in libzmq, or in the batching queue).
enum class when_full {
    wait,   ///< wait until the deadline, then status::timeout (counted timed_out)
    drop,   ///< batching queue full: status::full at once, nothing queued (counted refused): lossy publish
    refuse, ///< status::full at once, nothing sent (counted refused): try_push, try_publish
};

/// Owns a sending socket and, with batching, its queue. Move-only.
/// @par Thread safety: without batching one thread at a time; with it, every member but the
/// constructor, destructor and moves may be called from any thread.
class sender {
public:
    /// `max_topics` > 0 numbers messages per topic (a publisher); 0 leaves ids global (a pusher).
    sender(context& ctx, zmq::socket_type type, bool with_topic, const socket_options& options,
           std::optional<batching> batch, std::size_t max_topics = 0);
    ~sender() { close(); }
    sender(sender&&) noexcept = default;
    /// Closes this sender first (its sending thread must stop before its socket goes).
    sender& operator=(sender&& other) noexcept {
        if (this != &other) {
            close();
            queue_ = std::move(other.queue_);
            sequences_ = std::move(other.sequences_);
            socket_ = std::move(other.socket_);
            with_topic_ = other.with_topic_;
        }
        return *this;
    }

    std::string bind(std::string_view endpoint);
    void connect(std::string_view endpoint);
    /// status::ok once everything queued at the call was handed to libzmq; status::timeout if
    /// some of it was dropped instead (counted dropped). Within send_timeout (batching).
    status flush();
    /// With batching: what is queued has until linger from now to be handed to libzmq, the rest
    /// is dropped (counted), and libzmq keeps what is left of linger for what it holds.
    void close() noexcept;
    bool is_open() const noexcept { return socket_.is_open(); }
    courier::counters counters() const { return queue_ ? queue_->counters() : socket_.counters.snapshot(); }
    const socket_options& options() const noexcept { return socket_.options(); }
    zmq::socket_t& native() noexcept { return socket_.native(); }
    bool batched() const noexcept { return queue_ != nullptr; }
    /// Holds the socket against the batching thread (an empty lock without batching).
    std::unique_lock<std::mutex> lock_socket() {
        return queue_ ? queue_->lock_socket() : std::unique_lock<std::mutex>();
    }
    /// The socket if nobody else holds it now (always, without batching).
    std::unique_lock<std::mutex> try_lock_socket() {
        return queue_ ? std::unique_lock<std::mutex>(queue_->socket_mutex(), std::try_to_lock)
                      : std::unique_lock<std::mutex>();
    }
    /// The publisher id messages carry (0 if not numbered).
    std::uint64_t publisher_id() const noexcept { return sequences_ ? sequences_->publisher_id() : 0; }

    /// Sends one message in an envelope of kind::message (`topic` ignored without a topic frame).
    status send(std::string_view topic, std::string_view type, std::span<const std::byte> payload,
                header_list headers, deadline& until, when_full full);
    /// Sends `frames` as they are, after whatever is queued.
    status send_raw(std::span<zmq::message_t> frames, deadline& until);

private:
    status send_now(std::span<zmq::message_t> frames, deadline& until, when_full full);

    socket socket_;
    bool with_topic_;
    std::unique_ptr<topic_sequences> sequences_; // before queue_, which points to it
    std::unique_ptr<send_queue> queue_;          // declared after socket_: closed before it
};

} // namespace courier::detail
