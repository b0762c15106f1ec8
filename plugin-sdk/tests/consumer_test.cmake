# The SDK as a third party sees it (cmake -P script, run by CTest as plugin_sdk.consumer):
#   1. install the "sdk" component of SDK_BUILD_DIR into a scratch prefix and check the layout;
#   2. find_package(GatehousePluginSDK 1) works there, version 2 is refused;
#   3. build examples/add-header out of tree with CMake, run its CTest tests;
#   4. its add-header.so exports gatehouse_plugin_entry_v1 and nothing else;
#   5. build and test it again with its Makefile through pkg-config (if make and pkg-config
#      are available).
foreach(_var SDK_BUILD_DIR SDK_SOURCE_DIR WORK_DIR)
  if(NOT ${_var})
    message(FATAL_ERROR "consumer_test: ${_var} not set")
  endif()
endforeach()

function(run)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "WORKING_DIRECTORY" "COMMAND")
  if(NOT arg_WORKING_DIRECTORY)
    set(arg_WORKING_DIRECTORY "${WORK_DIR}")
  endif()
  string(REPLACE ";" " " _shown "${arg_COMMAND}")
  message(STATUS "consumer_test: ${_shown}")
  execute_process(COMMAND ${arg_COMMAND} WORKING_DIRECTORY "${arg_WORKING_DIRECTORY}"
                  RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _out)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "consumer_test: failed (${_rc}): ${_shown}\n${_out}")
  endif()
  set(run_output "${_out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(_prefix "${WORK_DIR}/prefix")
set(_compilers)
if(C_COMPILER)
  list(APPEND _compilers "-DCMAKE_C_COMPILER=${C_COMPILER}")
endif()
if(CXX_COMPILER)
  list(APPEND _compilers "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()

# 1. Install and check the layout.
run(COMMAND "${CMAKE_COMMAND}" --install "${SDK_BUILD_DIR}" --component sdk --prefix "${_prefix}")
foreach(_f
    include/gatehouse/plugin.h
    include/gatehouse/plugin.hpp
    include/gatehouse/testing/fake_host.hpp
    lib/cmake/GatehousePluginSDK/GatehousePluginSDKConfig.cmake
    lib/cmake/GatehousePluginSDK/GatehousePluginSDKConfigVersion.cmake
    lib/cmake/GatehousePluginSDK/GatehousePluginSDKTargets.cmake
    lib/cmake/GatehousePluginSDK/GatehousePluginSDKFunctions.cmake
    share/pkgconfig/gatehouse-plugin-sdk.pc
    share/gatehouse-plugin-sdk/gatehouse-plugin.map
    share/doc/gatehouse-plugin-sdk/README.md
    share/doc/gatehouse-plugin-sdk/examples/add-header/add_header.c)
  if(NOT EXISTS "${_prefix}/${_f}")
    message(FATAL_ERROR "consumer_test: ${_f} was not installed")
  endif()
endforeach()
file(GLOB_RECURSE _libs "${_prefix}/*.so" "${_prefix}/*.a")
if(_libs)
  message(FATAL_ERROR "consumer_test: the SDK installed libraries: ${_libs}")
endif()
file(READ "${_prefix}/share/pkgconfig/gatehouse-plugin-sdk.pc" _pc)
string(FIND "${_pc}" "prefix=${_prefix}\n" _at)
if(NOT _at EQUAL 0 OR NOT _pc MATCHES "\nLibs:[ ]*\n?$")
  message(FATAL_ERROR "consumer_test: unexpected gatehouse-plugin-sdk.pc:\n${_pc}")
endif()

# 2. Version compatibility: 1 is found, 2 is not.
foreach(_want 1 1.0 2)
  set(_dir "${WORK_DIR}/version-${_want}")
  file(WRITE "${_dir}/CMakeLists.txt"
       "cmake_minimum_required(VERSION 3.17)\nproject(v LANGUAGES NONE)\n"
       "find_package(GatehousePluginSDK ${_want} QUIET)\n"
       "if(NOT GatehousePluginSDK_FOUND)\n  message(FATAL_ERROR \"not found\")\nendif()\n"
       "if(NOT TARGET GatehousePluginSDK::sdk OR NOT COMMAND gatehouse_add_plugin)\n"
       "  message(FATAL_ERROR \"incomplete package\")\nendif()\n")
  execute_process(COMMAND "${CMAKE_COMMAND}" -S "${_dir}" -B "${_dir}/build" "-DCMAKE_PREFIX_PATH=${_prefix}"
                  RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_QUIET)
  if(_want STREQUAL "2" AND _rc EQUAL 0)
    message(FATAL_ERROR "consumer_test: find_package(GatehousePluginSDK 2) accepted SDK 1.x")
  elseif(NOT _want STREQUAL "2" AND NOT _rc EQUAL 0)
    message(FATAL_ERROR "consumer_test: find_package(GatehousePluginSDK ${_want}) failed")
  endif()
endforeach()

# 3. The example, out of tree, with CMake.
set(_example "${WORK_DIR}/example-src")
file(COPY "${SDK_SOURCE_DIR}/examples/add-header/" DESTINATION "${_example}")
set(_build "${WORK_DIR}/example-cmake")
run(COMMAND "${CMAKE_COMMAND}" -S "${_example}" -B "${_build}" "-DCMAKE_PREFIX_PATH=${_prefix}"
            -DCMAKE_BUILD_TYPE=Debug ${_compilers})
run(COMMAND "${CMAKE_COMMAND}" --build "${_build}")
run(COMMAND "${CMAKE_CTEST_COMMAND}" --output-on-failure WORKING_DIRECTORY "${_build}")
run(COMMAND "${CMAKE_COMMAND}" --install "${_build}" --prefix "${WORK_DIR}/gateway")
if(NOT EXISTS "${WORK_DIR}/gateway/lib/gatehouse/plugins/add-header.so")
  message(FATAL_ERROR "consumer_test: add-header.so was not installed into lib/gatehouse/plugins")
endif()

# 4. Exports: the entry point and nothing else.
function(check_exports so)
  if(NOT NM)
    message(STATUS "consumer_test: no nm, export check skipped")
    return()
  endif()
  run(COMMAND "${NM}" -D --defined-only "${so}")
  string(REGEX REPLACE "\n$" "" _lines "${run_output}")
  string(REPLACE "\n" ";" _lines "${_lines}")
  set(_symbols)
  foreach(_line IN LISTS _lines)
    if(_line MATCHES "^[0-9a-fA-F]* *[A-Za-z] (.+)$")
      list(APPEND _symbols "${CMAKE_MATCH_1}")
    endif()
  endforeach()
  if(NOT _symbols STREQUAL "gatehouse_plugin_entry_v1")
    message(FATAL_ERROR "consumer_test: ${so} exports [${_symbols}], expected only gatehouse_plugin_entry_v1")
  endif()
endfunction()
check_exports("${_build}/add-header.so")

# 5. The example with its Makefile and pkg-config.
if(MAKE_PROGRAM AND PKG_CONFIG)
  set(_make "${WORK_DIR}/example-make")
  file(COPY "${SDK_SOURCE_DIR}/examples/add-header/" DESTINATION "${_make}")
  set(_vars "PKG_CONFIG=${PKG_CONFIG}")
  if(C_COMPILER)
    list(APPEND _vars "CC=${C_COMPILER}")
  endif()
  if(CXX_COMPILER)
    list(APPEND _vars "CXX=${CXX_COMPILER}")
  endif()
  run(COMMAND "${CMAKE_COMMAND}" -E env "PKG_CONFIG_PATH=${_prefix}/share/pkgconfig"
              "${MAKE_PROGRAM}" -C "${_make}" ${_vars} check)
  check_exports("${_make}/add-header.so")
else()
  message(STATUS "consumer_test: make or pkg-config missing, Makefile build skipped")
endif()
message(STATUS "consumer_test: passed")
