// Signals: SIGTERM drains in-flight requests, SIGHUP applies new configuration under load
// without failing a request.

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <future>
#include <thread>

#include "harness.h"

namespace gatehouse::test {
namespace {

TEST(Lifecycle, SigtermLetsASlowInFlightRequestFinish) {
    Upstream up;
    Gateway gw(simpleConfig(up.address()));
    auto slow =
        std::async(std::launch::async, [&] { return roundTrip(gw.port(), "GET", "/delay/1500"); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    gw.process().signal(SIGTERM);
    ASSERT_TRUE(gw.waitForLog("\"draining\""));
    // New connections are no longer accepted...
    EXPECT_TRUE(eventually([&] {
        try {
            Connection c(gw.port());
            c.send(makeRequest("GET", "/"));
            return c.closedByPeer(std::chrono::seconds(1));
        } catch (const std::exception&) {
            return true;  // refused
        }
    }));
    // ...while the one in flight completes.
    const Response r = slow.get();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("Connection"), "close");
    const auto status = gw.process().wait(std::chrono::seconds(10));
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(*status, 0);
    EXPECT_TRUE(gw.waitForLog("\"stopped\""));
}

TEST(Lifecycle, SigtermClosesIdleKeepAliveConnections) {
    Upstream up;
    Gateway gw(simpleConfig(up.address()));
    Connection idle(gw.port());
    idle.send(makeRequest("GET", "/"));
    EXPECT_EQ(idle.read().status, 200);
    const auto start = std::chrono::steady_clock::now();
    gw.process().signal(SIGTERM);
    EXPECT_TRUE(idle.closedByPeer());
    EXPECT_EQ(gw.process().wait(std::chrono::seconds(10)), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - start,
              std::chrono::seconds(3));  // not the drain timeout
}

TEST(Lifecycle, DrainTimeoutCutsWhatIsLeft) {
    Upstream up;
    Gateway::Options o;
    o.extraIni = "[server]\ndrain_timeout_ms = 300\n";
    Gateway gw(simpleConfig(up.address()), o);
    auto slow = std::async(std::launch::async, [&] {
        try {
            return roundTrip(gw.port(), "GET", "/delay/5000").status;
        } catch (const std::exception&) {
            return -1;  // cut off: expected
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto start = std::chrono::steady_clock::now();
    gw.process().signal(SIGTERM);
    EXPECT_EQ(gw.process().wait(std::chrono::seconds(10)), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
    EXPECT_EQ(slow.get(), -1);
}

TEST(Lifecycle, SighupAppliesANewRouteUnderSteadyTrafficWithoutAFailure) {
    Upstream a("a"), b("b");
    const std::string before =
        R"({"upstreams":[{"name":"a","targets":[{"address":")" + a.address() +
        R"("}]},{"name":"b","targets":[{"address":")" + b.address() +
        R"("}]}],"routes":[{"name":"main","match":{"paths":["/"]},"upstream":"a"})";
    Gateway gw(before + "]}");
    std::atomic<bool> stop{false};
    std::atomic<int> ok{0}, failed{0};
    auto traffic = [&](bool keepAlive) {
        std::unique_ptr<Connection> c;
        while (!stop) {
            try {
                if (!c || !keepAlive) c = std::make_unique<Connection>(gw.port());
                c->send(makeRequest("GET", "/steady"));
                const Response r = c->read();
                (r.status == 200 ? ok : failed)++;
            } catch (const std::exception&) {
                ++failed;
                c.reset();
            }
        }
    };
    std::thread t1(traffic, true), t2(traffic, false);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));

    for (int round = 0; round < 5; ++round) {
        const std::string name = "new" + std::to_string(round);
        ASSERT_EQ(gw.import(before + R"(,{"name":")" + name + R"(","match":{"paths":["/)" + name +
                            R"("]},"upstream":"b"}]})"),
                  0);
        ASSERT_TRUE(gw.reload());
        // The new route answers on the first request after the reload.
        EXPECT_EQ(roundTrip(gw.port(), "GET", "/" + name).header("X-Upstream-Id"), "b");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stop = true;
    t1.join();
    t2.join();
    EXPECT_GT(ok.load(), 50);
    EXPECT_EQ(failed.load(), 0);
}

TEST(Lifecycle, SighupWithABrokenIniKeepsServing) {
    Upstream up;
    Gateway gw(simpleConfig(up.address()));
    gw.rewriteIni("[limits]\nmax_body_bytes = lots\n");
    gw.process().signal(SIGHUP);
    EXPECT_TRUE(gw.waitForLog("\"reload_failed\""));
    EXPECT_TRUE(gw.waitForLog("limits.max_body_bytes"));
    EXPECT_EQ(roundTrip(gw.port(), "GET", "/").status, 200);
}

TEST(Lifecycle, SighupAppliesNewLimits) {
    Upstream up;
    Gateway gw(simpleConfig(up.address()));
    EXPECT_EQ(roundTrip(gw.port(), "POST", "/", {}, std::string(2000, 'x')).status, 200);
    gw.rewriteIni("[limits]\nmax_body_bytes = 1000\n");
    ASSERT_TRUE(gw.reload());
    EXPECT_EQ(roundTrip(gw.port(), "POST", "/", {}, std::string(2000, 'x')).status, 413);
}

TEST(Lifecycle, StalePooledConnectionIsRetriedOnceForIdempotentRequests) {
    // This upstream serves one request per connection, keeps the connection open, and then
    // closes it without answering the next one: a keep-alive connection that died while idle.
    Upstream up("once", "one-per-connection");
    Gateway gw(simpleConfig(up.address()), {1, "", true, ""});
    Connection c(gw.port());
    for (int i = 0; i < 5; ++i) {
        c.send(makeRequest("GET", "/r" + std::to_string(i)));
        EXPECT_EQ(c.read().status, 200) << "GET " << i;
    }
    // A POST is never replayed: the failure is reported.
    c.send(makeRequest("POST", "/p", {}, "payload"));
    EXPECT_EQ(c.read().status, 502);
}

}  // namespace
}  // namespace gatehouse::test
