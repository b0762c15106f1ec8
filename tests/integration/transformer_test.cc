// request-transformer(-body) and response-transformer(-body) through the real proxy: what
// the echo upstream receives (headers, query, path, JSON body and its Content-Length) and what
// the client gets back, the limits for bodies that are too large, not JSON or hostile, and
// config refusals.

#include <gtest/gtest.h>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

#include "harness.h"

namespace gatehouse::test {
namespace {

Gateway::Options withFirstPartyPlugins() {
    Gateway::Options o;
    o.pluginDir = FIRST_PARTY_PLUGINS_DIR;
    return o;
}

std::string routes(const std::string& address) {
    return simpleConfig(address,
                        R"({"name":"hdr","match":{"paths":["/hdr"]},"upstream":"u"},
           {"name":"v1","match":{"paths":["/v1"]},"upstream":"u"},
           {"name":"body","match":{"paths":["/body"]},"upstream":"u","strip_prefix":true},
           {"name":"deep","match":{"paths":["/deep"]},"upstream":"u","strip_prefix":true},
           {"name":"resp","match":{"paths":["/resp"]},"upstream":"u","strip_prefix":true},
           {"name":"respbody","match":{"paths":["/respbody"]},"upstream":"u","strip_prefix":true},
           {"name":"open","match":{"paths":["/open"]},"upstream":"u"})");
}

/// Every value of request header `name` as the echo upstream received it, in order.
std::vector<std::string> echoedAll(const Response& r, std::string_view name) {
    std::vector<std::string> out;
    const auto arr = r.json()->getArray("headers");
    for (size_t i = 0; i < arr->size(); ++i) {
        const auto pair = arr->getArray(static_cast<unsigned>(i));
        const std::string n = pair->getElement<std::string>(0);
        if (n.size() == name.size() &&
            std::equal(n.begin(), n.end(), name.begin(),
                       [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
            out.push_back(pair->getElement<std::string>(1));
    }
    return out;
}

Poco::JSON::Object::Ptr parse(const std::string& json) {
    Poco::JSON::Parser p;
    return p.parse(json).extract<Poco::JSON::Object::Ptr>();
}

std::string configError(const Response& r) {
    const auto fields = r.json()->getObject("fields");
    return fields && fields->has("config") ? fields->getValue<std::string>("config") : "";
}

class Transformers : public ::testing::Test {
protected:
    Transformers() : gw_(routes(up_.address()), withFirstPartyPlugins()) {}

    void SetUp() override {
        const char* plugins[] = {
            R"({"name":"request-transformer","route":"hdr","config":{
                "remove": {"headers": ["X-Remove"], "query": ["debug"]},
                "rename": {"headers": {"X-Old": "X-New"}, "query": {"old": "new"}},
                "set": {"headers": {"X-Set": "s"}, "query": {"s": "1", "q": "a b&c"}},
                "add": {"headers": {"X-Add": "a"}, "query": {"a": "1"}},
                "append": {"headers": {"X-App": "2"}, "query": {"tag": "gw"}},
                "path": {"match": "^/hdr/(\\w+)/(\\d+)$", "replace": "/items/$2/$1"}}})",
            R"({"name":"request-transformer","route":"v1","config":{
                "path": {"match": "^/v1/(?<rest>.*)$", "replace": "/api/${rest}"}}})",
            R"({"name":"request-transformer-body","route":"body","config":{
                "set": {"headers": {"X-Body-Route": "yes"}},
                "body": {"remove": ["user.password", "debug"],
                         "rename": {"user.name": "user.full_name"},
                         "set": {"version": 2},
                         "add": {"meta.source": "gateway", "user.address.city": "Paris",
                                 "user.address.zip": "75001", "tags": ["a", {"b": null}]}},
                "max_body_bytes": 400}})",
            R"({"name":"request-transformer-body","route":"deep","config":{
                "body": {"add": {"seen": true}}}})",
            R"({"name":"response-transformer","route":"resp","config":{
                "remove": {"headers": ["X-Upstream-Id"]},
                "rename": {"headers": {"X-Rename-Me": "X-Renamed"}},
                "set": {"headers": {"Cache-Control": "no-store"}},
                "add": {"headers": {"X-Added": "1", "X-Kept": "gateway"}},
                "append": {"headers": {"X-Multi": "b"}}}})",
            R"({"name":"response-transformer-body","route":"respbody","config":{
                "set": {"headers": {"X-Transformed": "yes"}},
                "body": {"remove": ["peer", "headers"], "rename": {"method": "request.verb"},
                         "add": {"meta.gateway": "gatehouse"}},
                "max_body_bytes": 4096}})",
        };
        for (const char* p : plugins) {
            const Response r = admin(gw_, "POST", "/plugins", p);
            ASSERT_EQ(r.status, 201) << p << "\n" << r.body;
        }
    }

    Upstream up_;
    Gateway gw_;
};

