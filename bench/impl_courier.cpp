// courier through its public API, as a user writes it: every envelope is encoded inside
// push()/publish()/call() and decoded inside receive(), as<T>() and receive<T>().

#include "cases.hpp"

#include <courier/courier.hpp>

#include <memory>

namespace bench {
namespace {

using std::chrono::milliseconds;

/// Same I/O thread count as the raw libzmq baselines (zmq::context_t's default is 1; courier's
/// own default is one per core).
courier::context_options context_options() { return {.io_threads = 1}; }

/// What a case carries: raw bytes in an envelope (bytes_view payloads), a typed struct in an
/// envelope, or raw frames with no envelope at all (push_raw / publish_raw, receive_raw).
enum class payload { bytes, typed, raw };

template <payload P>
struct push_pull {
    static constexpr bool pubsub = false;
    push_pull(const params& p, std::optional<courier::batching> batching)
        : pull(ctx, courier::puller_options{}), buffer(p.size) {
        const auto ep = pull.bind(bind_address(p.tr, "zmq"));
        for (int i = 0; i < p.connections; ++i) {
            auto& s = push.emplace_back(std::make_unique<courier::pusher>(ctx, courier::pusher_options{.batching = batching}));
            s->connect(ep);
        }
    }
    explicit push_pull(const params& p) : push_pull(p, std::nullopt) {}

    void send(std::uint64_t seq, std::size_t socket) {
        courier::status st;
        if constexpr (P == payload::typed) {
            st = push[socket]->push(make_tick(seq));
        } else if constexpr (P == payload::raw) {
            put_seq(buffer.data(), seq);
            st = push[socket]->push_raw(courier::bytes_view(buffer));
        } else {
            put_seq(buffer.data(), seq);
            st = push[socket]->push(courier::bytes_view(buffer));
        }
        if (st != courier::status::ok) throw failure("courier push: " + std::string(courier::to_string(st)));
    }
    void send_control(rx) {}
    void finish() {
        for (auto& s : push)
            if (s->flush() != courier::status::ok) throw failure("courier push: queued messages were dropped");
    }
    rx receive(std::size_t, int timeout_ms, std::uint64_t& seq) {
        if constexpr (P == payload::typed) {
            auto t = pull.receive<tick>(milliseconds(timeout_ms));
            if (!t) return rx::none;
            seq = t->seq;
        } else if constexpr (P == payload::raw) {
            auto m = pull.receive_raw(milliseconds(timeout_ms));
            if (!m) return rx::none;
            auto body = m->bytes();
            if (body.size() != buffer.size()) throw failure("courier puller: raw frame of the wrong size");
            seq = get_seq(body.data(), body.size());
        } else {
            auto m = pull.receive(milliseconds(timeout_ms));
            if (!m) return rx::none;
            auto body = m->payload();
            if (body.size() != buffer.size()) throw failure("courier puller: payload of the wrong size");
            seq = get_seq(body.data(), body.size());
        }
        return rx::data;
    }
    void* poll_handle(std::size_t) { return pull.native().handle(); }
    std::uint64_t dropped() {
        std::uint64_t n = pull.counters().rejected;
        for (auto& s : push) n += s->counters().dropped + s->counters().timed_out;
        return n;
    }

    courier::context ctx{context_options()};
    courier::puller pull;
    std::vector<std::unique_ptr<courier::pusher>> push;
    std::vector<std::byte> buffer;
};

template <payload P>
struct pub_sub {
    static constexpr bool pubsub = true;
    static courier::socket_options socket_options() {
        return {.send_hwm = pubsub_hwm, .receive_hwm = pubsub_hwm};
    }
    pub_sub(const params& p, std::optional<courier::batching> batching)
        : pub(ctx, courier::publisher_options{.socket = socket_options(), .batching = batching}), buffer(p.size) {
        const auto ep = pub.bind(bind_address(p.tr, "zmq"));
        for (int i = 0; i < p.subscribers; ++i) {
            auto& s = subs.emplace_back(
                std::make_unique<courier::subscriber>(ctx, courier::subscriber_options{.socket = socket_options()}));
            s->subscribe("");
            s->connect(ep);
        }
    }
    explicit pub_sub(const params& p) : pub_sub(p, std::nullopt) {}

    // Lossy publishing: a message that finds no room is counted (refused, dropped), and dropped()
    // reads those counters, so the status each call returns is left unread on purpose.
    void publish(std::string_view topic, std::uint64_t seq) {
        if constexpr (P == payload::typed) {
            (void)pub.publish(topic, make_tick(seq));
        } else if constexpr (P == payload::raw) {
            put_seq(buffer.data(), seq);
            (void)pub.publish_raw(topic, courier::bytes_view(buffer));
        } else {
            put_seq(buffer.data(), seq);
            (void)pub.publish(topic, courier::bytes_view(buffer));
        }
    }
    void send(std::uint64_t seq, std::size_t) { publish(data_topic, seq); }
    void send_control(rx kind) {
        publish(kind == rx::probe ? probe_topic : end_topic, 0);
        (void)pub.flush(); // lossy: the XPUB takes everything at once
    }
    void finish() { (void)pub.flush(); }
    rx receive(std::size_t i, int timeout_ms, std::uint64_t& seq) {
        if constexpr (P == payload::raw) {
            auto m = subs[i]->receive_raw(milliseconds(timeout_ms));
            if (!m) return rx::none;
            auto kind = classify(m->topic());
            if (kind != rx::data) return kind;
            auto body = m->bytes();
            if (body.size() != buffer.size()) throw failure("courier subscriber: raw frame of the wrong size");
            seq = get_seq(body.data(), body.size());
            return kind;
        }
        auto m = subs[i]->receive(milliseconds(timeout_ms));
        if (!m) return rx::none;
        auto kind = classify(m->topic());
        if (kind != rx::data) return kind;
        if constexpr (P == payload::typed) {
            seq = m->as<tick>().seq;
        } else {
            auto body = m->payload();
            if (body.size() != buffer.size()) throw failure("courier subscriber: payload of the wrong size");
            seq = get_seq(body.data(), body.size());
        }
        return kind;
    }
    void* poll_handle(std::size_t i) { return subs[i]->native().handle(); }
    std::uint64_t dropped() {
        // A lossy batching publish that found its queue full is counted refused (nothing queued);
        // one accepted and never handed to libzmq is dropped: both are losses here.
        const auto c = pub.counters();
        std::uint64_t n = c.dropped + c.refused;
        for (auto& s : subs) n += s->counters().rejected;
        return n;
    }

