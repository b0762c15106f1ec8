#include "admin/admin_api.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/JSONException.h>
#include <Poco/JSON/Parser.h>
#include <Poco/URI.h>

#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "config/credentials.h"
#include "config/diff.h"
#include "http/ascii.h"

#ifndef GATEHOUSE_VERSION
#define GATEHOUSE_VERSION "0.0.0"
#endif

namespace gatehouse::admin {
namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

/// An error response, thrown by handlers and turned into JSON in one place.
struct ApiError {
    int status;
    std::string message;
    config::FieldErrors fields;
    std::vector<std::pair<std::string, std::string>> headers;
};

std::string stringify(const Poco::Dynamic::Var& v) {
    std::ostringstream out;
    if (v.type() == typeid(Object::Ptr))
        v.extract<Object::Ptr>()->stringify(out);
    else if (v.type() == typeid(Array::Ptr))
        v.extract<Array::Ptr>()->stringify(out);
    else
        out << v.toString();
    return out.str();
}

ApiResponse json(int status, const Poco::Dynamic::Var& body) {
    return {status, stringify(body), {}};
}

ApiResponse errorResponse(const ApiError& e) {
    Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
    o->set("error", e.message);
    if (!e.fields.empty()) {
        Object::Ptr f = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
        for (const auto& [k, v] : e.fields)
            f->set(k, v);
        o->set("fields", f);
    }
    ApiResponse r = json(e.status, o);
    r.headers = e.headers;
    return r;
}

std::vector<std::string> split(const std::string& path) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < path.size()) {
        while (i < path.size() && path[i] == '/')
            ++i;
        const size_t j = path.find('/', i);
        if (i < path.size())
            out.push_back(path.substr(i, j == std::string::npos ? std::string::npos : j - i));
        i = j == std::string::npos ? path.size() : j;
    }
    return out;
}

std::multimap<std::string, std::string> parseQuery(const std::string& query) {
    std::multimap<std::string, std::string> out;
    try {
        for (const auto& [k, v] : Poco::URI("/?" + query).getQueryParameters())
            out.emplace(k, v);
    } catch (const Poco::Exception&) {
        throw ApiError{400, "malformed query string", {}, {}};
    }
    return out;
}

std::optional<std::string> param(const std::multimap<std::string, std::string>& q,
                                 const std::string& key) {
    auto it = q.find(key);
    if (it == q.end()) return std::nullopt;
    return it->second;
}

uint64_t number(const std::multimap<std::string, std::string>& q, const std::string& key,
                uint64_t dflt, uint64_t min, uint64_t max) {
    const auto v = param(q, key);
    if (!v) return dflt;
    uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc() || ptr != v->data() + v->size() || n < min || n > max)
        throw ApiError{400,
                       "invalid query parameter",
                       {{key, "must be an integer between " + std::to_string(min) + " and " +
                                  std::to_string(max)}},
                       {}};
    return n;
}

bool flag(const std::multimap<std::string, std::string>& q, const std::string& key) {
    const auto v = param(q, key);
    if (!v) return false;
    if (*v == "true" || *v == "1" || v->empty()) return true;
    if (*v == "false" || *v == "0") return false;
    throw ApiError{400, "invalid query parameter", {{key, "must be true or false"}}, {}};
}

ApiError methodNotAllowed(const std::string& allow) {
    return {405, "method not allowed; allowed: " + allow, {}, {{"Allow", allow}}};
}

Object::Ptr parseBodyObject(const ApiRequest& req, bool mergePatch) {
    std::string ct = http::toLower(req.contentType);
    ct = ct.substr(0, ct.find(';'));
    ct = std::string(http::trimOws(ct));
    if (ct != "application/json" && !(mergePatch && ct == "application/merge-patch+json"))
        throw ApiError{415, "request body must be application/json", {}, {}};
    Poco::Dynamic::Var v;
    try {
        Poco::JSON::Parser p;
        v = p.parse(req.body);
    } catch (const Poco::Exception& e) {
        throw ApiError{400, "invalid JSON: " + e.message(), {}, {}};
    }
    if (v.type() != typeid(Object::Ptr))
        throw ApiError{400, "request body must be a JSON object", {}, {}};
    return v.extract<Object::Ptr>();
}

