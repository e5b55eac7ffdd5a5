#pragma once
// Private: the one way the library sends to one peer of a ROUTER socket.

#include <zmq.hpp>

namespace courier::detail {

/// What became of a message sent to one peer of a ROUTER.
enum class routed {
    ok,   ///< handed to libzmq
    full, ///< the peer's pipe is full (would block): nothing was sent
    gone, ///< no peer has that routing id (ROUTER_MANDATORY's EHOSTUNREACH): nothing was sent
};

/// Sends [routing id][empty delimiter, if `delimiter`][body] without waiting, on a ROUTER with
/// ROUTER_MANDATORY set (without it libzmq drops an unroutable message silently and says ok).
/// libzmq refuses a full or missing peer at the first frame, so nothing half-sent is left.
/// `routing_id` and `body` are consumed (emptied) when sent; copy a routing id you keep.
/// Throws courier::error(closed) once the context is shut down, other libzmq errors as
/// detail::fail does, named by `what` ("server reply", "reliable_pusher send").
routed send_routed(zmq::socket_t& sock, zmq::message_t& routing_id, zmq::message_t& body, bool delimiter,
                   const char* what);

} // namespace courier::detail
