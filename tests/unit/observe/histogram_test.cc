#include "observe/histogram.h"

#include <gtest/gtest.h>

namespace gatehouse::observe {
namespace {

TEST(LatencyHistogram, BucketsAreInclusiveUpperBounds) {
    EXPECT_EQ(latencyBucket(0), 0u);
    EXPECT_EQ(latencyBucket(50), 0u);  // le="0.00005" includes 50 µs
    EXPECT_EQ(latencyBucket(51), 1u);
    EXPECT_EQ(latencyBucket(1000), 4u);
    EXPECT_EQ(latencyBucket(60000000), kLatencyBuckets - 2);
    EXPECT_EQ(latencyBucket(60000001), kLatencyBuckets - 1);  // +Inf
}

TEST(LatencyHistogram, TotalsSumCellsAndCount) {
    LatencyCells a, b;
    a.record(10);
    a.record(700);
    b.record(700);
    b.record(90000000);
    LatencyTotals t;
    t.add(a);
    t.add(b);
    EXPECT_EQ(t.count(), 4u);
    EXPECT_EQ(t.sumUs, 10u + 700 + 700 + 90000000);
    EXPECT_EQ(t.buckets[0], 1u);
    EXPECT_EQ(t.buckets[latencyBucket(700)], 2u);
    EXPECT_EQ(t.buckets[kLatencyBuckets - 1], 1u);
}

TEST(LatencyHistogram, QuantilesInterpolateInsideTheBucket) {
    LatencyTotals t;
    EXPECT_LT(t.quantileUs(0.5), 0);  // empty
    // 100 requests evenly in (500, 1000] µs: the median is about 750.
    t.buckets[latencyBucket(800)] = 100;
    EXPECT_NEAR(t.quantileUs(0.5), 750, 1);
    EXPECT_NEAR(t.quantileUs(0.99), 995, 1);
    // One slow outlier does not move the median but owns the top percentile.
    LatencyTotals u;
    u.buckets[latencyBucket(80)] = 99;
    u.buckets[latencyBucket(2000000)] = 1;
    EXPECT_LE(u.quantileUs(0.5), 100);
    EXPECT_GT(u.quantileUs(0.999), 1000000);
}

TEST(LatencyHistogram, DifferenceOfTwoReadings) {
    LatencyCells c;
    c.record(100);
    LatencyTotals before;
    before.add(c);
    c.record(100);
    c.record(5000);
    LatencyTotals after;
    after.add(c);
    const LatencyTotals d = after.since(before);
    EXPECT_EQ(d.count(), 2u);
    EXPECT_EQ(d.sumUs, 5100u);
}

}  // namespace
}  // namespace gatehouse::observe
