#include "courier/reliable.hpp"

#include "framing/frames.hpp"
#include "wire/ids.hpp"
#include "core/context_access.hpp"
#include "framing/message_access.hpp"
#include "reliable/outbox.hpp"
#include "transport/socket.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <pthread.h>
#include <sched.h>

namespace courier {
namespace {

using detail::clock;
using namespace std::chrono_literals;

// A reliable peer's routing id: 'c' and its 64-bit node id, big-endian. libzmq reserves ids that
// start with a zero byte; a fixed first byte also tells courier peers from others.
constexpr std::size_t routing_id_size = 9;

std::string routing_id_of(std::uint64_t node) {
    std::string id(routing_id_size, 'c');
    for (int i = 0; i < 8; ++i) id[1 + i] = static_cast<char>(node >> (56 - 8 * i));
    return id;
}

/// What a peer says when another connects: its role, its node id (a pusher's is its producer id)
/// and, for a puller, its window.
struct hello_body {
    std::string role;
    std::uint64_t node = 0;
    std::uint64_t window = 0;
    MSGPACK_DEFINE_MAP(role, node, window)
};

/// A control envelope whose subject this end does not take: bad input, counted as rejected.
error unknown_control(const char* who, std::string_view subject, const char* expected) {
    return error(errc::malformed, std::string(who) + ": a control message with subject '" + std::string(subject) +
                                      "' (expected " + expected + ")");
}

zmq::message_t hello_frame(std::string_view role, std::uint64_t node, std::uint64_t window) {
    auto& out = detail::scratch();
    out.clear();
    msgpack::pack(out, hello_body{std::string(role), node, window});
    return detail::control_frame("hello", out.view());
}

zmq::message_t ack_frame(std::span<const std::uint64_t> seqs) {
    auto& out = detail::scratch();
    out.clear();
    msgpack::packer<detail::buffer> pk(out);
    pk.pack_array(static_cast<std::uint32_t>(seqs.size()));
    for (auto s : seqs) pk.pack(s);
    return detail::control_frame("ack", out.view());
}

enum class sent { ok, full, gone };

/// Sends [rid][body] without waiting. A ROUTER with ROUTER_MANDATORY refuses a peer that is gone
/// (EHOSTUNREACH) or full (EAGAIN) at the first frame, so nothing half-sent is left.
sent send_to(zmq::socket_t& sock, const zmq::message_t& rid, zmq::message_t& body) {
    zmq::message_t id;
    id.copy(const_cast<zmq::message_t&>(rid));
    try {
        if (!sock.send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return sent::full;
    } catch (const zmq::error_t& e) {
        if (e.num() == EHOSTUNREACH) return sent::gone;
        detail::fail("send", e);
    }
    detail::released(body);
    try {
        (void)sock.send(body, zmq::send_flags::dontwait);
    } catch (const zmq::error_t& e) {
        detail::fail("send", e);
    }
    return sent::ok;
}

void apply_router_options(zmq::socket_t& sock, std::uint64_t node, std::chrono::milliseconds hb_interval,
                          std::chrono::milliseconds hb_timeout) {
    sock.set(zmq::sockopt::routing_id, routing_id_of(node));
    sock.set(zmq::sockopt::router_mandatory, 1);
    sock.set(zmq::sockopt::router_handover, 1);
    // Each side says hello when the other connects. libzmq keeps a connecting socket's pipe, and
    // the routing id it was first given, across reconnections, so a peer restarted on the same
    // endpoint may come back under its predecessor's routing id: identity is the hello's node id,
    // and a hello on a known routing id starts a new session.
    sock.set(zmq::sockopt::probe_router, 1);
    sock.set(zmq::sockopt::heartbeat_ivl, static_cast<int>(hb_interval.count()));
    sock.set(zmq::sockopt::heartbeat_timeout, static_cast<int>(hb_timeout.count()));
    sock.set(zmq::sockopt::heartbeat_ttl, static_cast<int>(hb_timeout.count()));
}

void validate_heartbeat(const char* owner, std::chrono::milliseconds interval, std::chrono::milliseconds timeout) {
    auto bad = [&](const std::string& what) { throw error(errc::invalid_option, std::string(owner) + "." + what); };
    if (interval < 10ms || interval > 1h)
        bad("heartbeat_interval must be 10 ms .. 1 h, not " + std::to_string(interval.count()) + " ms");
    if (timeout <= interval || timeout > 1h)
        bad("heartbeat_timeout must be more than heartbeat_interval and at most 1 h, not " +
            std::to_string(timeout.count()) + " ms");
}

} // namespace

void reliable_pusher_options::validate() const {
    socket.validate();
    auto bad = [](const std::string& what) { throw error(errc::invalid_option, "reliable_pusher_options." + what); };
    if (max_pending < 1 || max_pending > 10'000'000)
        bad("max_pending must be 1 .. 10,000,000, not " + std::to_string(max_pending));
    if (visibility_timeout < 1ms || visibility_timeout > 24h)
        bad("visibility_timeout must be 1 ms .. 24 h, not " + std::to_string(visibility_timeout.count()) + " ms");
    validate_heartbeat("reliable_pusher_options", heartbeat_interval, heartbeat_timeout);
}

void reliable_puller_options::validate() const {
    socket.validate();
    auto bad = [](const std::string& what) { throw error(errc::invalid_option, "reliable_puller_options." + what); };
    if (window < 1 || window > 65536) bad("window must be 1 .. 65,536, not " + std::to_string(window));
    if (dedup_window < 1 || dedup_window > (std::size_t{1} << 24))
        bad("dedup_window must be 1 .. 16 M, not " + std::to_string(dedup_window));
    if (max_producers < 1) bad("max_producers must be at least 1");
    validate_heartbeat("reliable_puller_options", heartbeat_interval, heartbeat_timeout);
}

// ---- pusher ----------------------------------------------------------------------------------

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
    courier::counters shared{};
    std::atomic<std::uint64_t> sent_count{0}, redelivered_count{0}, expired_count{0}, // this thread's, read by any
        rejected_count{0};

