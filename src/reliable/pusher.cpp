#include "courier/reliable.hpp"

#include "reliable/outbox.hpp"
#include "transport/socket.hpp"
#include "wire/ids.hpp"
#include "reliable/protocol.hpp"
#include "transport/worker.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

namespace courier {

using detail::clock;
using namespace reliable_detail;
using namespace std::chrono_literals;

/// The pusher's state and its thread. Pushing threads share `mu`'s part; the rest belongs to the
/// thread, which alone touches the socket.
struct reliable_pusher::engine {
    struct task {
        zmq::message_t frame;
        std::uint32_t attempts = 0; // hand-outs so far
    };
    struct flight {
        task t;
        std::size_t worker; // index in workers
        clock::time_point expires;
    };
    struct worker {
        zmq::message_t rid;
        std::string key; // rid's bytes, to find it again
        std::size_t window = 0, outstanding = 0;
        bool blocked = false; // its pipe was full this round
        bool alive = true;
        bool suspect = false; // let a task time out: gets no more until it is heard from again
        std::uint64_t node = 0; // from its hello
    };

    reliable_pusher_options opt;
    detail::socket sock;
    std::uint64_t node = 0;
    std::unique_ptr<detail::outbox> box;

    // Shared with pushing threads, under mu.
    mutable std::mutex mu;
    std::condition_variable changed; // room for pushers, drained for drainers
    std::deque<std::pair<std::uint64_t, zmq::message_t>> inbox;
    std::deque<std::function<void()>> commands;
    std::size_t outstanding = 0; // pushed and not acknowledged
    std::uint64_t next_seq = 1;
    bool closing = false, stopped = false;
    // sock.counters: refused, timed_out, acknowledged and dropped are counted under mu; sent,
    // redelivered, expired and rejected by the thread. counters() reads them from any thread.

    // The thread's own.
    std::map<std::uint64_t, task> ready; // by sequence: handed out lowest first
    std::unordered_map<std::uint64_t, flight> flights;
    std::deque<std::pair<clock::time_point, std::uint64_t>> expiry; // hand-out order
    std::vector<worker> workers;
    std::size_t next_worker = 0;
    zmq::message_t ping;
    clock::time_point next_probe{};
    std::vector<std::uint64_t> acked; // acknowledged this round, for the outbox

    detail::waker waker; // polled beside the socket
    std::atomic<bool> sleeping{false};
    detail::worker thread; // last: started once everything above is ready

    engine(context& ctx, reliable_pusher_options o)
        : opt(std::move(o)), sock(ctx, zmq::socket_type::router, opt.socket) {
        opt.validate();
        if (!opt.outbox.empty()) {
            box = std::make_unique<detail::outbox>(opt.outbox, opt.sync == outbox_sync::power_loss);
            auto restored = box->restore(detail::random_id());
            node = restored.producer_id;
            next_seq = restored.next_sequence;
            for (auto& [seq, bytes] : restored.tasks) ready.emplace(seq, task{zmq::message_t(bytes.data(), bytes.size())});
            outstanding = ready.size();
        } else {
            node = detail::random_id();
        }
        apply_router_options(sock.native(), node);
        ping = control_frame("ping");
        // The socket moves to the thread: starting it is the memory barrier libzmq asks for.
        thread = detail::worker({.name = "courier-pusher", .cpus_from = &ctx}, nullptr, [this] { run(); }, [this] {
            {
                std::lock_guard lock(mu);
                closing = true;
            }
            wake();
        });
    }

    ~engine() { stop(); }

    void wake() noexcept { waker.signal(); }

    /// Runs `fn` on the engine's thread and returns what it returns (or throws what it throws).
    template <class F>
    auto on_thread(F fn) -> decltype(fn()) {
        using R = decltype(fn());
        auto done = std::make_shared<std::promise<R>>();
        auto result = done->get_future();
        {
            std::lock_guard lock(mu);
            if (stopped) throw error(errc::closed, "reliable_pusher is closed");
            commands.emplace_back([done, fn = std::move(fn)]() mutable {
                try {
                    if constexpr (std::is_void_v<R>) fn(), done->set_value();
                    else done->set_value(fn());
                } catch (...) {
                    done->set_exception(std::current_exception());
                }
            });
        }
        wake();
        try {
            return result.get();
        } catch (const std::future_error&) { // the thread stopped before it ran fn
            throw error(errc::closed, "reliable_pusher is closed");
        }
    }

    /// Asks the thread to close (it waits for acknowledgements up to linger) and joins it. Idempotent.
    void stop() noexcept { thread.stop(); }

