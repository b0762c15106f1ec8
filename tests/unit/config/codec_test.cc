#include "config/codec.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace gatehouse::config {
namespace {

const char* const kValidDocument = R"({
  "upstreams": [
    {
      "id": "0c8f6a52-2f0a-4a59-8f3e-3a8a8d2c1a01",
      "name": "users",
      "tags": ["team-a"],
      "algorithm": "consistent-hash",
      "hash_on": "header",
      "hash_key": "X-User",
      "targets": [{"address": "10.0.0.1:8080", "weight": 5}, {"address": "[::1]:8081"}],
      "timeouts": {"connect_ms": 1000, "read_ms": 30000}
    },
    {
      "name": "web",
      "targets": [{"address": "web.internal:80", "weight": 0}]
    }
  ],
  "routes": [
    {
      "name": "users-api",
      "priority": 5,
      "match": {
        "paths": ["/api/users", "=/api/me", "~^/u/(\\d+)$"],
        "methods": ["GET", "POST"],
        "hosts": ["api.example.com", "*.example.org"],
        "headers": {"X-Beta": "1", "X-Debug": []},
        "query": {"v": ["1", "~^2"]},
        "cookies": {"session": []}
      },
      "upstream": "users",
      "strip_prefix": true,
      "preserve_host": true,
      "timeouts": {"send_ms": 100}
    },
    {
      "name": "site",
      "enabled": false,
      "match": {"paths": ["/"]},
      "upstream": "web",
      "rewrite_path": "/site"
    }
  ]
})";

/// The ValidationError fields for `json`; fails the test when it validates.
FieldErrors errorsOf(const std::string& json) {
    try {
        documentFromJson(json);
    } catch (const ValidationError& e) {
        return e.fields;
    }
    ADD_FAILURE() << "expected a ValidationError for " << json;
    return {};
}

/// A document with one upstream "up" (one target) and the given route JSON objects.
std::string docWithRoutes(const std::string& routes) {
    return R"({"upstreams": [{"name": "up", "targets": [{"address": "127.0.0.1:9000"}]}], "routes": [)" +
           routes + "]}";
}

std::string docWithUpstreams(const std::string& upstreams) {
    return R"({"upstreams": [)" + upstreams + "]}";
}

TEST(Codec, ParsesAValidDocument) {
    const ConfigDocument d = documentFromJson(kValidDocument);
    ASSERT_EQ(d.upstreams.size(), 2u);
    ASSERT_EQ(d.routes.size(), 2u);

    const UpstreamSpec& u = d.upstreams[0];
    EXPECT_EQ(u.meta.id, "0c8f6a52-2f0a-4a59-8f3e-3a8a8d2c1a01");
    EXPECT_FALSE(u.meta.generatedId);
    EXPECT_EQ(u.meta.name, "users");
    EXPECT_EQ(u.meta.tags, (std::vector<std::string>{"team-a"}));
    EXPECT_EQ(u.algorithm, Algorithm::kConsistentHash);
    EXPECT_EQ(u.hashOn, HashOn::kHeader);
    EXPECT_EQ(u.hashKey, "X-User");
    ASSERT_EQ(u.targets.size(), 2u);
    EXPECT_EQ(u.targets[0].address, "10.0.0.1:8080");
    EXPECT_EQ(u.targets[0].weight, 5u);
    EXPECT_EQ(u.targets[1].weight, 100u) << "weight defaults to 100";
    EXPECT_EQ(u.timeouts.connectMs, 1000u);
    EXPECT_FALSE(u.timeouts.sendMs.has_value());
    EXPECT_EQ(u.timeouts.readMs, 30000u);

    const UpstreamSpec& w = d.upstreams[1];
    EXPECT_TRUE(w.meta.generatedId);
    EXPECT_EQ(w.meta.id.size(), 36u) << "a missing id is generated as a UUID";
    EXPECT_EQ(w.algorithm, Algorithm::kRoundRobin);
    EXPECT_EQ(w.targets[0].weight, 0u);

    const RouteSpec& r = d.routes[0];
    EXPECT_EQ(r.priority, 5);
    EXPECT_TRUE(r.enabled);
    EXPECT_EQ(r.paths, (std::vector<std::string>{"/api/users", "=/api/me", "~^/u/(\\d+)$"}));
    EXPECT_EQ(r.methods, (std::vector<std::string>{"GET", "POST"}));
    EXPECT_EQ(r.hosts, (std::vector<std::string>{"api.example.com", "*.example.org"}));
    ASSERT_EQ(r.headers.size(), 2u);
    for (const auto& h : r.headers) {
        if (h.name == "X-Beta") {
            EXPECT_EQ(h.values, (std::vector<std::string>{"1"}));
        } else if (h.name == "X-Debug") {
            EXPECT_TRUE(h.values.empty());
        } else {
            ADD_FAILURE() << "unexpected header matcher " << h.name;
        }
    }
    ASSERT_EQ(r.query.size(), 1u);
    EXPECT_EQ(r.query[0].values, (std::vector<std::string>{"1", "~^2"}));
    ASSERT_EQ(r.cookies.size(), 1u);
    EXPECT_EQ(r.cookies[0].name, "session");
    EXPECT_EQ(r.upstream, "users");
    EXPECT_TRUE(r.stripPrefix);
    EXPECT_TRUE(r.preserveHost);
    EXPECT_EQ(r.timeouts.sendMs, 100u);

    EXPECT_FALSE(d.routes[1].enabled);
    EXPECT_EQ(d.routes[1].rewritePath, "/site");
}