    // The thread's own.
    std::map<std::uint64_t, task> ready; // by sequence: handed out lowest first
    std::unordered_map<std::uint64_t, flight> flights;
    std::deque<std::pair<clock::time_point, std::uint64_t>> expiry; // hand-out order
    std::vector<worker> workers;
    std::size_t next_worker = 0;
    zmq::message_t ping;
    clock::time_point next_probe{};
    std::vector<std::uint64_t> acked; // acknowledged this round, for the outbox

    int wake_fd = -1;
    std::atomic<bool> sleeping{false};
    std::thread thread;
    int cpu = -1;

    /// `o` with on_rejected also counting into `count`, which counters() reads from any thread.
    static reliable_pusher_options counting_rejects(reliable_pusher_options o, std::atomic<std::uint64_t>& count) {
        o.socket.on_rejected = [count = &count, user = std::move(o.socket.on_rejected)](const error& e) {
            count->fetch_add(1);
            if (user) user(e);
        };
        return o;
    }

    engine(context& ctx, reliable_pusher_options o)
        : opt(counting_rejects(std::move(o), rejected_count)), sock(ctx, zmq::socket_type::router, opt.socket) {
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
        apply_router_options(sock.native(), node, opt.heartbeat_interval, opt.heartbeat_timeout);
        ping = detail::control_frame("ping");
        wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (wake_fd < 0) throw error(errc::zmq, "reliable_pusher: eventfd failed");
        cpu = detail::context_access::next_library_cpu(ctx);
        thread = std::thread([this] { run(); });
    }

    ~engine() {
        stop();
        if (wake_fd >= 0) ::close(wake_fd);
    }

    void wake() noexcept {
        const std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof one);
    }

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

    void stop() noexcept {
        {
            std::lock_guard lock(mu);
            closing = true;
        }
        wake();
        if (thread.joinable()) thread.join();
    }

