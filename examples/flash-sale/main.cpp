// Flash sale: 100 items, 10,000 buyers at the same moment. The shop front answers every buyer at
// once: "sold out" once every item is spoken for, "try later" while the bounded order queue is
// full, otherwise "order taken". Order workers take the queued orders and sell the stock exactly once.
// Prints one JSON line; exits 0 only if exactly the stock was sold and every order taken was
// processed exactly once.

#include <courier/courier.hpp>
#include <courier/reliable.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

struct Order {
    static constexpr std::string_view courier_type_name = "example.Order";
    std::uint32_t buyer = 0;
    MSGPACK_DEFINE_MAP(buyer)
};

constexpr int stock_size = 100;
constexpr int buyers = 10000;
constexpr int buyer_threads = 4;
constexpr int order_workers = 2;
constexpr std::size_t queue_bound = 20; // orders taken and not yet processed, at most

enum class answer { taken, try_later, sold_out };

/// What the order workers did, by buyer: who got an item, and whose order found none left (never,
/// since the front claims an item per order; counted to prove it).
struct sales {
    std::mutex mu;
    std::vector<std::uint32_t> sold, too_late;
};

/// An order worker: takes one item off the stock for each order while any is left. The stock is an
/// atomic shared by all workers (in a real shop, a row updated in the database).
void process_orders(courier::context& ctx, const std::string& queue, std::atomic<int>& stock, sales& book,
                    std::stop_token stop) {
    courier::reliable_puller orders(ctx, {.window = 8});
    orders.connect(queue);
    while (!stop.stop_requested()) {
        auto task = orders.receive(50ms); // wakes at least every 50 ms to check `stop`
        if (!task) continue;
        const auto order = task->as<Order>();
        int left = stock.load();
        while (left > 0 && !stock.compare_exchange_weak(left, left - 1)) {
        }
        if (left > 0) std::this_thread::sleep_for(200us); // charging the card: this sleep is the work
        {
            std::lock_guard lock(book.mu);
            (left > 0 ? book.sold : book.too_late).push_back(order.buyer);
        }
        orders.ack(*task); // processed: the queue may forget it and take another
    }
}

/// What the buyers heard: counts of each answer, and the slowest answer.
struct heard {
    std::uint64_t taken = 0, try_later = 0, sold_out = 0;
    steady::duration slowest{};
};

int main() {
    try {
        courier::context ctx;
        std::atomic<int> stock{stock_size};
        courier::reliable_pusher queue(ctx, {.max_pending = queue_bound});
        const auto queue_at = queue.bind("inproc://flash-sale-orders");

        // The front: never waits. It claims an item before it queues an order, so that no order is
        // queued for an item that does not exist: once all are claimed, the answer is "sold out".
        std::atomic<int> claimed{0};
        auto buy = [&](std::uint32_t buyer) {
            int c = claimed.load();
            do {
                if (c >= stock_size) return answer::sold_out;
            } while (!claimed.compare_exchange_weak(c, c + 1));
            if (queue.try_push(Order{buyer}) == courier::status::ok) return answer::taken;
            claimed.fetch_sub(1); // the queue is full: the claim goes back, this buyer tries again later
            return answer::try_later;
        };

        sales book;
        std::vector<std::jthread> workers;
        for (int w = 0; w < order_workers; ++w)
            workers.emplace_back([&](std::stop_token stop) { process_orders(ctx, queue_at, stock, book, stop); });

        // The burst: every buyer asks until the answer is "order taken" or "sold out".
        std::vector<heard> heard_by(buyer_threads);
        {
            std::vector<std::jthread> crowd;
            for (int t = 0; t < buyer_threads; ++t)
                crowd.emplace_back([&, t] {
                    auto& h = heard_by[static_cast<std::size_t>(t)];
                    std::vector<std::uint32_t> waiting;
                    for (auto b = static_cast<std::uint32_t>(t); b < buyers; b += buyer_threads) waiting.push_back(b);
                    while (!waiting.empty()) {
                        std::vector<std::uint32_t> again;
                        for (auto b : waiting) {
                            const auto asked = steady::now();
                            const auto a = buy(b);
                            h.slowest = std::max(h.slowest, steady::now() - asked);
                            if (a == answer::taken) {
                                ++h.taken;
                            } else if (a == answer::sold_out) {
                                ++h.sold_out;
                            } else {
                                ++h.try_later;
                                again.push_back(b); // comes back for another go
                            }
                        }
                        waiting.swap(again);
                        if (!waiting.empty()) std::this_thread::sleep_for(1ms); // "later": the buyers wait a moment
                    }
                });
        } // joins the buyers
        const bool drained = queue.drain(10s) == courier::status::ok; // every order taken is processed
        workers.clear(); // stops and joins them

        heard total;
        for (const auto& h : heard_by) {
            total.taken += h.taken, total.try_later += h.try_later, total.sold_out += h.sold_out;
            total.slowest = std::max(total.slowest, h.slowest);
        }
        std::set<std::uint32_t> processed_buyers(book.sold.begin(), book.sold.end());
        processed_buyers.insert(book.too_late.begin(), book.too_late.end());
        const auto processed = book.sold.size() + book.too_late.size();
        const auto duplicated = processed - processed_buyers.size();
        const auto lost = total.taken - std::min<std::uint64_t>(total.taken, processed_buyers.size());
        const auto sent = total.taken + total.try_later + total.sold_out;
        const auto slowest_us = std::chrono::duration_cast<std::chrono::microseconds>(total.slowest).count();
        std::cout << "[flash-sale] " << buyers << " buyers asked " << sent << " times: " << book.sold.size()
                  << " bought, " << total.sold_out << " heard \"sold out\" at once, " << book.too_late.size()
                  << " found none left; \"try later\" " << total.try_later << " times; slowest answer " << slowest_us
                  << " us\n";
        std::cout << "{\"example\":\"flash-sale\",\"sent\":" << sent << ",\"processed\":" << processed
                  << ",\"lost\":" << lost << ",\"duplicated\":" << duplicated << ",\"rejected\":" << total.try_later
                  << ",\"buyers\":" << buyers << ",\"stock\":" << stock_size << ",\"accepted\":" << total.taken
                  << ",\"sold\":" << book.sold.size() << ",\"sold_out\":" << total.sold_out
                  << ",\"too_late\":" << book.too_late.size() << ",\"try_later\":" << total.try_later
                  << ",\"answer_max_us\":" << slowest_us << "}" << std::endl;
        const bool balanced = book.sold.size() == stock_size && book.too_late.empty() && processed == total.taken &&
                              lost == 0 && duplicated == 0 && total.taken + total.sold_out == buyers &&
                              queue.counters().refused == total.try_later && stock.load() == 0;
        return drained && balanced ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "flash-sale: " << e.what() << "\n";
        return 2;
    }
}
