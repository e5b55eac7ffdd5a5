// courier-bench: courier against raw cppzmq and nng, in one run.
//
//   courier-bench --out results.jsonl [--quick] [--no-pin] [--rounds N] [--seconds S] [--sizes LIST]
//                 [--only TEXT]... [--list]
//
// Scenarios (suite, pattern, transport, size, fan-out, connections) run one after another; within
// a scenario the implementations take turns round by round (A B C A B C A B C), so a noisy
// stretch of time hits all of them alike. Every measurement runs in a forked child process:
// isolation, a fresh allocator, and a peak RSS (VmHWM) of its own. Each figure is the median of
// the rounds, reported with min and max. JSON lines go to --out, a table to stdout.

#include "cases.hpp"

#include <nng/nng.h>
#include <zmq.h>

#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bench {
namespace {

// ---- the table ---------------------------------------------------------------------------------
//
// One row per (suite, pattern, implementation). A suite decides the scenarios (transports and
// sizes, fan-out, connections); every row of the suite and pattern runs in each of them.
// To add an implementation, write its case function (cases.hpp) and add a row here.

struct entry {
    std::string_view suite;
    std::string_view pattern;
    std::string_view impl;
    case_fn fn;
    int threads = 1;     ///< sender threads (only for senders that are thread-safe)
    int connections = 1; ///< sender sockets; rows that differ only here take turns like implementations
};

constexpr entry table[] = {
    // 1-3. raw bytes: libzmq, nng and courier::bytes_view payloads.
    {"throughput", "pushpull", "zmq", zmq_pushpull},
    {"throughput", "pushpull", "nng", nng_pushpull},
    {"throughput", "pushpull", "courier-bytes", courier_bytes_pushpull},
    {"throughput", "pushpull", "courier-raw", courier_raw_pushpull}, // raw frames, no envelope
    {"throughput", "pubsub", "zmq", zmq_pubsub},
    {"throughput", "pubsub", "courier-bytes", courier_bytes_pubsub},
    {"throughput", "pubsub", "courier-raw", courier_raw_pubsub},
    // 4. typed envelopes (a 32-byte struct, decoded at the receiver) against one msgpack-packed
    // struct per raw libzmq frame.
    {"typed", "pushpull", "zmq-msgpack", zmq_msgpack_pushpull},
    {"typed", "pushpull", "courier-typed", courier_typed_pushpull},
    {"typed", "pubsub", "zmq-msgpack", zmq_msgpack_pubsub},
    {"typed", "pubsub", "courier-typed", courier_typed_pubsub},
    // 5. typed envelopes batched (courier::batching defaults), and 6. four threads publishing
    // typed envelopes through one batching publisher.
    {"typed", "pushpull", "courier-batched", courier_batched_pushpull},
    {"typed", "pubsub", "courier-batched", courier_batched_pubsub},
    {"typed", "pubsub", "courier-batched-4threads", courier_batched_pubsub, 4},
    // raw libzmq's unbatched 16 B messages, beside the typed cases so that they take turns with
    // them: the reference of the batched target (2x its messages/s).
    {"typed", "pushpull", "zmq-16B", zmq_pushpull_16},
    {"typed", "pubsub", "zmq-16B", zmq_pubsub_16},
    // request-reply round trips, one call at a time.
    {"reqrep", "reqrep", "zmq", zmq_reqrep},
    {"reqrep", "reqrep", "nng", nng_reqrep},
    {"reqrep", "reqrep", "courier", courier_reqrep},
    // low-load latency of batching: one message at a time, there and back, with and without.
    {"reqrep", "reqrep", "courier-pingpong", courier_pingpong},
    {"reqrep", "reqrep", "courier-pingpong-batched", courier_pingpong_batched},
    // fan-out: 1, 8, 32 subscribers of one publisher.
    {"fanout", "pubsub", "zmq", zmq_pubsub},
    {"fanout", "pubsub", "courier-bytes", courier_bytes_pubsub},
    // 1 and 64 sender connections into one puller, in one scenario so that they take turns too.
    {"connections", "pushpull", "zmq", zmq_pushpull, 1, 1},
    {"connections", "pushpull", "zmq", zmq_pushpull, 1, 64},
    {"connections", "pushpull", "nng", nng_pushpull, 1, 1},
    {"connections", "pushpull", "nng", nng_pushpull, 1, 64},
    {"connections", "pushpull", "courier-bytes", courier_bytes_pushpull, 1, 1},
    {"connections", "pushpull", "courier-bytes", courier_bytes_pushpull, 1, 64},
};

struct scenario {
    std::string_view suite, pattern;
    transport tr;
    std::size_t size;
    int subscribers = 1;
    std::string label() const {
        std::ostringstream s;
        s << suite << '/' << pattern << '/' << to_string(tr) << '/' << size << 'B';
        if (suite == "fanout") s << "/subs=" << subscribers;
        return s.str();
    }
};

/// What --only and --list match: the scenario, the connection count if not 1, the implementation.
std::string label(const scenario& s, const entry& e) {
    auto l = s.label();
    if (e.connections != 1) l += "/conns=" + std::to_string(e.connections);
    return l + "/" + std::string(e.impl);
}

std::vector<scenario> scenarios(const std::vector<std::size_t>& sizes) {
    constexpr transport transports[] = {transport::tcp, transport::ipc, transport::inproc};
    std::vector<scenario> out;
    for (auto pattern : {"pushpull", "pubsub"})
        for (auto tr : transports)
            for (std::size_t size : sizes) out.push_back({"throughput", pattern, tr, size});
    for (auto pattern : {"pushpull", "pubsub"})
        for (auto tr : transports) out.push_back({"typed", pattern, tr, sizeof(tick)});
    for (auto tr : transports) out.push_back({"reqrep", "reqrep", tr, 16});
    for (auto tr : transports)
        for (int subs : {1, 8, 32}) out.push_back({"fanout", "pubsub", tr, 256, subs});
    for (auto tr : transports) out.push_back({"connections", "pushpull", tr, 256});
    return out;
}

// ---- one measurement in a child process ----------------------------------------------------------

struct child_result {
    double seconds = 0;
    std::uint64_t messages = 0, deliveries = 0, lost = 0;
    double p50_us = -1, p99_us = -1;
    double sender_cpu_ns = -1, receiver_cpu_ns = -1;
    long rss_kb = -1;
    char error[480] = {};
};

long peak_rss_kb() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    return -1;
}

