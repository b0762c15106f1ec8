#pragma once

#include <cstdint>
#include <string_view>

namespace gatehouse {

/// FNV-1a 64, extendable one byte at a time (the route index is probed incrementally).
inline uint64_t fnvStart() {
    return 1469598103934665603ull;
}
inline uint64_t fnvStep(uint64_t h, char c) {
    return (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
}
inline uint64_t fnvHash(std::string_view s) {
    uint64_t h = fnvStart();
    for (char c : s)
        h = fnvStep(h, c);
    return h;
}

}  // namespace gatehouse
