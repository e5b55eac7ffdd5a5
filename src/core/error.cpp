#include "courier/error.hpp"

namespace courier {
namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "courier"; }
    std::string message(int code) const override {
        switch (static_cast<errc>(code)) {
        case errc::invalid_option: return "invalid option";
        case errc::invalid_argument: return "invalid argument";
        case errc::truncated: return "truncated input";
        case errc::malformed: return "malformed input";
        case errc::unsupported_version: return "unsupported envelope version";
        case errc::limit_exceeded: return "decoding limit exceeded";
        case errc::type_mismatch: return "payload type mismatch";
        case errc::missing_frame: return "missing frame";
        case errc::message_too_large: return "message too large";
        case errc::remote_error: return "remote handler failed";
        case errc::closed: return "closed";
        case errc::zmq: return "libzmq error";
        case errc::timeout: return "timed out";
        case errc::unavailable: return "unavailable";
        case errc::full: return "queue full";
        case errc::storage: return "outbox storage failed";
        }
        return "unknown courier error";
    }
};

} // namespace

const std::error_category& error_category() noexcept {
    static const category instance;
    return instance;
}

} // namespace courier