child_result run_child(const entry& e, const params& p, int timeout_s) {
    child_result r;
    int fds[2];
    if (::pipe(fds) != 0) {
        std::snprintf(r.error, sizeof r.error, "pipe: %s", std::strerror(errno));
        return r;
    }
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) {
        std::snprintf(r.error, sizeof r.error, "fork: %s", std::strerror(errno));
        return r;
    }
    if (pid == 0) {
        ::close(fds[0]);
        { std::ofstream("/proc/self/clear_refs") << "5"; } // the peak RSS starts here, not in the parent
        child_result c;
        auto o = e.fn(p);
        c.seconds = o.seconds;
        c.messages = o.messages;
        c.deliveries = o.deliveries;
        c.lost = o.lost;
        c.p50_us = o.p50_us;
        c.p99_us = o.p99_us;
        c.sender_cpu_ns = o.sender_cpu_ns;
        c.receiver_cpu_ns = o.receiver_cpu_ns;
        c.rss_kb = peak_rss_kb();
        std::snprintf(c.error, sizeof c.error, "%s", o.error.c_str());
        const char* at = reinterpret_cast<const char*>(&c);
        std::size_t left = sizeof c;
        while (left > 0) {
            auto n = ::write(fds[1], at, left);
            if (n <= 0) break;
            at += n;
            left -= static_cast<std::size_t>(n);
        }
        std::fflush(nullptr);
        ::_exit(0); // no static destructors: the case has closed its own sockets
    }
    ::close(fds[1]);
    std::size_t got = 0;
    char* at = reinterpret_cast<char*>(&r);
    const auto until = clock::now() + std::chrono::seconds(timeout_s);
    bool timed_out = false;
    while (got < sizeof r) {
        const auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now()).count();
        if (left_ms <= 0) {
            timed_out = true;
            break;
        }
        pollfd pfd{fds[0], POLLIN, 0};
        int rc = ::poll(&pfd, 1, static_cast<int>(left_ms));
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) continue;
        auto n = ::read(fds[0], at + got, sizeof r - got);
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    ::close(fds[0]);
    if (timed_out) ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (got != sizeof r) {
        r = child_result{};
        if (timed_out) std::snprintf(r.error, sizeof r.error, "timed out after %d s (killed)", timeout_s);
        else if (WIFSIGNALED(status)) std::snprintf(r.error, sizeof r.error, "child died of signal %d", WTERMSIG(status));
        else std::snprintf(r.error, sizeof r.error, "child exited (%d) without a result", WEXITSTATUS(status));
    }
    return r;
}

