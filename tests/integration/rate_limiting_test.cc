// The rate-limiting plugin through the real proxy: the first-party plugin loaded from the
// build, configured through the admin API, counting in the host's shared state, with a real
// upstream behind it. Windows are epoch-aligned, so tests that need a whole window wait for
// the start of one (never longer than a window of a second, or a few seconds for longer
// windows).

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace gatehouse::test {
namespace {

using std::chrono::milliseconds;

int64_t nowMs() {
    return std::chrono::duration_cast<milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// Sleeps until `offsetMs` into the next window of `windowMs` (epoch-aligned, as the host's).
void waitForWindowOffset(int64_t windowMs, int64_t offsetMs) {
    const int64_t now = nowMs();
    int64_t target = now - now % windowMs + offsetMs;
    if (target <= now) target += windowMs;
    std::this_thread::sleep_for(milliseconds(target - now));
}

/// Sleeps until the unix time `ms`.
void waitUntil(int64_t ms) {
    const int64_t now = nowMs();
    if (ms > now) std::this_thread::sleep_for(milliseconds(ms - now));
}

/// Makes sure at least `needMs` of the current window of `windowMs` are left, waiting for the
/// next one if not.
void ensureWindowLeft(int64_t windowMs, int64_t needMs) {
    const int64_t now = nowMs();
    if (windowMs - now % windowMs < needMs) waitForWindowOffset(windowMs, 10);
}

Gateway::Options withPlugins(const std::string& extraIni = "") {
    Gateway::Options o;
    o.pluginDir = FIRST_PARTY_PLUGINS_DIR;
    o.extraIni = extraIni;
    return o;
}

std::string routes(const std::string& address) {
    return simpleConfig(address, R"({"name":"a","match":{"paths":["/a"]},"upstream":"u"},
                                   {"name":"b","match":{"paths":["/b"]},"upstream":"u"},
                                   {"name":"c","match":{"paths":["/c"]},"upstream":"u"})");
}

int64_t upstreamRequests(const Upstream& up) {
    const Response r = roundTrip(up.port(), "GET", "/stats");
    return r.json()->getValue<int64_t>("requests");
}

/// The value of parameter `param` of member `name` in a RateLimit field, -1 when absent.
int64_t rateLimitParam(const std::string& field, const std::string& name,
                       const std::string& param) {
    const std::regex re("\"" + name + "\";r=(\\d+);t=(\\d+)");
    std::smatch m;
    if (!std::regex_search(field, m, re)) return -1;
    return std::stoll(m[param == "r" ? 1 : 2].str());
}

class RateLimiting : public ::testing::Test {
protected:
    RateLimiting() : gw_(routes(up_.address()), withPlugins()) {}

    std::string addPlugin(const std::string& route, const std::string& config) {
        const Response r =
            admin(gw_, "POST", "/plugins",
                  R"({"name":"rate-limiting","route":")" + route + R"(","config":)" + config + "}");
        EXPECT_EQ(r.status, 201) << r.body;
        return r.status == 201 ? r.json()->getValue<std::string>("id") : "";
    }

    Upstream up_;
    Gateway gw_;
};

TEST_F(RateLimiting, FixedWindowIsExactAcrossWorkersAndConnections) {
    addPlugin("a",
              R"({"algorithm":"fixed-window","key":"ip","limits":[{"limit":100,"window":1}]})");
    constexpr int kThreads = 8, kPerThread = 25;  // 200 requests for a quota of 100
    // A burst that straddles a window boundary proves nothing: try again (rarely needed).
    for (int attempt = 0; attempt < 3; ++attempt) {
        std::vector<std::unique_ptr<Connection>> conns;
        for (int i = 0; i < kThreads; ++i)
            conns.push_back(std::make_unique<Connection>(gw_.port()));
        const int64_t before = upstreamRequests(up_);
        waitForWindowOffset(1000, 20);
        const int64_t start = nowMs();
        std::atomic<int> ok{0}, limited{0}, other{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t)
            threads.emplace_back([&, t] {
                for (int i = 0; i < kPerThread; ++i) {
                    conns[t]->send(makeRequest("GET", "/a/x"));
                    const int status = conns[t]->read().status;
                    (status == 200 ? ok : status == 429 ? limited : other)++;
                }
            });
        for (auto& th : threads)
            th.join();
        const int64_t end = nowMs();
        if (start / 1000 != end / 1000) continue;
        EXPECT_EQ(ok.load(), 100);
        EXPECT_EQ(limited.load(), kThreads * kPerThread - 100);
        EXPECT_EQ(other.load(), 0);
        // (The /stats request itself counts too.)
        EXPECT_EQ(upstreamRequests(up_) - before - 1, 100) << "a 429 reached the upstream";
        // The next window starts afresh.
        waitUntil(end / 1000 * 1000 + 1000 + 20);
        EXPECT_EQ(roundTrip(gw_.port(), "GET", "/a/x").status, 200);
        return;
    }
    FAIL() << "every burst straddled a window boundary (machine too slow?)";
}

TEST_F(RateLimiting, TokenBucketRefillsAtItsRate) {
    // Capacity 5, one token every 100 ms.
    addPlugin("a", R"({"algorithm":"token-bucket","key":"ip",
                      "limits":[{"limit":10,"window":1,"burst":5}]})");
    Connection c(gw_.port());
    for (int i = 0; i < 5; ++i) {
        c.send(makeRequest("GET", "/a/x"));
        const Response r = c.read();
        ASSERT_EQ(r.status, 200) << "request " << i;
        EXPECT_EQ(r.header("RateLimit-Policy"), "\"1s\";q=10;w=1");
        EXPECT_EQ(rateLimitParam(r.header("RateLimit").value_or(""), "1s", "r"), 4 - i);
    }
    c.send(makeRequest("GET", "/a/x"));
    Response r = c.read();
    ASSERT_EQ(r.status, 429);
    EXPECT_EQ(r.header("Retry-After"), "1") << "100 ms to the next token, rounded up";
    EXPECT_EQ(rateLimitParam(r.header("RateLimit").value_or(""), "1s", "r"), 0);
    EXPECT_EQ(r.header("Content-Type"), "application/json");
    EXPECT_EQ(r.json()->getValue<std::string>("error"), "API rate limit exceeded");
    EXPECT_EQ(r.json()->getValue<int>("status"), 429);
    EXPECT_EQ(r.json()->getValue<std::string>("request_id"), r.header("X-Request-Id").value_or(""));

    std::this_thread::sleep_for(milliseconds(150));  // one and a half tokens
    c.send(makeRequest("GET", "/a/x"));
    EXPECT_EQ(c.read().status, 200) << "a token came back";
    c.send(makeRequest("GET", "/a/x"));
    EXPECT_EQ(c.read().status, 429) << "only one";
}

TEST_F(RateLimiting, SlidingWindowWeighsThePreviousWindow) {
    addPlugin("a",
              R"({"algorithm":"sliding-window","key":"ip","limits":[{"limit":10,"window":1}]})");
    Connection c(gw_.port());
    auto get = [&] {
        c.send(makeRequest("GET", "/a/x"));
        return c.read();
    };
    waitForWindowOffset(1000, 20);
    const int64_t next = nowMs() / 1000 * 1000 + 1000;
    for (int i = 0; i < 10; ++i)
        ASSERT_EQ(get().status, 200) << i;
    for (int i = 0; i < 5; ++i)  // refused ones do not count (else the next window sees 15)
        ASSERT_EQ(get().status, 429);

    // Just into the next window nearly all of the previous one still counts.
    ASSERT_LT(nowMs(), next) << "the first window was over before it was full";
    waitUntil(next + 30);
    Response r = get();
    EXPECT_EQ(r.status, 429) << "a fixed window would have let this through";
    EXPECT_EQ(r.header("Retry-After"), "1") << "70 ms until the previous window weighs 9";

    // Halfway, half of it does: 10 - 10 * 0.5 = 5 more.
    waitUntil(next + 510);
    for (int i = 0; i < 5; ++i) {
        r = get();
        EXPECT_EQ(r.status, 200) << i;
    }
    EXPECT_EQ(get().status, 429);
}

TEST_F(RateLimiting, HeadersReportEveryPolicyAndTheMostRestrictive) {
    addPlugin("a", R"({"algorithm":"fixed-window","key":"ip","legacy_headers":true,
                      "limits":[{"limit":3,"window":30,"name":"burst"},
                                {"limit":100,"window":3600,"name":"hourly"}]})");
    ensureWindowLeft(30'000, 5000);
    const int64_t sentAt = nowMs();
    const int64_t burstReset = (30'000 - sentAt % 30'000 + 999) / 1000;
    Response r = roundTrip(gw_.port(), "GET", "/a/x");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("RateLimit-Policy"), "\"burst\";q=3;w=30, \"hourly\";q=100;w=3600");
    const std::string rl = r.header("RateLimit").value_or("");
    EXPECT_EQ(rateLimitParam(rl, "burst", "r"), 2) << rl;
    EXPECT_NEAR(rateLimitParam(rl, "burst", "t"), burstReset, 1) << rl;
    EXPECT_EQ(rateLimitParam(rl, "hourly", "r"), 99) << rl;
    EXPECT_NEAR(rateLimitParam(rl, "hourly", "t"), (3'600'000 - sentAt % 3'600'000) / 1000, 2)
        << rl;
    EXPECT_EQ(r.header("X-RateLimit-Limit"), "3") << "the burst limit has fewer left";
    EXPECT_EQ(r.header("X-RateLimit-Remaining"), "2");
    EXPECT_NEAR(std::stoll(r.header("X-RateLimit-Reset").value_or("-9")), burstReset, 1);

    EXPECT_EQ(roundTrip(gw_.port(), "GET", "/a/x").status, 200);
    EXPECT_EQ(roundTrip(gw_.port(), "GET", "/a/x").status, 200);
    r = roundTrip(gw_.port(), "GET", "/a/x");
    ASSERT_EQ(r.status, 429);
    EXPECT_NEAR(std::stoll(r.header("Retry-After").value_or("-9")), burstReset, 1);
    EXPECT_EQ(rateLimitParam(r.header("RateLimit").value_or(""), "burst", "r"), 0);
    EXPECT_EQ(rateLimitParam(r.header("RateLimit").value_or(""), "hourly", "r"), 97)
        << "the refused request gave back what the hourly limit took";
    EXPECT_EQ(r.header("X-RateLimit-Remaining"), "0");

    // Without legacy_headers (the default) only the draft's fields.
    addPlugin("b", R"({"key":"ip","limits":[{"limit":5,"window":60}]})");
    r = roundTrip(gw_.port(), "GET", "/b/x");
    EXPECT_TRUE(r.header("RateLimit"));
    EXPECT_FALSE(r.header("X-RateLimit-Remaining"));
    // And with headers off, none.
    addPlugin("c", R"({"key":"ip","headers":false,"limits":[{"limit":5,"window":60}]})");
    r = roundTrip(gw_.port(), "GET", "/c/x");
    EXPECT_EQ(r.status, 200);
    EXPECT_FALSE(r.header("RateLimit"));
    EXPECT_FALSE(r.header("RateLimit-Policy"));
}

TEST_F(RateLimiting, KeysByConsumerIpAndHeaderAreIndependent) {
    ASSERT_EQ(admin(gw_, "POST", "/consumers", R"({"username":"alice"})").status, 201);
    ASSERT_EQ(admin(gw_, "POST", "/consumers", R"({"username":"bob"})").status, 201);
    ASSERT_EQ(admin(gw_, "POST", "/consumers/alice/credentials",
                    R"({"type":"key-auth","key":"alice-key-0123456789"})")
                  .status,
              201);
    ASSERT_EQ(admin(gw_, "POST", "/consumers/bob/credentials",
                    R"({"type":"key-auth","key":"bob-key-0123456789ab"})")
                  .status,
              201);
    ASSERT_EQ(admin(gw_, "POST", "/plugins",
                    R"({"name":"key-auth","route":"a","config":{"anonymous":"guest"}})")
                  .status,
              201);
    ensureWindowLeft(60'000, 5000);
    addPlugin("a",
              R"({"key":"consumer","limits":[{"limit":2,"window":60,"name":"per-consumer"}]})");
    addPlugin("b", R"({"key":"header","header_name":"X-Tenant",
                      "limits":[{"limit":2,"window":60,"name":"per-tenant"}]})");
    addPlugin("c", R"({"key":["ip","route"],"limits":[{"limit":2,"window":60,"name":"per-ip"}]})");

    auto status = [&](const std::string& path,
                      std::vector<std::pair<std::string, std::string>> h = {}) {
        return roundTrip(gw_.port(), "GET", path, h).status;
    };
    const std::vector<std::pair<std::string, std::string>> alice = {
        {"apikey", "alice-key-0123456789"}};
    const std::vector<std::pair<std::string, std::string>> bob = {
        {"apikey", "bob-key-0123456789ab"}};
    EXPECT_EQ(status("/a/x", alice), 200);
    EXPECT_EQ(status("/a/x", alice), 200);
    EXPECT_EQ(status("/a/x", alice), 429);
    EXPECT_EQ(status("/a/x", bob), 200) << "bob has his own counter";
    EXPECT_EQ(status("/a/x", bob), 200);
    EXPECT_EQ(status("/a/x", bob), 429);
    // Anonymous requests count by client address, not as one consumer "guest"; a forged
    // X-Credential-Id or consumer header changes nothing.
    EXPECT_EQ(status("/a/x"), 200);
    EXPECT_EQ(status("/a/x", {{"X-Consumer-Id", "alice"}}), 200);
    EXPECT_EQ(status("/a/x"), 429);

    EXPECT_EQ(status("/b/x", {{"X-Tenant", "one"}}), 200);
    EXPECT_EQ(status("/b/x", {{"X-Tenant", "one"}}), 200);
    EXPECT_EQ(status("/b/x", {{"X-Tenant", "one"}}), 429);
    EXPECT_EQ(status("/b/x", {{"X-Tenant", "two"}}), 200) << "another tenant";
    // A header value too long to keep is hashed, still a key of its own.
    const std::string longTenant(4000, 't');
    EXPECT_EQ(status("/b/x", {{"X-Tenant", longTenant}}), 200);
    EXPECT_EQ(status("/b/x", {{"X-Tenant", longTenant}}), 200);
    EXPECT_EQ(status("/b/x", {{"X-Tenant", longTenant}}), 429);
    // No header: falls back to the client address (its own counter under this policy name).
    EXPECT_EQ(status("/b/x"), 200);
    EXPECT_EQ(status("/b/x"), 200);
    EXPECT_EQ(status("/b/x"), 429);

    EXPECT_EQ(status("/c/x"), 200) << "the ip+route counter is untouched by the other routes";
    EXPECT_EQ(status("/c/x", {{"X-Tenant", "three"}}), 200);
    EXPECT_EQ(status("/c/x"), 429);
}

TEST_F(RateLimiting, CountersSurviveConfigurationWrites) {
    ensureWindowLeft(60'000, 8000);
    const std::string id = addPlugin("a", R"({"algorithm":"fixed-window","key":"ip",
                                             "limits":[{"limit":5,"window":60}]})");
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(roundTrip(gw_.port(), "GET", "/a/x").status, 200);
    // An unrelated write publishes a new snapshot (and new plugin instances).
    ASSERT_EQ(admin(gw_, "POST", "/routes",
                    R"({"name":"unrelated","match":{"paths":["/unrelated"]},"upstream":"u"})")
                  .status,
              201);
    Response r = roundTrip(gw_.port(), "GET", "/a/x");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(rateLimitParam(r.header("RateLimit").value_or(""), "60s", "r"), 1)
        << "the count went on: " << r.header("RateLimit").value_or("");
    // Changing the limit itself keeps the count too.
    ASSERT_EQ(admin(gw_, "PATCH", "/plugins/" + id,
                    R"({"config":{"algorithm":"fixed-window","key":"ip",
                                  "limits":[{"limit":6,"window":60}]}})")
                  .status,
              200);
    EXPECT_EQ(roundTrip(gw_.port(), "GET", "/a/x").status, 200);
    EXPECT_EQ(roundTrip(gw_.port(), "GET", "/a/x").status, 200);
    EXPECT_EQ(roundTrip(gw_.port(), "GET", "/a/x").status, 429);
}

