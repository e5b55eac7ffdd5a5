// The one id generator: a process-wide splitmix64 stream seeded once.

#include "wire/ids.hpp"

#include "courier/envelope.hpp"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <random>

namespace courier {
namespace detail {
namespace {

std::uint64_t seed() noexcept {
    auto v = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    try {
        std::random_device rd;
        v ^= (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    } catch (...) {
        v ^= static_cast<std::uint64_t>(getpid()) << 32; // no entropy source: the clock and the pid
    }
    return v;
}

std::uint64_t mix(std::uint64_t z) noexcept {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void reseed() noexcept;

// splitmix64 (Steele, Lea, Flood 2014): a Weyl sequence through a bijective mixer, so every draw
// yields a distinct value, from any thread, without a lock. A function-local static, so that a
// static initializer elsewhere may draw too.
struct source {
    static constexpr std::uint64_t step = 0x9e3779b97f4a7c15u;
    std::atomic<std::uint64_t> stream{seed()};
    std::atomic<std::uint64_t> messages{draw()}; // message ids count up from a random start

    source() noexcept { pthread_atfork(nullptr, nullptr, reseed); } // a forked child draws anew
    std::uint64_t draw() noexcept { return mix(stream.fetch_add(step, std::memory_order_relaxed) + step); }
};

source& ids() noexcept {
    static source s;
    return s;
}

// In a forked child: only what is safe there (no random_device, no allocation): the parent's
// state moved on by the child's pid and the clock.
void reseed() noexcept {
    auto& s = ids();
    const auto clock = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    s.stream.store(mix(s.stream.load(std::memory_order_relaxed) ^ static_cast<std::uint64_t>(getpid())) ^ clock,
                   std::memory_order_relaxed);
    s.messages.store(s.draw(), std::memory_order_relaxed);
}

} // namespace

std::uint64_t random_id() noexcept {
    for (;;)
        if (const auto id = ids().draw(); id != 0) return id;
}

std::string random_identity(std::size_t size) {
    std::string id(size, '\0');
    for (std::size_t i = 0; i < size; i += 8) {
        const auto r = ids().draw();
        for (std::size_t j = 0; j < 8 && i + j < size; ++j) id[i + j] = static_cast<char>((r >> (8 * j)) & 0xff);
    }
    if (size != 0 && id[0] == '\0') id[0] = 'c';
    return id;
}

} // namespace detail

std::uint64_t next_message_ids(std::uint64_t n) noexcept {
    for (;;) {
        const auto first = detail::ids().messages.fetch_add(n, std::memory_order_relaxed);
        if (first != 0 && first + n > first) return first; // skip a range holding 0
    }
}

std::uint64_t next_message_id() noexcept { return next_message_ids(1); }

} // namespace courier
