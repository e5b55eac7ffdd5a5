// The demo: a short run of each pattern in one program, sharing one context. Prints what
// happened and one JSON line per pattern; exits 0 only if all three got exactly the right counts.
// Each wait is bounded by a 1 s deadline; a good run takes a fraction of a second.

#include "../pipeline/pipeline.hpp"
#include "../pubsub/pubsub.hpp"
#include "../reqrep/reqrep.hpp"

#include <chrono>
#include <exception>
#include <iostream>

int main() {
    using namespace std::chrono_literals;
    try {
        courier::context ctx;
        const auto start = std::chrono::steady_clock::now();

        std::cout << "publish-subscribe: ticks on prices.*, news on news., a subscriber to prices. only\n";
        const auto pubsub = examples::run_pubsub(
            ctx, examples::pubsub_config{.ticks_per_symbol = 200, .news = 50, .deadline = 1s}, std::cout);
        std::cout << pubsub.json << "\n\n";

        std::cout << "request-reply: a server thread, a client with calls in flight, errors and a timeout\n";
        const auto reqrep = examples::run_reqrep(
            ctx, examples::reqrep_config{.calls = 50, .in_flight = 8, .deadline = 1s, .short_timeout = 100ms},
            std::cout);
        std::cout << reqrep.json << "\n\n";

        std::cout << "pipeline: ventilator -> 3 workers -> sink\n";
        const auto pipeline = examples::run_pipeline(
            ctx, examples::pipeline_config{.tasks = 300, .workers = 3, .deadline = 1s}, std::cout);
        std::cout << pipeline.json << "\n\n";

        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
        const bool ok = pubsub.ok && reqrep.ok && pipeline.ok;
        std::cout << "demo: publish-subscribe " << (pubsub.ok ? "ok" : "FAILED") << ", request-reply "
                  << (reqrep.ok ? "ok" : "FAILED") << ", pipeline " << (pipeline.ok ? "ok" : "FAILED") << " ("
                  << ms.count() << " ms)" << std::endl;
        return ok ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "demo: " << e.what() << "\n";
        return 2;
    }
}
