// Raw cppzmq baselines: what a careful user of libzmq writes by hand, with no envelope.

#include "cases.hpp"

#include <zmq.hpp>

namespace bench {
namespace {

std::string bind_zmq(zmq::socket_t& s, transport t) {
    s.bind(bind_address(t, "zmq"));
    return s.get(zmq::sockopt::last_endpoint);
}

/// Payloads for the raw cases: raw bytes with the sequence number in front, or one msgpack_tick
/// (MSGPACK_DEFINE_MAP) packed with msgpack-cxx into a reused buffer and unpacked at the receiver.
template <bool Typed>
struct codec {
    explicit codec(std::size_t size) : bytes(size) {}
    zmq::message_t encode(std::uint64_t seq) {
        if constexpr (Typed) {
            packed.clear();
            msgpack::pack(packed, make_msgpack_tick(seq));
            return zmq::message_t(packed.data(), packed.size());
        } else {
            put_seq(bytes.data(), seq);
            return zmq::message_t(bytes.data(), bytes.size());
        }
    }
    std::uint64_t decode(const zmq::message_t& m) const {
        if constexpr (Typed) {
            auto handle = msgpack::unpack(m.data<char>(), m.size());
            return handle.get().as<msgpack_tick>().seq;
        } else {
            if (m.size() != bytes.size()) throw failure("payload of the wrong size");
            return get_seq(m.data(), m.size());
        }
    }
    std::vector<std::byte> bytes;
    msgpack::sbuffer packed;
};

/// Receives with a timeout, setting ZMQ_RCVTIMEO only when it changes.
struct timed_receiver {
    bool recv(zmq::socket_t& s, zmq::message_t& m, int timeout_ms) {
        if (timeout_ms == 0) return s.recv(m, zmq::recv_flags::dontwait).has_value();
        if (timeout_ms != current) s.set(zmq::sockopt::rcvtimeo, current = timeout_ms);
        return s.recv(m).has_value();
    }
    int current = -1;
};

template <bool Typed>
struct push_pull {
    static constexpr bool pubsub = false;
    explicit push_pull(const params& p) : pull(ctx, zmq::socket_type::pull), c(p.size) {
        pull.set(zmq::sockopt::linger, 0);
        const auto ep = bind_zmq(pull, p.tr);
        for (int i = 0; i < p.connections; ++i) {
            auto& s = push.emplace_back(ctx, zmq::socket_type::push);
            s.set(zmq::sockopt::linger, 0);
            s.set(zmq::sockopt::sndtimeo, 5000);
            s.connect(ep);
        }
    }
    void send(std::uint64_t seq, std::size_t socket) {
        auto m = c.encode(seq);
        if (!push[socket].send(m, zmq::send_flags::none)) throw failure("zmq push: send timed out");
    }
    void send_control(rx) {}
    void finish() {}
    rx receive(std::size_t, int timeout_ms, std::uint64_t& seq) {
        zmq::message_t m;
        if (!rt.recv(pull, m, timeout_ms)) return rx::none;
        seq = c.decode(m);
        return rx::data;
    }
    void* poll_handle(std::size_t) { return pull.handle(); }
    std::uint64_t dropped() { return 0; }

    zmq::context_t ctx{1};
    zmq::socket_t pull;
    std::vector<zmq::socket_t> push;
    codec<Typed> c;
    timed_receiver rt;
};

template <bool Typed>
struct pub_sub {
    static constexpr bool pubsub = true;
    explicit pub_sub(const params& p) : pub(ctx, zmq::socket_type::pub), c(p.size) {
        pub.set(zmq::sockopt::linger, 0);
        pub.set(zmq::sockopt::sndhwm, pubsub_hwm);
        const auto ep = bind_zmq(pub, p.tr);
        for (int i = 0; i < p.subscribers; ++i) {
            auto& s = subs.emplace_back(ctx, zmq::socket_type::sub);
            s.set(zmq::sockopt::linger, 0);
            s.set(zmq::sockopt::rcvhwm, pubsub_hwm);
            s.set(zmq::sockopt::subscribe, "");
            s.connect(ep);
        }
        rts.resize(subs.size());
    }
    void publish(std::string_view topic, std::uint64_t seq) {
        auto body = c.encode(seq);
        pub.send(zmq::buffer(topic), zmq::send_flags::sndmore);
        pub.send(body, zmq::send_flags::none);
    }
    void send(std::uint64_t seq, std::size_t) { publish(data_topic, seq); }
    void send_control(rx kind) { publish(kind == rx::probe ? probe_topic : end_topic, 0); }
    void finish() {}
    rx receive(std::size_t i, int timeout_ms, std::uint64_t& seq) {
        zmq::message_t topic, body;
        if (!rts[i].recv(subs[i], topic, timeout_ms)) return rx::none;
        if (!topic.more() || !subs[i].recv(body)) throw failure("zmq sub: message without a body frame");
        auto kind = classify(topic.to_string_view());
        if (kind == rx::data) seq = c.decode(body);
        return kind;
    }
    void* poll_handle(std::size_t i) { return subs[i].handle(); }
    std::uint64_t dropped() { return 0; }

    zmq::context_t ctx{1};
    zmq::socket_t pub;
    std::vector<zmq::socket_t> subs;
    codec<Typed> c;
    std::vector<timed_receiver> rts;
};

struct req_rep {
    explicit req_rep(const params& p)
        : req(ctx, zmq::socket_type::req), rep(ctx, zmq::socket_type::rep), payload(p.size) {
        for (auto* s : {&req, &rep}) s->set(zmq::sockopt::linger, 0);
        req.set(zmq::sockopt::rcvtimeo, 5000);
        rep.set(zmq::sockopt::rcvtimeo, 50);
        req.connect(bind_zmq(rep, p.tr));
    }
    void call() {
        put_seq(payload.data(), ++seq);
        req.send(zmq::message_t(payload.data(), payload.size()), zmq::send_flags::none);
        zmq::message_t reply;
        if (!req.recv(reply)) throw failure("zmq req: no reply");
        if (reply.size() != payload.size() || get_seq(reply.data(), reply.size()) != seq)
            throw failure("zmq req: wrong reply");
    }
    bool serve_one(int) {
        zmq::message_t request;
        if (!rep.recv(request)) return false;
        rep.send(request, zmq::send_flags::none);
        return true;
    }
    zmq::context_t ctx{1};
    zmq::socket_t req, rep;
    std::vector<std::byte> payload;
    std::uint64_t seq = 0;
};

} // namespace

outcome zmq_pushpull(const params& p) { return guarded<push_pull<false>>(p, run_stream<push_pull<false>>); }
outcome zmq_pubsub(const params& p) { return guarded<pub_sub<false>>(p, run_stream<pub_sub<false>>); }
outcome zmq_msgpack_pushpull(const params& p) { return guarded<push_pull<true>>(p, run_stream<push_pull<true>>); }
outcome zmq_msgpack_pubsub(const params& p) { return guarded<pub_sub<true>>(p, run_stream<pub_sub<true>>); }
outcome zmq_reqrep(const params& p) { return guarded<req_rep>(p, run_reqrep<req_rep>); }

outcome zmq_pushpull_16(const params& p) {
    auto sixteen = p;
    sixteen.size = 16;
    return zmq_pushpull(sixteen);
}
outcome zmq_pubsub_16(const params& p) {
    auto sixteen = p;
    sixteen.size = 16;
    return zmq_pubsub(sixteen);
}

} // namespace bench
