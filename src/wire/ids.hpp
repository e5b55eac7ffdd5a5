#pragma once
// Private: the one source of ids. Message ids (next_message_id(s), public in courier/envelope.hpp)
// count up from a random start; every other id is drawn here. One seed per process (read from
// std::random_device once, drawn again in a forked child), so two ids drawn anywhere in the
// library never repeat the random device's luck, and "never 0" is decided in one place.

#include <cstdint>
#include <string>

namespace courier::detail {

/// A random 64-bit id, never 0 (0 means "none" on the wire): publisher, subscriber and node ids.
/// @par Thread safety: any thread.
std::uint64_t random_id() noexcept;

/// A random ROUTER routing identity of `size` bytes (1 .. 255), its first byte never 0
/// (libzmq reserves identities starting with 0 for the ones it makes).
/// @par Thread safety: any thread.
std::string random_identity(std::size_t size = 16);

} // namespace courier::detail
