#include "courier/reqrep.hpp"

#include <array>

namespace courier {

void client_options::validate() const {
    socket.validate();
    if (timeout < std::chrono::milliseconds(1) || timeout > std::chrono::hours(1))
        throw error(errc::invalid_option,
                    "client_options.timeout must be 1 ms .. 1 h, not " + std::to_string(timeout.count()) + " ms");
    if (max_in_flight < 1 || max_in_flight > 1'000'000)
        throw error(errc::invalid_option,
                    "client_options.max_in_flight must be 1 .. 1000000, not " + std::to_string(max_in_flight));
}

namespace {

client_options validated(client_options o) {
    o.validate();
    return o;
}

} // namespace

client::client(context& ctx, client_options options)
    : socket_(ctx, zmq::socket_type::dealer, options.socket), options_(validated(std::move(options))) {}

void client::sweep_expired() {
    const auto now = detail::clock::now();
    std::erase_if(in_flight_, [&](const auto& entry) { return entry.second.deadline <= now; });
}

pending_call client::send_payload(std::string_view method, std::string_view type, std::span<const std::byte> payload,
                                  header_list headers, std::chrono::milliseconds timeout) {
    pending_call call{.id = next_message_id(), .deadline = detail::deadline_after(timeout), .method = std::string(method)};
    if (in_flight_.size() >= options_.max_in_flight) sweep_expired();
    if (in_flight_.size() >= options_.max_in_flight) {
        call.state = status::full;
        return call;
    }
    std::array<zmq::message_t, 2> frames{zmq::message_t(), detail::envelope_frame({.kind = kind::request,
                                                                                   .id = call.id,
                                                                                   .timestamp_ns = now_ns(),
                                                                                   .type_name = type,
                                                                                   .subject = method,
                                                                                   .headers = headers,
                                                                                   .payload = payload})};
    try {
        auto until = detail::deadline::at(call.deadline);
        if (!socket_.send(frames, until)) {
            call.state = status::timeout;
            return call;
        }
    } catch (const error& e) {
        if (e.kind() != errc::closed) throw;
        call.state = status::closed;
        return call;
    }
    in_flight_.emplace(call.id, flight{call.deadline, std::nullopt});
    return call;
}

client::awaited client::await(const pending_call& call) {
    if (call.state != status::ok) {
        // A send that timed out was counted by the socket already.
        return {std::nullopt, call.state,
                "call '" + call.method + "' could not be sent (" + std::string(to_string(call.state)) + ")"};
    }
    auto mine = in_flight_.find(call.id);
    if (mine == in_flight_.end())
        throw error(errc::invalid_argument, "client::wait: call '" + call.method + "' is not in flight (waited twice?)");
    if (mine->second.reply) {
        awaited done{std::move(mine->second.reply), status::ok, {}};
        in_flight_.erase(mine);
        return done;
    }
    std::array<zmq::message_t, 2> frames;
    auto until = detail::deadline::at(call.deadline);
    for (;;) {
        std::size_t count;
        try {
            count = socket_.receive(frames, until);
        } catch (const error& e) {
            if (e.kind() != errc::closed) throw;
            in_flight_.erase(call.id);
            return {std::nullopt, status::closed, "call '" + call.method + "': " + e.what()};
        }
        if (count == 0) return expired(call);
        try {
            if (count != 2 || frames[0].size() != 0)
                throw error(errc::malformed, "reply of " + std::to_string(count) +
                                                 " frames (expected [empty delimiter][envelope])");
            auto layout = envelope::parse({frames[1].data<std::byte>(), frames[1].size()}, socket_.options().limits);
            if (layout.kind != kind::reply && layout.kind != kind::error)
                throw error(errc::malformed, "reply envelope of kind " + std::to_string(static_cast<int>(layout.kind)) +
                                                 " (expected 3, reply, or 4, error)");
            auto it = in_flight_.find(layout.correlation_id);
            if (it == in_flight_.end()) {
                ++socket_.counters.late;
                if (until.passed()) return expired(call);
                continue;
            }
            ++socket_.counters.received;
            message reply(zmq::message_t(), std::move(frames[1]), layout, socket_.options().limits);
            if (it->first == call.id) {
                in_flight_.erase(it);
                return {std::move(reply), status::ok, {}};
            }
            it->second.reply = std::move(reply);
        } catch (const error& e) {
            socket_.reject(e);
        }
        if (until.passed()) return expired(call);
    }
}

client::awaited client::expired(const pending_call& call) {
    in_flight_.erase(call.id);
    ++socket_.counters.timed_out;
    return {std::nullopt, status::timeout, "call '" + call.method + "': no reply before the deadline"};
}

std::string client::error_text(const message& m) {
    try {
        return m.as<std::string>();
    } catch (const error&) {
        return "remote error (its text could not be read)";
    }
}

server::server(context& ctx, server_options options)
    : socket_(ctx, zmq::socket_type::router, std::move(options.socket)) {
    // Replies to a caller that is gone or full fail at once and are counted, never block.
    socket_.native().set(zmq::sockopt::router_mandatory, true);
}

void server::add_method(std::string_view name, method_fn fn) {
    if (name.empty()) throw error(errc::invalid_argument, "server::serve: the method name is empty");
    if (name.size() > socket_.options().limits.max_name)
        throw error(errc::invalid_argument, "server::serve: method name longer than limits.max_name");
    if (!methods_.emplace(std::string(name), std::move(fn)).second)
        throw error(errc::invalid_argument, "server::serve: method '" + std::string(name) + "' is already served");
}

bool server::serve_one(std::chrono::milliseconds timeout) {
    auto until = detail::deadline::after(timeout);
    std::array<zmq::message_t, 3> frames;
    for (;;) {
        auto count = socket_.receive(frames, until);
        if (count == 0) return false;
        std::optional<message> request;
        bool delimiter = false;
        try {
            if (count == 3 && frames[1].size() == 0) delimiter = true;
            else if (count != 2)
                throw error(errc::malformed, "request of " + std::to_string(count) +
                                                 " frames (expected [empty delimiter][envelope])");
            auto& body = frames[count - 1];
            auto layout = envelope::parse({body.data<std::byte>(), body.size()}, socket_.options().limits);
            if (layout.kind != kind::request)
                throw error(errc::malformed, "request envelope of kind " + std::to_string(static_cast<int>(layout.kind)) +
                                                 " (expected 2, request)");
            request.emplace(zmq::message_t(), std::move(body), layout, socket_.options().limits);
        } catch (const error& e) {
            socket_.reject(e);
            if (until.passed()) return false;
            continue;
        }
        ++socket_.counters.received;
        auto method = methods_.find(request->subject());
        std::string failure;
        if (method == methods_.end()) {
            failure = "no method '" + std::string(request->subject()) + "' on this server";
        } else {
            try {
                auto type = method->second(*request, answer_);
                reply(frames[0], delimiter, *request, kind::reply, type, answer_.view());
                return true;
            } catch (const std::exception& e) {
                failure = e.what();
            } catch (...) {
                failure = "the handler threw a non-standard exception";
            }
        }
        ++socket_.counters.failed;
        auto& out = detail::scratch();
        msgpack::pack(out, failure);
        reply(frames[0], delimiter, *request, kind::error, type_name<std::string>::value, out.view());
        return true;
    }
}

void server::reply(zmq::message_t& routing_id, bool delimiter, const message& request, kind k, std::string_view type,
                   std::span<const std::byte> payload) {
    auto body = detail::envelope_frame({.kind = k,
                                        .id = next_message_id(),
                                        .correlation_id = request.id(),
                                        .timestamp_ns = now_ns(),
                                        .type_name = type,
                                        .subject = request.subject(),
                                        .payload = payload});
    if (body.size() > socket_.options().max_message_size) {
        ++socket_.counters.failed;
        return; // the caller times out; a reply over the limit would only be dropped by its peer
    }
    auto& sock = socket_.native();
    try {
        if (!sock.send(routing_id, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
            ++socket_.counters.unroutable;
            return;
        }
        if (delimiter) sock.send(zmq::message_t(), zmq::send_flags::sndmore);
        detail::released(body);
        sock.send(body, zmq::send_flags::none);
        ++socket_.counters.sent;
    } catch (const zmq::error_t& e) {
        if (e.num() == EHOSTUNREACH) {
            ++socket_.counters.unroutable;
            return;
        }
        if (e.num() == ETERM) throw error(errc::closed, "server reply: the context was shut down");
        throw error(errc::zmq, std::string("server reply: ") + e.what());
    }
}

void server::run(std::stop_token stop, std::chrono::milliseconds stop_check) {
    try {
        while (!stop.stop_requested()) serve_one(stop_check);
    } catch (const error& e) {
        if (e.kind() != errc::closed) throw;
    }
}

} // namespace courier
