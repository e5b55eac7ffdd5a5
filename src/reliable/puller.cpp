#include "courier/reliable.hpp"

#include "core/owned.hpp"
#include "framing/message_access.hpp"
#include "transport/socket.hpp"
#include "wire/ids.hpp"
#include "reliable/duplicate_window.hpp"
#include "reliable/protocol.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace courier {

using namespace reliable_detail;

struct reliable_puller::state {
    struct producer {
        duplicate_window seen;
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
        apply_router_options(sock.native(), node);
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
            it = producers.emplace(id, producer{duplicate_window(opt.dedup_window), {}, {}, 0}).first;
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
                send(rid, control_frame("pong", {}, layout.id));
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
                send(p.rid, control_frame("bye"));
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

template <class State>
State& live(const std::unique_ptr<State>& state) { return detail::live_state(state, "reliable_puller"); }

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

courier::counters reliable_puller::counters() const {
    return state_ ? state_->sock.counters.snapshot() : courier::counters{};
}

} // namespace courier
