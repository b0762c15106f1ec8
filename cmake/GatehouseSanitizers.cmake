# -DGATEHOUSE_SANITIZE=address,undefined builds everything (tests included) with the sanitizers.
if(GATEHOUSE_SANITIZE)
  set(_flags -fsanitize=${GATEHOUSE_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_compile_options(${_flags})
  add_link_options(${_flags})
  message(STATUS "gatehouse: sanitizers ${GATEHOUSE_SANITIZE}")
endif()
