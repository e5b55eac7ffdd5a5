#pragma once
// Private (framing): what the library sets on a message it hands out that users only read.

#include "courier/message.hpp"

#include <cstdint>

namespace courier::detail {

/// @par Thread safety: as message's members (one thread at a time).
struct message_access {
    /// The producer of a task of the acknowledged pipeline (reliable_puller).
    static void set_producer_id(message& m, std::uint64_t producer) noexcept { m.producer_ = producer; }
};

} // namespace courier::detail
