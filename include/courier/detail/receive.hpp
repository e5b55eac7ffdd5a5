#pragma once
// Private: the one typed-receive loop. The only template on the receive path: everything it asks
// for (the next payload, the rejection of one that does not decode) is a non-template step of the
// owner, so no public header reaches into a socket, a batch cursor or a frame.

#include "courier/codec.hpp"
#include "courier/detail/deadline.hpp"
#include "courier/envelope.hpp"
#include "courier/error.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace courier::detail {

/// One received message's payload, lent until the owner's next receive: its bytes, the type name
/// it was sent under, the limits to decode it under, and what a subscriber notes gaps by.
struct payload_view {
    std::span<const std::byte> bytes{};
    std::string_view type{};
    const decode_limits* limits = nullptr;
    std::string_view topic{};
    std::uint64_t id = 0;
    std::uint64_t correlation_id = 0;
};

/// The typed receive of every owner that has one. An owner befriends this struct and provides
///     std::optional<payload_view> next_payload(deadline&);  // counted received; nothing on timeout
///     void reject_payload(const error&) noexcept;           // received back down, rejected up
/// both non-template and defined in the library.
struct typed_receive {
    /// The next payload that reads as a T, or nothing once `timeout` passed. One that does not
    /// read as a T is rejected (counted, reported) and skipped.
    template <class T, class Owner>
    static std::optional<T> next(Owner& owner, std::chrono::milliseconds timeout) {
        auto until = deadline::after(timeout);
        for (;;) {
            const auto p = owner.next_payload(until);
            if (!p) return std::nullopt;
            try {
                return decode_payload<T>(p->bytes, p->type, *p->limits);
            } catch (const error& e) {
                owner.reject_payload(e);
            }
            if (until.passed()) return std::nullopt; // a flood of strays cannot hold a receive past its timeout
        }
    }
};

} // namespace courier::detail
