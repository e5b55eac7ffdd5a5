#include "courier/codec.hpp"

#include <algorithm>

namespace courier::detail {

buffer& scratch() noexcept {
    thread_local buffer b;
    b.clear();
    return b;
}

namespace {

[[noreturn]] void too_many(const decode_limits& limits, std::size_t cap, const char* what) {
    if (cap < limits.max_elements)
        throw error(errc::truncated, std::string("payload: ") + what + " declares more elements than its " +
                                         std::to_string(cap) + "-byte input can hold");
    throw error(errc::limit_exceeded, std::string("payload: ") + what + " declares more than max_elements (" +
                                          std::to_string(limits.max_elements) + ") elements");
}

} // namespace

[[noreturn]] void decoded_too_large(std::uint64_t wanted, const decode_limits& limits) {
    throw error(errc::limit_exceeded, "payload: decoding it would take about " + std::to_string(wanted) +
                                          " bytes, over max_decoded_bytes (" +
                                          std::to_string(limits.max_decoded_bytes) + ")");
}

namespace {

// Counts `in` (one msgpack value); limit_exceeded if decoding it through msgpack-cxx would cost
// more than max_decoded_bytes.
void check_budget(std::span<const std::byte> in, const decode_limits& limits) {
    auto r = payload_reader(in, limits);
    const auto count = r.scan("payload", 0); // also refuses what unpack would refuse, earlier
    if (msgpack_cost(count) > limits.max_decoded_bytes) decoded_too_large(msgpack_cost(count), limits);
}

} // namespace

msgpack::zone& payload_zone() {
    thread_local msgpack::zone zone;
    zone.clear();
    return zone;
}

msgpack::object unpack_payload(std::span<const std::byte> in, const decode_limits& limits, msgpack::zone& zone) {
    // Every element takes at least one byte, so no count may exceed the input's size: the zone
    // never reserves more than a small multiple of the frame, whatever the input declares.
    const std::size_t size = in.size();
    // The same bound makes counting needless for all but large inputs: at most `size` values.
    constexpr std::uint64_t most_per_byte = msgpack_cost({1, 1});
    if (size > limits.max_decoded_bytes / most_per_byte) [[unlikely]]
        check_budget(in, limits);
    const msgpack::unpack_limit limit(std::min(limits.max_elements, size),     // array
                                      std::min(limits.max_elements, size / 2), // map
                                      size, size, size,                        // str, bin, ext
                                      limits.max_depth);
    std::size_t offset = 0;
    bool referenced = false;
    msgpack::object object;
    try {
        // Strings, bins and exts are referenced in `in`, not copied into the zone: the object
        // is converted before the caller's input goes away.
        object = msgpack::unpack(zone, reinterpret_cast<const char*>(in.data()), size, offset, referenced,
                                 [](msgpack::type::object_type, std::size_t, void*) { return true; }, nullptr,
                                 limit);
    } catch (const msgpack::insufficient_bytes&) {
        throw error(errc::truncated, "payload: input ends before the msgpack value it declares (" +
                                         std::to_string(size) + " bytes)");
    } catch (const msgpack::array_size_overflow&) {
        too_many(limits, size, "an array");
    } catch (const msgpack::map_size_overflow&) {
        too_many(limits, size / 2, "a map");
    } catch (const msgpack::depth_size_overflow&) {
        throw error(errc::limit_exceeded, "payload: nested deeper than " + std::to_string(limits.max_depth));
    } catch (const msgpack::size_overflow& e) {
        throw error(errc::limit_exceeded, std::string("payload: a declared length or count is over the limit (") +
                                              e.what() + ")");
    } catch (const msgpack::parse_error& e) {
        throw error(errc::malformed, std::string("payload: not valid msgpack (") + e.what() + ")");
    } catch (const msgpack::unpack_error& e) {
        throw error(errc::malformed, std::string("payload: ") + e.what());
    }
    if (offset != size)
        throw error(errc::malformed, "payload: " + std::to_string(size - offset) +
                                         " bytes after the msgpack value");
    return object;
}

void throw_type_mismatch(std::string_view sent, std::string_view wanted, const char* why) {
    throw error(errc::type_mismatch, "payload sent as '" + std::string(sent) + "' cannot be read as '" +
                                         std::string(wanted) + "': " + why);
}

void unpack_member(reader& r, const char* field, std::size_t depth, msgpack::object& out) {
    const auto start = r.position();
    // Validates the value under the limits before msgpack-cxx sees it, and counts what it costs.
    r.charge(msgpack_cost(r.scan(field, depth)), field);
    decode_limits limits;
    limits.max_elements = r.limits().max_elements;
    limits.max_depth = std::max<std::size_t>(1, r.limits().max_depth - std::min(depth, r.limits().max_depth));
    limits.max_decoded_bytes = SIZE_MAX; // charged above
    out = unpack_payload({start, r.position()}, limits, payload_zone());
}

} // namespace courier::detail