    courier::context ctx{context_options()};
    courier::publisher pub;
    std::vector<std::unique_ptr<courier::subscriber>> subs;
    std::vector<std::byte> buffer;
};

/// Batching with the library's defaults.
template <class Base>
struct batched : Base {
    explicit batched(const params& p) : Base(p, courier::batching{}) {}
};

struct req_rep {
    explicit req_rep(const params& p) : client(ctx), server(ctx), payload(p.size) {
        server.serve<courier::bytes, courier::bytes>("echo", [](const courier::bytes& b) { return b; });
        client.connect(server.bind(bind_address(p.tr, "zmq")));
    }
    void call() {
        put_seq(payload.data(), ++seq);
        auto reply = client.call<courier::bytes>("echo", courier::bytes_view(payload));
        if (!reply) throw failure("courier call: " + std::string(courier::to_string(reply.state())) + ": " + reply.detail());
        const auto& v = reply.value();
        if (v.size() != payload.size() || get_seq(v.data(), v.size()) != seq) throw failure("courier call: wrong reply");
    }
    bool serve_one(int timeout_ms) { return server.serve_one(milliseconds(timeout_ms)); }

    courier::context ctx{context_options()};
    courier::client client;
    courier::server server;
    std::vector<std::byte> payload;
    std::uint64_t seq = 0;
};

// One typed message at a time, there and back over two pusher/puller pairs: the low-load latency
// that batching must not add to (a quiet call sends directly from the caller's thread).
template <bool Batched>
struct ping_pong {
    explicit ping_pong(const params& p) {
        there_out.connect(there_in.bind(bind_address(p.tr, "zmq")));
        back_out.connect(back_in.bind(bind_address(p.tr, "zmq")));
    }
    void call() {
        if (there_out.push(tick{++seq}) != courier::status::ok) throw failure("ping-pong: push timed out");
        auto back = back_in.receive<tick>(std::chrono::seconds(5));
        if (!back || back->seq != seq) throw failure("ping-pong: no or wrong echo");
    }
    bool serve_one(int timeout_ms) {
        auto t = there_in.receive<tick>(milliseconds(timeout_ms));
        if (!t) return false;
        if (back_out.push(*t) != courier::status::ok) throw failure("ping-pong: echo timed out");
        return true;
    }
    static courier::pusher_options sender() {
        courier::pusher_options o;
        if (Batched) o.batching = courier::batching{};
        return o;
    }

    courier::context ctx{context_options()};
    courier::pusher there_out{ctx, sender()};
    courier::puller there_in{ctx};
    courier::pusher back_out{ctx, sender()};
    courier::puller back_in{ctx};
    std::uint64_t seq = 0;
};

template <bool Batched>
outcome courier_ping_pong(const params& p) {
    return guarded<ping_pong<Batched>>(p, run_reqrep<ping_pong<Batched>>);
}

} // namespace

outcome courier_pingpong(const params& p) { return courier_ping_pong<false>(p); }
outcome courier_pingpong_batched(const params& p) { return courier_ping_pong<true>(p); }

outcome courier_bytes_pushpull(const params& p) {
    using A = push_pull<payload::bytes>;
    return guarded<A>(p, run_stream<A>);
}
outcome courier_bytes_pubsub(const params& p) {
    using A = pub_sub<payload::bytes>;
    return guarded<A>(p, run_stream<A>);
}
outcome courier_raw_pushpull(const params& p) {
    using A = push_pull<payload::raw>;
    return guarded<A>(p, run_stream<A>);
}
outcome courier_raw_pubsub(const params& p) {
    using A = pub_sub<payload::raw>;
    return guarded<A>(p, run_stream<A>);
}
outcome courier_typed_pushpull(const params& p) {
    using A = push_pull<payload::typed>;
    return guarded<A>(p, run_stream<A>);
}
outcome courier_typed_pubsub(const params& p) {
    using A = pub_sub<payload::typed>;
    return guarded<A>(p, run_stream<A>);
}
outcome courier_batched_pushpull(const params& p) {
    using A = batched<push_pull<payload::typed>>;
    return guarded<A>(p, run_stream<A>);
}
outcome courier_batched_pubsub(const params& p) {
    using A = batched<pub_sub<payload::typed>>;
    return guarded<A>(p, run_stream<A>);
}
outcome courier_reqrep(const params& p) { return guarded<req_rep>(p, run_reqrep<req_rep>); }

} // namespace bench
