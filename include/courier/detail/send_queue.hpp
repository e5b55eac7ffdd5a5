#pragma once
// Private: the thread-safe, batching send path of a publisher or pusher (courier::batching).

#include "courier/batch.hpp"
#include "courier/detail/socket.hpp"
#include "courier/envelope.hpp"
#include "courier/status.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace courier::detail {

class topic_sequences;

/// A lock for critical sections of a few dozen instructions between threads on different cores:
/// it spins (then yields) instead of sleeping in the kernel. A std::mutex there made a producer
/// and the sending thread put each other to sleep and wake each other with futex calls.
class spin_mutex {
public:
    void lock() noexcept {
        for (unsigned spins = 0; flag_.exchange(true, std::memory_order_acquire);)
            while (flag_.load(std::memory_order_relaxed)) relax(++spins);
    }
    bool try_lock() noexcept {
        return !flag_.load(std::memory_order_relaxed) && !flag_.exchange(true, std::memory_order_acquire);
    }
    void unlock() noexcept { flag_.store(false, std::memory_order_release); }

private:
    static void relax(unsigned spins) noexcept;
    std::atomic<bool> flag_{false};
};

/// Takes messages from any number of threads and sends them through one socket. A call that
/// finds the sender idle, and comes more than direct_gap after the previous one, sends at once
/// from the calling thread; otherwise it appends to the open batch, which the sending thread
/// takes, with whatever else accumulated, when it is free. Under load (the sending thread found
/// work) it then naps for direct_gap before it looks again, so that producers append without
/// waking it and batches fill; it sleeps until woken once a nap finds nothing. Per calling
/// thread, order is kept.
/// @par Thread safety: every member may be called from any thread.
class send_queue {
public:
    /// `sock` must outlive the queue; the queue is its only user until close() returns.
    /// `sequences` (a publisher's, or null): numbers messages per topic as they leave; it must
    /// outlive the queue and is used under socket_mutex().
    send_queue(zmq::socket_ref sock, bool with_topic, const socket_options& socket, const batching& options,
               topic_sequences* sequences = nullptr);
    ~send_queue();
    send_queue(const send_queue&) = delete;
    send_queue& operator=(const send_queue&) = delete;

    /// Sends or queues one message. `may_wait`: wait for queue room until `deadline` (pusher)
    /// or refuse at once with status::full (publisher), counted as dropped, or with `refuse`
    /// (try_push, try_publish) as refused, as is a direct send that finds no room by `until`.
    status send(std::string_view topic, std::string_view type, std::span<const std::byte> payload,
                header_list headers, deadline& until, bool may_wait, bool refuse = false);
    /// Returns once every message queued before the call has been handed to libzmq (or dropped
    /// after send_timeout, counted as timed_out).
    void flush();
    /// Flushes, then stops the sending thread. Idempotent.
    void close() noexcept;

    /// Sends frames as they are; the caller holds socket_mutex(). False on timeout (counted).
    bool send_raw(std::span<zmq::message_t> frames, deadline& until);

    /// Serialises other uses of the socket (bind, connect) with the sending thread.
    std::mutex& socket_mutex() noexcept { return socket_mutex_; }
    courier::counters counters() const;

private:
    struct pending {
        std::string topic, type;
        std::vector<std::byte> records; // bin records; or one whole envelope if `whole`
        std::size_t count = 0;
        std::int64_t timestamp_ns = 0;
        bool whole = false;
        clock::time_point opened{};
    };
    void run(std::stop_token);
    bool send_frame(const pending& p); // under socket_mutex_
    status send_direct(std::string_view topic, std::string_view type, std::span<const std::byte> payload,
                       header_list headers, deadline& until, bool refuse);
    std::unique_ptr<pending> fresh();

    zmq::socket_ref sock_;
    const bool with_topic_;
    const socket_options socket_options_;
    const batching options_;
    topic_sequences* const sequences_;

    mutable std::mutex socket_mutex_; // guards sock_ and counters_
    courier::counters counters_{};

    mutable spin_mutex mutex_;             // guards everything below
    std::condition_variable_any wake_;     // the sending thread waits (or naps) here for work
    std::condition_variable_any progress_; // callers wait here for room or for a flush
    std::vector<std::unique_ptr<pending>> ready_, spare_;
    std::unique_ptr<pending> open_;
    std::size_t queued_bytes_ = 0;
    std::uint64_t queued_ = 0, done_ = 0, dropped_ = 0, refused_ = 0, refused_timeouts_ = 0;
    std::size_t waiting_callers_ = 0; // callers waiting on progress_
    bool sender_waiting_ = false, sender_napping_ = false, sender_busy_ = false, flushing_ = false,
         stopping_ = false;
    clock::time_point last_idle_call_{}; // the last call that found the queue idle
    std::jthread sender_;
};

} // namespace courier::detail
