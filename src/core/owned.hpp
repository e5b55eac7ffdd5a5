#pragma once
// Private (core): every public owner (publisher, client, server, ...) is one pointer to a private
// state, null once the owner was moved from.

#include "courier/error.hpp"

#include <memory>
#include <string>

namespace courier::detail {

/// The state behind `owner`, or courier::error(closed) if the owner was moved from.
template <class State>
State& live_state(const std::unique_ptr<State>& state, const char* owner) {
    if (!state) [[unlikely]]
        throw error(errc::closed, std::string(owner) + ": moved from");
    return *state;
}

} // namespace courier::detail