// ---- aggregation and output ------------------------------------------------------------------------

struct series {
    std::vector<double> rate, mbps, p50, p99, secs, tx_cpu, rx_cpu;
    std::vector<double> per_round;     ///< the main figure of each round in order, -1 where it failed
    std::vector<double> per_round_p99; ///< likewise, p99 of request-reply rounds
    std::vector<long> rss;
    std::uint64_t lost = 0;
    std::vector<std::string> errors;
};

double median(std::vector<double> v) {
    if (v.empty()) return -1;
    std::sort(v.begin(), v.end());
    const auto n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\', out += c;
        else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else out += c;
    }
    return out + "\"";
}

std::string num(double v, int digits = 1) {
    if (v < 0) return "null";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

std::string list(const std::vector<double>& v, int digits) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) out += ',';
        out += num(v[i], digits);
    }
    return out + "]";
}

std::string to_json(const scenario& s, const entry& e, const series& r) {
    const bool latency = s.suite == "reqrep";
    const auto& main = latency ? r.p50 : r.rate;
    auto [lo, hi] = main.empty() ? std::pair{-1.0, -1.0} : std::pair{*std::min_element(main.begin(), main.end()), *std::max_element(main.begin(), main.end())};
    auto minmax = [](const std::vector<double>& v, bool max) {
        if (v.empty()) return -1.0;
        return max ? *std::max_element(v.begin(), v.end()) : *std::min_element(v.begin(), v.end());
    };
    long rss = r.rss.empty() ? -1 : *std::max_element(r.rss.begin(), r.rss.end());
    std::ostringstream o;
    o << "{\"record\":\"case\",\"suite\":" << json_string(s.suite) << ",\"implementation\":" << json_string(e.impl)
      << ",\"pattern\":" << json_string(s.pattern) << ",\"transport\":" << json_string(to_string(s.tr))
      << ",\"size\":" << s.size << ",\"subscribers\":" << s.subscribers << ",\"connections\":" << e.connections
      << ",\"threads\":" << e.threads << ",\"rounds\":" << main.size()
      << ",\"metric\":" << json_string(latency ? "p50_us" : "messages_per_s")
      << ",\"messages_per_s\":" << num(median(r.rate), 0) << ",\"mb_per_s\":" << (latency ? "null" : num(median(r.mbps), 2))
      << ",\"p50_us\":" << (latency ? num(median(r.p50), 2) : "null")
      << ",\"p99_us\":" << (latency ? num(median(r.p99), 2) : "null")
      << ",\"min\":" << num(lo, latency ? 2 : 0) << ",\"max\":" << num(hi, latency ? 2 : 0);
    if (latency)
        o << ",\"p99_us_min\":" << num(minmax(r.p99, false), 2) << ",\"p99_us_max\":" << num(minmax(r.p99, true), 2)
          << ",\"p99_values\":" << list(r.per_round_p99, 2);
    o << ",\"values\":" << list(r.per_round, latency ? 2 : 0) << ",\"timed_seconds\":" << num(median(r.secs), 3)
      << ",\"sender_cpu_ns_per_msg\":" << num(median(r.tx_cpu), 0)
      << ",\"receiver_cpu_ns_per_msg\":" << num(median(r.rx_cpu), 0)
      << ",\"peak_rss_kb\":" << (rss < 0 ? "null" : std::to_string(rss)) << ",\"lost\":" << r.lost << ",\"errors\":[";
    for (std::size_t i = 0; i < r.errors.size(); ++i) o << (i ? "," : "") << json_string(r.errors[i]);
    o << "]}";
    return o.str();
}

