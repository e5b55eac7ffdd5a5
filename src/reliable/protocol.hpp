#pragma once
// Private: what the reliable pusher and puller both speak: routing ids, the hello, control
// frames and how a reliable ROUTER socket is set up (docs/patterns/reliable.md, docs/wire-format.md).

#include "courier/codec.hpp"
#include "framing/frames.hpp"
#include "transport/socket.hpp"
#include "courier/options.hpp"
#include "transport/router.hpp"

#include <zmq.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace courier::reliable_detail {

// A reliable peer's routing id: 'c' and its 64-bit node id, big-endian. libzmq reserves ids that
// start with a zero byte; a fixed first byte also tells courier peers from others.
constexpr std::size_t routing_id_size = 9;

std::string routing_id_of(std::uint64_t node);

/// What a peer says when another connects: its role, its node id (a pusher's is its producer id)
/// and, for a puller, its window.
struct hello_body {
    std::string role;
    std::uint64_t node = 0;
    std::uint64_t window = 0;
    MSGPACK_DEFINE_MAP(role, node, window)
};

using detail::control_frame;
/// A control envelope whose subject this end does not take: bad input, counted as rejected.
error unknown_control(const char* who, std::string_view subject, const char* expected);
zmq::message_t hello_frame(std::string_view role, std::uint64_t node, std::uint64_t window);
zmq::message_t ack_frame(std::span<const std::uint64_t> seqs);

using sent = detail::routed;
/// Sends [rid][body] without waiting (detail::send_routed); `rid` is kept.
sent send_to(zmq::socket_t& sock, const zmq::message_t& rid, zmq::message_t& body);

/// Routing id, ROUTER_MANDATORY, handover and probes, as both ends set them.
void apply_router_options(zmq::socket_t& sock, std::uint64_t node);
/// Throws courier::error(invalid_option) unless `socket`'s heartbeats are on.
void require_heartbeats(const char* owner, const socket_options& socket);

} // namespace courier::reliable_detail
