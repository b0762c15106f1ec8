// The admin REST API against the real gateway: auth on every documented operation, an
// OpenAPI-driven walk (every operation answers with a documented status and a body of the
// documented shape), CRUD with its effect on the proxy, the error matrix, whole-config
// import/history/rollback, status, and token rotation while running.

#include <gtest/gtest.h>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <ctime>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "harness.h"

namespace gatehouse::test {
namespace {

using Poco::Dynamic::Var;
using Poco::JSON::Array;
using Poco::JSON::Object;
using Headers = std::vector<std::pair<std::string, std::string>>;

// ---- JSON helpers ---------------------------------------------------------------------------

Var parseJson(const std::string& text) {
    Poco::JSON::Parser p;
    return p.parse(text);
}

/// The body as a JSON object, or null (the caller asserts) when it is anything else.
Object::Ptr objectOf(const Response& r) {
    try {
        const Var v = parseJson(r.body);
        if (v.type() == typeid(Object::Ptr)) return v.extract<Object::Ptr>();
    } catch (const std::exception&) {
    }
    return nullptr;
}

bool isObject(const Var& v) {
    return v.type() == typeid(Object::Ptr);
}
bool isArray(const Var& v) {
    return v.type() == typeid(Array::Ptr);
}

/// fields[key] of an error response, or "" when absent.
std::string field(const Response& r, const std::string& key) {
    const auto o = objectOf(r);
    if (!o || !o->getObject("fields")) return "";
    const auto f = o->getObject("fields");
    return f->has(key) ? f->getValue<std::string>(key) : "";
}

std::vector<std::string> namesIn(const Array::Ptr& data) {
    std::vector<std::string> out;
    for (size_t i = 0; data && i < data->size(); ++i)
        out.push_back(data->getObject(static_cast<unsigned>(i))->getValue<std::string>("name"));
    return out;
}

// ---- A small JSON Schema checker (the subset openapi.json uses) -----------------------------

Object::Ptr resolveRef(const Object::Ptr& doc, const std::string& ref) {
    if (ref.rfind("#/", 0) != 0) return nullptr;
    Object::Ptr at = doc;
    size_t i = 2;
    while (at && i <= ref.size()) {
        const size_t j = std::min(ref.find('/', i), ref.size());
        at = at->getObject(ref.substr(i, j - i));
        i = j + 1;
    }
    return at;
}

bool typeMatches(const Var& v, const std::string& type) {
    if (type == "object") return isObject(v);
    if (type == "array") return isArray(v);
    if (type == "string") return v.isString();
    if (type == "integer") return v.isInteger() && !v.isBoolean();
    if (type == "number") return v.isNumeric() && !v.isBoolean();
    if (type == "boolean") return v.isBoolean();
    if (type == "null") return v.isEmpty();
    return false;
}

/// Appends to `errors` every way `v` violates `schema` (type, enum, required,
/// additionalProperties, items, oneOf, minimum/maximum, pattern), each with its JSON path.
void checkSchema(const Object::Ptr& doc, Object::Ptr schema, const Var& v, const std::string& at,
                 std::vector<std::string>& errors) {
    if (schema->has("$ref")) {
        const std::string ref = schema->getValue<std::string>("$ref");
        schema = resolveRef(doc, ref);
        if (!schema) {
            errors.push_back(at + ": unresolvable $ref " + ref);
            return;
        }
    }
    if (const auto oneOf = schema->getArray("oneOf")) {
        int matched = 0;
        for (size_t i = 0; i < oneOf->size(); ++i) {
            std::vector<std::string> sub;
            checkSchema(doc, oneOf->getObject(static_cast<unsigned>(i)), v, at, sub);
            if (sub.empty()) ++matched;
        }
        if (matched != 1)
            errors.push_back(at + ": matches " + std::to_string(matched) + " of oneOf");
    }
    if (schema->has("type")) {
        std::vector<std::string> types;
        if (const auto list = schema->getArray("type")) {
            for (size_t i = 0; i < list->size(); ++i)
                types.push_back(list->getElement<std::string>(static_cast<unsigned>(i)));
        } else {
            types.push_back(schema->getValue<std::string>("type"));
        }
        if (std::none_of(types.begin(), types.end(),
                         [&](const auto& t) { return typeMatches(v, t); })) {
            errors.push_back(at + ": not of type " + types.front());
            return;
        }
    }
    if (const auto e = schema->getArray("enum")) {
        bool found = false;
        for (size_t i = 0; i < e->size(); ++i)
            found |= v.isString() && e->get(static_cast<unsigned>(i)).toString() == v.toString();
        if (!found) errors.push_back(at + ": '" + v.toString() + "' not in enum");
    }
    if (isObject(v)) {
        const auto o = v.extract<Object::Ptr>();
        const auto props = schema->getObject("properties");
        if (const auto req = schema->getArray("required"))
            for (size_t i = 0; i < req->size(); ++i) {
                const auto key = req->getElement<std::string>(static_cast<unsigned>(i));
                if (!o->has(key)) errors.push_back(at + "." + key + ": required but missing");
            }
        for (const auto& [key, value] : *o) {
            const std::string sub = at + "." + key;
            if (props && props->getObject(key)) {
                checkSchema(doc, props->getObject(key), value, sub, errors);
            } else if (const auto extra = schema->getObject("additionalProperties")) {
                checkSchema(doc, extra, value, sub, errors);
            } else if (schema->has("additionalProperties") &&
                       !schema->getValue<bool>("additionalProperties")) {
                errors.push_back(sub + ": not in the schema (additionalProperties: false)");
            }
        }
    }
    if (isArray(v)) {
        const auto a = v.extract<Array::Ptr>();
        if (const auto items = schema->getObject("items"))
            for (size_t i = 0; i < a->size(); ++i)
                checkSchema(doc, items, a->get(static_cast<unsigned>(i)),
                            at + "[" + std::to_string(i) + "]", errors);
    }
    if (typeMatches(v, "integer")) {
        const auto n = v.convert<int64_t>();
        if (schema->has("minimum") && n < schema->getValue<int64_t>("minimum"))
            errors.push_back(at + ": below minimum");
        if (schema->has("maximum") && n > schema->getValue<int64_t>("maximum"))
            errors.push_back(at + ": above maximum");
    }
    if (v.isString() && schema->has("pattern")) {
        if (!std::regex_search(v.toString(), std::regex(schema->getValue<std::string>("pattern"))))
            errors.push_back(at + ": does not match " + schema->getValue<std::string>("pattern"));
    }
}

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v)
        out += (out.empty() ? "" : "; ") + s;
    return out;
}

// ---- OpenAPI operations ---------------------------------------------------------------------

struct Operation {
    std::string path;    // as documented, e.g. /upstreams/{id_or_name}
    std::string method;  // upper case
    Object::Ptr spec;
    std::set<int> codes;  // documented response statuses
    bool hasBody = false;

    std::string name() const { return method + " " + path; }
};

std::vector<Operation> operationsOf(const Object::Ptr& doc) {
    static const std::set<std::string> kMethods = {"get",   "put",  "post",   "delete",
                                                   "patch", "head", "options"};
    std::vector<Operation> ops;
    const auto paths = doc->getObject("paths");
    for (const auto& [path, item] : *paths) {
        for (const auto& [m, spec] : *item.extract<Object::Ptr>()) {
            if (!kMethods.count(m)) continue;
            Operation op;
            op.path = path;
            op.method = m;
            std::transform(op.method.begin(), op.method.end(), op.method.begin(), ::toupper);
            op.spec = spec.extract<Object::Ptr>();
            for (const auto& [code, _] : *op.spec->getObject("responses"))
                op.codes.insert(std::stoi(code));
            op.hasBody = op.spec->has("requestBody");
            ops.push_back(std::move(op));
        }
    }
    return ops;
}

/// The documented response schema for `status` (application/json), or null.
Object::Ptr responseSchema(const Operation& op, int status) {
    const auto r = op.spec->getObject("responses")->getObject(std::to_string(status));
    if (!r || !r->getObject("content")) return nullptr;
    const auto json = r->getObject("content")->getObject("application/json");
    return json ? json->getObject("schema") : nullptr;
}

Object::Ptr requestSchema(const Operation& op) {
    const auto content = op.spec->getObject("requestBody")->getObject("content");
    const auto json = content->getObject("application/json");
    return json ? json->getObject("schema") : nullptr;
}

/// Documented path with its parameters filled in.
/// The id of the plugin instance the walk acts on (created by createWalkEntities).
std::string walkPluginId;
/// The consumer credential the walk acts on.
std::string walkCredentialId;

std::string concrete(const std::string& path, const std::string& upstream, const std::string& route,
                     const std::string& pluginId = walkPluginId) {
    std::string out = path;
    auto replace = [&](const std::string& what, const std::string& with) {
        if (auto at = out.find(what); at != std::string::npos) out.replace(at, what.size(), with);
    };
    replace("{id_or_name}", path.rfind("/routes", 0) == 0 ? route
                            : path.rfind("/consumers", 0) == 0
                                ? (upstream == "walk-u" ? std::string("walk-c") : upstream)
                                : upstream);
    replace("{credential_id}", walkCredentialId);
    replace("{version}", "1");
    replace("{id}", pluginId);
    return out;
}

std::string withQuery(const std::string& path, const std::string& param) {
    return path + (path.find('?') == std::string::npos ? "?" : "&") + param;
}

/// Every documented query parameter with a plausible value ("" when there are none).
std::string documentedQuery(const Operation& op) {
    std::string q;
    const auto params = op.spec->getArray("parameters");
    for (size_t i = 0; params && i < params->size(); ++i) {
        const auto p = params->getObject(static_cast<unsigned>(i));
        if (p->optValue<std::string>("in", "") != "query") continue;
        const auto schema = p->getObject("schema");
        const std::string type =
            schema ? schema->optValue<std::string>("type", "string") : "string";
        std::string value = "walk";
        if (type == "boolean") value = "true";
        if (type == "integer")
            value = schema->has("default")   ? schema->get("default").toString()
                    : schema->has("minimum") ? schema->get("minimum").toString()
                                             : "1";
        q += (q.empty() ? "" : "&") + p->getValue<std::string>("name") + "=" + value;
    }
    return q;
}

// ---- Gateway helpers ------------------------------------------------------------------------

int64_t configVersion(const Gateway& gw) {
    const Response r = admin(gw, "GET", "/status");
    const auto o = objectOf(r);
    if (r.status != 200 || !o) throw std::runtime_error("GET /status: " + r.body);
    return o->getValue<int64_t>("config_version");
}