std::string human(double v) {
    char buf[32];
    if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
    else if (v >= 1e3) std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
    else std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
}

void print_row(const scenario& s, const entry& e, const series& r) {
    const bool latency = s.suite == "reqrep";
    std::string what;
    if (s.suite == "fanout") what = "subs=" + std::to_string(s.subscribers);
    else if (s.suite == "connections") what = "conns=" + std::to_string(e.connections);
    else what = std::to_string(s.size) + " B";
    std::printf("%-11s %-8s %-6s %-9s %-25s ", std::string(s.suite).c_str(), std::string(s.pattern).c_str(),
                std::string(to_string(s.tr)).c_str(), what.c_str(), std::string(e.impl).c_str());
    const auto& main = latency ? r.p50 : r.rate;
    if (main.empty()) {
        std::printf("FAILED: %s\n", r.errors.empty() ? "no result" : r.errors.front().c_str());
        return;
    }
    const double lo = *std::min_element(main.begin(), main.end()), hi = *std::max_element(main.begin(), main.end());
    if (latency)
        std::printf("p50 %7.1f us [%.1f-%.1f]  p99 %7.1f us  %9s calls/s", median(r.p50), lo, hi, median(r.p99),
                    human(median(r.rate)).c_str());
    else
        std::printf("%9s msg/s [%s-%s] %9.1f MB/s", human(median(r.rate)).c_str(), human(lo).c_str(), human(hi).c_str(),
                    median(r.mbps));
    std::printf("  cpu/msg %5.0f|%5.0f ns", median(r.tx_cpu), median(r.rx_cpu));
    const long rss = r.rss.empty() ? -1 : *std::max_element(r.rss.begin(), r.rss.end());
    std::printf("  rss %5.1f MiB", static_cast<double>(rss) / 1024.0);
    if (r.lost) std::printf("  LOST %" PRIu64, r.lost);
    if (!r.errors.empty()) std::printf("  ERROR %s", r.errors.front().c_str());
    std::printf("\n");
    std::fflush(stdout);
}

std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
    return "unknown";
}

struct options {
    std::string out = "results.jsonl";
    bool quick = false, pin = true, list = false;
    int rounds = 5;
    double seconds = 0.15;
    std::vector<std::size_t> sizes{16, 256, 4096, 65536};
    std::vector<std::string> only;
};

[[noreturn]] void usage(int code) {
    std::fprintf(code ? stderr : stdout,
                 "usage: courier-bench [--out FILE] [--quick] [--no-pin] [--rounds N] [--seconds S] [--sizes LIST]\n"
                 "                     [--only TEXT]... [--list]\n"
                 "  --out FILE    JSON lines, one object per case (default results.jsonl)\n"
                 "  --quick       smoke run: 1 round of 20 ms per case\n"
                 "  --no-pin      do not pin sender to CPU 0 and receiver to CPU 1\n"
                 "  --rounds N    rounds per case (default 5)\n"
                 "  --seconds S   timed part of each round (default 0.15; request-reply rounds take twice that)\n"
                 "  --sizes LIST  payload sizes of the raw-bytes throughput suite (default 16,256,4096,65536)\n"
                 "  --only TEXT   run scenarios whose label or implementation contains TEXT (repeatable)\n"
                 "  --list        list scenario labels and implementations, run nothing\n");
    std::exit(code);
}

