#include "support/heap.hpp"

#include <malloc.h>

#include <cstddef>
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

} // namespace

// Replaced only in plain builds: ASan's own operator new checks new/delete pairing, and TSan's
// is what its libzmq suppressions (tests/tsan.supp) recognise; there heap_meter counts nothing.
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define COURIER_TEST_COUNTS_HEAP 1

namespace {

void count(void* p) noexcept {
    if (counts.armed) {
        const auto size = static_cast<long long>(malloc_usable_size(p));
        counts.live += size;
        counts.total += static_cast<unsigned long long>(size);
        if (counts.live > counts.peak) counts.peak = counts.live;
    }
}

void* allocate(std::size_t n, std::size_t align = 0) noexcept {
    if (n == 0) n = 1;
    void* p = align <= alignof(std::max_align_t) ? std::malloc(n)
                                                 : std::aligned_alloc(align, (n + align - 1) / align * align);
    if (p != nullptr) count(p);
    return p;
}
void* allocate_or_throw(std::size_t n, std::size_t align = 0) {
    if (void* p = allocate(n, align)) return p;
    throw std::bad_alloc();
}

void release(void* p) noexcept {
    if (p != nullptr && counts.armed) counts.live -= static_cast<long long>(malloc_usable_size(p));
    std::free(p);
}

} // namespace

// Every replaceable global allocation function, so that each allocation and its release go
// through malloc and free.
void* operator new(std::size_t n) { return allocate_or_throw(n); }
void* operator new[](std::size_t n) { return allocate_or_throw(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void* operator new(std::size_t n, std::align_val_t a) { return allocate_or_throw(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return allocate_or_throw(n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    return allocate(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    return allocate(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
#endif

namespace courier::test {

bool heap_meter::available() noexcept {
#ifdef COURIER_TEST_COUNTS_HEAP
    return true;
#else
    return false;
#endif
}

heap_meter::heap_meter() noexcept { counts = {true, 0, 0, 0}; }
heap_meter::~heap_meter() { counts.armed = false; }
std::size_t heap_meter::peak() const noexcept { return static_cast<std::size_t>(counts.peak); }
std::size_t heap_meter::total() const noexcept { return static_cast<std::size_t>(counts.total); }

} // namespace courier::test
