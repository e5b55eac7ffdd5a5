#pragma once
// Pipeline: a ventilator pushes typed tasks round-robin to workers, each worker pushes its result
// to a sink, and the sink checks that every task came back exactly once. run_pipeline() is the
// whole example; examples/pipeline/main.cpp and examples/demo/main.cpp call it.

#include <courier/courier.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <numeric>
#include <ostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace examples {

struct Task {
    static constexpr std::string_view courier_type_name = "example.Task";
    std::uint64_t id = 0;
    std::vector<std::int64_t> numbers;
    MSGPACK_DEFINE_MAP(id, numbers)
};

struct Result {
    static constexpr std::string_view courier_type_name = "example.Result";
    std::uint64_t task_id = 0;
    std::uint32_t worker = 0;
    std::int64_t sum = 0;
    MSGPACK_DEFINE_MAP(task_id, worker, sum)
};

struct pipeline_config {
    std::uint64_t tasks = 999;
    std::uint32_t workers = 3;
    /// Bounds each wait: for the workers to connect, and for every result to reach the sink.
    std::chrono::milliseconds deadline{5000};
};

struct pipeline_result {
    bool ok = false;
    std::string json; ///< one line of counts
};

namespace detail_pipeline {

inline Task make_task(std::uint64_t id) {
    Task task{.id = id, .numbers = {}};
    for (std::uint64_t i = 0; i < 8; ++i) task.numbers.push_back(static_cast<std::int64_t>(id * 10 + i));
    return task;
}

inline std::int64_t expected_sum(std::uint64_t id) {
    const auto numbers = make_task(id).numbers;
    return std::accumulate(numbers.begin(), numbers.end(), std::int64_t{0});
}

/// Counts completed connections to a socket through a libzmq socket monitor. A PUSH socket that
/// binds distributes only among the pullers whose connection is complete, so the ventilator waits
/// for all of them instead of sleeping; otherwise the first worker to connect gets the first tasks.
class handshake_counter : public zmq::monitor_t {
public:
    handshake_counter(zmq::socket_t& socket, const char* monitor_endpoint) {
        init(socket, monitor_endpoint, ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
    }
    /// True once `n` handshakes have completed, false if the deadline passed first.
    bool wait_for(int n, std::chrono::steady_clock::time_point deadline) {
        while (count_ < n) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left <= std::chrono::milliseconds::zero()) return false;
            check_event(static_cast<int>(left.count()));
        }
        return true;
    }

private:
    void on_event_handshake_succeeded(const zmq_event_t&, const char*) override { ++count_; }
    int count_ = 0;
};

struct worker_report {
    std::uint64_t done = 0, push_timeouts = 0;
    std::string failure;
};

/// A worker thread: its two sockets live and die in it. Runs until asked to stop.
inline void work(courier::context& ctx, const std::string& tasks_endpoint, const std::string& results_endpoint,
                 std::uint32_t worker, std::stop_token stop, worker_report& report) {
    using namespace std::chrono_literals;
    try {
        courier::puller tasks(ctx);
        tasks.connect(tasks_endpoint);
        courier::pusher results(ctx);
        results.connect(results_endpoint);
        while (!stop.stop_requested()) {
            auto task = tasks.receive<Task>(50ms); // wakes up to check `stop` at least every 50 ms
            if (!task) continue;
            const auto sum = std::accumulate(task->numbers.begin(), task->numbers.end(), std::int64_t{0});
            if (results.push(Result{.task_id = task->id, .worker = worker, .sum = sum}) == courier::status::ok)
                ++report.done;
            else
                ++report.push_timeouts;
        }
    } catch (const std::exception& e) {
        report.failure = e.what();
    }
}

struct sink_report {
    std::uint64_t received = 0, distinct = 0, duplicated = 0, stray = 0, wrong = 0;
    std::vector<std::uint64_t> per_worker;
    std::string failure;
};

/// The sink thread: receives results until every task came back once, or the deadline.
inline void collect(courier::puller& sink, const pipeline_config& config,
                    std::chrono::steady_clock::time_point deadline, sink_report& report) {
    try {
        std::vector<unsigned> seen(config.tasks + 1);
        report.per_worker.assign(config.workers, 0);
        while (report.distinct < config.tasks) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left <= std::chrono::milliseconds::zero()) break;
            auto result = sink.receive<Result>(left);
            if (!result) break;
            ++report.received;
            if (result->task_id == 0 || result->task_id > config.tasks || result->worker >= config.workers) {
                ++report.stray;
                continue;
            }
            if (seen[result->task_id]++ == 0) ++report.distinct;
            else ++report.duplicated;
            if (result->sum != expected_sum(result->task_id)) ++report.wrong;
            ++report.per_worker[result->worker];
        }
    } catch (const std::exception& e) {
        report.failure = e.what();
    }
}

} // namespace detail_pipeline