options parse(int argc, char** argv) {
    options o;
    bool rounds_set = false, seconds_set = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(2);
            return argv[++i];
        };
        if (a == "--out") o.out = value();
        else if (a == "--quick") o.quick = true;
        else if (a == "--no-pin") o.pin = false;
        else if (a == "--rounds") o.rounds = std::stoi(value()), rounds_set = true;
        else if (a == "--seconds") o.seconds = std::stod(value()), seconds_set = true;
        else if (a == "--only") o.only.push_back(value());
        else if (a == "--sizes") {
            o.sizes.clear();
            std::istringstream in(value());
            for (std::string item; std::getline(in, item, ',');) o.sizes.push_back(std::stoul(item));
            if (o.sizes.empty() || std::find(o.sizes.begin(), o.sizes.end(), 0u) != o.sizes.end() ||
                *std::min_element(o.sizes.begin(), o.sizes.end()) < 8)
                usage(2); // a payload carries its 8-byte sequence number
        }
        else if (a == "--list") o.list = true;
        else if (a == "--help" || a == "-h") usage(0);
        else usage(2);
    }
    if (o.quick) {
        if (!rounds_set) o.rounds = 1;
        if (!seconds_set) o.seconds = 0.02;
    }
    if (o.rounds < 1 || o.seconds <= 0) usage(2);
    return o;
}

bool selected(const options& o, const scenario& s, const entry& e) {
    if (o.only.empty()) return true;
    const auto l = label(s, e);
    return std::any_of(o.only.begin(), o.only.end(), [&](const std::string& t) { return l.find(t) != std::string::npos; });
}

} // namespace
} // namespace bench