    status push(std::string_view type, std::span<const std::byte> payload, header_list headers,
                std::chrono::milliseconds timeout, bool refuse) {
        std::unique_lock lock(mu);
        auto has_room = [&] { return closing || stopped || outstanding < opt.max_pending; };
        if (!has_room()) {
            if (refuse) {
                ++sock.counters.refused;
                return status::full;
            }
            if (!changed.wait_for(lock, timeout, has_room)) {
                ++sock.counters.timed_out;
                return status::timeout;
            }
        }
        if (closing || stopped) throw error(errc::closed, "reliable_pusher: push after close");
        const auto seq = next_seq;
        auto frame = detail::task_frame(seq, type, payload, headers);
        if (frame.size() > opt.socket.max_message_size)
            throw error(errc::message_too_large, "push: an envelope of " + std::to_string(frame.size()) +
                                                     " bytes is over max_message_size");
        if (box) box->insert(seq, {frame.data<std::byte>(), frame.size()}); // on disk before push returns
        ++next_seq;
        ++outstanding;
        inbox.emplace_back(seq, std::move(frame));
        lock.unlock();
        if (sleeping.load()) wake();
        return status::ok;
    }

    status drain(std::chrono::milliseconds timeout, std::size_t leave) {
        std::unique_lock lock(mu);
        if (changed.wait_for(lock, timeout, [&] { return outstanding <= leave || stopped; }))
            return outstanding <= leave ? status::ok : status::closed;
        return status::timeout;
    }

    // -- the thread ----------------------------------------------------------------------------

    void run() noexcept {
        std::optional<clock::time_point> give_up; // set when closing: now + linger
        try {
            for (;;) {
                bool closing_now = take_from_pushers();
                if (closing_now && !give_up) give_up = clock::now() + opt.socket.linger;
                receive_all();
                const auto now = clock::now();
                expire(now);
                if (now >= next_probe) {
                    probe_workers();
                    next_probe = now + opt.socket.heartbeat.interval;
                }
                dispatch();
                finish_round();
                if (give_up) {
                    std::lock_guard lock(mu);
                    if (outstanding == 0 || clock::now() >= *give_up) break;
                }
                wait(give_up);
            }
        } catch (const error&) {
            // The context was shut down (or libzmq failed): stop; pushers see closed.
        }
        std::size_t left = 0;
        {
            std::lock_guard lock(mu);
            stopped = true;
            left = outstanding;
            if (!box) sock.counters.dropped += left;
            commands.clear();
        }
        changed.notify_all();
        sock.close();
    }

    /// Moves pushed tasks and commands in; true once close() was asked for.
    bool take_from_pushers() {
        std::deque<std::function<void()>> todo;
        std::deque<std::pair<std::uint64_t, zmq::message_t>> fresh;
        bool is_closing;
        {
            std::lock_guard lock(mu);
            todo.swap(commands);
            fresh.swap(inbox);
            is_closing = closing;
        }
        for (auto& c : todo) c();
        for (auto& [seq, frame] : fresh) ready.emplace(seq, task{std::move(frame)});
        return is_closing;
    }

    void receive_all() {
        std::array<zmq::message_t, 2> frames;
        auto now = detail::deadline::at(clock::time_point{}); // never waits
        for (int budget = 4096; budget > 0; --budget) {
            auto count = sock.receive(frames, now);
            if (count == 0) break;
            if (count != 2) {
                sock.reject(error(errc::malformed, "reliable_pusher: a message of " + std::to_string(count) +
                                                       " frames (expected [routing id][envelope])"));
                continue;
            }
            handle(frames[0], frames[1]);
        }
    }

    worker* find_worker(const zmq::message_t& rid) {
        const std::string_view key(rid.data<char>(), rid.size());
        for (auto& w : workers)
            if (w.alive && w.key == key) return &w;
        return nullptr;
    }

