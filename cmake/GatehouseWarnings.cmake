# Warnings for project code only; third-party code (llhttp) gets none of these.
function(gatehouse_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                         -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wnull-dereference
                         -Wformat=2 -Wimplicit-fallthrough)
  if(GATEHOUSE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