TEST(Codec, RoundTripsThroughJsonText) {
    const ConfigDocument first = documentFromJson(kValidDocument);
    const std::string text = toJsonText(first);
    ConfigDocument second;
    ASSERT_NO_THROW(second = documentFromJson(text)) << text;
    EXPECT_EQ(toJsonText(second), text);
    ASSERT_EQ(second.upstreams.size(), first.upstreams.size());
    ASSERT_EQ(second.routes.size(), first.routes.size());
    for (size_t i = 0; i < first.upstreams.size(); ++i) {
        EXPECT_EQ(second.upstreams[i].meta.id, first.upstreams[i].meta.id);
        EXPECT_EQ(second.upstreams[i].meta.name, first.upstreams[i].meta.name);
        EXPECT_EQ(second.upstreams[i].algorithm, first.upstreams[i].algorithm);
        EXPECT_EQ(second.upstreams[i].hashOn, first.upstreams[i].hashOn);
        EXPECT_EQ(second.upstreams[i].hashKey, first.upstreams[i].hashKey);
        ASSERT_EQ(second.upstreams[i].targets.size(), first.upstreams[i].targets.size());
        for (size_t t = 0; t < first.upstreams[i].targets.size(); ++t) {
            EXPECT_EQ(second.upstreams[i].targets[t].address,
                      first.upstreams[i].targets[t].address);
            EXPECT_EQ(second.upstreams[i].targets[t].weight, first.upstreams[i].targets[t].weight);
        }
        EXPECT_EQ(second.upstreams[i].timeouts.connectMs, first.upstreams[i].timeouts.connectMs);
        EXPECT_EQ(second.upstreams[i].timeouts.readMs, first.upstreams[i].timeouts.readMs);
    }
    for (size_t i = 0; i < first.routes.size(); ++i) {
        const RouteSpec& a = first.routes[i];
        const RouteSpec& b = second.routes[i];
        EXPECT_EQ(b.meta.id, a.meta.id);
        EXPECT_EQ(b.meta.name, a.meta.name);
        EXPECT_EQ(b.priority, a.priority);
        EXPECT_EQ(b.enabled, a.enabled);
        EXPECT_EQ(b.paths, a.paths);
        EXPECT_EQ(b.methods, a.methods);
        EXPECT_EQ(b.hosts, a.hosts);
        EXPECT_EQ(b.headers.size(), a.headers.size());
        EXPECT_EQ(b.query.size(), a.query.size());
        EXPECT_EQ(b.cookies.size(), a.cookies.size());
        EXPECT_EQ(b.upstream, a.upstream);
        EXPECT_EQ(b.stripPrefix, a.stripPrefix);
        EXPECT_EQ(b.rewritePath, a.rewritePath);
        EXPECT_EQ(b.preserveHost, a.preserveHost);
        EXPECT_EQ(b.timeouts.sendMs, a.timeouts.sendMs);
    }
}

TEST(Codec, EmptyDocumentIsValid) {
    const ConfigDocument d = documentFromJson("{}");
    EXPECT_TRUE(d.upstreams.empty());
    EXPECT_TRUE(d.routes.empty());
    EXPECT_NO_THROW(documentFromJson(toJsonText(d)));
}

