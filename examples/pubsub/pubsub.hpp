#pragma once
// Publish-subscribe: a publisher of typed price ticks and news, and a subscriber that wants prices
// only. run_pubsub() is the whole example; examples/pubsub/main.cpp and examples/demo/main.cpp call it.

#include <courier/courier.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <iostream>
#include <cstdint>
#include <exception>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace examples {

/// A price tick. MSGPACK_DEFINE_MAP sends its fields as a msgpack map; the declared type name
/// travels in the envelope, so a receiver (in any language) can tell what it is getting.
struct Tick {
    static constexpr std::string_view courier_type_name = "example.Tick";
    std::string symbol;
    std::uint64_t seq = 0; ///< per symbol, counting from 0
    double bid = 0;
    double ask = 0;
    MSGPACK_DEFINE_MAP(symbol, seq, bid, ask)
};

struct News {
    static constexpr std::string_view courier_type_name = "example.News";
    std::string headline;
    MSGPACK_DEFINE_MAP(headline)
};

/// Published on "sync" after the last tick: the subscriber stops when it arrives.
struct Sync {
    static constexpr std::string_view courier_type_name = "example.Sync";
    bool end = false;
    MSGPACK_DEFINE_MAP(end)
};

struct pubsub_config {
    std::uint64_t ticks_per_symbol = 500; ///< 2 symbols: 1000 ticks in one burst
    std::uint64_t news = 100;
    /// Bounds each wait: for the subscriber to be subscribed, and for everything to arrive.
    std::chrono::milliseconds deadline{5000};
};

struct pubsub_result {
    bool ok = false;
    std::string json; ///< one line of counts
};

namespace detail_pubsub {

inline constexpr std::array<std::string_view, 2> symbols{"EURUSD", "GBPUSD"};

struct subscriber_report {
    std::map<std::string, std::vector<unsigned>, std::less<>> arrivals; ///< symbol -> times each seq came
    std::uint64_t ticks = 0, out_of_order = 0, stray = 0, syncs = 0;
    bool ended = false;
    courier::counters counters{};
    std::string failure;
};

/// The subscriber thread: owns its socket from creation to close.
inline void subscribe_to_prices(courier::context& ctx, const std::string& endpoint, const pubsub_config& config,
                                subscriber_report& report) {
    try {
        // Every message carries its publisher's id and its topic's sequence number, so the
        // subscriber counts what it missed (counters().gaps) and can be told at once.
        courier::subscriber sub(ctx, courier::subscriber_options{.on_gap = [](const courier::gap& g) {
            std::cerr << "[pubsub] missed " << g.count << " message(s) on " << g.topic << "\n";
        }});
        std::map<std::string, std::uint64_t, std::less<>> next_seq;
        // on<T>(prefix, handler) subscribes to the prefix and decodes each message as a T. "news."
        // is not subscribed: the publisher never even sends it to this subscriber.
        sub.on<Tick>("prices.", [&](std::string_view topic, const Tick& tick) {
            ++report.ticks;
            if (topic != "prices." + tick.symbol) ++report.stray;
            auto& seen = report.arrivals[tick.symbol];
            seen.resize(config.ticks_per_symbol);
            if (tick.seq < seen.size()) ++seen[tick.seq];
            else ++report.stray;
            auto& expected = next_seq[tick.symbol];
            if (tick.seq != expected) ++report.out_of_order;
            expected = tick.seq + 1;
        });
        sub.on<Sync>("sync", [&](std::string_view, const Sync& sync) {
            ++report.syncs;
            if (sync.end) report.ended = true;
        });
        // Subscribed before connecting: the publisher counts this subscriber once its
        // subscriptions have arrived (wait_for_subscribers).
        sub.connect(endpoint);

        const auto deadline = std::chrono::steady_clock::now() + 2 * config.deadline;
        while (!report.ended) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left <= std::chrono::milliseconds::zero()) break;
            sub.dispatch(left);
        }
        report.counters = sub.counters();
    } catch (const std::exception& e) {
        report.failure = e.what();
    }
}

} // namespace detail_pubsub

