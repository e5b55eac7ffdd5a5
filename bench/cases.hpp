#pragma once
// Every measured case: one function per (implementation, pattern). main.cpp registers them in
// its table; each runs in a forked child with the parameters of one scenario.

#include "harness.hpp"

namespace bench {

using case_fn = outcome (*)(const params&);

// Raw cppzmq (impl_zmq.cpp): the baselines.
outcome zmq_pushpull(const params&);         // PUSH/PULL, raw bytes, one frame
outcome zmq_pubsub(const params&);           // PUB/SUB, raw bytes, frames [topic][payload]
outcome zmq_msgpack_pushpull(const params&); // one msgpack-packed tick per frame, unpacked at the receiver
outcome zmq_msgpack_pubsub(const params&);
outcome zmq_reqrep(const params&);           // REQ/REP echo
outcome zmq_pushpull_16(const params&);      // zmq_pushpull with 16 B payloads, whatever the scenario's size
outcome zmq_pubsub_16(const params&);

// nng (impl_nng.cpp).
outcome nng_pushpull(const params&); // push0/pull0, nng_msg per message
outcome nng_reqrep(const params&);   // req0/rep0 echo

// courier through its public API (impl_courier.cpp).
outcome courier_bytes_pushpull(const params&); // pusher::push(bytes_view), puller::receive() + payload()
outcome courier_bytes_pubsub(const params&);   // publisher::publish(topic, bytes_view), subscriber::receive()
outcome courier_raw_pushpull(const params&);   // push_raw(bytes_view), receive_raw(): no envelope
outcome courier_raw_pubsub(const params&);     // publish_raw(topic, bytes_view), receive_raw()
outcome courier_typed_pushpull(const params&); // push(tick), receive<tick>()
outcome courier_typed_pubsub(const params&);   // publish(topic, tick), receive() + as<tick>()
outcome courier_reqrep(const params&);         // client::call<bytes>, server::serve<bytes, bytes>
outcome courier_pingpong(const params&);         // one typed message there and back over push/pull
outcome courier_pingpong_batched(const params&); // the same with batching senders
outcome courier_batched_pushpull(const params&); // as typed, with pusher_options::batching
outcome courier_batched_pubsub(const params&);   // as typed, with publisher_options::batching
                                                 // (params::threads senders share one publisher)

} // namespace bench
