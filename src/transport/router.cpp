#include "transport/router.hpp"

#include "transport/socket.hpp"
#include "courier/error.hpp"

#include <cerrno>

namespace courier::detail {

routed send_routed(zmq::socket_t& sock, zmq::message_t& routing_id, zmq::message_t& body, bool delimiter,
                   const char* what) {
    if (!sock) throw error(errc::closed, std::string(what) + ": the socket is closed");
    try {
        if (!sock.send(routing_id, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return routed::full;
    } catch (const zmq::error_t& e) {
        if (e.num() == EHOSTUNREACH) return routed::gone;
        detail::fail(what, e);
    }
    // The first frame was taken: libzmq takes the rest of the message whatever its pipe holds.
    try {
        if (delimiter) (void)sock.send(zmq::message_t(), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
        detail::released(body);
        (void)sock.send(body, zmq::send_flags::dontwait);
    } catch (const zmq::error_t& e) {
        detail::fail(what, e);
    }
    return routed::ok;
}

} // namespace courier::detail