TEST_F(Transformers, RequestHeadersAndQuery) {
    Response r = roundTrip(gw_.port(), "GET", "/hdr/x?debug=1&old=v&s=0&s=9&keep=%20x&tag=c",
                           {{"X-Remove", "1"},
                            {"X-Old", "o1"},
                            {"X-Old", "o2"},
                            {"X-New", "from-client"},
                            {"X-Set", "c1"},
                            {"X-Set", "c2"},
                            {"X-Add", "from-client"},
                            {"X-App", "1"},
                            {"X-Untouched", "u"}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(echoedAll(r, "X-Remove").empty());
    EXPECT_TRUE(echoedAll(r, "X-Old").empty());
    EXPECT_EQ(echoedAll(r, "X-New"), (std::vector<std::string>{"o1", "o2"}))
        << "renamed values replace the client's X-New";
    EXPECT_EQ(echoedAll(r, "X-Set"), std::vector<std::string>{"s"});
    EXPECT_EQ(echoedAll(r, "X-Add"), std::vector<std::string>{"from-client"}) << "add: if absent";
    EXPECT_EQ(echoedAll(r, "X-App"), (std::vector<std::string>{"1", "2"}));
    EXPECT_EQ(echoedAll(r, "X-Untouched"), std::vector<std::string>{"u"});
    const auto echo = r.json();
    EXPECT_EQ(echo->getValue<std::string>("query"),
              "new=v&s=1&keep=%20x&tag=c&q=a%20b%26c&a=1&tag=gw");
    EXPECT_EQ(echo->getValue<std::string>("path"), "/hdr/x") << "the path regex did not match";

    r = roundTrip(gw_.port(), "GET", "/hdr/x");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(echoedAll(r, "X-Add"), std::vector<std::string>{"a"});
    EXPECT_EQ(echoedAll(r, "X-App"), std::vector<std::string>{"2"});
    EXPECT_EQ(r.json()->getValue<std::string>("query"), "q=a%20b%26c&s=1&a=1&tag=gw");

    // No plugin on /open: everything arrives as sent.
    r = roundTrip(gw_.port(), "GET", "/open/x?debug=1", {{"X-Remove", "1"}});
    EXPECT_EQ(echoedAll(r, "X-Remove"), std::vector<std::string>{"1"});
    EXPECT_EQ(r.json()->getValue<std::string>("query"), "debug=1");
}

TEST_F(Transformers, PathRewriteWithCaptures) {
    Response r = roundTrip(gw_.port(), "GET", "/hdr/book/42?debug=1");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()->getValue<std::string>("path"), "/items/42/book");
    EXPECT_EQ(r.json()->getValue<std::string>("query"), "q=a%20b%26c&s=1&a=1&tag=gw");

    r = roundTrip(gw_.port(), "GET", "/v1/users/7/orders?x=1");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()->getValue<std::string>("path"), "/api/users/7/orders");
    EXPECT_EQ(r.json()->getValue<std::string>("query"), "x=1");
    r = roundTrip(gw_.port(), "GET", "/v1");
    EXPECT_EQ(r.json()->getValue<std::string>("path"), "/v1") << "no match: unchanged";
}

