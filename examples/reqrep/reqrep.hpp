#pragma once
// Request-reply: a server thread serving "price", "fail" and "slow", and a client that keeps
// several calls in flight, meets a remote error, an unknown method and a timeout, and goes on.
// run_reqrep() is the whole example; examples/reqrep/main.cpp and examples/demo/main.cpp call it.

#include <courier/courier.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace examples {

struct Quote {
    static constexpr std::string_view courier_type_name = "example.Quote";
    std::string symbol;
    std::uint64_t quantity = 0;
    MSGPACK_DEFINE_MAP(symbol, quantity)
};

struct Price {
    static constexpr std::string_view courier_type_name = "example.Price";
    std::string symbol;
    std::uint64_t quantity = 0;
    double unit = 0;
    double total = 0;
    MSGPACK_DEFINE_MAP(symbol, quantity, unit, total)
};

struct reqrep_config {
    std::uint64_t calls = 100;   ///< "price" calls
    std::size_t in_flight = 8;   ///< of them at once
    /// Each call's timeout (client_options::timeout), and the longest the slow handler waits.
    std::chrono::milliseconds deadline{2000};
    std::chrono::milliseconds short_timeout{100}; ///< the call to "slow", which outlasts it
};

struct reqrep_result {
    bool ok = false;
    std::string json; ///< one line of counts
};