TEST_F(RateLimiting, BadConfigurationsAreRefusedWithTheField) {
    struct Case {
        const char* config;
        const char* field;
        const char* mentions;  // in the reason
    };
    const Case cases[] = {
        {R"({"limits":[{"limit":0,"window":1}]})", "config.limits[0].limit", ""},
        {R"({"limits":[{"limit":5,"window":0}]})", "config.limits[0].window", ""},
        {R"({"limits":[]})", "config.limits", ""},
        {R"({})", "config.limits", ""},
        {R"({"algorithm":"leaky-bucket","limits":[{"limit":5,"window":1}]})", "config.algorithm",
         ""},
        {R"({"key":["consumer","planet"],"limits":[{"limit":5,"window":1}]})", "config.key", ""},
        {R"({"key":"header","limits":[{"limit":5,"window":1}]})", "config", "header_name"},
        {R"({"key":["global","ip"],"limits":[{"limit":5,"window":1}]})", "config", "global"},
        {R"({"limits":[{"limit":5,"window":1,"burst":3}]})", "config", "burst"},
        {R"({"limits":[{"limit":5,"window":60},{"limit":9,"window":60}]})", "config", "named"},
        {R"({"algorithm":"token-bucket","limits":[{"limit":1,"window":31622400,"burst":1000000000}]})",
         "config", "100 years"},
    };
    for (const Case& c : cases) {
        const Response r =
            admin(gw_, "POST", "/plugins",
                  std::string(R"({"name":"rate-limiting","route":"a","config":)") + c.config + "}");
        EXPECT_EQ(r.status, 400) << c.config << " " << r.body;
        if (r.status != 400) continue;
        const auto fields = r.json()->getObject("fields");
        ASSERT_TRUE(fields && fields->has(c.field)) << c.config << " " << r.body;
        EXPECT_NE(fields->getValue<std::string>(c.field).find(c.mentions), std::string::npos)
            << r.body;
    }
    EXPECT_EQ(roundTrip(gw_.port(), "GET", "/a/x").status, 200) << "nothing was applied";
    EXPECT_FALSE(roundTrip(gw_.port(), "GET", "/a/x").header("RateLimit"));
}

