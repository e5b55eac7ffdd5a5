#include "courier/client.hpp"

#include "core/owned.hpp"
#include "framing/frames.hpp"
#include "wire/ids.hpp"
#include "transport/socket.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <unordered_map>
#include <vector>

namespace courier {

void client_options::validate() const {
    using std::chrono::hours;
    using std::chrono::milliseconds;
    using std::chrono::minutes;
    socket.validate();
    auto bad = [](const std::string& what) { throw error(errc::invalid_option, "client_options." + what); };
    if (timeout < milliseconds(1) || timeout > hours(1))
        bad("timeout must be 1 ms .. 1 h, not " + std::to_string(timeout.count()) + " ms");
    if (attempts < 1 || attempts > 100) bad("attempts must be 1 .. 100, not " + std::to_string(attempts));
    if (backoff.initial.count() < 0 || backoff.initial > minutes(1))
        bad("backoff.initial must be 0 ms .. 1 min, not " + std::to_string(backoff.initial.count()) + " ms");
    if (!(backoff.multiplier >= 1.0 && backoff.multiplier <= 10.0))
        bad("backoff.multiplier must be 1 .. 10, not " + std::to_string(backoff.multiplier));
    if (backoff.max < backoff.initial || backoff.max > minutes(1))
        bad("backoff.max must be backoff.initial .. 1 min, not " + std::to_string(backoff.max.count()) + " ms");
    if (max_in_flight < 1 || max_in_flight > 1'000'000)
        bad("max_in_flight must be 1 .. 1000000, not " + std::to_string(max_in_flight));
}

namespace {

client_options validated(client_options o) {
    o.validate();
    return o;
}

std::string join(const std::vector<std::string>& items) {
    if (items.empty()) return "none";
    std::string out;
    for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
    return out;
}

} // namespace

struct client::state {
    state(context& ctx, client_options options);

    struct flight {
        detail::clock::time_point started{};
        detail::clock::time_point deadline{}; // of the attempt under way
        detail::clock::time_point last{};     // latest end of the whole call, for sweeping
        std::chrono::milliseconds timeout{};
        int attempts = 1;                       // allowed
        int made = 0;                           // sent, or tried to send
        zmq::message_t request{};               // the encoded request, kept for retries (attempts > 1)
        std::optional<message> reply{};         // set when it came while another call was being waited for
    };
    std::string bind(std::string_view endpoint);
    void connect(std::string_view endpoint);
    void disconnect(std::string_view endpoint);
    pending_call send_payload(std::string_view method, std::string_view type, std::span<const std::byte> payload,
                              const call_options& options);
    awaited await(const pending_call& call);
    /// Receives until `until`; the reply to `call` if it came, or the end of the call.
    std::optional<awaited> receive_for(const pending_call& call, detail::deadline& until);
    /// One attempt: sends the kept request; false if it could not be queued before the attempt's end.
    bool attempt(flight& f, zmq::message_t frame);
    awaited give_up(const pending_call& call, flight& f);
    awaited closed(const pending_call& call, const error& e);
    std::chrono::milliseconds pause_before(int retry) const noexcept;
    void sweep_expired();

