#include "observe/traffic_metrics.h"

#include <gtest/gtest.h>
#include <llhttp.h>

#include <atomic>
#include <thread>

namespace gatehouse::observe {
namespace {

TEST(TrafficMetrics, SeriesAreSharedByNameAcrossSnapshots) {
    TrafficMetrics m(2);
    auto a = m.route("api");
    auto b = m.route("api");
    EXPECT_EQ(a.get(), b.get());
    EXPECT_NE(m.route("other").get(), a.get());
    EXPECT_EQ(m.upstream("api", "u").get(), m.upstream("api", "u").get());
    EXPECT_NE(m.upstream("api", "u").get(), m.upstream("api", "v").get());
}

TEST(TrafficMetrics, RendersCountsSummedOverWorkers) {
    TrafficMetrics m(2);
    auto api = m.route("api");
    auto up = m.upstream("api", "users");
    for (int i = 0; i < 3; ++i) {
        RouteCells& c = api->local(0);
        c.countStatus(methodSlot(HTTP_GET), 200);
        c.duration.record(800);
    }
    RouteCells& c1 = api->local(1);
    c1.countStatus(methodSlot(HTTP_GET), 200);
    c1.countStatus(methodSlot(HTTP_POST), 503);
    c1.duration.record(2000);
    c1.duration.record(70000000);
    up->local(1).duration.record(400);

    std::string out;
    m.render(out);
    EXPECT_NE(
        out.find("gatehouse_http_requests_total{route=\"api\",method=\"GET\",code=\"200\"} 4\n"),
        std::string::npos)
        << out;
    EXPECT_NE(
        out.find("gatehouse_http_requests_total{route=\"api\",method=\"POST\",code=\"503\"} 1\n"),
        std::string::npos);
    // Cumulative buckets: 3 at ≤1 ms, 4 at ≤2.5 ms, 5 at +Inf, and _count equal to +Inf.
    EXPECT_NE(out.find("gatehouse_request_duration_seconds_bucket{route=\"api\",le=\"0.001\"} 3\n"),
              std::string::npos);
    EXPECT_NE(
        out.find("gatehouse_request_duration_seconds_bucket{route=\"api\",le=\"0.0025\"} 4\n"),
        std::string::npos);
    EXPECT_NE(out.find("gatehouse_request_duration_seconds_bucket{route=\"api\",le=\"60\"} 4\n"),
              std::string::npos);
    EXPECT_NE(out.find("gatehouse_request_duration_seconds_bucket{route=\"api\",le=\"+Inf\"} 5\n"),
              std::string::npos);
    EXPECT_NE(out.find("gatehouse_request_duration_seconds_count{route=\"api\"} 5\n"),
              std::string::npos);
    EXPECT_NE(out.find("gatehouse_request_duration_seconds_sum{route=\"api\"} 70.004400\n"),
              std::string::npos);
    EXPECT_NE(
        out.find("gatehouse_upstream_duration_seconds_count{route=\"api\",upstream=\"users\"} 1\n"),
        std::string::npos);
    // A series that never saw traffic is not rendered.
    m.route("idle");
    out.clear();
    m.render(out);
    EXPECT_EQ(out.find("route=\"idle\""), std::string::npos);
}

TEST(TrafficMetrics, UnknownMethodsShareOneLabel) {
    TrafficMetrics m(1);
    auto r = m.route("r");
    r->local(0).countStatus(methodSlot(HTTP_PROPFIND), 200);
    r->local(0).countStatus(methodSlot(HTTP_MKCOL), 200);
    std::string out;
    m.render(out);
    EXPECT_NE(out.find("{route=\"r\",method=\"other\",code=\"200\"} 2\n"), std::string::npos)
        << out;
}

TEST(TrafficMetrics, StatusTableOverflowIsCountedNotLost) {
    TrafficMetrics m(1);
    auto r = m.route("r");
    uint64_t sent = 0;
    for (int code = 100; code < 100 + 2 * static_cast<int>(RouteCells::kStatusSlots); ++code) {
        r->local(0).countStatus(0, code);
        ++sent;
    }
    uint64_t counted = 0;
    r->cells().forEach([&](const RouteCells& c) {
        for (size_t i = 0; i < RouteCells::kStatusSlots; ++i)
            counted += c.statusCounts[i].get();
        counted += c.statusOverflow.get();
    });
    EXPECT_EQ(counted, sent);
}

TEST(TrafficMetrics, LabelValuesAreEscaped) {
    TrafficMetrics m(1);
    m.upstream("r", "a\"b\\c")->local(0).duration.record(1);
    m.route("r")->local(0).countStatus(0, 200);
    std::string out;
    m.render(out);
    EXPECT_NE(out.find("upstream=\"a\\\"b\\\\c\""), std::string::npos) << out;
}

TEST(TrafficMetrics, LiveViewCoversTheLastMinute) {
    TrafficMetrics m(1);
    auto r = m.route("r");
    uint64_t now = 1'000'000;
    m.sample(now);
    // 10 requests (2 of them 5xx) in each 5-second slot for 2 minutes.
    for (int slot = 0; slot < 24; ++slot) {
        for (int i = 0; i < 10; ++i) {
            r->local(0).duration.record(i < 9 ? 300 : 20000);
            if (i < 2) r->local(0).errors.add(1);
        }
        now += TrafficMetrics::kSampleEveryMs;
        m.sample(now);
    }
    for (int i = 0; i < 5; ++i)
        r->local(0).duration.record(300);  // the slot under way
    const auto st = m.routeStatus(now + 2000);
    ASSERT_EQ(st.size(), 1u);
    EXPECT_EQ(st[0].route, "r");
    // 11 complete slots (55 s) + 2 s of the current one.
    EXPECT_EQ(st[0].requests, 11u * 10 + 5);
    EXPECT_EQ(st[0].errors, 11u * 2);
    EXPECT_NEAR(st[0].windowS, 57.0, 0.01);
    EXPECT_GT(st[0].p50Us, 250);
    EXPECT_LE(st[0].p50Us, 500);
    EXPECT_GT(st[0].p99Us, 10000);
}

TEST(TrafficMetrics, SampleForgetsSeriesNoSnapshotHolds) {
    TrafficMetrics m(1);
    {
        auto gone = m.route("gone");
        gone->local(0).countStatus(0, 200);
        gone->local(0).duration.record(1);
    }
    auto kept = m.route("kept");
    kept->local(0).countStatus(0, 200);
    kept->local(0).duration.record(1);
    m.sample(10'000);
    std::string out;
    m.render(out);
    EXPECT_EQ(out.find("route=\"gone\""), std::string::npos);
    EXPECT_NE(out.find("route=\"kept\""), std::string::npos);
}

TEST(TrafficMetrics, RenderingWhileWorkersRecordNeverLosesACount) {
    TrafficMetrics m(2);
    auto r = m.route("r");
    std::atomic<bool> go{true};
    std::thread renderer([&] {
        while (go) {
            std::string out;
            m.render(out);
            (void)m.routeStatus(1);
        }
    });
    std::thread w0([&] {
        for (int i = 0; i < 200000; ++i) {
            r->local(0).countStatus(0, 200);
            r->local(0).duration.record(100);
        }
    });
    std::thread w1([&] {
        for (int i = 0; i < 200000; ++i) {
            r->local(1).countStatus(0, 200);
            r->local(1).duration.record(100);
        }
    });
    w0.join();
    w1.join();
    go = false;
    renderer.join();
    std::string out;
    m.render(out);
    EXPECT_NE(out.find("gatehouse_http_requests_total{route=\"r\",method=\"GET\",code=\"200\"} "
                       "400000\n"),
              std::string::npos);
}

}  // namespace
}  // namespace gatehouse::observe
