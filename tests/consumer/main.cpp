// Compiles and links against courier through its public interface only.
#include <courier/courier.hpp>

int main() {
    courier::context ctx{};
    return 0;
}
