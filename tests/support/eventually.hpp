#pragma once
// Waiting for a state that has no event to wait on (a count another thread or process changes).

#include <chrono>
#include <thread>

namespace courier::test {

/// True as soon as `holds()` is; false once `deadline` has passed without it. Checks every
/// millisecond: for states nobody signals (a peer count, a process's state in /proc). Anything
/// that has an event (a message, a monitor event, a condition variable) waits on that instead.
template <class Predicate>
bool eventually(Predicate holds, std::chrono::milliseconds deadline) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    for (;;) {
        if (holds()) return true;
        if (std::chrono::steady_clock::now() >= until) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

} // namespace courier::test
