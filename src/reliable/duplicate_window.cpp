#include "reliable/duplicate_window.hpp"

#include <algorithm>

namespace courier::reliable_detail {

duplicate_window::duplicate_window(std::size_t window)
    : bits_((std::max<std::size_t>(window, 1) + 63) / 64, 0), size_(bits_.size() * 64) {}

bool duplicate_window::record(std::uint64_t seq) {
    if (seq > high_) {
        const auto step = seq - high_;
        if (step >= size_) std::fill(bits_.begin(), bits_.end(), 0);
        else
            for (auto s = high_ + 1; s < seq; ++s) clear(s);
        high_ = seq;
        set(seq);
        return true;
    }
    if (high_ - seq >= size_) return true;
    if (test(seq)) {
        ++duplicates_;
        return false;
    }
    set(seq);
    return true;
}

} // namespace courier::reliable_detail
