#pragma once

#include <cstddef>
#include <cstdint>

namespace gatehouse::http {

/// Size limits applied while parsing (DESIGN.md "Limits"). Every one is configurable in the
/// INI file; these are the defaults.
struct HttpLimits {
    size_t maxRequestLine = 8 * 1024;    // request-target longer than this → 414
    size_t maxHeaderBytes = 32 * 1024;   // header block → 431 (502 for an upstream response)
    size_t maxHeaderCount = 100;         // fields → 431
    uint64_t maxBodyBytes = 8ull << 20;  // request body → 413; 0 = unlimited
};

}  // namespace gatehouse::http
