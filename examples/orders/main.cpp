// Orders: the order service keeps taking orders while the inventory service is down. Orders go to
// the inventory through an acknowledged queue with an outbox on disk. The inventory service is a
// child process, killed with SIGKILL in the middle of a rush and started again 1.5 s later; the
// order service takes orders all the while. Every order reaches the inventory exactly once in
// effect: the queue delivers at least once, and the inventory ignores an order id it has already
// applied (its own idempotence), counting each copy it ignored. Prints one JSON line; exits 0 only
// if every order was applied exactly once.

#include <courier/courier.hpp>
#include <courier/reliable.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

struct Order {
    static constexpr std::string_view courier_type_name = "example.Order";
    std::uint64_t id = 0;
    std::string sku;
    int qty = 0;
    MSGPACK_DEFINE_MAP(id, sku, qty)
};

/// This program started again as a child process in a role (see main). A child still running when
/// this is destroyed is killed and reaped, so a failure leaves nothing behind.
class child {
public:
    explicit child(std::vector<std::string> args) {
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        if (::posix_spawn(&pid_, "/proc/self/exe", nullptr, nullptr, argv.data(), environ) != 0)
            throw std::runtime_error("posix_spawn failed");
    }
    child(const child&) = delete;
    child& operator=(const child&) = delete;
    ~child() { kill(); }
    void kill() noexcept { // SIGKILL: no goodbye, no flushing, as when a machine dies
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

private:
    pid_t pid_ = -1;
};

/// The inventory service. Its journal (one line per order applied, one per copy ignored) is its
/// database: read back when it starts again, so an order applied before a kill stays applied.
int inventory(const std::string& endpoint, const std::string& journal_path) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL); // dies with the order service, whatever ends that
    std::set<std::uint64_t> applied;
    std::ifstream old(journal_path);
    std::string what;
    for (std::uint64_t id; old >> what >> id;)
        if (what == "applied") applied.insert(id);
    const int journal = ::open(journal_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (journal < 0) return 3;
    courier::context ctx;
    courier::reliable_puller orders(ctx, {.window = 16});
    orders.connect(endpoint);
    for (;;) {
        auto task = orders.receive(1h);
        if (!task) continue;
        const auto order = task->as<Order>();
        const bool fresh = applied.insert(order.id).second;
        // Written before the ack, one write() per line: an order applied just before a kill comes
        // again after it (its ack was never sent) and is ignored here.
        const auto line = (fresh ? "applied " : "ignored ") + std::to_string(order.id) + "\n";
        if (::write(journal, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return 4;
        if (fresh) std::this_thread::sleep_for(1ms); // telling the warehouse: this sleep is the work
        orders.ack(*task);
    }
}

int order_service() {
    std::string dir = std::filesystem::temp_directory_path() / "courier-orders-XXXXXX";
    if (!::mkdtemp(dir.data())) throw std::runtime_error("mkdtemp failed");
    const auto endpoint = "ipc://" + dir + "/orders.ipc", journal = dir + "/inventory.journal";
    courier::context ctx;
    // Each order is on disk (the outbox) before push returns, so a crash of the order service itself
    // would lose none either. Short heartbeats find a dead inventory service within 300 ms.
    courier::reliable_pusher to_inventory(
        ctx, {.socket = {.heartbeat = {.interval = 100ms, .timeout = 300ms}}, .outbox = dir + "/outbox.db"});
    to_inventory.bind(endpoint);
    const std::vector<std::string> inventory_args{"orders", "inventory", endpoint, journal};
    std::optional<child> inventory(std::in_place, inventory_args);

    std::uint64_t taken = 0, rejected = 0;
    steady::duration slowest{};
    // What the order service does for each customer; the next one comes `then` later (simulated).
    auto take_order = [&](std::chrono::milliseconds then) {
        const auto asked = steady::now();
        if (to_inventory.push(Order{++taken, "sku-" + std::to_string(taken % 7), 1}, 100ms) != courier::status::ok)
            ++rejected;
        slowest = std::max(slowest, steady::now() - asked);
        std::this_thread::sleep_for(then);
    };
    for (int i = 0; i < 100; ++i) take_order(0ms); // the lunch rush: 100 orders at once
    // The inventory service crashes while it works through the rush (a third of the way in).
    const auto give_up = steady::now() + 20s;
    while (to_inventory.counters().acknowledged < 30 && steady::now() < give_up) std::this_thread::sleep_for(1ms);
    inventory->kill();
    const auto down_at = steady::now();
    while (steady::now() - down_at < 1500ms) take_order(5ms); // orders keep coming; push returns at once
    inventory.emplace(inventory_args); // back
    const auto downtime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - down_at).count();
    for (int i = 0; i < 50; ++i) take_order(5ms);
    const bool drained = to_inventory.drain(20s) == courier::status::ok; // every order acknowledged
    const auto redelivered = to_inventory.counters().redelivered;
    inventory->kill(); // all it acknowledged is in its journal
    to_inventory.close();

    // The inventory's journal says what happened: each order taken applied once, or not.
    std::set<std::uint64_t> applied;
    std::uint64_t ignored = 0, duplicated = 0;
    std::ifstream in(journal);
    std::string what;
    for (std::uint64_t id; in >> what >> id;) {
        if (what == "ignored") ++ignored;
        else if (id >= 1 && id <= taken && !applied.insert(id).second) ++duplicated;
    }
    std::filesystem::remove_all(dir);
    const auto processed = static_cast<std::uint64_t>(applied.size()), lost = taken - processed;
    const auto slowest_us = std::chrono::duration_cast<std::chrono::microseconds>(slowest).count();
    std::cout << "[orders] inventory down " << downtime_ms << " ms; slowest push " << slowest_us << " us; "
              << redelivered << " handed out again, " << ignored << " of them already applied and ignored\n";
    std::cout << "{\"example\":\"orders\",\"sent\":" << taken << ",\"processed\":" << processed << ",\"lost\":" << lost
              << ",\"duplicated\":" << duplicated << ",\"rejected\":" << rejected << ",\"redelivered\":" << redelivered
              << ",\"ignored_by_inventory\":" << ignored << ",\"downtime_ms\":" << downtime_ms
              << ",\"push_max_us\":" << slowest_us << "}" << std::endl;
    return drained && lost == 0 && duplicated == 0 && rejected == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
    try {
        if (argc == 4 && std::string_view(argv[1]) == "inventory") return inventory(argv[2], argv[3]);
        return order_service();
    } catch (const std::exception& e) {
        std::cerr << "orders: " << e.what() << "\n";
        return 2;
    }
}
