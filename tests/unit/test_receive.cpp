// Socket-free tests of the typed receive's pieces (issue 10): the one template loop over an
// owner's non-template step, and the batch cursor that step reads records with.
#include "courier/detail/receive.hpp"

#include "framing/inbox.hpp"

#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <vector>

using namespace courier;
using namespace std::chrono_literals;

namespace {

// An owner as detail::typed_receive sees one: payloads handed out from a list, rejections counted.
class fake_owner {
public:
    std::deque<std::vector<std::byte>> payloads;
    std::string type = "int";
    decode_limits limits{};
    int handed = 0;
    std::vector<errc> rejected;

    template <class T>
    std::optional<T> receive(std::chrono::milliseconds timeout) {
        return detail::typed_receive::next<T>(*this, timeout);
    }

private:
    friend struct detail::typed_receive;
    std::optional<detail::payload_view> next_payload(detail::deadline&) {
        if (payloads.empty()) return std::nullopt;
        current_ = std::move(payloads.front());
        payloads.pop_front();
        ++handed;
        return detail::payload_view{.bytes = current_, .type = type, .limits = &limits};
    }
    void reject_payload(const error& e) noexcept { rejected.push_back(e.kind()); }
    std::vector<std::byte> current_;
};

std::vector<std::byte> bytes_of(std::initializer_list<int> values) {
    std::vector<std::byte> out;
    for (int v : values) out.push_back(static_cast<std::byte>(v));
    return out;
}

} // namespace

TEST_CASE("typed receive: a payload that does not decode is rejected through the owner and the next one is returned") {
    fake_owner owner;
    owner.payloads = {bytes_of({0xa1, 'x'}), bytes_of({0xc0}), bytes_of({0x07})}; // "x", nil, 7
    CHECK(owner.receive<int>(1s) == std::optional<int>(7));
    CHECK(owner.handed == 3);
    CHECK(owner.rejected == std::vector<errc>{errc::type_mismatch, errc::type_mismatch});
}

TEST_CASE("typed receive: nothing left is nothing returned, and nothing rejected") {
    fake_owner owner;
    CHECK_FALSE(owner.receive<int>(0ms).has_value());
    CHECK(owner.handed == 0);
    CHECK(owner.rejected.empty());
}

TEST_CASE("typed receive: a stray payload past the deadline ends the receive instead of waiting for more") {
    fake_owner owner;
    owner.payloads = {bytes_of({0xa1, 'x'}), bytes_of({0x07})};
    // The deadline has passed once the stray is rejected: the good payload behind it waits for the next call.
    CHECK_FALSE(owner.receive<int>(0ms).has_value());
    CHECK(owner.handed == 1);
    CHECK(owner.rejected.size() == 1);
    CHECK(owner.receive<int>(0ms) == std::optional<int>(7));
}

TEST_CASE("typed receive: the limits the owner lends are the ones decoding runs under") {
    fake_owner owner;
    owner.type = "bytes";
    owner.limits.max_decoded_bytes = 2;
    owner.payloads = {bytes_of({1, 2, 3}), bytes_of({4, 5})};
    CHECK(owner.receive<std::vector<std::byte>>(1s) == std::optional<std::vector<std::byte>>(bytes_of({4, 5})));
    CHECK(owner.rejected == std::vector<errc>{errc::limit_exceeded});
}

TEST_CASE("batch cursor: steps through bin8, bin16 and bin32 records in place, numbering each") {
    // Three records behind a 3-byte prefix: bin8 of 2 bytes, bin16 of 300 bytes, bin32 of 1 byte.
    std::vector<std::byte> frame = bytes_of({0xee, 0xee, 0xee});
    const auto append = [&](std::initializer_list<int> header, std::size_t size, int fill) {
        for (int h : header) frame.push_back(static_cast<std::byte>(h));
        frame.insert(frame.end(), size, static_cast<std::byte>(fill));
    };
    append({0xc4, 2}, 2, 0x11);
    append({0xc5, 0x01, 0x2c}, 300, 0x22);
    append({0xc6, 0, 0, 0, 1}, 1, 0x33);
    detail::batch_cursor b;
    b.frame = zmq::message_t(frame.data(), frame.size());
    b.next = 3;
    b.end = static_cast<std::uint32_t>(frame.size());
    b.next_id = 40;
    const std::array<std::pair<std::uint32_t, std::uint32_t>, 3> expected{{{5, 2}, {10, 300}, {315, 1}}};
    for (const auto& [offset, size] : expected) {
        REQUIRE(b.active());
        const auto r = b.take();
        CHECK(r.offset == offset);
        CHECK(r.size == size);
    }
    CHECK_FALSE(b.active());
    CHECK(b.next_id == 43);
}
