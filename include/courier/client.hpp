#pragma once
// The request-reply client: calls named methods on servers, with retries, backoff and failover
// across several server endpoints (docs/patterns/reqrep.md).

#include "courier/codec.hpp"
#include "courier/context.hpp"
#include "courier/detail/socket.hpp"
#include "courier/events.hpp"
#include "courier/message.hpp"
#include "courier/options.hpp"
#include "courier/status.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace courier {

/// The outcome of a call: a value, or the status that ended it and a text saying why.
template <class T>
class call_result {
public:
    call_result(T value) : state_(status::ok), value_(std::move(value)) {}
    call_result(status state, std::string detail) : state_(state), detail_(std::move(detail)) {}

    status state() const noexcept { return state_; }
    bool ok() const noexcept { return state_ == status::ok; }
    explicit operator bool() const noexcept { return ok(); }
    /// The remote handler's error text (remote_error), or what ended the call.
    const std::string& detail() const noexcept { return detail_; }

    /// The value; throws courier::error whose kind matches state() when there is none.
    T& value() & { return check(), *value_; }
    const T& value() const& { return check(), *value_; }
    T value() && { return check(), std::move(*value_); }

private:
    void check() const {
        if (value_) return;
        auto code = state_ == status::timeout     ? errc::timeout
                    : state_ == status::closed      ? errc::closed
                    : state_ == status::unavailable ? errc::unavailable
                    : state_ == status::full        ? errc::full
                                                    : errc::remote_error;
        throw error(code, detail_);
    }
    status state_;
    std::optional<T> value_;
    std::string detail_;
};

/// The pause before each retry: `initial` before the first, times `multiplier` for each next one,
/// never more than `max`.
struct backoff_options {
    std::chrono::milliseconds initial{100}; ///< 0 .. 1 min
    double multiplier = 2.0;                ///< 1 .. 10
    std::chrono::milliseconds max{1000};    ///< initial .. 1 min
};

struct client_options {
    socket_options socket{};
    /// Time one attempt of a call may take, send to reply, unless the call gives its own. 1 ms .. 1 h.
    std::chrono::milliseconds timeout{1500};
    /// Attempts per call, the first included; every attempt carries the same request id, so an
    /// idempotent server runs the handler once. 1 turns retries off. 1 .. 100. With the defaults
    /// a call to servers that never answer ends `unavailable` after 3 x 1.5 s + 0.1 s + 0.2 s = 4.8 s.
    int attempts = 3;
    backoff_options backoff{};
    /// Calls in flight at once; a send beyond it ends with status::full. 1 .. 1,000,000.
    std::size_t max_in_flight = 1024;

    /// Throws courier::error(invalid_option) naming the first field out of range.
    void validate() const;
};

/// Per-call settings; zero means "the client's".
struct call_options {
    /// Time one attempt may take; 0: client_options::timeout.
    std::chrono::milliseconds timeout{0};
    /// Attempts; 0: client_options::attempts.
    int attempts = 0;
    /// false for a call that must never be sent twice (not idempotent, and no idempotent server):
    /// one attempt, whatever `attempts` says.
    bool retry = true;
    header_list headers{};
};

/// A call that was sent and not yet waited for. Pass it to client::wait.
struct pending_call {
    std::uint64_t id = 0;
    detail::clock::time_point deadline{}; ///< end of the first attempt
    status state = status::ok;            ///< not ok when the call could not even be started
    std::string method{};
};

/// Calls methods on servers (libzmq DEALER). Calls are matched to replies by id, so many may be in
/// flight. An attempt that gets no reply in time is sent again, same id, after a backoff, to
/// whichever connected server libzmq picks next (connect() to several for failover; requests go
/// only to servers whose connection is up). A reply to an attempt that was given up on still
/// completes the call while it is in flight; one that comes after the call ended is counted
/// (counters().late) and dropped. Move-only owner of one socket.
/// @par Thread safety: one thread at a time (events() may be read from any thread).
class client {
public:
    explicit client(context& ctx, client_options options = {});

    std::string bind(std::string_view endpoint);
    void connect(std::string_view endpoint);
    void disconnect(std::string_view endpoint);
    /// Idempotent. Calls in flight are dropped; waiting for one ends status::closed.
    void close() noexcept { socket_.close(); }

