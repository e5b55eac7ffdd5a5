# Builds and runs tests/consumer against this build of courier.
#   cmake -DMODE=package|subdirectory -DWORK_DIR=... -DCOURIER_SOURCE_DIR=... -DCOURIER_BINARY_DIR=...
#         -DCONSUMER_SOURCE_DIR=... [-DCONFIG=...] [-DGENERATOR=...] [-DMAKE_PROGRAM=...]
#         [-DCXX_COMPILER=...] [-DCXX_FLAGS=...] [-DEXE_LINKER_FLAGS=...] [-DSHARED_LIBS=...]
#         -P run.cmake
# package:      installs COURIER_BINARY_DIR into WORK_DIR/prefix, then find_package(courier).
# subdirectory: add_subdirectory(COURIER_SOURCE_DIR) from the consumer.

foreach(var MODE WORK_DIR COURIER_SOURCE_DIR COURIER_BINARY_DIR CONSUMER_SOURCE_DIR)
    if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
        message(FATAL_ERROR "run.cmake: -D${var}=... is required")
    endif()
endforeach()

function(run)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        list(JOIN ARGN " " cmd)
        message(FATAL_ERROR "failed (${rc}): ${cmd}")
    endif()
endfunction()

# Start clean so that a result from an earlier run can never pass this one.
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

# CONFIG is courier's build configuration ($<CONFIG>); the consumer is built the same way.
# It is empty for a single-config build without CMAKE_BUILD_TYPE, and then so is the consumer's.
set(config_args "")
if(NOT "${CONFIG}" STREQUAL "")
    set(config_args --config "${CONFIG}")
endif()

set(configure_args
    -S "${CONSUMER_SOURCE_DIR}" -B "${WORK_DIR}/build"
    "-DCMAKE_BUILD_TYPE=${CONFIG}"
    -DCOURIER_CONSUMER_MODE=${MODE}
    "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
    "-DCMAKE_EXE_LINKER_FLAGS=${EXE_LINKER_FLAGS}"
)
if(GENERATOR)
    list(APPEND configure_args -G "${GENERATOR}")
endif()
if(MAKE_PROGRAM)
    list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(CXX_COMPILER)
    list(APPEND configure_args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()

if(MODE STREQUAL "package")
    set(prefix "${WORK_DIR}/prefix")
    run("${CMAKE_COMMAND}" --install "${COURIER_BINARY_DIR}" --prefix "${prefix}" ${config_args})
    list(APPEND configure_args "-DCMAKE_PREFIX_PATH=${prefix}" "-DCOURIER_EXPECTED_PREFIX=${prefix}")
elseif(MODE STREQUAL "subdirectory")
    list(APPEND configure_args "-DCOURIER_SOURCE_DIR=${COURIER_SOURCE_DIR}")
    if(DEFINED SHARED_LIBS AND NOT SHARED_LIBS STREQUAL "")
        list(APPEND configure_args "-DBUILD_SHARED_LIBS=${SHARED_LIBS}")
    endif()
else()
    message(FATAL_ERROR "run.cmake: MODE must be package or subdirectory, not '${MODE}'")
endif()

run("${CMAKE_COMMAND}" ${configure_args})
run("${CMAKE_COMMAND}" --build "${WORK_DIR}/build" ${config_args} --parallel 2)

find_program(consumer consumer PATHS "${WORK_DIR}/build" PATH_SUFFIXES "${CONFIG}" NO_DEFAULT_PATH REQUIRED)
run("${consumer}")
message(STATUS "consumer (${MODE}) built and ran")
