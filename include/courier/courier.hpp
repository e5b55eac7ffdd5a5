#pragma once
// Umbrella header: everything a user of courier needs.

#include "courier/codec.hpp"
#include "courier/context.hpp"
#include "courier/envelope.hpp"
#include "courier/error.hpp"
#include "courier/message.hpp"
#include "courier/options.hpp"
#include "courier/pipeline.hpp"
#include "courier/pubsub.hpp"
#include "courier/reliable.hpp"
#include "courier/reqrep.hpp"
#include "courier/status.hpp"
