#pragma once
// The request-reply client: calls named methods on servers, with retries, backoff and failover
// across several server endpoints (docs/patterns/reqrep.md).

#include "courier/codec.hpp"
#include "courier/context.hpp"
#include "courier/detail/deadline.hpp"
#include "courier/events.hpp"
#include "courier/message.hpp"
#include "courier/options.hpp"
#include "courier/status.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <memory>
#include <utility>

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
/// (counters().late) and dropped. Move-only owner of one socket. A moved-from client is closed:
/// a call ends status::closed, other calls throw courier::error(closed); close() and the
/// destructor do nothing, counters() are zero.
/// @par Thread safety: one thread at a time (events() may be read from any thread).
class client {
public:
    explicit client(context& ctx, client_options options = {});
    client(client&&) noexcept;
    client& operator=(client&&) noexcept;
    ~client();

    std::string bind(std::string_view endpoint);
    void connect(std::string_view endpoint);
    void disconnect(std::string_view endpoint);
    /// Idempotent. Calls in flight are dropped; waiting for one ends status::closed.
    void close() noexcept;

    /// Calls `method` with `request` and waits for the answer: at most `attempts` attempts of the
    /// client's timeout each, with the backoff between them.
    template <class Answer, class Request>
    [[nodiscard]] call_result<Answer> call(std::string_view method, const Request& request, header_list headers = {}) {
        return wait<Answer>(send(method, request, call_options{.headers = headers}));
    }
    /// The same with `timeout` per attempt.
    template <class Answer, class Request>
    [[nodiscard]] call_result<Answer> call(std::string_view method, const Request& request,
                                           std::chrono::milliseconds timeout, header_list headers = {}) {
        return wait<Answer>(send(method, request, call_options{.timeout = timeout, .headers = headers}));
    }
    template <class Answer, class Request>
    [[nodiscard]] call_result<Answer> call(std::string_view method, const Request& request,
                                           const call_options& options) {
        return wait<Answer>(send(method, request, options));
    }

    /// Sends a call without waiting for the reply (only for room to queue it, at most until the
    /// first attempt's end); that attempt's timeout runs from now. Retries happen while the call is
    /// waited for. A call that could not be started says so in pending_call::state (full, timeout,
    /// closed), which wait() reports.
    template <class Request>
    [[nodiscard]] pending_call send(std::string_view method, const Request& request, const call_options& options) {
        return send_payload(method, type_name<Request>::value, encode_payload(request, detail::scratch()), options);
    }
    template <class Request>
    [[nodiscard]] pending_call send(std::string_view method, const Request& request, std::chrono::milliseconds timeout,
                                    header_list headers = {}) {
        return send(method, request, call_options{.timeout = timeout, .headers = headers});
    }
    template <class Request>
    [[nodiscard]] pending_call send(std::string_view method, const Request& request) {
        return send(method, request, call_options{});
    }

    /// Waits for the reply to `call`, retrying as its options say. A reply that does not read as
    /// an Answer throws courier::error(type_mismatch); an error reply is status::remote_error.
    template <class Answer>
    [[nodiscard]] call_result<Answer> wait(const pending_call& call) {
        auto got = await(call);
        if (!got.reply) return {got.state, std::move(got.detail)};
        if (got.reply->kind() == kind::error) return {status::remote_error, error_text(*got.reply)};
        return call_result<Answer>(got.reply->template as<Answer>());
    }

    /// Calls sent whose reply has not been waited for yet; 0 once moved from.
    std::size_t in_flight() const noexcept;
    /// sent (attempts), received (replies that completed a call), late, timed_out, rejected,
    /// retries (attempts after the first), unavailable (calls no attempt of which was answered).
    /// Zero once moved from.
    courier::counters counters() const;
    /// Peer events, when socket.events.queue_capacity > 0; else (and once moved from) nullptr.
    event_queue* events() noexcept;
    /// The routing id this client presents to servers: random, fixed for its lifetime, so a
    /// server recognises a retry even over a new connection. Throws courier::error(closed) once
    /// moved from.
    const std::string& identity() const;
    zmq::socket_t& native();

private:
    struct awaited {
        std::optional<courier::message> reply;
        status state = status::ok;
        std::string detail;
    };
    /// Sends an already encoded request under `type`.
    pending_call send_payload(std::string_view method, std::string_view type, std::span<const std::byte> payload,
                              const call_options& options);
    awaited await(const pending_call& call);
    static std::string error_text(const message& m);

    struct state;
    /// The state behind one pointer: null once moved from (every call then throws closed).
    state& self() const;
    std::unique_ptr<state> state_;
};

} // namespace courier
