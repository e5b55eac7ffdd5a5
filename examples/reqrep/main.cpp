// Request-reply example: a server thread serving "price", "fail" and "slow"; a client with many
// calls in flight, a remote error, an unknown method, and a timeout it recovers from. Prints what
// happened and one JSON line of counts; exits 0 only if every call ended exactly as expected.

#include "reqrep.hpp"

#include <exception>
#include <iostream>

int main() {
    try {
        courier::context ctx;
        const auto result = examples::run_reqrep(ctx, examples::reqrep_config{}, std::cout);
        std::cout << result.json << std::endl;
        return result.ok ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "reqrep: " << e.what() << "\n";
        return 2;
    }
}
