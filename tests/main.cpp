// The doctest runner. Test cases live in tests/test_<concept>.cpp, one file per public header.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