/// RFC 7386 JSON merge patch.
void mergePatch(Object::Ptr target, const Object::Ptr& patch) {
    for (const auto& [key, value] : *patch) {
        if (value.isEmpty()) {
            target->remove(key);
        } else if (value.type() == typeid(Object::Ptr) && target->has(key) &&
                   target->get(key).type() == typeid(Object::Ptr)) {
            mergePatch(target->getObject(key), value.extract<Object::Ptr>());
        } else {
            target->set(key, value);
        }
    }
}

Object::Ptr deepCopy(const Object::Ptr& o) {
    Poco::JSON::Parser p;
    return p.parse(stringify(o)).extract<Object::Ptr>();
}

/// Removes the secrets from a stored consumer's JSON (what the admin API shows): JWT secrets
/// always; key and password hashes too when `hashes`.
void redactConsumer(Object::Ptr consumer, bool hashes) {
    if (!consumer) return;
    Array::Ptr creds = consumer->getArray("credentials");
    if (!creds) return;
    for (size_t i = 0; i < creds->size(); ++i) {
        Object::Ptr c = creds->getObject(static_cast<unsigned>(i));
        if (!c) continue;
        c->remove("secret");
        if (hashes) {
            c->remove("key_hash");
            c->remove("password_hash");
        }
    }
}

/// A configuration document as the admin API exports it: JWT secrets left out (an import of
/// the export keeps the stored ones), hashes kept so that the export round-trips.
std::string exportText(const config::ConfigDocument& doc) {
    const Object::Ptr o = config::toJson(doc);
    if (const Array::Ptr consumers = o->getArray("consumers"))
        for (size_t i = 0; i < consumers->size(); ++i)
            redactConsumer(consumers->getObject(static_cast<unsigned>(i)), false);
    std::ostringstream out;
    o->stringify(out, 2);
    out << '\n';
    return out.str();
}

Object::Ptr changeJson(const config::StoredChange& c) {
    Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
    o->set("entity", std::string(config::entityName(c.kind)));
    o->set("id", c.id);
    o->set("name", c.name);
    o->set("op", !c.before ? "create" : !c.after ? "delete" : "update");
    o->set("summary", config::describe(c));
    const bool consumer = c.kind == config::EntityKind::kConsumer;
    auto body = [&](const std::optional<std::string>& text) -> Poco::Dynamic::Var {
        if (!text) return {};
        Poco::JSON::Parser p;
        Poco::Dynamic::Var v = p.parse(*text);
        if (consumer) redactConsumer(v.extract<Object::Ptr>(), true);
        return v;
    };
    o->set("before", body(c.before));
    o->set("after", body(c.after));
    return o;
}

Object::Ptr writeResultJson(const config::WriteResult& r) {
    Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
    o->set("version", r.version);
    o->set("dry_run", r.dryRun);
    Array::Ptr changes = new Array;
    for (const auto& c : r.changes)
        changes->add(changeJson(c));
    o->set("changes", changes);
    return o;
}

/// Everything a resource handler needs about one request.
struct Call {
    const ApiRequest& req;
    std::vector<std::string> segments;
    std::multimap<std::string, std::string> query;
    std::string actor;
};

template <typename Spec>
bool hasTags(const Spec& s, const std::vector<std::string>& tags) {
    for (const auto& t : tags)
        if (std::find(s.meta.tags.begin(), s.meta.tags.end(), t) == s.meta.tags.end()) return false;
    return true;
}

/// Extra list filters: plugins can be listed by plugin name and by route.
template <typename Spec>
bool matchesFilters(const Spec& s, const Call& call) {
    if constexpr (std::is_same_v<Spec, config::PluginSpec>) {
        if (auto n = param(call.query, "name"); n && s.meta.name != *n) return false;
        if (auto r = param(call.query, "route"); r && s.route != *r) return false;
    } else {
        (void)s;
        (void)call;
    }
    return true;
}

/// How an entity is shown: consumers without secrets or hashes.
template <typename Spec>
Object::Ptr entityView(const Spec& s) {
    return config::toJson(s);
}
Object::Ptr entityView(const config::ConsumerSpec& c) {
    return config::toJson(c, config::SecretView::kApi);
}

