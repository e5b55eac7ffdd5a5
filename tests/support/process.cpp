#include "support/process.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>
#include <string_view>

#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace courier::test {
namespace {

std::map<std::string, child_main>& roles() {
    static std::map<std::string, child_main> r;
    return r;
}

std::string self_path() {
    std::string path(4096, '\0');
    const auto n = ::readlink("/proc/self/exe", path.data(), path.size() - 1);
    if (n <= 0) FAIL("readlink /proc/self/exe failed");
    path.resize(static_cast<std::size_t>(n));
    return path;
}

} // namespace

child_role::child_role(const char* name, child_main body) { roles()[name] = body; }

std::optional<int> run_child_role(int argc, char** argv) {
    if (argc < 3 || std::string_view(argv[1]) != "--courier-child") return std::nullopt;
    auto it = roles().find(argv[2]);
    if (it == roles().end()) return 127;
    return it->second(std::vector<std::string>(argv + 3, argv + argc));
}

process process::spawn(const std::string& role, const std::vector<std::string>& args) {
    const auto exe = self_path();
    std::vector<std::string> all{exe, "--courier-child", role};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv.data(), environ);
    if (rc != 0) FAIL("posix_spawn failed: " << std::strerror(rc));
    return process(pid);
}

process& process::operator=(process&& other) noexcept {
    if (this != &other) {
        kill();
        (void)wait(std::chrono::seconds(10));
        pid_ = other.pid_;
        status_ = other.status_;
        other.pid_ = -1;
    }
    return *this;
}

process::~process() {
    if (pid_ > 0 && !status_) {
        ::kill(pid_, SIGKILL);
        ::kill(pid_, SIGCONT); // a stopped child must run to die
        int st = 0;
        ::waitpid(pid_, &st, 0);
    }
}

void process::kill(int signal) noexcept {
    if (pid_ > 0 && !status_) ::kill(pid_, signal);
}

std::optional<int> process::wait(std::chrono::milliseconds timeout) {
    if (status_ || pid_ <= 0) return status_;
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int st = 0;
        const auto r = ::waitpid(pid_, &st, WNOHANG);
        if (r == pid_) {
            status_ = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? -WTERMSIG(st) : -1;
            return status_;
        }
        if (r < 0 && errno != EINTR) return status_;
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        if (left.count() <= 0) return std::nullopt;
        // A pidfd becomes readable when the child ends: wait on it, with the deadline.
        const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
        if (fd < 0) return status_;
        pollfd item{fd, POLLIN, 0};
        ::poll(&item, 1, static_cast<int>(left.count()));
        ::close(fd);
    }
}

} // namespace courier::test
