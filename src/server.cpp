#include "courier/server.hpp"

#include "framing/frames.hpp"
#include "transport/socket.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

namespace courier {

void server_options::validate() const {
    using std::chrono::hours;
    using std::chrono::microseconds;
    using std::chrono::milliseconds;
    using std::chrono::minutes;
    socket.validate();
    auto bad = [](const std::string& what) { throw error(errc::invalid_option, "server_options." + what); };
    if (workers > 1024) bad("workers must be 0 (one per core) .. 1024, not " + std::to_string(workers));
    if (handover_after < microseconds(100) || handover_after > minutes(1))
        bad("handover_after must be 100 us .. 1 min, not " + std::to_string(handover_after.count()) + " us");
    if (reply_cache_size > 10'000'000)
        bad("reply_cache_size must be 0 (off) .. 10000000, not " + std::to_string(reply_cache_size));
    if (reply_cache_window < milliseconds(1) || reply_cache_window > hours(24))
        bad("reply_cache_window must be 1 ms .. 24 h, not " + std::to_string(reply_cache_window.count()) + " ms");
    if (reply_cache_bytes < 1024 || reply_cache_bytes > (std::size_t{16} << 30))
        bad("reply_cache_bytes must be 1 KiB .. 16 GiB, not " + std::to_string(reply_cache_bytes));
}

namespace detail {

/// Replies remembered by (client routing id, request id), oldest forgotten first: past the
/// window, or when over the entry or byte bound. Not thread-safe: guarded by the server's mutex.
class reply_cache {
public:
    enum class state { absent, running, answered };

    explicit reply_cache(const server_options& o)
        : capacity_(o.reply_cache_size), window_(o.reply_cache_window), max_bytes_(o.reply_cache_bytes) {}

    bool enabled() const noexcept { return capacity_ > 0; }

    /// What is known of `key`; if nothing, it is recorded as running. An answered key's reply is
    /// copied (shared) into `reply`.
    state begin(const std::string& key, zmq::message_t& reply, clock::time_point now) {
        forget_old(now);
        auto [it, inserted] = entries_.try_emplace(key);
        if (!inserted) {
            if (!it->second.answered) return state::running;
            reply.copy(it->second.reply);
            return state::answered;
        }
        it->second.seq = ++seq_;
        order_.push_back({key, it->second.seq, now});
        forget_over_bounds();
        return state::absent;
    }

    /// Records `reply` as the answer of a running `key` (forgotten already: nothing to do).
    void complete(const std::string& key, zmq::message_t& reply) {
        auto it = entries_.find(key);
        if (it == entries_.end()) return;
        if (reply.size() > max_bytes_) { // cannot be kept: a retry runs the handler again
            entries_.erase(it);
            return;
        }
        it->second.reply.copy(reply);
        it->second.answered = true;
        it->second.bytes = reply.size();
        bytes_ += reply.size();
        forget_over_bounds();
    }

    std::uint64_t evicted = 0;

private:
    struct entry {
        zmq::message_t reply;
        bool answered = false;
        std::size_t bytes = 0;
        std::uint64_t seq = 0;
    };
    struct placed {
        std::string key;
        std::uint64_t seq;
        clock::time_point at;
    };

    void forget_old(clock::time_point now) {
        while (!order_.empty() && order_.front().at + window_ <= now) pop(false);
    }
    void forget_over_bounds() {
        while (!order_.empty() && (entries_.size() > capacity_ || bytes_ > max_bytes_)) pop(true);
    }
    void pop(bool early) {
        auto& p = order_.front();
        if (auto it = entries_.find(p.key); it != entries_.end() && it->second.seq == p.seq) {
            bytes_ -= it->second.bytes;
            entries_.erase(it);
            if (early) ++evicted;
        }
        order_.pop_front();
    }

