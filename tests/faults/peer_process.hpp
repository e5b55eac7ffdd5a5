#pragma once
// A child process for the fault tests: started with posix_spawn, its stdout read through a pipe,
// killed (SIGKILL) and reaped by the destructor whatever happened, so a failing test leaves
// nothing running.

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace courier::test {

/// Move-only owner of one running child process. @par Thread safety: one thread at a time.
class child {
public:
    /// Starts `argv[0]` with `argv`; throws std::runtime_error if it cannot.
    explicit child(const std::vector<std::string>& argv);
    child(child&& other) noexcept;
    child& operator=(child&& other) noexcept;
    child(const child&) = delete;
    child& operator=(const child&) = delete;
    ~child() { kill_and_reap(); }

    /// The next line the child writes to stdout, without the newline; throws std::runtime_error
    /// if none comes within `timeout` or the child closes stdout.
    std::string read_line(std::chrono::milliseconds timeout);
    /// Sends `sig` (SIGSTOP, SIGCONT, SIGKILL...).
    void signal(int sig);
    /// SIGKILL, then waits for the child to end. Idempotent, never throws.
    void kill_and_reap() noexcept;
    pid_t pid() const noexcept { return pid_; }

private:
    pid_t pid_ = -1;
    int out_ = -1;
    std::string buffered_;
};

/// A loopback TCP endpoint on a port below the kernel's ephemeral range (32768 and up), free when
/// asked. A server restarted on the same port must not find it taken by an outgoing connection,
/// which an ephemeral port can be (a reconnecting client may even connect to itself on it).
std::string fixed_tcp_endpoint();

/// The fault peer of this build (tests/faults/peer.cpp) serving on `endpoint`, with extra
/// arguments; returns once it printed "ready <endpoint>", and that endpoint.
child start_peer(const std::string& endpoint, const std::vector<std::string>& extra, std::string& bound);

} // namespace courier::test
