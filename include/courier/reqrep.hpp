#pragma once
// Request-reply over DEALER/ROUTER: a client keeps many calls in flight, matched to replies by
// correlation id; a server serves named methods. Frames are [empty][envelope] from the client and
// [routing id][empty][envelope] at the server, so a plain zmq REQ socket can call a server too.

#include "courier/codec.hpp"
#include "courier/context.hpp"
#include "courier/detail/socket.hpp"
#include "courier/message.hpp"
#include "courier/options.hpp"
#include "courier/status.hpp"

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
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

struct client_options {
    socket_options socket{};
    /// Time a call may take, send to reply, unless the call gives its own. 1 ms .. 1 h.
    std::chrono::milliseconds timeout{5000};
    /// Calls in flight at once; a send beyond it ends with status::full. 1 .. 1,000,000.
    std::size_t max_in_flight = 1024;

    void validate() const;
};

/// A call that was sent and not yet waited for. Pass it to client::wait.
struct pending_call {
    std::uint64_t id = 0;
    detail::clock::time_point deadline{};
    status state = status::ok; ///< not ok when the send itself failed
    std::string method{};
};

/// Calls methods on servers. Calls are matched to replies by id, so many may be in flight; a
/// reply that comes after its call ended is counted (counters().late) and dropped, and the
/// client goes on normally. Move-only owner of one socket. @par Thread safety: one thread at a time.
class client {
public:
    explicit client(context& ctx, client_options options = {});

    std::string bind(std::string_view endpoint) { return socket_.bind(endpoint); }
    void connect(std::string_view endpoint) { socket_.connect(endpoint); }
    void close() noexcept { socket_.close(); }

    /// Calls `method` with `request` and waits for the answer, at most the client's timeout.
    template <class Answer, class Request>
    call_result<Answer> call(std::string_view method, const Request& request, header_list headers = {}) {
        return wait<Answer>(send(method, request, options_.timeout, headers));
    }
    template <class Answer, class Request>
    call_result<Answer> call(std::string_view method, const Request& request, std::chrono::milliseconds timeout,
                             header_list headers = {}) {
        return wait<Answer>(send(method, request, timeout, headers));
    }

    /// Sends a call without waiting; the timeout runs from now.
    template <class Request>
    pending_call send(std::string_view method, const Request& request, std::chrono::milliseconds timeout,
                      header_list headers = {}) {
        return send_payload(method, type_name<Request>::value, encode_payload(request, detail::scratch()), headers,
                            timeout);
    }
    template <class Request>
    pending_call send(std::string_view method, const Request& request) {
        return send(method, request, options_.timeout);
    }
    pending_call send_payload(std::string_view method, std::string_view type, std::span<const std::byte> payload,
                              header_list headers, std::chrono::milliseconds timeout);

    /// Waits for the reply to `call` until its deadline. A reply that does not read as an Answer
    /// throws courier::error(type_mismatch); an error reply is status::remote_error.
    template <class Answer>
    call_result<Answer> wait(const pending_call& call) {
        auto got = await(call);
        if (!got.reply) return {got.state, std::move(got.detail)};
        if (got.reply->kind() == kind::error) return {status::remote_error, error_text(*got.reply)};
        return call_result<Answer>(got.reply->template as<Answer>());
    }

    /// Calls sent whose reply has not been waited for yet.
    std::size_t in_flight() const noexcept { return in_flight_.size(); }
    courier::counters counters() const { return socket_.counters; }
    zmq::socket_t& native() noexcept { return socket_.native(); }

private:
    struct awaited {
        std::optional<courier::message> reply;
        status state = status::ok;
        std::string detail;
    };
    awaited await(const pending_call& call);
    awaited expired(const pending_call& call);
    static std::string error_text(const message& m);
    void sweep_expired();

    detail::socket socket_;
    client_options options_;
    struct flight {
        detail::clock::time_point deadline;
        std::optional<message> reply; // set when it came while another call was being waited for
    };
    std::unordered_map<std::uint64_t, flight> in_flight_;
};

struct server_options {
    socket_options socket{};
};

/// Serves named methods. Each request runs its method's handler on the thread that calls
/// serve_one() or run(); a handler that throws answers the caller with an error carrying the
/// exception's message, and the server goes on. Move-only owner of one socket.
/// @par Thread safety: one thread at a time.
class server {
public:
    explicit server(context& ctx, server_options options = {});

    std::string bind(std::string_view endpoint) { return socket_.bind(endpoint); }
    void connect(std::string_view endpoint) { socket_.connect(endpoint); }
    void close() noexcept { socket_.close(); }

    /// Serves `method` with `fn`, called as fn(const Request&) or fn(const Request&, const message&)
    /// (for the request's headers and ids); it returns the Answer.
    template <class Request, class Answer, class F>
    void serve(std::string_view method, F fn) {
        add_method(method, [fn = std::move(fn)](const message& m, detail::buffer& out) mutable -> std::string_view {
            const auto request = m.template as<Request>();
            Answer answer = [&] {
                if constexpr (std::is_invocable_v<F&, const Request&, const message&>) return fn(request, m);
                else return fn(request);
            }();
            out.clear();
            if constexpr (detail::raw_bytes<Answer>)
                out.write(reinterpret_cast<const char*>(answer.data()), answer.size());
            else
                msgpack::pack(out, answer);
            return type_name<Answer>::value;
        });
    }

    /// Handles at most one request, waiting for it at most `timeout`. Returns false on timeout.
    bool serve_one(std::chrono::milliseconds timeout);
    /// Serves until `stop` is requested (noticed within `stop_check`) or the context is shut down.
    void run(std::stop_token stop, std::chrono::milliseconds stop_check = std::chrono::milliseconds(50));

    courier::counters counters() const { return socket_.counters; }
    zmq::socket_t& native() noexcept { return socket_.native(); }

private:
    /// Writes the answer's payload into `out`, returns its type name; throws on failure.
    using method_fn = std::function<std::string_view(const message&, detail::buffer& out)>;
    void add_method(std::string_view name, method_fn fn);
    void reply(zmq::message_t& routing_id, bool delimiter, const message& request, kind k, std::string_view type,
               std::span<const std::byte> payload);

    detail::socket socket_;
    std::map<std::string, method_fn, std::less<>> methods_;
    detail::buffer answer_;
};

} // namespace courier
