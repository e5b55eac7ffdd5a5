#include "support/loopback.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <unistd.h>

namespace courier::test {
namespace {

std::atomic<int> counter{0};

const std::string& temp_dir() {
    static const std::string dir = [] {
        std::string pattern = (std::filesystem::temp_directory_path() / "courier-test-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) FAIL("mkdtemp failed");
        return pattern;
    }();
    return dir;
}

std::string probe_topic() { return "\x01probe/" + std::to_string(counter++); }

// Receives one message on the plain socket into (topic, envelope) within `timeout`.
bool plain_receive(zmq::socket_t& s, std::string& topic, std::chrono::milliseconds timeout) {
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) == 0) return false;
    zmq::message_t t, body;
    (void)s.recv(t);
    if (t.more()) (void)s.recv(body);
    topic = t.to_string();
    return true;
}

template <class Receive>
void barrier(publisher& pub, std::chrono::milliseconds deadline, const std::string& topic, Receive&& receive_topic) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    // Phase 1: probe until one arrives.
    for (;;) {
        REQUIRE_MESSAGE(std::chrono::steady_clock::now() < until, "subscription not live before the deadline");
        CHECK(pub.publish(topic, std::string("probe")) == status::ok);
        std::string got;
        if (receive_topic(got, std::chrono::milliseconds(10))) {
            REQUIRE_MESSAGE(got == topic, "unexpected message on topic '" << got << "' during the barrier");
            break;
        }
    }
    // Phase 2: an end marker after every probe; once it arrives no probe is left in flight.
    const std::string end = topic + "/end";
    CHECK(pub.publish(end, std::string("end")) == status::ok);
    for (;;) {
        REQUIRE_MESSAGE(std::chrono::steady_clock::now() < until, "barrier end marker did not arrive");
        std::string got;
        if (receive_topic(got, std::chrono::milliseconds(100))) {
            if (got == end) return;
            REQUIRE_MESSAGE(got == topic, "unexpected message on topic '" << got << "' during the barrier");
        }
    }
}

} // namespace

std::string bind_endpoint(transport t) {
    switch (t) {
    case transport::inproc: return "inproc://test-" + std::to_string(counter++);
    case transport::ipc: return "ipc://" + temp_dir() + "/" + std::to_string(counter++) + ".sock";
    case transport::tcp: return "tcp://127.0.0.1:*";
    }
    return {};
}

void await_subscription(publisher& pub, subscriber& sub, std::chrono::milliseconds deadline) {
    const auto topic = probe_topic();
    sub.subscribe(topic); // also covers topic + "/end"
    barrier(pub, deadline, topic, [&](std::string& got, std::chrono::milliseconds timeout) {
        auto m = sub.receive(timeout);
        if (m) got = std::string(m->topic());
        return m.has_value();
    });
    sub.unsubscribe(topic);
}

void await_subscription(publisher& pub, zmq::socket_t& plain_sub, std::chrono::milliseconds deadline) {
    const auto topic = probe_topic();
    plain_sub.set(zmq::sockopt::subscribe, topic);
    barrier(pub, deadline, topic, [&](std::string& got, std::chrono::milliseconds timeout) {
        return plain_receive(plain_sub, got, timeout);
    });
    plain_sub.set(zmq::sockopt::unsubscribe, topic);
}

} // namespace courier::test