TEST_F(Transformers, RequestJsonBodyEditsFixTheLength) {
    const std::string body =
        R"({"user":{"name":"Ann","password":"hunter2","address":{"city":"Lyon"}},)"
        R"("debug":true,"keep":[1,2.5,"x"],"version":1})";
    // What the upstream received, byte for byte.
    Response r = roundTrip(gw_.port(), "POST", "/body/echo-body",
                           {{"Content-Type", "application/json; charset=utf-8"}}, body);
    ASSERT_EQ(r.status, 200) << r.body;
    const auto got = parse(r.body);
    const auto user = got->getObject("user");
    ASSERT_TRUE(user);
    EXPECT_FALSE(user->has("password"));
    EXPECT_FALSE(user->has("name"));
    EXPECT_EQ(user->getValue<std::string>("full_name"), "Ann");
    EXPECT_EQ(user->getObject("address")->getValue<std::string>("city"), "Lyon")
        << "add does not replace";
    EXPECT_EQ(user->getObject("address")->getValue<std::string>("zip"), "75001");
    EXPECT_FALSE(got->has("debug"));
    EXPECT_EQ(got->getValue<int>("version"), 2);
    EXPECT_EQ(got->getObject("meta")->getValue<std::string>("source"), "gateway");
    EXPECT_EQ(got->getArray("tags")->size(), 2u);
    EXPECT_EQ(got->getArray("keep")->getElement<double>(1), 2.5);
    EXPECT_EQ(r.body.find("hunter2"), std::string::npos);

    // The framing the upstream saw matches the new body, also for a chunked request.
    const std::string edited = r.body;
    r = roundTrip(gw_.port(), "POST", "/body/x", {{"Content-Type", "application/json"}}, body);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()->getValue<uint64_t>("body_bytes"), edited.size());
    EXPECT_EQ(r.echoedHeader("Content-Length"), std::to_string(edited.size()));
    EXPECT_EQ(r.echoedHeader("X-Body-Route"), "yes");
    std::string chunked;
    for (size_t i = 0; i < body.size(); i += 40) {
        const std::string piece = body.substr(i, 40);
        char size[16];
        std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
        chunked += size + piece + "\r\n";
    }
    chunked += "0\r\n\r\n";
    Connection c(gw_.port());
    c.send(makeRequest("POST", "/body/x",
                       {{"Content-Type", "application/json"}, {"Transfer-Encoding", "chunked"}}) +
           chunked);
    r = c.read();
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_FALSE(r.json()->getValue<bool>("chunked_request"));
    EXPECT_EQ(r.echoedHeader("Content-Length"), std::to_string(edited.size()));
    EXPECT_EQ(r.json()->getValue<uint64_t>("body_bytes"), edited.size());

    // A body no edit applies to is passed on byte for byte.
    const std::string untouched = R"({ "seen" :  false, "n": 1.50 })";
    r = roundTrip(gw_.port(), "POST", "/deep/echo-body", {{"Content-Type", "application/json"}},
                  untouched);
    EXPECT_EQ(r.body, untouched);
}

