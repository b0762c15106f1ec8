#include "router/route_table.h"

#include <gtest/gtest.h>
#include <llhttp.h>

#include <cstdlib>
#include <deque>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace gatehouse::router {
namespace {

struct Req {
    uint8_t method = HTTP_GET;
    std::string path = "/";
    std::string host = "example.com";
    std::string query;
    http::HeaderList headers;
};

/// Route specs with stable addresses, the table compiled from them and a scratch.
class Routes {
public:
    config::RouteSpec& add(const std::string& name, std::vector<std::string> paths) {
        specs_.emplace_back();
        config::RouteSpec& r = specs_.back();
        r.meta.name = name;
        r.paths = std::move(paths);
        r.upstream = "up";
        return r;
    }

    void build() {
        std::vector<const config::RouteSpec*> ptrs;
        std::vector<uint32_t> destinations;
        for (const auto& s : specs_) {
            ptrs.push_back(&s);
            destinations.push_back(static_cast<uint32_t>(100 + destinations.size()));
        }
        table_ = RouteTable::build(ptrs, destinations);
    }

    RouteMatch matchReq(const Req& q) {
        if (!table_) build();
        RequestView v;
        v.method = q.method;
        v.path = q.path;
        v.host = q.host;
        v.query = q.query;
        v.headers = &q.headers;
        return table_->match(v, scratch_);
    }

    /// The name of the route that matches, "" when none does.
    std::string match(const Req& q) {
        const RouteMatch m = matchReq(q);
        return m ? m.route->spec->meta.name : "";
    }
    std::string match(const std::string& path) {
        Req q;
        q.path = path;
        return match(q);
    }

    /// The path sent upstream for `path` (the route must match).
    std::string upstream(const std::string& path) {
        Req q;
        q.path = path;
        const RouteMatch m = matchReq(q);
        if (!m) return "<no match>";
        return table_->upstreamPath(m, path, scratch_);
    }