/// GET list with ?tags=a,b (all required), ?offset, ?size.
template <typename Spec>
ApiResponse listEntities(const Call& call, const config::SharedList<Spec>& all, const char* base) {
    std::vector<std::string> tags;
    if (auto t = param(call.query, "tags"))
        http::forEachListElement(*t, [&](std::string_view tag) { tags.emplace_back(tag); });
    const uint64_t size = number(call.query, "size", 100, 1, 1000);
    const uint64_t offset = number(call.query, "offset", 0, 0, UINT32_MAX);
    Array::Ptr data = new Array;
    uint64_t matched = 0;
    for (const auto& s : all) {
        if (!hasTags(s, tags) || !matchesFilters(s, call)) continue;
        if (matched >= offset && matched < offset + size) data->add(entityView(s));
        ++matched;
    }
    Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
    o->set("data", data);
    o->set("total", matched);
    o->set("offset", offset);
    o->set("size", size);
    if (offset + size < matched) {
        std::string next = std::string(base) + "?offset=" + std::to_string(offset + size) +
                           "&size=" + std::to_string(size);
        if (auto t = param(call.query, "tags")) next += "&tags=" + *t;
        o->set("next", next);
    } else {
        o->set("next", Poco::Dynamic::Var());
    }
    return json(200, o);
}

ApiResponse entityWritten(int status, const Poco::JSON::Object::Ptr& entity, uint64_t version) {
    ApiResponse r = json(status, entity);
    r.headers.emplace_back("X-Config-Version", std::to_string(version));
    return r;
}

/// Upstreams and routes share one handler: the differences are in these traits.
struct UpstreamKind {
    using Spec = config::UpstreamSpec;
    static constexpr const char* kPath = "/upstreams";
    static constexpr const char* kName = "upstream";
    static constexpr const char* kNameField = "name";
    static const config::SharedList<Spec>& all(const config::Snapshot& s) {
        return s.doc->upstreams;
    }
    static Spec parse(const Object::Ptr& o, config::FieldErrors& e) {
        return config::upstreamFromJson(o, "", e);
    }
    static std::optional<Spec> find(config::ConfigService& c, const std::string& k) {
        return c.upstream(k);
    }
    static config::WriteResult create(config::ConfigService& c, Spec s, const std::string& a) {
        return c.createUpstream(std::move(s), a);
    }
    static config::WriteResult put(config::ConfigService& c, const std::string& k, Spec s,
                                   const std::string& a) {
        return c.putUpstream(k, std::move(s), a);
    }
    static config::WriteResult remove(config::ConfigService& c, const std::string& k,
                                      const std::string& a) {
        return c.deleteUpstream(k, a);
    }
};

struct RouteKind {
    using Spec = config::RouteSpec;
    static constexpr const char* kPath = "/routes";
    static constexpr const char* kName = "route";
    static constexpr const char* kNameField = "name";
    static const config::SharedList<Spec>& all(const config::Snapshot& s) { return s.doc->routes; }
    static Spec parse(const Object::Ptr& o, config::FieldErrors& e) {
        return config::routeFromJson(o, "", e);
    }
    static std::optional<Spec> find(config::ConfigService& c, const std::string& k) {
        return c.route(k);
    }
    static config::WriteResult create(config::ConfigService& c, Spec s, const std::string& a) {
        return c.createRoute(std::move(s), a);
    }
    static config::WriteResult put(config::ConfigService& c, const std::string& k, Spec s,
                                   const std::string& a) {
        return c.putRoute(k, std::move(s), a);
    }
    static config::WriteResult remove(config::ConfigService& c, const std::string& k,
                                      const std::string& a) {
        return c.deleteRoute(k, a);
    }
};

struct PluginKind {
    using Spec = config::PluginSpec;
    static constexpr const char* kPath = "/plugins";
    static constexpr const char* kName = "plugin";
    static constexpr const char* kNameField = "name";
    static const config::SharedList<Spec>& all(const config::Snapshot& s) { return s.doc->plugins; }
    static Spec parse(const Object::Ptr& o, config::FieldErrors& e) {
        return config::pluginFromJson(o, "", e);
    }
    static std::optional<Spec> find(config::ConfigService& c, const std::string& k) {
        return c.plugin(k);
    }
    static config::WriteResult create(config::ConfigService& c, Spec s, const std::string& a) {
        return c.createPlugin(std::move(s), a);
    }
    static config::WriteResult put(config::ConfigService& c, const std::string& k, Spec s,
                                   const std::string& a) {
        return c.putPlugin(k, std::move(s), a);
    }
    static config::WriteResult remove(config::ConfigService& c, const std::string& k,
                                      const std::string& a) {
        return c.deletePlugin(k, a);
    }
};