Object::Ptr openApi(const Gateway& gw) {
    const Response r = admin(gw, "GET", "/openapi.json");
    const auto o = objectOf(r);
    if (r.status != 200 || !o) throw std::runtime_error("GET /openapi.json: " + r.body);
    return o;
}

std::string upstreamJson(const std::string& name, const std::string& address,
                         const std::string& extra = "") {
    return R"({"name":")" + name + R"(","targets":[{"address":")" + address + R"("}])" + extra +
           "}";
}

std::string routeJson(const std::string& name, const std::string& path, const std::string& upstream,
                      const std::string& extra = "") {
    return R"({"name":")" + name + R"(","match":{"paths":[")" + path + R"("]},"upstream":")" +
           upstream + R"(")" + extra + "}";
}

/// Timestamps are whole seconds: waits until the clock is past `t`, so that a write which
/// reset created_at (instead of keeping it) would show.
void waitPast(int64_t t) {
    while (std::time(nullptr) <= t)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

/// Which upstream answered a proxied request, or the gateway's own status.
std::string who(const Gateway& gw, const std::string& target) {
    try {
        const Response r = roundTrip(gw.port(), "GET", target);
        if (auto id = r.header("X-Upstream-Id")) return *id;
        return std::to_string(r.status);
    } catch (const std::exception& e) {
        return e.what();
    }
}

/// Upstream "u" (→ a) and route "r" on /r only: the proxy answers 404 anywhere else.
class AdminApi : public ::testing::Test {
protected:
    Upstream a_{"a"}, b_{"b"};
    static Gateway::Options withPlugins() {
        Gateway::Options o;
        o.pluginDir = TEST_PLUGINS_GOOD_DIR;  // /plugins needs loaded plugins to configure
        return o;
    }
    Gateway gw_{R"({"upstreams":[{"name":"u","targets":[{"address":")" + a_.address() +
                    R"("}]}],"routes":[{"name":"r","match":{"paths":["/r"]},"upstream":"u"}]})",
                withPlugins()};

    Response call(std::string_view method, std::string_view path, std::string_view body = {},
                  const Headers& headers = {}) {
        return admin(gw_, method, path, body, headers);
    }

    /// A plausible, valid request body for each documented write (checked against the
    /// documented request schema by the walk).
    std::string bodyFor(const Operation& op) {
        const std::string id = op.spec->getValue<std::string>("operationId");
        if (id == "createUpstream")
            return R"({"name":"walk-new-u","tags":["walk"],"algorithm":"least-connections",)"
                   R"("targets":[{"address":")" +
                   a_.address() + R"(","weight":5}],"timeouts":{"connect_ms":1000}})";
        if (id == "putUpstream") return upstreamJson("walk-u", b_.address(), R"(,"tags":["put"])");
        if (id == "patchUpstream") return R"({"tags":["patched"]})";
        if (id == "createRoute")
            return R"({"name":"walk-new-r","priority":3,"match":{"paths":["/walk-new"],"methods":["GET"],)"
                   R"("headers":{"X-Walk":["1","2"]}},"upstream":"u","strip_prefix":true})";
        if (id == "putRoute")
            return routeJson("walk-r", "/walk-put", "walk-u", R"(,"preserve_host":true)");
        if (id == "patchRoute") return R"({"enabled":true,"tags":["patched"]})";
        if (id == "createPlugin")
            return R"({"name":"order-b","route":"walk-r","config":{"letter":"x"},"tags":["walk"]})";
        if (id == "putPlugin")
            return R"({"name":"order-a","route":"walk-r","config":{"letter":"z"}})";
        if (id == "patchPlugin") return R"({"enabled":false})";
        if (id == "createConsumer")
            return R"({"username":"walk-new-c","custom_id":"x-1","roles":["r1"],"tags":["walk"]})";
        if (id == "putConsumer") return R"({"username":"walk-c","roles":["put"]})";
        if (id == "patchConsumer") return R"({"tags":["patched"]})";
        if (id == "createCredential") return R"({"type":"key-auth","tags":["walk"]})";
        if (id == "importConfig" || op.name() == "PUT /config") return call("GET", "/config").body;
        if (id == "rollback") return R"({"version":)" + std::to_string(configVersion(gw_)) + "}";
        return "{}";
    }

    /// An upstream and a route only the walk uses, so it can delete them at the end.
    void createWalkEntities() {
        ASSERT_EQ(call("POST", "/upstreams", upstreamJson("walk-u", a_.address())).status, 201);
        ASSERT_EQ(call("POST", "/routes", routeJson("walk-r", "/walk", "walk-u")).status, 201);
        const Response plugin = call(
            "POST", "/plugins", R"({"name":"order-a","route":"walk-r","config":{"letter":"w"}})");
        ASSERT_EQ(plugin.status, 201) << plugin.body;
        walkPluginId = objectOf(plugin)->getValue<std::string>("id");
        ASSERT_EQ(call("POST", "/consumers", R"({"username":"walk-c"})").status, 201);
        const Response credential = call("POST", "/consumers/walk-c/credentials",
                                         R"({"type":"jwt","kid":"walk-kid","algorithm":"HS256",)"
                                         R"("secret":"0123456789abcdef0123456789abcdef"})");
        ASSERT_EQ(credential.status, 201) << credential.body;
        walkCredentialId = objectOf(credential)->getValue<std::string>("id");
    }

    /// Documented operations with DELETEs last (routes before the upstreams they use).
    std::vector<Operation> walkOrder() {
        auto ops = operationsOf(openApi(gw_));
        std::stable_sort(ops.begin(), ops.end(), [](const Operation& x, const Operation& y) {
            auto rank = [](const Operation& o) {
                if (o.method != "DELETE") return 0;
                if (o.path.rfind("/plugins", 0) == 0) return 1;
                if (o.path.find("/credentials") != std::string::npos) return 1;
                return o.path.rfind("/routes", 0) == 0 ? 2 : 3;
            };
            return rank(x) < rank(y);
        });
        return ops;
    }
};

// ---- 1. Auth ----------------------------------------------------------------------------------

TEST_F(AdminApi, EveryDocumentedOperationRefusesAMissingOrWrongToken) {
    createWalkEntities();
    const int64_t before = configVersion(gw_);
    const auto ops = walkOrder();
    ASSERT_GE(ops.size(), 20u);
    const std::vector<std::pair<std::string, Headers>> attempts = {
        {"no Authorization", {{"Authorization", ""}}},
        {"wrong token", {{"Authorization", "Bearer gha_wrong"}}},
        {"token with a suffix", {{"Authorization", "Bearer " + gw_.adminToken() + "x"}}},
        {"empty bearer", {{"Authorization", "Bearer "}}},
        {"basic scheme", {{"Authorization", "Basic " + gw_.adminToken()}}},
        {"bare token", {{"Authorization", gw_.adminToken()}}},
    };
    for (const auto& op : ops) {
        const std::string path = concrete(op.path, "walk-u", "walk-r");
        const std::string body = op.hasBody ? bodyFor(op) : "";
        for (const auto& [what, headers] : attempts) {
            SCOPED_TRACE(op.name() + " with " + what);
            const Response r = call(op.method, path, body, headers);
            EXPECT_EQ(r.status, 401) << r.body;
            const auto o = objectOf(r);
            ASSERT_TRUE(o) << r.body;
            EXPECT_TRUE(o->has("error") && o->get("error").isString()) << r.body;
            EXPECT_NE(r.header("WWW-Authenticate").value_or("").find("Bearer"), std::string::npos);
            EXPECT_TRUE(op.codes.count(401)) << "401 is not documented";
        }
    }
    // Nothing a refused request carried was applied.
    EXPECT_EQ(configVersion(gw_), before);
    EXPECT_EQ(call("GET", "/routes/walk-r").status, 200);
    EXPECT_EQ(call("GET", "/upstreams/walk-u").status, 200);
    // Undocumented paths are refused the same way (no probing without a token).
    EXPECT_EQ(call("GET", "/nope", {}, {{"Authorization", ""}}).status, 401);
    // The scheme is case-insensitive (RFC 9110), and the valid token works.
    EXPECT_EQ(call("GET", "/status", {}, {{"Authorization", "bearer " + gw_.adminToken()}}).status,
              200);
}

TEST_F(AdminApi, TokenInTheQueryStringIsRefusedEvenWhenValid) {
    createWalkEntities();
    const int64_t before = configVersion(gw_);
    for (const auto& op : walkOrder()) {
        const std::string path = concrete(op.path, "walk-u", "walk-r");
        const std::string body = op.hasBody ? bodyFor(op) : "";
        for (const std::string param : {"token", "access_token"}) {
            SCOPED_TRACE(op.name() + " ?" + param + "=<valid token>");
            const std::string target = withQuery(path, param + "=" + gw_.adminToken());
            // No header at all: the URL token alone must not authenticate.
            const Response alone = call(op.method, target, body, {{"Authorization", ""}});
            EXPECT_EQ(alone.status, 401) << alone.body;
            const auto o = objectOf(alone);
            EXPECT_TRUE(o && o->has("error")) << alone.body;
            // A token in the URL is refused even next to a valid header (it leaks into logs).
            EXPECT_EQ(call(op.method, target, body).status, 401);
        }
    }
    EXPECT_EQ(configVersion(gw_), before);
    EXPECT_EQ(call("GET", "/routes/walk-r").status, 200);
}

TEST_F(AdminApi, Every401CarriesWwwAuthenticate) {
    // RFC 9110 15.5.2: a server generating a 401 MUST send WWW-Authenticate, whatever the
    // reason for refusing (here: a token in the URL, no Authorization header).
    std::vector<std::string> missing;
    for (const auto& op : walkOrder()) {
        const std::string path = concrete(op.path, "u", "r");
        for (const std::string& param : {std::string("token"), std::string("access_token")}) {
            const std::string target = withQuery(path, param + "=" + gw_.adminToken());
            const Response r =
                call(op.method, target, op.hasBody ? "{}" : "", {{"Authorization", ""}});
            EXPECT_EQ(r.status, 401) << op.name();
            if (!r.header("WWW-Authenticate"))
                missing.push_back(op.method + " " + target.substr(0, target.find('=')));
        }
    }
    EXPECT_TRUE(missing.empty()) << missing.size()
                                 << " 401 responses without WWW-Authenticate, e.g. "
                                 << missing.front();
}

