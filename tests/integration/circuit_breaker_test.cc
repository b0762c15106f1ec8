// circuit-breaker through the real proxy: a route's breaker trips on consecutive failures
// and on a failure ratio, answers 503 without contacting the upstream while open, lets a
// probe through after open_s and closes (or opens again); per-target breakers steer traffic
// away from a dead target; state is visible in the admin API and metrics, survives unrelated
// configuration writes and starts afresh when the breaker's own configuration changes.

#include <gtest/gtest.h>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <chrono>
#include <string>
#include <thread>

#include "harness.h"

namespace gatehouse::test {
namespace {

using std::chrono::milliseconds;

/// Requests the upstream has served, this /stats request included.
int64_t upstreamRequests(const Upstream& up) {
    return roundTrip(up.port(), "GET", "/stats").json()->getValue<int64_t>("requests");
}

class CircuitBreaker : public ::testing::Test {
protected:
    CircuitBreaker() : gw_(simpleConfig(up_.address()), options()) {}
    // One worker: a request's outcome (on_log) is recorded before the next request runs, so
    // the sequences below are exact. Across workers the state is the host's shared state.
    static Gateway::Options options() {
        Gateway::Options o;
        o.pluginDir = FIRST_PARTY_PLUGINS_DIR;
        o.workers = 1;
        return o;
    }
    std::string addBreaker(const std::string& config) {
        const Response r =
            admin(gw_, "POST", "/plugins",
                  R"({"name":"circuit-breaker","route":"r","config":)" + config + "}");
        EXPECT_EQ(r.status, 201) << r.body;
        return r.status == 201 ? r.json()->getValue<std::string>("id") : "";
    }
    std::string breakerState(const std::string& id) {
        const Response r = admin(gw_, "GET", "/plugins/" + id + "/status");
        EXPECT_EQ(r.status, 200) << r.body;
        const auto list = r.json()->getObject("status")->getArray("breakers");
        return list && list->size() == 1
                   ? list->getObject(0)->getValue<std::string>("state")
                   : "(" + std::to_string(list ? list->size() : 0) + " breakers)";
    }
    int get(const std::string& path) { return roundTrip(gw_.port(), "GET", path).status; }
    /// The outcome is recorded in on_log, just after the response went out: the client's
    /// next request (on another worker) can overtake it, so wait for the state.
    bool waitState(const std::string& id, const std::string& state) {
        return eventually([&] { return breakerState(id) == state; });
    }

