#pragma once
// courier's one error type, and the codes that say what went wrong.

#include <string>
#include <system_error>

namespace courier {

/// What went wrong. Expected outcomes (a timeout, a full queue) are returned as courier::status;
/// the codes timeout..full appear only when a caller asks a result without a value for its value.
enum class errc {
    invalid_option = 1,  ///< an options struct failed validation when the object was made
    invalid_argument,    ///< a bad argument to a call (empty method name, unknown endpoint scheme...)
    truncated,           ///< input ended before a field it declared was complete
    malformed,           ///< input is not what the wire format allows (wrong type, trailing bytes)
    unsupported_version, ///< envelope major version this build does not speak
    limit_exceeded,      ///< a declared length, count or depth is over the decoding limits
    type_mismatch,       ///< the payload cannot be read as the type asked for
    missing_frame,       ///< a multipart message lacks a frame its pattern requires
    message_too_large,   ///< a message is over the configured maximum size
    remote_error,        ///< the remote handler failed; the message is the remote's
    closed,              ///< the socket or its context was closed
    zmq,                 ///< libzmq reported an error (see the message for errno text)
    timeout,             ///< value() of a result that timed out
    unavailable,         ///< value() of a result whose peers could not be reached
    full,                ///< value() of a result refused because a bound was reached
    storage,             ///< the durable outbox could not be read or written
};

/// The category of courier::errc.
const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

/// Every failure courier reports is a courier::error. code() tells which kind, what() says
/// what was wrong in words (which field, which limit, which endpoint).
class error : public std::system_error {
public:
    error(errc code, const std::string& what) : std::system_error(make_error_code(code), what) {}
    /// The courier code; code() has the same value as a std::error_code.
    errc kind() const noexcept { return static_cast<errc>(code().value()); }
};

} // namespace courier

template <>
struct std::is_error_code_enum<courier::errc> : std::true_type {};