    const RouteTable& table() {
        if (!table_) build();
        return *table_;
    }

private:
    std::deque<config::RouteSpec> specs_;
    std::shared_ptr<const RouteTable> table_;
    RegexScratch scratch_;
};

Req withHeader(const std::string& path, const std::string& name, const std::string& value) {
    Req q;
    q.path = path;
    q.headers.add(name, value);
    return q;
}

TEST(RouteTablePaths, PrefixMatchesWholeSegmentsOnly) {
    Routes t;
    t.add("api", {"/api"});
    EXPECT_EQ(t.match("/api"), "api");
    EXPECT_EQ(t.match("/api/"), "api");
    EXPECT_EQ(t.match("/api/x"), "api");
    EXPECT_EQ(t.match("/api/x/y"), "api");
    EXPECT_EQ(t.match("/apix"), "");
    EXPECT_EQ(t.match("/ap"), "");
    EXPECT_EQ(t.match("/"), "");
    EXPECT_EQ(t.match("/other/api"), "");
}

TEST(RouteTablePaths, PrefixWithTrailingSlashNeedsTheSlash) {
    Routes t;
    t.add("api", {"/api/"});
    EXPECT_EQ(t.match("/api/x"), "api");
    EXPECT_EQ(t.match("/api/"), "api");
    EXPECT_EQ(t.match("/api"), "");
    EXPECT_EQ(t.match("/apix/y"), "");
}

TEST(RouteTablePaths, RootPrefixMatchesEverything) {
    Routes t;
    t.add("root", {"/"});
    EXPECT_EQ(t.match("/"), "root");
    EXPECT_EQ(t.match("/anything/at/all"), "root");
}

TEST(RouteTablePaths, ExactMatchesOnlyThePath) {
    Routes t;
    t.add("x", {"=/x"});
    EXPECT_EQ(t.match("/x"), "x");
    EXPECT_EQ(t.match("/x/"), "");
    EXPECT_EQ(t.match("/x/y"), "");
    EXPECT_EQ(t.match("/xy"), "");
    const RouteMatch m = [&] {
        Req q;
        q.path = "/x";
        return t.matchReq(q);
    }();
    EXPECT_EQ(m.kind, PathKind::kExact);
}

TEST(RouteTablePaths, RegexMatches) {
    Routes t;
    t.add("r", {"~^/r/(\\d+)$"});
    EXPECT_EQ(t.match("/r/12"), "r");
    EXPECT_EQ(t.match("/r/0"), "r");
    EXPECT_EQ(t.match("/r/x"), "");
    EXPECT_EQ(t.match("/r/12/"), "");
    EXPECT_EQ(t.match("/r/"), "");
}

TEST(RouteTablePaths, RouteWithSeveralPathsMatchesAny) {
    Routes t;
    t.add("multi", {"/a", "=/b", "~^/c\\d$"});
    EXPECT_EQ(t.match("/a/1"), "multi");
    EXPECT_EQ(t.match("/b"), "multi");
    EXPECT_EQ(t.match("/c7"), "multi");
    EXPECT_EQ(t.match("/b/1"), "");
    EXPECT_EQ(t.match("/d"), "");
}

TEST(RouteTablePaths, RouteWithoutPathsMatchesAnyPath) {
    Routes t;
    t.add("any", {});
    EXPECT_EQ(t.match("/"), "any");
    EXPECT_EQ(t.match("/x/y/z"), "any");
}

TEST(RouteTablePaths, DestinationAndSpecArePassedThrough) {
    Routes t;
    t.add("first", {"/first"});
    t.add("second", {"/second"});
    Req q;
    q.path = "/second/x";
    const RouteMatch m = t.matchReq(q);
    ASSERT_TRUE(m);
    EXPECT_EQ(m.route->destination, 101u);
    EXPECT_EQ(m.kind, PathKind::kPrefix);
    EXPECT_EQ(m.matchedLength, 7u);
    EXPECT_EQ(t.table().size(), 2u);
}

TEST(RouteTableOrder, ExplicitPriorityBeatsEverything) {
    Routes t;
    t.add("exact", {"=/p/q"});
    t.add("long-prefix", {"/p/q"});
    t.add("regex-high", {"~^/p"}).priority = 10;
    EXPECT_EQ(t.match("/p/q"), "regex-high");

    Routes u;
    u.add("long", {"/a/b/c"});
    u.add("short-high", {"/a"}).priority = 1;
    EXPECT_EQ(u.match("/a/b/c/d"), "short-high");

    Routes v;
    v.add("conditions", {"/a"}).methods = {"GET"};
    v.add("plain-high", {"/a"}).priority = 1;
    EXPECT_EQ(v.match("/a"), "plain-high");
}

TEST(RouteTableOrder, NegativePriorityLosesToDefault) {
    Routes t;
    t.add("low", {"=/p"}).priority = -1;
    t.add("default", {"~^/p$"});
    EXPECT_EQ(t.match("/p"), "default");
}

TEST(RouteTableOrder, ExactBeatsPrefixBeatsRegexAtEqualPriority) {
    Routes t;  // the worse kinds come first in table order, so order cannot decide
    t.add("regex", {"~^/p/q$"});
    t.add("prefix", {"/p"});
    t.add("exact", {"=/p/q"});
    EXPECT_EQ(t.match("/p/q"), "exact");
    EXPECT_EQ(t.match("/p/q/r"), "prefix");

    Routes u;
    u.add("regex", {"~^/p/q$"});
    u.add("prefix", {"/p"});
    EXPECT_EQ(u.match("/p/q"), "prefix");
}

TEST(RouteTableOrder, RouteWithoutPathsRanksLikeTheRootPrefix) {
    Routes t;
    t.add("regex", {"~^/p/q$"});
    t.add("longer", {"/p"});
    t.add("any", {});
    EXPECT_EQ(t.match("/p/q"), "longer") << "a longer prefix beats the implicit \"/\"";
    EXPECT_EQ(t.match("/z"), "any");

    Routes u;
    u.add("regex", {"~^/p/q$"});
    u.add("any", {});
    EXPECT_EQ(u.match("/p/q"), "any") << "prefix \"/\" beats regex at equal priority";

    Routes ab;  // a header-only A/B route beats a "/" catch-all when its header is present
    ab.add("catch-all", {"/"});
    ab.add("beta", {}).headers = {{"X-Beta", {"1"}}};
    EXPECT_EQ(ab.match(withHeader("/x", "X-Beta", "1")), "beta");
    EXPECT_EQ(ab.match("/x"), "catch-all");
}

TEST(RouteTableOrder, LongestPrefixWins) {
    Routes t;
    t.add("a", {"/a"});
    t.add("abc", {"/a/b/c"});
    t.add("ab", {"/a/b"});
    EXPECT_EQ(t.match("/a/b/c/d"), "abc");
    EXPECT_EQ(t.match("/a/b/c"), "abc");
    EXPECT_EQ(t.match("/a/b/x"), "ab");
    EXPECT_EQ(t.match("/a/bc"), "a");
    EXPECT_EQ(t.match("/a"), "a");
}

TEST(RouteTableOrder, TrailingSlashPrefixIsLongerThanWithout) {
    Routes t;
    t.add("bare", {"/api"});
    t.add("slash", {"/api/"});
    EXPECT_EQ(t.match("/api/x"), "slash");
    EXPECT_EQ(t.match("/api"), "bare");
}

TEST(RouteTableOrder, MoreConditionsWinTies) {
    Routes t;
    t.add("general", {"/x"});
    t.add("beta", {"/x"}).headers = {{"X-Beta", {"1"}}};
    EXPECT_EQ(t.match(withHeader("/x/page", "X-Beta", "1")), "beta");
    EXPECT_EQ(t.match(withHeader("/x/page", "X-Beta", "2")), "general");
    EXPECT_EQ(t.match("/x/page"), "general");
}

TEST(RouteTableOrder, TableOrderBreaksRemainingTies) {
    Routes t;
    t.add("first", {"/same"});
    t.add("second", {"/same"});
    EXPECT_EQ(t.match("/same"), "first");
}

TEST(RouteTableOrder, RegexRoutesAreTriedInRankOrder) {
    Routes t;
    t.add("generic", {"~^/v\\d+/"});
    t.add("specific", {"~^/v1/users$"}).methods = {"GET"};
    t.add("urgent", {"~^/v1/"}).priority = 3;
    EXPECT_EQ(t.match("/v1/users"), "urgent");
    EXPECT_EQ(t.match("/v2/users"), "generic");
}

TEST(RouteTableConditions, Methods) {
    Routes t;
    t.add("rw", {"/res"}).methods = {"GET", "POST"};
    Req q;
    q.path = "/res";
    q.method = HTTP_GET;
    EXPECT_EQ(t.match(q), "rw");
    q.method = HTTP_POST;
    EXPECT_EQ(t.match(q), "rw");
    q.method = HTTP_DELETE;
    EXPECT_EQ(t.match(q), "");
    q.method = HTTP_PUT;
    EXPECT_EQ(t.match(q), "");
}

TEST(RouteTableConditions, MethodSpecificRouteBeatsGeneralForThatMethod) {
    Routes t;
    t.add("all", {"/res"});
    t.add("delete", {"/res"}).methods = {"DELETE"};
    Req q;
    q.path = "/res";
    q.method = HTTP_DELETE;
    EXPECT_EQ(t.match(q), "delete");
    q.method = HTTP_GET;
    EXPECT_EQ(t.match(q), "all");
}

TEST(RouteTableConditions, ExactHosts) {
    Routes t;
    t.add("api", {"/"}).hosts = {"API.Example.com", "other.test"};
    Req q;
    q.host = "api.example.com";
    EXPECT_EQ(t.match(q), "api");
    q.host = "other.test";
    EXPECT_EQ(t.match(q), "api");
    q.host = "example.com";
    EXPECT_EQ(t.match(q), "");
    q.host = "x.api.example.com";
    EXPECT_EQ(t.match(q), "");
}

TEST(RouteTableConditions, WildcardHosts) {
    Routes t;
    t.add("wild", {"/"}).hosts = {"*.example.com"};
    Req q;
    q.host = "a.example.com";
    EXPECT_EQ(t.match(q), "wild");
    q.host = "a.b.example.com";
    EXPECT_EQ(t.match(q), "wild");
    q.host = "example.com";
    EXPECT_EQ(t.match(q), "") << "the wildcard does not match the bare domain";
    q.host = "badexample.com";
    EXPECT_EQ(t.match(q), "");
    q.host = "a.example.org";
    EXPECT_EQ(t.match(q), "");
}

TEST(RouteTableConditions, HeaderExactValuesAndNameCase) {
    Routes t;
    t.add("h", {"/"}).headers = {{"X-Tenant", {"acme", "globex"}}};
    EXPECT_EQ(t.match(withHeader("/", "x-tenant", "acme")), "h");
    EXPECT_EQ(t.match(withHeader("/", "X-TENANT", "globex")), "h");
    EXPECT_EQ(t.match(withHeader("/", "X-Tenant", "initech")), "");
    EXPECT_EQ(t.match(withHeader("/", "X-Tenant", "acme2")), "");
    EXPECT_EQ(t.match("/"), "");
}

TEST(RouteTableConditions, HeaderMatchesAnyOfRepeatedFields) {
    Routes t;
    t.add("h", {"/"}).headers = {{"X-Role", {"admin"}}};
    Req q;
    q.headers.add("X-Role", "user");
    q.headers.add("X-Role", "admin");
    EXPECT_EQ(t.match(q), "h");
}

TEST(RouteTableConditions, HeaderRegexValues) {
    Routes t;
    t.add("ver", {"/"}).headers = {{"X-Version", {"~^v[0-9]+$"}}};
    EXPECT_EQ(t.match(withHeader("/", "X-Version", "v12")), "ver");
    EXPECT_EQ(t.match(withHeader("/", "X-Version", "beta")), "");
    EXPECT_EQ(t.match(withHeader("/", "X-Version", "v1x")), "");
}

TEST(RouteTableConditions, HeaderPresenceWithEmptyList) {
    Routes t;
    t.add("present", {"/"}).headers = {{"X-Debug", {}}};
    EXPECT_EQ(t.match(withHeader("/", "X-Debug", "anything")), "present");
    EXPECT_EQ(t.match(withHeader("/", "X-Debug", "")), "present");
    EXPECT_EQ(t.match(withHeader("/", "X-Other", "1")), "");
}

TEST(RouteTableConditions, AllHeaderConditionsMustHold) {
    Routes t;
    t.add("both", {"/"}).headers = {{"A", {"1"}}, {"B", {}}};
    Req q;
    q.headers.add("A", "1");
    EXPECT_EQ(t.match(q), "");
    q.headers.add("B", "x");
    EXPECT_EQ(t.match(q), "both");
}

TEST(RouteTableConditions, QueryValues) {
    Routes t;
    t.add("q", {"/"}).query = {{"format", {"json"}}};
    Req q;
    q.query = "a=1&format=json&b=2";
    EXPECT_EQ(t.match(q), "q");
    q.query = "format=xml";
    EXPECT_EQ(t.match(q), "");
    q.query = "xformat=json";
    EXPECT_EQ(t.match(q), "");
    q.query = "";
    EXPECT_EQ(t.match(q), "");
}

TEST(RouteTableConditions, QueryValuesAreFormDecoded) {
    Routes t;
    t.add("name", {"/"}).query = {{"user name", {"John Doe"}}};
    Req q;
    q.query = "user+name=John%20Doe";
    EXPECT_EQ(t.match(q), "name");
    q.query = "user%20name=John+Doe";
    EXPECT_EQ(t.match(q), "name");
}

TEST(RouteTableConditions, QueryRegexAndPresence) {
    Routes t;
    t.add("page", {"/"}).query = {{"page", {"~^[0-9]+$"}}};
    t.add("flag", {"/"}).query = {{"debug", {}}};
    Req q;
    q.query = "page=42";
    EXPECT_EQ(t.match(q), "page");
    q.query = "page=last";
    EXPECT_EQ(t.match(q), "");
    q.query = "debug";
    EXPECT_EQ(t.match(q), "flag");
    q.query = "x=1&debug=";
    EXPECT_EQ(t.match(q), "flag");
}

TEST(RouteTableConditions, CookieValues) {
    Routes t;
    t.add("canary", {"/"}).cookies = {{"release", {"canary"}}};
    EXPECT_EQ(t.match(withHeader("/", "Cookie", "a=1; release=canary; b=2")), "canary");
    EXPECT_EQ(t.match(withHeader("/", "Cookie", "release=\"canary\"")), "canary");
    EXPECT_EQ(t.match(withHeader("/", "Cookie", "release=stable")), "");
    EXPECT_EQ(t.match(withHeader("/", "Cookie", "xrelease=canary")), "");
    EXPECT_EQ(t.match(withHeader("/", "X-Cookie", "release=canary")), "");
}

TEST(RouteTableConditions, CookieRegexAndPresence) {
    Routes t;
    t.add("session", {"/"}).cookies = {{"session", {}}};
    t.add("group", {"/"}).cookies = {{"group", {"~^[ab]$"}}};
    EXPECT_EQ(t.match(withHeader("/", "Cookie", "x=1;session=abc")), "session");
    EXPECT_EQ(t.match(withHeader("/", "Cookie", "group=b")), "group");
    EXPECT_EQ(t.match(withHeader("/", "Cookie", "group=c")), "");
    Req q;
    q.headers.add("Cookie", "a=1");
    q.headers.add("Cookie", "group=a");
    EXPECT_EQ(t.match(q), "group") << "every Cookie field is searched";
}

TEST(RouteTableBuild, RejectsBadRegexes) {
    {
        std::deque<config::RouteSpec> specs(1);
        specs[0].meta.name = "bad";
        specs[0].paths = {"~^/(unclosed"};
        EXPECT_THROW(RouteTable::build({&specs[0]}, {0}), std::invalid_argument);
    }
    {
        std::deque<config::RouteSpec> specs(1);
        specs[0].meta.name = "bad";
        specs[0].paths = {"/"};
        specs[0].headers = {{"X", {"~(("}}};
        EXPECT_THROW(RouteTable::build({&specs[0]}, {0}), std::invalid_argument);
    }
}

TEST(RouteTableBuild, OnlyTheRoutesGivenAreMatched) {
    // Disabled routes are filtered by the caller (the snapshot builder): the table matches
    // exactly what it is given.
    std::deque<config::RouteSpec> specs(2);
    specs[0].meta.name = "enabled";
    specs[0].paths = {"/a"};
    specs[1].meta.name = "disabled";
    specs[1].enabled = false;
    specs[1].paths = {"/b"};
    std::vector<const config::RouteSpec*> live;
    for (const auto& s : specs)
        if (s.enabled) live.push_back(&s);
    auto table = RouteTable::build(live, {7});
    RegexScratch scratch;
    http::HeaderList none;
    RequestView v;
    v.path = "/b";
    v.headers = &none;
    EXPECT_FALSE(table->match(v, scratch));
    v.path = "/a";
    const RouteMatch m = table->match(v, scratch);
    ASSERT_TRUE(m);
    EXPECT_EQ(m.route->spec, &specs[0]);
    EXPECT_EQ(m.route->destination, 7u);
}

TEST(RouteTableUpstreamPath, NoRewriteKeepsThePath) {
    Routes t;
    t.add("p", {"/api"});
    EXPECT_EQ(t.upstream("/api/users/1"), "/api/users/1");
}

TEST(RouteTableUpstreamPath, StripPrefix) {
    Routes t;
    t.add("p", {"/api"}).stripPrefix = true;
    t.add("slash", {"/svc/"}).stripPrefix = true;
    EXPECT_EQ(t.upstream("/api/users"), "/users");
    EXPECT_EQ(t.upstream("/api/users/"), "/users/");
    EXPECT_EQ(t.upstream("/api"), "/");
    EXPECT_EQ(t.upstream("/api/"), "/");
    EXPECT_EQ(t.upstream("/svc/a/b"), "/a/b");
    EXPECT_EQ(t.upstream("/svc/"), "/");
}

TEST(RouteTableUpstreamPath, StripPrefixOfExactIsRoot) {
    Routes t;
    t.add("login", {"=/login"}).stripPrefix = true;
    EXPECT_EQ(t.upstream("/login"), "/");
}

TEST(RouteTableUpstreamPath, StripPrefixOfRegexRemovesTheMatchedStart) {
    Routes t;
    t.add("ver", {"~^/v\\d+"}).stripPrefix = true;
    EXPECT_EQ(t.upstream("/v2/users"), "/users");
    EXPECT_EQ(t.upstream("/v10"), "/");
}

TEST(RouteTableUpstreamPath, RewritePrefixJoinsSlashesOnce) {
    Routes a;
    a.add("p", {"/api"}).rewritePath = "/v2";
    EXPECT_EQ(a.upstream("/api/x"), "/v2/x");
    EXPECT_EQ(a.upstream("/api"), "/v2");
    EXPECT_EQ(a.upstream("/api/"), "/v2/");

    Routes b;
    b.add("p", {"/api"}).rewritePath = "/v2/";
    EXPECT_EQ(b.upstream("/api/x"), "/v2/x");
    EXPECT_EQ(b.upstream("/api"), "/v2/");

    Routes c;
    c.add("p", {"/api/"}).rewritePath = "/v2";
    EXPECT_EQ(c.upstream("/api/x/y"), "/v2/x/y");

    Routes d;
    d.add("p", {"/api/"}).rewritePath = "/v2/";
    EXPECT_EQ(d.upstream("/api/x"), "/v2/x");

    Routes e;
    e.add("p", {"/"}).rewritePath = "/base";
    EXPECT_EQ(e.upstream("/x"), "/base/x");
}

TEST(RouteTableUpstreamPath, RewriteExactReplacesThePath) {
    Routes t;
    t.add("old", {"=/old"}).rewritePath = "/new/place";
    EXPECT_EQ(t.upstream("/old"), "/new/place");
}

TEST(RouteTableUpstreamPath, RewriteRegexWithCaptures) {
    Routes t;
    t.add("posts", {"~^/users/(\\d+)/posts/(\\d+)$"}).rewritePath = "/p/$2/u/$1";
    t.add("r", {"~^/r/(\\d+)$"}).rewritePath = "/items/$1";
    t.add("fixed", {"~^/f/"}).rewritePath = "/fixed";
    EXPECT_EQ(t.upstream("/users/7/posts/9"), "/p/9/u/7");
    EXPECT_EQ(t.upstream("/r/123"), "/items/123");
    EXPECT_EQ(t.upstream("/f/anything"), "/fixed");
}

TEST(RouteTableUpstreamPath, RewriteRegexUnsetGroupIsEmpty) {
    Routes t;
    t.add("opt", {"~^/o(/(\\w+))?$"}).rewritePath = "/x$2";
    EXPECT_EQ(t.upstream("/o/abc"), "/xabc");
    EXPECT_EQ(t.upstream("/o"), "/x");
}

TEST(RouteTableScale, TenThousandPrefixRoutes) {
    Routes t;
    for (int i = 0; i < 10000; ++i)
        t.add("svc" + std::to_string(i), {"/svc" + std::to_string(i)});
    t.add("nested", {"/svc1234/admin"});
    t.add("catch-all", {"/"});
    ASSERT_EQ(t.table().size(), 10002u);
    EXPECT_EQ(t.match("/svc0"), "svc0");
    EXPECT_EQ(t.match("/svc1234/users"), "svc1234");
    EXPECT_EQ(t.match("/svc1234/admin/x"), "nested");
    EXPECT_EQ(t.match("/svc9999"), "svc9999");
    EXPECT_EQ(t.match("/svc5000/a/b/c"), "svc5000");
    EXPECT_EQ(t.match("/svc10000"), "catch-all");
    EXPECT_EQ(t.match("/svc12345/x"), "catch-all");
    EXPECT_EQ(t.match("/svc"), "catch-all");
    Req q;
    q.path = "/svc777/x";
    const RouteMatch m = t.matchReq(q);
    ASSERT_TRUE(m);
    EXPECT_EQ(m.route->destination, 100u + 777u);
}

TEST(RouteTableThreads, EachThreadWithItsOwnScratchGetsCorrectCaptures) {
    std::deque<config::RouteSpec> specs(1);
    specs[0].meta.name = "r";
    specs[0].paths = {"~^/r/(\\d+)/(\\w+)$"};
    specs[0].rewritePath = "/$2/$1";
    auto table = RouteTable::build({&specs[0]}, {0});
    std::vector<int> failures(4, 0);
    std::vector<std::thread> threads;
    for (int w = 0; w < 4; ++w) {
        threads.emplace_back([&, w] {
            RegexScratch scratch;
            http::HeaderList none;
            for (int i = 0; i < 2000; ++i) {
                const std::string id = std::to_string(w * 100000 + i);
                const std::string name = "t" + std::to_string(w);
                const std::string path = "/r/" + id + "/" + name;
                RequestView v;
                v.path = path;
                v.headers = &none;
                const RouteMatch m = table->match(v, scratch);
                if (!m || table->upstreamPath(m, path, scratch) != "/" + name + "/" + id)
                    ++failures[static_cast<size_t>(w)];
            }
        });
    }
    for (auto& th : threads)
        th.join();
    EXPECT_EQ(failures, (std::vector<int>{0, 0, 0, 0}));
}

TEST(MethodFromName, KnownNames) {
    EXPECT_EQ(methodFromName("GET"), HTTP_GET);
    EXPECT_EQ(methodFromName("DELETE"), HTTP_DELETE);
    EXPECT_EQ(methodFromName("PATCH"), HTTP_PATCH);
    EXPECT_EQ(methodFromName("OPTIONS"), HTTP_OPTIONS);
}

// Unknown names must give -1 (and a route with one must fail to build with
// std::invalid_argument). They run in a child process so that an abort() fails only this test.
TEST(MethodFromNameDeathTest, UnknownNamesGiveMinusOneWithoutAborting) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(std::exit(methodFromName("FETCH") == -1 ? 0 : 1), ::testing::ExitedWithCode(0), "")
        << "methodFromName(\"FETCH\") must return -1";
    EXPECT_EXIT(std::exit(methodFromName("get") == -1 ? 0 : 1), ::testing::ExitedWithCode(0), "")
        << "method names are case-sensitive: \"get\" is unknown";
    EXPECT_EXIT(std::exit(methodFromName("") == -1 ? 0 : 1), ::testing::ExitedWithCode(0), "");
}

TEST(RouteTableBuildDeathTest, UnknownMethodThrowsInvalidArgument) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            config::RouteSpec spec;
            spec.meta.name = "bad";
            spec.paths = {"/"};
            spec.methods = {"FETCH"};
            try {
                RouteTable::build({&spec}, {0});
            } catch (const std::invalid_argument&) {
                std::exit(0);
            }
            std::exit(1);
        },
        ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace gatehouse::router
