// courier-fault-peer: a server in a process of its own, for the fault tests to kill (SIGKILL),
// freeze (SIGSTOP) and restart. Driven by argv; prints "ready <endpoint>" on stdout once bound.
//
//   courier-fault-peer <bind-endpoint> [--mute] [--workers N] [--heartbeat INTERVAL_MS TIMEOUT_MS]
//
// Methods (uint64 in, uint64 out): "echo" answers its request; "work" burns the CPU for that many
// ms, then answers it; "stats" answers how many requests came before it. With --mute the process
// reads requests and never answers any but "stats", which then answers
// [requests, distinct request ids].

#include <courier/reqrep.hpp>

#include "transport/socket.hpp" // detail::envelope_frame, detail::acquired (private: src/ on its include path)

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

volatile std::sig_atomic_t stop_requested = 0;

void on_term(int) { stop_requested = 1; }

struct args {
    std::string endpoint;
    bool mute = false;
    std::size_t workers = 0;
    courier::heartbeat_options heartbeat{}; // the defaults unless --heartbeat
};

args parse(int argc, char** argv) {
    if (argc < 2) throw std::runtime_error("usage: courier-fault-peer <endpoint> [--mute] [--workers N] "
                                           "[--heartbeat INTERVAL_MS TIMEOUT_MS]");
    args a;
    a.endpoint = argv[1];
    for (int i = 2; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--mute") a.mute = true;
        else if (arg == "--workers" && i + 1 < argc) a.workers = std::stoul(argv[++i]);
        else if (arg == "--heartbeat" && i + 2 < argc) {
            a.heartbeat.interval = std::chrono::milliseconds(std::stol(argv[++i]));
            a.heartbeat.timeout = std::chrono::milliseconds(std::stol(argv[++i]));
        } else
            throw std::runtime_error("courier-fault-peer: unknown argument '" + arg + "'");
    }
    return a;
}

void ready(const std::string& endpoint) {
    std::cout << "ready " << endpoint << std::endl; // endl: the test reads the line at once
}

// Reads requests, answers only "stats": a server that is up and never answers.
int run_mute(courier::context& ctx, const args& a) {
    zmq::socket_t router(ctx.native(), zmq::socket_type::router);
    router.set(zmq::sockopt::linger, 0);
    router.set(zmq::sockopt::rcvtimeo, 50);
    if (a.heartbeat.enabled()) {
        router.set(zmq::sockopt::heartbeat_ivl, static_cast<int>(a.heartbeat.interval.count()));
        router.set(zmq::sockopt::heartbeat_timeout, static_cast<int>((a.heartbeat.timeout - a.heartbeat.interval).count()));
    }
    router.bind(a.endpoint);
    ready(router.get(zmq::sockopt::last_endpoint));
    std::uint64_t requests = 0;
    std::set<std::uint64_t> ids;
    while (stop_requested == 0) {
        std::vector<zmq::message_t> frames;
        zmq::message_t f;
        if (!router.recv(f)) continue;
        frames.push_back(std::move(f));
        while (frames.back().more()) {
            zmq::message_t next;
            (void)router.recv(next);
            frames.push_back(std::move(next));
        }
        if (frames.size() != 3) continue;
        courier::detail::acquired(frames[2]);
        auto e = courier::envelope::decode({frames[2].data<std::byte>(), frames[2].size()});
        if (e.subject() != "stats") {
            ++requests;
            ids.insert(e.id());
            std::cout << "request" << std::endl; // a test may wait for these lines
            continue;
        }
        courier::detail::buffer payload;
        const std::vector<std::uint64_t> answer{requests, ids.size()};
        const auto reply = courier::encode({.kind = courier::kind::reply,
                                            .id = courier::next_message_id(),
                                            .correlation_id = e.id(),
                                            .type_name = courier::type_name<std::vector<std::uint64_t>>::value,
                                            .subject = e.subject(),
                                            .payload = courier::encode_payload(answer, payload)});
        zmq::message_t body(reply.data(), reply.size());
        router.send(frames[0], zmq::send_flags::sndmore);
        router.send(zmq::message_t(), zmq::send_flags::sndmore);
        router.send(body, zmq::send_flags::none);
    }
    return 0;
}

int run_server(courier::context& ctx, const args& a) {
    courier::server server(ctx, {.socket = {.linger = std::chrono::milliseconds(0), .heartbeat = a.heartbeat},
                                 .workers = a.workers});
    std::atomic<std::uint64_t> requests{0};
    server.serve<std::uint64_t, std::uint64_t>("echo", [&](const std::uint64_t& v) {
        ++requests;
        return v;
    });
    server.serve<std::uint64_t, std::uint64_t>("work", [&](const std::uint64_t& ms) {
        ++requests;
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        volatile std::uint64_t spin = 0;
        while (std::chrono::steady_clock::now() < until) spin = spin + 1; // busy: the CPU, not a sleep
        return ms;
    });
    server.serve<std::uint64_t, std::uint64_t>("stats", [&](const std::uint64_t&) { return requests.load(); });
    ready(server.bind(a.endpoint));
    std::stop_source stop;
    // A signal handler may only set a flag; this thread turns the flag into a stop request, checking
    // it every 20 ms (how soon the peer notices SIGTERM, nothing a test waits on).
    std::jthread watch([&](std::stop_token own) {
        while (stop_requested == 0 && !own.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        stop.request_stop();
    });
    server.run(stop.get_token(), std::chrono::milliseconds(20));
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    std::signal(SIGTERM, on_term);
    std::signal(SIGPIPE, SIG_IGN);
    try {
        const auto a = parse(argc, argv);
        courier::context ctx({.io_threads = 1});
        return a.mute ? run_mute(ctx, a) : run_server(ctx, a);
    } catch (const std::exception& e) {
        std::cerr << "courier-fault-peer: " << e.what() << "\n";
        return 2;
    }
}