/// The host's key cap ([plugins] shared_state_max_keys) reached: fail open (default) lets
/// requests through and counts them; fail closed answers 503.
TEST(RateLimitingKeyCap, FailsOpenOrClosedAsConfigured) {
    Upstream up;
    Gateway gw(routes(up.address()), withPlugins("[plugins]\nshared_state_max_keys = 64\n"));
    auto add = [&](const std::string& route, const std::string& config) {
        const Response r =
            admin(gw, "POST", "/plugins",
                  R"({"name":"rate-limiting","route":")" + route + R"(","config":)" + config + "}");
        ASSERT_EQ(r.status, 201) << r.body;
    };
    add("a", R"({"key":"header","header_name":"X-K","limits":[{"limit":1000,"window":60}]})");
    add("b", R"({"key":"header","header_name":"X-K","fail_open":false,
                 "limits":[{"limit":1000,"window":60,"name":"closed"}]})");
    Connection c(gw.port());
    int okA = 0, untrackedA = 0;
    for (int i = 0; i < 300; ++i) {
        c.send(makeRequest("GET", "/a/x", {{"X-K", "a" + std::to_string(i)}}));
        const Response r = c.read();
        okA += r.status == 200;
        untrackedA += !r.header("RateLimit");  // nothing to report for a key never counted
    }
    EXPECT_EQ(okA, 300) << "fail open";
    EXPECT_GT(untrackedA, 0) << "the cap was never reached";
    EXPECT_LT(untrackedA, 300) << "nothing was tracked at all";
    int okB = 0, unavailable = 0;
    for (int i = 0; i < 300; ++i) {
        c.send(makeRequest("GET", "/b/x", {{"X-K", "b" + std::to_string(i)}}));
        const Response r = c.read();
        okB += r.status == 200;
        if (r.status == 503) {
            ++unavailable;
            EXPECT_EQ(r.json()->getValue<std::string>("error"), "rate limit state unavailable");
            EXPECT_EQ(r.header("Retry-After"), "1");
        }
    }
    EXPECT_GT(unavailable, 0) << "fail closed";
    EXPECT_EQ(okB + unavailable, 300);
    const Response m = admin(gw, "GET", "/metrics");
    const std::regex re(R"(rate_limiting_state_unavailable_total\{plugin="rate-limiting"\} (\d+))");
    std::smatch match;
    ASSERT_TRUE(std::regex_search(m.body, match, re)) << "metric missing";
    EXPECT_EQ(std::stoll(match[1].str()), untrackedA + unavailable)
        << "both the fail-open and the fail-closed ones count";
    EXPECT_TRUE(gw.waitForLog("shared state refused a key"));
}

}  // namespace
}  // namespace gatehouse::test
