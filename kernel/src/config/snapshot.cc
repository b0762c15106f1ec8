#include "config/snapshot.h"

#include <map>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

#include "config/codec.h"

namespace gatehouse::config {

namespace {

/// Plugin instances for every enabled plugin spec, validated against each plugin's schema;
/// then each route's chain: global instances, overridden by the route's own for the same
/// plugin and consumer, highest priority first.
void buildChains(Snapshot& snap, const plugins::PluginRuntime* runtime) {
    const ConfigDocument& doc = *snap.doc;
    FieldErrors errors;
    struct Built {
        const PluginSpec* spec;
        std::shared_ptr<plugins::PluginInstance> instance;
    };
    std::vector<Built> built;
    for (size_t i = 0; i < doc.plugins.size(); ++i) {
        const PluginSpec& p = doc.plugins[i];
        const std::string at = "plugins[" + std::to_string(i) + "]";
        auto loaded = runtime && runtime->registry ? runtime->registry->find(p.meta.name) : nullptr;
        if (!loaded) {
            errors.emplace(at + ".name", "no plugin named '" + p.meta.name + "' is loaded");
            continue;
        }
        auto schemaErrors = loaded->schema->validate(p.config, at + ".config");
        if (!schemaErrors.empty()) {
            errors.insert(schemaErrors.begin(), schemaErrors.end());
            continue;
        }
        if (!p.enabled) continue;
        std::string reason;
        auto inst = runtime->instances->get(loaded, p.config, *runtime->services, &reason);
        if (!inst) {
            errors.emplace(at + ".config", reason);
            continue;
        }
        built.push_back({&p, std::move(inst)});
    }
    if (!errors.empty()) throw ValidationError("invalid plugin configuration", std::move(errors));

    // Route-scoped instances by route name; most routes have none and share the global chain.
    std::vector<const Built*> global;
    std::unordered_map<std::string_view, std::vector<const Built*>> byRoute;
    for (const auto& b : built) {
        if (b.spec->route.empty())
            global.push_back(&b);
        else
            byRoute[b.spec->route].push_back(&b);
    }
    auto chainOf = [&](const std::vector<const Built*>* own) {
        // (plugin, consumer) → entry: route-scoped instances replace global ones.
        std::map<std::pair<std::string, std::string>, plugins::ChainEntry> chosen;
        const std::vector<const Built*>* lists[] = {&global, own};
        for (const auto* list : lists) {
            if (!list) continue;
            for (const Built* b : *list) {
                const auto& plugin = b->instance->plugin();
                chosen[{plugin.name, b->spec->consumer}] = plugins::ChainEntry{
                    b->instance, b->spec->consumer,
                    b->spec->priority.value_or(plugin.defaultPriority), plugin.phases};
            }
        }
        plugins::PluginChain chain;
        for (auto& [key, entry] : chosen) {
            chain.phases |= entry.phases;
            chain.entries.push_back(std::move(entry));
        }
        std::stable_sort(chain.entries.begin(), chain.entries.end(),
                         [](const auto& a, const auto& b) {
                             if (a.priority != b.priority) return a.priority > b.priority;
                             return a.instance->plugin().name < b.instance->plugin().name;
                         });
        return chain;
    };
    const plugins::PluginChain globalChain = chainOf(nullptr);
    snap.routeChains.reserve(doc.routes.size());
    for (const auto& r : doc.routes) {
        if (!r.enabled) continue;
        const auto own = byRoute.find(r.meta.name);
        snap.routeChains.push_back(own == byRoute.end() ? globalChain : chainOf(&own->second));
    }
}

}  // namespace

std::shared_ptr<const Snapshot> buildSnapshot(std::shared_ptr<const ConfigDocument> doc,
                                              uint64_t version,
                                              std::shared_ptr<const RuntimeSettings> settings,
                                              upstream::TargetRegistry& targets, unsigned workers,
                                              const plugins::PluginRuntime* plugins,
                                              observe::TrafficMetrics* traffic) {
    // The document was validated by its writer (ConfigService, Store::load): validating the
    // whole of it again here would double the cost of a write.
    auto snap = std::make_shared<Snapshot>();
    snap->version = version;
    snap->settings = std::move(settings);
    snap->doc = std::move(doc);  // immutable: the route table may point into it

    std::unordered_map<std::string_view, uint32_t> upstreamIndex;
    for (const auto& spec : snap->doc->upstreams) {
        UpstreamRuntime u;
        u.spec = &spec;
        for (const auto& t : spec.targets)
            u.targets.push_back(targets.get(spec.meta.name, t.address));
        u.balancer = upstream::makeBalancer(spec, u.targets, workers);
        upstreamIndex[spec.meta.name] = static_cast<uint32_t>(snap->upstreams.size());
        snap->upstreams.push_back(std::move(u));
    }

    std::vector<uint32_t> destinations;
    for (size_t i = 0; i < snap->doc->routes.size(); ++i) {
        const RouteSpec& r = snap->doc->routes[i];
        if (!r.enabled) continue;
        const auto it = upstreamIndex.find(r.upstream);
        if (it == upstreamIndex.end())
            throw ValidationError("invalid configuration",
                                  {{"routes[" + std::to_string(i) + "].upstream",
                                    "no upstream named '" + r.upstream + "'"}});
        destinations.push_back(it->second);
    }
    // The table points at specs in snap->doc, so it is built over those, not over copies.
    try {
        std::vector<const RouteSpec*> live;
        for (const auto& r : snap->doc->routes)
            if (r.enabled) live.push_back(&r);
        snap->routes = router::RouteTable::build(live, destinations);
    } catch (const std::invalid_argument& e) {
        throw ValidationError(e.what(), {});
    }

    const upstream::UpstreamTimeouts& d = snap->settings->upstream;
    snap->routeTimeouts.reserve(destinations.size());
    size_t live = 0;
    for (const auto& r : snap->doc->routes) {
        if (!r.enabled) continue;
        const Timeouts& ut = snap->doc->upstreams[destinations[live++]].timeouts;
        upstream::UpstreamTimeouts t;
        t.connectMs = r.timeouts.connectMs.value_or(ut.connectMs.value_or(d.connectMs));
        t.sendMs = r.timeouts.sendMs.value_or(ut.sendMs.value_or(d.sendMs));
        t.readMs = r.timeouts.readMs.value_or(ut.readMs.value_or(d.readMs));
        snap->routeTimeouts.push_back(t);
    }
    buildChains(*snap, plugins);
    ConsumerIndex& ci = snap->consumers;
    for (size_t i = 0; i < snap->doc->consumers.size(); ++i) {
        const ConsumerSpec& c = snap->doc->consumers[i];
        for (size_t j = 0; j < c.credentials.size(); ++j) {
            const CredentialSpec& cr = c.credentials[j];
            if (cr.type == CredentialType::kJwt && cr.algorithm.rfind("HS", 0) == 0 &&
                cr.secret.empty())
                throw ValidationError("invalid configuration",
                                      {{"consumers[" + std::to_string(i) + "].credentials[" +
                                            std::to_string(j) + "].secret",
                                        "is required (no stored secret to keep for this id)"}});
        }
        ci.byId.emplace(c.meta.id, &c);
        ci.byName.emplace(c.meta.name, &c);
        std::string roles;
        for (const auto& r : c.roles)
            roles += (roles.empty() ? "" : ",") + r;
        ci.roles.emplace(&c, std::move(roles));
        for (const auto& cr : c.credentials) {
            if (cr.type == CredentialType::kKeyAuth)
                ci.keyAuth.emplace(cr.keyHash, ConsumerIndex::Match{&c, &cr});
            else if (cr.type == CredentialType::kJwt)
                ci.jwt.emplace(cr.kid.empty() ? cr.issuer : cr.kid, ConsumerIndex::Match{&c, &cr});
            else
                ci.basic.emplace(cr.username, ConsumerIndex::Match{&c, &cr});
        }
    }
    if (traffic) {
        // Series are found by name, so a route keeps its counters across snapshots.
        snap->unmatchedMetrics = traffic->unmatched();
        snap->routeMetrics.reserve(destinations.size());
        live = 0;
        for (const auto& r : snap->doc->routes) {
            if (!r.enabled) continue;
            const UpstreamSpec& u = *snap->upstreams[destinations[live++]].spec;
            snap->routeMetrics.push_back(
                {traffic->route(r.meta.name), traffic->upstream(r.meta.name, u.meta.name)});
        }
    }
    return snap;
}

void SnapshotHolder::publish(std::shared_ptr<const Snapshot> s) {
    std::vector<std::shared_ptr<const Snapshot>> dead;
    std::shared_ptr<const Snapshot> previous;
    {
        std::lock_guard lock(mutex_);
        previous = std::move(current_);
        current_ = std::move(s);
        dead.swap(graveyard_);
    }
    generation_.fetch_add(1, std::memory_order_release);
    // `dead` and, if no worker holds it, `previous` are destroyed here, on the caller's
    // (control) thread, outside the lock.
}

void SnapshotHolder::retire(std::shared_ptr<const Snapshot> s) {
    std::lock_guard lock(mutex_);
    graveyard_.push_back(std::move(s));
}

void SnapshotHolder::collect() {
    std::vector<std::shared_ptr<const Snapshot>> dead;
    {
        std::lock_guard lock(mutex_);
        dead.swap(graveyard_);
    }
}

std::shared_ptr<const Snapshot> SnapshotHolder::current() const {
    std::lock_guard lock(mutex_);
    return current_;
}

}  // namespace gatehouse::config
