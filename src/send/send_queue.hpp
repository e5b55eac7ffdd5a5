#pragma once
// Private: the thread-safe, batching send path of a publisher or pusher (courier::batching).

#include "courier/batch.hpp"
#include "transport/counters.hpp"
#include "courier/envelope.hpp"
#include "courier/status.hpp"
#include "transport/socket.hpp"

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
class worker;
}

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
/// finds the sender idle, and comes more than direct_gap after the previous one, tries once to hand
/// its message to libzmq from the calling thread; otherwise (or if libzmq has no room) it appends
/// to the open batch, which the sending thread takes, with whatever else accumulated, when it is
/// free. Under load (the sending thread found work) it then naps for direct_gap before it looks
/// again, so that producers append without waking it and batches fill; it sleeps until woken once
/// a nap finds nothing. Per calling thread, order is kept.
/// Every batch has one deadline, fixed when its first message is queued: send_timeout later (or
/// close()'s, if sooner). The sending thread waits for room in libzmq until then; a batch that
/// finds none is dropped and counted (counters().dropped), so that sent + dropped (+ failed, once
/// the context is shut down) == messages accepted, and flush() and close() are bounded whatever
/// is queued.
/// @par Thread safety: every member may be called from any thread; close() from one at a time.
class send_queue {
public:
    /// `sock` must outlive the queue; the queue is its only user until close() returns.
    /// `sequences` (a publisher's, or null): numbers messages per topic as they leave; it must
    /// outlive the queue and is used under socket_mutex(). The sending thread is pinned to
    /// options.cpu, or with -1 to the next of `ctx`'s library_thread_cpus (detail::worker).
    send_queue(context& ctx, zmq::socket_ref sock, bool with_topic, const socket_options& socket,
               const batching& options, topic_sequences* sequences = nullptr);
    ~send_queue();
    send_queue(const send_queue&) = delete;
    send_queue& operator=(const send_queue&) = delete;

    /// Sends or queues one message: status::ok once libzmq or the queue has it. Waits only for
    /// room in the queue: until `deadline` if `may_wait` (then status::timeout, counted timed_out),
    /// else status::full at once, counted refused (a lossy publish, try_push, try_publish).
    status send(std::string_view topic, std::string_view type, std::span<const std::byte> payload,
                header_list headers, deadline& until, bool may_wait);

    /// How a flush ended.
    enum class flushed {
        all_sent,     ///< every message queued at the call was handed to libzmq
        some_dropped, ///< each was handed to libzmq or dropped (its deadline passed), at least one dropped
        still_queued, ///< `until` passed first: some are still queued (and stay so)
    };
    /// Waits until every message queued at the call has been handed to libzmq or dropped, or
    /// until `until`. Bounded by send_timeout whatever `until` says: that is the latest deadline
    /// of a message queued at the call.
    flushed flush(deadline& until);
    /// Stops taking messages, gives what is queued until `by` to leave, drops (and counts) the
    /// rest, and stops the sending thread: returns by `by` plus at most one wait_slice and the
    /// time to count the rest. Idempotent (a later call does not move `by`).
    void close(clock::time_point by) noexcept;

    /// Sends frames as they are, after what is queued (waiting for it until `until`). False on
    /// timeout (counted timed_out).
    bool send_raw(std::span<zmq::message_t> frames, deadline& until);

    /// The longest the sending thread blocks inside libzmq before it looks at close()'s deadline.
    static constexpr std::chrono::milliseconds wait_slice{10};

    /// Serialises other uses of the socket (bind, connect) with the sending thread.
    std::mutex& socket_mutex() noexcept { return socket_mutex_; }
    /// Takes socket_mutex() even while the sending thread waits for room in libzmq: it gives the
    /// socket way between two wait_slices (a connect() may be what brings the room).
    std::unique_lock<std::mutex> lock_socket() const;
    courier::counters counters() const;

private:
    struct pending {
        std::string topic, type;
        std::vector<std::byte> records; // bin records; or one whole envelope if `whole`
        std::size_t count = 0;
        std::int64_t timestamp_ns = 0;
        bool whole = false;
        clock::time_point opened{}; // when its first message was queued: it must leave by opened + send_timeout
    };
    void run();
    bool send_frame(const pending& p, std::unique_lock<std::mutex>& socket); // false if dropped (counted)
    bool send_direct(std::string_view topic, std::string_view type, std::span<const std::byte> payload,
                     header_list headers); // under socket_mutex_; one try, no wait
    std::unique_ptr<pending> fresh();

    zmq::socket_ref sock_;
    const bool with_topic_;
    const socket_options socket_options_;
    const batching options_;
    topic_sequences* const sequences_;

    mutable std::mutex socket_mutex_; // guards sock_, and counting sent, dropped and failed
    mutable std::atomic<unsigned> socket_wanted_{0}; // threads in lock_socket(), waiting for it
    detail::live_counters counters_{}; // read without a lock (counters())

    mutable spin_mutex mutex_;             // guards everything below
    std::condition_variable_any wake_;     // the sending thread waits (or naps) here for work
    std::condition_variable_any progress_; // callers wait here for room or for a flush
    std::vector<std::unique_ptr<pending>> ready_, spare_;
    std::unique_ptr<pending> open_;
    std::size_t queued_bytes_ = 0;
    std::uint64_t queued_ = 0, done_ = 0; // done_: sent or dropped
    struct flush_waiter {
        std::uint64_t target; // queued_ at the call: messages [done_ then, target) are waited for
        bool lost = false;    // one of them was dropped
    };
    std::vector<flush_waiter*> flushes_; // flushes waiting now
    std::size_t waiting_callers_ = 0; // callers waiting on progress_
    bool sender_waiting_ = false, sender_napping_ = false, sender_busy_ = false, flushing_ = false,
         stopping_ = false;
    clock::time_point last_idle_call_{}; // the last call that found the queue idle
    std::atomic<clock::time_point> stop_by_{clock::time_point::max()}; // close()'s deadline, read while sending
    std::unique_ptr<detail::worker> sender_; // last: started once everything above is ready
};

} // namespace courier::detail