    Upstream up_;
    Gateway gw_;
};

TEST_F(CircuitBreaker, OpensOnConsecutiveFailuresProbesAndCloses) {
    const std::string id = addBreaker(R"({"consecutive_failures":3,"open_s":1})");
    EXPECT_EQ(get("/ok"), 200);
    EXPECT_EQ(get("/status/500"), 500);
    EXPECT_EQ(get("/status/503"), 503);
    EXPECT_EQ(get("/ok"), 200) << "a success resets the count";
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(get("/status/502"), 502);
    ASSERT_TRUE(waitState(id, "open"));

    // Open: answered here, the upstream is not contacted.
    const int64_t before = upstreamRequests(up_);
    const Response open = roundTrip(gw_.port(), "GET", "/ok");
    EXPECT_EQ(open.status, 503);
    EXPECT_EQ(open.header("Retry-After"), "1");
    EXPECT_EQ(open.json()->getValue<std::string>("error"), "circuit open: the upstream is failing");
    EXPECT_EQ(upstreamRequests(up_), before + 1) << "only the /stats request itself";
    EXPECT_TRUE(gw_.waitForLog("circuit opened for route r: 3 consecutive failures"));
    const Response metrics = admin(gw_, "GET", "/metrics");
    EXPECT_NE(metrics.body.find("circuit_breaker_opened_total{plugin=\"circuit-breaker\"} 1"),
              std::string::npos);
    EXPECT_NE(metrics.body.find("circuit_breaker_rejected_total{plugin=\"circuit-breaker\"} 1"),
              std::string::npos);

    // After open_s a probe goes through; it fails: open again.
    std::this_thread::sleep_for(milliseconds(1100));
    EXPECT_EQ(get("/status/500"), 500) << "the probe reaches the upstream";
    ASSERT_TRUE(waitState(id, "open"));
    EXPECT_EQ(get("/ok"), 503) << "the failed probe opened it again";
    // Next time the probe succeeds: closed, traffic flows.
    std::this_thread::sleep_for(milliseconds(1100));
    EXPECT_EQ(get("/ok"), 200);
    EXPECT_TRUE(waitState(id, "closed"));
    EXPECT_EQ(get("/ok"), 200);
}

TEST_F(CircuitBreaker, HalfOpenLetsOnlyItsProbesThrough) {
    const std::string id =
        addBreaker(R"({"consecutive_failures":1,"open_s":1,"half_open_probes":2})");
    EXPECT_EQ(get("/status/500"), 500);
    ASSERT_TRUE(waitState(id, "open"));
    std::this_thread::sleep_for(milliseconds(1100));
    // Two slow probes in flight; a third request meanwhile is refused.
    Connection a(gw_.port()), b(gw_.port());
    a.send(makeRequest("GET", "/delay/300"));
    b.send(makeRequest("GET", "/delay/300"));
    std::this_thread::sleep_for(milliseconds(100));
    EXPECT_EQ(get("/ok"), 503);
    EXPECT_EQ(a.read().status, 200);
    EXPECT_EQ(b.read().status, 200);
    EXPECT_TRUE(waitState(id, "closed")) << "both probes succeeded";
    EXPECT_EQ(get("/ok"), 200);
}

TEST_F(CircuitBreaker, OpensOnAFailureRatioOverTheWindow) {
    const std::string id = addBreaker(
        R"({"consecutive_failures":0,"failure_ratio":0.5,"window_s":60,"min_requests":6,"open_s":30})");
    // Alternating: never two failures in a row, but half of them fail.
    for (int i = 0; i < 2; ++i) {
        EXPECT_EQ(get("/ok"), 200);
        EXPECT_EQ(get("/status/500"), 500);
    }
    EXPECT_EQ(get("/ok"), 200) << "5 requests: below min_requests";
    EXPECT_EQ(breakerState(id), "closed");
    EXPECT_EQ(get("/status/500"), 500) << "6 requests, 3 failures: 0.5";
    ASSERT_TRUE(waitState(id, "open"));
    EXPECT_EQ(get("/ok"), 503);
}

TEST_F(CircuitBreaker, StateSurvivesUnrelatedWritesAndResetsWhenItsConfigChanges) {
    const std::string id = addBreaker(R"({"consecutive_failures":1,"open_s":60})");
    EXPECT_EQ(get("/status/500"), 500);
    ASSERT_TRUE(waitState(id, "open"));
    EXPECT_EQ(get("/ok"), 503);
    ASSERT_EQ(admin(gw_, "POST", "/routes",
                    R"({"name":"other","match":{"paths":["/other"]},"upstream":"u"})")
                  .status,
              201);
    EXPECT_EQ(get("/ok"), 503) << "an unrelated write keeps the breaker open";
    ASSERT_EQ(admin(gw_, "PATCH", "/plugins/" + id,
                    R"({"config":{"consecutive_failures":2,"open_s":60}})")
                  .status,
              200);
    EXPECT_EQ(get("/ok"), 200) << "a new configuration starts closed";
    // Refused requests never count: an unknown plugin id and bad configs are 4xx.
    EXPECT_EQ(admin(gw_, "GET", "/plugins/nope/status").status, 404);
    const Response bad = admin(gw_, "POST", "/plugins",
                               R"({"name":"circuit-breaker","route":"other",)"
                               R"("config":{"consecutive_failures":0}})");
    EXPECT_EQ(bad.status, 400);
    EXPECT_NE(bad.body.find("nothing would open the breaker"), std::string::npos) << bad.body;
}

TEST(CircuitBreakerPerTarget, AnOpenTargetIsAvoidedAndTheOthersServe) {
    Upstream good("good");
    Upstream dead("dead");
    const std::string deadAddress = dead.address();
    dead.stop();
    Gateway::Options o;
    o.pluginDir = FIRST_PARTY_PLUGINS_DIR;
    Gateway gw(R"({"upstreams":[{"name":"u","targets":[{"address":")" + good.address() +
                   R"("},{"address":")" + deadAddress +
                   R"("}]}],"routes":[{"name":"r","match":{"paths":["/"]},"upstream":"u"}]})",
               o);
    const Response p = admin(gw, "POST", "/plugins",
                             R"({"name":"circuit-breaker","route":"r","config":)"
                             R"({"per_target":true,"consecutive_failures":2,"open_s":60}})");
    ASSERT_EQ(p.status, 201) << p.body;
    const std::string id = p.json()->getValue<std::string>("id");
    // Round robin sends every other request to the dead target until its breaker opens after
    // two connect failures (a third may overtake the second's on_log on the other worker).
    int failures = 0;
    for (int i = 0; i < 6; ++i)
        if (roundTrip(gw.port(), "GET", "/x").status == 502) ++failures;
    EXPECT_GE(failures, 2);
    EXPECT_LE(failures, 3);
    for (int i = 0; i < 10; ++i) {
        const Response r = roundTrip(gw.port(), "GET", "/x");
        EXPECT_EQ(r.status, 200);
        EXPECT_EQ(r.header("X-Upstream-Id"), "good");
    }
    const Response st = admin(gw, "GET", "/plugins/" + id + "/status");
    ASSERT_EQ(st.status, 200) << st.body;
    bool deadOpen = false;
    const auto list = st.json()->getObject("status")->getArray("breakers");
    for (size_t i = 0; i < list->size(); ++i) {
        const auto b = list->getObject(static_cast<unsigned>(i));
        if (b->getValue<std::string>("target") == deadAddress)
            deadOpen = b->getValue<std::string>("state") == "open";
    }
    EXPECT_TRUE(deadOpen) << st.body;
}

}  // namespace
}  // namespace gatehouse::test
