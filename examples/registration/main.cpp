// Registration: the user's answer waits only for the database write. A request-reply server stores
// the new user, queues a welcome mail and a welcome SMS on two acknowledged queues, and answers;
// a pool of mail workers and a pool of SMS workers send them afterwards. Prints the answer time
// beside the time the workers spend per message, then one JSON line; exits 0 only if every user
// was stored, mailed and texted exactly once.

#include <courier/courier.hpp>
#include <courier/reliable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

struct Registration {
    static constexpr std::string_view courier_type_name = "example.Registration";
    std::string email;
    std::string phone;
    MSGPACK_DEFINE_MAP(email, phone)
};

/// One task type for both queues: whom to greet, and where (an e-mail address or a phone number).
struct Welcome {
    static constexpr std::string_view courier_type_name = "example.Welcome";
    std::uint64_t user_id = 0;
    std::string address;
    MSGPACK_DEFINE_MAP(user_id, address)
};

constexpr int users = 100;
constexpr auto mail_work = 20ms; // what a mail gateway call takes, simulated
constexpr auto sms_work = 10ms;  // and an SMS gateway call

/// What one pool did: the users it greeted (once each, we hope) and how long each greeting took.
struct pool_report {
    std::mutex mu;
    std::vector<std::uint64_t> greeted;
    std::vector<long> work_us;
};

/// A worker: takes welcome tasks from `queue`, does the work, and only then acknowledges, so a
/// worker that dies mid-way leaves its task to another.
void greet(courier::context& ctx, const std::string& queue, std::chrono::milliseconds work, pool_report& report,
           std::stop_token stop) {
    courier::reliable_puller tasks(ctx, {.window = 2});
    tasks.connect(queue);
    while (!stop.stop_requested()) {
        auto task = tasks.receive(50ms); // wakes at least every 50 ms to check `stop`
        if (!task) continue;
        const auto welcome = task->as<Welcome>();
        const auto start = steady::now();
        std::this_thread::sleep_for(work); // the gateway call: this sleep is the work
        const auto took = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - start).count();
        {
            std::lock_guard lock(report.mu);
            report.greeted.push_back(welcome.user_id);
            report.work_us.push_back(took);
        }
        tasks.ack(*task);
    }
}

long percentile(std::vector<long> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

/// Greetings of users 1..n: {distinct users greeted, greetings beyond the first per user}.
std::pair<std::size_t, std::size_t> tally(const std::vector<std::uint64_t>& greeted, std::uint64_t n) {
    std::set<std::uint64_t> distinct;
    for (auto id : greeted)
        if (id >= 1 && id <= n) distinct.insert(id);
    return {distinct.size(), greeted.size() - distinct.size()};
}

int main() {
    try {
        courier::context ctx;
        courier::reliable_pusher mail_queue(ctx), sms_queue(ctx);
        const auto mail_at = mail_queue.bind("tcp://127.0.0.1:*");
        const auto sms_at = sms_queue.bind("tcp://127.0.0.1:*");

        // The registration service. Its answer waits for the database write and for the two tasks
        // to be queued (in memory, at once), not for the mail or the SMS to go out.
        std::map<std::uint64_t, Registration> database; // touched by the serving thread only
        courier::server service(ctx);
        service.serve<Registration, std::uint64_t>("register", [&](const Registration& r) {
            const auto id = static_cast<std::uint64_t>(database.size() + 1);
            database.emplace(id, r); // the database write
            if (mail_queue.push(Welcome{id, r.email}) != courier::status::ok ||
                sms_queue.push(Welcome{id, r.phone}) != courier::status::ok)
                throw std::runtime_error("the welcome queues are full"); // the caller gets an error reply
            return id;
        });
        const auto service_at = service.bind("tcp://127.0.0.1:*");
        std::jthread serving([&service](std::stop_token stop) { service.run(stop); });

        pool_report mails, sms;
        std::vector<std::jthread> workers;
        for (int i = 0; i < 2; ++i) {
            workers.emplace_back([&](std::stop_token stop) { greet(ctx, mail_at, mail_work, mails, stop); });
            workers.emplace_back([&](std::stop_token stop) { greet(ctx, sms_at, sms_work, sms, stop); });
        }

        // The users sign up one after another; each waits for its answer.
        courier::client client(ctx);
        client.connect(service_at);
        std::vector<long> answer_us;
        int failed = 0;
        const auto start = steady::now();
        for (int u = 0; u < users; ++u) {
            const auto asked = steady::now();
            auto id = client.call<std::uint64_t>(
                "register", Registration{"user" + std::to_string(u) + "@example.com", "+4470000" + std::to_string(u)});
            answer_us.push_back(std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - asked).count());
            if (!id) ++failed;
        }
        const auto answered = steady::now();
        // The greetings go on after the last answer; wait until every one is acknowledged.
        const bool drained =
            mail_queue.drain(20s) == courier::status::ok && sms_queue.drain(20s) == courier::status::ok;
        const auto greeted = steady::now();
        workers.clear(); // stops and joins them
        serving.request_stop();
        serving.join();

        const auto stored = static_cast<std::uint64_t>(database.size());
        const auto [mailed, mail_repeats] = tally(mails.greeted, stored);
        const auto [texted, sms_repeats] = tally(sms.greeted, stored);
        const int sent = users, processed = users - failed;
        const auto lost = static_cast<std::uint64_t>(sent - processed) + (stored - mailed) + (stored - texted);
        const auto duplicated = mail_repeats + sms_repeats;
        const auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
        const auto answer_p50 = percentile(answer_us, 0.5), answer_max = percentile(answer_us, 1.0);
        const auto mail_p50 = percentile(mails.work_us, 0.5), sms_p50 = percentile(sms.work_us, 0.5);
        std::cout << "[registration] " << users << " answers in " << ms(answered - start) << " ms (p50 " << answer_p50
                  << " us); a mail takes a worker " << mail_p50 / 1000 << " ms and an SMS " << sms_p50 / 1000
                  << " ms; the last went out " << ms(greeted - answered) << " ms after the last answer\n";
        std::cout << "{\"example\":\"registration\",\"sent\":" << sent << ",\"processed\":" << processed
                  << ",\"lost\":" << lost << ",\"duplicated\":" << duplicated << ",\"rejected\":" << failed
                  << ",\"mails\":" << mails.greeted.size() << ",\"sms\":" << sms.greeted.size()
                  << ",\"answer_p50_us\":" << answer_p50 << ",\"answer_max_us\":" << answer_max
                  << ",\"mail_work_p50_us\":" << mail_p50 << ",\"sms_work_p50_us\":" << sms_p50 << "}" << std::endl;
        const bool balanced = lost == 0 && duplicated == 0 && failed == 0 && stored == std::uint64_t{users};
        return drained && balanced ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "registration: " << e.what() << "\n";
        return 2;
    }
}
