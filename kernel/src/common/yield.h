#pragma once

#include <sched.h>

namespace gatehouse {

/// Called by long control-side work (compiling a snapshot of thousands of routes) every few
/// hundred microseconds. On a box whose cores the workers keep busy, a waking admin thread
/// otherwise runs its whole write before the worker it displaced gets the core back, and that
/// stall shows in the proxy's p99 (bench/admin_writes.sh). Costs one syscall when nothing else
/// is runnable. Never call it on a worker.
inline void yieldToDataPlane() {
    ::sched_yield();
}

}  // namespace gatehouse
