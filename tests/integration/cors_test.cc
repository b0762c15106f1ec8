// The cors plugin through the real proxy: preflights answered at the gateway (the echo
// upstream's request counter proves it was not contacted), allow headers on actual responses
// for exact, wildcard-subdomain and regex origins, Vary, credentials, and config refusals.

#include <gtest/gtest.h>

#include <string>

#include "harness.h"

namespace gatehouse::test {
namespace {

Gateway::Options withFirstPartyPlugins() {
    Gateway::Options o;
    o.pluginDir = FIRST_PARTY_PLUGINS_DIR;
    return o;
}

std::string corsRoutes(const std::string& address) {
    return simpleConfig(
        address, R"({"name":"app","match":{"paths":["/app"]},"upstream":"u","strip_prefix":true},
                                    {"name":"any","match":{"paths":["/any"]},"upstream":"u","strip_prefix":true},
                                    {"name":"keyed","match":{"paths":["/keyed"]},"upstream":"u"},
                                    {"name":"open","match":{"paths":["/open"]},"upstream":"u"})");
}

/// The upstream's own request counter, asked directly (not through the gateway).
int64_t upstreamRequests(const Upstream& up) {
    const Response r = roundTrip(up.port(), "GET", "/stats");
    return r.json()->getValue<int64_t>("requests");
}

std::string configError(const Response& r) {
    const auto fields = r.json()->getObject("fields");
    return fields && fields->has("config") ? fields->getValue<std::string>("config") : "";
}

class Cors : public ::testing::Test {
protected:
    Cors() : gw_(corsRoutes(up_.address()), withFirstPartyPlugins()) {}

    void SetUp() override {
        Response r = admin(gw_, "POST", "/plugins", R"({"name":"cors","route":"app","config":{
            "origins": ["https://app.example.com", "https://*.example.org:8443"],
            "origin_regexes": ["https://pr-[0-9]+\\.preview\\.example\\.net"],
            "methods": ["GET", "POST"], "headers": ["Authorization", "Content-Type"],
            "exposed_headers": ["X-Upstream-Id", "X-Request-Id"], "credentials": true,
            "max_age": 600, "private_network": true}})");
        ASSERT_EQ(r.status, 201) << r.body;
        r = admin(gw_, "POST", "/plugins",
                  R"({"name":"cors","route":"any","config":{"origins":["*"]}})");
        ASSERT_EQ(r.status, 201) << r.body;
        // cors (2000) runs before key-auth (1250): preflights carry no credentials.
        ASSERT_EQ(admin(gw_, "POST", "/plugins", R"({"name":"key-auth","route":"keyed"})").status,
                  201);
        r = admin(
            gw_, "POST", "/plugins",
            R"({"name":"cors","route":"keyed","config":{"origins":["https://app.example.com"]}})");
        ASSERT_EQ(r.status, 201) << r.body;
    }

    Response preflight(const std::string& path, const std::string& origin,
                       std::vector<std::pair<std::string, std::string>> extra = {}) {
        extra.insert(extra.begin(),
                     {{"Origin", origin}, {"Access-Control-Request-Method", "POST"}});
        return roundTrip(gw_.port(), "OPTIONS", path, extra);
    }

    Upstream up_;
    Gateway gw_;
};

TEST_F(Cors, PreflightIsAnsweredAtTheGateway) {
    const int64_t before = upstreamRequests(up_);
    Response r = preflight("/app/orders", "https://app.example.com",
                           {{"Access-Control-Request-Headers", "content-type"}});
    EXPECT_EQ(r.status, 204) << r.body;
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "https://app.example.com");
    EXPECT_EQ(r.header("Access-Control-Allow-Credentials"), "true");
    EXPECT_EQ(r.header("Access-Control-Allow-Methods"), "GET, POST");
    EXPECT_EQ(r.header("Access-Control-Allow-Headers"), "Authorization, Content-Type");
    EXPECT_EQ(r.header("Access-Control-Max-Age"), "600");
    EXPECT_EQ(r.header("Vary"), "Origin");
    EXPECT_FALSE(r.header("Access-Control-Allow-Private-Network")) << "not asked for";
    EXPECT_FALSE(r.header("X-Upstream-Id"));
    EXPECT_TRUE(r.body.empty());

    // Private network access only when the preflight asks for it.
    r = preflight("/app/orders", "https://app.example.com",
                  {{"Access-Control-Request-Private-Network", "true"}});
    EXPECT_EQ(r.header("Access-Control-Allow-Private-Network"), "true");

