#include "send/sender.hpp"

#include "core/context_access.hpp"

#include "framing/frames.hpp"
#include "wire/ids.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <mutex>

namespace courier::detail {

sender::sender(context& ctx, zmq::socket_type type, bool with_topic, const socket_options& options,
               std::optional<batching> batch, std::size_t max_topics)
    : socket_(ctx, type, options), with_topic_(with_topic) {
    if (max_topics > 0) sequences_ = std::make_unique<topic_sequences>(random_id(), max_topics);
    if (!batch) return;
    queue_ = std::make_unique<send_queue>(ctx, socket_.native(), with_topic, socket_.options(), *batch,
                                          sequences_.get());
}

std::string sender::bind(std::string_view endpoint) {
    auto lock = lock_socket();
    return socket_.bind(endpoint);
}

void sender::connect(std::string_view endpoint) {
    auto lock = lock_socket();
    socket_.connect(endpoint);
}

status sender::flush() {
    if (!queue_) return status::ok;
    auto never = deadline::never(); // bounded by the queued messages' own deadlines
    return queue_->flush(never) == send_queue::flushed::all_sent ? status::ok : status::timeout;
}

void sender::close() noexcept {
    if (queue_ && socket_.is_open()) {
        // linger bounds the whole close: courier's queue first, then libzmq with what is left.
        const auto by = deadline_after(socket_.options().linger);
        queue_->close(by);
        const auto left = std::max(std::chrono::ceil<std::chrono::milliseconds>(by - clock::now()),
                                   std::chrono::milliseconds(0));
        try {
            socket_.native().set(zmq::sockopt::linger, static_cast<int>(left.count()));
        } catch (const zmq::error_t&) {
            // the context is shut down: libzmq discards what it holds whatever linger says
        }
    }
    socket_.close();
}

status sender::send_now(std::span<zmq::message_t> frames, deadline& until, when_full full) {
    if (full != when_full::refuse) return socket_.send(frames, until) ? status::ok : status::timeout;
    if (!socket_.is_open()) throw error(errc::closed, "send: socket is closed");
    auto now = deadline::after(std::chrono::milliseconds(0)); // one try, no wait
    if (!send_frames(socket_.native(), frames, now, socket_.options().max_message_size)) {
        ++socket_.counters.refused;
        return status::full;
    }
    ++socket_.counters.sent;
    return status::ok;
}

status sender::send(std::string_view topic, std::string_view type, std::span<const std::byte> payload,
                    header_list headers, deadline& until, when_full full) {
    if (queue_) return queue_->send(topic, type, payload, headers, until, full == when_full::wait);
    if (!sequences_) {
        auto m = message_of(with_topic_, topic, type, payload, headers);
        return send_now(m.all(), until, full);
    }
    // A number is used only by a message that left: one refused or timed out may be tried again
    // without subscribers counting a gap.
    auto& last = sequences_->last(topic);
    auto m = message_of(with_topic_, topic, type, payload, headers, {last + 1, sequences_->publisher_id()});
    const auto s = send_now(m.all(), until, full);
    if (s == status::ok) ++last;
    return s;
}

status sender::send_raw(std::span<zmq::message_t> frames, deadline& until) {
    if (!queue_) return socket_.send(frames, until) ? status::ok : status::timeout;
    return queue_->send_raw(frames, until) ? status::ok : status::timeout;
}

} // namespace courier::detail
