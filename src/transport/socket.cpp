#include "transport/socket.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#if defined(__SANITIZE_THREAD__)
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace courier::detail {

// libzmq passes a large message's buffer between threads through its own lock-free pipes. Debian's
// libzmq is not built for ThreadSanitizer, which therefore cannot see that hand-off; these tell it.
void released(zmq::message_t& m) noexcept {
#if defined(__SANITIZE_THREAD__)
    __tsan_release(m.data());
#else
    (void)m;
#endif
}

void acquired(zmq::message_t& m) noexcept {
#if defined(__SANITIZE_THREAD__)
    __tsan_acquire(m.data());
#else
    (void)m;
#endif
}

socket::socket(context& ctx, zmq::socket_type type, socket_options options)
    : options_(std::move(options)), ctx_(&ctx.native()), type_(type) {
    options_.validate();
    try {
        sock_ = zmq::socket_t(ctx.native(), type);
        sock_.set(zmq::sockopt::linger, static_cast<int>(options_.linger.count()));
        sock_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(options_.max_message_size));
        sock_.set(zmq::sockopt::sndhwm, options_.send_hwm);
        sock_.set(zmq::sockopt::rcvhwm, options_.receive_hwm);
        if (const auto& hb = options_.heartbeat; hb.enabled()) {
            // libzmq starts its timeout at a probe, and probes go out every interval: a timeout of
            // (timeout - interval) after the probe is `timeout` after the last answer at most.
            sock_.set(zmq::sockopt::heartbeat_ivl, static_cast<int>(hb.interval.count()));
            sock_.set(zmq::sockopt::heartbeat_timeout, static_cast<int>((hb.timeout - hb.interval).count()));
            sock_.set(zmq::sockopt::heartbeat_ttl, static_cast<int>(hb.timeout.count()));
        }
        if (options_.events.enabled())
            monitor_ = std::make_unique<monitor>(ctx.native(), sock_, options_.events, options_.heartbeat.enabled(),
                                                 options_.max_message_size);
    } catch (const zmq::error_t& e) {
        fail("creating socket", e);
    }
}

void fail(const char* what, const zmq::error_t& e) {
    if (e.num() == ETERM) throw error(errc::closed, std::string(what) + ": the context was shut down");
    if (e.num() == EINVAL || e.num() == EPROTONOSUPPORT || e.num() == ENOCOMPATPROTO || e.num() == EADDRINUSE ||
        e.num() == EADDRNOTAVAIL || e.num() == ENODEV)
        throw error(errc::invalid_argument, std::string(what) + ": " + e.what());
    throw error(errc::zmq, std::string(what) + ": " + e.what());
}

std::string socket::bind(std::string_view endpoint) {
    if (!sock_) throw error(errc::closed, "bind: socket is closed");
    std::string ep(endpoint);
    try {
        sock_.bind(ep);
        return sock_.get(zmq::sockopt::last_endpoint);
    } catch (const zmq::error_t& e) {
        fail(("bind '" + ep + "'").c_str(), e);
    }
}

void socket::connect(std::string_view endpoint) {
    if (!sock_) throw error(errc::closed, "connect: socket is closed");
    std::string ep(endpoint);
    // Sockets that never read have nothing a peer could cut them off with worth a thread; inproc
    // has no size limit (and no protocol errors).
    const bool watch = type_ != zmq::socket_type::pub && type_ != zmq::socket_type::xpub &&
                       type_ != zmq::socket_type::push && !ep.starts_with("inproc://");
    try {
        if (watch && !monitor_) // before connecting, so that no event of the connection is missed
            monitor_ = std::make_unique<monitor>(*ctx_, sock_, event_options{}, options_.heartbeat.enabled(),
                                                 options_.max_message_size);
        sock_.connect(ep);
        if (watch) {
            // libzmq names the endpoint in its events as it resolved it, which it reports here.
            auto named = sock_.get(zmq::sockopt::last_endpoint);
            monitor_->cut_offs().watch(named);
            connected_.push_back({std::move(ep), std::move(named)});
        }
    } catch (const zmq::error_t& e) {
        fail(("connect '" + std::string(endpoint) + "'").c_str(), e);
    }
}

void socket::unbind(std::string_view endpoint) {
    if (!sock_) throw error(errc::closed, "unbind: socket is closed");
    std::string ep(endpoint);
    try {
        sock_.unbind(ep);
    } catch (const zmq::error_t& e) {
        fail(("unbind '" + ep + "'").c_str(), e);
    }
}

void socket::disconnect(std::string_view endpoint) {
    if (!sock_) throw error(errc::closed, "disconnect: socket is closed");
    std::string ep(endpoint);
    try {
        sock_.disconnect(ep);
    } catch (const zmq::error_t& e) {
        fail(("disconnect '" + ep + "'").c_str(), e);
    }
    // libzmq disconnects every connection made to the endpoint: stop watching all of them.
    for (auto it = connected_.begin(); it != connected_.end();) {
        if (it->given != ep) {
            ++it;
            continue;
        }
        const auto named = std::move(it->named);
        it = connected_.erase(it);
        if (std::none_of(connected_.begin(), connected_.end(), [&](const auto& c) { return c.named == named; }))
            monitor_->cut_offs().unwatch(named);
    }
}