struct ConsumerKind {
    using Spec = config::ConsumerSpec;
    static constexpr const char* kPath = "/consumers";
    static constexpr const char* kName = "consumer";
    static constexpr const char* kNameField = "username";
    static const config::SharedList<Spec>& all(const config::Snapshot& s) {
        return s.doc->consumers;
    }
    static Spec parse(const Object::Ptr& o, config::FieldErrors& e) {
        return config::consumerFromJson(o, "", e);
    }
    static std::optional<Spec> find(config::ConfigService& c, const std::string& k) {
        return c.consumer(k);
    }
    static config::WriteResult create(config::ConfigService& c, Spec s, const std::string& a) {
        return c.createConsumer(std::move(s), a);
    }
    static config::WriteResult put(config::ConfigService& c, const std::string& k, Spec s,
                                   const std::string& a) {
        return c.putConsumer(k, std::move(s), a);
    }
    static config::WriteResult remove(config::ConfigService& c, const std::string& k,
                                      const std::string& a) {
        return c.deleteConsumer(k, a);
    }
};

/// GET /plugins/{id}/status: the plugin instance's own report of its runtime state (a circuit
/// breaker's states, say), next to which configured instance it is.
ApiResponse pluginStatus(const std::string& idOrName, config::ConfigService& config,
                         const StatusSource& status) {
    const auto snap = config.current();
    const config::PluginSpec* spec = nullptr;
    for (const auto& p : snap->doc->plugins)
        if (p.meta.id == idOrName) spec = &p;
    if (!spec) throw ApiError{404, "no plugin instance '" + idOrName + "'", {}, {}};
    Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
    o->set("id", spec->meta.id);
    o->set("name", spec->meta.name);
    o->set("route", spec->route.empty() ? Poco::Dynamic::Var() : Poco::Dynamic::Var(spec->route));
    o->set("enabled", spec->enabled);
    Poco::Dynamic::Var report;
    if (spec->enabled)
        if (const auto text = status.pluginStatus(spec->meta.name, spec->config)) {
            try {
                report = Poco::JSON::Parser().parse(*text);
            } catch (const Poco::Exception&) {
                o->set("status_error", "the plugin's status is not JSON");
            }
        }
    o->set("status", report);
    return json(200, o);
}

/// GET /plugins/available: what the loader accepted, with each plugin's schema, and what it
/// refused and why.
ApiResponse availablePlugins(const plugins::PluginRegistry* registry) {
    Array::Ptr data = new Array;
    Array::Ptr refused = new Array;
    if (registry) {
        for (const auto& p : registry->all()) {
            Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
            o->set("name", p->name);
            o->set("version", p->version);
            o->set("description", p->description);
            o->set("file", p->file);
            o->set("priority", p->defaultPriority);
            Array::Ptr phases = new Array;
            if (p->phases & GH_PHASE_REQUEST) phases->add("request");
            if (p->phases & GH_PHASE_REQUEST_BODY) phases->add("request_body");
            if (p->phases & GH_PHASE_RESPONSE) phases->add("response");
            if (p->phases & GH_PHASE_RESPONSE_BODY) phases->add("response_body");
            if (p->phases & GH_PHASE_LOG) phases->add("log");
            o->set("phases", phases);
            Poco::JSON::Parser parser;
            o->set("schema", parser.parse(p->schemaText));
            data->add(o);
        }
        for (const auto& r : registry->reports()) {
            if (r.loaded) continue;
            Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
            o->set("file", r.file);
            o->set("plugin", r.plugin);
            o->set("reason", r.reason);
            refused->add(o);
        }
    }
    Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
    o->set("data", data);
    o->set("refused", refused);
    return json(200, o);
}

template <typename Kind>
typename Kind::Spec parseEntity(const Object::Ptr& o) {
    config::FieldErrors errors;
    auto spec = Kind::parse(o, errors);
    if (!errors.empty())
        throw ApiError{400, std::string("invalid ") + Kind::kName, std::move(errors), {}};
    return spec;
}

/// Credentials are created at /consumers/{c}/credentials, where a generated key can be shown
/// once; a consumer body may not carry them.
template <typename Kind>
void refuseInlineCredentials(const Object::Ptr& body) {
    if constexpr (std::is_same_v<typename Kind::Spec, config::ConsumerSpec>) {
        if (body->has("credentials"))
            throw ApiError{400,
                           "invalid consumer",
                           {{"credentials", "are managed at /consumers/{consumer}/credentials"}},
                           {}};
    } else {
        (void)body;
    }
}