TEST_F(Transformers, BodiesThatAreNotJsonTooLargeOrHostile) {
    // Not JSON by its Content-Type: untouched, whatever it looks like.
    const std::string looksLikeJson = R"({"debug":true,"user":{"password":"x"}})";
    Response r = roundTrip(gw_.port(), "POST", "/body/echo-body", {{"Content-Type", "text/plain"}},
                           looksLikeJson);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, looksLikeJson);
    r = roundTrip(gw_.port(), "POST", "/body/echo-body",
                  {{"Content-Type", "application/json"}, {"Content-Encoding", "gzip"}},
                  looksLikeJson);
    EXPECT_EQ(r.body, looksLikeJson) << "compressed bytes are not JSON text";
    // JSON that is not an object: untouched.
    r = roundTrip(gw_.port(), "POST", "/body/echo-body", {{"Content-Type", "application/json"}},
                  "[1,2,3]");
    EXPECT_EQ(r.body, "[1,2,3]");

    // Over max_body_bytes (400): refused, the upstream never sees it.
    const std::string big = R"({"debug":true,"pad":")" + std::string(500, 'p') + "\"}";
    r = roundTrip(gw_.port(), "POST", "/body/x", {{"Content-Type", "application/json"}}, big);
    EXPECT_EQ(r.status, 413) << r.body;
    EXPECT_FALSE(r.header("X-Upstream-Id"));
    EXPECT_NE(r.json()->getValue<std::string>("error").find("400 bytes"), std::string::npos);

    // Claims to be JSON but is not: refused rather than passed on unedited.
    for (const std::string& bad :
         {std::string(R"({"debug":true,)"), std::string("{\"a\":\"\xff\"}"),
          std::string(R"({"a":1} trailing)")}) {
        r = roundTrip(gw_.port(), "POST", "/body/x", {{"Content-Type", "application/json"}}, bad);
        EXPECT_EQ(r.status, 400) << bad;
        EXPECT_EQ(r.json()->getValue<std::string>("error"), "request body is not valid JSON");
        EXPECT_FALSE(r.header("X-Upstream-Id"));
    }

    // Deep nesting is refused without harm (the parse depth is bounded), at any size.
    for (const size_t depth : {size_t(100), size_t(200000)}) {
        const std::string deep =
            "{\"a\":" + std::string(depth, '[') + std::string(depth, ']') + "}";
        r = roundTrip(gw_.port(), "POST", "/deep/x", {{"Content-Type", "application/json"}}, deep);
        EXPECT_EQ(r.status, 400) << depth;
    }
    const std::string shallow = "{\"a\":" + std::string(20, '[') + std::string(20, ']') + "}";
    r = roundTrip(gw_.port(), "POST", "/deep/echo-body", {{"Content-Type", "application/json"}},
                  shallow);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(parse(r.body)->getValue<bool>("seen"), true);
    EXPECT_EQ(roundTrip(gw_.port(), "GET", "/open/x").status, 200) << "the gateway is fine";
}

TEST_F(Transformers, ResponseHeadersAndJsonBody) {
    Response r = roundTrip(gw_.port(), "GET",
                           "/resp/headers?set=X-Multi:a&set=X-Rename-Me:v&set=X-Kept:upstream&"
                           "set=Cache-Control:public");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_FALSE(r.header("X-Upstream-Id"));
    EXPECT_FALSE(r.header("X-Rename-Me"));
    EXPECT_EQ(r.header("X-Renamed"), "v");
    EXPECT_EQ(r.header("Cache-Control"), "no-store");
    EXPECT_EQ(r.headerCount("Cache-Control"), 1u);
    EXPECT_EQ(r.header("X-Added"), "1");
    EXPECT_EQ(r.header("X-Kept"), "upstream") << "add: only when absent";
    EXPECT_EQ(r.headerCount("X-Multi"), 2u);
    EXPECT_EQ(r.json()->getValue<std::string>("method"), "GET") << "headers-only: body as is";

    r = roundTrip(gw_.port(), "POST", "/respbody/x", {{"Content-Type", "text/plain"}}, "hi");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("X-Transformed"), "yes");
    EXPECT_EQ(r.header("Content-Length"), std::to_string(r.body.size()));
    const auto got = parse(r.body);
    EXPECT_FALSE(got->has("peer"));
    EXPECT_FALSE(got->has("headers"));
    EXPECT_FALSE(got->has("method"));
    EXPECT_EQ(got->getObject("request")->getValue<std::string>("verb"), "POST");
    EXPECT_EQ(got->getObject("meta")->getValue<std::string>("gateway"), "gatehouse");
    EXPECT_EQ(got->getValue<std::string>("id"), "upstream") << "the rest is kept";

    // Not JSON: as the upstream sent it.
    r = roundTrip(gw_.port(), "GET", "/respbody/bytes/100");
    EXPECT_EQ(r.body, std::string(100, 'x'));
    EXPECT_EQ(r.header("X-Transformed"), "yes");
    // JSON larger than max_body_bytes (4096): as the upstream sent it.
    r = roundTrip(gw_.port(), "GET", "/respbody/x", {{"X-Pad", std::string(5000, 'p')}});
    ASSERT_EQ(r.status, 200);
    EXPECT_TRUE(r.json()->has("peer"));
    EXPECT_FALSE(r.json()->has("meta"));
}