TEST(CodecErrors, InvalidJsonIsAValidationError) {
    EXPECT_THROW(documentFromJson("{not json"), ValidationError);
    EXPECT_THROW(documentFromJson("[]"), ValidationError);
    EXPECT_THROW(documentFromJson(""), ValidationError);
}

TEST(CodecErrors, PathNotStartingWithSlash) {
    const FieldErrors e = errorsOf(
        docWithRoutes(R"({"name": "r", "match": {"paths": ["/ok", "api"]}, "upstream": "up"})"));
    ASSERT_EQ(e.count("routes[0].match.paths[1]"), 1u) << summarize(e);
    EXPECT_EQ(e.count("routes[0].match.paths[0]"), 0u) << summarize(e);
    EXPECT_EQ(e.size(), 1u) << summarize(e);
}

TEST(CodecErrors, PathErrorsOfEveryKind) {
    const FieldErrors e = errorsOf(docWithRoutes(
        R"({"name": "r", "match": {"paths": ["~^/(unclosed", "/a//b", "/a/../b", "/p?q", "=x", "/a%2Fb", "=/ok"]}, "upstream": "up"})"));
    EXPECT_EQ(e.count("routes[0].match.paths[0]"), 1u) << "bad regex: " << summarize(e);
    EXPECT_EQ(e.count("routes[0].match.paths[1]"), 1u) << "not normalized: " << summarize(e);
    EXPECT_EQ(e.count("routes[0].match.paths[2]"), 1u) << "dot segment: " << summarize(e);
    EXPECT_EQ(e.count("routes[0].match.paths[3]"), 1u) << "query: " << summarize(e);
    EXPECT_EQ(e.count("routes[0].match.paths[4]"), 1u) << "exact without /: " << summarize(e);
    EXPECT_EQ(e.count("routes[0].match.paths[5]"), 1u) << "encoded slash: " << summarize(e);
    EXPECT_EQ(e.count("routes[0].match.paths[6]"), 0u) << summarize(e);
}

TEST(CodecErrors, BadTargetAddressNamesTheTarget) {
    const FieldErrors e = errorsOf(docWithUpstreams(
        R"({"name": "u", "targets": [{"address": "10.0.0.1:80"}, {"address": "no-port"}, {"address": "h:70000"}]})"));
    EXPECT_EQ(e.count("upstreams[0].targets[1].address"), 1u) << summarize(e);
    EXPECT_EQ(e.count("upstreams[0].targets[2].address"), 1u) << summarize(e);
    EXPECT_EQ(e.count("upstreams[0].targets[0].address"), 0u) << summarize(e);
}

TEST(CodecErrors, DuplicateTargetAndBadWeight) {
    const FieldErrors e = errorsOf(docWithUpstreams(
        R"({"name": "u", "targets": [{"address": "h:80"}, {"address": "h:80", "weight": 70000}, {"weight": 1}]})"));
    EXPECT_EQ(e.count("upstreams[0].targets[1].address"), 1u) << summarize(e);
    EXPECT_EQ(e.count("upstreams[0].targets[1].weight"), 1u) << summarize(e);
    EXPECT_EQ(e.count("upstreams[0].targets[2].address"), 1u)
        << "missing address: " << summarize(e);
}

TEST(CodecErrors, RouteToMissingUpstream) {
    const FieldErrors e =
        errorsOf(docWithRoutes(R"({"name": "r", "match": {"paths": ["/"]}, "upstream": "nope"})"));
    ASSERT_EQ(e.count("routes[0].upstream"), 1u) << summarize(e);
    EXPECT_NE(e.at("routes[0].upstream").find("nope"), std::string::npos);
    const FieldErrors missing =
        errorsOf(docWithRoutes(R"({"name": "r", "match": {"paths": ["/"]}})"));
    EXPECT_EQ(missing.count("routes[0].upstream"), 1u) << summarize(missing);
}

TEST(CodecErrors, UnknownFieldIsNamedExactly) {
    const FieldErrors e = errorsOf(docWithRoutes(R"({"name": "r", "upstream": "up", "bogus": 1})"));
    ASSERT_EQ(e.count("routes[0].bogus"), 1u) << summarize(e);
    EXPECT_EQ(e.at("routes[0].bogus"), "unknown field");
    EXPECT_EQ(e.size(), 1u) << summarize(e);

    const FieldErrors nested =
        errorsOf(docWithRoutes(R"({"name": "r", "upstream": "up", "match": {"path": ["/"]}})"));
    EXPECT_EQ(nested.count("routes[0].match.path"), 1u) << summarize(nested);

    const FieldErrors target = errorsOf(
        docWithUpstreams(R"({"name": "u", "targets": [{"address": "h:1", "wieght": 2}]})"));
    EXPECT_EQ(target.count("upstreams[0].targets[0].wieght"), 1u) << summarize(target);

    const FieldErrors top = errorsOf(R"({"upstreams": [], "route": []})");
    EXPECT_EQ(top.count("route"), 1u) << summarize(top);
}

TEST(CodecErrors, DuplicateNamesAndIds) {
    const FieldErrors e = errorsOf(R"({
      "upstreams": [{"name": "a", "targets": []}, {"name": "a", "targets": []}],
      "routes": [{"name": "r", "upstream": "a"}, {"name": "r", "upstream": "a"}]})");
    EXPECT_EQ(e.count("upstreams[1].name"), 1u) << summarize(e);
    EXPECT_EQ(e.count("routes[1].name"), 1u) << summarize(e);
    EXPECT_EQ(e.count("upstreams[0].name"), 0u) << summarize(e);

    const FieldErrors ids = errorsOf(R"({
      "upstreams": [{"id": "0c8f6a52-2f0a-4a59-8f3e-3a8a8d2c1a01", "name": "a"}],
      "routes": [{"id": "0c8f6a52-2f0a-4a59-8f3e-3a8a8d2c1a01", "name": "r", "upstream": "a"}]})");
    EXPECT_EQ(ids.count("routes[0].id"), 1u) << summarize(ids);
}

TEST(CodecErrors, BadIdAndName) {
    const FieldErrors e =
        errorsOf(docWithUpstreams(R"({"id": "not-a-uuid", "name": "-bad name"})"));
    EXPECT_EQ(e.count("upstreams[0].id"), 1u) << summarize(e);
    EXPECT_EQ(e.count("upstreams[0].name"), 1u) << summarize(e);
    const FieldErrors missing = errorsOf(docWithUpstreams(R"({"targets": []})"));
    EXPECT_EQ(missing.count("upstreams[0].name"), 1u) << summarize(missing);
}

TEST(CodecErrors, WrongTypes) {
    const FieldErrors e = errorsOf(docWithRoutes(
        R"({"name": "r", "upstream": "up", "priority": "high", "enabled": "yes", "match": {"paths": "/", "methods": [1]}})"));
    EXPECT_EQ(e.count("routes[0].priority"), 1u) << summarize(e);
    EXPECT_EQ(e.count("routes[0].enabled"), 1u) << summarize(e);
    EXPECT_EQ(e.count("routes[0].match.paths"), 1u) << summarize(e);
    EXPECT_EQ(e.count("routes[0].match.methods[0]"), 1u) << summarize(e);
    EXPECT_EQ(errorsOf(R"({"upstreams": [1]})").count("upstreams[0]"), 1u);
    EXPECT_EQ(errorsOf(R"({"routes": {}})").count("routes"), 1u);
}

TEST(CodecErrors, MatchConditions) {
    const FieldErrors e = errorsOf(docWithRoutes(R"({"name": "r", "upstream": "up", "match": {
        "methods": ["GET", "DELETE"],
        "hosts": ["ok.example.com", "h:8080", "*.", "bad_host"],
        "headers": {"X-A": [1], "Bad Name": "v", "X-R": "~(("},
        "query": {"q": 5},
        "cookies": {"c": ["~[z-a]"]}}})"));
    EXPECT_EQ(e.count("routes[0].match.methods[0]"), 0u) << summarize(e);
    EXPECT_EQ(e.count("routes[0].match.methods[1]"), 0u) << summarize(e);
    EXPECT_EQ(e.count("routes[0].match.hosts[0]"), 0u) << summarize(e);
    EXPECT_EQ(e.count("routes[0].match.hosts[1]"), 1u) << summarize(e);
    EXPECT_EQ(e.count("routes[0].match.hosts[2]"), 1u) << summarize(e);
    EXPECT_EQ(e.count("routes[0].match.hosts[3]"), 1u) << summarize(e);
    EXPECT_EQ(e.count("routes[0].match.headers.X-A[0]"), 1u) << summarize(e);
    EXPECT_EQ(e.count("routes[0].match.headers.Bad Name"), 1u) << summarize(e);
    EXPECT_EQ(e.count("routes[0].match.headers.X-R[0]"), 1u) << summarize(e);
    EXPECT_EQ(e.count("routes[0].match.query.q"), 1u) << summarize(e);
    EXPECT_EQ(e.count("routes[0].match.cookies.c[0]"), 1u) << summarize(e);
}

