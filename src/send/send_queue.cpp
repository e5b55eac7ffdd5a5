#include "send/send_queue.hpp"

#include "framing/frames.hpp"
#include "wire/envelope_writer.hpp"
#include "send/sender.hpp"
#include "courier/detail/wire.hpp"
#include "transport/worker.hpp"

#include <algorithm>
#include <sched.h>
#include <thread>

namespace courier {

void batching::validate() const {
    auto bad = [](const std::string& what) { throw error(errc::invalid_option, "batching." + what); };
    if (max_messages < 1 || max_messages > (1u << 16))
        bad("max_messages must be 1 .. 65536, not " + std::to_string(max_messages));
    if (max_bytes < 1 || max_bytes > (16u << 20)) bad("max_bytes must be 1 B .. 16 MiB, not " + std::to_string(max_bytes));
    if (max_delay.count() < 0 || max_delay > std::chrono::seconds(1))
        bad("max_delay must be 0 .. 1 s, not " + std::to_string(max_delay.count()) + " us");
    if (max_queued_bytes < 1024 || max_queued_bytes > (std::size_t{1} << 30))
        bad("max_queued_bytes must be 1 KiB .. 1 GiB, not " + std::to_string(max_queued_bytes));
    if (direct_gap.count() < 0 || direct_gap > std::chrono::seconds(1))
        bad("direct_gap must be 0 .. 1 s, not " + std::to_string(direct_gap.count()) + " us");
    if (cpu < -1 || cpu > 1023) bad("cpu must be -1 (not pinned) .. 1023, not " + std::to_string(cpu));
}

namespace detail {

void spin_mutex::relax(unsigned spins) noexcept {
#if defined(__x86_64__) || defined(__i386__)
    if (spins < 128) return __builtin_ia32_pause();
#else
    if (spins < 128) return;
#endif
    sched_yield(); // the holder may have lost its core: let it run
}

namespace {

// The longest a loaded sending thread naps before it looks for more work (direct_gap if shorter).
constexpr std::chrono::microseconds max_nap{20};

} // namespace

send_queue::send_queue(context& ctx, zmq::socket_ref sock, bool with_topic, const socket_options& socket,
                       const batching& options, topic_sequences* sequences)
    : sock_(sock), with_topic_(with_topic), socket_options_(socket), options_(options), sequences_(sequences) {
    options_.validate();
    if (options_.max_bytes + records_envelope_overhead + socket_options_.limits.max_name > socket_options_.max_message_size)
        throw error(errc::invalid_option, "batching.max_bytes must leave room for the envelope within max_message_size");
    // Naps end on time (exact_timers): the default timer slack (50 us) would make a 20 us nap last 70.
    const worker_options placement{.name = "courier-send", .cpus_from = &ctx, .cpu = options_.cpu, .exact_timers = true};
    sender_ = std::make_unique<worker>(placement, nullptr, [this] { run(); }, [this] {
        wake_.notify_all();
        progress_.notify_all();
    });
}

send_queue::~send_queue() { close(deadline_after(socket_options_.linger)); }

courier::counters send_queue::counters() const { return counters_.snapshot(); }

std::unique_ptr<send_queue::pending> send_queue::fresh() {
    if (spare_.empty()) return std::make_unique<pending>();
    auto p = std::move(spare_.back());
    spare_.pop_back();
    p->records.clear();
    p->count = 0;
    return p;
}

status send_queue::send(std::string_view topic, std::string_view type, std::span<const std::byte> payload,
                        header_list headers, deadline& until, bool may_wait) {
    if (payload.size() + topic.size() + type.size() + records_envelope_overhead > socket_options_.max_message_size)
        throw error(errc::message_too_large, "send: a payload of " + std::to_string(payload.size()) +
                                                 " bytes is over max_message_size (" +
                                                 std::to_string(socket_options_.max_message_size) + ")");
    std::unique_lock q(mutex_);
    if (!stopping_ && ready_.empty() && !open_ && !sender_busy_ && !sender_napping_) {
        // Idle: nothing queued, the sending thread asleep. Only here is the clock read: under
        // load a call just appends.
        const auto now = clock::now();
        const auto previous = last_idle_call_;
        last_idle_call_ = now;
        if (now - previous >= options_.direct_gap) {
            // Low load: send from this thread (nothing is queued or being sent: order is kept).
            // One try: a batching send waits only for room in the queue, never in libzmq.
            std::unique_lock socket_lock(socket_mutex_, std::try_to_lock);
            if (socket_lock) {
                q.unlock();
                if (send_direct(topic, type, payload, headers)) return status::ok;
                socket_lock.unlock();
                q.lock(); // libzmq has no room now: queue it, as under load
            }
        }
    }

    // A message with headers travels alone, encoded now (outside the lock); others join the open
    // batch. A publisher's is numbered as it leaves, when its topic's sequence number is known.
    std::vector<std::byte> whole;
    if (!headers.items().empty()) {
        q.unlock();
        const outgoing e{.kind = kind::message,
                         .id = sequences_ ? 0 : next_message_id(),
                         .timestamp_ns = now_ns(),
                         .type_name = type,
                         .headers = headers,
                         .payload = payload};
        whole = sequences_ ? encode_renumberable(e) : encode(e);
        q.lock();
    }
    const std::size_t bytes = whole.empty() ? record_size(payload) : whole.size();

    for (;;) {
        if (stopping_) throw error(errc::closed, "send: the sender is closed");
        if (queued_bytes_ == 0 || queued_bytes_ + bytes <= options_.max_queued_bytes) break;
        if (!may_wait) {
            ++counters_.refused; // its one writer: under mutex_
            return status::full;
        }
        if (sender_waiting_ || sender_napping_) wake_.notify_one();
        ++waiting_callers_;
        const auto woke = progress_.wait_until(q, until.when());
        --waiting_callers_;
        if (woke == std::cv_status::timeout && queued_bytes_ != 0 &&
            queued_bytes_ + bytes > options_.max_queued_bytes) {
            counters_.timed_out.add_shared(1); // under mutex_, and send_raw's under socket_mutex_
            return status::timeout;
        }
    }
    const bool joins = open_ && whole.empty() && !open_->whole && open_->topic == topic && open_->type == type &&
                       open_->count < options_.max_messages && open_->records.size() + bytes <= options_.max_bytes;
    if (!joins) {
        if (open_) ready_.push_back(std::move(open_));
        open_ = fresh();
        open_->topic.assign(topic);
        open_->type.assign(type);
        open_->whole = !whole.empty();
        open_->timestamp_ns = now_ns();
        open_->opened = clock::now(); // one clock read per batch: its deadline
    }
    if (open_->whole) {
        open_->records = std::move(whole);
    } else {
        append_record(open_->records, payload);
    }
    ++open_->count;
    queued_bytes_ += bytes;
    ++queued_;
    bool closed = false;
    if (open_->whole || open_->count >= options_.max_messages || open_->records.size() >= options_.max_bytes) {
        ready_.push_back(std::move(open_));
        closed = true;
    }
    // A sleeping sending thread is woken; a napping one only for a full batch.
    const bool wake = sender_waiting_ || (sender_napping_ && closed);
    q.unlock();
    if (wake) wake_.notify_one(); // outside the lock, so the sending thread does not wake into it
    return status::ok;
}

bool send_queue::send_raw(std::span<zmq::message_t> frames, deadline& until) {
    const bool in_order = flush(until) != flushed::still_queued; // the caller's earlier messages go first
    auto socket_lock = lock_socket();
    if (!in_order || !send_frames(sock_, frames, until, socket_options_.max_message_size)) {
        counters_.timed_out.add_shared(1);
        return false;
    }
    ++counters_.sent;
    return true;
}

bool send_queue::send_direct(std::string_view topic, std::string_view type, std::span<const std::byte> payload,
                             header_list headers) {
    // A number is used only if the message leaves (as without batching).
    std::uint64_t* last = sequences_ ? &sequences_->last(topic) : nullptr;
    auto m = last ? message_of(with_topic_, topic, type, payload, headers, {*last + 1, sequences_->publisher_id()})
                  : message_of(with_topic_, topic, type, payload, headers);
    auto once = deadline::at(clock::time_point{}); // passed: one try, no wait
    if (!send_frames(sock_, m.all(), once, socket_options_.max_message_size)) return false;
    ++counters_.sent;
    if (last) ++*last;
    return true;
}

std::unique_lock<std::mutex> send_queue::lock_socket() const {
    socket_wanted_.fetch_add(1, std::memory_order_relaxed);
    std::unique_lock s(socket_mutex_);
    socket_wanted_.fetch_sub(1, std::memory_order_relaxed);
    return s;
}

bool send_queue::send_frame(const pending& p, std::unique_lock<std::mutex>& socket) {
    message_frames m;
    if (p.whole) {
        numbering n{};
        if (sequences_) n = {sequences_->take(p.topic, 1), sequences_->publisher_id()};
        m = encoded_message_of(with_topic_, p.topic, p.records, sequences_ ? &n : nullptr);
    } else {
        // A publisher's batch takes its numbers as it leaves, so they follow the wire order; one
        // that then times out has used them, and subscribers count it as missed, which it is.
        const auto first_id = sequences_ ? sequences_->take(p.topic, p.count) : next_message_ids(p.count);
        const std::uint64_t correlation = sequences_ ? sequences_->publisher_id() : 0;
        m = batch_of(with_topic_, p.topic, p.type, p.timestamp_ns, p.records, p.count, first_id, correlation);
    }
    // The batch's one deadline, fixed when it was opened (not when it is taken: a queue of batches
    // behind a missing peer would wait send_timeout each), or close()'s, if sooner. The first try
    // neither waits nor reads the clock; after that the thread blocks inside libzmq at most
    // wait_slice at a time, so that a close() while it waits is seen in time.
    const auto expires = p.opened + socket_options_.send_timeout;
    try {
        for (bool tried = false;; tried = true) {
            const auto stop_by = stop_by_.load(std::memory_order_acquire);
            auto until = deadline::at(clock::time_point{});
            if (tried || stop_by != clock::time_point::max()) {
                const auto now = clock::now();
                if (now >= stop_by || (tried && now >= expires)) break;
                if (tried) until = deadline::at(std::min({expires, stop_by, now + wait_slice}));
            }
            if (send_frames(sock_, m.all(), until, SIZE_MAX)) {
                counters_.sent += p.count;
                return true;
            }
            if (socket_wanted_.load(std::memory_order_relaxed) != 0) {
                // Nothing of this frame went out: let bind, connect or counters() have the socket.
                socket.unlock();
                while (socket_wanted_.load(std::memory_order_relaxed) != 0) std::this_thread::yield();
                socket.lock();
            }
        }
        counters_.dropped += p.count;
    } catch (const error&) {
        counters_.failed += p.count; // the context was shut down: nothing can be sent any more
    }
    return false;
}

void send_queue::run() {
    const auto nap = std::min<std::chrono::microseconds>(options_.direct_gap, max_nap);
    bool loaded = false; // the last look found work
    std::vector<std::unique_ptr<pending>> taken;
    std::unique_lock q(mutex_);
    for (;;) {
        if (loaded && ready_.empty() && !open_ && !stopping_ && nap.count() > 0) {
            // Under load: nap, and let producers append without waking this thread.
            sender_napping_ = true;
            wake_.wait_for(q, nap);
            sender_napping_ = false;
        }
        while (ready_.empty() && !open_ && !stopping_) {
            loaded = false;
            sender_waiting_ = true;
            wake_.wait(q);
            sender_waiting_ = false;
        }
        if (ready_.empty() && !open_) return; // stopping, and everything is sent
        if (options_.max_delay.count() > 0 && ready_.empty() && !flushing_ && !stopping_) {
            sender_waiting_ = true;
            wake_.wait_until(q, open_->opened + options_.max_delay,
                             [&] { return !ready_.empty() || flushing_ || stopping_; });
            sender_waiting_ = false;
        }
        taken.swap(ready_);
        // The open batch goes too, unless it may still wait for more (max_delay).
        if (open_ && (options_.max_delay.count() == 0 || flushing_ || stopping_ ||
                      clock::now() >= open_->opened + options_.max_delay))
            taken.push_back(std::move(open_));
        if (taken.empty()) continue;
        loaded = true;
        sender_busy_ = true;
        // Messages are numbered in the order they were queued; those taken now follow done_.
        std::uint64_t next = done_, first_lost = UINT64_MAX;
        std::size_t bytes = 0;
        q.unlock();
        {
            std::unique_lock s(socket_mutex_);
            for (const auto& p : taken) {
                bytes += p->records.size();
                if (!send_frame(*p, s)) first_lost = std::min(first_lost, next);
                next += p->count;
            }
        }
        q.lock();
        sender_busy_ = false;
        queued_bytes_ -= bytes;
        done_ = next;
        for (auto* f : flushes_)
            if (first_lost < f->target) f->lost = true;
        for (auto& p : taken)
            if (spare_.size() < 16) spare_.push_back(std::move(p));
        taken.clear();
        if (done_ == queued_) flushing_ = false;
        if (waiting_callers_ != 0) progress_.notify_all();
    }
}

send_queue::flushed send_queue::flush(deadline& until) {
    std::unique_lock q(mutex_);
    flush_waiter waiter{.target = queued_};
    if (done_ >= waiter.target) return flushed::all_sent;
    flushing_ = true;
    if (sender_waiting_ || sender_napping_) wake_.notify_one();
    flushes_.push_back(&waiter);
    ++waiting_callers_;
    const auto done = [&] { return done_ >= waiter.target; };
    // Every message queued now has a deadline at most send_timeout away: `never` is bounded too.
    if (until.when() == clock::time_point::max()) progress_.wait(q, done);
    else progress_.wait_until(q, until.when(), done);
    --waiting_callers_;
    flushes_.erase(std::find(flushes_.begin(), flushes_.end(), &waiter));
    if (!done()) return flushed::still_queued;
    return waiter.lost ? flushed::some_dropped : flushed::all_sent;
}

void send_queue::close(clock::time_point by) noexcept {
    {
        std::lock_guard q(mutex_);
        if (!stopping_) stop_by_.store(by, std::memory_order_release);
        stopping_ = true;
    }
    if (sender_) sender_->stop(); // wakes the sending thread and any waiting caller, and joins
    progress_.notify_all(); // a second close(): callers may still wait
}

} // namespace detail
} // namespace courier