/// Ventilator (pusher, binds) -> `workers` worker threads (puller and pusher, both connect) ->
/// sink (puller, binds, on its own thread). Returns ok if every task id reached the sink exactly
/// once with the right result.
inline pipeline_result run_pipeline(courier::context& ctx, const pipeline_config& config, std::ostream& log) {
    using clock = std::chrono::steady_clock;
    const auto connect_deadline = clock::now() + config.deadline;

    courier::pusher ventilator(ctx);
    detail_pipeline::handshake_counter handshakes(ventilator.native(), "inproc://example-pipeline-ventilator");
    const auto tasks_endpoint = ventilator.bind("tcp://127.0.0.1:*");
    courier::puller sink(ctx);
    const auto results_endpoint = sink.bind("tcp://127.0.0.1:*");
    log << "[pipeline] ventilator on " << tasks_endpoint << ", sink on " << results_endpoint << ", "
        << config.workers << " workers\n";

    // The sink socket moves to its thread before that thread starts, and is used only there.
    detail_pipeline::sink_report collected;
    std::jthread sink_thread([&, sink = std::move(sink)]() mutable {
        detail_pipeline::collect(sink, config, clock::now() + 2 * config.deadline, collected);
    });
    std::vector<detail_pipeline::worker_report> reports(config.workers);
    std::vector<std::jthread> workers;
    for (std::uint32_t w = 0; w < config.workers; ++w)
        workers.emplace_back([&, w](std::stop_token stop) {
            detail_pipeline::work(ctx, tasks_endpoint, results_endpoint, w, stop, reports[w]);
        });

    std::uint64_t sent = 0, push_timeouts = 0;
    if (!handshakes.wait_for(static_cast<int>(config.workers), connect_deadline)) {
        log << "[pipeline] the workers did not all connect within " << config.deadline.count() << " ms\n";
    } else {
        // A push waits only while every worker is send_hwm tasks behind, and never past the deadline.
        const auto push_deadline = clock::now() + config.deadline;
        for (std::uint64_t id = 1; id <= config.tasks; ++id) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(push_deadline - clock::now());
            if (ventilator.push(detail_pipeline::make_task(id), std::max(left, std::chrono::milliseconds::zero())) !=
                courier::status::ok) {
                ++push_timeouts;
                break;
            }
            ++sent;
        }
    }
    sink_thread.join();
    for (auto& worker : workers) worker.request_stop();
    workers.clear(); // joins them

    std::uint64_t done = 0;
    for (std::uint32_t w = 0; w < config.workers; ++w) {
        done += reports[w].done;
        if (!reports[w].failure.empty()) log << "[pipeline] worker " << w << " failed: " << reports[w].failure << "\n";
        push_timeouts += reports[w].push_timeouts;
    }
    if (!collected.failure.empty()) log << "[pipeline] sink failed: " << collected.failure << "\n";

    std::string per_worker;
    for (auto n : collected.per_worker) per_worker += (per_worker.empty() ? "" : ",") + std::to_string(n);
    const std::uint64_t lost = config.tasks - collected.distinct;
    log << "[pipeline] sent " << sent << " tasks; workers handled " << done << "; sink received "
        << collected.received << " (per worker: " << per_worker << ")\n";

    // With every worker connected before the first push, round-robin is exact: counts differ by at most one.
    const auto [fewest, most] = std::minmax_element(collected.per_worker.begin(), collected.per_worker.end());
    const bool round_robin = fewest != collected.per_worker.end() && *most - *fewest <= 1;
    const bool failures = !collected.failure.empty() ||
                          std::any_of(reports.begin(), reports.end(), [](auto& r) { return !r.failure.empty(); });
    pipeline_result result;
    result.ok = !failures && sent == config.tasks && done == config.tasks && collected.received == config.tasks &&
                lost == 0 && collected.duplicated == 0 && collected.stray == 0 && collected.wrong == 0 &&
                push_timeouts == 0 && round_robin;
    result.json = "{\"example\":\"pipeline\",\"sent\":" + std::to_string(sent) +
                  ",\"received\":" + std::to_string(collected.received) + ",\"lost\":" + std::to_string(lost) +
                  ",\"duplicated\":" + std::to_string(collected.duplicated) + ",\"per_worker\":[" + per_worker + "]}";
    return result;
}

} // namespace examples
