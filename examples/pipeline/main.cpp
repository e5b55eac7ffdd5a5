// Pipeline example: ventilator -> 3 workers -> sink, with typed tasks and results. Prints what
// happened, how the tasks were shared among the workers, and one JSON line of counts; exits 0
// only if every task id reached the sink exactly once with the right result.

#include "pipeline.hpp"

#include <exception>
#include <iostream>

int main() {
    try {
        courier::context ctx;
        const auto result = examples::run_pipeline(ctx, examples::pipeline_config{}, std::cout);
        std::cout << result.json << std::endl;
        return result.ok ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "pipeline: " << e.what() << "\n";
        return 2;
    }
}
