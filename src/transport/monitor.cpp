#include "courier/events.hpp"

#include "transport/monitor.hpp"
#include "courier/error.hpp"
#include "transport/worker.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace courier {

void heartbeat_options::validate() const {
    using std::chrono::hours;
    using std::chrono::milliseconds;
    if (interval.count() == 0) return;
    if (interval < milliseconds(10) || interval > hours(1))
        throw error(errc::invalid_option, "heartbeat_options.interval must be 0 (off) or 10 ms .. 1 h, not " +
                                              std::to_string(interval.count()) + " ms");
    if (timeout <= interval || timeout > hours(1))
        throw error(errc::invalid_option, "heartbeat_options.timeout must be more than interval (" +
                                              std::to_string(interval.count()) + " ms) and at most 1 h, not " +
                                              std::to_string(timeout.count()) + " ms");
}

void event_options::validate() const {
    if (queue_capacity > 1'000'000)
        throw error(errc::invalid_option,
                    "event_options.queue_capacity must be 0 .. 1000000, not " + std::to_string(queue_capacity));
}

std::optional<peer_event> event_queue::wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!ready_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
    auto e = std::move(events_.front());
    events_.pop_front();
    return e;
}

std::optional<peer_event> event_queue::try_pop() {
    std::lock_guard lock(mutex_);
    if (events_.empty()) return std::nullopt;
    auto e = std::move(events_.front());
    events_.pop_front();
    return e;
}

std::size_t event_queue::size() const {
    std::lock_guard lock(mutex_);
    return events_.size();
}

std::uint64_t event_queue::dropped() const {
    std::lock_guard lock(mutex_);
    return dropped_;
}

void event_queue::push(peer_event e) {
    {
        std::lock_guard lock(mutex_);
        if (events_.size() >= capacity_) {
            events_.pop_front();
            ++dropped_;
        }
        events_.push_back(std::move(e));
    }
    ready_.notify_one();
}

