#include "courier/server.hpp"

#include "core/owned.hpp"
#include "framing/frames.hpp"
#include "reqrep/server_core.hpp"
#include "transport/router.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <thread>

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

std::size_t server_core::receive(std::span<zmq::message_t> frames, deadline& until, bool watch) {
    if (!watch) return socket.receive(frames, until); // the fast path: block inside libzmq
    for (;;) {
        zmq_pollitem_t items[2] = {{socket.native().handle(), 0, ZMQ_POLLIN, 0}, {nullptr, waker.fd(), ZMQ_POLLIN, 0}};
        const int ms = until.remaining_ms();
        if (zmq_poll(items, 2, ms) < 0) {
            if (zmq_errno() == EINTR) continue;
            if (zmq_errno() == ETERM) throw error(errc::closed, "server: the context was shut down");
            throw error(errc::zmq, std::string("server: zmq_poll: ") + zmq_strerror(zmq_errno()));
        }
        if (items[1].revents != 0) {
            waker.drain();
            return 0; // the caller sends the queued replies and comes back
        }
        if (items[0].revents != 0) {
            auto now = deadline::after(std::chrono::milliseconds(0));
            if (auto got = socket.receive(frames, now); got != 0) return got;
        }
        if (ms == 0 || until.passed()) return 0;
    }
}

void server_core::wait_wake(std::chrono::milliseconds timeout) { (void)waker.wait(timeout); }

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
        socket.counters.failed.add_shared(1); // handlers run on several members at once
        auto& text = scratch();
        msgpack::pack(text, failure_text);
        body = reply_frame(kind::error, request.id(), request.subject(), type_name<std::string>::value, text.view());
    }
    if (body->size() > socket.options().max_message_size) {
        socket.counters.failed.add_shared(1); // handlers run on several members at once
        return std::nullopt; // the caller times out; a reply over the limit would only be dropped by its peer
    }
    return body;
}

void server_core::send_reply(zmq::message_t& routing, bool delimiter, zmq::message_t& body) {
    if (detail::send_routed(socket.native(), routing, body, delimiter, "server reply") == detail::routed::ok)
        ++socket.counters.sent;
    else
        ++socket.counters.unroutable; // the caller is gone or full: it retries, or has given up
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
            socket.reject(e);
            if (until.passed()) return false;
            continue;
        }
        ++socket.counters.received;

        std::string key;
        zmq::message_t stored;
        auto known = detail::reply_cache::state::absent;
        {
            std::lock_guard lock(m);
            if (cache.enabled()) {
                const auto id = request->id();
                key.reserve(frames[0].size() + sizeof id);
                key.append(frames[0].data<char>(), frames[0].size());
                key.append(reinterpret_cast<const char*>(&id), sizeof id);
                known = cache.begin(key, stored, clock::now());
            }
            if (known == detail::reply_cache::state::absent && pooled) {
                owner_busy = true;
                ++busy_gen;
                if (watcher_asleep) cv.notify_all();
            }
        }
        if (known == detail::reply_cache::state::running) {
            ++socket.counters.duplicates; // its first attempt's reply will answer the call
            return true;
        }
        if (known == detail::reply_cache::state::answered) {
            ++socket.counters.replayed;
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

} // namespace detail

namespace {

server_options validated(server_options o) {
    o.validate();
    return o;
}

detail::server_core& live(const std::unique_ptr<detail::server_core>& core) { return detail::live_state(core, "server"); }

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
    try {
        c.run_pool(workers, stop_check);
    } catch (...) {
        std::lock_guard lock(c.m);
        c.running = false;
        throw;
    }
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

courier::counters server::counters() const { return core_ ? core_->socket.counters.snapshot() : courier::counters{}; }

} // namespace courier
