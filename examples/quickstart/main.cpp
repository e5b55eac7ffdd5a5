#include <courier/courier.hpp>

#include <iostream>
#include <thread>

struct Order {
    static constexpr std::string_view courier_type_name = "shop.Order"; // travels in the envelope
    std::string sku;
    int qty = 0;
    MSGPACK_DEFINE_MAP(sku, qty)
};

int main() {
    courier::context ctx;
    courier::server server(ctx);
    server.serve<Order, double>("price", [](const Order& o) { return 9.5 * o.qty; });
    const auto endpoint = server.bind("tcp://127.0.0.1:*"); // the port the kernel picked
    std::jthread serving([&server](std::stop_token stop) { server.run(stop); });

    courier::client client(ctx);
    client.connect(endpoint);
    auto total = client.call<double>("price", Order{.sku = "A-1", .qty = 3}); // 3 attempts of 1.5 s at most
    if (!total) {
        std::cerr << "price: " << to_string(total.state()) << ": " << total.detail() << "\n";
        return 1;
    }
    std::cout << "3 x A-1 costs " << total.value() << "\n";
}
