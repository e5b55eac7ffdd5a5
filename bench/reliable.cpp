// courier-reliable-bench: what the acknowledged pipeline's durability costs. One reliable_pusher
// feeds one reliable_puller (window 256) in the same process over ipc; the puller acknowledges
// every task. Three modes: no outbox, an outbox synced for process crashes (SQLite WAL,
// synchronous=NORMAL) and one synced for power loss (an fsync per push). Prints, per mode, the
// push rate and the end-to-end rate (push to last acknowledgement), median and min-max of rounds.
//
//   courier-reliable-bench [tasks] [rounds]      (defaults 20000 and 3; power_loss runs tasks/50)
#include <courier/reliable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using namespace courier;
using namespace std::chrono_literals;
using seconds = std::chrono::duration<double>;

int main(int argc, char** argv) {
    const int tasks = argc > 1 ? std::stoi(argv[1]) : 20000;
    const int rounds = argc > 2 ? std::stoi(argv[2]) : 3;
    struct mode {
        const char* name;
        bool outbox;
        outbox_sync sync;
        int tasks;
    };
    const mode modes[] = {{"memory", false, outbox_sync::process_crash, tasks},
                          {"outbox process_crash", true, outbox_sync::process_crash, tasks},
                          {"outbox power_loss", true, outbox_sync::power_loss, std::max(200, tasks / 50)}};
    const auto tag = std::to_string(::getpid());
    const auto path = std::filesystem::temp_directory_path() / ("courier-reliable-bench-" + tag + ".db");
    auto remove_outbox = [&] {
        for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + s);
    };
    for (const auto& m : modes) {
        std::vector<double> push_rates, end_rates;
        for (int r = 0; r < rounds; ++r) {
            remove_outbox();
            context ctx;
            reliable_puller worker(ctx, {.window = 256});
            const auto at = worker.bind("ipc://" + (std::filesystem::temp_directory_path() / ("courier-rb-" + tag)).string());
            std::jthread consume([&] {
                for (int i = 0; i < m.tasks; ++i) {
                    auto t = worker.receive(60s);
                    if (!t) return;
                    worker.ack(*t);
                }
            });
            reliable_pusher producer(ctx, {.max_pending = static_cast<std::size_t>(m.tasks),
                                           .outbox = m.outbox ? path : std::filesystem::path{},
                                           .sync = m.sync});
            producer.connect(at);
            const auto start = std::chrono::steady_clock::now();
            for (int i = 0; i < m.tasks; ++i)
                if (producer.push(i) != status::ok) return 1;
            const auto pushed = std::chrono::steady_clock::now();
            if (producer.drain(120s) != status::ok) return 2;
            const auto done = std::chrono::steady_clock::now();
            push_rates.push_back(m.tasks / seconds(pushed - start).count());
            end_rates.push_back(m.tasks / seconds(done - start).count());
        }
        remove_outbox();
        auto report = [&](const char* what, std::vector<double>& v) {
            std::sort(v.begin(), v.end());
            std::printf("%-22s %-10s median %10.0f tasks/s  (min %.0f, max %.0f; %d rounds of %d)\n", m.name, what,
                        v[v.size() / 2], v.front(), v.back(), rounds, m.tasks);
        };
        report("push", push_rates);
        report("end to end", end_rates);
    }
}