TEST_F(Transformers, BadConfigsAreRefusedWithTheReason) {
    struct Case {
        const char* plugin;
        const char* config;
        const char* reason;
    };
    const Case refused[] = {
        {"request-transformer", R"({"set":{"headers":{"X-A":"bad\nvalue"}}})",
         "control characters"},
        {"request-transformer", R"({"add":{"headers":{"X-A":" padded"}}})", "control characters"},
        {"request-transformer", R"({"set":{"headers":{"Content-Length":"5"}}})",
         "managed by the gateway"},
        {"request-transformer", R"({"rename":{"headers":{"X-A":"Host"}}})",
         "managed by the gateway"},
        {"request-transformer", R"({"path":{"match":"^/v1/(.*)$","replace":"/api/$2"}})",
         "$2 names no group"},
        {"request-transformer", R"({"path":{"match":"^/v1/(.*$","replace":"/api"}})",
         "invalid regex"},
        {"request-transformer", R"({})", "nothing to do"},
        {"request-transformer-body", R"({"set":{"headers":{"X-A":"1"}}})",
         "no body edits configured"},
        {"request-transformer-body", R"({"body":{"remove":["a..b"]}})", "empty segment"},
        {"response-transformer", R"({"set":{"headers":{"Transfer-Encoding":"chunked"}}})",
         "managed by the gateway"},
        {"response-transformer-body", R"({"body":{"add":{"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q":1}}})",
         "at most 16 segments"},
    };
    for (const auto& c : refused) {
        const Response r = admin(gw_, "POST", "/plugins",
                                 std::string(R"({"name":")") + c.plugin +
                                     R"(","route":"open","config":)" + c.config + "}");
        EXPECT_EQ(r.status, 400) << c.plugin << " " << c.config;
        EXPECT_NE(configError(r).find(c.reason), std::string::npos)
            << c.plugin << " " << c.config << " -> " << r.body;
    }
    // Schema violations name the field.
    const std::pair<const char*, const char*> schema[] = {
        {"request-transformer", R"({"body":{"remove":["a"]}})"},  // body edits need -body
        {"request-transformer", R"({"set":{"headers":{"Bad Header":"1"}}})"},
        {"request-transformer-body", R"({"body":{"remove":["a"]},"max_body_bytes":0})"},
        {"response-transformer", R"({"set":{"query":{"a":"1"}}})"},
    };
    for (const auto& [plugin, config] : schema) {
        const Response r = admin(
            gw_, "POST", "/plugins",
            std::string(R"({"name":")") + plugin + R"(","route":"open","config":)" + config + "}");
        EXPECT_EQ(r.status, 400) << plugin << " " << config;
        EXPECT_NE(r.body.find("config."), std::string::npos) << r.body;
    }
    const Response r = roundTrip(gw_.port(), "GET", "/open/x", {{"X-A", "1"}});
    EXPECT_EQ(echoedAll(r, "X-A"), std::vector<std::string>{"1"}) << "nothing was applied";
}

}  // namespace
}  // namespace gatehouse::test
