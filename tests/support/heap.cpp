#include "support/heap.hpp"

#include <malloc.h>

#include <cstdlib>
#include <new>

namespace {

struct heap_counts {
    bool armed;
    long long live;
    long long peak;
    unsigned long long total;
};
thread_local heap_counts counts{}; // constant-initialised: safe to touch from operator new

void* allocate(std::size_t n) {
    void* p = std::malloc(n == 0 ? 1 : n);
    if (p == nullptr) throw std::bad_alloc();
    if (counts.armed) {
        const auto size = static_cast<long long>(malloc_usable_size(p));
        counts.live += size;
        counts.total += static_cast<unsigned long long>(size);
        if (counts.live > counts.peak) counts.peak = counts.live;
    }
    return p;
}

void release(void* p) noexcept {
    if (p != nullptr && counts.armed) counts.live -= static_cast<long long>(malloc_usable_size(p));
    std::free(p);
}

} // namespace

// The replaceable global allocation functions; the aligned, sized and nothrow forms of the
// standard library end up in these or keep to their own pairs.
void* operator new(std::size_t n) { return allocate(n); }
void* operator new[](std::size_t n) { return allocate(n); }
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }

namespace courier::test {

heap_meter::heap_meter() noexcept { counts = {true, 0, 0, 0}; }
heap_meter::~heap_meter() { counts.armed = false; }
std::size_t heap_meter::peak() const noexcept { return static_cast<std::size_t>(counts.peak); }
std::size_t heap_meter::total() const noexcept { return static_cast<std::size_t>(counts.total); }

} // namespace courier::test