/// /consumers/{c}/credentials[/{id}]. A new key-auth credential without a key gets a
/// generated one; the key is in the 201 response and never again (only its hash is kept).
ApiResponse handleCredentials(const Call& call, config::ConfigService& config) {
    const std::string& m = call.req.method;
    const std::string& consumerKey = call.segments[1];
    const auto consumer = config.consumer(consumerKey);
    if (!consumer) throw ApiError{404, "no consumer '" + consumerKey + "'", {}, {}};
    if (call.segments.size() == 3) {
        if (m == "GET") {
            Array::Ptr data = new Array;
            for (const auto& c : consumer->credentials)
                data->add(config::toJson(c, config::SecretView::kApi));
            Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
            o->set("data", data);
            o->set("total", static_cast<uint64_t>(consumer->credentials.size()));
            return json(200, o);
        }
        if (m == "POST") {
            Object::Ptr body = parseBodyObject(call.req, false);
            std::string shownKey;
            if (body->optValue<std::string>("type", "") == "key-auth" && !body->has("key_hash")) {
                if (!body->has("key")) body->set("key", config::generateApiKey());
                if (body->get("key").isString()) shownKey = body->getValue<std::string>("key");
            }
            for (const char* stored : {"created_at"})
                body->remove(stored);
            config::FieldErrors errors;
            auto cred = config::credentialFromJson(body, "", errors);
            if (!errors.empty()) throw ApiError{400, "invalid credential", std::move(errors), {}};
            const std::string id = cred.id;
            const auto result =
                config.addCredential(consumer->meta.id, std::move(cred), call.actor);
            const auto now = config.consumer(consumer->meta.id);
            const config::CredentialSpec* created = nullptr;
            if (now)
                for (const auto& c : now->credentials)
                    if (c.id == id) created = &c;
            if (!created) throw ApiError{500, "created credential not found", {}, {}};
            Object::Ptr view = config::toJson(*created, config::SecretView::kApi);
            if (!shownKey.empty()) view->set("key", shownKey);  // this once
            ApiResponse r = entityWritten(201, view, result.version);
            r.headers.emplace_back("Location",
                                   "/consumers/" + consumer->meta.id + "/credentials/" + id);
            return r;
        }
        throw methodNotAllowed("GET, POST");
    }
    if (call.segments.size() != 4) throw ApiError{404, "not found", {}, {}};
    const std::string id = http::toLower(call.segments[3]);
    const config::CredentialSpec* found = nullptr;
    for (const auto& c : consumer->credentials)
        if (c.id == id) found = &c;
    if (m == "GET") {
        if (!found) throw ApiError{404, "no credential '" + call.segments[3] + "'", {}, {}};
        return json(200, config::toJson(*found, config::SecretView::kApi));
    }
    if (m == "DELETE") {
        const auto result = config.deleteCredential(consumer->meta.id, id, call.actor);
        ApiResponse r{204, "", {}};
        r.headers.emplace_back("X-Config-Version", std::to_string(result.version));
        return r;
    }
    throw methodNotAllowed("GET, DELETE");
}