    std::size_t capacity_;
    std::chrono::milliseconds window_;
    std::size_t max_bytes_;
    std::size_t bytes_ = 0;
    std::uint64_t seq_ = 0;
    std::unordered_map<std::string, entry> entries_;
    std::deque<placed> order_;
};

/// Everything a server owns, behind a pointer so that worker threads see it at a fixed address.
///
/// The worker pool: one thread at a time holds the socket (the owner). It receives a request and
/// runs the handler itself, so a quick handler costs no hand-off. Meanwhile one idle worker (the
/// watcher) samples the owner every handover_after; if the same handler is still running, it takes
/// the socket (under the mutex: the memory barrier libzmq asks for when a socket changes threads)
/// and goes on receiving. The old owner finishes its handler off the socket, queues the reply and
/// wakes the new owner through an eventfd, which the owner polls beside the socket only while such
/// replies can come. The watcher sleeps once the server has been idle for 100 samples.
class server_core {
public:
    server_core(context& ctx, server_options o)
        : socket(ctx, zmq::socket_type::router, o.socket), options(std::move(o)), cache(options) {
        // Replies to a caller that is gone or full fail at once and are counted, never block.
        socket.native().set(zmq::sockopt::router_mandatory, true);
        // A client reconnecting under its fixed routing id takes its name over from a connection
        // that has not been seen to die yet, so the reply to its retry reaches it.
        socket.native().set(zmq::sockopt::router_handover, true);
        wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (wake_fd < 0) throw error(errc::zmq, std::string("server: eventfd: ") + std::strerror(errno));
    }
    server_core(const server_core&) = delete;
    server_core& operator=(const server_core&) = delete;
    ~server_core() {
        socket.close();
        ::close(wake_fd);
    }

    struct queued_reply {
        zmq::message_t routing;
        bool delimiter;
        zmq::message_t body;
    };

    bool step(int me, deadline& until, buffer& out, bool pooled);
    void member(int me, std::chrono::milliseconds stop_check);
    void request_stop() {
        {
            std::lock_guard lock(m);
            stopping = true;
        }
        cv.notify_all();
        wake();
    }
    void wake() noexcept {
        const std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof one);
    }

    detail::socket socket;
    server_options options;
    std::map<std::string, method_fn, std::less<>> methods;
    buffer solo_answer;

    struct {
        std::atomic<std::uint64_t> sent{0}, received{0}, rejected{0}, failed{0}, unroutable{0};
        std::atomic<std::uint64_t> replayed{0}, duplicates{0}, handovers{0};
    } n;

    std::mutex m;
    std::condition_variable cv;
    // Under m:
    reply_cache cache;
    bool running = false, stopping = false, draining = false, finished = false;
    int owner = -1;          // the member holding the socket, -1: none
    bool owner_busy = false; // the owner is running a handler
    std::uint64_t busy_gen = 0;
    int watcher = -1;
    bool watcher_asleep = false;
    std::size_t detached = 0; // handlers running off the socket
    std::deque<queued_reply> replies;
    std::exception_ptr failure;
    int wake_fd = -1;

private:
    std::size_t receive(std::span<zmq::message_t> frames, deadline& until, bool watch);
    std::optional<zmq::message_t> handle(const message& request, buffer& out);
    void send_reply(zmq::message_t& routing, bool delimiter, zmq::message_t& body);
    void flush_replies();
    void wait_wake(std::chrono::milliseconds timeout);
    void reject(const error& e) noexcept {
        ++n.rejected;
        if (options.socket.on_rejected) {
            try {
                options.socket.on_rejected(e);
            } catch (...) {
                // The callback's contract is not to throw; the server must not die of it.
            }
        }
    }
};

std::size_t server_core::receive(std::span<zmq::message_t> frames, deadline& until, bool watch) {
    if (!watch) return socket.receive(frames, until); // the fast path: block inside libzmq
    for (;;) {
        zmq_pollitem_t items[2] = {{socket.native().handle(), 0, ZMQ_POLLIN, 0}, {nullptr, wake_fd, ZMQ_POLLIN, 0}};
        const int ms = until.remaining_ms();
        if (zmq_poll(items, 2, ms) < 0) {
            if (zmq_errno() == EINTR) continue;
            if (zmq_errno() == ETERM) throw error(errc::closed, "server: the context was shut down");
            throw error(errc::zmq, std::string("server: zmq_poll: ") + zmq_strerror(zmq_errno()));
        }
        if (items[1].revents != 0) {
            std::uint64_t count;
            [[maybe_unused]] auto r = ::read(wake_fd, &count, sizeof count);
            return 0; // the caller sends the queued replies and comes back
        }
        if (items[0].revents != 0) {
            auto now = deadline::after(std::chrono::milliseconds(0));
            if (auto got = socket.receive(frames, now); got != 0) return got;
        }
        if (ms == 0 || until.passed()) return 0;
    }
}

void server_core::wait_wake(std::chrono::milliseconds timeout) {
    pollfd p{wake_fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) > 0) {
        std::uint64_t count;
        [[maybe_unused]] auto r = ::read(wake_fd, &count, sizeof count);
    }
}

