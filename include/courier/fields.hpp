#pragma once
// Describing a struct's fields once: COURIER_FIELDS. The struct travels as a msgpack map keyed by
// field name, byte for byte what MSGPACK_DEFINE_MAP writes, so plain msgpack peers read and write
// it; msgpack-cxx can still pack and convert it; and courier encodes and decodes it straight
// between the struct and the payload bytes, with no msgpack::object, zone or key map in between.

#include <msgpack.hpp>

#include <cstddef>

namespace courier {

namespace detail {
/// `T` made dependent on `D`, so that a member template's body is compiled only when it is used.
template <class D, class T>
struct dependent {
    using type = T;
};
} // namespace detail

/// True for a type whose fields are described with COURIER_FIELDS.
template <class T>
concept described = requires { T::courier_fields_described; };

} // namespace courier

/// Place inside a struct, naming its members in wire order: `COURIER_FIELDS(sku, qty, tags)`.
/// Each member travels under its own name; `MSGPACK_NVP("other-name", member)` renames one, as
/// for MSGPACK_DEFINE_MAP. The type then
///  - is written by courier as a msgpack map of every member, key order as listed, exactly the
///    bytes msgpack-cxx's MSGPACK_DEFINE_MAP writes;
///  - is read by courier without allocating for scalar members: keys in the listed order are
///    matched with one compare each, others by search; unknown keys are skipped (under the
///    receiver's decode_limits); a missing key leaves the member as it was default-initialised;
///  - works with plain msgpack-cxx as a MSGPACK_DEFINE_MAP type (msgpack::pack, object.as<T>()).
/// Members courier reads and writes itself: integers, enums, bool, float, double, std::string,
/// std::vector of those (std::vector<std::byte>, <char>, <unsigned char> as bin), std::optional,
/// std::chrono::time_point (range checked), and nested COURIER_FIELDS structs. A member of any
/// other type goes through msgpack-cxx (it needs msgpack-cxx adaptors, as with MSGPACK_DEFINE_MAP). Enum members need MSGPACK_ADD_ENUM
/// only where plain msgpack-cxx packs or converts the type.
#define COURIER_FIELDS(...)                                                                                   \
    static constexpr bool courier_fields_described = true;                                                    \
    /* Calls courier_visitor("name", member, "name", member, ...). */                                         \
    template <class CourierVisitor>                                                                           \
    constexpr decltype(auto) courier_fields(CourierVisitor&& courier_visitor) {                               \
        return courier_visitor MSGPACK_DEFINE_MAP_IMPL(__VA_ARGS__);                                          \
    }                                                                                                         \
    template <class CourierVisitor>                                                                           \
    constexpr decltype(auto) courier_fields(CourierVisitor&& courier_visitor) const {                         \
        return courier_visitor MSGPACK_DEFINE_MAP_IMPL(__VA_ARGS__);                                          \
    }                                                                                                         \
    template <class CourierPacker>                                                                            \
    void msgpack_pack(CourierPacker& courier_packer) const {                                                  \
        msgpack::type::make_define_map MSGPACK_DEFINE_MAP_IMPL(__VA_ARGS__).msgpack_pack(courier_packer);     \
    }                                                                                                         \
    template <class CourierDependent = void>                                                                  \
    void msgpack_unpack(                                                                                      \
        const typename ::courier::detail::dependent<CourierDependent, msgpack::object>::type& courier_object) { \
        msgpack::type::make_define_map MSGPACK_DEFINE_MAP_IMPL(__VA_ARGS__).msgpack_unpack(courier_object);   \
    }                                                                                                         \
    template <class CourierObject>                                                                            \
    void msgpack_object(CourierObject* courier_object, msgpack::zone& courier_zone) const {                   \
        msgpack::type::make_define_map MSGPACK_DEFINE_MAP_IMPL(__VA_ARGS__)                                   \
            .msgpack_object(courier_object, courier_zone);                                                    \
    }