    void handle(zmq::message_t& rid, zmq::message_t& body) {
        if (body.size() == 0) { // a new connection: say who we are
            // A probe under the routing id of a worker we know: its connection was made again
            // (libzmq does so after a heartbeat timeout, a pause, a cut). Tasks sent on the old one
            // may never have arrived and acks sent on it may never come, so hand them out again
            // now rather than after the visibility timeout; the puller's duplicate filter drops
            // the copies it has and acknowledges again the ones it finished.
            if (auto* w = find_worker(rid)) take_back(*w);
            auto hello = hello_frame("pusher", node, 0);
            (void)send_to(sock.native(), rid, hello);
            return;
        }
        try {
            auto layout = envelope::parse({body.data<std::byte>(), body.size()}, opt.socket.limits);
            const envelope env({body.data<std::byte>(), body.size()}, layout);
            if (layout.kind != kind::control)
                throw error(errc::malformed, "reliable_pusher: envelope of kind " +
                                                 std::to_string(static_cast<int>(layout.kind)) + " from a puller");
            const auto command = env.subject();
            if (command != "hello" && command != "ack" && command != "pong" && command != "bye")
                throw unknown_control("reliable_pusher", command, "hello, ack, pong or bye");
            // Heard from: a worker that let a task time out (frozen, perhaps) is running again.
            if (auto* w = find_worker(rid)) w->suspect = false;
            if (command == "hello") {
                auto h = decode_payload<hello_body>(env.payload(), "", opt.socket.limits);
                if (h.role != "puller") return; // another pusher: nothing to hand it
                if (h.window == 0 || h.node == 0) throw error(errc::malformed, "reliable_pusher: hello without window or node");
                const auto window = std::min<std::uint64_t>(h.window, 65536);
                if (auto* w = find_worker(rid)) {
                    w->window = window;
                    if (w->node == h.node) return; // said again: nothing changed
                    // Another puller under a known routing id (restarted behind a reconnection):
                    // what was in flight to the old one is gone with it.
                    lost(*w);
                    w->alive = true;
                    w->node = h.node;
                } else {
                    // A dead worker's slot holds no flights (lost() took them back): reuse it.
                    auto slot = std::find_if(workers.begin(), workers.end(), [](const worker& w) { return !w.alive; });
                    if (slot == workers.end()) slot = workers.insert(workers.end(), worker{});
                    slot->rid.copy(rid);
                    slot->key.assign(rid.data<char>(), rid.size());
                    slot->window = window;
                    slot->node = h.node;
                    slot->outstanding = 0;
                    slot->blocked = false;
                    slot->alive = true;
                    slot->suspect = false;
                }
                auto hello = hello_frame("pusher", node, 0); // a new session: it must know who we are
                (void)send_to(sock.native(), rid, hello);
            } else if (command == "ack") {
                auto seqs = decode_payload<std::vector<std::uint64_t>>(env.payload(), "", opt.socket.limits);
                for (auto seq : seqs) acknowledge(seq);
            } else if (command == "bye") {
                if (auto* w = find_worker(rid)) lost(*w);
            }
            // "pong": the answer to our ping; being heard from was all it had to say.
        } catch (const error& e) {
            sock.reject(e);
        }
    }

    void acknowledge(std::uint64_t seq) {
        if (auto f = flights.find(seq); f != flights.end()) {
            auto& w = workers[f->second.worker];
            if (w.outstanding > 0) --w.outstanding;
            flights.erase(f);
        } else if (auto r = ready.find(seq); r != ready.end()) {
            ready.erase(r); // handed out again meanwhile and not yet sent: done after all
        } else {
            return; // acknowledged before (by the puller it went to first, say)
        }
        acked.push_back(seq);
    }

    /// A worker is gone: what it held is handed out again first.
    void lost(worker& w) {
        w.alive = false;
        take_back(w);
    }

    /// What `w` holds goes back to the front of the queue (lowest sequence first).
    void take_back(worker& w) {
        const auto index = static_cast<std::size_t>(&w - workers.data());
        for (auto it = flights.begin(); it != flights.end();) {
            if (it->second.worker == index) {
                ready.emplace(it->first, std::move(it->second.t));
                it = flights.erase(it);
            } else {
                ++it;
            }
        }
        w.outstanding = 0;
    }

    void expire(clock::time_point now) {
        while (!expiry.empty()) {
            auto [when, seq] = expiry.front();
            auto f = flights.find(seq);
            if (f == flights.end() || f->second.expires != when) { // acknowledged, or handed out again
                expiry.pop_front();
                continue;
            }
            if (when > now) return;
            expiry.pop_front();
            auto& w = workers[f->second.worker];
            if (w.outstanding > 0) --w.outstanding;
            // Frozen or stuck, perhaps: nothing more for it until it speaks. The ping every
            // heartbeat interval asks it to: a puller that receives again answers with a pong.
            w.suspect = true;
            ready.emplace(seq, std::move(f->second.t));
            flights.erase(f);
            ++sock.counters.expired;
        }
    }

    void probe_workers() {
        for (auto& w : workers) {
            if (!w.alive) continue;
            zmq::message_t body;
            body.copy(ping);
            if (send_to(sock.native(), w.rid, body) == sent::gone) lost(w);
        }
    }

