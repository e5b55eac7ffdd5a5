#include "courier/context.hpp"

#include "courier/error.hpp"

#include <string>
#include <thread>

namespace courier {

void context_options::validate() const {
    if (io_threads < 0 || io_threads > 256)
        throw error(errc::invalid_option, "context_options.io_threads must be 0 (one per core) .. 256, not " +
                                              std::to_string(io_threads));
    if (max_sockets < 1 || max_sockets > 65535)
        throw error(errc::invalid_option, "context_options.max_sockets must be 1 .. 65535, not " +
                                              std::to_string(max_sockets));
    const auto cores = std::thread::hardware_concurrency();
    for (const auto* list : {&io_thread_cpus, &library_thread_cpus})
        for (int cpu : *list)
            if (cpu < 0 || cpu > 1023 || (cores != 0 && static_cast<unsigned>(cpu) >= cores))
                throw error(errc::invalid_option,
                            std::string("context_options.") +
                                (list == &io_thread_cpus ? "io_thread_cpus" : "library_thread_cpus") + ": CPU " +
                                std::to_string(cpu) + " does not exist (this machine has " + std::to_string(cores) +
                                ")");
}

context::context() : context(context_options{}) {}

context::context(const context_options& options) {
    options.validate();
    auto threads = options.io_threads;
    if (threads == 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    owned_ = std::make_unique<zmq::context_t>(threads, options.max_sockets);
    ctx_ = owned_.get();
    for (int cpu : options.io_thread_cpus) ctx_->set(zmq::ctxopt::thread_affinity_cpu_add, cpu);
    placement_->cpus = options.library_thread_cpus;
}

int context::next_library_cpu() noexcept {
    const auto& cpus = placement_->cpus;
    if (cpus.empty()) return -1;
    return cpus[placement_->next.fetch_add(1, std::memory_order_relaxed) % cpus.size()];
}

context::context(zmq::context_t& existing) noexcept : ctx_(&existing) {}

int context::io_threads() const { return ctx_->get(zmq::ctxopt::io_threads); }

void context::shutdown() noexcept {
    if (ctx_ != nullptr) ctx_->shutdown();
}

} // namespace courier