std::optional<zmq::message_t> server_core::handle(const message& request, buffer& out) {
    std::optional<zmq::message_t> body;
    std::string failure_text;
    auto method = methods.find(request.subject());
    if (method == methods.end()) {
        failure_text = "no method '" + std::string(request.subject()) + "' on this server";
    } else {
        try {
            auto type = method->second(request, out);
            body = reply_frame(kind::reply, request.id(), request.subject(), type, out.view());
        } catch (const std::exception& e) {
            failure_text = e.what();
        } catch (...) {
            failure_text = "the handler threw a non-standard exception";
        }
    }
    if (!body) {
        ++n.failed;
        auto& text = scratch();
        msgpack::pack(text, failure_text);
        body = reply_frame(kind::error, request.id(), request.subject(), type_name<std::string>::value, text.view());
    }
    if (body->size() > socket.options().max_message_size) {
        ++n.failed;
        return std::nullopt; // the caller times out; a reply over the limit would only be dropped by its peer
    }
    return body;
}

void server_core::send_reply(zmq::message_t& routing, bool delimiter, zmq::message_t& body) {
    auto& sock = socket.native();
    if (!sock) throw error(errc::closed, "server reply: the socket is closed");
    try {
        if (!sock.send(routing, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
            ++n.unroutable;
            return;
        }
        if (delimiter) sock.send(zmq::message_t(), zmq::send_flags::sndmore);
        released(body);
        sock.send(body, zmq::send_flags::none);
        ++n.sent;
    } catch (const zmq::error_t& e) {
        if (e.num() == EHOSTUNREACH) {
            ++n.unroutable;
            return;
        }
        if (e.num() == ETERM) throw error(errc::closed, "server reply: the context was shut down");
        throw error(errc::zmq, std::string("server reply: ") + e.what());
    }
}

void server_core::flush_replies() {
    std::deque<queued_reply> batch;
    {
        std::lock_guard lock(m);
        batch.swap(replies);
    }
    for (auto& r : batch) send_reply(r.routing, r.delimiter, r.body);
}

bool server_core::step(int me, deadline& until, buffer& out, bool pooled) {
    bool watch = false;
    if (pooled) {
        std::lock_guard lock(m);
        watch = detached > 0 || !replies.empty();
    }
    std::array<zmq::message_t, 3> frames;
    for (;;) {
        if (watch) flush_replies();
        const auto count = receive(frames, until, watch);
        if (count == 0) return false;
        std::optional<message> request;
        bool delimiter = false;
        try {
            if (count == 3 && frames[1].size() == 0) delimiter = true;
            else if (count != 2)
                throw error(errc::malformed, "request of " + std::to_string(count) +
                                                 " frames (expected [empty delimiter][envelope])");
            auto& body = frames[count - 1];
            auto layout = envelope::parse({body.data<std::byte>(), body.size()}, socket.options().limits);
            if (layout.kind != kind::request)
                throw error(errc::malformed, "request envelope of kind " + std::to_string(static_cast<int>(layout.kind)) +
                                                 " (expected 2, request)");
            request.emplace(zmq::message_t(), std::move(body), layout, socket.options().limits);
        } catch (const error& e) {
            reject(e);
            if (until.passed()) return false;
            continue;
        }
        ++n.received;

        std::string key;
        zmq::message_t stored;
        auto known = reply_cache::state::absent;
        {
            std::lock_guard lock(m);
            if (cache.enabled()) {
                const auto id = request->id();
                key.reserve(frames[0].size() + sizeof id);
                key.append(frames[0].data<char>(), frames[0].size());
                key.append(reinterpret_cast<const char*>(&id), sizeof id);
                known = cache.begin(key, stored, clock::now());
            }
            if (known == reply_cache::state::absent && pooled) {
                owner_busy = true;
                ++busy_gen;
                if (watcher_asleep) cv.notify_all();
            }
        }
        if (known == reply_cache::state::running) {
            ++n.duplicates; // its first attempt's reply will answer the call
            return true;
        }
        if (known == reply_cache::state::answered) {
            ++n.replayed;
            send_reply(frames[0], delimiter, stored);
            return true;
        }

        auto body = handle(*request, out);
        {
            std::lock_guard lock(m);
            if (body && !key.empty()) cache.complete(key, *body);
            if (pooled) {
                if (owner == me) owner_busy = false;
                else {
                    // A standby took the socket while the handler ran: hand the reply over.
                    --detached;
                    if (body) replies.push_back({std::move(frames[0]), delimiter, std::move(*body)});
                    wake();
                    return true;
                }
            }
        }
        if (body) send_reply(frames[0], delimiter, *body);
        return true;
    }
}

void server_core::member(int me, std::chrono::milliseconds stop_check) {
    buffer out;
    std::unique_lock lock(m);
    std::uint64_t seen_gen = busy_gen;
    int idle_samples = 0;
    auto fail = [&](std::exception_ptr e) {
        if (!failure) failure = e;
        stopping = finished = true;
        owner = -1;
        cv.notify_all();
    };
    for (;;) {
        if (finished) return;
        if (owner < 0) owner = me;
        if (owner == me) {
            if (stopping) {
                // No new requests: wait for the handlers off the socket, send their replies.
                if (detached == 0 && replies.empty()) {
                    finished = true;
                    owner = -1;
                    cv.notify_all();
                    return;
                }
                const bool queued = !replies.empty();
                lock.unlock();
                try {
                    if (queued) flush_replies();
                    else wait_wake(stop_check);
                } catch (...) {
                    lock.lock();
                    fail(std::current_exception());
                    return;
                }
                lock.lock();
                continue;
            }
            lock.unlock();
            try {
                auto until = deadline::after(stop_check);
                (void)step(me, until, out, true);
            } catch (...) {
                lock.lock();
                fail(std::current_exception());
                return;
            }
            lock.lock();
            continue;
        }
        // A standby. One of them watches the owner; the others sleep until needed.
        if (stopping) {
            cv.wait(lock);
            continue;
        }
        if (watcher < 0) watcher = me;
        if (watcher != me) {
            cv.wait(lock);
            continue;
        }
        if (owner_busy) {
            const auto gen = busy_gen;
            const auto until = clock::now() + options.handover_after;
            while (cv.wait_until(lock, until) == std::cv_status::no_timeout && !finished && !stopping &&
                   owner_busy && busy_gen == gen) {
            }
            if (!finished && !stopping && owner >= 0 && owner != me && owner_busy && busy_gen == gen &&
                clock::now() >= until) {
                ++detached; // the old owner, until its handler returns
                owner = me;
                owner_busy = false;
                watcher = -1;
                ++n.handovers;
                cv.notify_all(); // another standby becomes the watcher
            }
            idle_samples = 0;
            continue;
        }
        if (busy_gen != seen_gen) {
            seen_gen = busy_gen;
            idle_samples = 0;
        }
        if (++idle_samples <= 100) {
            cv.wait_for(lock, options.handover_after);
            continue;
        }
        watcher_asleep = true;
        cv.wait(lock);
        watcher_asleep = false;
        idle_samples = 0;
    }
}

} // namespace detail

