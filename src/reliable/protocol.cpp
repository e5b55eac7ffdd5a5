#include "courier/reliable.hpp"

#include "reliable/protocol.hpp"
#include "transport/router.hpp"

#include <string>

namespace courier {
namespace reliable_detail {

using detail::clock;
using namespace std::chrono_literals;

std::string routing_id_of(std::uint64_t node) {
    std::string id(routing_id_size, 'c');
    for (int i = 0; i < 8; ++i) id[1 + i] = static_cast<char>(node >> (56 - 8 * i));
    return id;
}

error unknown_control(const char* who, std::string_view subject, const char* expected) {
    return error(errc::malformed, std::string(who) + ": a control message with subject '" + std::string(subject) +
                                      "' (expected " + expected + ")");
}

zmq::message_t hello_frame(std::string_view role, std::uint64_t node, std::uint64_t window) {
    auto& out = detail::scratch();
    out.clear();
    msgpack::pack(out, hello_body{std::string(role), node, window});
    return control_frame("hello", out.view());
}

zmq::message_t ack_frame(std::span<const std::uint64_t> seqs) {
    auto& out = detail::scratch();
    out.clear();
    msgpack::packer<detail::buffer> pk(out);
    pk.pack_array(static_cast<std::uint32_t>(seqs.size()));
    for (auto s : seqs) pk.pack(s);
    return control_frame("ack", out.view());
}

sent send_to(zmq::socket_t& sock, const zmq::message_t& rid, zmq::message_t& body) {
    zmq::message_t id;
    id.copy(const_cast<zmq::message_t&>(rid)); // the caller keeps its routing id
    return detail::send_routed(sock, id, body, false, "send");
}

void apply_router_options(zmq::socket_t& sock, std::uint64_t node) {
    sock.set(zmq::sockopt::routing_id, routing_id_of(node));
    sock.set(zmq::sockopt::router_mandatory, 1);
    sock.set(zmq::sockopt::router_handover, 1);
    // Each side says hello when the other connects. libzmq keeps a connecting socket's pipe, and
    // the routing id it was first given, across reconnections, so a peer restarted on the same
    // endpoint may come back under its predecessor's routing id: identity is the hello's node id,
    // and a hello on a known routing id starts a new session.
    sock.set(zmq::sockopt::probe_router, 1);
    // ZMTP heartbeats are the socket's (socket_options::heartbeat), mapped where every socket's are.
}

void require_heartbeats(const char* owner, const socket_options& socket) {
    if (!socket.heartbeat.enabled())
        throw error(errc::invalid_option,
                    std::string(owner) +
                        ".socket.heartbeat.interval must be 10 ms .. 1 h, not 0: the reliable pipeline needs "
                        "heartbeats (it pings its pullers every interval and finds dead peers by them)");
}

} // namespace reliable_detail

using namespace reliable_detail;

void reliable_pusher_options::validate() const {
    socket.validate();
    auto bad = [](const std::string& what) { throw error(errc::invalid_option, "reliable_pusher_options." + what); };
    if (max_pending < 1 || max_pending > 10'000'000)
        bad("max_pending must be 1 .. 10,000,000, not " + std::to_string(max_pending));
    if (visibility_timeout < 1ms || visibility_timeout > 24h)
        bad("visibility_timeout must be 1 ms .. 24 h, not " + std::to_string(visibility_timeout.count()) + " ms");
    require_heartbeats("reliable_pusher_options", socket);
}

void reliable_puller_options::validate() const {
    socket.validate();
    auto bad = [](const std::string& what) { throw error(errc::invalid_option, "reliable_puller_options." + what); };
    if (window < 1 || window > 65536) bad("window must be 1 .. 65,536, not " + std::to_string(window));
    if (dedup_window < 1 || dedup_window > (std::size_t{1} << 24))
        bad("dedup_window must be 1 .. 16 M, not " + std::to_string(dedup_window));
    if (max_producers < 1) bad("max_producers must be at least 1");
    require_heartbeats("reliable_puller_options", socket);
}

} // namespace courier