TEST_F(AdminApi, ARequestWithoutContentLengthHasNoBodyAndIsAnsweredAtOnce) {
    // RFC 9112 6.3: a request with neither Content-Length nor Transfer-Encoding has an empty
    // body; the server must not wait for the client to close (curl -X POST sends this).
    struct Case {
        std::string head;
        int status;
    };
    const std::string auth = "Authorization: Bearer " + gw_.adminToken() + "\r\n";
    for (const auto& c : std::vector<Case>{
             {"POST /ready HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 405},
             {"POST /upstreams HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + auth +
                  "\r\n",
              400},
             {"POST /upstreams HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Type: "
              "application/json\r\n" +
                  auth + "\r\n",
              400}}) {
        SCOPED_TRACE(c.head.substr(0, c.head.find('\r')));
        Connection conn(gw_.adminPort(), std::chrono::seconds(2));
        conn.send(c.head);
        try {
            EXPECT_EQ(conn.read().status, c.status);
        } catch (const std::exception& e) {
            ADD_FAILURE() << "no answer within 2 s (" << e.what()
                          << "): the server waits for a body";
        }
    }
    EXPECT_EQ(configVersion(gw_), 1);
}

// ---- 2. OpenAPI ---------------------------------------------------------------------------------

TEST_F(AdminApi, OpenApiDocumentIsValidAndDocumentsEveryServedPath) {
    const Response r = call("GET", "/openapi.json");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("Content-Type").value_or("").rfind("application/json", 0), 0u);
    const auto doc = objectOf(r);
    ASSERT_TRUE(doc) << "not a JSON object";
    EXPECT_EQ(doc->optValue<std::string>("openapi", ""), "3.1.0");
    ASSERT_TRUE(doc->getObject("info"));
    EXPECT_FALSE(doc->getObject("info")->optValue<std::string>("title", "").empty());
    ASSERT_TRUE(doc->getObject("paths"));

    const auto paths = doc->getObject("paths");
    for (const char* p :
         {"/upstreams", "/upstreams/{id_or_name}", "/routes", "/routes/{id_or_name}", "/config",
          "/config/history", "/config/history/{version}", "/config/rollback", "/status", "/ready",
          "/openapi.json"})
        EXPECT_TRUE(paths->has(p)) << p << " is served but not documented";

    // Every served path+method the API implements is a documented operation.
    std::set<std::string> documented;
    std::set<std::string> operationIds;
    for (const auto& op : operationsOf(doc)) {
        documented.insert(op.name());
        const std::string id = op.spec->optValue<std::string>("operationId", "");
        EXPECT_FALSE(id.empty()) << op.name() << " has no operationId";
        EXPECT_TRUE(operationIds.insert(id).second) << "duplicate operationId " << id;
        EXPECT_TRUE(op.codes.count(401)) << op.name() << " does not document 401";
        if (op.hasBody) {
            EXPECT_TRUE(op.codes.count(400) && op.codes.count(415) && op.codes.count(413))
                << op.name() << " takes a body but does not document 400/413/415";
            EXPECT_TRUE(requestSchema(op))
                << op.name() << " has no application/json request schema";
        }
    }
    for (const char* op : {"GET /upstreams",
                           "POST /upstreams",
                           "GET /upstreams/{id_or_name}",
                           "PUT /upstreams/{id_or_name}",
                           "PATCH /upstreams/{id_or_name}",
                           "DELETE /upstreams/{id_or_name}",
                           "GET /routes",
                           "POST /routes",
                           "GET /routes/{id_or_name}",
                           "PUT /routes/{id_or_name}",
                           "PATCH /routes/{id_or_name}",
                           "DELETE /routes/{id_or_name}",
                           "GET /config",
                           "PUT /config",
                           "GET /config/history",
                           "GET /config/history/{version}",
                           "POST /config/rollback",
                           "GET /status",
                           "GET /ready",
                           "GET /openapi.json"})
        EXPECT_TRUE(documented.count(op)) << op << " is served but not documented";

    // Every $ref in the document resolves.
    std::vector<std::string> unresolved;
    std::function<void(const Var&)> refs = [&](const Var& v) {
        if (isObject(v)) {
            const auto o = v.extract<Object::Ptr>();
            if (o->has("$ref") && !resolveRef(doc, o->getValue<std::string>("$ref")))
                unresolved.push_back(o->getValue<std::string>("$ref"));
            for (const auto& [k, sub] : *o)
                refs(sub);
        } else if (isArray(v)) {
            const auto a = v.extract<Array::Ptr>();
            for (size_t i = 0; i < a->size(); ++i)
                refs(a->get(static_cast<unsigned>(i)));
        }
    };
    refs(Var(doc));
    EXPECT_TRUE(unresolved.empty()) << joined(unresolved);
}

TEST_F(AdminApi, EveryDocumentedOperationAnswersWithADocumentedStatusAndShape) {
    createWalkEntities();
    const auto doc = openApi(gw_);
    const auto ops = walkOrder();
    ASSERT_GE(ops.size(), 20u);
    for (const auto& op : ops) {
        // Once plain, once with every documented query parameter given a plausible value.
        std::vector<std::string> targets = {concrete(op.path, "walk-u", "walk-r")};
        if (const std::string q = documentedQuery(op); !q.empty())
            targets.push_back(withQuery(targets.front(), q));
        for (const auto& target : targets) {
            SCOPED_TRACE(op.name() + " as " + op.method + " " + target);
            std::string body;
            if (op.hasBody) {
                body = bodyFor(op);
                // The plausible body must itself be what the document says the operation takes.
                std::vector<std::string> errors;
                if (const auto schema = requestSchema(op))
                    checkSchema(doc, schema, parseJson(body), "body", errors);
                EXPECT_TRUE(errors.empty())
                    << "request body vs documented schema: " << joined(errors);
            }
            const Response r = call(op.method, target, body);
            EXPECT_TRUE(op.codes.count(r.status))
                << "undocumented status " << r.status << ": " << r.body;
            EXPECT_GE(r.status, 200) << r.body;
            EXPECT_LT(r.status, 300) << "a plausible request failed: " << r.body;
            if (r.status == 204) {
                EXPECT_TRUE(r.body.empty());
                continue;
            }
            if (op.path == "/metrics") {
                // Documented as Prometheus text, not JSON.
                EXPECT_EQ(r.header("Content-Type").value_or("").rfind("text/plain", 0), 0u);
                EXPECT_NE(r.body.find("gatehouse_config_version "), std::string::npos) << r.body;
                continue;
            }
            EXPECT_EQ(r.header("Content-Type").value_or("").rfind("application/json", 0), 0u);
            Var parsed;
            try {
                parsed = parseJson(r.body);
            } catch (const std::exception&) {
                ADD_FAILURE() << "response is not JSON: " << r.body.substr(0, 200);
                continue;
            }
            if (const auto schema = responseSchema(op, r.status)) {
                std::vector<std::string> errors;
                checkSchema(doc, schema, parsed, "response", errors);
                EXPECT_TRUE(errors.empty()) << "response vs documented schema: " << joined(errors);
            }
        }
    }
    // The DELETEs ran last and removed what the walk created.
    EXPECT_EQ(call("GET", "/routes/walk-r").status, 404);
    EXPECT_EQ(call("GET", "/upstreams/walk-u").status, 404);
}

TEST_F(AdminApi, DocumentedErrorStatusesAreTheOnesReturned) {
    createWalkEntities();
    const auto doc = openApi(gw_);
    const int64_t before = configVersion(gw_);
    for (const auto& op : walkOrder()) {
        SCOPED_TRACE(op.name());
        const std::string path = concrete(op.path, "walk-u", "walk-r");
        auto expectDocumented = [&](const Response& r, int want, const std::string& what) {
            EXPECT_EQ(r.status, want) << what << ": " << r.body;
            EXPECT_TRUE(op.codes.count(r.status)) << what << ": undocumented " << r.status;
            const auto o = objectOf(r);
            ASSERT_TRUE(o) << what << ": " << r.body;
            std::vector<std::string> errors;
            if (const auto schema = responseSchema(op, r.status))
                checkSchema(doc, schema, Var(o), "response", errors);
            EXPECT_TRUE(errors.empty()) << what << ": " << joined(errors);
        };
        if (op.hasBody) {
            expectDocumented(call(op.method, path, bodyFor(op), {{"Content-Type", "text/plain"}}),
                             415, "text/plain body");
            expectDocumented(call(op.method, path, "[1,2]"), 400, "a JSON array");
            expectDocumented(call(op.method, path, "{\"name\":"), 400, "truncated JSON");
        }
        if (op.path.find('{') != std::string::npos && op.method != "PUT") {
            const std::string missing =
                concrete(op.path, "no-such", "no-such", "00000000-0000-4000-8000-000000000000");
            const std::string target =
                op.path.find("{version}") != std::string::npos ? "/config/history/999" : missing;
            expectDocumented(call(op.method, target, op.hasBody ? R"({"tags":["x"]})" : ""), 404,
                             "a missing entity");
        }
    }
    EXPECT_EQ(configVersion(gw_), before);
}

// ---- 3. CRUD --------------------------------------------------------------------------------

