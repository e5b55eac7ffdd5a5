#pragma once
// Loopback endpoints for tests, and a barrier that waits until a subscription is live.

#include <courier/pubsub.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <string>

namespace courier::test {

enum class transport { inproc, ipc, tcp };

/// An endpoint to bind on: a fresh inproc name, an ipc path in this process's temp dir, or
/// 127.0.0.1 on a port the kernel picks. Connect to what bind() returns.
std::string bind_endpoint(transport t);

/// Runs `check(t)` in one doctest SUBCASE per transport: inproc, ipc and tcp.
template <class F>
void on_every_transport(F&& check) {
    SUBCASE("inproc") { check(transport::inproc); }
    SUBCASE("ipc") { check(transport::ipc); }
    SUBCASE("tcp") { check(transport::tcp); }
}

/// Returns once `sub` receives what `pub` publishes from now on, in order, and nothing else that
/// the barrier sent: it publishes probes on a topic of its own until one arrives, then drains the
/// probes still in flight up to an end marker (one connection is FIFO). Fails the test after
/// `deadline`. Also the barrier for an unsubscribe: once it returns, earlier (un)subscriptions
/// on `sub` have reached `pub`.
void await_subscription(publisher& pub, subscriber& sub,
                        std::chrono::milliseconds deadline = std::chrono::seconds(10));

/// The same barrier for a plain zmq SUB socket (interoperability tests).
void await_subscription(publisher& pub, zmq::socket_t& plain_sub,
                        std::chrono::milliseconds deadline = std::chrono::seconds(10));

} // namespace courier::test
