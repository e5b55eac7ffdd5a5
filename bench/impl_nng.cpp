// nng baselines: push0/pull0 and req0/rep0, one nng_msg per message (the zero-copy-capable API).

#include "cases.hpp"

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

namespace bench {
namespace {

void check(int rv, const char* what) {
    if (rv != 0) throw failure(std::string("nng: ") + what + ": " + nng_strerror(rv));
}

/// Listens on a fresh address and returns the address to dial (the resolved port for tcp).
std::string listen_nng(nng_socket s, transport t) {
    auto url = bind_address(t, "nng");
    nng_listener l;
    check(nng_listen(s, url.c_str(), &l, 0), "listen");
    if (t != transport::tcp) return url;
    int port = 0;
    check(nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port), "bound port");
    return "tcp://127.0.0.1:" + std::to_string(port);
}

nng_msg* make_msg(const std::vector<std::byte>& payload) {
    nng_msg* m = nullptr;
    check(nng_msg_alloc(&m, payload.size()), "msg alloc");
    std::memcpy(nng_msg_body(m), payload.data(), payload.size());
    return m;
}

struct push_pull {
    static constexpr bool pubsub = false;
    explicit push_pull(const params& p) : payload(p.size) {
        check(nng_pull0_open(&pull), "pull0 open");
        check(nng_socket_set_int(pull, NNG_OPT_RECVBUF, 1000), "receive buffer");
        const auto url = listen_nng(pull, p.tr);
        for (int i = 0; i < p.connections; ++i) {
            nng_socket s;
            check(nng_push0_open(&s), "push0 open");
            push.push_back(s);
            check(nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 5000), "send timeout");
            // A send queue like libzmq's high-water mark; without one each send waits for the
            // previous message to be written out.
            check(nng_socket_set_int(s, NNG_OPT_SENDBUF, 1000), "send buffer");
            check(nng_dial(s, url.c_str(), nullptr, 0), "dial"); // synchronous: connected on return
        }
    }
    ~push_pull() {
        for (auto s : push) nng_close(s);
        nng_close(pull);
    }
    push_pull(const push_pull&) = delete;
    push_pull& operator=(const push_pull&) = delete;

    void send(std::uint64_t seq, std::size_t socket) {
        put_seq(payload.data(), seq);
        nng_msg* m = make_msg(payload);
        if (int rv = nng_sendmsg(push[socket], m, 0); rv != 0) {
            nng_msg_free(m);
            check(rv, "send");
        }
    }
    void send_control(rx) {}
    void finish() {}
    rx receive(std::size_t, int timeout_ms, std::uint64_t& seq) {
        if (timeout_ms != 0 && timeout_ms != receive_timeout)
            check(nng_socket_set_ms(pull, NNG_OPT_RECVTIMEO, receive_timeout = timeout_ms), "recv timeout");
        nng_msg* m = nullptr;
        int rv = nng_recvmsg(pull, &m, timeout_ms == 0 ? NNG_FLAG_NONBLOCK : 0);
        if (rv == NNG_ETIMEDOUT || rv == NNG_EAGAIN) return rx::none;
        check(rv, "recv");
        const auto size = nng_msg_len(m);
        if (size != payload.size()) {
            nng_msg_free(m);
            throw failure("nng pull: payload of the wrong size");
        }
        seq = get_seq(nng_msg_body(m), size);
        nng_msg_free(m);
        return rx::data;
    }
    void* poll_handle(std::size_t) { return nullptr; } // one receiver only
    std::uint64_t dropped() { return 0; }

    nng_socket pull{};
    int receive_timeout = -1;
    std::vector<nng_socket> push;
    std::vector<std::byte> payload;
};

struct req_rep {
    explicit req_rep(const params& p) : payload(p.size) {
        check(nng_rep0_open(&rep), "rep0 open");
        check(nng_req0_open(&req), "req0 open");
        check(nng_socket_set_ms(rep, NNG_OPT_RECVTIMEO, 50), "recv timeout");
        check(nng_socket_set_ms(req, NNG_OPT_RECVTIMEO, 5000), "recv timeout");
        check(nng_dial(req, listen_nng(rep, p.tr).c_str(), nullptr, 0), "dial");
    }
    ~req_rep() {
        nng_close(req);
        nng_close(rep);
    }
    req_rep(const req_rep&) = delete;
    req_rep& operator=(const req_rep&) = delete;

    void call() {
        put_seq(payload.data(), ++seq);
        nng_msg* m = make_msg(payload);
        if (int rv = nng_sendmsg(req, m, 0); rv != 0) {
            nng_msg_free(m);
            check(rv, "req send");
        }
        check(nng_recvmsg(req, &m, 0), "req recv");
        const bool right = nng_msg_len(m) == payload.size() && get_seq(nng_msg_body(m), nng_msg_len(m)) == seq;
        nng_msg_free(m);
        if (!right) throw failure("nng req: wrong reply");
    }
    bool serve_one(int) {
        nng_msg* m = nullptr;
        int rv = nng_recvmsg(rep, &m, 0);
        if (rv == NNG_ETIMEDOUT) return false;
        check(rv, "rep recv");
        if (rv = nng_sendmsg(rep, m, 0); rv != 0) {
            nng_msg_free(m);
            check(rv, "rep send");
        }
        return true;
    }

    nng_socket req{}, rep{};
    std::vector<std::byte> payload;
    std::uint64_t seq = 0;
};

} // namespace

outcome nng_pushpull(const params& p) { return guarded<push_pull>(p, run_stream<push_pull>); }
outcome nng_reqrep(const params& p) { return guarded<req_rep>(p, run_reqrep<req_rep>); }

} // namespace bench
