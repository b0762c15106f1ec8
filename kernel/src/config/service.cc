#include "config/service.h"

#include <Poco/JSON/Parser.h>
#include <Poco/UUID.h>

#include <algorithm>
#include <cassert>
#include <ctime>
#include <map>
#include <set>

#include "common/yield.h"
#include "config/diff.h"
#include "http/ascii.h"

namespace gatehouse::config {
namespace {

/// Ids are stored in the canonical (lower-case) UUID form; a key may come in any case.
std::string canonicalKey(const std::string& idOrName) {
    return looksLikeUuid(idOrName) ? http::toLower(idOrName) : idOrName;
}

template <typename Spec>
auto findIn(const SharedList<Spec>& list, const std::string& idOrName) {
    const bool byId = looksLikeUuid(idOrName);
    const std::string key = canonicalKey(idOrName);
    return std::find_if(list.begin(), list.end(), [&](const Spec& s) {
        return byId ? s.meta.id == key : s.meta.name == key;
    });
}

template <typename Spec>
std::optional<Spec> lookup(const SharedList<Spec>& list, const std::string& idOrName) {
    auto it = findIn(list, idOrName);
    if (it == list.end()) return std::nullopt;
    return *it;
}

/// 409 when another entity of the same kind already has `spec`'s name or id.
template <typename Spec>
void checkUnique(const SharedList<Spec>& list, const Spec& spec, const char* kind) {
    for (const auto& s : list) {
        if (s.meta.id == spec.meta.id) continue;
        if (s.meta.name == spec.meta.name) {
            const char* field = std::is_same_v<Spec, ConsumerSpec> ? "username" : "name";
            throw Conflict(std::string(kind) + " " + field + " '" + spec.meta.name +
                               "' is already used by " + s.meta.id,
                           {{field, "is already used"}});
        }
    }
}

template <typename Spec>
Spec parseStored(const std::string& json) {
    Poco::JSON::Parser p;
    const auto o = p.parse(json).extract<Poco::JSON::Object::Ptr>();
    FieldErrors errors;
    if constexpr (std::is_same_v<Spec, UpstreamSpec>)
        return upstreamFromJson(o, "", errors);
    else if constexpr (std::is_same_v<Spec, RouteSpec>)
        return routeFromJson(o, "", errors);
    else if constexpr (std::is_same_v<Spec, ConsumerSpec>)
        return consumerFromJson(o, "", errors);
    else
        return pluginFromJson(o, "", errors);
}

/// Undoes one recorded change on an id → entity map.
template <typename Spec>
void undo(std::map<std::string, Spec>& entities, const StoredChange& c) {
    if (!c.before) {
        entities.erase(c.id);
        return;
    }
    Spec s = parseStored<Spec>(*c.before);
    if constexpr (std::is_same_v<Spec, RouteSpec>) s.position = c.beforePosition.value_or(0);
    entities[c.id] = std::move(s);
}

/// The store's plugin order: name, route, consumer, id.
void sortPlugins(ConfigDocument& doc) {
    doc.plugins.sortBy([](const auto& a, const auto& b) {
        return std::tie(a.meta.name, a.route, a.consumer, a.meta.id) <
               std::tie(b.meta.name, b.route, b.consumer, b.meta.id);
    });
}

std::string quoted(const std::string& s) {
    return "'" + s + "'";
}

/// The names of the routes in `doc` that send traffic to `upstream`.
std::vector<std::string> routeNamesUsing(const ConfigDocument& doc, const std::string& upstream) {
    std::vector<std::string> names;
    for (const auto& r : doc.routes)
        if (r.upstream == upstream) names.push_back(r.meta.name);
    return names;
}

/// The same, comma-separated, for messages.
std::string routesUsingIn(const ConfigDocument& doc, const std::string& upstream) {
    std::string out;
    for (const auto& n : routeNamesUsing(doc, upstream))
        out += (out.empty() ? "" : ", ") + n;
    return out;
}

/// "an upstream", "a route" or "a plugin" when one in `doc` has `id`, else nullptr: ids
/// are unique across kinds.
const char* kindWithId(const ConfigDocument& doc, const std::string& id) {
    auto has = [&](const auto& list) {
        return std::any_of(list.begin(), list.end(),
                           [&](const auto& s) { return s.meta.id == id; });
    };
    if (has(doc.upstreams)) return "an upstream";
    if (has(doc.routes)) return "a route";
    if (has(doc.plugins)) return "a plugin";
    if (has(doc.consumers)) return "a consumer";
    for (const auto& c : doc.consumers)
        for (const auto& cr : c.credentials)
            if (cr.id == id) return "a credential";
    return nullptr;
}

/// What a request presents to be found by one credential: key hash, kid / issuer, username.
std::string credentialLookupKey(const CredentialSpec& c) {
    switch (c.type) {
        case CredentialType::kKeyAuth:
            return "key-auth:" + c.keyHash;
        case CredentialType::kJwt:
            return "jwt:" + (c.kid.empty() ? c.issuer : c.kid);
        case CredentialType::kBasicAuth:
            return "basic-auth:" + c.username;
    }
    return {};
}

/// 409 when one of `spec`'s credentials collides with another consumer's (or its own).
void checkCredentials(const ConfigDocument& doc, ConsumerSpec& spec) {
    std::map<std::string, std::string> taken;  // lookup key → consumer username
    std::set<std::string> ids;
    for (const auto& c : doc.consumers) {
        if (c.meta.id == spec.meta.id) continue;
        for (const auto& cr : c.credentials) {
            taken[credentialLookupKey(cr)] = c.meta.name;
            ids.insert(cr.id);
        }
    }
    const int64_t now = std::time(nullptr);
    for (size_t i = 0; i < spec.credentials.size(); ++i) {
        auto& cr = spec.credentials[i];
        const std::string at = "credentials[" + std::to_string(i) + "]";
        if (!cr.createdAt) cr.createdAt = now;
        if (cr.type == CredentialType::kJwt && cr.algorithm.rfind("HS", 0) == 0 &&
            cr.secret.empty())
            throw ValidationError("invalid credential", {{at + ".secret", "is required"}});
        const std::string key = credentialLookupKey(cr);
        auto it = taken.find(key);
        if (it != taken.end()) {
            const char* field = cr.type == CredentialType::kKeyAuth     ? "key"
                                : cr.type == CredentialType::kBasicAuth ? "username"
                                : cr.kid.empty()                        ? "issuer"
                                                                        : "kid";
            throw Conflict(std::string(credentialTypeName(cr.type)) + " credential " + field +
                               " is already used by " +
                               (it->second == spec.meta.name ? std::string("this consumer")
                                                             : "consumer " + quoted(it->second)),
                           {{at + "." + field, "is already used"}});
        }
        taken[key] = spec.meta.name;
        // Ids are unique across kinds; this consumer's own credentials are in `doc` too.
        const char* kind = kindWithId(doc, cr.id);
        if (!ids.insert(cr.id).second || (kind && std::string_view(kind) != "a credential"))
            throw Conflict("credential id " + cr.id + " is already used",
                           {{at + ".id", "is already used"}});
    }
}

/// Routes name their upstream (by name, never by id).
void checkUpstreamExists(const ConfigDocument& doc, const std::string& name) {
    for (const auto& u : doc.upstreams)
        if (u.meta.name == name) return;
    throw ValidationError("invalid route", {{"upstream", "no upstream named " + quoted(name)}});
}

}  // namespace

bool looksLikeUuid(const std::string& s) {
    Poco::UUID u;
    return s.size() == 36 && u.tryParse(s);
}

ConfigService::ConfigService(Store& store, upstream::TargetRegistry& targets, unsigned workers,
                             SettingsSource settings, Publisher publish,
                             const plugins::PluginRuntime* plugins,
                             observe::TrafficMetrics* traffic)
    : store_(store),
      targets_(targets),
      workers_(workers),
      plugins_(plugins),
      traffic_(traffic),
      settings_(std::move(settings)),
      publish_(std::move(publish)) {
    // An empty configuration until reload(): reads never see null.
    current_ = compile(std::make_shared<const ConfigDocument>(), 0);
}

std::shared_ptr<const Snapshot> ConfigService::compile(std::shared_ptr<const ConfigDocument> doc,
                                                       uint64_t version) {
    return buildSnapshot(std::move(doc), version, settings_(), targets_, workers_, plugins_,
                         traffic_);
}

std::shared_ptr<const Snapshot> ConfigService::current() const {
    std::lock_guard lock(currentMutex_);
    return current_;
}

std::shared_ptr<const Snapshot> ConfigService::reload() {
    std::lock_guard write(writeMutex_);
    const uint64_t version = store_.version();
    auto snap = compile(std::make_shared<const ConfigDocument>(store_.load()), version);
    {
        std::lock_guard lock(currentMutex_);
        current_ = snap;
    }
    if (publish_) publish_(snap);
    return snap;
}

std::optional<UpstreamSpec> ConfigService::upstream(const std::string& idOrName) const {
    return lookup(current()->doc->upstreams, idOrName);
}

std::optional<RouteSpec> ConfigService::route(const std::string& idOrName) const {
    return lookup(current()->doc->routes, idOrName);
}

std::vector<std::string> ConfigService::routesUsing(const std::string& upstreamName) const {
    return routeNamesUsing(*current()->doc, upstreamName);
}

WriteResult ConfigService::write(ConfigDocument candidate, const std::string& actor,
                                 const std::string& action, const std::string& what, bool dryRun,
                                 DocumentRules rules) {
    // Caller holds writeMutex_.
    const auto base = current();
    // Upstreams and plugins are kept in the order the store loads them, so the served
    // document, its export and documentAt() agree.
    candidate.upstreams.sortBy(
        [](const auto& a, const auto& b) { return a.meta.name < b.meta.name; });
    candidate.consumers.sortBy(
        [](const auto& a, const auto& b) { return a.meta.name < b.meta.name; });
    sortPlugins(candidate);
    if (rules == DocumentRules::kCheckAll) {
        FieldErrors errors;
        validateDocument(candidate, errors);
        if (!errors.empty()) throw ValidationError("invalid configuration", std::move(errors));
    } else {
#ifndef NDEBUG
        // Debug builds (the test suites) prove on every entity write that the entity checks
        // kept the whole document valid.
        FieldErrors errors;
        validateDocument(candidate, errors);
        assert(errors.empty() && "an entity write broke a document-wide rule");
#endif
    }

    WriteResult result;
    result.dryRun = dryRun;
    result.changes = computeChanges(*base->doc, candidate, std::time(nullptr));
    result.version = base->version;
    if (result.changes.empty()) return result;  // nothing to do: no new version

    auto doc = std::make_shared<const ConfigDocument>(std::move(candidate));
    yieldToDataPlane();  // a write is a few ms of CPU at 10,000 routes: let workers in between
    auto snap = compile(doc, base->version + 1);  // throws ValidationError: nothing written
    yieldToDataPlane();
    if (dryRun) return result;

    const std::string summary = what.empty() ? action + " " + countSummary(result.changes) : what;
    try {
        result.version = store_.commit(base->version, result.changes, actor, action, summary);
    } catch (const StaleVersion&) {
        // Someone else (the CLI) wrote the store: take their state and let the caller retry.
        std::shared_ptr<const Snapshot> fresh;
        try {
            const uint64_t v = store_.version();
            fresh = compile(std::make_shared<const ConfigDocument>(store_.load()), v);
        } catch (...) {
        }
        if (fresh) {
            {
                std::lock_guard lock(currentMutex_);
                current_ = fresh;
            }
            if (publish_) publish_(fresh);
        }
        throw Conflict("the configuration was changed by another writer; retry against version " +
                       std::to_string(fresh ? fresh->version : base->version));
    }
    {
        std::lock_guard lock(currentMutex_);
        current_ = snap;
    }
    if (publish_) publish_(snap);
    return result;
}

/// How each kind of entity lives in the document, and what it must check or carry along
/// when one is written or removed: the rest of a write is the same for every kind.
template <>
struct ConfigService::Kind<UpstreamSpec> {
    static constexpr const char* kName = "upstream";
    static SharedList<UpstreamSpec>& list(ConfigDocument& d) { return d.upstreams; }
    static void beforeWrite(const ConfigService&, ConfigDocument& doc, UpstreamSpec& spec,
                            const UpstreamSpec* old) {
        if (!old || spec.meta.name == old->meta.name) return;
        if (const std::string users = routesUsingIn(doc, old->meta.name); !users.empty())
            throw Conflict("upstream " + quoted(old->meta.name) +
                               " cannot be renamed: routes use it (" + users + ")",
                           {{"name", "is referenced by routes: " + users}});
    }
    static void beforeRemove(ConfigDocument& doc, const UpstreamSpec& old) {
        if (const std::string users = routesUsingIn(doc, old.meta.name); !users.empty())
            throw Conflict("upstream " + quoted(old.meta.name) + " is used by routes: " + users);
    }
};

template <>
struct ConfigService::Kind<RouteSpec> {
    static constexpr const char* kName = "route";
    static SharedList<RouteSpec>& list(ConfigDocument& d) { return d.routes; }
    static void beforeWrite(const ConfigService&, ConfigDocument& doc, RouteSpec& spec,
                            const RouteSpec* old) {
        checkUpstreamExists(doc, spec.upstream);
        if (old) {
            spec.position = old->position;
            for (size_t i = 0; i < doc.plugins.size(); ++i)  // a rename keeps them
                if (doc.plugins[i].route == old->meta.name)
                    doc.plugins.edit(i).route = spec.meta.name;
            return;
        }
        int64_t last = -1;  // a new route goes last in the table
        for (const auto& r : doc.routes)
            last = std::max(last, r.position);
        spec.position = last + 1;
    }
    static void beforeRemove(ConfigDocument& doc, const RouteSpec& old) {
        doc.plugins.eraseIf([&](const PluginSpec& p) { return p.route == old.meta.name; });
    }
};

template <>
struct ConfigService::Kind<PluginSpec> {
    static constexpr const char* kName = "plugin";
    static SharedList<PluginSpec>& list(ConfigDocument& d) { return d.plugins; }
    static void beforeWrite(const ConfigService& service, ConfigDocument& doc, PluginSpec& spec,
                            const PluginSpec*) {
        service.checkPlugin(doc, spec);
    }
    static void beforeRemove(ConfigDocument&, const PluginSpec&) {}
};

template <>
struct ConfigService::Kind<ConsumerSpec> {
    static constexpr const char* kName = "consumer";
    static SharedList<ConsumerSpec>& list(ConfigDocument& d) { return d.consumers; }
    static void beforeWrite(const ConfigService&, ConfigDocument& doc, ConsumerSpec& spec,
                            const ConsumerSpec* old) {
        checkCredentials(doc, spec);
        if (!old || old->meta.name == spec.meta.name) return;
        for (size_t i = 0; i < doc.plugins.size(); ++i)  // a rename keeps its plugins
            if (doc.plugins[i].consumer == old->meta.name)
                doc.plugins.edit(i).consumer = spec.meta.name;
    }
    static void beforeRemove(ConfigDocument& doc, const ConsumerSpec& old) {
        doc.plugins.eraseIf([&](const PluginSpec& p) {
            return p.consumer == old.meta.name || p.consumer == old.meta.id;
        });
    }
};

/// POST (key == nullptr) or PUT (create or replace the entity `*key`).
template <typename Spec>
WriteResult ConfigService::putEntity(const std::string* key, Spec spec, const std::string& actor) {
    using K = Kind<Spec>;
    std::lock_guard lock(writeMutex_);
    ConfigDocument doc = *current()->doc;
    auto& list = K::list(doc);
    auto it = list.end();
    if (key) {
        // Plugin instances have no unique name: a PUT addresses them by id only.
        if (std::is_same_v<Spec, PluginSpec> && !looksLikeUuid(*key))
            throw NotFound(std::string(K::kName) + "s are addressed by id; " + quoted(*key) +
                           " is not a UUID");
        it = findIn(list, *key);
        if (it == list.end() && looksLikeUuid(*key)) spec.meta.id = canonicalKey(*key);
    } else if (!spec.meta.generatedId && findIn(list, spec.meta.id) != list.end()) {
        throw Conflict(std::string("a ") + K::kName + " with id " + spec.meta.id + " exists",
                       {{"id", "is already used"}});
    }
    const Spec* old = it == list.end() ? nullptr : &*it;
    if (old) {
        spec.meta.id = old->meta.id;
        spec.meta.createdAt = old->meta.createdAt;
    } else if (!spec.meta.generatedId || key) {
        // An id the client chose (generated ones are random v4 UUIDs).
        if (const char* kind = kindWithId(doc, spec.meta.id))
            throw Conflict(std::string("id ") + spec.meta.id + " is already used by " + kind,
                           {{"id", "is already used"}});
    }
    if constexpr (!std::is_same_v<Spec, PluginSpec>) checkUnique(list, spec, K::kName);
    K::beforeWrite(*this, doc, spec, old);
    const std::string what =
        std::string(old ? "update " : "create ") + K::kName + " " + quoted(spec.meta.name);
    const char* action = old ? "update" : "create";
    const std::string id = spec.meta.id;
    if (old)
        list.replace(static_cast<size_t>(it - list.begin()), std::move(spec));
    else
        list.push_back(std::move(spec));
    if constexpr (!std::is_same_v<Spec, PluginSpec>) {
        return write(std::move(doc), actor, action, what, false,
                     DocumentRules::kKeptByEntityChecks);
    } else {
        // Compiling the document reports a refused instance as "plugins[i].config"; for a
        // write of one plugin, say "config" as its schema errors do.
        sortPlugins(doc);
        size_t index = 0;
        while (index < doc.plugins.size() && doc.plugins[index].meta.id != id)
            ++index;
        try {
            return write(std::move(doc), actor, action, what, false,
                         DocumentRules::kKeptByEntityChecks);
        } catch (const ValidationError& e) {
            const std::string prefix = "plugins[" + std::to_string(index) + "]";
            FieldErrors fields;
            for (const auto& [k, v] : e.fields)
                fields.emplace(k.rfind(prefix + ".", 0) == 0 ? k.substr(prefix.size() + 1) : k, v);
            throw ValidationError(e.what(), std::move(fields));
        }
    }
}

template <typename Spec>
WriteResult ConfigService::removeEntity(const std::string& key, const std::string& actor) {
    using K = Kind<Spec>;
    std::lock_guard lock(writeMutex_);
    ConfigDocument doc = *current()->doc;
    auto& list = K::list(doc);
    const bool addressable = !std::is_same_v<Spec, PluginSpec> || looksLikeUuid(key);
    auto it = addressable ? findIn(list, key) : list.end();
    if (it == list.end()) throw NotFound(std::string("no ") + K::kName + " " + quoted(key));
    const Spec old = *it;
    list.erase(it);
    K::beforeRemove(doc, old);
    return write(std::move(doc), actor, "delete",
                 std::string("delete ") + K::kName + " " + quoted(old.meta.name), false,
                 DocumentRules::kKeptByEntityChecks);
}

WriteResult ConfigService::createUpstream(UpstreamSpec spec, const std::string& actor) {
    return putEntity(nullptr, std::move(spec), actor);
}
WriteResult ConfigService::putUpstream(const std::string& idOrName, UpstreamSpec spec,
                                       const std::string& actor) {
    return putEntity(&idOrName, std::move(spec), actor);
}
WriteResult ConfigService::deleteUpstream(const std::string& idOrName, const std::string& actor) {
    return removeEntity<UpstreamSpec>(idOrName, actor);
}
WriteResult ConfigService::createRoute(RouteSpec spec, const std::string& actor) {
    return putEntity(nullptr, std::move(spec), actor);
}
WriteResult ConfigService::putRoute(const std::string& idOrName, RouteSpec spec,
                                    const std::string& actor) {
    return putEntity(&idOrName, std::move(spec), actor);
}
WriteResult ConfigService::deleteRoute(const std::string& idOrName, const std::string& actor) {
    return removeEntity<RouteSpec>(idOrName, actor);
}
WriteResult ConfigService::createPlugin(PluginSpec spec, const std::string& actor) {
    return putEntity(nullptr, std::move(spec), actor);
}
WriteResult ConfigService::putPlugin(const std::string& id, PluginSpec spec,
                                     const std::string& actor) {
    return putEntity(&id, std::move(spec), actor);
}
WriteResult ConfigService::deletePlugin(const std::string& id, const std::string& actor) {
    return removeEntity<PluginSpec>(id, actor);
}

WriteResult ConfigService::createConsumer(ConsumerSpec spec, const std::string& actor) {
    return putEntity(nullptr, std::move(spec), actor);
}
WriteResult ConfigService::putConsumer(const std::string& idOrName, ConsumerSpec spec,
                                       const std::string& actor) {
    return putEntity(&idOrName, std::move(spec), actor);
}
WriteResult ConfigService::deleteConsumer(const std::string& idOrName, const std::string& actor) {
    return removeEntity<ConsumerSpec>(idOrName, actor);
}
std::optional<ConsumerSpec> ConfigService::consumer(const std::string& idOrName) const {
    return lookup(current()->doc->consumers, idOrName);
}

WriteResult ConfigService::addCredential(const std::string& consumerKey, CredentialSpec credential,
                                         const std::string& actor) {
    std::lock_guard lock(writeMutex_);
    ConfigDocument doc = *current()->doc;
    auto it = findIn(doc.consumers, consumerKey);
    if (it == doc.consumers.end()) throw NotFound("no consumer " + quoted(consumerKey));
    const size_t index = static_cast<size_t>(it - doc.consumers.begin());
    ConsumerSpec spec = *it;
    const std::string type = credentialTypeName(credential.type);
    spec.credentials.push_back(std::move(credential));
    try {
        checkCredentials(doc, spec);
    } catch (Conflict& e) {
        // Relative to the credential being added, not to the consumer's list.
        const std::string prefix =
            "credentials[" + std::to_string(spec.credentials.size() - 1) + "].";
        FieldErrors fields;
        for (const auto& [k, v] : e.fields)
            fields.emplace(k.rfind(prefix, 0) == 0 ? k.substr(prefix.size()) : k, v);
        throw Conflict(e.what(), std::move(fields));
    }
    const std::string what = "add " + type + " credential to consumer " + quoted(spec.meta.name);
    doc.consumers.replace(index, std::move(spec));
    return write(std::move(doc), actor, "update", what, false, DocumentRules::kKeptByEntityChecks);
}

WriteResult ConfigService::deleteCredential(const std::string& consumerKey,
                                            const std::string& credentialId,
                                            const std::string& actor) {
    std::lock_guard lock(writeMutex_);
    ConfigDocument doc = *current()->doc;
    auto it = findIn(doc.consumers, consumerKey);
    if (it == doc.consumers.end()) throw NotFound("no consumer " + quoted(consumerKey));
    const size_t index = static_cast<size_t>(it - doc.consumers.begin());
    ConsumerSpec spec = *it;
    const std::string id = http::toLower(credentialId);
    const auto before = spec.credentials.size();
    std::erase_if(spec.credentials, [&](const CredentialSpec& c) { return c.id == id; });
    if (spec.credentials.size() == before)
        throw NotFound("consumer " + quoted(spec.meta.name) + " has no credential " +
                       quoted(credentialId));
    const std::string what = "delete credential " + id + " of consumer " + quoted(spec.meta.name);
    doc.consumers.replace(index, std::move(spec));
    return write(std::move(doc), actor, "update", what, false, DocumentRules::kKeptByEntityChecks);
}

std::optional<PluginSpec> ConfigService::plugin(const std::string& id) const {
    if (!looksLikeUuid(id)) return std::nullopt;
    return lookup(current()->doc->plugins, id);
}

/// Checks one plugin spec with errors relative to the entity ("config.header"), before the
/// whole document is compiled (whose errors would say "plugins[3].config.header").
void ConfigService::checkPlugin(const ConfigDocument& doc, const PluginSpec& spec) const {
    FieldErrors errors;
    if (!spec.route.empty() &&
        std::none_of(doc.routes.begin(), doc.routes.end(),
                     [&](const auto& r) { return r.meta.name == spec.route; }))
        errors.emplace("route", "no route named " + quoted(spec.route));
    auto loaded =
        plugins_ && plugins_->registry ? plugins_->registry->find(spec.meta.name) : nullptr;
    if (!loaded) {
        errors.emplace("name", "no plugin named " + quoted(spec.meta.name) + " is loaded");
    } else {
        auto schemaErrors = loaded->schema->validate(spec.config, "config");
        errors.insert(schemaErrors.begin(), schemaErrors.end());
    }
    if (!errors.empty()) throw ValidationError("invalid plugin", std::move(errors));
    for (const auto& p : doc.plugins) {
        if (p.meta.id != spec.meta.id && p.meta.name == spec.meta.name && p.route == spec.route &&
            p.consumer == spec.consumer)
            throw Conflict("plugin " + quoted(spec.meta.name) +
                               " is already configured for this scope (" + p.meta.id + ")",
                           {{"name", "is already configured for this route and consumer"}});
    }
}

WriteResult ConfigService::replaceAll(ConfigDocument doc, const std::string& actor,
                                      const std::string& action, bool dryRun) {
    std::lock_guard lock(writeMutex_);
    const auto base = current();
    adoptStoredIdentities(*base->doc, doc);
    assignRoutePositions(*base->doc, doc);
    return write(std::move(doc), actor, action, "", dryRun, DocumentRules::kCheckAll);
}

ConfigDocument ConfigService::documentAtLocked(uint64_t version) {
    const auto base = current();
    if (version > base->version) throw NotFound("no version " + std::to_string(version));
    // Walk back from the current document, undoing each later version's changes.
    std::map<std::string, UpstreamSpec> upstreams;
    std::map<std::string, RouteSpec> routes;
    std::map<std::string, PluginSpec> plugins;
    std::map<std::string, ConsumerSpec> consumers;
    for (const auto& c : base->doc->consumers)
        consumers[c.meta.id] = c;
    for (const auto& u : base->doc->upstreams)
        upstreams[u.meta.id] = u;
    for (const auto& r : base->doc->routes)
        routes[r.meta.id] = r;
    for (const auto& p : base->doc->plugins)
        plugins[p.meta.id] = p;
    for (uint64_t v = base->version; v > version; --v) {
        auto changes = store_.changesOf(v);
        for (auto c = changes.rbegin(); c != changes.rend(); ++c) {
            switch (c->kind) {
                case EntityKind::kUpstream:
                    undo(upstreams, *c);
                    break;
                case EntityKind::kRoute:
                    undo(routes, *c);
                    break;
                case EntityKind::kPlugin:
                    undo(plugins, *c);
                    break;
                case EntityKind::kConsumer:
                    undo(consumers, *c);
                    break;
            }
        }
    }
    ConfigDocument doc;
    for (auto& [id, u] : upstreams)
        doc.upstreams.push_back(std::move(u));
    doc.upstreams.sortBy([](const auto& a, const auto& b) { return a.meta.name < b.meta.name; });
    for (auto& [id, r] : routes)
        doc.routes.push_back(std::move(r));
    doc.routes.sortBy([](const auto& a, const auto& b) {
        return a.position != b.position ? a.position < b.position : a.meta.name < b.meta.name;
    });
    for (auto& [id, p] : plugins)
        doc.plugins.push_back(std::move(p));
    sortPlugins(doc);
    for (auto& [id, c] : consumers)
        doc.consumers.push_back(std::move(c));
    doc.consumers.sortBy([](const auto& a, const auto& b) { return a.meta.name < b.meta.name; });
    return doc;
}

ConfigDocument ConfigService::documentAt(uint64_t version) {
    std::lock_guard lock(writeMutex_);
    return documentAtLocked(version);
}

WriteResult ConfigService::rollback(uint64_t version, const std::string& actor, bool dryRun) {
    std::lock_guard lock(writeMutex_);
    ConfigDocument doc = documentAtLocked(version);
    return write(std::move(doc), actor, "rollback",
                 "rollback to version " + std::to_string(version), dryRun,
                 DocumentRules::kCheckAll);
}

}  // namespace gatehouse::config
