#pragma once
// Private: the reliable puller's memory of which tasks of one producer it has received.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace courier::reliable_detail {

/// Which of a producer's last `window` sequence numbers this puller has received: a ring of bits
/// that slides with the highest number seen. Memory: window / 8 bytes, rounded up to 8.
/// @par Thread safety: none; one per producer, owned by the puller's thread.
class duplicate_window {
public:
    /// `window` >= 1 (reliable_puller_options::dedup_window); rounded up to a multiple of 64.
    explicit duplicate_window(std::size_t window);

    /// Records `seq`; false if it was recorded before (a duplicate, counted in duplicates()). A
    /// number older than the window is not known either way and counts as new.
    bool record(std::uint64_t seq);

    /// Numbers record() answered false for.
    std::uint64_t duplicates() const noexcept { return duplicates_; }
    /// How many of the latest numbers are remembered (the window, rounded up).
    std::uint64_t size() const noexcept { return size_; }

private:
    void set(std::uint64_t s) noexcept { bits_[(s % size_) / 64] |= std::uint64_t{1} << (s % 64); }
    void clear(std::uint64_t s) noexcept { bits_[(s % size_) / 64] &= ~(std::uint64_t{1} << (s % 64)); }
    bool test(std::uint64_t s) const noexcept { return bits_[(s % size_) / 64] >> (s % 64) & 1; }

    std::vector<std::uint64_t> bits_;
    std::uint64_t size_;
    std::uint64_t high_ = 0;
    std::uint64_t duplicates_ = 0;
};

} // namespace courier::reliable_detail
