#include "transport/worker.hpp"

#include "core/context_access.hpp"
#include "courier/error.hpp"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <string>

namespace courier::detail {
namespace {

/// Placement and name, on the new thread before its setup: what it allocates lands on its CPU.
void place(const std::string& name, int cpu, bool exact_timers) noexcept {
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set); // best effort: a cgroup may forbid it
    }
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
    if (exact_timers) prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL); // 1000 ns
}

} // namespace

worker::worker(const worker_options& options, std::function<void()> setup, std::function<void()> run,
               std::function<void()> on_stop)
    : on_stop_(std::move(on_stop)) {
    // The one caller of next_library_cpu: library threads spread over the listed CPUs in turn.
    cpu_ = options.cpu >= 0 ? options.cpu : options.cpus_from != nullptr ? context_access::next_library_cpu(*options.cpus_from) : -1;
    std::promise<void> ready;
    auto started = ready.get_future();
    // The thread owns the promise: set_value may still be running when the constructor returns.
    thread_ = std::thread([ready = std::move(ready), name = std::string(options.name ? options.name : "courier"),
                           cpu = cpu_, exact = options.exact_timers, setup = std::move(setup),
                           run = std::move(run)]() mutable {
        place(name, cpu, exact);
        try {
            if (setup) setup();
        } catch (...) {
            ready.set_exception(std::current_exception());
            return;
        }
        ready.set_value();
        run();
    });
    try {
        started.get();
    } catch (...) {
        thread_.join(); // it returned right after its setup threw
        throw;
    }
}

void worker::stop() noexcept {
    if (!thread_.joinable()) return;
    if (on_stop_) on_stop_();
    thread_.join();
}

waker::waker() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (fd_ < 0) throw error(errc::zmq, std::string("eventfd: ") + std::strerror(errno));
}

waker::~waker() {
    if (fd_ >= 0) ::close(fd_);
}

void waker::signal() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
}

void waker::drain() noexcept {
    std::uint64_t count;
    [[maybe_unused]] auto n = ::read(fd_, &count, sizeof count);
}

bool waker::wait(std::chrono::milliseconds timeout) noexcept {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    drain();
    return true;
}

} // namespace courier::detail