int main(int argc, char** argv) {
    using namespace bench;
    const auto o = parse(argc, argv);
    const auto all = scenarios(o.sizes);
    if (o.list) {
        for (const auto& s : all)
            for (const auto& e : table)
                if (e.suite == s.suite && e.pattern == s.pattern && selected(o, s, e))
                    std::printf("%s\n", label(s, e).c_str());
        return 0;
    }

    // ipc endpoints live in a directory of this run's own.
    char tmp[] = "/tmp/courier-bench-XXXXXX";
    if (!::mkdtemp(tmp)) {
        std::perror("mkdtemp");
        return 1;
    }
    ::setenv("COURIER_BENCH_TMP", tmp, 1);

    std::ofstream out(o.out);
    if (!out) {
        std::fprintf(stderr, "courier-bench: cannot write %s\n", o.out.c_str());
        return 1;
    }
    int zmajor, zminor, zpatch;
    zmq_version(&zmajor, &zminor, &zpatch);
    utsname u{};
    ::uname(&u);
    const auto started = std::time(nullptr);
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&started));
    std::ostringstream cmd;
    for (int i = 0; i < argc; ++i) cmd << (i ? " " : "") << argv[i];
    out << "{\"record\":\"meta\",\"started\":" << json_string(when) << ",\"command\":" << json_string(cmd.str())
        << ",\"cpu_model\":" << json_string(cpu_model()) << ",\"cpus\":" << std::thread::hardware_concurrency()
        << ",\"kernel\":" << json_string(std::string(u.sysname) + " " + u.release)
        << ",\"libzmq\":\"" << zmajor << '.' << zminor << '.' << zpatch << "\",\"nng\":" << json_string(nng_version())
        << ",\"msgpack_cxx\":" << json_string(MSGPACK_VERSION) << ",\"compiler\":" << json_string(__VERSION__)
        << ",\"revision\":" << json_string(std::getenv("COURIER_BENCH_REVISION") ? std::getenv("COURIER_BENCH_REVISION") : "")
        << ",\"pin\":" << (o.pin ? "true" : "false") << ",\"quick\":" << (o.quick ? "true" : "false")
        << ",\"rounds\":" << o.rounds << ",\"seconds\":" << o.seconds << "}\n";
    out.flush();

    std::printf("courier-bench: libzmq %d.%d.%d, nng %s, %u CPUs, %s, %d round(s) of %.2f s per case%s\n", zmajor, zminor,
                zpatch, nng_version(), std::thread::hardware_concurrency(), cpu_model().c_str(), o.rounds, o.seconds,
                o.pin ? ", sender on CPU 0, receiver on CPU 1" : ", unpinned");
    const auto t0 = clock::now();
    int cases = 0, failures = 0;
    std::string_view last_suite;
    for (const auto& s : all) {
        std::vector<const entry*> impls;
        for (const auto& e : table)
            if (e.suite == s.suite && e.pattern == s.pattern && selected(o, s, e)) impls.push_back(&e);
        if (impls.empty()) continue;
        if (s.suite != last_suite) {
            std::printf("\n");
            last_suite = s.suite;
        }
        std::vector<series> results(impls.size());
        for (int round = 0; round < o.rounds; ++round) {
            for (std::size_t i = 0; i < impls.size(); ++i) {
                const auto& e = *impls[i];
                // Request-reply rounds run twice as long: a p99 needs samples.
                params p{.tr = s.tr, .size = s.size, .connections = e.connections, .subscribers = s.subscribers,
                         .threads = e.threads, .seconds = s.suite == "reqrep" ? 2 * o.seconds : o.seconds,
                         .pin = o.pin, .quick = o.quick};
                auto c = run_child(e, p, o.quick ? 20 : 60);
                auto& r = results[i];
                r.lost += c.lost;
                if (c.rss_kb > 0) r.rss.push_back(c.rss_kb);
                if (c.error[0] != 0) {
                    r.errors.emplace_back(c.error);
                    r.per_round.push_back(-1);
                    r.per_round_p99.push_back(-1);
                    continue;
                }
                if (c.seconds <= 0 || c.deliveries == 0) {
                    r.errors.emplace_back("nothing was received in the timed part");
                    r.per_round.push_back(-1);
                    r.per_round_p99.push_back(-1);
                    continue;
                }
                const double rate = static_cast<double>(c.deliveries) / c.seconds;
                r.rate.push_back(rate);
                r.mbps.push_back(rate * static_cast<double>(s.size) / 1e6);
                r.secs.push_back(c.seconds);
                if (c.sender_cpu_ns >= 0) r.tx_cpu.push_back(c.sender_cpu_ns);
                if (c.receiver_cpu_ns >= 0) r.rx_cpu.push_back(c.receiver_cpu_ns);
                if (c.p50_us >= 0) r.p50.push_back(c.p50_us), r.p99.push_back(c.p99_us);
                r.per_round.push_back(c.p50_us >= 0 ? c.p50_us : rate);
                r.per_round_p99.push_back(c.p99_us);
            }
        }
        for (std::size_t i = 0; i < impls.size(); ++i) {
            ++cases;
            if (results[i].lost || !results[i].errors.empty()) ++failures;
            out << to_json(s, *impls[i], results[i]) << '\n';
            print_row(s, *impls[i], results[i]);
        }
        out.flush();
    }
    const double elapsed = std::chrono::duration<double>(clock::now() - t0).count();
    out << "{\"record\":\"summary\",\"cases\":" << cases << ",\"failures\":" << failures
        << ",\"elapsed_s\":" << num(elapsed, 1) << "}\n";
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
    std::printf("\n%d cases, %d with lost messages or errors, %.1f s; results in %s\n", cases, failures, elapsed,
                o.out.c_str());
    return failures == 0 ? 0 : 1;
}