namespace detail {

void cut_off_board::watch(const std::string& endpoint) {
    std::lock_guard lock(mutex_);
    watched_.insert(endpoint);
}

void cut_off_board::unwatch(const std::string& endpoint) {
    std::lock_guard lock(mutex_);
    watched_.erase(endpoint);
}

bool cut_off_board::watched(const std::string& endpoint) const {
    std::lock_guard lock(mutex_);
    return watched_.contains(endpoint);
}

void cut_off_board::post(const std::string& endpoint) {
    std::lock_guard lock(mutex_);
    if (posted_.empty()) since_ = std::chrono::steady_clock::now();
    if (std::find(posted_.begin(), posted_.end(), endpoint) == posted_.end()) posted_.push_back(endpoint);
    pending_.store(true, std::memory_order_release);
}

std::chrono::steady_clock::time_point cut_off_board::since() const {
    std::lock_guard lock(mutex_);
    return since_;
}

std::vector<std::string> cut_off_board::take() {
    std::lock_guard lock(mutex_);
    pending_.store(false, std::memory_order_relaxed);
    return std::exchange(posted_, {});
}

namespace {

constexpr int watched_events = ZMQ_EVENT_CONNECTED | ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                               ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_MONITOR_STOPPED;

std::string monitor_endpoint() {
    static std::atomic<std::uint64_t> next{0};
    return "inproc://courier-monitor-" + std::to_string(::getpid()) + "-" + std::to_string(next.fetch_add(1));
}

/// The peer's address of a connected socket, as an endpoint; empty if the OS does not say.
std::string peer_address(int fd) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (fd < 0 || ::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return {};
    char host[INET6_ADDRSTRLEN] = {};
    if (addr.ss_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
        ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        return "tcp://" + std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
    }
    if (addr.ss_family == AF_INET6) {
        const auto* in = reinterpret_cast<const sockaddr_in6*>(&addr);
        ::inet_ntop(AF_INET6, &in->sin6_addr, host, sizeof host);
        return "tcp://[" + std::string(host) + "]:" + std::to_string(ntohs(in->sin6_port));
    }
    if (addr.ss_family == AF_UNIX) {
        const auto* un = reinterpret_cast<const sockaddr_un*>(&addr);
        const auto n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
        const std::string path(un->sun_path, ::strnlen(un->sun_path, n));
        return path.empty() ? std::string() : "ipc://" + path;
    }
    return {};
}

// One connection the monitor has seen open. `copy` is a duplicate of libzmq's descriptor: when
// libzmq drops the connection, the copy still shows whether the peer had closed it (end of stream
// or reset) or it was still open (libzmq gave up on a silent peer).
struct connection {
    int fd = -1;
    int copy = -1;
    std::string identity; // the open file behind `copy` ("socket:[inode]"), to notice `fd` naming another
    std::string endpoint;
    std::string peer;
    bool handshaken = false;
    bool made = false; // this socket connected (CONNECTED), rather than accepted (ACCEPTED)
};

// A made connection libzmq dropped after its handshake: final unless libzmq redials within the grace.
struct suspect {
    std::string peer;
    std::chrono::steady_clock::time_point since;
};

/// What the kernel says about a connection libzmq dropped: true if the peer had closed it.
bool closed_by_peer(int copy) {
    if (copy < 0) return true; // unknown: the conservative reading
    char byte;
    for (;;) {
        const auto n = ::recv(copy, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0) return true; // end of stream
        if (n > 0) return true;  // data libzmq did not read: it stopped reading, the peer did not go silent
        if (errno == EINTR) continue;
        return errno != EAGAIN && errno != EWOULDBLOCK; // reset or other error: gone; EAGAIN: open and silent
    }
}

/// What descriptor `fd` of this process refers to, as /proc/self/fd names it ("socket:[1234]");
/// empty if it is not open.
std::string open_file(int fd) {
    char target[64];
    const auto path = "/proc/self/fd/" + std::to_string(fd);
    const auto n = ::readlink(path.c_str(), target, sizeof target);
    return n > 0 ? std::string(target, static_cast<std::size_t>(n)) : std::string();
}

class reader {
public:
    reader(zmq::socket_t pair, event_options options, event_queue* queue, bool heartbeats,
           std::shared_ptr<cut_off_board> board, std::size_t max_message_size, const std::atomic<bool>& stopping)
        : pair_(std::move(pair)), options_(std::move(options)), queue_(queue), heartbeats_(heartbeats),
          board_(std::move(board)), max_message_size_(max_message_size), stopping_(stopping) {}
    ~reader() {
        for (auto& c : connections_)
            if (c.copy >= 0) ::close(c.copy);
    }

    void run() noexcept {
        try {
            pair_.set(zmq::sockopt::rcvtimeo, 20);
            auto swept = std::chrono::steady_clock::now();
            while (!stopped_ && !stopping_.load(std::memory_order_acquire)) {
                if (const auto now = std::chrono::steady_clock::now(); now - swept >= std::chrono::milliseconds(20)) {
                    sweep();
                    settle(now);
                    swept = now;
                }
                if (!next(zmq::recv_flags::none)) break;
            }
        } catch (const zmq::error_t&) {
            // ETERM: the context is shutting down. Returning closes the PAIR socket, which the
            // context's termination waits for.
        }
    }

private:
    /// Reads and handles one event, if there is one; false once the monitor has stopped.
    bool next(zmq::recv_flags flags) {
        zmq::message_t head, address;
        if (!pair_.recv(head, flags)) return true;
        if (!head.more() || !pair_.recv(address)) return true;
        if (head.size() < 6) return true;
        std::uint16_t event;
        std::int32_t value;
        std::memcpy(&event, head.data(), 2);
        std::memcpy(&value, head.data<char>() + 2, 4);
        if (event == ZMQ_EVENT_MONITOR_STOPPED) {
            stopped_ = true;
            return false;
        }
        handle(event, value, address.to_string());
        return true;
    }

