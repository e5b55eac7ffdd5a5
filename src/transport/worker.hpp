#pragma once
// Private: the one way the library starts, pins, names, wakes and stops a thread of its own.

#include <chrono>
#include <functional>
#include <thread>

namespace courier {
class context;
}

namespace courier::detail {

/// How a library thread is placed and named.
struct worker_options {
    /// The thread's name as `top -H` and debuggers show it (pthread_setname_np): at most 15
    /// characters, longer names are cut. "courier-send", "courier-rely", "courier-server", ...
    const char* name = "courier";
    /// The context whose library_thread_cpus the thread is pinned to, the next CPU in turn; null
    /// (or a context without library_thread_cpus): not pinned, unless `cpu` says so.
    context* cpus_from = nullptr;
    /// A CPU to pin to, 0 .. 1023, which takes precedence over cpus_from; -1: none.
    int cpu = -1;
    /// Timer slack of 1 us instead of Linux's default 50 us, for a thread whose waits last tens of
    /// microseconds (the batching sender's nap would otherwise last 70 us instead of 20).
    bool exact_timers = false;
};

/// One library thread, started and stopped in the manner of CZMQ's zactor: the constructor
/// returns once the thread runs and its `setup` has returned (a setup that throws rethrows in the
/// constructor, after the thread has ended); stop() calls `on_stop` (which must make `run`
/// return soon) and joins. Move-only owner of the thread; the destructor stops it.
/// `run` must not throw (its owner catches what it expects: a context shut down, a libzmq error).
/// @par Thread safety: stop() from one thread at a time, never from the worker's own thread.
class worker {
public:
    worker() = default;
    worker(const worker_options& options, std::function<void()> setup, std::function<void()> run,
           std::function<void()> on_stop);
    worker(worker&&) noexcept = default;
    worker& operator=(worker&& other) noexcept {
        if (this != &other) {
            stop();
            thread_ = std::move(other.thread_);
            on_stop_ = std::move(other.on_stop_);
            cpu_ = other.cpu_;
        }
        return *this;
    }
    ~worker() { stop(); }

    /// Signals (on_stop) and joins. Idempotent: a second call, or one on a worker never started,
    /// does nothing.
    void stop() noexcept;
    /// True from construction until stop() has joined the thread.
    bool running() const noexcept { return thread_.joinable(); }
    /// The CPU the thread is pinned to, or -1.
    int cpu() const noexcept { return cpu_; }

private:
    std::thread thread_;
    std::function<void()> on_stop_;
    int cpu_ = -1;
};

/// The wake-up of a library thread that waits in poll (zmq_poll beside its socket, or poll):
/// an eventfd that any thread may signal. Move-only owner of the descriptor.
/// @par Thread safety: signal() from any thread; drain() and wait() from the waiting thread.
class waker {
public:
    /// Throws courier::error(zmq) if the kernel refuses an eventfd.
    waker();
    waker(const waker&) = delete;
    waker& operator=(const waker&) = delete;
    ~waker();

    /// Wakes the thread polling fd(); signals before the poll are kept until drain().
    void signal() noexcept;
    /// Clears the signals (after a poll saw fd() readable).
    void drain() noexcept;
    /// Waits until signalled or `timeout` passed, clearing the signal: true if signalled.
    bool wait(std::chrono::milliseconds timeout) noexcept;
    /// For a poll item (ZMQ_POLLIN / POLLIN).
    int fd() const noexcept { return fd_; }

private:
    int fd_ = -1;
};

} // namespace courier::detail