    /// Calls `method` with `request` and waits for the answer: at most `attempts` attempts of the
    /// client's timeout each, with the backoff between them.
    template <class Answer, class Request>
    call_result<Answer> call(std::string_view method, const Request& request, header_list headers = {}) {
        return wait<Answer>(send(method, request, call_options{.headers = headers}));
    }
    /// The same with `timeout` per attempt.
    template <class Answer, class Request>
    call_result<Answer> call(std::string_view method, const Request& request, std::chrono::milliseconds timeout,
                             header_list headers = {}) {
        return wait<Answer>(send(method, request, call_options{.timeout = timeout, .headers = headers}));
    }
    template <class Answer, class Request>
    call_result<Answer> call(std::string_view method, const Request& request, const call_options& options) {
        return wait<Answer>(send(method, request, options));
    }

    /// Sends a call without waiting for the reply (only for room to queue it, at most until the
    /// first attempt's end); that attempt's timeout runs from now. Retries happen while the call is
    /// waited for.
    template <class Request>
    pending_call send(std::string_view method, const Request& request, const call_options& options) {
        return send_payload(method, type_name<Request>::value, encode_payload(request, detail::scratch()), options);
    }
    template <class Request>
    pending_call send(std::string_view method, const Request& request, std::chrono::milliseconds timeout,
                      header_list headers = {}) {
        return send(method, request, call_options{.timeout = timeout, .headers = headers});
    }
    template <class Request>
    pending_call send(std::string_view method, const Request& request) {
        return send(method, request, call_options{});
    }
    pending_call send_payload(std::string_view method, std::string_view type, std::span<const std::byte> payload,
                              const call_options& options);
    pending_call send_payload(std::string_view method, std::string_view type, std::span<const std::byte> payload,
                              header_list headers, std::chrono::milliseconds timeout) {
        return send_payload(method, type, payload, call_options{.timeout = timeout, .headers = headers});
    }

    /// Waits for the reply to `call`, retrying as its options say. A reply that does not read as
    /// an Answer throws courier::error(type_mismatch); an error reply is status::remote_error.
    template <class Answer>
    call_result<Answer> wait(const pending_call& call) {
        auto got = await(call);
        if (!got.reply) return {got.state, std::move(got.detail)};
        if (got.reply->kind() == kind::error) return {status::remote_error, error_text(*got.reply)};
        return call_result<Answer>(got.reply->template as<Answer>());
    }

    /// Calls sent whose reply has not been waited for yet.
    std::size_t in_flight() const noexcept { return in_flight_.size(); }
    /// sent (attempts), received (replies that completed a call), late, timed_out, rejected,
    /// retries (attempts after the first), unavailable (calls no attempt of which was answered).
    courier::counters counters() const { return socket_.counters.snapshot(); }
    /// Peer events, when socket.events.queue_capacity > 0; else nullptr.
    event_queue* events() noexcept { return socket_.events(); }
    /// The routing id this client presents to servers: random, fixed for its lifetime, so a
    /// server recognises a retry even over a new connection.
    const std::string& identity() const noexcept { return identity_; }
    zmq::socket_t& native() noexcept { return socket_.native(); }

private:
    struct awaited {
        std::optional<courier::message> reply;
        status state = status::ok;
        std::string detail;
    };
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
    awaited await(const pending_call& call);
    /// Receives until `until`; the reply to `call` if it came, or the end of the call.
    std::optional<awaited> receive_for(const pending_call& call, detail::deadline& until);
    /// One attempt: sends the kept request; false if it could not be queued before the attempt's end.
    bool attempt(flight& f, zmq::message_t frame);
    awaited give_up(const pending_call& call, flight& f);
    awaited closed(const pending_call& call, const error& e);
    std::chrono::milliseconds pause_before(int retry) const noexcept;
    static std::string error_text(const message& m);
    void sweep_expired();

    detail::socket socket_;
    client_options options_;
    std::string identity_;
    std::vector<std::string> endpoints_; // bound or connected, named when a call gives up
    std::unordered_map<std::uint64_t, flight> in_flight_;
};

} // namespace courier
