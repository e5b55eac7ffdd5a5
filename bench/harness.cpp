#include "harness.hpp"

#include <atomic>
#include <cstdlib>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

namespace bench {

std::string_view to_string(transport t) noexcept {
    switch (t) {
    case transport::tcp: return "tcp";
    case transport::ipc: return "ipc";
    case transport::inproc: return "inproc";
    }
    return "?";
}

void pin_to(int cpu, bool pin) {
    if (!pin || cpu >= static_cast<int>(std::thread::hardware_concurrency())) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) throw failure("pthread_setaffinity_np failed");
}

std::string bind_address(transport t, std::string_view style) {
    static std::atomic<int> counter{0};
    const auto id = std::to_string(::getpid()) + "-" + std::to_string(counter++);
    switch (t) {
    case transport::tcp: return style == "nng" ? "tcp://127.0.0.1:0" : "tcp://127.0.0.1:*";
    case transport::ipc: {
        const char* dir = std::getenv("COURIER_BENCH_TMP");
        return "ipc://" + std::string(dir ? dir : "/tmp") + "/" + id + ".sock";
    }
    case transport::inproc: return "inproc://bench-" + id;
    }
    return {};
}

std::int64_t thread_cpu_ns() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

double percentile(std::vector<double>& samples, double q) {
    if (samples.empty()) return -1;
    auto k = static_cast<std::size_t>(q * static_cast<double>(samples.size() - 1) + 0.5);
    std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(k), samples.end());
    return samples[k];
}

} // namespace bench