    // A disallowed origin gets an empty 204: no allow headers, still no upstream.
    r = preflight("/app/orders", "https://evil.example.com");
    EXPECT_EQ(r.status, 204);
    EXPECT_FALSE(r.header("Access-Control-Allow-Origin"));
    EXPECT_FALSE(r.header("Access-Control-Allow-Methods"));
    EXPECT_FALSE(r.header("Access-Control-Allow-Credentials"));
    EXPECT_EQ(r.header("Vary"), "Origin");
    EXPECT_FALSE(r.header("X-Upstream-Id"));

    EXPECT_EQ(upstreamRequests(up_), before + 1) << "only the second /stats call reached it";

    // OPTIONS that is not a preflight (no Access-Control-Request-Method) goes upstream.
    // (Content-Length: 0 because the test upstream reads an OPTIONS body without one until
    // the connection closes.)
    r = roundTrip(gw_.port(), "OPTIONS", "/app/orders",
                  {{"Origin", "https://app.example.com"}, {"Content-Length", "0"}});
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("X-Upstream-Id"), "upstream");
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "https://app.example.com");
}

TEST_F(Cors, AllowedOriginsGetAllowHeadersOnActualResponses) {
    struct Case {
        const char* origin;
        bool allowed;
    };
    const Case cases[] = {
        {"https://app.example.com", true},
        {"https://APP.example.com", true},  // hosts are case-insensitive
        {"http://app.example.com", false},  // another scheme is another origin
        {"https://app.example.com:444", false},
        {"https://app.example.com.evil.io", false},
        {"https://a.example.org:8443", true},
        {"https://a.b.example.org:8443", true},
        {"https://example.org:8443", false},  // the wildcard is for subdomains only
        {"https://a.example.org", false},     // port differs
        {"https://aexample.org:8443", false},
        {"https://x/.example.org:8443", false},
        {"https://pr-42.preview.example.net", true},
        {"https://pr-42.preview.example.net.evil.io", false},  // regexes match the whole origin
        {"https://pr-x.preview.example.net", false},
        {"null", false},
    };
    for (const auto& c : cases) {
        const Response r = roundTrip(gw_.port(), "GET", "/app/x", {{"Origin", c.origin}});
        ASSERT_EQ(r.status, 200) << c.origin;
        EXPECT_EQ(r.header("X-Upstream-Id"), "upstream");
        EXPECT_EQ(r.echoedHeader("Origin"), c.origin) << "the request goes upstream untouched";
        EXPECT_EQ(r.header("Vary"), "Origin") << c.origin;
        if (c.allowed) {
            EXPECT_EQ(r.header("Access-Control-Allow-Origin"), c.origin) << c.origin;
            EXPECT_EQ(r.header("Access-Control-Allow-Credentials"), "true") << c.origin;
            EXPECT_EQ(r.header("Access-Control-Expose-Headers"), "X-Upstream-Id, X-Request-Id");
        } else {
            EXPECT_FALSE(r.header("Access-Control-Allow-Origin")) << c.origin;
            EXPECT_FALSE(r.header("Access-Control-Allow-Credentials")) << c.origin;
            EXPECT_FALSE(r.header("Access-Control-Expose-Headers")) << c.origin;
        }
    }
    // Two Origin headers are ambiguous: no allow.
    Response r = roundTrip(gw_.port(), "GET", "/app/x",
                           {{"Origin", "https://app.example.com"}, {"Origin", "https://b.io"}});
    EXPECT_FALSE(r.header("Access-Control-Allow-Origin"));
    // Without Origin the answer still varies by it (a cache must not reuse it for one).
    r = roundTrip(gw_.port(), "GET", "/app/x");
    EXPECT_EQ(r.header("Vary"), "Origin");
    EXPECT_FALSE(r.header("Access-Control-Allow-Origin"));
    // The upstream's Vary is extended, not replaced.
    r = roundTrip(gw_.port(), "GET", "/app/headers?set=Vary:Accept-Encoding",
                  {{"Origin", "https://app.example.com"}});
    EXPECT_EQ(r.header("Vary"), "Accept-Encoding, Origin");
    EXPECT_EQ(r.headerCount("Vary"), 1u);
    r = roundTrip(gw_.port(), "GET", "/app/headers?set=Vary:origin");
    EXPECT_EQ(r.header("Vary"), "origin") << "already there";
    // No plugin on /open: nothing added.
    r = roundTrip(gw_.port(), "GET", "/open/x", {{"Origin", "https://app.example.com"}});
    EXPECT_FALSE(r.header("Access-Control-Allow-Origin"));
    EXPECT_FALSE(r.header("Vary"));
}

