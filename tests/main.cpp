#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "support/process.hpp"

// The test executable doubles as the child processes of the fault tests (support/process.hpp).
int main(int argc, char** argv) {
    if (auto code = courier::test::run_child_role(argc, argv)) return *code;
    doctest::Context context(argc, argv);
    return context.run();
}
