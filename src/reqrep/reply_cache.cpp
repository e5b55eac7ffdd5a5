#include "reqrep/reply_cache.hpp"

namespace courier::detail {

reply_cache::state reply_cache::begin(const std::string& key, zmq::message_t& reply,
                                      std::chrono::steady_clock::time_point now) {
    forget_old(now);
    auto [it, inserted] = entries_.try_emplace(key);
    if (!inserted) {
        if (!it->second.answered) return state::running;
        reply.copy(it->second.reply);
        return state::answered;
    }
    it->second.seq = ++seq_;
    order_.push_back({key, it->second.seq, now});
    forget_over_bounds();
    return state::absent;
}

void reply_cache::complete(const std::string& key, zmq::message_t& reply) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    if (reply.size() > limits_.bytes) { // cannot be kept: a retry runs the handler again
        entries_.erase(it);
        return;
    }
    it->second.reply.copy(reply);
    it->second.answered = true;
    it->second.bytes = reply.size();
    bytes_ += reply.size();
    forget_over_bounds();
}

void reply_cache::forget_old(std::chrono::steady_clock::time_point now) {
    while (!order_.empty() && order_.front().at + limits_.window <= now) pop(false);
}

void reply_cache::forget_over_bounds() {
    while (!order_.empty() && (entries_.size() > limits_.entries || bytes_ > limits_.bytes)) pop(true);
}

void reply_cache::pop(bool early) {
    auto& p = order_.front();
    if (auto it = entries_.find(p.key); it != entries_.end() && it->second.seq == p.seq) {
        bytes_ -= it->second.bytes;
        entries_.erase(it);
        if (early && evictions_ != nullptr) ++*evictions_;
    }
    order_.pop_front();
}

} // namespace courier::detail
