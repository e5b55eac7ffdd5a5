// Request-reply example. Without arguments: a server thread serving "price", "fail" and "slow"; a
// client with many calls in flight, a remote error, an unknown method, and a timeout it recovers
// from. With --flaky: three server processes that are slow now and then or crash, a client whose
// retries and failover answer every call anyway (flaky.hpp). Prints what happened and one JSON line
// of counts; exits 0 only if every call ended exactly as expected.

#include "flaky.hpp"
#include "reqrep.hpp"

#include <exception>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
    try {
        const std::string mode = argc > 1 ? argv[1] : "";
        if (mode == "--flaky-server" && argc > 3) return examples::run_flaky_server(argv[2], std::stoull(argv[3]));
        if (mode == "--flaky") {
            const auto result = examples::run_flaky("/proc/self/exe", 500, std::cout);
            std::cout << result.json << std::endl;
            return result.ok ? 0 : 1;
        }
        courier::context ctx;
        const auto result = examples::run_reqrep(ctx, examples::reqrep_config{}, std::cout);
        std::cout << result.json << std::endl;
        return result.ok ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "reqrep: " << e.what() << "\n";
        return 2;
    }
}