    void handle(std::uint16_t event, int value, std::string endpoint) {
        switch (event) {
        case ZMQ_EVENT_CONNECT_RETRIED:
            suspects_.erase(endpoint); // libzmq redials by itself: not a cut-off
            break;
        case ZMQ_EVENT_CONNECTED:
        case ZMQ_EVENT_ACCEPTED: {
            if (event == ZMQ_EVENT_CONNECTED) suspects_.erase(endpoint); // connected again already
            connection c;
            c.fd = value;
            c.made = event == ZMQ_EVENT_CONNECTED;
            c.endpoint = std::move(endpoint);
            // The events are read in the order libzmq raised them, and libzmq raises a
            // connection's DISCONNECTED before closing its descriptor, so `value` is the
            // descriptor of this connection or of none (if it closed already: the copy then
            // reads as closed, or fails).
            c.copy = ::fcntl(value, F_DUPFD_CLOEXEC, 0);
            if (c.copy >= 0) c.identity = open_file(c.copy);
            c.peer = peer_address(c.copy);
            connections_.push_back(std::move(c));
            break;
        }
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: {
            // Handshakes name the endpoint, not the descriptor: take the oldest connection of that
            // endpoint still handshaking. Counts are exact; which of two simultaneous connections of
            // one bound endpoint is which may be swapped, which changes only `peer`.
            for (auto& c : connections_)
                if (!c.handshaken && c.endpoint == endpoint) {
                    c.handshaken = true;
                    emit(event_kind::connected, c.endpoint, c.peer);
                    return;
                }
            emit(event_kind::connected, endpoint, {});
            break;
        }
        case ZMQ_EVENT_DISCONNECTED: {
            for (auto it = connections_.begin(); it != connections_.end(); ++it) {
                if (it->fd != value) continue;
                const bool by_peer = closed_by_peer(it->copy);
                if (it->copy >= 0) ::close(it->copy);
                auto c = std::move(*it);
                connections_.erase(it);
                // A connection that never finished its handshake was never reported connected.
                if (c.handshaken)
                    emit(by_peer || !heartbeats_ ? event_kind::disconnected : event_kind::dead_peer, c.endpoint,
                         c.peer);
                // libzmq 4.3.4 redials a made connection it dropped for a connection or heartbeat
                // error, and says so at once (CONNECT_RETRIED); after a protocol error it says
                // nothing more and never redials. A failed handshake is left to libzmq: a peer
                // that does not speak ZMTP would be redialled for ever.
                if (c.made && c.handshaken)
                    suspects_[c.endpoint] = suspect{c.peer, std::chrono::steady_clock::now()};
                return;
            }
            break;
        }
        default: break;
        }
    }

    // libzmq closes a connection without an event when this side ends it (disconnect, unbind, a
    // ROUTER handing a routing id over to a new connection). The copy would keep such a connection
    // open, so every 20 ms the copies whose descriptor no longer names the same socket are closed
    // and their connections reported disconnected.
    // The descriptor is looked up by path (/proc/self/fd), not by a call on the descriptor: its
    // number may have been closed and reused on another thread by now, which is the case this
    // check exists for, and a call on it would race with that thread's close.
    bool replaced(const connection& c) const { return c.copy >= 0 && open_file(c.fd) != c.identity; }

    void sweep() {
        if (std::none_of(connections_.begin(), connections_.end(), [&](const auto& c) { return replaced(c); })) return;
        // libzmq raises DISCONNECTED before it closes the descriptor: read what is queued first,
        // so that a connection it dropped is classified by its event, not swept.
        while (!stopped_ && pair_.get(zmq::sockopt::events) & ZMQ_POLLIN) next(zmq::recv_flags::dontwait);
        for (auto it = connections_.begin(); it != connections_.end();) {
            if (!replaced(*it)) {
                ++it;
                continue;
            }
            ::close(it->copy);
            auto c = std::move(*it);
            it = connections_.erase(it);
            if (c.handshaken) emit(event_kind::disconnected, c.endpoint, c.peer);
        }
    }

