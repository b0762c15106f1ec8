#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>

namespace gatehouse::observe {

/// A counter with one writer (the worker that owns it) and any number of readers. The writer
/// adds with a plain load and store, which costs no locked instruction; readers see a value
/// that is at most one update old.
class LocalCounter {
public:
    void add(uint64_t n) {
        v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    uint64_t get() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> v_{0};
};

/// Latency bucket upper bounds in microseconds (Prometheus `le`, inclusive), from the gateway's
/// own overhead (tens of µs) to slow upstreams (a minute).
inline constexpr uint32_t kLatencyBoundsUs[] = {
    50,     100,    250,    500,     1000,    2500,    5000,     10000,    25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000};
inline constexpr const char* kLatencyBoundLabels[] = {
    "0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",     "0.25",   "0.5",     "1",      "2.5",   "5",      "10",    "30",   "60"};
static_assert(std::size(kLatencyBoundsUs) == std::size(kLatencyBoundLabels));
inline constexpr size_t kLatencyBuckets = std::size(kLatencyBoundsUs) + 1;  // the last is +Inf

inline size_t latencyBucket(uint64_t us) {
    size_t i = 0;
    while (i < std::size(kLatencyBoundsUs) && us > kLatencyBoundsUs[i])
        ++i;
    return i;
}

/// One worker's share of a latency histogram.
struct LatencyCells {
    LocalCounter buckets[kLatencyBuckets];  // per bucket, not cumulative
    LocalCounter sumUs;

    void record(uint64_t us) {
        buckets[latencyBucket(us)].add(1);
        sumUs.add(us);
    }
};

/// A latency histogram summed over workers (or a difference of two such sums).
struct LatencyTotals {
    uint64_t buckets[kLatencyBuckets] = {};
    uint64_t sumUs = 0;

    void add(const LatencyCells& c) {
        for (size_t i = 0; i < kLatencyBuckets; ++i)
            buckets[i] += c.buckets[i].get();
        sumUs += c.sumUs.get();
    }
    uint64_t count() const {
        uint64_t n = 0;
        for (uint64_t b : buckets)
            n += b;
        return n;
    }
    /// `this - older`, for counts read at two moments (never negative: counters only grow).
    LatencyTotals since(const LatencyTotals& older) const {
        LatencyTotals d;
        for (size_t i = 0; i < kLatencyBuckets; ++i)
            d.buckets[i] = buckets[i] >= older.buckets[i] ? buckets[i] - older.buckets[i] : 0;
        d.sumUs = sumUs >= older.sumUs ? sumUs - older.sumUs : 0;
        return d;
    }
    void merge(const LatencyTotals& o) {
        for (size_t i = 0; i < kLatencyBuckets; ++i)
            buckets[i] += o.buckets[i];
        sumUs += o.sumUs;
    }
    /// The q-quantile in µs, interpolated linearly inside its bucket as Prometheus'
    /// histogram_quantile() does; the +Inf bucket answers its lower bound. -1 when empty.
    double quantileUs(double q) const {
        const uint64_t n = count();
        if (n == 0) return -1;
        const double rank = q * static_cast<double>(n);
        uint64_t below = 0;
        for (size_t i = 0; i < kLatencyBuckets; ++i) {
            if (buckets[i] == 0) continue;
            if (static_cast<double>(below + buckets[i]) >= rank) {
                const double lo = i == 0 ? 0 : kLatencyBoundsUs[i - 1];
                if (i == kLatencyBuckets - 1) return lo;
                const double hi = kLatencyBoundsUs[i];
                const double within =
                    (rank - static_cast<double>(below)) / static_cast<double>(buckets[i]);
                return lo + (hi - lo) * (within < 0 ? 0 : within);
            }
            below += buckets[i];
        }
        return kLatencyBoundsUs[kLatencyBuckets - 2];
    }
};

}  // namespace gatehouse::observe