/// Publishes ticks on "prices.EURUSD" and "prices.GBPUSD" and news on "news."; one subscriber,
/// on its own thread, subscribes to "prices." and "sync" only. Returns ok if every tick arrived
/// exactly once and in order, and no news arrived.
inline pubsub_result run_pubsub(courier::context& ctx, const pubsub_config& config, std::ostream& log) {
    using detail_pubsub::symbols;

    // A lossy publisher (the default) drops what would put a subscriber more than send_hwm messages
    // behind; the subscriber counts it as a gap. The publisher learns how far a subscriber has read
    // only lazily, so within a burst count on send_hwm alone: it is sized here for the whole run.
    // (delivery = courier::delivery::lossless would wait for room instead.)
    const auto burst = 2 * config.ticks_per_symbol + 100;
    courier::publisher pub(ctx, courier::publisher_options{
                                    .socket = {.send_hwm = static_cast<int>(std::max<std::uint64_t>(burst, 1000))}});
    const auto endpoint = pub.bind("tcp://127.0.0.1:*");
    log << "[pubsub] publisher bound to " << endpoint << "\n";

    detail_pubsub::subscriber_report report;
    std::jthread subscriber_thread([&] { detail_pubsub::subscribe_to_prices(ctx, endpoint, config, report); });

    // A subscriber receives only what is published after its subscriptions reached the publisher;
    // earlier messages are dropped (the "slow joiner"). Rather than sleeping and hoping, wait until
    // the publisher has seen them: from then on every tick reaches it, in order.
    const bool synced = pub.wait_for_subscribers(1, config.deadline) == courier::status::ok;
    if (!synced) log << "[pubsub] the subscriber was not subscribed within " << config.deadline.count() << " ms\n";
    else log << "[pubsub] " << pub.subscribers() << " subscriber(s) subscribed\n";

    // Lossy publishing never blocks. Every tick fits within send_hwm, so none can be dropped here; with
    // the default send_hwm (1000), the last ticks of this burst would be lost most runs.
    std::uint64_t ticks_sent = 0, news_sent = 0;
    if (synced) {
        for (std::uint64_t seq = 0; seq < config.ticks_per_symbol; ++seq) {
            for (auto symbol : symbols) {
                const double mid = (symbol == "EURUSD" ? 1.08 : 1.27) + static_cast<double>(seq % 100) * 1e-5;
                // Lossy and unbatched: never waits, so anything but ok would be a bug worth seeing.
                if (pub.publish("prices." + std::string(symbol),
                                Tick{.symbol = std::string(symbol), .seq = seq, .bid = mid - 5e-5, .ask = mid + 5e-5}) ==
                    courier::status::ok)
                    ++ticks_sent;
            }
            if (news_sent < config.news) {
                if (pub.publish("news.", News{.headline = "headline " + std::to_string(news_sent)}) == courier::status::ok)
                    ++news_sent;
            }
        }
        if (pub.publish("sync", Sync{.end = true}) != courier::status::ok) log << "[pubsub] the end marker was not sent\n";
    }
    subscriber_thread.join();

    std::uint64_t lost = 0, duplicated = 0;
    for (auto symbol : symbols) {
        auto it = report.arrivals.find(symbol);
        for (std::uint64_t seq = 0; seq < config.ticks_per_symbol; ++seq) {
            const unsigned n = it == report.arrivals.end() ? 0 : it->second[seq];
            if (n == 0) ++lost;
            else duplicated += n - 1;
        }
    }
    // Everything the subscriber was handed or rejected, minus ticks and sync messages: news, if any.
    const std::uint64_t other = report.counters.received + report.counters.rejected - report.ticks - report.syncs;

    if (!report.failure.empty()) log << "[pubsub] subscriber failed: " << report.failure << "\n";
    log << "[pubsub] published " << ticks_sent << " ticks and " << news_sent << " news; subscriber got "
        << report.ticks << " ticks, " << other << " other messages; it knows of " << report.counters.gaps
        << " missed\n";

    pubsub_result result;
    result.ok = synced && report.failure.empty() && report.ended && ticks_sent == 2 * config.ticks_per_symbol &&
                report.ticks == ticks_sent && lost == 0 && duplicated == 0 && report.out_of_order == 0 &&
                report.stray == 0 && other == 0 && report.counters.gaps == 0;
    result.json = "{\"example\":\"pubsub\",\"sent\":" + std::to_string(ticks_sent) +
                  ",\"received\":" + std::to_string(report.ticks) + ",\"lost\":" + std::to_string(lost) +
                  ",\"duplicated\":" + std::to_string(duplicated) +
                  ",\"out_of_order\":" + std::to_string(report.out_of_order) +
                  ",\"gaps\":" + std::to_string(report.counters.gaps) +
                  ",\"news_published\":" + std::to_string(news_sent) + ",\"news_received\":" + std::to_string(other) +
                  "}";
    return result;
}

} // namespace examples
