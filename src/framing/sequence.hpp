#pragma once
// Private: per-topic sequence numbers of a publisher, and the subscriber's record of the last
// number heard per (publisher, topic), which is how it counts what it missed.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace courier::detail {

/// A map from (tag, key) to V holding at most `limit` entries: beyond it, the least recently used
/// half is forgotten (amortised O(1): one scan per limit/2 inserts). The last entry used is
/// remembered, so a key that repeats costs a compare instead of a hash.
/// @par Thread safety: none; its owner serialises access.
template <class V>
class recent_map {
public:
    explicit recent_map(std::size_t limit) : limit_(limit < 1 ? 1 : limit) {}
    // The cache points into map_'s nodes: a copy would point into the original's, and a moved-from
    // map must not keep pointing into the nodes it gave away.
    recent_map(const recent_map&) = delete;
    recent_map& operator=(const recent_map&) = delete;
    recent_map(recent_map&& other) noexcept
        : map_(std::move(other.map_)), last_(std::exchange(other.last_, nullptr)), last_tag_(other.last_tag_),
          last_key_(other.last_key_), tick_(other.tick_), limit_(other.limit_) {}
    recent_map& operator=(recent_map&& other) noexcept {
        map_ = std::move(other.map_);
        last_ = std::exchange(other.last_, nullptr);
        last_tag_ = other.last_tag_;
        last_key_ = other.last_key_;
        tick_ = other.tick_;
        limit_ = other.limit_;
        return *this;
    }

    /// The value of (tag, key); value-initialised, with `fresh` set, if it was not there.
    V& at(std::uint64_t tag, std::string_view key, bool& fresh) {
        fresh = false;
        if (last_ != nullptr && last_tag_ == tag && last_key_ == key) [[likely]] {
            last_->used = ++tick_;
            return last_->value;
        }
        return find_or_add(tag, key, fresh);
    }
    std::size_t size() const noexcept { return map_.size(); }

private:
    /// The hashed path, out of line so that the cached one above inlines into its caller.
    [[gnu::noinline]] V& find_or_add(std::uint64_t tag, std::string_view key, bool& fresh) {
        scratch_.resize(sizeof tag + key.size());
        std::memcpy(scratch_.data(), &tag, sizeof tag);
        if (!key.empty()) std::memcpy(scratch_.data() + sizeof tag, key.data(), key.size());
        auto it = map_.find(scratch_);
        if (it == map_.end()) {
            if (map_.size() >= limit_) forget_oldest_half();
            it = map_.emplace(scratch_, slot{}).first;
            fresh = true;
        }
        last_ = &it->second;
        last_tag_ = tag;
        last_key_ = std::string_view(it->first).substr(sizeof tag); // the node's key: stable
        last_->used = ++tick_;
        return last_->value;
    }

    struct slot {
        V value{};
        std::uint64_t used = 0;
    };
    void forget_oldest_half() {
        std::vector<std::uint64_t> ticks;
        ticks.reserve(map_.size());
        for (const auto& [key, s] : map_) ticks.push_back(s.used);
        auto middle = ticks.begin() + static_cast<std::ptrdiff_t>((ticks.size() - 1) / 2);
        std::nth_element(ticks.begin(), middle, ticks.end());
        const auto cutoff = *middle; // ticks are unique: exactly the older half (rounded up) goes
        std::erase_if(map_, [&](const auto& entry) { return entry.second.used <= cutoff; });
        last_ = nullptr;
    }

    std::unordered_map<std::string, slot> map_; // key: the tag's 8 bytes, then the key
    slot* last_ = nullptr;                       // nodes never move, so this stays valid until erased
    std::uint64_t last_tag_ = 0;
    std::string_view last_key_;
    std::uint64_t tick_ = 0;
    std::size_t limit_;
    std::string scratch_;
};

/// A publisher's sequence numbers: each topic counts its messages from 1, so a subscriber that
/// gets only some topics (prefix subscriptions) sees no false gaps. A topic forgotten beyond
/// max_topics starts again from 1, which subscribers take as a new start, not a gap.
/// @par Thread safety: none; the publisher's socket lock (or its one thread) guards it.
class topic_sequences {
public:
    topic_sequences(std::uint64_t publisher_id, std::size_t max_topics)
        : id_(publisher_id), last_(max_topics) {}

    /// Random, never 0: travels as the envelope's correlation id (0 means "not numbered").
    std::uint64_t publisher_id() const noexcept { return id_; }
    /// The last number used on `topic` (0: none yet); the caller adds what it sent.
    std::uint64_t& last(std::string_view topic) {
        bool fresh;
        return last_.at(0, topic, fresh);
    }
    /// Takes `count` numbers on `topic`; returns the first.
    std::uint64_t take(std::string_view topic, std::uint64_t count) {
        auto& l = last(topic);
        const auto first = l + 1;
        l += count;
        return first;
    }

private:
    std::uint64_t id_;
    recent_map<std::uint64_t> last_;
};

/// A subscriber's last sequence number per (publisher id, topic). The first message of a stream
/// sets the baseline; after that, a number more than one ahead tells how many were missed. A
/// number not ahead (the publisher forgot the topic and started again) sets a new baseline.
/// @par Thread safety: none; owned by one subscriber.
class stream_tracker {
public:
    explicit stream_tracker(std::size_t max_streams) : last_(max_streams) {}

    /// Notes message `sequence` of (publisher, topic); returns how many came before it unseen.
    std::uint64_t note(std::uint64_t publisher, std::string_view topic, std::uint64_t sequence) {
        bool fresh;
        auto& last = last_.at(publisher, topic, fresh);
        const auto before = last;
        last = sequence;
        if (fresh || sequence <= before) return 0;
        return sequence - before - 1;
    }
    std::size_t size() const noexcept { return last_.size(); }

private:
    recent_map<std::uint64_t> last_;
};

} // namespace courier::detail
