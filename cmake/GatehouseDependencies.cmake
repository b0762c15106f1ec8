# Every dependency comes from a Debian 12 package (scripts/install-deps.sh installs them).
find_package(Threads REQUIRED)
find_package(Poco 1.11 REQUIRED COMPONENTS Foundation Net NetSSL Crypto Util JSON Data DataSQLite)
find_package(fmt REQUIRED)
# OpenSSL (libssl-dev): JWT signatures in the auth plugins, credential hashing, and TLS.
find_package(OpenSSL REQUIRED)
find_package(cxxopts REQUIRED)
find_package(PkgConfig REQUIRED)
# PCRE2 (libpcre2-dev) for `~` route regexes: JIT-compiled, with match and depth limits, so a
# hostile path can neither blow the worker's stack (std::regex recurses) nor burn its CPU.
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)

# llhttp, the parser Node.js uses, from Debian's node-llhttp: C sources compiled here as a
# small static library. Its sources are never copied into this repository.
find_path(LLHTTP_INCLUDE_DIR llhttp.h PATHS /usr/share/include/llhttp /usr/include/llhttp REQUIRED)
find_path(LLHTTP_SOURCE_DIR llhttp.c PATHS /usr/share/llhttp REQUIRED)
add_library(llhttp_c STATIC ${LLHTTP_SOURCE_DIR}/api.c ${LLHTTP_SOURCE_DIR}/http.c
                            ${LLHTTP_SOURCE_DIR}/llhttp.c)
target_include_directories(llhttp_c SYSTEM PUBLIC ${LLHTTP_INCLUDE_DIR})
set_target_properties(llhttp_c PROPERTIES POSITION_INDEPENDENT_CODE ON C_STANDARD 99)
target_compile_options(llhttp_c PRIVATE -w)
