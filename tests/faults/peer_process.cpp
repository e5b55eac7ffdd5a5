#include "peer_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <utility>

extern char** environ;

namespace courier::test {

child::child(const std::vector<std::string>& argv) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    // The child's stdout is the pipe's write end (dup2 clears O_CLOEXEC on the copy).
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(pipe_fds[1]);
    if (rc != 0) {
        ::close(pipe_fds[0]);
        pid_ = -1;
        throw std::runtime_error("posix_spawn " + argv[0] + ": " + std::strerror(rc));
    }
    out_ = pipe_fds[0];
}

child::child(child&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), out_(std::exchange(other.out_, -1)), buffered_(std::move(other.buffered_)) {}

child& child::operator=(child&& other) noexcept {
    if (this != &other) {
        kill_and_reap();
        pid_ = std::exchange(other.pid_, -1);
        out_ = std::exchange(other.out_, -1);
        buffered_ = std::move(other.buffered_);
    }
    return *this;
}

std::string child::read_line(std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (auto nl = buffered_.find('\n'); nl != std::string::npos) {
            auto line = buffered_.substr(0, nl);
            buffered_.erase(0, nl + 1);
            return line;
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        if (left.count() <= 0) throw std::runtime_error("child: no line within the timeout");
        pollfd p{out_, POLLIN, 0};
        const int n = ::poll(&p, 1, static_cast<int>(left.count()));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) continue;
        char buf[256];
        const auto got = ::read(out_, buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) throw std::runtime_error("child: stdout closed before a line came");
        buffered_.append(buf, static_cast<std::size_t>(got));
    }
}

void child::signal(int sig) {
    if (pid_ > 0 && ::kill(pid_, sig) != 0) throw std::runtime_error(std::string("kill: ") + std::strerror(errno));
}

void child::kill_and_reap() noexcept {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL); // works on a stopped process too
        int status;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
    }
    if (out_ >= 0) {
        ::close(out_);
        out_ = -1;
    }
}

std::string fixed_tcp_endpoint() {
    static std::mt19937 random(std::random_device{}());
    for (int tries = 0; tries < 1000; ++tries) {
        const auto port = static_cast<std::uint16_t>(20000 + random() % 12000);
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const int on = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on); // as libzmq binds
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(fd);
        if (free) return "tcp://127.0.0.1:" + std::to_string(port);
    }
    throw std::runtime_error("no free port below 32768");
}

child start_peer(const std::string& endpoint, const std::vector<std::string>& extra, std::string& bound) {
    std::vector<std::string> argv{COURIER_FAULT_PEER, endpoint};
    argv.insert(argv.end(), extra.begin(), extra.end());
    child c(argv);
    // Generous: a sanitizer build of the peer takes a while to start on a loaded machine.
    const auto line = c.read_line(std::chrono::seconds(20));
    if (line.rfind("ready ", 0) != 0) throw std::runtime_error("fault peer said '" + line + "'");
    bound = line.substr(6);
    return c;
}

} // namespace courier::test
