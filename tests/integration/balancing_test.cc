// Load balancing across real upstream processes: each answers with its own id.

#include <gtest/gtest.h>

#include <future>
#include <map>
#include <set>
#include <thread>

#include "harness.h"

namespace gatehouse::test {
namespace {

std::string upstreamJson(const std::string& extra,
                         const std::vector<std::pair<const Upstream*, int>>& targets) {
    std::string t;
    for (const auto& [u, w] : targets) {
        if (!t.empty()) t += ",";
        t += R"({"address":")" + u->address() + R"(","weight":)" + std::to_string(w) + "}";
    }
    return R"({"upstreams":[{"name":"u")" + extra + R"(,"targets":[)" + t +
           R"(]}],"routes":[{"name":"r","match":{"paths":["/"]},"upstream":"u"}]})";
}

std::map<std::string, int> distribution(uint16_t port, int requests, bool freshConnections) {
    std::map<std::string, int> seen;
    Connection keep(port);
    for (int i = 0; i < requests; ++i) {
        Response r;
        if (freshConnections) {
            r = roundTrip(port, "GET", "/");
        } else {
            keep.send(makeRequest("GET", "/"));
            r = keep.read();
        }
        ++seen[r.header("X-Upstream-Id").value_or("none")];
    }
    return seen;
}

TEST(Balancing, WeightedRoundRobinFollowsWeights) {
    Upstream a("a"), b("b"), c("c");
    Gateway gw(upstreamJson("", {{&a, 100}, {&b, 200}, {&c, 300}}));
    // Fresh connections spread over both workers; each worker's sequence is exact, so the sum
    // stays within a few requests of the weights.
    auto seen = distribution(gw.port(), 600, true);
    EXPECT_NEAR(seen["a"], 100, 15);
    EXPECT_NEAR(seen["b"], 200, 15);
    EXPECT_NEAR(seen["c"], 300, 15);
    EXPECT_EQ(seen["none"], 0);
}

TEST(Balancing, SmoothWithinOneConnection) {
    Upstream a("a"), b("b");
    Gateway gw(upstreamJson("", {{&a, 100}, {&b, 100}}), {1, "", true, ""});
    auto seen = distribution(gw.port(), 100, false);
    EXPECT_EQ(seen["a"], 50);
    EXPECT_EQ(seen["b"], 50);
}

TEST(Balancing, ZeroWeightAndUnresolvableTargetsGetNothing) {
    Upstream a("a"), b("b");
    const std::string cfg = R"({"upstreams":[{"name":"u","targets":[{"address":")" + a.address() +
                            R"(","weight":100},)" + R"({"address":")" + b.address() +
                            R"(","weight":0},{"address":"no-such-host.invalid:80"}]}],)" +
                            R"("routes":[{"name":"r","match":{"paths":["/"]},"upstream":"u"}]})";
    Gateway gw(cfg);
    auto seen = distribution(gw.port(), 40, true);
    EXPECT_EQ(seen["a"], 40);
    EXPECT_TRUE(gw.waitForLog("\"target_unresolved\""));
}

TEST(Balancing, LeastConnectionsAvoidsTheBusyTarget) {
    Upstream a("a"), b("b");
    Gateway gw(upstreamJson(R"(,"algorithm":"least-connections")", {{&a, 100}, {&b, 100}}));
    // Occupy one target with a slow request, then send quick ones: all go to the other.
    auto slow =
        std::async(std::launch::async, [&] { return roundTrip(gw.port(), "GET", "/delay/1500"); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::map<std::string, int> quick = distribution(gw.port(), 10, true);
    const Response slowResponse = slow.get();
    ASSERT_EQ(slowResponse.status, 200);
    const std::string busy = *slowResponse.header("X-Upstream-Id");
    EXPECT_EQ(quick[busy], 0);
    EXPECT_EQ(quick[busy == "a" ? "b" : "a"], 10);
}

TEST(Balancing, ConsistentHashKeepsAUserOnOneTarget) {
    Upstream a("a"), b("b"), c("c");
    Gateway gw(
        upstreamJson(R"(,"algorithm":"consistent-hash","hash_on":"header","hash_key":"X-User")",
                     {{&a, 100}, {&b, 100}, {&c, 100}}));
    std::set<std::string> used;
    for (int user = 0; user < 30; ++user) {
        std::set<std::string> forUser;
        for (int i = 0; i < 5; ++i)
            forUser.insert(
                *roundTrip(gw.port(), "GET", "/", {{"X-User", "user-" + std::to_string(user)}})
                     .header("X-Upstream-Id"));
        EXPECT_EQ(forUser.size(), 1u) << "user-" << user << " moved between targets";
        used.insert(forUser.begin(), forUser.end());
    }
    EXPECT_EQ(used.size(), 3u);  // 30 users spread over all three targets
}

TEST(Balancing, ConsistentHashByCookie) {
    Upstream a("a"), b("b");
    Gateway gw(upstreamJson(R"(,"algorithm":"consistent-hash","hash_on":"cookie","hash_key":"sid")",
                            {{&a, 100}, {&b, 100}}));
    for (int s = 0; s < 10; ++s) {
        const std::string cookie = "x=1; sid=session" + std::to_string(s);
        const auto first =
            roundTrip(gw.port(), "GET", "/", {{"Cookie", cookie}}).header("X-Upstream-Id");
        for (int i = 0; i < 3; ++i)
            EXPECT_EQ(
                roundTrip(gw.port(), "GET", "/", {{"Cookie", cookie}}).header("X-Upstream-Id"),
                first);
    }
}

}  // namespace
}  // namespace gatehouse::test