    void dispatch() {
        for (auto& w : workers) w.blocked = false;
        const auto n = workers.size();
        if (ready.empty() || n == 0) return;
        while (!ready.empty() && n > 0) {
            std::size_t pick = n;
            for (std::size_t i = 0; i < n; ++i) {
                auto k = (next_worker + i) % n;
                auto& w = workers[k];
                if (w.alive && !w.blocked && !w.suspect && w.outstanding < w.window) {
                    pick = k;
                    break;
                }
            }
            if (pick == n) break;
            next_worker = (pick + 1) % n;
            auto& w = workers[pick];
            auto it = ready.begin();
            zmq::message_t body;
            body.copy(it->second.frame);
            // Counted before the send, so that no puller holds a task counters() does not show;
            // lock-free, so that a pusher never waits behind this thread (try_push must not).
            auto& count = it->second.attempts == 0 ? sock.counters.sent : sock.counters.redelivered;
            ++count;
            switch (send_to(sock.native(), w.rid, body)) {
            case sent::full: --count; w.blocked = true; continue;
            case sent::gone: --count; lost(w); continue;
            case sent::ok: break;
            }
            auto t = std::move(it->second);
            const auto seq = it->first;
            ready.erase(it);
            ++t.attempts;
            const auto expires = clock::now() + opt.visibility_timeout;
            flights.emplace(seq, flight{std::move(t), pick, expires});
            expiry.emplace_back(expires, seq);
            ++w.outstanding;
        }
    }

    void finish_round() {
        if (acked.empty()) return;
        if (box) box->remove(acked);
        {
            std::lock_guard lock(mu);
            sock.counters.acknowledged += acked.size();
            outstanding -= std::min(outstanding, acked.size());
        }
        acked.clear();
        changed.notify_all();
    }

    void wait(const std::optional<clock::time_point>& give_up) {
        auto until = next_probe;
        for (const auto& [when, seq] : expiry) {
            if (flights.contains(seq)) {
                until = std::min(until, when);
                break;
            }
        }
        if (give_up) until = std::min(until, *give_up);
        bool blocked = false;
        for (const auto& w : workers) blocked |= w.alive && w.blocked;
        if (blocked && !ready.empty()) until = std::min(until, clock::now() + 1ms); // a full pipe drains by itself
        sleeping.store(true);
        {
            std::lock_guard lock(mu);
            if (!inbox.empty() || !commands.empty() || (closing && !give_up)) {
                sleeping.store(false);
                return;
            }
        }
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - clock::now());
        std::array<zmq::pollitem_t, 2> items{{{sock.native().handle(), 0, ZMQ_POLLIN, 0},
                                               {nullptr, waker.fd(), ZMQ_POLLIN, 0}}};
        try {
            zmq::poll(items.data(), items.size(), std::max(left, 0ms));
        } catch (const zmq::error_t& e) {
            if (e.num() != EINTR) detail::fail("poll", e);
        }
        sleeping.store(false);
        if (items[1].revents & ZMQ_POLLIN) waker.drain();
    }
};

reliable_pusher::reliable_pusher(context& ctx, reliable_pusher_options options)
    : engine_(std::make_unique<engine>(ctx, std::move(options))) {}
reliable_pusher::reliable_pusher(reliable_pusher&&) noexcept = default;
reliable_pusher& reliable_pusher::operator=(reliable_pusher&& other) noexcept {
    if (this != &other) {
        close();
        engine_ = std::move(other.engine_);
    }
    return *this;
}
reliable_pusher::~reliable_pusher() { close(); }

std::string reliable_pusher::bind(std::string_view endpoint) {
    if (!engine_) throw error(errc::closed, "reliable_pusher is closed");
    return engine_->on_thread([&] { return engine_->sock.bind(endpoint); });
}

void reliable_pusher::connect(std::string_view endpoint) {
    if (!engine_) throw error(errc::closed, "reliable_pusher is closed");
    engine_->on_thread([&] { engine_->sock.connect(endpoint); });
}

void reliable_pusher::close() noexcept {
    if (engine_) engine_->stop();
}

status reliable_pusher::push_payload(std::string_view type, std::span<const std::byte> payload, header_list headers,
                                     std::chrono::milliseconds timeout, bool refuse_when_full) {
    if (!engine_) throw error(errc::closed, "reliable_pusher is closed");
    return engine_->push(type, payload, headers, timeout, refuse_when_full);
}

status reliable_pusher::drain(std::chrono::milliseconds timeout, std::size_t leave) {
    if (!engine_) return status::closed;
    return engine_->drain(timeout, leave);
}

std::size_t reliable_pusher::pending() const {
    if (!engine_) return 0;
    std::lock_guard lock(engine_->mu);
    return engine_->outstanding;
}

std::uint64_t reliable_pusher::producer_id() const noexcept { return engine_ ? engine_->node : 0; }

courier::counters reliable_pusher::counters() const {
    return engine_ ? engine_->sock.counters.snapshot() : courier::counters{};
}

std::chrono::milliseconds reliable_pusher::send_timeout() const noexcept {
    return engine_ ? engine_->opt.socket.send_timeout : std::chrono::milliseconds(0);
}

} // namespace courier
