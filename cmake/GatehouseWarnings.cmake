# Warnings for project code only; third-party code (llhttp) gets none of these.
function(gatehouse_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                         -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wnull-dereference
                         -Wformat=2 -Wimplicit-fallthrough)
  # GCC 12 reports -Wrestrict on plain std::string concatenation at -O3 (GCC bug 105329, a
  # false positive inside libstdc++'s char_traits); it would fail every Release build.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(GATEHOUSE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
