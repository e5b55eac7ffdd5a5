#include "courier/envelope.hpp"

#include "courier/detail/reader.hpp"
#include "courier/error.hpp"

#include <string>
#include <utility>

namespace courier {

namespace {

constexpr std::uint32_t v1_fields = 10;

envelope_layout::range range_of(std::span<const std::byte> frame, const void* p, std::size_t n) {
    return {static_cast<std::uint32_t>(static_cast<const std::byte*>(p) - frame.data()),
            static_cast<std::uint32_t>(n)};
}

std::string_view bounded_name(detail::reader& r, const char* field, const decode_limits& limits) {
    auto s = r.str(field);
    if (s.size() > limits.max_name)
        throw error(errc::limit_exceeded, std::string("envelope field '") + field + "': " +
                                              std::to_string(s.size()) + " bytes, limit is " +
                                              std::to_string(limits.max_name));
    return s;
}

} // namespace

void decode_limits::validate() const {
    const std::pair<const char*, std::size_t> at_least_one[] = {
        {"max_headers", max_headers}, {"max_name", max_name},           {"max_depth", max_depth},
        {"max_elements", max_elements}, {"max_batch", max_batch}, {"max_decoded_bytes", max_decoded_bytes}};
    for (const auto& [field, value] : at_least_one)
        if (value == 0)
            throw error(errc::invalid_option, std::string("decode_limits.") + field + " must be at least 1, not 0");
    if (max_depth > 64)
        throw error(errc::invalid_option,
                    "decode_limits.max_depth must be 1 .. 64, not " + std::to_string(max_depth));
}

envelope_layout envelope::parse(std::span<const std::byte> frame, const decode_limits& limits) {
    if (frame.size() > UINT32_MAX)
        throw error(errc::limit_exceeded, "envelope: frame over 4 GiB");
    // Containers are checked only in skipped extension fields, by depth (the envelope's own
    // counts are checked against their own limits, or fail at the end of input).
    detail::reader r(frame, detail::wire_part::envelope, {.max_depth = limits.max_depth});
    envelope_layout out;
    auto fields = r.array_header("envelope");
    if (fields < 2)
        throw error(errc::malformed, "envelope: array of " + std::to_string(fields) +
                                         " fields, a v1 envelope has " + std::to_string(v1_fields));
    auto major = r.uint("major version");
    if (major != wire_major)
        throw error(errc::unsupported_version, "envelope: major version " + std::to_string(major) +
                                                   " is not supported (this build reads " +
                                                   std::to_string(wire_major) + ")");
    auto minor = r.uint("minor version");
    if (fields < v1_fields)
        throw error(errc::malformed, "envelope: array of " + std::to_string(fields) +
                                         " fields, a v1 envelope has at least " + std::to_string(v1_fields));
    out.minor = static_cast<unsigned>(minor > 0xffff ? 0xffff : minor);
    auto k = r.uint("kind");
    if (k < 1 || k > 6) throw error(errc::malformed, "envelope field 'kind': unknown kind " + std::to_string(k));
    out.kind = static_cast<courier::kind>(k);
    out.id = r.uint("message id");
    out.correlation_id = r.uint("correlation id");
    out.timestamp_ns = r.integer<std::int64_t>("timestamp");
    auto type = bounded_name(r, "type name", limits);
    out.type_name = range_of(frame, type.data(), type.size());
    auto subject = bounded_name(r, "subject", limits);
    out.subject = range_of(frame, subject.data(), subject.size());

    auto count = r.map_header("headers");
    if (count > limits.max_headers)
        throw error(errc::limit_exceeded, "envelope field 'headers': " + std::to_string(count) +
                                              " entries, limit is " + std::to_string(limits.max_headers));
    auto headers_begin = r.position();
    for (std::uint32_t i = 0; i < count; ++i) {
        bounded_name(r, "header name", limits);
        r.str("header value");
    }
    out.headers = range_of(frame, headers_begin, static_cast<std::size_t>(r.position() - headers_begin));
    out.header_count = count;

    auto payload = r.bin("payload");
    out.payload = range_of(frame, payload.data(), payload.size());
    if (out.kind == kind::batch) {
        // Validate every record now, so a bad batch is rejected whole and never half delivered.
        detail::reader records(payload);
        std::size_t count = 0;
        while (records.remaining() != 0) {
            if (++count > limits.max_batch)
                throw error(errc::limit_exceeded, "batch: more than max_batch (" + std::to_string(limits.max_batch) +
                                                      ") messages");
            records.bin("batch record");
        }
        if (count == 0) throw error(errc::malformed, "batch: no messages");
        out.batch_count = static_cast<std::uint32_t>(count);
    }

    for (auto extra = fields - v1_fields; extra != 0; --extra) r.skip("extension field", 0);
    if (r.remaining() != 0)
        throw error(errc::malformed, "envelope: " + std::to_string(r.remaining()) +
                                         " bytes after the envelope's last field");
    return out;
}

envelope envelope::decode(std::span<const std::byte> frame, const decode_limits& limits) {
    return {frame, parse(frame, limits)};
}

header_view::iterator::iterator(const std::byte* pos, const std::byte* end, std::size_t left)
    : pos_(pos), end_(end), left_(left) {
    load();
}

void header_view::iterator::load() {
    if (left_ == 0) return;
    detail::reader r({pos_, static_cast<std::size_t>(end_ - pos_)});
    current_.name = r.str("header name");
    current_.value = r.str("header value");
    pos_ = r.position();
}

header_view::iterator& header_view::iterator::operator++() {
    --left_;
    load();
    return *this;
}

std::optional<std::string_view> header_view::find(std::string_view name) const {
    for (auto h : *this)
        if (h.name == name) return h.value;
    return std::nullopt;
}

std::int64_t now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

} // namespace courier