TEST_F(AdminApi, UpstreamCrud) {
    const int64_t v0 = configVersion(gw_);
    const Response created = call("POST", "/upstreams",
                                  upstreamJson("up1", a_.address(),
                                               R"(,"tags":["t1"],"algorithm":"least-connections",)"
                                               R"("timeouts":{"connect_ms":1500,"read_ms":9000})"));
    ASSERT_EQ(created.status, 201) << created.body;
    EXPECT_EQ(created.header("X-Config-Version"), std::to_string(v0 + 1));
    const auto c = objectOf(created);
    ASSERT_TRUE(c);
    const std::string id = c->getValue<std::string>("id");
    EXPECT_EQ(id.size(), 36u) << "ids are UUIDs";
    EXPECT_EQ(created.header("Location"), "/upstreams/" + id);
    const int64_t createdAt = c->getValue<int64_t>("created_at");
    EXPECT_GT(createdAt, 0);
    EXPECT_EQ(c->getValue<std::string>("algorithm"), "least-connections");
    EXPECT_EQ(configVersion(gw_), v0 + 1);

    // By id (the Location) and by name: the same entity.
    for (const std::string& key : {id, std::string("up1")}) {
        const Response got = call("GET", "/upstreams/" + key);
        ASSERT_EQ(got.status, 200) << key;
        EXPECT_EQ(objectOf(got)->getValue<std::string>("id"), id);
        EXPECT_EQ(objectOf(got)->getValue<std::string>("name"), "up1");
    }

    // PUT on a new name creates; the name comes from the path.
    const Response putNew =
        call("PUT", "/upstreams/up2", R"({"targets":[{"address":")" + b_.address() + R"("}]})");
    EXPECT_EQ(putNew.status, 201) << putNew.body;
    EXPECT_EQ(objectOf(putNew)->getValue<std::string>("name"), "up2");
    EXPECT_EQ(putNew.header("X-Config-Version"), std::to_string(v0 + 2));

    waitPast(createdAt);
    // PUT on an existing one replaces it whole: omitted fields fall back to defaults, id and
    // created_at stay (a created_at in the body is ignored).
    const Response replaced =
        call("PUT", "/upstreams/up1",
             R"({"created_at":1,"targets":[{"address":")" + b_.address() + R"("}]})");
    ASSERT_EQ(replaced.status, 200) << replaced.body;
    const auto rp = objectOf(replaced);
    EXPECT_EQ(rp->getValue<std::string>("id"), id);
    EXPECT_EQ(rp->getValue<int64_t>("created_at"), createdAt);
    EXPECT_GT(rp->getValue<int64_t>("updated_at"), createdAt);
    // GET agrees with what PUT answered.
    EXPECT_EQ(objectOf(call("GET", "/upstreams/up1"))->getValue<int64_t>("created_at"), createdAt);
    EXPECT_EQ(rp->getValue<std::string>("algorithm"), "round-robin");
    EXPECT_FALSE(rp->has("timeouts")) << replaced.body;
    EXPECT_EQ(rp->getArray("tags")->size(), 0u);
    EXPECT_EQ(rp->getArray("targets")->getObject(0)->getValue<std::string>("address"),
              b_.address());
    EXPECT_EQ(replaced.header("X-Config-Version"), std::to_string(v0 + 3));

    // PATCH (merge patch) changes only what it names.
    ASSERT_EQ(
        call(
            "PUT", "/upstreams/up1",
            upstreamJson(
                "up1", a_.address(),
                R"(,"tags":["keep"],"algorithm":"least-connections","timeouts":{"connect_ms":1500,"read_ms":9000})"))
            .status,
        200);
    const Response patched =
        call("PATCH", "/upstreams/up1",
             R"({"targets":[{"address":")" + a_.address() + R"(","weight":7}]})",
             {{"Content-Type", "application/merge-patch+json"}});
    ASSERT_EQ(patched.status, 200) << patched.body;
    const auto p = objectOf(patched);
    EXPECT_EQ(p->getArray("targets")->getObject(0)->getValue<int>("weight"), 7);
    EXPECT_EQ(p->getValue<std::string>("algorithm"), "least-connections");
    EXPECT_EQ(p->getArray("tags")->getElement<std::string>(0), "keep");
    EXPECT_EQ(p->getObject("timeouts")->getValue<int>("connect_ms"), 1500);
    EXPECT_EQ(p->getValue<std::string>("id"), id);
    EXPECT_EQ(p->getValue<int64_t>("created_at"), createdAt);

    // null removes an optional field, also one level down.
    const Response nested = call("PATCH", "/upstreams/up1", R"({"timeouts":{"read_ms":null}})");
    ASSERT_EQ(nested.status, 200) << nested.body;
    EXPECT_FALSE(objectOf(nested)->getObject("timeouts")->has("read_ms")) << nested.body;
    EXPECT_EQ(objectOf(nested)->getObject("timeouts")->getValue<int>("connect_ms"), 1500);
    const Response removed = call("PATCH", "/upstreams/up1", R"({"timeouts":null,"tags":null})");
    ASSERT_EQ(removed.status, 200) << removed.body;
    EXPECT_FALSE(objectOf(removed)->has("timeouts")) << removed.body;
    EXPECT_EQ(objectOf(removed)->getArray("tags")->size(), 0u);
    EXPECT_EQ(objectOf(removed)->getArray("targets")->getObject(0)->getValue<int>("weight"), 7);
    // The stored state is what PATCH answered.
    EXPECT_EQ(objectOf(call("GET", "/upstreams/" + id))
                  ->getArray("targets")
                  ->getObject(0)
                  ->getValue<int>("weight"),
              7);

    // DELETE: 204 with the new version, then gone.
    const int64_t vd = configVersion(gw_);
    const Response del = call("DELETE", "/upstreams/" + id);
    EXPECT_EQ(del.status, 204);
    EXPECT_EQ(del.header("X-Config-Version"), std::to_string(vd + 1));
    EXPECT_EQ(call("GET", "/upstreams/up1").status, 404);
    EXPECT_EQ(call("GET", "/upstreams/" + id).status, 404);
    EXPECT_EQ(call("DELETE", "/upstreams/up1").status, 404);
    EXPECT_EQ(call("PATCH", "/upstreams/up1", R"({"tags":["x"]})").status, 404);
    EXPECT_EQ(configVersion(gw_), vd + 1);
}

TEST_F(AdminApi, RouteWritesTakeEffectOnTheVeryNextProxyRequest) {
    ASSERT_EQ(call("POST", "/upstreams", upstreamJson("ub", b_.address())).status, 201);
    EXPECT_EQ(who(gw_, "/new/x"), "404");

    const Response created =
        call("POST", "/routes", routeJson("new", "/new", "u", R"(,"tags":["t"])"));
    ASSERT_EQ(created.status, 201) << created.body;
    const std::string id = objectOf(created)->getValue<std::string>("id");
    EXPECT_EQ(created.header("Location"), "/routes/" + id);
    EXPECT_EQ(who(gw_, "/new/x"), "a");
    EXPECT_EQ(objectOf(call("GET", "/routes/new"))->getValue<std::string>("id"), id);
    EXPECT_EQ(objectOf(call("GET", "/routes/" + id))->getValue<std::string>("name"), "new");

    // PATCH the destination: the next request goes to the other upstream; the match stays.
    const Response moved = call("PATCH", "/routes/new", R"({"upstream":"ub"})");
    ASSERT_EQ(moved.status, 200) << moved.body;
    EXPECT_EQ(objectOf(moved)->getObject("match")->getArray("paths")->getElement<std::string>(0),
              "/new");
    EXPECT_EQ(who(gw_, "/new/x"), "b");

    // PATCH merges into match: methods added, paths kept; then null removes methods again.
    ASSERT_EQ(call("PATCH", "/routes/new", R"({"match":{"methods":["POST"]}})").status, 200);
    EXPECT_EQ(who(gw_, "/new/x"), "404") << "GET still matched a POST-only route";
    const Response unpatched = call("PATCH", "/routes/new", R"({"match":{"methods":null}})");
    ASSERT_EQ(unpatched.status, 200);
    EXPECT_FALSE(objectOf(unpatched)->getObject("match")->has("methods")) << unpatched.body;
    EXPECT_EQ(who(gw_, "/new/x"), "b");

    // An optional field set, then removed with null.
    ASSERT_EQ(call("PATCH", "/routes/new", R"({"rewrite_path":"/rewritten"})").status, 200);
    const Response echoed = roundTrip(gw_.port(), "GET", "/new/x");
    EXPECT_NE(echoed.body.find("/rewritten"), std::string::npos) << echoed.body;
    const Response noRewrite = call("PATCH", "/routes/new", R"({"rewrite_path":null})");
    ASSERT_EQ(noRewrite.status, 200);
    EXPECT_FALSE(objectOf(noRewrite)->has("rewrite_path")) << noRewrite.body;

    // PUT replaces the whole route (new path) and keeps id and created_at.
    const int64_t createdAt = objectOf(created)->getValue<int64_t>("created_at");
    waitPast(createdAt);
    const Response replaced = call("PUT", "/routes/new", routeJson("new", "/other", "u"));
    ASSERT_EQ(replaced.status, 200) << replaced.body;
    EXPECT_EQ(objectOf(replaced)->getValue<std::string>("id"), id);
    EXPECT_EQ(objectOf(replaced)->getValue<int64_t>("created_at"), createdAt);
    EXPECT_GT(objectOf(replaced)->getValue<int64_t>("updated_at"), createdAt);
    EXPECT_EQ(objectOf(call("GET", "/routes/" + id))->getValue<int64_t>("created_at"), createdAt);
    EXPECT_EQ(objectOf(replaced)->getArray("tags")->size(), 0u);
    EXPECT_EQ(who(gw_, "/other/x"), "a");
    EXPECT_EQ(who(gw_, "/new/x"), "404");

    // Disabled routes stop matching at once.
    ASSERT_EQ(call("PATCH", "/routes/new", R"({"enabled":false})").status, 200);
    EXPECT_EQ(who(gw_, "/other/x"), "404");
    ASSERT_EQ(call("PATCH", "/routes/new", R"({"enabled":true})").status, 200);
    EXPECT_EQ(who(gw_, "/other/x"), "a");

    // DELETE: the very next request no longer matches.
    EXPECT_EQ(call("DELETE", "/routes/" + id).status, 204);
    EXPECT_EQ(who(gw_, "/other/x"), "404");
    EXPECT_EQ(call("GET", "/routes/new").status, 404);
    EXPECT_EQ(call("DELETE", "/routes/new").status, 404);
    EXPECT_EQ(who(gw_, "/r/x"), "a") << "the untouched route kept working";

    // PUT creates a route (201) by name.
    const Response put =
        call("PUT", "/routes/made", R"({"match":{"paths":["/made"]},"upstream":"ub"})");
    EXPECT_EQ(put.status, 201) << put.body;
    EXPECT_EQ(who(gw_, "/made"), "b");
}

