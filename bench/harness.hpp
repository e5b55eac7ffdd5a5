#pragma once
// The measuring harness shared by every implementation: parameters, outcomes, thread pinning,
// endpoints, and the two drivers (a stream of messages, and one request at a time).
//
// A case is one function `outcome f(const params&)`. It builds an adapter (sockets of one
// library, made before any thread is pinned so that library threads stay unpinned) and hands
// it to run_stream() or run_reqrep(). Each case runs in a forked child process of its own.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <courier/fields.hpp>
#include <msgpack.hpp>
#include <zmq.h>

namespace bench {

using clock = std::chrono::steady_clock;

enum class transport { tcp, ipc, inproc };
std::string_view to_string(transport t) noexcept;

struct params {
    transport tr = transport::tcp;
    std::size_t size = 16;  ///< payload bytes (raw-bytes cases; typed cases send a 32-byte struct)
    int connections = 1;    ///< sender sockets, each connected to the one receiver
    int subscribers = 1;    ///< receiver sockets (publish-subscribe fan-out)
    int threads = 1;        ///< sender threads sharing the sender sockets
    double seconds = 0.3;   ///< length of the timed part
    bool pin = true;        ///< sender (or client) on CPU 0, receiver (or server) on CPU 1
    bool quick = false;
};

struct outcome {
    double seconds = 0;            ///< timed part: first send to last receive
    std::uint64_t messages = 0;    ///< messages sent in the timed part (calls, for request-reply)
    std::uint64_t deliveries = 0;  ///< messages received in the timed part, all receivers
    std::uint64_t lost = 0;        ///< expected but never received (timed part and warm-up)
    double p50_us = -1, p99_us = -1;
    /// CPU time per message of the sending (or calling) threads and of the receiving (or
    /// serving) thread over the timed part: what each side costs, whatever the pace.
    double sender_cpu_ns = -1, receiver_cpu_ns = -1;
    std::string error;             ///< empty when the case ran as it should
};

/// CPU time the calling thread has used, in nanoseconds.
std::int64_t thread_cpu_ns() noexcept;

/// Thrown by adapters when a send or receive fails; the case reports it as its error.
struct failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Pins the calling thread to `cpu` (no-op when pinning is off or the CPU does not exist).
void pin_to(int cpu, bool pin);

/// A fresh address to bind on. `style` "zmq" gives tcp://127.0.0.1:* (libzmq picks the port),
/// "nng" gives tcp://127.0.0.1:0; ipc paths live in the directory named by COURIER_BENCH_TMP.
std::string bind_address(transport t, std::string_view style);

/// The 32-byte struct of the typed cases, as courier users describe it: COURIER_FIELDS, a stable
/// courier type name.
struct tick {
    static constexpr std::string_view courier_type_name = "bench.Tick";
    std::uint64_t seq = 0;
    std::int64_t price = 0;
    double quantity = 0;
    std::uint32_t venue = 0;
    std::uint32_t flags = 0;
    COURIER_FIELDS(seq, price, quantity, venue, flags)
};
static_assert(sizeof(tick) == 32);

/// The baseline's twin, as a team writes it by hand with msgpack-cxx: MSGPACK_DEFINE_MAP. The
/// same members and the same bytes on the wire (a msgpack map keyed by member name).
struct msgpack_tick {
    std::uint64_t seq = 0;
    std::int64_t price = 0;
    double quantity = 0;
    std::uint32_t venue = 0;
    std::uint32_t flags = 0;
    MSGPACK_DEFINE_MAP(seq, price, quantity, venue, flags)
};
static_assert(sizeof(msgpack_tick) == 32);

inline tick make_tick(std::uint64_t seq) noexcept {
    return {.seq = seq, .price = 1'000'000 + static_cast<std::int64_t>(seq % 977), .quantity = 0.5 * (seq % 13),
            .venue = static_cast<std::uint32_t>(seq % 7), .flags = 3};
}
inline msgpack_tick make_msgpack_tick(std::uint64_t seq) noexcept {
    const auto t = make_tick(seq);
    return {.seq = t.seq, .price = t.price, .quantity = t.quantity, .venue = t.venue, .flags = t.flags};
}

/// Raw-bytes payloads carry their sequence number in the first 8 bytes.
inline void put_seq(std::byte* payload, std::uint64_t seq) noexcept { std::memcpy(payload, &seq, sizeof seq); }
inline std::uint64_t get_seq(const void* payload, std::size_t size) {
    if (size < sizeof(std::uint64_t)) throw failure("payload shorter than its sequence number");
    std::uint64_t seq;
    std::memcpy(&seq, payload, sizeof seq);
    return seq;
}

/// What a receiver got. Publish-subscribe streams start with a barrier of probes and an end
/// marker on topics of their own (control), so that no data is published before every
/// subscription is live; data goes on topic "t".
enum class rx { none, data, probe, end };
inline constexpr std::string_view data_topic = "t";
inline constexpr std::string_view probe_topic = "\x01p";
inline constexpr std::string_view end_topic = "\x01e";
inline rx classify(std::string_view topic) noexcept {
    if (topic == probe_topic) return rx::probe;
    if (topic == end_topic) return rx::end;
    return rx::data;
}

/// High-water marks for publish-subscribe cases: far above the sender's window, so PUB never
/// drops. Push-pull keeps the default (1000), where a full queue blocks the sender instead.
inline constexpr int pubsub_hwm = 100'000;

// ---- stream driver ---------------------------------------------------------------------------
//
// An adapter for run_stream provides:
//   static constexpr bool pubsub;              control messages and a sender window are used
//   void send(std::uint64_t seq, std::size_t socket);   one data message; throws failure
//   void send_control(rx kind);                (pubsub) a probe or an end marker, to all
//   void finish();                             after a thread's last send (flush a batching sender)
//   rx receive(std::size_t sub, int timeout_ms, std::uint64_t& seq);
//                                              one message from receiver `sub`; timeout 0 = try
//   void* poll_handle(std::size_t sub);        libzmq socket, for polling several receivers
//   std::uint64_t dropped();                   messages the library counted as dropped
//
// Sequence: (pubsub) probe until every subscriber sees one, then an end marker; a warm-up of K
// messages, received in full; then the timed part: the sender sends for `seconds`, then
// publishes the exact number it sent, and the clock stops when every receiver has all of them.
// Every receiver must get exactly that many data messages, in order when there is one sender
// socket and thread; a receiver that waits 3 s without progress reports the rest as lost.
// With pubsub the sender keeps at most `window` messages ahead of the slowest subscriber (a
// credit scheme through an atomic: same process), so no queue reaches its high-water mark and
// PUB never drops; the window covers the pipeline depth, so it does not throttle.

namespace detail {

/// Waits for pred(): spins a little, then sleeps in 20 us steps, so that a waiting thread
/// neither adds latency to a short wait nor burns its CPU (which is measured) on a long one.
template <class Pred>
bool spin_until(Pred&& pred, clock::time_point deadline) {
    for (unsigned i = 0;; ++i) {
        if (pred()) return true;
        if ((i & 63) == 0 && clock::now() > deadline) return false;
        if (i < 16) std::this_thread::yield();
        else std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
}

inline double since(clock::time_point a, clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

struct shared_state {
    std::atomic<bool> live{false};       // every subscriber saw a probe
    std::atomic<int> phase{0};           // receiver: 1 barrier done, 2 warm-up done, 3 timed done
    std::atomic<std::uint64_t> acked{0}; // data messages the slowest receiver has (cumulative)
    std::atomic<std::uint64_t> total{0}; // data messages sent in all, once the sender is done
    std::atomic<bool> abort{false};
    clock::time_point timed_end{}; // written before phase 3 is released
    std::int64_t receiver_cpu = 0;  // likewise
    std::atomic<std::int64_t> sender_cpu{0};
    std::mutex error_mutex;
    std::string error;
    std::uint64_t lost = 0, misordered = 0;

    void fail(std::string what) {
        std::lock_guard lock(error_mutex);
        if (error.empty()) error = std::move(what);
        abort.store(true);
    }
};

} // namespace detail

template <class A>
outcome run_stream(A& a, const params& p) {
    using namespace detail;
    const std::size_t subs = static_cast<std::size_t>(p.subscribers);
    const std::size_t sockets = static_cast<std::size_t>(p.connections);
    const std::size_t threads = static_cast<std::size_t>(p.threads);
    const bool ordered = sockets == 1 && threads == 1;
    const std::uint64_t warm_n = std::clamp<std::uint64_t>((p.quick ? 256u << 10 : 8u << 20) / (p.size + 64), 64,
                                                           p.quick ? 2000 : 20000);
    const std::uint64_t window = std::clamp<std::uint64_t>((32u << 20) / (p.size + 64), 256, 20000);
    const auto idle_limit = std::chrono::seconds(3);
    const int poll_ms = 20; // receivers look at the sender's total this often while idle
    const std::uint64_t socket_burst = 256;
    shared_state st;

    // Receiver: one thread for all receiving sockets (2 cores: a thread per subscriber would
    // measure the scheduler).
    std::thread receiver([&] {
        pin_to(1, p.pin);
        std::vector<std::uint64_t> got(subs, 0), next(subs, 0);
        std::vector<char> probed(subs, 0), ended(subs, 0);
        std::vector<zmq_pollitem_t> items;
        if (subs > 1) {
            items.resize(subs);
            for (std::size_t i = 0; i < subs; ++i) items[i] = {a.poll_handle(i), 0, ZMQ_POLLIN, 0};
        }
        std::uint64_t delivered = 0;
        bool barrier = A::pubsub;
        auto publish_ack = [&] {
            st.acked.store(*std::min_element(got.begin(), got.end()), std::memory_order_release);
        };
        auto on = [&](std::size_t i, rx kind, std::uint64_t seq) {
            if (kind == rx::data) {
                if (barrier) throw failure("data message before the barrier ended");
                if (ordered && seq != next[i]) ++st.misordered;
                next[i] = seq + 1;
                ++got[i];
                if ((++delivered & 63) == 0) publish_ack();
            } else if (kind == rx::probe) {
                probed[i] = 1;
            } else if (kind == rx::end) {
                ended[i] = 1;
            }
        };
        // Receives until done(); false after idle_limit without a message. The clock is read
        // only when a wait came back empty, so it costs the measured path nothing.
        auto pump = [&](auto&& done) {
            bool idle = false;
            clock::time_point idle_since{};
            while (!done()) {
                if (st.abort.load(std::memory_order_relaxed)) return false;
                bool any = false;
                std::uint64_t seq = 0;
                if (subs == 1) {
                    auto kind = a.receive(0, poll_ms, seq);
                    if (kind != rx::none) on(0, kind, seq), any = true;
                } else {
                    int rc = zmq_poll(items.data(), static_cast<int>(subs), poll_ms);
                    if (rc < 0) throw failure("zmq_poll failed");
                    for (std::size_t i = 0; rc > 0 && i < subs; ++i) {
                        if (!(items[i].revents & ZMQ_POLLIN)) continue;
                        for (int burst = 0; burst < 256; ++burst) { // bounded, so no subscriber starves
                            auto kind = a.receive(i, 0, seq);
                            if (kind == rx::none) break;
                            on(i, kind, seq), any = true;
                        }
                    }
                }
                if (any) {
                    idle = false;
                } else {
                    publish_ack(); // the sender may be waiting for credit that the last messages earned
                    const auto now = clock::now();
                    if (!idle) idle = true, idle_since = now;
                    else if (now - idle_since > idle_limit) return false;
                }
            }
            return true;
        };
        auto all = [](const std::vector<char>& v) { return std::all_of(v.begin(), v.end(), [](char c) { return c != 0; }); };
        auto reached = [&](std::uint64_t n) {
            return std::all_of(got.begin(), got.end(), [n](std::uint64_t g) { return g >= n; });
        };
        auto count_lost = [&](std::uint64_t n) {
            for (auto g : got) st.lost += n - std::min(g, n);
        };
        try {
            if (barrier) {
                bool ok = pump([&] {
                    if (!st.live.load(std::memory_order_relaxed) && all(probed)) st.live.store(true);
                    return all(ended);
                });
                if (!ok) throw failure("publish-subscribe barrier did not complete");
                barrier = false;
            }
            st.phase.store(1);
            if (!pump([&] { return reached(warm_n); })) {
                count_lost(warm_n);
                throw failure("warm-up: messages did not arrive");
            }
            publish_ack();
            st.phase.store(2);
            const auto cpu0 = thread_cpu_ns();
            if (!pump([&] {
                    const auto total = st.total.load(std::memory_order_acquire);
                    return total != 0 && reached(total);
                })) {
                count_lost(st.total.load());
                throw failure("timed part: messages did not arrive");
            }
            st.timed_end = clock::now();
            st.receiver_cpu = thread_cpu_ns() - cpu0;
            publish_ack();
            // One more look: anything now would be a message that was never sent (a duplicate).
            std::uint64_t seq = 0;
            for (std::size_t i = 0; i < subs; ++i)
                if (a.receive(i, 0, seq) == rx::data) st.fail("more messages than were sent");
            st.phase.store(3);
        } catch (const std::exception& e) {
            st.fail(e.what());
        }
    });

    outcome out;
    // Sends from `threads` threads, thread t taking first + t, first + t + threads, ... until
    // `count` messages (warm-up) or `until` (timed part). Returns how many were sent. With
    // pubsub a thread's k-th message waits until first + (k + 1) * threads <= acked + window, so
    // the total in flight never exceeds the window.
    auto send_from = [&](std::uint64_t first, std::uint64_t count, clock::time_point until) {
        std::vector<std::uint64_t> sent(threads, 0);
        auto body = [&, first, count, until](std::size_t t) {
            if (threads > 1) pin_to(0, p.pin);
            const auto cpu0 = thread_cpu_ns();
            std::uint64_t acked = st.acked.load(std::memory_order_acquire);
            std::uint64_t k = 0;
            for (std::uint64_t seq = first + t; seq < first + count; seq += threads, ++k) {
                if ((k & 15) == 0 && (clock::now() >= until || st.abort.load(std::memory_order_relaxed))) break;
                if constexpr (A::pubsub) {
                    const std::uint64_t position = first + (k + 1) * threads;
                    if (position > acked + window) {
                        bool ok = spin_until([&] {
                            acked = st.acked.load(std::memory_order_acquire);
                            return position <= acked + window || st.abort.load(std::memory_order_relaxed);
                        }, clock::now() + std::chrono::seconds(10));
                        if (!ok) throw failure("subscribers stopped acknowledging");
                        if (st.abort.load(std::memory_order_relaxed)) break;
                    }
                }
                // Several sockets on one thread take turns in bursts, as independent streams
                // would; switching socket every message would measure the switching.
                a.send(seq, threads > 1 ? t % sockets : (seq / socket_burst) % sockets);
                sent[t] = k + 1;
            }
            a.finish();
            st.sender_cpu.fetch_add(thread_cpu_ns() - cpu0);
        };
        if (threads == 1) {
            body(0);
        } else {
            std::vector<std::thread> pool;
            std::vector<std::string> errors(threads);
            for (std::size_t t = 0; t < threads; ++t)
                pool.emplace_back([&, t] {
                    try {
                        body(t);
                    } catch (const std::exception& e) {
                        errors[t] = e.what();
                    }
                });
            for (auto& th : pool) th.join();
            for (auto& e : errors)
                if (!e.empty()) throw failure(e);
        }
        std::uint64_t n = 0;
        for (auto s : sent) n += s;
        return n;
    };

    try {
        pin_to(0, p.pin);
        if constexpr (A::pubsub) {
            const auto until = clock::now() + std::chrono::seconds(10);
            for (;;) {
                if (clock::now() > until || st.abort.load()) throw failure("no subscription became live");
                a.send_control(rx::probe);
                if (spin_until([&] { return st.live.load() || st.abort.load(); }, clock::now() + std::chrono::milliseconds(1)) &&
                    st.live.load())
                    break;
            }
            a.send_control(rx::end);
        }
        if (!spin_until([&] { return st.phase.load() >= 1 || st.abort.load(); }, clock::now() + std::chrono::seconds(15)) ||
            st.abort.load())
            throw failure("receiver not ready");
        if (send_from(0, warm_n, clock::time_point::max()) != warm_n) throw failure("warm-up: sending stopped");
        if (!spin_until([&] { return st.phase.load() >= 2 || st.abort.load(); }, clock::now() + std::chrono::seconds(30)) ||
            st.abort.load())
            throw failure("warm-up did not complete");
        // The timed part: the clock starts before the first send and stops when the last
        // receiver has the last message.
        st.sender_cpu.store(0);
        const auto start = clock::now();
        const auto until = start + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(p.seconds));
        const std::uint64_t n = send_from(warm_n, std::numeric_limits<std::uint64_t>::max() / 2, until);
        st.total.store(warm_n + n, std::memory_order_release);
        if (!spin_until([&] { return st.phase.load() >= 3 || st.abort.load(); }, clock::now() + std::chrono::seconds(60)))
            throw failure("timed part did not complete");
        out.seconds = since(start, st.timed_end);
        out.messages = n;
        out.deliveries = n * subs;
        if (n > 0) {
            out.sender_cpu_ns = static_cast<double>(st.sender_cpu.load()) / static_cast<double>(n);
            out.receiver_cpu_ns = static_cast<double>(st.receiver_cpu) / static_cast<double>(out.deliveries);
        }
    } catch (const std::exception& e) {
        st.fail(e.what());
    }
    receiver.join();
    out.lost = st.lost + a.dropped();
    if (st.misordered != 0 && st.error.empty())
        st.error = std::to_string(st.misordered) + " messages out of order";
    out.error = st.error;
    return out;
}

// ---- request-reply driver ----------------------------------------------------------------------
//
// An adapter for run_reqrep provides:
//   void call();                  one request with a small payload, waits for the reply; throws failure
//   bool serve_one(int timeout_ms);  the server answers one request; false on timeout
// One request at a time: the round trip of each call is a sample; p50 and p99 over the round.

double percentile(std::vector<double>& samples, double q);

template <class A>
outcome run_reqrep(A& a, const params& p) {
    std::atomic<bool> stop{false}, timing{false};
    std::string server_error;
    std::int64_t server_cpu = 0;
    std::uint64_t served = 0;
    std::thread server([&] {
        pin_to(1, p.pin);
        try {
            bool was = false;
            std::int64_t cpu0 = 0;
            while (!stop.load(std::memory_order_relaxed)) {
                const bool now = timing.load(std::memory_order_relaxed);
                if (now && !was) cpu0 = thread_cpu_ns();
                if (!now && was) server_cpu = thread_cpu_ns() - cpu0;
                was = now;
                if (a.serve_one(50) && now) ++served;
            }
            if (was) server_cpu = thread_cpu_ns() - cpu0;
        } catch (const std::exception& e) {
            server_error = e.what();
        }
    });
    outcome out;
    try {
        pin_to(0, p.pin);
        for (int i = 0; i < (p.quick ? 50 : 500); ++i) a.call();
        std::vector<double> samples;
        samples.reserve(1u << 20);
        timing.store(true);
        const auto cpu0 = thread_cpu_ns();
        const auto start = clock::now();
        const auto until = start + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(p.seconds));
        auto now = start;
        while (now < until) {
            const auto t0 = now;
            a.call();
            now = clock::now();
            samples.push_back(std::chrono::duration<double, std::micro>(now - t0).count());
        }
        const auto cpu = thread_cpu_ns() - cpu0;
        timing.store(false);
        out.seconds = detail::since(start, now);
        out.messages = out.deliveries = samples.size();
        if (!samples.empty()) out.sender_cpu_ns = static_cast<double>(cpu) / static_cast<double>(samples.size());
        out.p50_us = percentile(samples, 0.50);
        out.p99_us = percentile(samples, 0.99);
    } catch (const std::exception& e) {
        out.error = e.what();
    }
    stop.store(true);
    server.join();
    if (served > 0) out.receiver_cpu_ns = static_cast<double>(server_cpu) / static_cast<double>(served);
    if (out.error.empty()) out.error = server_error;
    return out;
}

/// Builds the adapter and runs the driver; a failure while building becomes the case's error.
template <class A, class Run>
outcome guarded(const params& p, Run run) {
    try {
        A a(p);
        return run(a, p);
    } catch (const std::exception& e) {
        outcome o;
        o.error = e.what();
        return o;
    }
}

} // namespace bench
