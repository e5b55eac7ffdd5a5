#pragma once
// Request-reply over DEALER/ROUTER: a client keeps many calls in flight, matched to replies by
// correlation id, and retries them (same id) across the servers it is connected to; a server
// serves named methods on a worker pool and answers retries from a reply cache. Frames are
// [empty][envelope] from the client and [routing id][empty][envelope] at the server, so a plain
// zmq REQ socket can call a server too. docs/patterns/reqrep.md has the whole contract.

#include "courier/client.hpp"
#include "courier/server.hpp"