TEST_F(AdminApi, ListsPaginateAndFilterByAllGivenTags) {
    // u (from the import) plus five: p0 {a}, p1 {a,b}, p2 {b}, p3 {a,b,c}, p4 {}.
    const std::vector<std::string> tags = {R"(["a"])", R"(["a","b"])", R"(["b"])",
                                           R"(["a","b","c"])", "[]"};
    for (size_t i = 0; i < tags.size(); ++i)
        ASSERT_EQ(call("POST", "/upstreams",
                       upstreamJson("p" + std::to_string(i), a_.address(), R"(,"tags":)" + tags[i]))
                      .status,
                  201);

    // Walk the pages by following `next`.
    std::vector<std::string> seen;
    std::string next = "/upstreams?size=2";
    int pages = 0;
    while (!next.empty() && pages < 10) {
        const Response page = call("GET", next);
        ASSERT_EQ(page.status, 200) << next << ": " << page.body;
        const auto o = objectOf(page);
        EXPECT_EQ(o->getValue<int>("total"), 6);
        EXPECT_EQ(o->getValue<int>("size"), 2);
        EXPECT_EQ(o->getValue<int>("offset"), 2 * pages);
        const auto names = namesIn(o->getArray("data"));
        EXPECT_LE(names.size(), 2u);
        seen.insert(seen.end(), names.begin(), names.end());
        next = o->isNull("next") ? "" : o->getValue<std::string>("next");
        ++pages;
    }
    EXPECT_EQ(pages, 3);
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, (std::vector<std::string>{"p0", "p1", "p2", "p3", "p4", "u"}));

    const auto last = objectOf(call("GET", "/upstreams?offset=4&size=2"));
    EXPECT_TRUE(last->isNull("next"));
    EXPECT_EQ(last->getArray("data")->size(), 2u);
    EXPECT_EQ(objectOf(call("GET", "/upstreams?offset=10"))->getArray("data")->size(), 0u);

    // ?tags=a,b means both.
    auto tagged = [&](const std::string& q) {
        const Response r = call("GET", "/upstreams?tags=" + q);
        EXPECT_EQ(r.status, 200) << r.body;
        auto names = namesIn(objectOf(r)->getArray("data"));
        std::sort(names.begin(), names.end());
        EXPECT_EQ(objectOf(r)->getValue<size_t>("total"), names.size());
        return names;
    };
    EXPECT_EQ(tagged("a,b"), (std::vector<std::string>{"p1", "p3"}));
    EXPECT_EQ(tagged("a"), (std::vector<std::string>{"p0", "p1", "p3"}));
    EXPECT_EQ(tagged("b,c"), (std::vector<std::string>{"p3"}));
    EXPECT_EQ(tagged("zzz"), std::vector<std::string>{});
    // A paged tag filter keeps the filter in `next`.
    const auto firstTagged = objectOf(call("GET", "/upstreams?tags=a&size=1"));
    EXPECT_EQ(firstTagged->getValue<int>("total"), 3);
    const std::string taggedNext = firstTagged->optValue<std::string>("next", "");
    EXPECT_NE(taggedNext.find("tags=a"), std::string::npos) << taggedNext;
    EXPECT_EQ(objectOf(call("GET", taggedNext))->getValue<int>("total"), 3);

    // Routes page the same way.
    ASSERT_EQ(call("POST", "/routes", routeJson("r2", "/r2", "u", R"(,"tags":["x"])")).status, 201);
    const auto routes = objectOf(call("GET", "/routes?size=1"));
    EXPECT_EQ(routes->getValue<int>("total"), 2);
    EXPECT_FALSE(routes->isNull("next"));
    EXPECT_EQ(namesIn(objectOf(call("GET", "/routes?tags=x"))->getArray("data")),
              std::vector<std::string>{"r2"});

    // Bad paging parameters are 400 naming the parameter.
    for (const char* q : {"size=0", "size=1001", "size=abc", "offset=-1"}) {
        const Response bad = call("GET", std::string("/upstreams?") + q);
        EXPECT_EQ(bad.status, 400) << q;
        EXPECT_FALSE(field(bad, std::string(q).substr(0, std::string(q).find('='))).empty())
            << q << bad.body;
    }
}

// ---- 4. Error matrix --------------------------------------------------------------------------

TEST_F(AdminApi, ValidationFailuresAre400WithFieldsKeyedByJsonPath) {
    const int64_t before = configVersion(gw_);
    struct Case {
        std::string method, path, body, field, contains;
    };
    const std::vector<Case> cases = {
        {"POST", "/routes", R"({"name":"x","match":{"paths":["api"]},"upstream":"u"})",
         "match.paths[0]", "must start with /"},
        {"POST", "/routes", R"({"name":"x","match":{"paths":["/ok","/a/../b"]},"upstream":"u"})",
         "match.paths[1]", ""},
        {"POST", "/routes", R"({"name":"x","match":{"methods":["get"]},"upstream":"u"})",
         "match.methods[0]", ""},
        {"POST", "/routes", R"({"name":"x","match":{"paths":["/x"]},"upstream":"missing"})",
         "upstream", "missing"},
        {"PUT", "/routes/r", R"({"match":{"paths":["/r"]},"upstream":"missing"})", "upstream",
         "missing"},
        {"POST", "/routes", R"({"name":"x","match":{"paths":["/x"]},"upstream":"u","colour":1})",
         "colour", "unknown field"},
        {"POST", "/routes",
         R"({"name":"x","match":{"paths":["/x"],"verbs":["GET"]},"upstream":"u"})", "match.verbs",
         "unknown field"},
        {"POST", "/routes", R"({"match":{"paths":["/x"]},"upstream":"u"})", "name", "required"},
        {"POST", "/routes", R"({"name":"-bad","match":{"paths":["/x"]},"upstream":"u"})", "name",
         ""},
        {"POST", "/upstreams", R"({"name":"x","targets":[{"address":"nohost"}]})",
         "targets[0].address", ""},
        {"POST", "/upstreams",
         R"({"name":"x","targets":[{"address":"127.0.0.1:1"},{"address":"h:70000"}]})",
         "targets[1].address", ""},
        {"POST", "/upstreams",
         R"({"name":"x","targets":[{"address":"127.0.0.1:1","weight":65536}]})",
         "targets[0].weight", ""},
        {"POST", "/upstreams", R"({"name":"x","targets":[{"address":"127.0.0.1:1","wieght":1}]})",
         "targets[0].wieght", "unknown field"},
        {"POST", "/upstreams", R"({"name":"x","timeouts":{"read_ms":0}})", "timeouts.read_ms", ""},
        {"POST", "/upstreams", R"({"name":"x","algorithm":"random"})", "algorithm", ""},
        {"POST", "/upstreams", R"({"name":"x","bogus":true})", "bogus", "unknown field"},
        {"PATCH", "/upstreams/u", R"({"targets":[{"address":"nohost"}]})", "targets[0].address",
         ""},
        {"PATCH", "/routes/r", R"({"match":{"paths":["api"]}})", "match.paths[0]", ""},
        {"PUT", "/config", R"({"upstreams":[{"name":"u","targets":[{"address":"nohost"}]}]})",
         "upstreams[0].targets[0].address", ""},
        {"PUT", "/config", R"({"upstreams":[],"routes":[{"name":"r","upstream":"gone"}]})",
         "routes[0].upstream", ""},
        {"PUT", "/config", R"({"upstreams":[],"extra":1})", "extra", "unknown field"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.method + " " + c.path + " " + c.body);
        const Response r = call(c.method, c.path, c.body);
        EXPECT_EQ(r.status, 400) << r.body;
        const auto o = objectOf(r);
        ASSERT_TRUE(o) << r.body;
        EXPECT_TRUE(o->has("error"));
        const std::string why = field(r, c.field);
        EXPECT_FALSE(why.empty()) << "no fields[\"" << c.field << "\"] in " << r.body;
        EXPECT_NE(why.find(c.contains), std::string::npos) << why;
    }
    EXPECT_EQ(configVersion(gw_), before) << "a refused write changed the configuration";
    EXPECT_EQ(call("GET", "/upstreams/x").status, 404);
    EXPECT_EQ(call("GET", "/routes/x").status, 404);
    EXPECT_EQ(who(gw_, "/r"), "a");
}

TEST_F(AdminApi, MalformedBodiesAndWrongContentTypesAreRefused) {
    const int64_t before = configVersion(gw_);
    const std::string good = upstreamJson("fresh", a_.address());
    struct Case {
        std::string method, path, body;
        Headers headers;
        int status;
    };
    const std::vector<Case> cases = {
        {"POST", "/upstreams", "{\"name\":", {}, 400},
        {"POST", "/upstreams", "not json at all", {}, 400},
        {"POST", "/upstreams", "[" + good + "]", {}, 400},
        {"POST", "/upstreams", "\"fresh\"", {}, 400},
        {"POST", "/upstreams", "42", {}, 400},
        {"POST", "/upstreams", "null", {}, 400},
        {"POST", "/upstreams", good + " trailing", {}, 400},
        {"POST", "/upstreams", good, {{"Content-Type", "text/plain"}}, 415},
        {"POST", "/upstreams", good, {{"Content-Type", "application/x-www-form-urlencoded"}}, 415},
        {"POST", "/upstreams", good, {{"Content-Type", ""}}, 415},
        {"POST", "/upstreams", good, {{"Content-Type", "application/merge-patch+json"}}, 415},
        {"PUT", "/upstreams/fresh", good, {{"Content-Type", "text/plain"}}, 415},
        {"PATCH", "/upstreams/u", R"({"tags":["x"]})", {{"Content-Type", "text/plain"}}, 415},
        {"PATCH", "/upstreams/u", "[]", {}, 400},
        {"PUT", "/config", "[]", {}, 400},
        {"PUT", "/config", R"({"upstreams":[]})", {{"Content-Type", "text/plain"}}, 415},
        {"POST", "/config/rollback", R"({"version":1})", {{"Content-Type", "text/plain"}}, 415},
        {"POST", "/config/rollback", "[1]", {}, 400},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.method + " " + c.path + " body=" + c.body.substr(0, 40));
        const Response r = call(c.method, c.path, c.body, c.headers);
        EXPECT_EQ(r.status, c.status) << r.body;
        const auto o = objectOf(r);
        EXPECT_TRUE(o && o->has("error")) << r.body;
    }
    EXPECT_EQ(configVersion(gw_), before);
    EXPECT_EQ(call("GET", "/upstreams/fresh").status, 404);
    EXPECT_EQ(call("GET", "/upstreams/u").status, 200);
    // Parameters on the media type are fine.
    EXPECT_EQ(
        call("POST", "/upstreams", good, {{"Content-Type", "application/json; charset=utf-8"}})
            .status,
        201);
}

TEST_F(AdminApi, BodyOverTheLimitIs413AndNothingChanges) {
    const int64_t before = configVersion(gw_);
    // A valid upstream whose body is ~17 MB (the default limit is 16 MiB).
    const std::string huge =
        R"({"name":"huge","tags":[")" + std::string(17'000'000, 'x') + R"("]})";
    const Response r = call("POST", "/upstreams", huge);
    EXPECT_EQ(r.status, 413) << r.body.substr(0, 200);
    const auto o = objectOf(r);
    EXPECT_TRUE(o && o->has("error")) << r.body.substr(0, 200);
    EXPECT_EQ(configVersion(gw_), before);
    EXPECT_EQ(call("GET", "/upstreams/huge").status, 404);
    // Just under the limit is read and judged on its content (a tag is at most 128 chars).
    const std::string big = R"({"name":"big","tags":[")" + std::string(1'000'000, 'x') + R"("]})";
    const Response under = call("POST", "/upstreams", big);
    EXPECT_EQ(under.status, 400) << under.body.substr(0, 200);
    EXPECT_FALSE(field(under, "tags[0]").empty()) << under.body.substr(0, 200);
}

