// Publish-subscribe example: typed price ticks on "prices.<symbol>", news on "news.", and a
// subscriber that wants prices only. Prints what happened and one JSON line of counts; exits 0
// only if every tick arrived exactly once, in order, and no news did.

#include "pubsub.hpp"

#include <exception>
#include <iostream>

int main() {
    try {
        courier::context ctx;
        const auto result = examples::run_pubsub(ctx, examples::pubsub_config{}, std::cout);
        std::cout << result.json << std::endl;
        return result.ok ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "pubsub: " << e.what() << "\n";
        return 2;
    }
}