    detail::socket socket_;
    client_options options_;
    std::string identity_;
    std::vector<std::string> endpoints_; // bound or connected, named when a call gives up
    std::unordered_map<std::uint64_t, flight> in_flight_;
};

client::state::state(context& ctx, client_options options)
    : socket_(ctx, zmq::socket_type::dealer, validated(options).socket), options_(std::move(options)),
      identity_(detail::random_identity()) {
    auto& s = socket_.native();
    // A fixed routing id: a server's reply cache knows a retry that comes over a new connection.
    s.set(zmq::sockopt::routing_id, zmq::const_buffer(identity_.data(), identity_.size()));
    // Requests go only to servers whose connection is up (handshake done), so a dead or frozen
    // server is skipped instead of queueing requests it will never answer.
    s.set(zmq::sockopt::immediate, true);
}

client::client(context& ctx, client_options options) : state_(std::make_unique<state>(ctx, std::move(options))) {}
client::client(client&&) noexcept = default;
client& client::operator=(client&&) noexcept = default;
client::~client() = default;

client::state& client::self() const { return detail::live_state(state_, "client"); }

std::string client::bind(std::string_view endpoint) { return self().bind(endpoint); }
void client::connect(std::string_view endpoint) { self().connect(endpoint); }
void client::disconnect(std::string_view endpoint) { self().disconnect(endpoint); }
void client::close() noexcept {
    if (state_) state_->socket_.close();
}
std::size_t client::in_flight() const noexcept { return state_ ? state_->in_flight_.size() : 0; }
courier::counters client::counters() const { return state_ ? state_->socket_.counters.snapshot() : courier::counters{}; }
event_queue* client::events() noexcept { return state_ ? state_->socket_.events() : nullptr; }
const std::string& client::identity() const { return self().identity_; }
zmq::socket_t& client::native() { return self().socket_.native(); }

pending_call client::send_payload(std::string_view method, std::string_view type, std::span<const std::byte> payload,
                                  const call_options& options) {
    if (!state_) // as after close(): the call reports closed through its result
        return {.state = status::closed, .method = std::string(method)};
    return state_->send_payload(method, type, payload, options);
}

client::awaited client::await(const pending_call& call) {
    if (!state_) return {std::nullopt, status::closed, "call '" + call.method + "': the client was moved from"};
    return state_->await(call);
}

std::string client::state::bind(std::string_view endpoint) {
    auto bound = socket_.bind(endpoint);
    endpoints_.push_back(bound);
    return bound;
}

void client::state::connect(std::string_view endpoint) {
    socket_.connect(endpoint);
    endpoints_.emplace_back(endpoint);
}

void client::state::disconnect(std::string_view endpoint) {
    socket_.disconnect(endpoint);
    if (auto it = std::find(endpoints_.begin(), endpoints_.end(), endpoint); it != endpoints_.end())
        endpoints_.erase(it);
}

std::chrono::milliseconds client::state::pause_before(int retry) const noexcept {
    // retry 1 is the second attempt
    double ms = static_cast<double>(options_.backoff.initial.count());
    for (int i = 1; i < retry && ms < static_cast<double>(options_.backoff.max.count()); ++i)
        ms *= options_.backoff.multiplier;
    return std::min(std::chrono::milliseconds(static_cast<std::int64_t>(ms)), options_.backoff.max);
}

void client::state::sweep_expired() {
    const auto now = detail::clock::now();
    std::erase_if(in_flight_, [&](const auto& entry) { return entry.second.last <= now; });
}

bool client::state::attempt(flight& f, zmq::message_t frame) {
    ++f.made;
    f.deadline = detail::deadline_after(f.timeout);
    std::array<zmq::message_t, 2> frames{zmq::message_t(), std::move(frame)};
    auto until = detail::deadline::at(f.deadline);
    return socket_.send(frames, until);
}

pending_call client::state::send_payload(std::string_view method, std::string_view type,
                                         std::span<const std::byte> payload, const call_options& options) {
    const auto timeout = options.timeout.count() > 0 ? options.timeout : options_.timeout;
    const int attempts = !options.retry ? 1 : options.attempts > 0 ? std::min(options.attempts, 100) : options_.attempts;
    pending_call call{.id = next_message_id(), .method = std::string(method)};
    if (in_flight_.size() >= options_.max_in_flight) sweep_expired();
    if (in_flight_.size() >= options_.max_in_flight) {
        call.state = status::full;
        return call;
    }
    auto frame = detail::request_frame(call.id, method, type, payload, options.headers);
    flight f{.started = detail::clock::now(), .timeout = timeout, .attempts = attempts};
    f.last = f.started + timeout * attempts;
    for (int retry = 1; retry < attempts; ++retry) f.last += pause_before(retry);
    if (attempts > 1) f.request.copy(frame); // shares the buffer (or copies a small one)
    bool sent;
    try {
        sent = attempt(f, std::move(frame));
    } catch (const error& e) {
        if (e.kind() != errc::closed) throw;
        call.state = status::closed;
        return call;
    }
    call.deadline = f.deadline;
    if (!sent && attempts == 1) {
        call.state = status::timeout; // counted by the socket already
        return call;
    }
    // A first attempt that found no server to take it is retried like one that got no reply.
    in_flight_.emplace(call.id, std::move(f));
    return call;
}

std::optional<client::awaited> client::state::receive_for(const pending_call& call, detail::deadline& until) {
    std::array<zmq::message_t, 2> frames;
    for (;;) {
        std::size_t count;
        try {
            count = socket_.receive(frames, until);
        } catch (const error& e) {
            if (e.kind() != errc::closed) throw;
            return closed(call, e);
        }
        if (count == 0) return std::nullopt;
        try {
            if (count != 2 || frames[0].size() != 0)
                throw error(errc::malformed, "reply of " + std::to_string(count) +
                                                 " frames (expected [empty delimiter][envelope])");
            auto layout = envelope::parse({frames[1].data<std::byte>(), frames[1].size()}, socket_.options().limits);
            if (layout.kind != kind::reply && layout.kind != kind::error)
                throw error(errc::malformed, "reply envelope of kind " + std::to_string(static_cast<int>(layout.kind)) +
                                                 " (expected 3, reply, or 4, error)");
            auto it = in_flight_.find(layout.correlation_id);
            if (it == in_flight_.end() || it->second.reply) {
                // Its call has ended, or this is a second answer (to a retry) of a call already answered.
                ++socket_.counters.late;
            } else {
                ++socket_.counters.received;
                message reply(zmq::message_t(), std::move(frames[1]), layout, socket_.options().limits);
                if (it->first == call.id) {
                    in_flight_.erase(it);
                    return awaited{std::move(reply), status::ok, {}};
                }
                it->second.reply = std::move(reply);
            }
        } catch (const error& e) {
            socket_.reject(e);
        }
        if (until.passed()) return std::nullopt;
    }
}

client::awaited client::state::await(const pending_call& call) {
    if (call.state != status::ok) {
        // A send that timed out was counted by the socket already.
        return {std::nullopt, call.state,
                "call '" + call.method + "' could not be sent (" + std::string(to_string(call.state)) + ")"};
    }
    auto mine = in_flight_.find(call.id);
    if (mine == in_flight_.end())
        throw error(errc::invalid_argument, "client::wait: call '" + call.method + "' is not in flight (waited twice?)");
    for (;;) {
        auto& f = mine->second;
        if (f.reply) {
            awaited done{std::move(f.reply), status::ok, {}};
            in_flight_.erase(mine);
            return done;
        }
        auto until = detail::deadline::at(f.deadline);
        if (auto got = receive_for(call, until)) return std::move(*got);
        mine = in_flight_.find(call.id); // receiving may have rehashed the map
        if (mine->second.made >= mine->second.attempts) return give_up(call, mine->second);
        // Still listening during the pause: the answer to an earlier attempt completes the call.
        auto pause = detail::deadline::after(pause_before(mine->second.made));
        if (auto got = receive_for(call, pause)) return std::move(*got);
        mine = in_flight_.find(call.id);
        auto& again = mine->second;
        zmq::message_t frame;
        frame.copy(again.request);
        ++socket_.counters.retries;
        try {
            (void)attempt(again, std::move(frame)); // not queued before its end: that attempt is spent
        } catch (const error& e) {
            if (e.kind() != errc::closed) throw;
            return closed(call, e);
        }
    }
}

client::awaited client::state::give_up(const pending_call& call, flight& f) {
    const auto spent =
        std::chrono::duration_cast<std::chrono::milliseconds>(detail::clock::now() - f.started).count();
    const int made = f.made;
    in_flight_.erase(call.id);
    if (made <= 1) {
        ++socket_.counters.timed_out;
        return {std::nullopt, status::timeout, "call '" + call.method + "': no reply before the deadline"};
    }
    ++socket_.counters.unavailable;
    return {std::nullopt, status::unavailable,
            "call '" + call.method + "' unavailable: no reply to " + std::to_string(made) + " attempts in " +
                std::to_string(spent) + " ms (endpoints: " + join(endpoints_) + ")"};
}

client::awaited client::state::closed(const pending_call& call, const error& e) {
    in_flight_.erase(call.id);
    return {std::nullopt, status::closed, "call '" + call.method + "': " + e.what()};
}

std::string client::error_text(const message& m) {
    try {
        return m.as<std::string>();
    } catch (const error&) {
        return "remote error (its text could not be read)";
    }
}

} // namespace courier
