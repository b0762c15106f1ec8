// The routing matrix through the real proxy: each request must land on the upstream its
// route names (upstreams answer with their own id), with the path the route says.

#include <gtest/gtest.h>

#include "harness.h"

namespace gatehouse::test {
namespace {

class Routing : public ::testing::Test {
protected:
    Upstream a_{"a"}, b_{"b"}, c_{"c"}, d_{"d"};

    std::string config(const std::string& routes) {
        std::string ups;
        for (auto* u : {&a_, &b_, &c_, &d_}) {
            if (!ups.empty()) ups += ",";
            ups += R"({"name":")" + u->id() + R"(","targets":[{"address":")" + u->address() +
                   R"("}]})";
        }
        return R"({"upstreams":[)" + ups + R"(],"routes":[)" + routes + "]}";
    }

    /// Which upstream answered (or the gateway's status when none did).
    static std::string who(const Response& r) {
        if (auto id = r.header("X-Upstream-Id")) return *id;
        return std::to_string(r.status);
    }
    std::string get(uint16_t port, const std::string& target,
                    const std::vector<std::pair<std::string, std::string>>& headers = {},
                    const std::string& method = "GET") {
        try {
            return who(roundTrip(port, method, target, headers));
        } catch (const std::exception& e) {
            return method + " " + target + ": " + e.what();
        }
    }
};

