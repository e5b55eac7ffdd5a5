#pragma once
// The request-reply server: named methods, a handler pool that adds no thread hop to quick
// handlers, a bounded reply cache that makes retries idempotent, and drain
// (docs/patterns/reqrep.md).

#include "courier/codec.hpp"
#include "courier/context.hpp"
#include "courier/detail/payload.hpp"
#include "courier/events.hpp"
#include "courier/message.hpp"
#include "courier/options.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>

namespace courier {

struct server_options {
    socket_options socket{};
    /// Handlers that may run at once under run(), the thread calling run() included; 0: one per
    /// core. 0 .. 1024.
    std::size_t workers = 0;
    /// A handler running longer than this hands the socket to a standby worker, which goes on
    /// receiving; quicker handlers run on the receiving thread with no hand-off. 100 us .. 1 min.
    std::chrono::microseconds handover_after{1000};
    /// Replies remembered per (client, request id), so a retried request is answered from here
    /// instead of running its handler again. 0 turns the cache off. 0 .. 10,000,000.
    std::size_t reply_cache_size = 10'000;
    /// How long a reply is remembered. 1 ms .. 24 h.
    std::chrono::milliseconds reply_cache_window{60'000};
    /// Bytes of replies remembered; a reply larger than this alone is not remembered. 1 KiB .. 16 GiB.
    std::size_t reply_cache_bytes = 64u << 20;

    /// Throws courier::error(invalid_option) naming the first field out of range.
    void validate() const;
};

namespace detail {
class server_core;
/// A method: writes the answer's payload into `out`, returns its type name; throws on failure.
using method_fn = std::function<std::string_view(const message&, buffer& out)>;
} // namespace detail

/// Serves named methods (libzmq ROUTER). A handler that throws answers the caller with an error
/// carrying the exception's message, and the server goes on. Requests are remembered by
/// (client routing id, request id): a retry of a request being handled is dropped (its reply is
/// on the way), a retry of one answered is answered again from the reply cache.
/// Move-only owner of one socket and, while run() is active, of its worker threads. A moved-from
/// server is closed: its calls throw courier::error(closed); close(), drain() and the destructor
/// do nothing, counters() are zero.
/// @par Thread safety: register methods, bind and connect before serving, from one thread. Then
/// one thread calls run() or serve_one() (not both at once); drain(), counters() and events()
/// may be called from any thread meanwhile.
class server {
public:
    explicit server(context& ctx, server_options options = {});
    server(server&&) noexcept;
    server& operator=(server&&) noexcept;
    ~server();

    std::string bind(std::string_view endpoint);
    void connect(std::string_view endpoint);
    /// Idempotent. Not while run() is active: use drain() then.
    void close() noexcept;

    /// Serves `method` with `fn`, called as fn(const Request&) or fn(const Request&, const message&)
    /// (for the request's headers and ids); it returns the Answer. Under run() handlers run on
    /// several threads at once: `fn` must be safe to call concurrently.
    template <class Request, class Answer, class F>
    void serve(std::string_view method, F fn) {
        add_method(method, [fn = std::move(fn)](const message& m, detail::buffer& out) -> std::string_view {
            const auto request = m.template as<Request>();
            Answer answer = [&] {
                if constexpr (std::is_invocable_v<const F&, const Request&, const message&>) return fn(request, m);
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

    /// Handles at most one request on the calling thread, waiting for it at most `timeout`; no
    /// worker pool. Returns false on timeout.
    bool serve_one(std::chrono::milliseconds timeout);
    /// Serves on the calling thread and `workers - 1` more until `stop` is requested (noticed
    /// within `stop_check`), drain() is called, or the context is shut down. It stops taking
    /// requests at once, then returns when the handlers under way have returned and their
    /// replies were handed to libzmq.
    void run(std::stop_token stop, std::chrono::milliseconds stop_check = std::chrono::milliseconds(50));
    /// Stops taking new requests (within run's stop_check), lets the handlers under way finish and
    /// send their replies, then closes the socket (its linger gives the replies time to leave).
    /// Requests still queued unread are not answered: their clients retry, elsewhere if they can.
    /// Returns true if that was done within `timeout`; otherwise run() still finishes the same way
    /// later. Without run() active it is close(). Any thread.
    [[nodiscard]] bool drain(std::chrono::milliseconds timeout);

    /// sent (replies), received (requests), rejected, failed (handler threw, unknown method, reply
    /// over max_message_size), unroutable (caller gone or full), replayed, duplicates, evicted
    /// (reply cache) and handovers (worker pool). A snapshot; any thread.
    courier::counters counters() const;
    /// Peer events, when socket.events.queue_capacity > 0; else nullptr.
    event_queue* events() noexcept;
    /// Throws courier::error(closed) on a moved-from server.
    zmq::socket_t& native();

private:
    void add_method(std::string_view name, detail::method_fn fn);

    std::unique_ptr<detail::server_core> core_;
};

} // namespace courier
