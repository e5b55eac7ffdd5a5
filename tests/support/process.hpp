#pragma once
// Real processes for fault tests: the test executable runs again as a child in a named role
// (registered with COURIER_TEST_CHILD), and the parent kills, freezes and reaps it for real.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace courier::test {

/// A child role's body: gets the arguments after the role name, returns the exit code.
using child_main = int (*)(const std::vector<std::string>& args);

/// Registers a role at static initialisation (use COURIER_TEST_CHILD).
struct child_role {
    child_role(const char* name, child_main body);
};

/// Defines and registers a child role: COURIER_TEST_CHILD(worker) { ...; return 0; }
#define COURIER_TEST_CHILD(name)                                                           \
    static int courier_child_##name(const std::vector<std::string>& args);                 \
    static const ::courier::test::child_role courier_child_role_##name(#name, &courier_child_##name); \
    static int courier_child_##name([[maybe_unused]] const std::vector<std::string>& args)

/// If argv is `<exe> --courier-child <role> args...`, runs that role and returns its exit code.
std::optional<int> run_child_role(int argc, char** argv);

/// One child process running a role. Move-only; the destructor kills (SIGKILL) and reaps a child
/// still running, so a failed test leaves nothing behind.
class process {
public:
    /// Starts this executable as `role` with `args`. Fails the test if it cannot.
    static process spawn(const std::string& role, const std::vector<std::string>& args);

    process(process&& other) noexcept : pid_(other.pid_), status_(other.status_) { other.pid_ = -1; }
    process& operator=(process&& other) noexcept;
    process(const process&) = delete;
    process& operator=(const process&) = delete;
    ~process();

    pid_t pid() const noexcept { return pid_; }
    /// Sends `signal` (SIGKILL by default) if it is still running.
    void kill(int signal = 9) noexcept;
    /// The exit code once it has ended (-signal if a signal ended it), or nothing after `timeout`.
    std::optional<int> wait(std::chrono::milliseconds timeout);

private:
    explicit process(pid_t pid) noexcept : pid_(pid) {}
    pid_t pid_ = -1;
    std::optional<int> status_{};
};

} // namespace courier::test