TEST_F(Routing, PrefixExactRegexAndPrecedence) {
    Gateway gw(config(R"J(
        {"name":"prefix","match":{"paths":["/api"]},"upstream":"a"},
        {"name":"longer","match":{"paths":["/api/v2"]},"upstream":"b"},
        {"name":"exact","match":{"paths":["=/api/v2/health"]},"upstream":"c"},
        {"name":"regex","match":{"paths":["~^/api/v2/items/[0-9]+$"]},"upstream":"d"},
        {"name":"regex-only","match":{"paths":["~^/files/.+\\.png$"]},"upstream":"d"}
    )J"));
    const uint16_t p = gw.port();
    EXPECT_EQ(get(p, "/api"), "a");
    EXPECT_EQ(get(p, "/api/users"), "a");
    EXPECT_EQ(get(p, "/apix"), "404");  // prefixes match whole segments
    EXPECT_EQ(get(p, "/api/v2"), "b");  // longest prefix
    EXPECT_EQ(get(p, "/api/v2/x"), "b");
    EXPECT_EQ(get(p, "/api/v2/health"), "c");  // exact beats prefix
    EXPECT_EQ(get(p, "/api/v2/health/x"), "b");
    EXPECT_EQ(get(p, "/api/v2/items/42"), "b");  // prefix beats regex at equal priority
    EXPECT_EQ(get(p, "/files/cat.png"), "d");
    EXPECT_EQ(get(p, "/files/cat.gif"), "404");
    EXPECT_EQ(get(p, "/API"), "404");  // paths are case-sensitive
}

TEST_F(Routing, ExplicitPriorityWins) {
    Gateway gw(config(R"J(
        {"name":"catch-all","match":{"paths":["/"]},"upstream":"a"},
        {"name":"regex-high","priority":10,"match":{"paths":["~^/img/"]},"upstream":"b"}
    )J"));
    EXPECT_EQ(get(gw.port(), "/img/x.png"), "b");
    EXPECT_EQ(get(gw.port(), "/other"), "a");
}

TEST_F(Routing, MethodsHostsAndWildcards) {
    Gateway gw(config(R"J(
        {"name":"reads","match":{"paths":["/orders"],"methods":["GET","HEAD"]},"upstream":"a"},
        {"name":"writes","match":{"paths":["/orders"],"methods":["POST"]},"upstream":"b"},
        {"name":"exact-host","match":{"hosts":["api.example.com"]},"upstream":"c"},
        {"name":"wild-host","match":{"hosts":["*.example.com"]},"upstream":"d"}
    )J"));
    const uint16_t p = gw.port();
    EXPECT_EQ(get(p, "/orders"), "a");
    EXPECT_EQ(get(p, "/orders", {}, "POST"), "b");
    EXPECT_EQ(get(p, "/orders", {}, "DELETE"), "404");
    EXPECT_EQ(get(p, "/x", {{"Host", "api.example.com"}}), "c");
    EXPECT_EQ(get(p, "/x", {{"Host", "API.Example.com:8080"}}), "c");  // case and port ignored
    EXPECT_EQ(get(p, "/x", {{"Host", "shop.example.com"}}), "d");
    EXPECT_EQ(get(p, "/x", {{"Host", "a.b.example.com"}}), "d");
    EXPECT_EQ(get(p, "/x", {{"Host", "example.com"}}), "404");  // the wildcard needs a label
    EXPECT_EQ(get(p, "/x", {{"Host", "example.org"}}), "404");
}

TEST_F(Routing, AbVariantsByHeaderCookieAndQueryBeatTheGeneralRoute) {
    Gateway gw(config(R"J(
        {"name":"general","match":{"paths":["/app"]},"upstream":"a"},
        {"name":"beta-header","match":{"paths":["/app"],"headers":{"X-Beta":"1"}},"upstream":"b"},
        {"name":"group-b","match":{"paths":["/app"],"cookies":{"group":["b","beta"]}},"upstream":"c"},
        {"name":"v2-query","match":{"paths":["/app"],"query":{"version":"2"}},"upstream":"d"}
    )J"));
    const uint16_t p = gw.port();
    EXPECT_EQ(get(p, "/app"), "a");
    EXPECT_EQ(get(p, "/app", {{"X-Beta", "1"}}), "b");
    EXPECT_EQ(get(p, "/app", {{"X-Beta", "0"}}), "a");
    EXPECT_EQ(get(p, "/app", {{"Cookie", "theme=dark; group=beta"}}), "c");
    EXPECT_EQ(get(p, "/app", {{"Cookie", "group=a"}}), "a");
    EXPECT_EQ(get(p, "/app?x=1&version=2"), "d");
    EXPECT_EQ(get(p, "/app?version=20"), "a");
}

TEST_F(Routing, HeaderRegexAndPresence) {
    Gateway gw(config(R"J(
        {"name":"mobile","match":{"headers":{"User-Agent":"~(iPhone|Android)"}},"upstream":"b"},
        {"name":"debug","match":{"headers":{"X-Debug":[]}},"upstream":"c"},
        {"name":"rest","match":{"paths":["/"]},"upstream":"a"}
    )J"));
    EXPECT_EQ(get(gw.port(), "/", {{"User-Agent", "Mozilla/5.0 (iPhone; CPU)"}}), "b");
    EXPECT_EQ(get(gw.port(), "/", {{"X-Debug", "anything"}}), "c");
    EXPECT_EQ(get(gw.port(), "/", {{"User-Agent", "curl/8"}}), "a");
}

TEST_F(Routing, StripPrefixRewritePathAndPreserveHost) {
    Gateway gw(config(R"J(
        {"name":"strip","match":{"paths":["/svc/users"]},"upstream":"a","strip_prefix":true},
        {"name":"rewrite","match":{"paths":["/old"]},"upstream":"b","rewrite_path":"/new/v2"},
        {"name":"keep-host","match":{"paths":["/keep"]},"upstream":"d","preserve_host":true}
    )J"));
    auto path = [&](const std::string& target) {
        return roundTrip(gw.port(), "GET", target).json()->getValue<std::string>("uri");
    };
    EXPECT_EQ(path("/svc/users/42?x=1"), "/42?x=1");
    EXPECT_EQ(path("/svc/users"), "/");
    EXPECT_EQ(path("/old/a/b"), "/new/v2/a/b");
    Response keep = roundTrip(gw.port(), "GET", "/keep", {{"Host", "public.example.com"}});
    EXPECT_EQ(keep.echoedHeader("host"), "public.example.com");
    Response notKept = roundTrip(gw.port(), "GET", "/old", {{"Host", "public.example.com"}});
    EXPECT_EQ(notKept.echoedHeader("host"), b_.address());
}

TEST_F(Routing, RegexRewriteWithCaptures) {
    Gateway gw(config(R"J(
        {"name":"regex-rewrite","match":{"paths":["~^/u/([0-9]+)/posts/([0-9]+)$"]},"upstream":"c",
         "rewrite_path":"/posts/$2/by/$1"}
    )J"));
    Response r = roundTrip(gw.port(), "GET", "/u/7/posts/99?full=1");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.json()->getValue<std::string>("uri"), "/posts/99/by/7?full=1");
}

TEST_F(Routing, DisabledRouteDoesNotMatch) {
    Gateway gw(config(R"J(
        {"name":"off","enabled":false,"match":{"paths":["/x"]},"upstream":"b"},
        {"name":"on","match":{"paths":["/"]},"upstream":"a"}
    )J"));
    EXPECT_EQ(get(gw.port(), "/x"), "a");
}

TEST_F(Routing, RoutingSeesTheNormalizedPath) {
    Gateway gw(config(R"J(
        {"name":"admin","match":{"paths":["/admin"]},"upstream":"b"},
        {"name":"public","match":{"paths":["/public"]},"upstream":"a"}
    )J"));
    // A dot-segment or encoded-letter trick lands where the normalized path says.
    EXPECT_EQ(get(gw.port(), "/public/../admin/x"), "b");
    EXPECT_EQ(get(gw.port(), "/%61dmin"), "b");
    EXPECT_EQ(get(gw.port(), "//public//x"), "a");
}

}  // namespace
}  // namespace gatehouse::test