namespace detail_reqrep {

inline constexpr std::array<std::string_view, 3> symbols{"EURUSD", "GBPUSD", "USDJPY"};

inline double unit_price(std::string_view symbol) {
    return symbol == "EURUSD" ? 1.08 : symbol == "GBPUSD" ? 1.27 : 151.5;
}

/// Stands in for a handler slower than its caller's timeout: "slow" answers only once the client
/// has given up on it (opened the gate), so the timeout happens every run, not by luck of timing.
class gate {
public:
    void open() {
        {
            std::lock_guard lock(mutex_);
            open_ = true;
        }
        cv_.notify_all();
    }
    void wait_for(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        cv_.wait_for(lock, timeout, [&] { return open_; });
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool open_ = false;
};

} // namespace detail_reqrep

/// Runs a server on its own thread and a client on the calling thread. Returns ok if every call
/// ended exactly as expected: price calls answered correctly, "fail" and an unknown method as
/// remote errors, "slow" as a timeout whose late reply is counted and dropped.
inline reqrep_result run_reqrep(courier::context& ctx, const reqrep_config& config, std::ostream& log) {
    using detail_reqrep::symbols;
    using detail_reqrep::unit_price;

    detail_reqrep::gate slow_gate;
    // One worker: requests are handled one at a time in arrival order, so the late reply of "slow"
    // always comes before the next call's answer and the counts below are exact. (With more
    // workers a slow handler hands the socket over and the others go on: see --flaky.)
    courier::server server(ctx, {.workers = 1});
    server.serve<Quote, Price>("price", [](const Quote& q) {
        const double unit = unit_price(q.symbol);
        return Price{.symbol = q.symbol, .quantity = q.quantity, .unit = unit,
                     .total = unit * static_cast<double>(q.quantity)};
    });
    // A handler that throws answers its caller with status::remote_error and the exception's text;
    // the server goes on serving.
    server.serve<Quote, Price>("fail", [](const Quote& q) -> Price {
        throw std::runtime_error("no price for " + q.symbol);
    });
    server.serve<Quote, Price>("slow", [&slow_gate, &config](const Quote& q) {
        slow_gate.wait_for(config.deadline);
        return Price{.symbol = q.symbol, .quantity = q.quantity};
    });
    const auto endpoint = server.bind("tcp://127.0.0.1:*");
    log << "[reqrep] server bound to " << endpoint << "\n";

    // From here on only the serving thread touches `server`; it is declared after the server,
    // so it is stopped and joined before the server is destroyed.
    std::string server_failure;
    std::jthread serving([&](std::stop_token stop) {
        try {
            server.run(stop);
        } catch (const std::exception& e) {
            server_failure = e.what();
        }
    });

    courier::client client(ctx, courier::client_options{.timeout = config.deadline});
    client.connect(endpoint); // no need to wait: requests queue until the connection is up

    // Many calls in flight: send() returns at once, wait() takes the reply to that call whatever
    // order replies come in. Keep `in_flight` outstanding, waiting for the oldest.
    std::uint64_t ok = 0, unanswered = 0, wrong = 0;
    std::size_t most_in_flight = 0;
    std::deque<std::pair<courier::pending_call, Quote>> window;
    auto finish_oldest = [&] {
        auto [call, quote] = std::move(window.front());
        window.pop_front();
        auto answer = client.wait<Price>(call);
        if (!answer) {
            if (unanswered++ == 0)
                log << "[reqrep] a price call ended " << to_string(answer.state()) << ": " << answer.detail() << "\n";
        } else if (answer.value().symbol != quote.symbol || answer.value().quantity != quote.quantity ||
                   answer.value().total != unit_price(quote.symbol) * static_cast<double>(quote.quantity)) {
            ++wrong;
        } else {
            ++ok;
        }
    };
    // Stop sending at the first failure: each call already sent still ends by its own deadline.
    for (std::uint64_t i = 0; i < config.calls && unanswered == 0; ++i) {
        Quote quote{.symbol = std::string(symbols[i % symbols.size()]), .quantity = i + 1};
        auto call = client.send("price", quote);
        window.emplace_back(std::move(call), std::move(quote));
        most_in_flight = std::max(most_in_flight, client.in_flight());
        if (window.size() >= config.in_flight) finish_oldest();
    }
    while (!window.empty()) finish_oldest();
    log << "[reqrep] " << ok << " of " << config.calls << " price calls answered, up to " << most_in_flight
        << " in flight at once\n";

    std::uint64_t remote_errors = 0, timeouts = 0;
    // A server that left price calls unanswered would leave these unanswered too: skip them rather
    // than wait out each one's timeout.
    if (unanswered == 0) {
        auto failed = client.call<Price>("fail", Quote{.symbol = "XAUUSD", .quantity = 1});
        log << "[reqrep] fail -> " << to_string(failed.state()) << ": \"" << failed.detail() << "\"\n";
        if (failed.state() == courier::status::remote_error && failed.detail() == "no price for XAUUSD")
            ++remote_errors;

        auto unknown = client.call<Price>("no_such_method", Quote{.symbol = "EURUSD", .quantity = 1});
        log << "[reqrep] no_such_method -> " << to_string(unknown.state()) << ": \"" << unknown.detail() << "\"\n";
        if (unknown.state() == courier::status::remote_error &&
            unknown.detail().find("no_such_method") != std::string::npos)
            ++remote_errors;

        // A call that outlasts its timeout ends with status::timeout; the client stays usable, and the
        // reply that comes later is counted (counters().late) and dropped.
        // retry = false: one attempt, so the call ends as a plain timeout (retried, it would end
        // `unavailable` once every attempt had timed out).
        auto slow = client.call<Price>("slow", Quote{.symbol = "EURUSD", .quantity = 1},
                                       courier::call_options{.timeout = config.short_timeout, .retry = false});
        log << "[reqrep] slow with a " << config.short_timeout.count() << " ms timeout -> " << to_string(slow.state())
            << "\n";
        if (slow.state() == courier::status::timeout) ++timeouts;
        slow_gate.open();
        auto after = client.call<Price>("price", Quote{.symbol = "GBPUSD", .quantity = 2});
        log << "[reqrep] the next call -> " << to_string(after.state());
        if (after) log << ", total " << after.value().total;
        log << "\n";
        if (!after) ++unanswered;
        else if (after.value().total != 2 * unit_price("GBPUSD")) ++wrong;
        else ++ok;
    }

    const auto client_counters = client.counters();
    serving.request_stop();
    serving.join();
    const auto server_counters = server.counters();
    if (!server_failure.empty()) log << "[reqrep] server failed: " << server_failure << "\n";

    const std::uint64_t calls = config.calls + 4;
    log << "[reqrep] client: sent " << client_counters.sent << ", replies " << client_counters.received
        << ", timed out " << client_counters.timed_out << ", late " << client_counters.late << "; server: received "
        << server_counters.received << ", answered " << server_counters.sent << ", failed "
        << server_counters.failed << "\n";

    reqrep_result result;
    result.ok = server_failure.empty() && ok == config.calls + 1 && unanswered == 0 && wrong == 0 &&
                remote_errors == 2 && timeouts == 1 &&
                most_in_flight == std::min<std::size_t>(config.in_flight, config.calls) &&
                client_counters.sent == calls && client_counters.received == calls - 1 &&
                client_counters.timed_out == 1 && client_counters.late == 1 && client_counters.rejected == 0 &&
                server_counters.received == calls && server_counters.sent == calls && server_counters.failed == 2 &&
                server_counters.unroutable == 0 && server_counters.rejected == 0;
    result.json = "{\"example\":\"reqrep\",\"calls\":" + std::to_string(calls) + ",\"ok\":" + std::to_string(ok) +
                  ",\"remote_error\":" + std::to_string(remote_errors) + ",\"timeout\":" + std::to_string(timeouts) +
                  ",\"late\":" + std::to_string(client_counters.late) +
                  ",\"unanswered\":" + std::to_string(unanswered) + ",\"wrong\":" + std::to_string(wrong) + "}";
    return result;
}

} // namespace examples