void socket::redial_cut_offs(bool idle) {
    auto& board = monitor_->cut_offs();
    if (!idle && clock::now() - board.since() < hold) return;
    for (const auto& named : board.take()) {
        const auto it =
            std::find_if(connected_.begin(), connected_.end(), [&](const auto& c) { return c.named == named; });
        if (it == connected_.end()) continue; // disconnected since
        try {
            // Disconnect first: were the drop not final after all, there is still one session.
            try {
                sock_.disconnect(it->given);
            } catch (const zmq::error_t& e) {
                if (e.num() != ENOENT) throw;
            }
            sock_.connect(it->given);
        } catch (const zmq::error_t& e) {
            fail(("redialling cut-off '" + it->given + "'").c_str(), e);
        }
        ++counters.cut_offs;
    }
}

void socket::close() noexcept {
    if (monitor_) monitor_->stop(sock_);
    monitor_.reset();
    connected_.clear();
    sock_.close();
}

bool send_frames(zmq::socket_ref sock, std::span<zmq::message_t> frames, deadline& until, std::size_t max_size) {
    for (auto& f : frames)
        if (f.size() > max_size)
            throw error(errc::message_too_large, "send: a frame of " + std::to_string(f.size()) +
                                                     " bytes is over max_message_size (" + std::to_string(max_size) + ")");
    const auto n = frames.size();
    for (auto& f : frames) released(f);
    try {
        for (;;) {
            auto flags = zmq::send_flags::dontwait | (n > 1 ? zmq::send_flags::sndmore : zmq::send_flags::none);
            if (sock.send(frames[0], flags)) break;
            const int ms = until.remaining_ms(); // no room: block inside libzmq until there is
            if (ms == 0) return false;
            sock.set(zmq::sockopt::sndtimeo, ms);
            try {
                if (sock.send(frames[0], n > 1 ? zmq::send_flags::sndmore : zmq::send_flags::none)) break;
            } catch (const zmq::error_t& e) {
                if (e.num() != EINTR) throw;
            }
        }
        // libzmq queues a multipart message whole once its first frame is accepted.
        for (std::size_t i = 1; i < n; ++i)
            sock.send(frames[i], i + 1 < n ? zmq::send_flags::sndmore : zmq::send_flags::none);
    } catch (const zmq::error_t& e) {
        fail("send", e);
    }
    return true;
}

bool socket::send(std::span<zmq::message_t> frames, deadline& until) {
    if (!sock_) throw error(errc::closed, "send: socket is closed");
    bool done;
    if (!watching()) {
        done = send_frames(sock_, frames, until, options_.max_message_size);
    } else {
        auto now = deadline::after(std::chrono::milliseconds(0)); // room now: no clock read
        done = send_frames(sock_, frames, now, options_.max_message_size);
        while (!done && !until.passed()) {
            // No room (a client whose only server was cut off has no connection at all): redial,
            // then wait a slice at most, so a cut-off found meanwhile is redialled too.
            if (monitor_->cut_offs().pending()) {
                bool idle;
                try {
                    idle = !(sock_.get(zmq::sockopt::events) & ZMQ_POLLIN);
                } catch (const zmq::error_t& e) {
                    fail("send", e);
                }
                redial_cut_offs(idle);
            }
            auto slice = deadline::at(std::min(until.when(), deadline_after(wait_slice)));
            done = send_frames(sock_, frames, slice, options_.max_message_size);
        }
    }
    if (!done) {
        ++counters.timed_out;
        return false;
    }
    ++counters.sent;
    return true;
}

std::size_t socket::receive(std::span<zmq::message_t> frames, deadline& until) {
    if (!sock_) throw error(errc::closed, "receive: socket is closed");
    try {
        // A socket that is never idle redials a cut-off after `hold`.
        if (watching() && monitor_->cut_offs().pending()) redial_cut_offs(false);
        for (;;) {
            if (sock_.recv(frames[0], zmq::recv_flags::dontwait)) break;
            // Nothing there yet: block inside libzmq, which wakes on the message itself; a
            // zmq_poll per wait cost 7-16% of large-message throughput. A socket that redials
            // cut-offs does so now (nothing is left unread), and blocks a slice at a time.
            int ms;
            if (watching()) {
                if (monitor_->cut_offs().pending()) redial_cut_offs(true);
                ms = until.remaining_ms();
                if (ms < 0 || ms > wait_slice.count()) ms = static_cast<int>(wait_slice.count());
            } else {
                ms = until.remaining_ms();
            }
            if (ms == 0) return 0;
            if (ms != receive_timeout_) {
                sock_.set(zmq::sockopt::rcvtimeo, ms);
                receive_timeout_ = ms;
            }
            try {
                if (sock_.recv(frames[0], zmq::recv_flags::none)) break;
            } catch (const zmq::error_t& e) {
                if (e.num() != EINTR) throw;
            }
        }
        acquired(frames[0]);
        std::size_t count = 1;
        bool more = frames[0].more();
        for (; more && count < frames.size(); ++count) {
            (void)sock_.recv(frames[count], zmq::recv_flags::none); // the rest of a message is already here
            acquired(frames[count]);
            more = frames[count].more();
        }
        for (zmq::message_t extra; more; ++count) { // frames beyond what the caller expects: counted, dropped
            (void)sock_.recv(extra, zmq::recv_flags::none);
            more = extra.more();
        }
        return count;
    } catch (const zmq::error_t& e) {
        fail("receive", e);
    }
}

void socket::reject(const error& e, bool counted_received) noexcept {
    if (counted_received) --counters.received;
    ++counters.rejected;
    if (options_.on_rejected) {
        try {
            options_.on_rejected(e);
        } catch (...) {
            // The callback's contract is not to throw; a receive loop must not die of it.
        }
    }
}

} // namespace courier::detail