template <typename Kind>
ApiResponse handleEntities(const Call& call, config::ConfigService& config) {
    const std::string& m = call.req.method;
    if (call.segments.size() == 1) {
        if (m == "GET") return listEntities(call, Kind::all(*config.current()), Kind::kPath);
        if (m == "POST") {
            const Object::Ptr body = parseBodyObject(call.req, false);
            refuseInlineCredentials<Kind>(body);
            auto spec = parseEntity<Kind>(body);
            const std::string id = spec.meta.id;
            const auto result = Kind::create(config, std::move(spec), call.actor);
            const auto created = Kind::find(config, id);
            if (!created) throw ApiError{500, "created entity not found", {}, {}};
            ApiResponse r = entityWritten(201, entityView(*created), result.version);
            r.headers.emplace_back("Location", std::string(Kind::kPath) + "/" + created->meta.id);
            return r;
        }
        throw methodNotAllowed("GET, POST");
    }
    if (call.segments.size() != 2) throw ApiError{404, "not found", {}, {}};
    const std::string& key = call.segments[1];
    if (m == "GET") {
        const auto spec = Kind::find(config, key);
        if (!spec) throw ApiError{404, std::string("no ") + Kind::kName + " '" + key + "'", {}, {}};
        return json(200, entityView(*spec));
    }
    if (m == "DELETE") {
        const auto result = Kind::remove(config, key, call.actor);
        ApiResponse r{204, "", {}};
        r.headers.emplace_back("X-Config-Version", std::to_string(result.version));
        return r;
    }
    if (m == "PUT" || m == "PATCH") {
        const auto existing = Kind::find(config, key);
        Object::Ptr body = parseBodyObject(call.req, m == "PATCH");
        refuseInlineCredentials<Kind>(body);
        if (m == "PATCH") {
            if (!existing)
                throw ApiError{404, std::string("no ") + Kind::kName + " '" + key + "'", {}, {}};
            Object::Ptr merged = deepCopy(entityView(*existing));
            merged->remove("credentials");
            mergePatch(merged, body);
            body = merged;
        }
        // The key in the path identifies the entity; a body may not contradict it.
        const bool byId = config::looksLikeUuid(key);
        if (body->has("id") && !body->get("id").isEmpty()) {
            const std::string id = http::toLower(body->get("id").toString());
            const std::string expected =
                existing ? existing->meta.id : (byId ? http::toLower(key) : id);
            if (id != expected)
                throw ApiError{400, "the id cannot change", {{"id", "must be " + expected}}, {}};
        }
        if (!byId) {
            const char* field = Kind::kNameField;
            if (!body->has(field) || body->get(field).isEmpty())
                body->set(field, key);
            else if (body->get(field).toString() != key && !existing)
                throw ApiError{400,
                               std::string(field) + " does not match the path",
                               {{field, "must be '" + key + "'"}},
                               {}};
        }
        for (const char* ts : {"created_at", "updated_at"})
            body->remove(ts);  // the store sets them
        auto spec = parseEntity<Kind>(body);
        if constexpr (std::is_same_v<typename Kind::Spec, config::ConsumerSpec>) {
            if (existing) spec.credentials = existing->credentials;  // managed separately
        }
        const auto result = Kind::put(config, key, std::move(spec), call.actor);
        const auto now = Kind::find(config, existing ? existing->meta.id : key);
        if (!now) throw ApiError{500, "written entity not found", {}, {}};
        return entityWritten(existing ? 200 : 201, entityView(*now), result.version);
    }
    throw methodNotAllowed("GET, PUT, PATCH, DELETE");
}

