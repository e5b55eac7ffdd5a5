#pragma once
// The context: owns (or borrows) a libzmq context and its I/O threads.

#include <atomic>
#include <memory>
#include <vector>

#include <zmq.hpp>

namespace courier {

class context;
namespace detail {
struct context_access; // the library's own threads (core/context_access.hpp)
} // namespace detail

/// Options for a context that courier owns.
struct context_options {
    /// libzmq I/O threads; 0 means one per core. 0 .. 256.
    int io_threads = 0;
    /// CPUs the I/O threads are pinned to (each thread may run on any CPU listed); empty: no
    /// pinning. Each must be in 0 .. 1023 and exist on this machine.
    std::vector<int> io_thread_cpus{};
    /// Sockets this context may hold at once (ZMQ_MAX_SOCKETS). 1 .. 65535.
    int max_sockets = 1023;
    /// CPUs courier's own threads (a batching sender's thread, a reliable_pusher's thread) are
    /// pinned to, one CPU per thread in turn, so they spread one per core; empty: not pinned. Same
    /// range as io_thread_cpus.
    std::vector<int> library_thread_cpus{};

    /// Throws courier::error(invalid_option) naming the first field out of range.
    void validate() const;
};

/// A libzmq context that sockets are made in. Move-only owner. Sockets keep a reference: destroy
/// them before their context (destroying a context waits for its sockets, bounded by their linger).
/// @par Thread safety: safe to share between threads, as libzmq contexts are; shutdown() may be
/// called from any thread.
class context {
public:
    /// A new libzmq context with default options: one I/O thread per core.
    context();
    explicit context(const context_options& options);
    /// Borrows a context the service already has (cppzmq). It must outlive this object and the
    /// sockets made in it. The destructor leaves it alone; shutdown() shuts it down.
    explicit context(zmq::context_t& existing) noexcept;

    context(context&&) noexcept = default;
    context& operator=(context&&) noexcept = default;
    context(const context&) = delete;
    context& operator=(const context&) = delete;
    ~context() = default;

    /// The libzmq context, for sockets made with cppzmq next to courier's.
    zmq::context_t& native() noexcept { return *ctx_; }
    /// I/O threads the context runs (or will start with its first socket).
    int io_threads() const;
    /// Shuts the context down: blocking calls in its sockets end with status::closed or
    /// courier::error(closed), and new sockets cannot be made. Idempotent; does not wait.
    void shutdown() noexcept;

private:
    friend struct detail::context_access;
    /// The CPU the next library thread is pinned to (library_thread_cpus in turn), or -1.
    int next_library_cpu() noexcept;

    struct placement {
        std::vector<int> cpus;
        std::atomic<std::size_t> next{0};
    };
    std::unique_ptr<zmq::context_t> owned_;
    zmq::context_t* ctx_ = nullptr;
    std::unique_ptr<placement> placement_ = std::make_unique<placement>();
};

} // namespace courier
