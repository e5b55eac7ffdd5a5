#pragma once
// Expected outcomes of a call: returned, never thrown.

#include <string_view>

namespace courier {

/// How a send, receive or call ended when it did not simply succeed.
enum class status {
    ok,           ///< done
    timeout,      ///< the deadline passed first
    closed,       ///< the socket or its context was closed meanwhile
    remote_error, ///< the remote handler failed; its message comes with the result
    unavailable,  ///< a retried call: no attempt was answered (client::call, client::wait)
    full,         ///< a bound was reached (too many calls in flight, queue full)
};

constexpr std::string_view to_string(status s) noexcept {
    switch (s) {
    case status::ok: return "ok";
    case status::timeout: return "timeout";
    case status::closed: return "closed";
    case status::remote_error: return "remote_error";
    case status::unavailable: return "unavailable";
    case status::full: return "full";
    }
    return "unknown";
}

} // namespace courier
