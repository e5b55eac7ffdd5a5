#include <courier/courier.hpp>

#include "support/loopback.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <utility>

// What holds for every owner type at once (the umbrella header's tests).

using namespace courier;
using namespace std::chrono_literals;
using test::transport;

namespace {

/// Runs `use` and checks that it throws courier::error(closed), naming `what` if not.
template <class F>
void closed(const char* what, F use) {
    try {
        use();
        FAIL_CHECK(what << ": returned instead of throwing courier::error(closed)");
    } catch (const error& e) {
        CHECK_MESSAGE(e.kind() == errc::closed, what << ": " << e.what());
    } catch (const std::exception& e) {
        FAIL_CHECK(what << ": threw something else: " << e.what());
    }
}

/// Moves an owner twice (construction, then assignment) and checks that both moved-from objects
/// report closed for binding, connecting and `use`, that close() on them does nothing, and that
/// the object moved into works.
template <class Owner, class Use>
void check_moved_from(context& ctx, const char* name, Use use) {
    CAPTURE(name);
    Owner first(ctx);
    Owner second(std::move(first));
    Owner third(ctx);
    third = std::move(second);
    for (Owner* gone : {&first, &second}) {
        closed("bind", [&] { (void)gone->bind(test::bind_endpoint(transport::inproc)); });
        closed("connect", [&] { gone->connect("inproc://courier-moved-from-nowhere"); });
        closed("use", [&] { use(*gone); });
        gone->close(); // a no-op, as is the destructor
        gone->close();
    }
    CHECK_FALSE(third.bind(test::bind_endpoint(transport::inproc)).empty());
}

} // namespace

// One rule for every owner: a moved-from object is closed. Using it throws courier::error(closed);
// close() and the destructor do nothing. (A moved-from server and reliable_puller dereferenced a
// null pointer; a moved-from publisher's bind threw a libzmq error and a subscriber's subscribe a
// raw zmq::error_t.)
TEST_CASE("every owner reports closed when used after it was moved from" * doctest::timeout(30)) {
    context ctx;
    check_moved_from<publisher>(ctx, "publisher", [](publisher& p) { (void)p.publish("t", 1); });
    check_moved_from<publisher>(ctx, "publisher waiting", [](publisher& p) { (void)p.wait_for_subscribers(1, 0ms); });
    check_moved_from<subscriber>(ctx, "subscriber", [](subscriber& s) { (void)s.receive(0ms); });
    check_moved_from<subscriber>(ctx, "subscriber subscribing", [](subscriber& s) { s.subscribe("t"); });
    check_moved_from<pusher>(ctx, "pusher", [](pusher& p) { (void)p.push(1, 0ms); });
    check_moved_from<puller>(ctx, "puller", [](puller& p) { (void)p.receive(0ms); });
    // A call reports closed through its result, as it does after close().
    check_moved_from<client>(ctx, "client", [](client& c) { (void)c.call<int>("m", 1, 10ms).value(); });
    check_moved_from<server>(ctx, "server", [](server& s) { (void)s.serve_one(0ms); });
    check_moved_from<server>(ctx, "server serving", [](server& s) {
        s.serve<int, int>("m", [](const int& v) { return v; });
    });
    check_moved_from<reliable_pusher>(ctx, "reliable_pusher", [](reliable_pusher& p) { (void)p.push(1, 0ms); });
    check_moved_from<reliable_puller>(ctx, "reliable_puller", [](reliable_puller& p) { (void)p.receive(0ms); });
}
