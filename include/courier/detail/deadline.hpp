#pragma once
// Private: the deadline every blocking call runs under. Here rather than under src/ because public
// templates (the typed receive loop, client::pending_call) name it.

#include <chrono>
#include <cstdint>

namespace courier::detail {

using clock = std::chrono::steady_clock;

/// Deadline `timeout` from now, saturating instead of overflowing.
inline clock::time_point deadline_after(std::chrono::milliseconds timeout) noexcept {
    if (timeout > std::chrono::hours(24 * 365)) return clock::time_point::max();
    return clock::now() + timeout;
}

/// A deadline whose clock is read only when a call must wait: a message already there, or room
/// to send, costs no clock read.
/// @par Thread safety: a value, used by one thread at a time.
class deadline {
public:
    static deadline after(std::chrono::milliseconds timeout) noexcept {
        deadline d;
        d.timeout_ = timeout;
        return d;
    }
    static deadline at(clock::time_point when) noexcept {
        deadline d;
        d.when_ = when;
        d.known_ = true;
        return d;
    }
    static deadline never() noexcept { return at(clock::time_point::max()); }
    /// Milliseconds left, rounded up (a 0.4 ms remainder must not become a busy 0); 0 once
    /// passed; -1 for never.
    int remaining_ms() noexcept {
        const auto at = when();
        if (at == clock::time_point::max()) return -1;
        const auto left = at - clock::now();
        if (left <= clock::duration::zero()) return 0;
        const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
        return ms > INT32_MAX ? INT32_MAX : static_cast<int>(ms);
    }
    /// True once the deadline is behind us (starts the clock if it was not started).
    bool passed() noexcept {
        const auto at = when(); // first: the operands of <= may be evaluated in either order
        return at <= clock::now();
    }
    clock::time_point when() noexcept {
        if (!known_) {
            when_ = deadline_after(timeout_);
            known_ = true;
        }
        return when_;
    }

private:
    std::chrono::milliseconds timeout_{0};
    clock::time_point when_{};
    bool known_ = false;
};

} // namespace courier::detail