namespace {

server_options validated(server_options o) {
    o.validate();
    return o;
}

/// The core of a server that was not moved from; a moved-from server is closed.
detail::server_core& live(const std::unique_ptr<detail::server_core>& core) {
    if (!core) throw error(errc::closed, "server: moved from");
    return *core;
}

} // namespace

server::server(context& ctx, server_options options)
    : core_(std::make_unique<detail::server_core>(ctx, validated(std::move(options)))) {}
server::server(server&&) noexcept = default;
server& server::operator=(server&&) noexcept = default;
server::~server() = default;

std::string server::bind(std::string_view endpoint) { return live(core_).socket.bind(endpoint); }
void server::connect(std::string_view endpoint) { live(core_).socket.connect(endpoint); }
void server::close() noexcept {
    if (core_) core_->socket.close();
}
event_queue* server::events() noexcept { return core_ ? core_->socket.events() : nullptr; }
zmq::socket_t& server::native() { return live(core_).socket.native(); }

void server::add_method(std::string_view name, detail::method_fn fn) {
    auto& c = live(core_);
    if (name.empty()) throw error(errc::invalid_argument, "server::serve: the method name is empty");
    if (name.size() > c.socket.options().limits.max_name)
        throw error(errc::invalid_argument, "server::serve: method name longer than limits.max_name");
    if (!c.methods.emplace(std::string(name), std::move(fn)).second)
        throw error(errc::invalid_argument, "server::serve: method '" + std::string(name) + "' is already served");
}

