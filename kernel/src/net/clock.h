#pragma once

#include <time.h>

#include <cstdint>

namespace gatehouse::net {

/// Monotonic milliseconds. Event loops cache one reading per iteration (nginx does the same):
/// every timer in an iteration sees the same "now", and the hot path makes no clock call.
inline uint64_t monotonicMs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000u + static_cast<uint64_t>(ts.tv_nsec) / 1000000u;
}

inline uint64_t monotonicUs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace gatehouse::net
