#pragma once
// The flaky mode of the request-reply example: three server processes (this program with
// --flaky-server) that answer "price" slowly now and then (longer than the client's attempt
// timeout) or crash on the spot, and a client that keeps calling through retries and failover while
// a supervisor restarts whatever crashed. Ends with one JSON line: requests, answered, retried, failed.

#include <courier/courier.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace examples {

/// Serves "price" on `endpoint`: 1 call in 50 waits 300 ms before answering, 1 in 100 kills the
/// process before answering. Prints "ready <endpoint>" once bound. Never returns normally.
inline int run_flaky_server(const std::string& endpoint, std::uint64_t seed) {
    courier::context ctx({.io_threads = 1});
    courier::server server(ctx, {.socket = {.linger = std::chrono::milliseconds(0)}});
    std::mt19937_64 random(seed);
    std::mutex random_lock;
    server.serve<std::uint64_t, std::uint64_t>("price", [&](const std::uint64_t& qty) {
        std::uint64_t roll;
        {
            std::lock_guard lock(random_lock);
            roll = random() % 100;
        }
        if (roll == 0) std::_Exit(3); // a crash: no reply, no cleanup, the OS closes the sockets
        if (roll < 3) std::this_thread::sleep_for(std::chrono::milliseconds(300)); // slower than an attempt
        return qty * 108;
    });
    const auto bound = server.bind(endpoint);
    std::printf("ready %s\n", bound.c_str());
    std::fflush(stdout);
    server.run(std::stop_token{});
    return 0;
}

namespace detail_flaky {

/// One server process, started from this very program and restarted on the same endpoint.
struct server_process {
    pid_t pid = -1;
    std::string endpoint;

    void start(const std::string& self, const std::string& bind_to, std::uint64_t seed) {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
        const std::string seed_text = std::to_string(seed);
        const char* argv[] = {self.c_str(), "--flaky-server", bind_to.c_str(), seed_text.c_str(), nullptr};
        const int rc = ::posix_spawn(&pid, self.c_str(), &actions, nullptr, const_cast<char**>(argv), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(fds[1]);
        if (rc != 0) {
            ::close(fds[0]);
            throw std::runtime_error("posix_spawn failed");
        }
        std::string line;
        char c;
        pollfd p{fds[0], POLLIN, 0};
        while (line.find('\n') == std::string::npos && ::poll(&p, 1, 20000) > 0 && ::read(fds[0], &c, 1) == 1)
            line += c;
        ::close(fds[0]);
        if (line.rfind("ready ", 0) != 0) throw std::runtime_error("flaky server did not start");
        endpoint = line.substr(6, line.size() - 7);
    }
    bool crashed() {
        int status;
        if (pid > 0 && ::waitpid(pid, &status, WNOHANG) == pid) {
            pid = -1;
            return true;
        }
        return false;
    }
    ~server_process() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        if (endpoint.rfind("ipc://", 0) == 0) ::unlink(endpoint.substr(6).c_str()); // a killed server leaves it
    }
};

} // namespace detail_flaky

struct flaky_result {
    bool ok = false;
    std::string json;
};

/// Starts three flaky servers and makes `requests` calls through them. ok if every call was
/// answered with the right price.
inline flaky_result run_flaky(const std::string& self, std::uint64_t requests, std::ostream& log) {
    std::vector<detail_flaky::server_process> servers(3);
    // ipc: a server restarts on its own path (a tcp port of the kernel's choosing could meanwhile
    // be taken by an outgoing connection).
    for (std::size_t i = 0; i < servers.size(); ++i)
        servers[i].start(self, "ipc:///tmp/courier-flaky-" + std::to_string(::getpid()) + "-" + std::to_string(i),
                         1000 + i);
    courier::context ctx;
    // Attempts of 150 ms: a slow answer (300 ms) is retried, and answered by whichever comes first,
    // the slow server or another one; a crash loses the request, and the retry goes elsewhere.
    courier::client client(ctx, {.timeout = std::chrono::milliseconds(150),
                                 .attempts = 10,
                                 .backoff = {.initial = std::chrono::milliseconds(10)}});
    for (auto& s : servers) {
        client.connect(s.endpoint);
        log << "[flaky] server " << s.pid << " on " << s.endpoint << "\n";
    }
    std::uint64_t answered = 0, failed = 0, restarts = 0, seed = 2000;
    for (std::uint64_t i = 1; i <= requests; ++i) {
        auto r = client.call<std::uint64_t>("price", i);
        if (r && r.value() == i * 108) ++answered;
        else {
            ++failed;
            log << "[flaky] call " << i << ": " << to_string(r.state()) << " " << r.detail() << "\n";
        }
        for (auto& s : servers)
            if (s.crashed()) {
                s.start(self, s.endpoint, ++seed); // same endpoint: the client reconnects by itself
                ++restarts;
                log << "[flaky] a server crashed after call " << i << ", restarted as " << s.pid << "\n";
            }
    }
    const auto retried = client.counters().retries;
    log << "[flaky] " << answered << " of " << requests << " answered, " << retried << " retries, " << restarts
        << " restarts, " << client.counters().late << " late replies dropped\n";
    flaky_result result;
    result.ok = answered == requests && failed == 0;
    result.json = "{\"example\":\"reqrep-flaky\",\"requests\":" + std::to_string(requests) +
                  ",\"answered\":" + std::to_string(answered) + ",\"retried\":" + std::to_string(retried) +
                  ",\"failed\":" + std::to_string(failed) + ",\"restarts\":" + std::to_string(restarts) + "}";
    return result;
}

} // namespace examples