    status push(std::string_view type, std::span<const std::byte> payload, header_list headers,
                std::chrono::milliseconds timeout, bool refuse) {
        std::unique_lock lock(mu);
        auto has_room = [&] { return closing || stopped || outstanding < opt.max_pending; };
        if (!has_room()) {
            if (refuse) {
                ++shared.refused;
                return status::full;
            }
            if (!changed.wait_for(lock, timeout, has_room)) {
                ++shared.timed_out;
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
        if (cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(cpu, &set);
            pthread_setaffinity_np(pthread_self(), sizeof set, &set);
        }
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
                    next_probe = now + opt.heartbeat_interval;
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
            if (!box) shared.dropped += left;
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
            // heartbeat_interval asks it to: a puller that receives again answers with a pong.
            w.suspect = true;
            ready.emplace(seq, std::move(f->second.t));
            flights.erase(f);
            expired_count.fetch_add(1);
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
            // atomics, so that a pusher never waits behind this thread (try_push must not).
            auto& count = it->second.attempts == 0 ? sent_count : redelivered_count;
            count.fetch_add(1);
            switch (send_to(sock.native(), w.rid, body)) {
            case sent::full: count.fetch_sub(1); w.blocked = true; continue;
            case sent::gone: count.fetch_sub(1); lost(w); continue;
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
            shared.acknowledged += acked.size();
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
                                               {nullptr, wake_fd, ZMQ_POLLIN, 0}}};
        try {
            zmq::poll(items.data(), items.size(), std::max(left, 0ms));
        } catch (const zmq::error_t& e) {
            if (e.num() != EINTR) detail::fail("poll", e);
        }
        sleeping.store(false);
        if (items[1].revents & ZMQ_POLLIN) {
            std::uint64_t n;
            [[maybe_unused]] auto r = ::read(wake_fd, &n, sizeof n);
        }
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
    if (!engine_) return {};
    std::lock_guard lock(engine_->mu);
    auto c = engine_->shared;
    c.sent = engine_->sent_count.load();
    c.redelivered = engine_->redelivered_count.load();
    c.expired = engine_->expired_count.load();
    c.rejected = engine_->rejected_count.load();
    return c;
}

std::chrono::milliseconds reliable_pusher::send_timeout() const noexcept {
    return engine_ ? engine_->opt.socket.send_timeout : std::chrono::milliseconds(0);
}

// ---- puller ----------------------------------------------------------------------------------

/// Which of a producer's last `window` sequence numbers this puller has received: a ring of bits
/// that slides with the highest number seen.
class seen_window {
public:
    explicit seen_window(std::size_t window) : bits_((window + 63) / 64, 0), size_(bits_.size() * 64) {}

    /// Records `seq`; false if it was recorded before (a duplicate). A number older than the
    /// window is not known either way and counts as new.
    bool record(std::uint64_t seq) {
        if (seq > high_) {
            const auto step = seq - high_;
            if (step >= size_) std::fill(bits_.begin(), bits_.end(), 0);
            else
                for (auto s = high_ + 1; s < seq; ++s) clear(s);
            high_ = seq;
            set(seq);
            return true;
        }
        if (high_ - seq >= size_) return true;
        if (test(seq)) return false;
        set(seq);
        return true;
    }

private:
    void set(std::uint64_t s) { bits_[(s % size_) / 64] |= std::uint64_t{1} << (s % 64); }
    void clear(std::uint64_t s) { bits_[(s % size_) / 64] &= ~(std::uint64_t{1} << (s % 64)); }
    bool test(std::uint64_t s) const { return bits_[(s % size_) / 64] >> (s % 64) & 1; }
    std::vector<std::uint64_t> bits_;
    std::uint64_t size_;
    std::uint64_t high_ = 0;
};

struct reliable_puller::state {
    struct producer {
        seen_window seen;
        std::unordered_set<std::uint64_t> unacked; // received, not yet acknowledged
        zmq::message_t rid;
        std::uint64_t last_heard = 0; // a tick, for forgetting the least recently heard
    };
    reliable_puller_options opt;
    detail::socket sock;
    std::uint64_t node;
    std::unordered_map<std::uint64_t, producer> producers;
    std::unordered_map<std::string, std::uint64_t> sessions; // routing id -> producer, from its hello
    std::uint64_t tick = 0;

    state(context& ctx, reliable_puller_options o)
        : opt(std::move(o)), sock(ctx, zmq::socket_type::router, opt.socket), node(detail::random_id()) {
        opt.validate();
        apply_router_options(sock.native(), node, opt.heartbeat_interval, opt.heartbeat_timeout);
    }

    producer& producer_of(std::uint64_t id) {
        auto it = producers.find(id);
        if (it == producers.end()) {
            if (producers.size() >= opt.max_producers) {
                auto oldest = std::min_element(producers.begin(), producers.end(), [](const auto& a, const auto& b) {
                    return a.second.last_heard < b.second.last_heard;
                });
                std::erase_if(sessions, [&](const auto& s) { return s.second == oldest->first; });
                producers.erase(oldest);
            }
            it = producers.emplace(id, producer{seen_window(opt.dedup_window), {}, {}, 0}).first;
        }
        it->second.last_heard = ++tick;
        return it->second;
    }

    void send(const zmq::message_t& rid, zmq::message_t body) {
        (void)send_to(sock.native(), rid, body); // a pusher that is gone or full: it hands the task out again
    }

    std::optional<message> receive(detail::deadline& until) {
        std::array<zmq::message_t, 2> frames;
        for (;;) {
            auto count = sock.receive(frames, until);
            if (count == 0) return std::nullopt;
            try {
                if (auto m = take(frames, count)) return m;
            } catch (const error& e) {
                sock.reject(e);
            }
            if (until.passed()) return std::nullopt; // a flood of control traffic cannot hold a receive
        }
    }

    /// The task in `frames`, or nothing for what the puller handles itself.
    std::optional<message> take(std::array<zmq::message_t, 2>& frames, std::size_t count) {
        if (count != 2)
            throw error(errc::malformed, "reliable_puller: a message of " + std::to_string(count) +
                                             " frames (expected [routing id][envelope])");
        auto& rid = frames[0];
        auto& body = frames[1];
        if (body.size() == 0) { // a new connection's probe: say who we are
            send(rid, hello_frame("puller", node, opt.window));
            return std::nullopt;
        }
        auto layout = envelope::parse({body.data<std::byte>(), body.size()}, opt.socket.limits);
        const std::string key(rid.data<char>(), rid.size());
        if (layout.kind == kind::control) {
            const envelope env({body.data<std::byte>(), body.size()}, layout);
            if (env.subject() == "ping") { // answered while the application receives: it is not stuck
                send(rid, detail::control_frame("pong", {}, layout.id));
                return std::nullopt;
            }
            if (env.subject() != "hello") throw unknown_control("reliable_puller", env.subject(), "hello or ping");
            auto h = decode_payload<hello_body>(env.payload(), "", opt.socket.limits);
            if (h.role != "pusher" || h.node == 0)
                throw error(errc::malformed, "reliable_puller: hello from a peer that is not a reliable_pusher");
            sessions[key] = h.node; // this routing id speaks for that producer from now on
            producer_of(h.node).rid.copy(rid);
            send(rid, hello_frame("puller", node, opt.window)); // it may not have heard ours
            return std::nullopt;
        }
        if (layout.kind != kind::message)
            throw error(errc::malformed, "reliable_puller: envelope of kind " +
                                             std::to_string(static_cast<int>(layout.kind)) + " (expected 1, message)");
        const auto session = sessions.find(key);
        if (session == sessions.end())
            throw error(errc::malformed, "reliable_puller: a task from a peer that has not said hello");
        const auto from = session->second;
        auto& p = producer_of(from);
        const std::uint64_t seq = layout.id;
        if (!p.seen.record(seq)) {
            ++sock.counters.duplicates;
            // Handed out again: if it was acknowledged, that ack was late or lost, so say it again;
            // if the application still has it, its own ack will come.
            if (!p.unacked.contains(seq)) send(rid, ack_frame({&seq, 1}));
            return std::nullopt;
        }
        p.unacked.insert(seq);
        ++sock.counters.received;
        message m(zmq::message_t(), std::move(body), layout, opt.socket.limits);
        detail::message_access::set_producer_id(m, from);
        return m;
    }

    void ack(const message& task) {
        if (!sock.is_open()) throw error(errc::closed, "reliable_puller::ack: closed");
        auto it = producers.find(task.producer_id());
        if (it == producers.end())
            throw error(errc::invalid_argument, "reliable_puller::ack: not a task this puller received");
        const std::uint64_t seq = task.id();
        if (it->second.unacked.erase(seq) == 0) return; // acknowledged before
        send(it->second.rid, ack_frame({&seq, 1}));
        ++sock.counters.acknowledged;
    }

    void close() noexcept {
        if (!sock.is_open()) return;
        for (auto& [id, p] : producers) {
            try {
                send(p.rid, detail::control_frame("bye"));
            } catch (...) {
            }
        }
        sock.close();
    }
};

reliable_puller::reliable_puller(context& ctx, reliable_puller_options options)
    : state_(std::make_unique<state>(ctx, std::move(options))) {}
reliable_puller::reliable_puller(reliable_puller&&) noexcept = default;
reliable_puller& reliable_puller::operator=(reliable_puller&& other) noexcept {
    if (this != &other) {
        close();
        state_ = std::move(other.state_);
    }
    return *this;
}
reliable_puller::~reliable_puller() { close(); }

namespace {

/// The state of a puller that was not moved from; a moved-from puller is closed.
template <class State>
State& live(const std::unique_ptr<State>& state) {
    if (!state) throw error(errc::closed, "reliable_puller: moved from");
    return *state;
}

} // namespace

std::string reliable_puller::bind(std::string_view endpoint) { return live(state_).sock.bind(endpoint); }
void reliable_puller::connect(std::string_view endpoint) { live(state_).sock.connect(endpoint); }
void reliable_puller::close() noexcept {
    if (state_) state_->close();
}

std::optional<message> reliable_puller::receive(std::chrono::milliseconds timeout) {
    auto until = detail::deadline::after(timeout);
    return live(state_).receive(until);
}

void reliable_puller::ack(const message& task) { live(state_).ack(task); }

courier::counters reliable_puller::counters() const { return state_ ? state_->sock.counters : courier::counters{}; }

} // namespace courier