bool server::serve_one(std::chrono::milliseconds timeout) {
    auto until = detail::deadline::after(timeout);
    auto& c = live(core_);
    return c.step(-1, until, c.solo_answer, false);
}

void server::run(std::stop_token stop, std::chrono::milliseconds stop_check) {
    auto& c = live(core_);
    {
        std::lock_guard lock(c.m);
        if (c.running) throw error(errc::invalid_argument, "server::run: already running");
        c.running = true;
        c.stopping = c.draining;
        c.finished = false;
        c.owner = -1;
        c.owner_busy = false;
        c.detached = 0;
        c.watcher = -1;
        c.failure = nullptr;
    }
    std::stop_callback on_stop(stop, [&c] { c.request_stop(); });
    const std::size_t workers =
        c.options.workers != 0 ? c.options.workers : std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::thread> pool;
    try {
        for (std::size_t i = 1; i < workers; ++i)
            pool.emplace_back([&c, i, stop_check] { c.member(static_cast<int>(i), stop_check); });
    } catch (...) {
        c.request_stop(); // could not start a thread: stop those that started, then report it
        for (auto& t : pool) t.join();
        std::lock_guard lock(c.m);
        c.running = false;
        throw;
    }
    c.member(0, stop_check);
    for (auto& t : pool) t.join();
    std::exception_ptr failure;
    bool drained;
    {
        std::lock_guard lock(c.m);
        failure = c.failure;
        drained = c.draining;
    }
    if (drained) c.socket.close(); // every worker has stopped: this thread may close it
    {
        std::lock_guard lock(c.m);
        c.running = false;
    }
    c.cv.notify_all();
    if (failure) {
        try {
            std::rethrow_exception(failure);
        } catch (const error& e) {
            if (e.kind() != errc::closed) throw;
        }
    }
}

bool server::drain(std::chrono::milliseconds timeout) {
    if (!core_) return true; // moved from: closed, like close()
    auto& c = *core_;
    std::unique_lock lock(c.m);
    if (!c.running) {
        lock.unlock();
        close();
        return true;
    }
    c.draining = true;
    c.stopping = true;
    c.cv.notify_all();
    c.wake();
    return c.cv.wait_for(lock, timeout, [&] { return !c.running; });
}

courier::counters server::counters() const {
    if (!core_) return {};
    const auto& n = core_->n;
    courier::counters out;
    out.sent = n.sent.load(std::memory_order_relaxed);
    out.received = n.received.load(std::memory_order_relaxed);
    out.rejected = n.rejected.load(std::memory_order_relaxed);
    out.failed = n.failed.load(std::memory_order_relaxed);
    out.unroutable = n.unroutable.load(std::memory_order_relaxed);
    return out;
}

server_counters server::cache_counters() const {
    if (!core_) return {};
    const auto& n = core_->n;
    server_counters out;
    out.replayed = n.replayed.load(std::memory_order_relaxed);
    out.duplicates = n.duplicates.load(std::memory_order_relaxed);
    out.handovers = n.handovers.load(std::memory_order_relaxed);
    std::lock_guard lock(core_->m);
    out.evicted = core_->cache.evicted;
    return out;
}

} // namespace courier