ApiResponse handleConfig(const Call& call, config::ConfigService& config) {
    const std::string& m = call.req.method;
    if (call.segments.size() == 1) {
        if (m == "GET") {
            ApiResponse r{200, exportText(*config.current()->doc), {}};
            r.headers.emplace_back("X-Config-Version", std::to_string(config.version()));
            return r;
        }
        if (m == "PUT") {
            parseBodyObject(call.req, false);  // content type and JSON shape
            config::ConfigDocument doc = config::documentFromJson(call.req.body);
            const bool dry = flag(call.query, "dry_run");
            const auto result = config.replaceAll(std::move(doc), call.actor, "import", dry);
            ApiResponse r = json(200, writeResultJson(result));
            r.headers.emplace_back("X-Config-Version", std::to_string(result.version));
            return r;
        }
        throw methodNotAllowed("GET, PUT");
    }
    const std::string& sub = call.segments[1];
    if (sub == "history") {
        if (m != "GET") throw methodNotAllowed("GET");
        config::Store& store = config.store();
        if (call.segments.size() == 2) {
            const uint64_t size = number(call.query, "size", 50, 1, 1000);
            const uint64_t offset = number(call.query, "offset", 0, 0, UINT32_MAX);
            Array::Ptr data = new Array;
            for (const auto& h : store.history(offset, size)) {
                Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
                o->set("version", h.version);
                o->set("at", h.at);
                o->set("actor", h.actor);
                o->set("action", h.action);
                o->set("summary", h.summary);
                data->add(o);
            }
            Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
            o->set("data", data);
            o->set("total", static_cast<uint64_t>(store.historyCount()));
            o->set("offset", offset);
            o->set("size", size);
            return json(200, o);
        }
        if (call.segments.size() != 3) throw ApiError{404, "not found", {}, {}};
        uint64_t v = 0;
        const std::string& text = call.segments[2];
        auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec != std::errc() || ptr != text.data() + text.size())
            throw ApiError{404, "no version '" + text + "'", {}, {}};
        const auto rec = store.historyRecord(v);
        if (!rec) throw ApiError{404, "no version " + text, {}, {}};
        Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
        o->set("version", rec->version);
        o->set("at", rec->at);
        o->set("actor", rec->actor);
        o->set("action", rec->action);
        o->set("summary", rec->summary);
        Array::Ptr changes = new Array;
        for (const auto& c : store.changesOf(v))
            changes->add(changeJson(c));
        o->set("changes", changes);
        if (flag(call.query, "include_config")) {
            Object::Ptr doc = config::toJson(config.documentAt(v));
            if (Array::Ptr cs = doc->getArray("consumers"))
                for (size_t i = 0; i < cs->size(); ++i)
                    redactConsumer(cs->getObject(static_cast<unsigned>(i)), false);
            o->set("config", doc);
        }
        return json(200, o);
    }
    if (sub == "rollback" && call.segments.size() == 2) {
        if (m != "POST") throw methodNotAllowed("POST");
        const Object::Ptr body = parseBodyObject(call.req, false);
        const auto v = body->get("version");
        if (!v.isInteger() || v.convert<int64_t>() < 0)
            throw ApiError{
                400, "invalid rollback", {{"version", "must be a non-negative integer"}}, {}};
        const uint64_t target = v.convert<uint64_t>();
        if (target > config.version())
            throw ApiError{404, "no version " + std::to_string(target), {}, {}};
        if (target > 0 && !config.store().historyRecord(target))
            throw ApiError{404, "no version " + std::to_string(target), {}, {}};
        const auto result = config.rollback(target, call.actor, flag(call.query, "dry_run"));
        ApiResponse r = json(200, writeResultJson(result));
        r.headers.emplace_back("X-Config-Version", std::to_string(result.version));
        return r;
    }
    throw ApiError{404, "not found", {}, {}};
}

}  // namespace

AdminApi::AdminApi(config::ConfigService& config, AdminToken& token, const StatusSource& status,
                   size_t maxBodyBytes, const plugins::PluginRegistry* plugins,
                   const observe::MetricRegistry* metrics)
    : config_(config),
      token_(token),
      status_(status),
      maxBodyBytes_(maxBodyBytes),
      plugins_(plugins),
      metrics_(metrics) {}

