# gatehouse_add_plugin: build a gatehouse plugin (a shared object loaded with dlopen).
#
#   gatehouse_add_plugin(<target> SOURCES <file>...
#                        [OUTPUT_NAME <name>]          # default: <target>  -> <name>.so
#                        [INSTALL [DESTINATION <dir>] [COMPONENT <component>]]
#                        [ALLOW_UNDEFINED])
#
# Makes a MODULE library named exactly <name>.so (no "lib" prefix), compiled position
# independent with hidden visibility, linked against GatehousePluginSDK::sdk (headers only:
# plugins link nothing of gatehouse) and with a linker version script that exports only
# gatehouse_plugin_entry_v* -- so that C++ plugins do not leak standard library template
# instances into the gateway's symbol space. Undefined symbols are link errors (a plugin can
# only use the host through the function table) unless ALLOW_UNDEFINED is given.
#
# INSTALL installs the plugin into DESTINATION (default: ${GATEHOUSE_PLUGIN_INSTALL_DIR},
# itself defaulting to lib/gatehouse/plugins under the install prefix), in COMPONENT
# (default: plugins).
include_guard(GLOBAL)

if(NOT DEFINED GATEHOUSE_PLUGIN_INSTALL_DIR)
  set(GATEHOUSE_PLUGIN_INSTALL_DIR "lib/gatehouse/plugins")
endif()

function(gatehouse_add_plugin target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "INSTALL;ALLOW_UNDEFINED" "OUTPUT_NAME;DESTINATION;COMPONENT"
                        "SOURCES")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "gatehouse_add_plugin(${target}): unexpected arguments: ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "gatehouse_add_plugin(${target}): SOURCES is required")
  endif()
  if(NOT TARGET GatehousePluginSDK::sdk)
    message(FATAL_ERROR "gatehouse_add_plugin(${target}): GatehousePluginSDK::sdk is missing; "
                        "call find_package(GatehousePluginSDK 1 REQUIRED) first")
  endif()
  if(NOT arg_OUTPUT_NAME)
    set(arg_OUTPUT_NAME "${target}")
  endif()

  add_library(${target} MODULE ${arg_SOURCES})
  target_link_libraries(${target} PRIVATE GatehousePluginSDK::sdk)
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    SUFFIX ".so"
    OUTPUT_NAME "${arg_OUTPUT_NAME}"
    POSITION_INDEPENDENT_CODE ON
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)

  # Minimum language levels of the SDK headers (plugin.h: C99, plugin.hpp: C++17); a
  # project asking for more keeps what it asked for.
  get_property(_langs GLOBAL PROPERTY ENABLED_LANGUAGES)
  if("C" IN_LIST _langs)
    target_compile_features(${target} PRIVATE c_std_99)
  endif()
  if("CXX" IN_LIST _langs)
    target_compile_features(${target} PRIVATE cxx_std_17)
  endif()

  if(NOT APPLE AND NOT WIN32)
    # ELF linkers (GNU ld, gold, lld): export the entry point(s) and nothing else.
    set(_map "${CMAKE_CURRENT_BINARY_DIR}/${target}.exports.map")
    set(_content "{\n  global:\n    gatehouse_plugin_entry_v*;\n  local:\n    *;\n};\n")
    set(_old "")
    if(EXISTS "${_map}")
      file(READ "${_map}" _old)
    endif()
    if(NOT _old STREQUAL _content)
      file(WRITE "${_map}" "${_content}")
    endif()
    target_link_options(${target} PRIVATE "LINKER:--version-script=${_map}")
    set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS "${_map}")
    if(NOT arg_ALLOW_UNDEFINED)
      target_link_options(${target} PRIVATE "LINKER:--no-undefined")
    endif()
  endif()

  if(arg_INSTALL)
    if(NOT arg_DESTINATION)
      set(arg_DESTINATION "${GATEHOUSE_PLUGIN_INSTALL_DIR}")
    endif()
    if(NOT arg_COMPONENT)
      set(arg_COMPONENT plugins)
    endif()
    install(TARGETS ${target} LIBRARY DESTINATION "${arg_DESTINATION}" COMPONENT "${arg_COMPONENT}")
  endif()
endfunction()
