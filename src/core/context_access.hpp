#pragma once
// Private (core): what of a context only the library uses.

#include "courier/context.hpp"

namespace courier::detail {

/// @par Thread safety: as context's members (next_library_cpu is atomic).
struct context_access {
    /// The CPU the next library thread is pinned to (context_options::library_thread_cpus in
    /// turn), or -1 when they are not pinned. The one place a library thread asks where to run.
    static int next_library_cpu(context& ctx) noexcept { return ctx.next_library_cpu(); }
};

} // namespace courier::detail
