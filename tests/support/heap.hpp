#pragma once
// Counting what the calling thread allocates with operator new, for tests that bound decoding
// memory. The test executables replace the global operator new and delete (support/heap.cpp),
// except under ASan or TSan, whose own must stay; they count only while a heap_meter is alive.

#include <cstddef>

namespace courier::test {

/// Measures the calling thread's operator new allocations from construction on.
/// @par Thread safety: use on the thread that made it; one at a time per thread.
class heap_meter {
public:
    /// False under a sanitizer: nothing is counted, peak() and total() stay 0.
    static bool available() noexcept;

    heap_meter() noexcept;
    ~heap_meter();
    heap_meter(const heap_meter&) = delete;
    heap_meter& operator=(const heap_meter&) = delete;

    /// The most bytes live at once (usable size, as malloc gave them) above where it started.
    std::size_t peak() const noexcept;
    /// Bytes allocated in all.
    std::size_t total() const noexcept;
};

} // namespace courier::test
