// Live configuration through the admin API: 100 writes under continuous traffic, over
// keep-alive and fresh connections, fail no request, and each write is visible on the very
// next request after it returns.

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "harness.h"

namespace gatehouse::test {
namespace {

TEST(AdminLive, HundredWritesUnderTrafficFailNothingAndApplyBeforeTheyReturn) {
    Upstream a("a"), b("b");
    const std::string config =
        R"({"upstreams":[{"name":"a","targets":[{"address":")" + a.address() +
        R"("}]},{"name":"b","targets":[{"address":")" + b.address() +
        R"("}]}],"routes":[{"name":"steady","match":{"paths":["/steady"]},"upstream":"a"}]})";
    Gateway gw(config);

    std::atomic<bool> stop{false};
    std::atomic<int> ok{0};
    std::mutex failuresMutex;
    std::map<std::string, int> failures;  // what went wrong, for the assertion message
    auto fail = [&](const std::string& what) {
        std::lock_guard lock(failuresMutex);
        ++failures[what];
    };
    auto traffic = [&](bool keepAlive) {
        std::unique_ptr<Connection> c;
        while (!stop) {
            try {
                if (!c || !keepAlive) c = std::make_unique<Connection>(gw.port());
                c->send(makeRequest("GET", "/steady/x"));
                const Response r = c->read();
                if (r.status == 200 && r.header("X-Upstream-Id") == "a")
                    ++ok;
                else
                    fail("status " + std::to_string(r.status));
            } catch (const std::exception& e) {
                fail(e.what());
                c.reset();
            }
        }
    };
    std::thread keepAliveTraffic(traffic, true), freshTraffic(traffic, false);

    for (int i = 0; i < 100; ++i) {
        const std::string name = "r" + std::to_string(i);
        // Mostly new routes; every tenth write changes the upstream the steady route uses,
        // and every fifth deletes an earlier route.
        const Response created = admin(
            gw, "POST", "/routes",
            R"({"name":")" + name + R"(","match":{"paths":["/)" + name + R"("]},"upstream":"b"})");
        ASSERT_EQ(created.status, 201) << created.body;
        const Response first = roundTrip(gw.port(), "GET", "/" + name + "/x");
        EXPECT_EQ(first.header("X-Upstream-Id"), "b")
            << name << " was not live when its write returned";
        if (i % 10 == 9) {
            const std::string weight = std::to_string(50 + i);
            const Response patched = admin(
                gw, "PATCH", "/upstreams/a",
                R"({"targets":[{"address":")" + a.address() + R"(","weight":)" + weight + "}]}");
            ASSERT_EQ(patched.status, 200) << patched.body;
        }
        if (i % 5 == 4) {
            const std::string old = "r" + std::to_string(i - 2);
            ASSERT_EQ(admin(gw, "DELETE", "/routes/" + old).status, 204);
            EXPECT_EQ(roundTrip(gw.port(), "GET", "/" + old + "/x").status, 404)
                << old << " still routed";
        }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stop = true;
    keepAliveTraffic.join();
    freshTraffic.join();

    EXPECT_GT(ok.load(), 200);
    std::string summary;
    for (const auto& [what, n] : failures)
        summary += what + " x" + std::to_string(n) + "; ";
    EXPECT_TRUE(failures.empty()) << summary;
    // Every write is one version in the history (plus the initial import).
    const auto status = admin(gw, "GET", "/status").json();
    EXPECT_EQ(status->getValue<int>("config_version"), 1 + 100 + 10 + 20);
}

TEST(AdminLive, RejectedWriteLeavesTheOldConfigurationServing) {
    Upstream a("a");
    Gateway gw(simpleConfig(a.address()));
    const int before = admin(gw, "GET", "/status").json()->getValue<int>("config_version");
    // Compiles only at snapshot time: an invalid regex is refused before anything is written.
    const Response bad =
        admin(gw, "POST", "/routes", R"({"name":"bad","match":{"paths":["~(["]},"upstream":"u"})");
    EXPECT_EQ(bad.status, 400);
    EXPECT_EQ(admin(gw, "GET", "/status").json()->getValue<int>("config_version"), before);
    EXPECT_EQ(roundTrip(gw.port(), "GET", "/still").status, 200);
    EXPECT_EQ(admin(gw, "GET", "/routes/bad").status, 404);
}

TEST(AdminLive, SighupPicksUpACliImportAndTheAdminApiSeesIt) {
    Upstream a("a");
    Gateway gw(simpleConfig(a.address()));
    ASSERT_EQ(gw.import(simpleConfig(
                  a.address(), R"({"name":"cli","match":{"paths":["/cli"]},"upstream":"u"})")),
              0);
    // Until the reload, an admin write would be based on a stale version: refused, not lost.
    const Response stale =
        admin(gw, "POST", "/routes", R"({"name":"x","match":{"paths":["/x"]},"upstream":"u"})");
    EXPECT_EQ(stale.status, 409) << stale.body;
    ASSERT_TRUE(gw.reload());
    EXPECT_EQ(admin(gw, "GET", "/routes/cli").status, 200);
    EXPECT_EQ(roundTrip(gw.port(), "GET", "/cli").status, 200);
    EXPECT_EQ(
        admin(gw, "POST", "/routes", R"({"name":"x","match":{"paths":["/x"]},"upstream":"u"})")
            .status,
        201);
}

}  // namespace
}  // namespace gatehouse::test