TEST_F(Cors, AnyOriginWithoutCredentials) {
    Response r = roundTrip(gw_.port(), "GET", "/any/x", {{"Origin", "https://whoever.io"}});
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*");
    EXPECT_FALSE(r.header("Access-Control-Allow-Credentials"));
    EXPECT_FALSE(r.header("Vary")) << "the answer is the same for every origin";
    r = roundTrip(gw_.port(), "GET", "/any/x", {{"Origin", "null"}});
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*");

    // Without configured headers the preflight allows what it asks for, and says it varies.
    const int64_t before = upstreamRequests(up_);
    r = preflight("/any/x", "https://whoever.io",
                  {{"Access-Control-Request-Headers", "x-trace, content-type"}});
    EXPECT_EQ(r.status, 204);
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*");
    EXPECT_EQ(r.header("Access-Control-Allow-Methods"), "GET, HEAD, PUT, PATCH, POST, DELETE");
    EXPECT_EQ(r.header("Access-Control-Allow-Headers"), "x-trace, content-type");
    EXPECT_EQ(r.header("Vary"), "Access-Control-Request-Headers");
    EXPECT_FALSE(r.header("Access-Control-Max-Age"));
    r = preflight("/any/x", "https://whoever.io",
                  {{"Access-Control-Request-Headers", "bad header(, x"}});
    EXPECT_FALSE(r.header("Access-Control-Allow-Headers")) << "not a token list: not echoed";
    EXPECT_EQ(upstreamRequests(up_), before + 1);
}

TEST_F(Cors, PreflightsAreNotRefusedByAuthenticationButErrorsAreReadable) {
    Response r = preflight("/keyed/x", "https://app.example.com");
    EXPECT_EQ(r.status, 204) << "a preflight carries no credentials; cors answers it first";
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "https://app.example.com");
    r = roundTrip(gw_.port(), "GET", "/keyed/x", {{"Origin", "https://app.example.com"}});
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "https://app.example.com")
        << "the page can read why it was refused";
    EXPECT_EQ(r.header("Vary"), "Origin");
}

TEST_F(Cors, BadConfigsAreRefusedWithTheReason) {
    const std::pair<const char*, const char*> refused[] = {
        {R"({"origins":["*"],"credentials":true})", "cannot be combined with credentials"},
        {R"({"origins":["https://app.example.com/"]})", "is not scheme://host[:port]"},
        {R"({"origins":["app.example.com"]})", "is not scheme://host[:port]"},
        {R"({"origins":["null"]})", "sandboxed"},
        {R"({"origins":["https://a.*.example.com"]})", "a wildcard must be"},
        {R"({"origins":["https://*.com"]})", "a wildcard must be"},
        {R"({"origin_regexes":["https://(unclosed"]})", "invalid regex"},
        {R"({"methods":["GET"]})", "configure origins or origin_regexes"},
    };
    for (const auto& [config, reason] : refused) {
        const Response r =
            admin(gw_, "POST", "/plugins",
                  std::string(R"({"name":"cors","route":"open","config":)") + config + "}");
        EXPECT_EQ(r.status, 400) << config;
        EXPECT_NE(configError(r).find(reason), std::string::npos) << config << " -> " << r.body;
    }
    // Schema violations name the field.
    for (const char* config :
         {R"({"origins":["*"],"headers":["Bad Header"]})", R"({"origins":["*"],"max_age":-1})",
          R"({"origins":["*"],"surprise":true})"}) {
        const Response r =
            admin(gw_, "POST", "/plugins",
                  std::string(R"({"name":"cors","route":"open","config":)") + config + "}");
        EXPECT_EQ(r.status, 400) << config;
        EXPECT_NE(r.body.find("config."), std::string::npos) << r.body;
    }
    const Response r = roundTrip(gw_.port(), "GET", "/open/x", {{"Origin", "https://a.io"}});
    EXPECT_FALSE(r.header("Access-Control-Allow-Origin")) << "nothing was applied";
}

}  // namespace
}  // namespace gatehouse::test