ApiResponse AdminApi::handle(const ApiRequest& request) const {
    // HEAD is GET without a body (the HTTP server drops the body): same handling.
    ApiRequest headAsGet;
    if (request.method == "HEAD") {
        headAsGet = request;
        headAsGet.method = "GET";
    }
    const ApiRequest& req = request.method == "HEAD" ? headAsGet : request;
    ApiResponse response;
    try {
        Call call{req, split(req.path), parseQuery(req.query), "admin@" + req.peer};
        // A token in a URL ends up in logs and browser history: refused, even a valid one.
        for (const auto& [k, v] : call.query) {
            const std::string key = http::toLower(k);
            if (key == "token" || key == "access_token" || key == "api_key" || key == "apikey")
                throw ApiError{
                    401,
                    "tokens are not accepted in the query string; send Authorization: Bearer",
                    {},
                    {{"WWW-Authenticate", "Bearer realm=\"gatehouse-admin\""}}};
        }
        std::string_view auth = http::trimOws(req.authorization);
        const bool bearer = auth.size() > 7 && http::iequals(auth.substr(0, 7), "bearer ");
        if (!bearer || !token_.verify(http::trimOws(auth.substr(7))))
            throw ApiError{
                401,
                bearer ? "invalid admin token" : "missing admin token (Authorization: Bearer ...)",
                {},
                {{"WWW-Authenticate", "Bearer realm=\"gatehouse-admin\""}}};
        if (req.bodyTooLarge)
            throw ApiError{413,
                           "request body larger than " + std::to_string(maxBodyBytes_) + " bytes",
                           {},
                           {}};

        const auto& s = call.segments;
        const std::string first = s.empty() ? "" : s[0];
        if (first == "upstreams") {
            response = handleEntities<UpstreamKind>(call, config_);
        } else if (first == "routes") {
            response = handleEntities<RouteKind>(call, config_);
        } else if (first == "consumers" && s.size() >= 3 && s[2] == "credentials") {
            response = handleCredentials(call, config_);
        } else if (first == "consumers") {
            response = handleEntities<ConsumerKind>(call, config_);
        } else if (first == "plugins" && s.size() == 3 && s[2] == "status") {
            if (req.method != "GET") throw methodNotAllowed("GET");
            response = pluginStatus(s[1], config_, status_);
        } else if (first == "plugins" && s.size() == 2 && s[1] == "available") {
            if (req.method != "GET") throw methodNotAllowed("GET");
            response = availablePlugins(plugins_);
        } else if (first == "plugins") {
            response = handleEntities<PluginKind>(call, config_);
        } else if (first == "metrics" && s.size() == 1) {
            if (req.method != "GET") throw methodNotAllowed("GET");
            std::string text =
                "# HELP gatehouse_config_version The configuration version in force.\n"
                "# TYPE gatehouse_config_version gauge\n"
                "gatehouse_config_version " +
                std::to_string(config_.version()) + "\n";
            status_.appendMetrics(text);
            if (metrics_) text += metrics_->render();  // plugin-defined metrics
            response = {200,
                        std::move(text),
                        {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}}};
        } else if (first == "config") {
            response = handleConfig(call, config_);
        } else if (first == "status" && s.size() == 2 && s[1] == "routes") {
            if (req.method != "GET") throw methodNotAllowed("GET");
            Poco::JSON::Array::Ptr list = new Poco::JSON::Array;
            for (const auto& r : status_.routeStatus()) {
                Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
                o->set("route", r.route);
                o->set("requests", r.requests);
                o->set("errors", r.errors);
                o->set("window_s", std::round(r.windowS * 10) / 10);
                const double window = r.windowS > 1 ? r.windowS : 1;
                o->set("rate_per_s",
                       std::round(static_cast<double>(r.requests) / window * 100) / 100);
                o->set("error_rate", std::round(static_cast<double>(r.errors) /
                                                static_cast<double>(r.requests) * 10000) /
                                         10000);
                auto ms = [](double us) {
                    return us < 0 ? Poco::Dynamic::Var()
                                  : Poco::Dynamic::Var(std::round(us) / 1000);
                };
                o->set("p50_ms", ms(r.p50Us));
                o->set("p99_ms", ms(r.p99Us));
                list->add(o);
            }
            Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
            o->set("window_s", 60);
            o->set("routes", list);
            response = json(200, o);
        } else if (first == "status" && s.size() == 1) {
            if (req.method != "GET") throw methodNotAllowed("GET");
            const GatewayStatus st = status_.status();
            Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
            o->set("version", std::string(GATEHOUSE_VERSION));
            o->set("uptime_s", st.uptimeMs / 1000);
            o->set("workers", st.workers);
            Object::Ptr conns = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
            conns->set("open", st.openConnections);
            conns->set("accepted_total", st.acceptedConnections);
            o->set("connections", conns);
            o->set("requests_total", st.requests);
            o->set("config_version", config_.version());
            o->set("ready", st.ready && !st.draining);
            o->set("draining", st.draining);
            response = json(200, o);
        } else if (first == "ready" && s.size() == 1) {
            if (req.method != "GET") throw methodNotAllowed("GET");
            const GatewayStatus st = status_.status();
            Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
            const bool ready = st.ready && !st.draining;
            o->set("ready", ready);
            if (!ready) o->set("reason", st.draining ? "draining" : "configuration not loaded");
            o->set("config_version", config_.version());
            response = json(ready ? 200 : 503, o);
        } else if (first == "openapi.json" && s.size() == 1) {
            if (req.method != "GET") throw methodNotAllowed("GET");
            response = {200, openApiDocument(), {}};
        } else {
            throw ApiError{404, "not found", {}, {}};
        }
    } catch (const ApiError& e) {
        response = errorResponse(e);
    } catch (const config::ValidationError& e) {
        response = errorResponse({400, e.what(), e.fields, {}});
    } catch (const config::NotFound& e) {
        response = errorResponse({404, e.what(), {}, {}});
    } catch (const config::Conflict& e) {
        response = errorResponse({409, e.what(), e.fields, {}});
    } catch (const std::exception& e) {
        response = errorResponse({500, std::string("internal error: ") + e.what(), {}, {}});
    }
    response.headers.emplace_back("X-Content-Type-Options", "nosniff");
    response.headers.emplace_back("Cache-Control", "no-store");
    return response;
}

}  // namespace gatehouse::admin