    // Suspects libzmq has not redialled within the grace were cut off: the owner redials them.
    // A drop taken for final that was not (CONNECT_RETRIED later than the grace) is harmless: the
    // owner disconnects before it connects, so one session is left either way.
    void settle(std::chrono::steady_clock::time_point now) {
        const auto due = [&](const auto& s) { return now - s.second.since >= cut_off_board::grace; };
        if (std::none_of(suspects_.begin(), suspects_.end(), due)) return;
        // libzmq queues CONNECT_RETRIED right behind the DISCONNECTED of a drop it redials. A monitor
        // thread preempted for longer than the grace must read what is queued before it judges,
        // or a busy machine turns an ordinary reconnect into a cut-off (and a needless redial).
        while (!stopped_ && pair_.get(zmq::sockopt::events) & ZMQ_POLLIN) next(zmq::recv_flags::dontwait);
        for (auto it = suspects_.begin(); it != suspects_.end();) {
            if (now - it->second.since < cut_off_board::grace) {
                ++it;
                continue;
            }
            if (board_->watched(it->first)) {
                board_->post(it->first);
                emit(event_kind::cut_off, it->first, it->second.peer,
                     "libzmq dropped the connection after a protocol error (a frame over max_message_size, " +
                         std::to_string(max_message_size_) +
                         " B, or malformed framing) and does not redial after one; courier redials it");
            }
            it = suspects_.erase(it);
        }
    }

    void emit(event_kind kind, const std::string& endpoint, const std::string& peer, std::string reason = {}) {
        peer_event e{.kind = kind,
                     .endpoint = endpoint,
                     .peer = peer,
                     .at = std::chrono::steady_clock::now(),
                     .reason = std::move(reason)};
        if (options_.on_event) {
            try {
                options_.on_event(e);
            } catch (...) {
                // A callback must not throw; the monitor goes on either way.
            }
        }
        if (queue_ != nullptr) queue_->push(std::move(e));
    }

    zmq::socket_t pair_;
    event_options options_;
    event_queue* queue_;
    bool heartbeats_;
    std::shared_ptr<cut_off_board> board_;
    std::size_t max_message_size_;
    const std::atomic<bool>& stopping_;
    bool stopped_ = false;
    std::vector<connection> connections_;
    std::map<std::string, suspect> suspects_; // by endpoint
};

} // namespace

monitor::monitor(zmq::context_t& ctx, zmq::socket_t& watched, event_options options, bool heartbeats,
                 std::size_t max_message_size) {
    options.validate();
    if (options.queue_capacity > 0) queue_ = std::make_unique<event_queue>(options.queue_capacity);
    const auto endpoint = monitor_endpoint();
    zmq::socket_t pair;
    try {
        if (zmq_socket_monitor(watched.handle(), endpoint.c_str(), watched_events) != 0) throw zmq::error_t();
        pair = zmq::socket_t(ctx, zmq::socket_type::pair);
        pair.set(zmq::sockopt::linger, 0);
        pair.connect(endpoint);
    } catch (const zmq::error_t& e) {
        if (watched) zmq_socket_monitor(watched.handle(), nullptr, 0);
        if (e.num() == ETERM) throw error(errc::closed, "socket monitor: the context was shut down");
        throw error(errc::zmq, std::string("socket monitor: ") + e.what());
    }
    // The PAIR socket moves to the thread; starting a thread is the memory barrier libzmq asks for.
    auto r = std::make_shared<reader>(std::move(pair), std::move(options), queue_.get(), heartbeats, board_,
                                      max_message_size, stopping_);
    thread_ = std::make_unique<detail::worker>(
        detail::worker_options{.name = "courier-events"}, nullptr, [r]() mutable { r->run(); },
        [this] { stopping_.store(true, std::memory_order_release); });
}

monitor::~monitor() { join(); }

void monitor::stop(zmq::socket_t& watched) noexcept {
    if (!thread_ || !thread_->running()) return;
    // Makes libzmq send MONITOR_STOPPED, which ends the reader; the flag ends it in any case
    // (after a context shutdown this call fails and the reader has seen ETERM).
    if (watched) zmq_socket_monitor(watched.handle(), nullptr, 0);
    join();
}

void monitor::join() noexcept {
    if (thread_) thread_->stop(); // sets stopping_, which the reader checks every 20 ms, and joins
}

} // namespace detail
} // namespace courier