// An unknown or lower-case method must be a field error ("use upper case"), not a crash of the
// process that validates the import. Runs in a child process so that an abort() fails only
// this test.
TEST(CodecDeathTest, UnknownMethodIsAFieldError) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            FieldErrors e;
            try {
                documentFromJson(docWithRoutes(
                    R"({"name": "r", "upstream": "up", "match": {"methods": ["GET", "get", "FETCH"]}})"));
            } catch (const ValidationError& v) {
                e = v.fields;
            }
            std::exit(e.count("routes[0].match.methods[1]") == 1 &&
                              e.count("routes[0].match.methods[2]") == 1 &&
                              e.count("routes[0].match.methods[0]") == 0
                          ? 0
                          : 1);
        },
        ::testing::ExitedWithCode(0), "");
}

TEST(CodecErrors, DestinationOptions) {
    const FieldErrors e = errorsOf(docWithRoutes(
        R"({"name": "r", "upstream": "up", "strip_prefix": true, "rewrite_path": "/x", "timeouts": {"connect_ms": 0, "read_ms": 1.5}},
           {"name": "s", "upstream": "up", "rewrite_path": "relative"})"));
    EXPECT_EQ(e.count("routes[0].strip_prefix"), 1u) << summarize(e);
    EXPECT_EQ(e.count("routes[0].timeouts.connect_ms"), 1u) << summarize(e);
    EXPECT_EQ(e.count("routes[0].timeouts.read_ms"), 1u) << summarize(e);
    EXPECT_EQ(e.count("routes[1].rewrite_path"), 1u) << summarize(e);
}

TEST(CodecErrors, HashOptions) {
    const FieldErrors e = errorsOf(docWithUpstreams(
        R"({"name": "a", "algorithm": "consistent-hash", "hash_on": "header"},
           {"name": "b", "algorithm": "random"},
           {"name": "c", "hash_on": "ip"},
           {"name": "d", "algorithm": "consistent-hash", "hash_on": "header", "hash_key": "Bad Header"})"));
    EXPECT_EQ(e.count("upstreams[0].hash_key"), 1u) << summarize(e);
    EXPECT_EQ(e.count("upstreams[1].algorithm"), 1u) << summarize(e);
    EXPECT_EQ(e.count("upstreams[2].hash_on"), 1u) << summarize(e);
    EXPECT_EQ(e.count("upstreams[3].hash_key"), 1u) << summarize(e);
}

TEST(CodecErrors, EveryErrorIsReportedAtOnce) {
    const FieldErrors e = errorsOf(R"({
      "upstreams": [{"name": "u", "targets": [{"address": "x"}]}],
      "routes": [{"name": "r", "upstream": "missing", "match": {"paths": ["nope"]}, "extra": true}]})");
    EXPECT_EQ(e.count("upstreams[0].targets[0].address"), 1u) << summarize(e);
    EXPECT_EQ(e.count("routes[0].upstream"), 1u) << summarize(e);
    EXPECT_EQ(e.count("routes[0].match.paths[0]"), 1u) << summarize(e);
    EXPECT_EQ(e.count("routes[0].extra"), 1u) << summarize(e);
}

TEST(Codec, SummarizeJoinsFieldErrors) {
    EXPECT_EQ(summarize({{"a.b", "bad"}, {"c", "worse"}}), "a.b: bad; c: worse");
    EXPECT_EQ(summarize({}), "");
}

TEST(Codec, ValidNames) {
    EXPECT_TRUE(isValidName("users-api.v2_x~1"));
    EXPECT_TRUE(isValidName("9lives"));
    EXPECT_FALSE(isValidName(""));
    EXPECT_FALSE(isValidName("-lead"));
    EXPECT_FALSE(isValidName("has space"));
    EXPECT_FALSE(isValidName("slash/name"));
    EXPECT_FALSE(isValidName(std::string(129, 'a')));
    EXPECT_TRUE(isValidName(std::string(128, 'a')));
}

TEST(Codec, NewUuidIsUnique) {
    const std::string a = newUuid(), b = newUuid();
    EXPECT_EQ(a.size(), 36u);
    EXPECT_NE(a, b);
}

}  // namespace
}  // namespace gatehouse::config
