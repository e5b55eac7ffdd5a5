// Logs: three processes ship log lines to a collector process that appends them to a file. The
// collector is killed with SIGKILL mid-run and started again; each shipper's acknowledged queue
// keeps every line the collector has not acknowledged and hands it to the new one. At the end the
// file holds every line exactly once. Prints one JSON line; exits 0 only if none was lost or
// written twice.

#include <courier/courier.hpp>
#include <courier/reliable.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace std::chrono_literals;

struct LogLine {
    static constexpr std::string_view courier_type_name = "example.LogLine";
    std::string text;
    MSGPACK_DEFINE_MAP(text)
};

constexpr unsigned shippers = 3, lines_per_shipper = 1000;

/// A child process running `body`, killed (SIGKILL) and reaped when destroyed if still running.
/// Forked: fine here because the parent never makes a courier context, so it has no threads.
class child {
public:
    template <class F>
    explicit child(F body) : pid_(::fork()) {
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ > 0) return;
        ::prctl(PR_SET_PDEATHSIG, SIGKILL); // dies with the parent, whatever ends that
        int code = 2;
        try {
            code = body();
        } catch (const std::exception& e) {
            std::cerr << "logs: " << e.what() << "\n";
        }
        std::exit(code);
    }
    child(child&& other) noexcept : pid_(std::exchange(other.pid_, -1)) {}
    ~child() { kill(); }
    void kill() noexcept { // SIGKILL: no goodbye, no flushing, as when a machine dies
        if (pid_ > 0) ::kill(pid_, SIGKILL);
        (void)wait();
    }
    /// Waits for it to end: its exit code, or -1 if a signal ended it.
    int wait() noexcept {
        int status = 0;
        if (pid_ <= 0 || ::waitpid(std::exchange(pid_, -1), &status, 0) < 0) return -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

private:
    pid_t pid_;
};

/// A shipper: an application that logs a line every half millisecond; it exits once the collector
/// has acknowledged every line.
int shipper(const std::string& endpoint, unsigned index) {
    courier::context ctx;
    courier::reliable_pusher out(ctx, {.socket = {.heartbeat = {.interval = 100ms, .timeout = 300ms}}});
    out.connect(endpoint);
    for (unsigned n = 0; n < lines_per_shipper; ++n) {
        const auto text = "shipper=" + std::to_string(index) + " line=" + std::to_string(n) + " GET /items/ 200";
        if (out.push(LogLine{text}) != courier::status::ok) return 1;
        std::this_thread::sleep_for(500us); // the application at work between two lines
    }
    return out.drain(30s) == courier::status::ok ? 0 : 1;
}

/// The collector: appends each line to `file`, and acknowledges lines in batches once they are on
/// disk (one fdatasync per batch, not per line). Lines written before a kill, in a batch not yet
/// acknowledged, come again; each is known by the (producer id, sequence number) the queue gives
/// it, kept at the start of its line in the file, and dropped (counted in file.repeats).
int collector(const std::string& endpoint, const std::string& file) {
    std::set<std::pair<std::uint64_t, std::uint64_t>> written;
    std::ifstream old(file);
    for (std::uint64_t producer, seq; old >> producer >> seq; old.ignore(1 << 20, '\n')) written.emplace(producer, seq);
    const int out = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    const int repeats = ::open((file + ".repeats").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (out < 0 || repeats < 0) return 3;
    courier::context ctx;
    courier::reliable_puller in(ctx, {.window = 64});
    in.bind(endpoint);
    std::vector<courier::message> batch; // written, not yet flushed nor acknowledged
    for (;;) {
        auto m = in.receive(batch.empty() ? 1h : 5ms); // a batch waits at most 5 ms for more lines
        if (m) {
            const bool fresh = written.emplace(m->producer_id(), m->id()).second;
            const auto line = fresh ? std::to_string(m->producer_id()) + " " + std::to_string(m->id()) + " " +
                                          m->as<LogLine>().text + "\n"
                                    : std::string("repeat\n");
            if (::write(fresh ? out : repeats, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return 4;
            batch.push_back(std::move(*m));
        }
        if (batch.size() >= 32 || (!m && !batch.empty())) {
            if (::fdatasync(out) != 0) return 5;
            for (const auto& done : batch) in.ack(done);
            batch.clear();
        }
    }
}

int main() {
    std::string dir = std::filesystem::temp_directory_path() / "courier-logs-XXXXXX";
    if (!::mkdtemp(dir.data())) return 2;
    const auto endpoint = "ipc://" + dir + "/collector.ipc", file = dir + "/collected.log";
    const auto count_lines = [](const std::string& path) {
        std::ifstream in(path);
        return static_cast<std::size_t>(std::count(std::istreambuf_iterator<char>(in), {}, '\n'));
    };

    std::optional<child> collecting(std::in_place, [&] { return collector(endpoint, file); });
    std::vector<child> shipping;
    for (unsigned i = 0; i < shippers; ++i) shipping.emplace_back([&, i] { return shipper(endpoint, i); });
    // Mid-run, once a third of the lines are in the file, the collector dies and is started again.
    constexpr std::size_t total = shippers * lines_per_shipper;
    const auto give_up = std::chrono::steady_clock::now() + 20s;
    while (count_lines(file) < total / 3 && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(5ms);
    collecting->kill();
    std::this_thread::sleep_for(200ms); // down while its supervisor notices and starts it again
    collecting.emplace([&] { return collector(endpoint, file); });
    unsigned failed_shippers = 0;
    for (auto& s : shipping) failed_shippers += s.wait() == 0 ? 0 : 1; // each exits once all its lines are in
    collecting->kill();

    // The file must hold every line of every shipper, once.
    std::set<std::pair<unsigned, unsigned>> lines;
    std::size_t in_file = 0, unreadable = 0;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line); ++in_file) {
        unsigned s = 0, n = 0;
        if (std::sscanf(line.c_str(), "%*u %*u shipper=%u line=%u", &s, &n) == 2 && s < shippers &&
            n < lines_per_shipper)
            lines.emplace(s, n);
        else
            ++unreadable;
    }
    const auto repeats = count_lines(file + ".repeats");
    std::filesystem::remove_all(dir);
    const auto lost = total - lines.size(), duplicated = in_file - unreadable - lines.size();
    std::cout << "[logs] the collector was killed and started again; " << repeats
              << " lines written before the kill, not yet acknowledged, came again and were dropped\n";
    std::cout << "{\"example\":\"logs\",\"sent\":" << total << ",\"processed\":" << lines.size() << ",\"lost\":" << lost
              << ",\"duplicated\":" << duplicated << ",\"rejected\":" << unreadable << ",\"repeats_dropped\":"
              << repeats << ",\"collector_restarts\":1,\"shippers_failed\":" << failed_shippers << "}" << std::endl;
    return lost == 0 && duplicated == 0 && unreadable == 0 && failed_shippers == 0 ? 0 : 1;
}
