// Wall-clock cost of the per-request observability work, in isolation (hot caches: a lower
// bound). bench/metrics_instructions.sh counts the same work on the real binary.
//
//   cmake --build build-bench --target observe_micro && build-bench/bench/observe_micro

#include <benchmark/benchmark.h>
#include <llhttp.h>

#include "net/clock.h"
#include "observe/request_id.h"
#include "observe/trace_context.h"
#include "observe/traffic_metrics.h"

namespace gatehouse::observe {
namespace {

/// What observeExchange does for a proxied request: the status count, three histograms, two
/// byte counters.
void BM_RecordRequest(benchmark::State& state) {
    TrafficMetrics metrics(1);
    auto route = metrics.route("r");
    auto upstream = metrics.upstream("r", "u");
    uint64_t us = 300;
    for (auto _ : state) {
        RouteCells& c = route->local(0);
        c.countStatus(methodSlot(HTTP_GET), 200);
        c.duration.record(us);
        c.overhead.record(us / 20);
        c.bytesReceived.add(120);
        c.bytesSent.add(400);
        upstream->local(0).duration.record(us - us / 20);
        us = (us * 7 + 13) % 2000;  // vary the bucket
    }
}
BENCHMARK(BM_RecordRequest);

/// The clock reading metrics take per proxied request (three of them).
void BM_MonotonicClock(benchmark::State& state) {
    for (auto _ : state)
        benchmark::DoNotOptimize(net::monotonicUs());
}
BENCHMARK(BM_MonotonicClock);

/// Starting a trace: ids from the worker's generator and the traceparent sent upstream.
void BM_StartTrace(benchmark::State& state) {
    RequestIdGenerator rng;
    char out[TraceContext::kTraceparentLength];
    for (auto _ : state) {
        TraceContext t;
        TraceContext::storeId(t.traceId, rng.random());
        TraceContext::storeId(t.traceId + 8, rng.random());
        TraceContext::storeId(t.spanId, rng.random());
        t.flags = 1;
        t.formatTraceparent(out);
        benchmark::DoNotOptimize(out);
    }
}
BENCHMARK(BM_StartTrace);

}  // namespace
}  // namespace gatehouse::observe

BENCHMARK_MAIN();