TEST_F(AdminApi, AnOversizedBodyIsNeverParsedAsTheNextRequest) {
    // The body of a refused request is not read; it must not be taken for a pipelined request
    // either (the connection has to close). Here it carries a complete DELETE.
    Connection c(gw_.adminPort(), std::chrono::seconds(3));
    const std::string smuggled = "DELETE /routes/r HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                                 gw_.adminToken() + "\r\nContent-Length: 0\r\n\r\n";
    c.send("POST /upstreams HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + gw_.adminToken() +
           "\r\nContent-Type: application/json\r\nContent-Length: 17000000\r\n\r\n" + smuggled);
    const Response first = c.read();
    EXPECT_EQ(first.status, 413);
    bool secondResponse = false;
    try {
        const Response second = c.read();
        secondResponse = true;
        ADD_FAILURE() << "the body was parsed as a request, answered " << second.status;
    } catch (const std::exception&) {
        // closed: expected
    }
    EXPECT_FALSE(secondResponse);
    EXPECT_EQ(call("GET", "/routes/r").status, 200) << "the smuggled DELETE ran";
    EXPECT_EQ(who(gw_, "/r"), "a");
}

TEST_F(AdminApi, UnknownPathsAre404AndWrongMethods405WithAllowAndNoEffect) {
    const int64_t before = configVersion(gw_);
    for (const char* path :
         {"/nope", "/upstreams/u/targets", "/routes/r/x", "/config/nope", "/config/history/1/x",
          "/status/x", "/ready/x", "/openapi.json/x", "/config/rollback/1", "/admin/upstreams"}) {
        const Response r = call("GET", path);
        EXPECT_EQ(r.status, 404) << path << ": " << r.body;
        EXPECT_TRUE(objectOf(r) && objectOf(r)->has("error")) << path;
    }
    EXPECT_EQ(call("GET", "/upstreams/nope").status, 404);
    EXPECT_EQ(call("GET", "/config/history/99").status, 404);
    EXPECT_EQ(call("GET", "/config/history/x").status, 404);

    // Allow lists exactly the documented methods of that path.
    const auto doc = openApi(gw_);
    std::map<std::string, std::set<std::string>> documented;
    for (const auto& op : operationsOf(doc))
        documented[op.path].insert(op.method);
    struct Case {
        std::string method, path, docPath, body;
    };
    const std::vector<Case> cases = {
        {"DELETE", "/config", "/config", ""},
        {"POST", "/config", "/config", R"({"upstreams":[]})"},
        {"PATCH", "/config", "/config", R"({"upstreams":[]})"},
        {"POST", "/status", "/status", "{}"},
        {"DELETE", "/status", "/status", ""},
        {"POST", "/ready", "/ready", "{}"},
        {"PUT", "/openapi.json", "/openapi.json", "{}"},
        {"PATCH", "/upstreams", "/upstreams", R"({"name":"u","targets":[]})"},
        {"DELETE", "/upstreams", "/upstreams", ""},
        {"PUT", "/upstreams", "/upstreams", R"({"name":"u2"})"},
        {"DELETE", "/routes", "/routes", ""},
        {"POST", "/upstreams/u", "/upstreams/{id_or_name}", R"({"name":"u"})"},
        {"POST", "/routes/r", "/routes/{id_or_name}", R"({"name":"r","upstream":"u"})"},
        {"DELETE", "/config/history", "/config/history", ""},
        {"POST", "/config/history", "/config/history", "{}"},
        {"DELETE", "/config/history/1", "/config/history/{version}", ""},
        {"GET", "/config/rollback?version=0", "/config/rollback", ""},
        {"PUT", "/config/rollback", "/config/rollback", R"({"version":0})"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.method + " " + c.path);
        const Response r = call(c.method, c.path, c.body);
        EXPECT_EQ(r.status, 405) << r.body;
        EXPECT_TRUE(objectOf(r) && objectOf(r)->has("error")) << r.body;
        const auto allow = r.header("Allow");
        ASSERT_TRUE(allow) << "405 without Allow";
        std::set<std::string> listed;
        std::string rest = *allow;
        while (!rest.empty()) {
            const size_t comma = rest.find(',');
            std::string m = rest.substr(0, comma);
            m.erase(0, m.find_first_not_of(' '));
            m.erase(m.find_last_not_of(' ') + 1);
            if (!m.empty()) listed.insert(m);
            rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
        }
        EXPECT_EQ(listed, documented[c.docPath]) << "Allow: " << *allow;
        EXPECT_FALSE(listed.count(c.method));
    }
    // Nothing changed: same version, same entities, same history, the proxy unchanged.
    EXPECT_EQ(configVersion(gw_), before);
    EXPECT_EQ(call("GET", "/config").header("X-Config-Version"), std::to_string(before));
    EXPECT_EQ(objectOf(call("GET", "/upstreams"))->getValue<int>("total"), 1);
    EXPECT_EQ(objectOf(call("GET", "/routes"))->getValue<int>("total"), 1);
    EXPECT_EQ(objectOf(call("GET", "/config/history"))->getValue<int>("total"), before);
    EXPECT_EQ(who(gw_, "/r"), "a");
}

TEST_F(AdminApi, GetNeverChangesState) {
    ASSERT_EQ(call("POST", "/routes", routeJson("r2", "/r2", "u")).status, 201);
    const int64_t before = configVersion(gw_);
    const std::string config = call("GET", "/config").body;
    for (const char* path :
         {"/upstreams", "/upstreams/u", "/routes", "/routes/r2", "/config", "/config?dry_run=false",
          "/config/history", "/config/history/1", "/config/history/1?include_config=true",
          "/status", "/ready", "/openapi.json", "/upstreams?tags=a", "/config/rollback",
          "/config/rollback?version=1", "/upstreams/u?_method=DELETE",
          "/routes/r2?method=DELETE"}) {
        const Response r = call("GET", path);
        EXPECT_NE(r.status, 500) << path;
        EXPECT_NE(r.status, 201) << path;
        EXPECT_NE(r.status, 204) << path;
    }
    EXPECT_EQ(configVersion(gw_), before);
    EXPECT_EQ(call("GET", "/config").body, config);
    EXPECT_EQ(call("GET", "/routes/r2").status, 200);
}

TEST_F(AdminApi, ConflictsAre409AndNameTheRoutes) {
    // Distinctive names, so "the message names the routes" cannot pass by accident.
    ASSERT_EQ(call("POST", "/upstreams", upstreamJson("shared-up", a_.address())).status, 201);
    ASSERT_EQ(call("POST", "/routes", routeJson("alpha-route", "/alpha", "shared-up")).status, 201);
    ASSERT_EQ(call("POST", "/routes", routeJson("beta-route", "/beta", "shared-up")).status, 201);
    ASSERT_EQ(call("POST", "/upstreams", upstreamJson("free-up", b_.address())).status, 201);
    const int64_t before = configVersion(gw_);
    const std::string uid =
        objectOf(call("GET", "/upstreams/shared-up"))->getValue<std::string>("id");

    auto conflict = [&](const std::string& method, const std::string& path, const std::string& body,
                        const std::vector<std::string>& mentions) {
        SCOPED_TRACE(method + " " + path + " " + body);
        const Response r = call(method, path, body);
        EXPECT_EQ(r.status, 409) << r.body;
        const auto o = objectOf(r);
        ASSERT_TRUE(o && o->has("error")) << r.body;
        const std::string error = o->getValue<std::string>("error");
        for (const auto& m : mentions)
            EXPECT_NE(error.find(m), std::string::npos) << "'" << m << "' not in " << error;
    };
    // A taken name on create.
    conflict("POST", "/upstreams", upstreamJson("free-up", a_.address()), {"free-up"});
    conflict("POST", "/routes", routeJson("alpha-route", "/elsewhere", "u"), {"alpha-route"});
    // A taken id on create.
    conflict("POST", "/upstreams", R"({"id":")" + uid + R"(","name":"other"})", {uid});
    // Renaming to a taken name.
    conflict("PUT", "/upstreams/free-up", upstreamJson("u", b_.address()), {"'u'"});
    conflict("PATCH", "/routes/beta-route", R"({"name":"alpha-route"})", {"alpha-route"});
    // Renaming an upstream routes use (by name or by id; PUT or PATCH): refused, naming them.
    const std::vector<std::string> users = {"alpha-route", "beta-route"};
    conflict("PUT", "/upstreams/shared-up", upstreamJson("renamed", a_.address()), users);
    conflict("PATCH", "/upstreams/shared-up", R"({"name":"renamed"})", users);
    conflict("PATCH", "/upstreams/" + uid, R"({"name":"renamed"})", users);
    // Deleting an upstream routes use: the message names them.
    conflict("DELETE", "/upstreams/shared-up", "", users);
    conflict("DELETE", "/upstreams/" + uid, "", users);

    EXPECT_EQ(configVersion(gw_), before);
    EXPECT_EQ(call("GET", "/upstreams/shared-up").status, 200);
    EXPECT_EQ(call("GET", "/upstreams/renamed").status, 404);
    EXPECT_EQ(call("GET", "/routes/beta-route").status, 200);
    EXPECT_EQ(who(gw_, "/alpha"), "a");
    EXPECT_EQ(who(gw_, "/beta"), "a");

    // Once nothing uses it, the rename and the delete go through.
    ASSERT_EQ(call("PATCH", "/routes/alpha-route", R"({"upstream":"free-up"})").status, 200);
    // Still one user left: the message names only it.
    const Response one = call("DELETE", "/upstreams/shared-up");
    EXPECT_EQ(one.status, 409);
    EXPECT_EQ(one.body.find("alpha-route"), std::string::npos) << one.body;
    EXPECT_NE(one.body.find("beta-route"), std::string::npos) << one.body;
    ASSERT_EQ(call("PATCH", "/routes/beta-route", R"({"upstream":"free-up"})").status, 200);
    EXPECT_EQ(call("PATCH", "/upstreams/shared-up", R"({"name":"renamed"})").status, 200);
    EXPECT_EQ(call("DELETE", "/upstreams/renamed").status, 204);
    EXPECT_EQ(who(gw_, "/alpha"), "b");
}

