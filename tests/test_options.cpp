#include <courier/options.hpp>

#include <courier/pubsub.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <string>

using namespace courier;
using namespace std::chrono_literals;

namespace {

std::string invalid(const socket_options& o) {
    try {
        o.validate();
    } catch (const error& e) {
        CHECK(e.kind() == errc::invalid_option);
        return e.what();
    }
    FAIL("validate() accepted bad options");
    return {};
}

} // namespace

TEST_CASE("options: defaults are finite and valid") {
    socket_options o;
    CHECK_NOTHROW(o.validate());
    CHECK(o.linger == 1000ms);
    CHECK(o.max_message_size == 16u << 20);
    CHECK(o.send_hwm == 1000);
    CHECK(o.receive_hwm == 1000);
    CHECK(o.send_timeout == 5000ms);
}

TEST_CASE("options: each field out of range is named") {
    CHECK(invalid({.linger = -1ms}).find("linger") != std::string::npos);
    CHECK(invalid({.linger = 2h}).find("linger") != std::string::npos);
    CHECK(invalid({.max_message_size = 0}).find("max_message_size") != std::string::npos);
    CHECK(invalid({.send_hwm = 0}).find("send_hwm") != std::string::npos);
    CHECK(invalid({.receive_hwm = -5}).find("receive_hwm") != std::string::npos);
    CHECK(invalid({.send_timeout = -1ms}).find("send_timeout") != std::string::npos);
    CHECK(invalid({.limits = {.max_depth = 0}}).find("decode_limits") != std::string::npos);
}

TEST_CASE("options: sockets validate their options when made") {
    context ctx;
    CHECK_THROWS_AS(publisher(ctx, {.socket = {.linger = -1ms}}), error);
    CHECK_THROWS_AS(subscriber(ctx, {.socket = {.max_message_size = 0}}), error);
}

TEST_CASE("options: the options reach libzmq") {
    context ctx;
    subscriber s(ctx, {.socket = {.linger = 25ms, .max_message_size = 4096, .receive_hwm = 7}});
    CHECK(s.native().get(zmq::sockopt::linger) == 25);
    CHECK(s.native().get(zmq::sockopt::maxmsgsize) == 4096);
    CHECK(s.native().get(zmq::sockopt::rcvhwm) == 7);
}
