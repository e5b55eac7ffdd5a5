#pragma once
// Private: courier's own encoder and decoder for COURIER_FIELDS types (courier/fields.hpp):
// what it reads and writes itself (fields_traits.hpp), the decoder (fields_read.hpp) and the
// encoder (fields_write.hpp).

#include "courier/detail/fields_read.hpp"
#include "courier/detail/fields_traits.hpp"
#include "courier/detail/fields_write.hpp"