TEST_F(AdminApi, EveryResponseCarriesNosniffAndNoStore) {
    const std::vector<std::tuple<std::string, std::string, std::string, Headers, int>> requests = {
        {"GET", "/status", "", {}, 200},
        {"GET", "/openapi.json", "", {}, 200},
        {"GET", "/config", "", {}, 200},
        {"POST", "/upstreams", upstreamJson("n", a_.address()), {}, 201},
        {"DELETE", "/upstreams/n", "", {}, 204},
        {"POST", "/upstreams", "{", {}, 400},
        {"GET", "/status", "", {{"Authorization", ""}}, 401},
        {"GET", "/status?token=x", "", {}, 401},
        {"GET", "/nope", "", {}, 404},
        {"DELETE", "/config", "", {}, 405},
        {"POST", "/upstreams", upstreamJson("u", a_.address()), {}, 409},
        {"POST", "/upstreams", "{}", {{"Content-Type", "text/plain"}}, 415},
    };
    for (const auto& [method, path, body, headers, status] : requests) {
        SCOPED_TRACE(method + " " + path);
        const Response r = call(method, path, body, headers);
        EXPECT_EQ(r.status, status) << r.body;
        EXPECT_EQ(r.header("X-Content-Type-Options"), "nosniff");
        EXPECT_EQ(r.header("Cache-Control"), "no-store");
    }
    const Response tooLarge = call("POST", "/upstreams", std::string(17'000'000, ' '));
    EXPECT_EQ(tooLarge.status, 413);
    EXPECT_EQ(tooLarge.header("X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(tooLarge.header("Cache-Control"), "no-store");
}

// ---- 5. The configuration as a whole ----------------------------------------------------------

TEST_F(AdminApi, PutConfigDryRunReportsChangesAndWritesNothing) {
    const int64_t before = configVersion(gw_);
    const Response exported = call("GET", "/config");
    ASSERT_EQ(exported.status, 200);
    EXPECT_EQ(exported.header("X-Config-Version"), std::to_string(before));
    const auto doc = objectOf(exported);
    ASSERT_TRUE(doc);
    EXPECT_EQ(namesIn(doc->getArray("upstreams")), std::vector<std::string>{"u"});
    EXPECT_EQ(namesIn(doc->getArray("routes")), std::vector<std::string>{"r"});

    // Keep u and r; add upstream ub and route dry; change nothing else.
    const std::string candidate = R"({"upstreams":[)" + upstreamJson("u", a_.address()) + "," +
                                  upstreamJson("ub", b_.address()) + R"(],"routes":[)" +
                                  routeJson("r", "/r", "u") + "," + routeJson("dry", "/dry", "ub") +
                                  "]}";
    const Response dry = call("PUT", "/config?dry_run=true", candidate);
    ASSERT_EQ(dry.status, 200) << dry.body;
    const auto result = objectOf(dry);
    EXPECT_TRUE(result->getValue<bool>("dry_run"));
    EXPECT_EQ(result->getValue<int64_t>("version"), before);
    const auto changes = result->getArray("changes");
    ASSERT_TRUE(changes);
    std::set<std::string> seen;
    for (size_t i = 0; i < changes->size(); ++i) {
        const auto c = changes->getObject(static_cast<unsigned>(i));
        seen.insert(c->getValue<std::string>("op") + " " + c->getValue<std::string>("entity") +
                    " " + c->getValue<std::string>("name"));
    }
    EXPECT_EQ(seen, (std::set<std::string>{"create upstream ub", "create route dry"})) << dry.body;

    // Nothing written, nothing live.
    EXPECT_EQ(configVersion(gw_), before);
    EXPECT_EQ(call("GET", "/routes/dry").status, 404);
    EXPECT_EQ(call("GET", "/upstreams/ub").status, 404);
    EXPECT_EQ(who(gw_, "/dry"), "404");
    EXPECT_EQ(objectOf(call("GET", "/config/history"))->getValue<int64_t>("total"), before);
    // An invalid dry run is still validated.
    const Response bad =
        call("PUT", "/config?dry_run=true", R"({"routes":[{"name":"x","upstream":"none"}]})");
    EXPECT_EQ(bad.status, 400);
    EXPECT_FALSE(field(bad, "routes[0].upstream").empty()) << bad.body;

    // Without dry_run the same document applies as one new version.
    const Response applied = call("PUT", "/config", candidate);
    ASSERT_EQ(applied.status, 200) << applied.body;
    EXPECT_FALSE(objectOf(applied)->getValue<bool>("dry_run"));
    EXPECT_EQ(objectOf(applied)->getValue<int64_t>("version"), before + 1);
    EXPECT_EQ(applied.header("X-Config-Version"), std::to_string(before + 1));
    EXPECT_EQ(objectOf(applied)->getArray("changes")->size(), 2u);
    EXPECT_EQ(who(gw_, "/dry"), "b");
    EXPECT_EQ(who(gw_, "/r"), "a");
    // Ids of kept entities survive a whole-config import.
    EXPECT_EQ(objectOf(call("GET", "/upstreams/u"))->getValue<std::string>("id"),
              doc->getArray("upstreams")->getObject(0)->getValue<std::string>("id"));

    // Re-importing the export is a no-op: no new version, no changes.
    const std::string now = call("GET", "/config").body;
    const Response again = call("PUT", "/config", now);
    ASSERT_EQ(again.status, 200) << again.body;
    EXPECT_EQ(objectOf(again)->getArray("changes")->size(), 0u) << again.body;
    EXPECT_EQ(configVersion(gw_), before + 1);

    // An empty document removes everything (the proxy follows).
    ASSERT_EQ(call("PUT", "/config", "{}").status, 200);
    EXPECT_EQ(who(gw_, "/r"), "404");
    EXPECT_EQ(objectOf(call("GET", "/upstreams"))->getValue<int>("total"), 0);
}

TEST_F(AdminApi, HistoryIsNewestFirstWithBeforeAndAfter) {
    const int64_t v1 = configVersion(gw_);
    ASSERT_EQ(call("POST", "/upstreams", upstreamJson("h", b_.address())).status, 201);  // v1+1
    ASSERT_EQ(call("POST", "/routes", routeJson("hr", "/hr", "h")).status, 201);         // v1+2
    ASSERT_EQ(call("PATCH", "/upstreams/h", R"({"tags":["t"]})").status, 200);           // v1+3
    ASSERT_EQ(call("DELETE", "/routes/hr").status, 204);                                 // v1+4
    const int64_t last = v1 + 4;
    ASSERT_EQ(configVersion(gw_), last);

    const Response list = call("GET", "/config/history");
    ASSERT_EQ(list.status, 200);
    const auto o = objectOf(list);
    EXPECT_EQ(o->getValue<int64_t>("total"), last);
    const auto data = o->getArray("data");
    ASSERT_EQ(data->size(), static_cast<size_t>(last));
    for (size_t i = 0; i < data->size(); ++i) {
        const auto e = data->getObject(static_cast<unsigned>(i));
        EXPECT_EQ(e->getValue<int64_t>("version"), last - static_cast<int64_t>(i))
            << "not newest first";
        EXPECT_FALSE(e->getValue<std::string>("actor").empty());
        EXPECT_FALSE(e->getValue<std::string>("summary").empty());
        EXPECT_GT(e->getValue<int64_t>("at"), 0);
    }
    const auto newest = data->getObject(0);
    EXPECT_EQ(newest->getValue<std::string>("action"), "delete");
    EXPECT_NE(newest->getValue<std::string>("summary").find("hr"), std::string::npos);
    EXPECT_NE(newest->getValue<std::string>("actor").find("127.0.0.1"), std::string::npos)
        << "the actor names the admin client";
    EXPECT_EQ(data->getObject(1)->getValue<std::string>("action"), "update");
    EXPECT_EQ(data->getObject(3)->getValue<std::string>("action"), "create");

    // Paging.
    const auto page = objectOf(call("GET", "/config/history?size=2&offset=1"));
    ASSERT_EQ(page->getArray("data")->size(), 2u);
    EXPECT_EQ(page->getArray("data")->getObject(0)->getValue<int64_t>("version"), last - 1);

    // One version: its changes, before and after.
    auto changeOf = [&](int64_t v) {
        const Response r = call("GET", "/config/history/" + std::to_string(v));
        EXPECT_EQ(r.status, 200) << r.body;
        const auto entry = objectOf(r);
        EXPECT_EQ(entry->getValue<int64_t>("version"), v);
        EXPECT_FALSE(entry->has("config")) << "config only on request";
        const auto changes = entry->getArray("changes");
        EXPECT_EQ(changes->size(), 1u) << r.body;
        return changes->getObject(0);
    };
    const auto created = changeOf(v1 + 1);
    EXPECT_EQ(created->getValue<std::string>("op"), "create");
    EXPECT_EQ(created->getValue<std::string>("entity"), "upstream");
    EXPECT_EQ(created->getValue<std::string>("name"), "h");
    EXPECT_TRUE(created->isNull("before"));
    ASSERT_TRUE(created->getObject("after"));
    EXPECT_EQ(created->getObject("after")->getValue<std::string>("name"), "h");
    const auto updated = changeOf(v1 + 3);
    EXPECT_EQ(updated->getValue<std::string>("op"), "update");
    ASSERT_TRUE(updated->getObject("before") && updated->getObject("after"));
    EXPECT_EQ(updated->getObject("before")->getArray("tags")->size(), 0u);
    EXPECT_EQ(updated->getObject("after")->getArray("tags")->getElement<std::string>(0), "t");
    const auto deleted = changeOf(last);
    EXPECT_EQ(deleted->getValue<std::string>("op"), "delete");
    EXPECT_EQ(deleted->getValue<std::string>("entity"), "route");
    EXPECT_TRUE(deleted->isNull("after"));
    EXPECT_EQ(deleted->getObject("before")->getValue<std::string>("name"), "hr");

    // include_config: the whole configuration as it was at that version.
    const auto at2 =
        objectOf(call("GET", "/config/history/" + std::to_string(v1 + 2) + "?include_config=true"));
    ASSERT_TRUE(at2 && at2->getObject("config"));
    auto sortedNames = [](const Array::Ptr& a) {
        auto n = namesIn(a);
        std::sort(n.begin(), n.end());
        return n;
    };
    EXPECT_EQ(sortedNames(at2->getObject("config")->getArray("upstreams")),
              (std::vector<std::string>{"h", "u"}));
    EXPECT_EQ(sortedNames(at2->getObject("config")->getArray("routes")),
              (std::vector<std::string>{"hr", "r"}));
    const auto atFirst =
        objectOf(call("GET", "/config/history/" + std::to_string(v1) + "?include_config=true"));
    EXPECT_EQ(sortedNames(atFirst->getObject("config")->getArray("upstreams")),
              std::vector<std::string>{"u"});
    const auto atLast =
        objectOf(call("GET", "/config/history/" + std::to_string(last) + "?include_config=true"));
    EXPECT_EQ(sortedNames(atLast->getObject("config")->getArray("routes")),
              std::vector<std::string>{"r"});
    EXPECT_EQ(atLast->getObject("config")
                  ->getArray("upstreams")
                  ->getObject(0)
                  ->getValue<std::string>("name"),
              "h");

    EXPECT_EQ(call("GET", "/config/history/" + std::to_string(last + 1)).status, 404);
    EXPECT_EQ(call("GET", "/config/history/0").status, 404);
}

TEST_F(AdminApi, RollbackRestoresAVersionAndIsRecordedAsANewOne) {
    const int64_t v1 = configVersion(gw_);
    ASSERT_EQ(call("POST", "/routes", routeJson("mid", "/mid", "u")).status, 201);  // N = v1+1
    const int64_t n = v1 + 1;
    ASSERT_EQ(call("POST", "/upstreams", upstreamJson("late-u", b_.address())).status, 201);
    ASSERT_EQ(call("POST", "/routes", routeJson("late", "/late", "late-u")).status, 201);
    ASSERT_EQ(call("DELETE", "/routes/mid").status, 204);
    ASSERT_EQ(call("PATCH", "/routes/r", R"({"upstream":"late-u"})").status, 200);
    const int64_t before = configVersion(gw_);
    ASSERT_EQ(before, v1 + 5);
    EXPECT_EQ(who(gw_, "/mid"), "404");
    EXPECT_EQ(who(gw_, "/late"), "b");
    EXPECT_EQ(who(gw_, "/r"), "b");

    // A dry run reports, writes nothing.
    const Response dry =
        call("POST", "/config/rollback?dry_run=true", R"({"version":)" + std::to_string(n) + "}");
    ASSERT_EQ(dry.status, 200) << dry.body;
    EXPECT_TRUE(objectOf(dry)->getValue<bool>("dry_run"));
    EXPECT_FALSE(objectOf(dry)->getArray("changes")->size() == 0);
    EXPECT_EQ(configVersion(gw_), before);
    EXPECT_EQ(who(gw_, "/mid"), "404");

    const Response rolled =
        call("POST", "/config/rollback", R"({"version":)" + std::to_string(n) + "}");
    ASSERT_EQ(rolled.status, 200) << rolled.body;
    EXPECT_EQ(objectOf(rolled)->getValue<int64_t>("version"), before + 1)
        << "recorded as a new version";
    EXPECT_EQ(rolled.header("X-Config-Version"), std::to_string(before + 1));
    EXPECT_EQ(configVersion(gw_), before + 1);
    // The proxy follows at once: what existed at N answers again, what came later is gone.
    EXPECT_EQ(who(gw_, "/mid"), "a");
    EXPECT_EQ(who(gw_, "/late"), "404");
    EXPECT_EQ(who(gw_, "/r"), "a");
    EXPECT_EQ(call("GET", "/upstreams/late-u").status, 404);
    // The restored route keeps its identity.
    EXPECT_EQ(call("GET", "/routes/mid").status, 200);

    const auto history =
        objectOf(call("GET", "/config/history?size=1"))->getArray("data")->getObject(0);
    EXPECT_EQ(history->getValue<int64_t>("version"), before + 1);
    EXPECT_EQ(history->getValue<std::string>("action"), "rollback");
    EXPECT_NE(history->getValue<std::string>("summary").find(std::to_string(n)), std::string::npos);
    // Going back to the configuration after the rollback's predecessor works too (undo).
    const Response undo =
        call("POST", "/config/rollback", R"({"version":)" + std::to_string(before) + "}");
    ASSERT_EQ(undo.status, 200) << undo.body;
    EXPECT_EQ(who(gw_, "/late"), "b");
    EXPECT_EQ(who(gw_, "/mid"), "404");
    const int64_t after = configVersion(gw_);
    EXPECT_EQ(after, before + 2);

    // Refusals change nothing.
    struct Case {
        std::string body;
        int status;
    };
    for (const auto& c :
         std::vector<Case>{{R"({"version":999})", 404},
                           {R"({"version":)" + std::to_string(after + 1) + "}", 404},
                           {R"({"version":"x"})", 400},
                           {R"({"version":"1"})", 400},
                           {R"({"version":-1})", 400},
                           {R"({"version":1.5})", 400},
                           {R"({"version":null})", 400},
                           {"{}", 400}}) {
        const Response r = call("POST", "/config/rollback", c.body);
        EXPECT_EQ(r.status, c.status) << c.body << ": " << r.body;
        if (c.status == 400) {
            EXPECT_FALSE(field(r, "version").empty()) << c.body << ": " << r.body;
        }
    }
    EXPECT_EQ(configVersion(gw_), after);
    EXPECT_EQ(who(gw_, "/late"), "b");
}

// ---- 6. Status and readiness ------------------------------------------------------------------

TEST_F(AdminApi, StatusAndReadyReportTheRunningGateway) {
    const Response s = call("GET", "/status");
    ASSERT_EQ(s.status, 200);
    const auto st = objectOf(s);
    ASSERT_TRUE(st);
    EXPECT_EQ(st->getValue<int>("workers"), 2);
    EXPECT_EQ(st->getValue<int64_t>("config_version"), 1);
    EXPECT_TRUE(st->getValue<bool>("ready"));
    EXPECT_FALSE(st->getValue<bool>("draining"));
    EXPECT_FALSE(st->getValue<std::string>("version").empty());
    const int64_t requests = st->getValue<int64_t>("requests_total");

    for (int i = 0; i < 5; ++i)
        ASSERT_EQ(roundTrip(gw_.port(), "GET", "/r").status, 200);
    ASSERT_EQ(roundTrip(gw_.port(), "GET", "/unrouted").status, 404);
    // Counters may be gathered from the workers a moment later.
    int64_t now = requests;
    EXPECT_TRUE(eventually(
        [&] {
            now = objectOf(call("GET", "/status"))->getValue<int64_t>("requests_total");
            return now >= requests + 6;
        },
        std::chrono::seconds(3)))
        << "requests_total went from " << requests << " to " << now << " after 6 proxied requests";
    // Admin calls are not proxied requests.
    EXPECT_LE(objectOf(call("GET", "/status"))->getValue<int64_t>("requests_total"), now + 0);

    // The config version follows writes.
    ASSERT_EQ(call("POST", "/routes", routeJson("s2", "/s2", "u")).status, 201);
    EXPECT_EQ(objectOf(call("GET", "/status"))->getValue<int64_t>("config_version"), 2);

    const Response ready = call("GET", "/ready");
    EXPECT_EQ(ready.status, 200) << ready.body;
    EXPECT_TRUE(objectOf(ready)->getValue<bool>("ready"));
    EXPECT_EQ(objectOf(ready)->getValue<int64_t>("config_version"), 2);
}

TEST_F(AdminApi, TheProxyPortNeverServesAdminPaths) {
    // No catch-all route: every admin path on the proxy port is the proxy's own 404.
    for (const char* path : {"/status", "/ready", "/openapi.json", "/config", "/upstreams",
                             "/routes", "/config/history"}) {
        SCOPED_TRACE(path);
        for (const auto& headers :
             {Headers{}, Headers{{"Authorization", "Bearer " + gw_.adminToken()}}}) {
            const Response r = roundTrip(gw_.port(), "GET", path, headers);
            EXPECT_EQ(r.status, 404) << r.body;
            const auto o = objectOf(r);
            ASSERT_TRUE(o) << r.body;
            EXPECT_TRUE(o->has("error"));
            EXPECT_FALSE(o->has("config_version"))
                << "admin status leaked on the proxy port: " << r.body;
            EXPECT_FALSE(o->has("openapi"));
            EXPECT_FALSE(o->has("upstreams"));
            EXPECT_FALSE(o->has("data"));
        }
    }
    // Writes on the proxy port reach nothing either.
    const int64_t before = configVersion(gw_);
    const Response w = roundTrip(gw_.port(), "DELETE", "/routes/r",
                                 {{"Authorization", "Bearer " + gw_.adminToken()}});
    EXPECT_EQ(w.status, 404);
    EXPECT_EQ(configVersion(gw_), before);
    EXPECT_EQ(call("GET", "/routes/r").status, 200);
}

// ---- 7. Token rotation ------------------------------------------------------------------------

TEST_F(AdminApi, AdminTokenRotationWhileRunning) {
    const std::string old = gw_.adminToken();
    ASSERT_FALSE(old.empty());
    ASSERT_EQ(call("GET", "/status").status, 200);
    std::string out;
    ASSERT_EQ(runCommand({gatehouseBin(), "admin-token", "--config", gw_.iniPath()}, &out), 0)
        << out;
    const size_t at = out.find("gha_");
    ASSERT_NE(at, std::string::npos) << out;
    const std::string fresh = out.substr(at, out.find_first_of(" \r\n", at) - at);
    EXPECT_NE(fresh, old);
    EXPECT_GT(fresh.size(), 20u);

    const Response withOld = call("GET", "/status", {}, {{"Authorization", "Bearer " + old}});
    EXPECT_EQ(withOld.status, 401) << "the old token still works";
    EXPECT_TRUE(withOld.header("WWW-Authenticate"));
    const Response oldWrite =
        call("POST", "/routes", routeJson("x", "/x", "u"), {{"Authorization", "Bearer " + old}});
    EXPECT_EQ(oldWrite.status, 401);
    EXPECT_EQ(call("GET", "/status", {}, {{"Authorization", "Bearer " + fresh}}).status, 200);
    const Response write =
        call("POST", "/routes", routeJson("x", "/x", "u"), {{"Authorization", "Bearer " + fresh}});
    EXPECT_EQ(write.status, 201) << write.body;
    EXPECT_EQ(who(gw_, "/x"), "a");
    // The gateway kept running throughout.
    EXPECT_TRUE(gw_.process().running());
}

}  // namespace
}  // namespace gatehouse::test
