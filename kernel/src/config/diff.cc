#include "config/diff.h"

#include <map>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include "config/codec.h"

namespace gatehouse::config {
namespace {

template <typename Spec>
std::string json(const Spec& s) {
    std::ostringstream out;
    toJson(s)->stringify(out);
    return out.str();
}

/// How a change names its entity: plugins are named by plugin and scope (the plugin name
/// alone is not unique).
template <typename Spec>
std::string displayName(const Spec& s) {
    if constexpr (std::is_same_v<Spec, PluginSpec>) {
        std::string n = s.meta.name + (s.route.empty() ? " (global)" : " on route " + s.route);
        if (!s.consumer.empty()) n += " for consumer " + s.consumer;
        return n;
    } else {
        return s.meta.name;
    }
}

template <typename Spec>
void diffList(EntityKind kind, const SharedList<Spec>& before, SharedList<Spec>& after, int64_t now,
              std::vector<StoredChange>& out) {
    // A write usually touches one entity of a sorted list: pair entities by position while
    // the ids line up, and index the rest by id only once they stop doing so.
    constexpr size_t kNone = static_cast<size_t>(-1);
    std::vector<bool> matched(before.size(), false);
    std::unordered_map<std::string_view, size_t> byId;
    bool indexed = false;
    auto previous = [&](size_t i, const std::string& id) -> size_t {
        if (!indexed && i < before.size() &&
            (before.sameAt(i, after, i) || before[i].meta.id == id))
            return i;
        if (!indexed) {
            byId.reserve(before.size());
            for (size_t j = 0; j < before.size(); ++j)
                byId.emplace(before[j].meta.id, j);
            indexed = true;
        }
        auto it = byId.find(id);
        return it == byId.end() ? kNone : it->second;
    };
    for (size_t i = 0; i < after.size(); ++i) {
        const size_t p = previous(i, after[i].meta.id);
        const Spec* prev = p == kNone ? nullptr : &before[p];
        if (prev) matched[p] = true;
        // An entity the write did not touch is the very object of the old document.
        if (prev && before.sameAt(p, after, i)) continue;
        // Structural equality (timestamps aside; a route's position included): comparing
        // JSON renderings would serialize every entity twice on every write.
        if (prev && *prev == after[i]) {
            if (after[i].meta.createdAt != prev->meta.createdAt ||
                after[i].meta.updatedAt != prev->meta.updatedAt) {
                auto& s = after.edit(i);
                s.meta.createdAt = prev->meta.createdAt;
                s.meta.updatedAt = prev->meta.updatedAt;
            }
            continue;
        }
        auto& s = after.edit(i);
        s.meta.createdAt =
            prev ? prev->meta.createdAt : (s.meta.createdAt ? s.meta.createdAt : now);
        s.meta.updatedAt = now;
        StoredChange c;
        c.kind = kind;
        c.id = s.meta.id;
        c.name = displayName(s);
        if (prev) c.before = json(*prev);
        c.after = json(s);
        if constexpr (std::is_same_v<Spec, RouteSpec>) {
            if (prev) c.beforePosition = prev->position;
            c.afterPosition = s.position;
        }
        out.push_back(std::move(c));
    }
    for (size_t j = 0; j < before.size(); ++j) {
        if (matched[j]) continue;
        const Spec& s = before[j];
        StoredChange c;
        c.kind = kind;
        c.id = s.meta.id;
        c.name = displayName(s);
        c.before = json(s);
        if constexpr (std::is_same_v<Spec, RouteSpec>) c.beforePosition = s.position;
        out.push_back(std::move(c));
    }
}

template <typename Spec>
void adopt(const SharedList<Spec>& stored, SharedList<Spec>& incoming) {
    std::map<std::string, const Spec*> byName;
    for (const auto& s : stored)
        byName[displayName(s)] = &s;
    for (size_t i = 0; i < incoming.size(); ++i) {
        auto it = byName.find(displayName(incoming[i]));
        if (it == byName.end() || !incoming[i].meta.generatedId) continue;
        auto& s = incoming.edit(i);
        s.meta.id = it->second->meta.id;
        if (!s.meta.createdAt) s.meta.createdAt = it->second->meta.createdAt;
    }
}

std::string nameIn(const std::optional<std::string>& json, std::string_view key) {
    if (!json) return "";
    const std::string needle = "\"" + std::string(key) + "\":\"";
    const size_t at = json->find(needle);
    if (at == std::string::npos) return "";
    const size_t start = at + needle.size();
    return json->substr(start, json->find('"', start) - start);
}

}  // namespace

std::vector<StoredChange> computeChanges(const ConfigDocument& before, ConfigDocument& after,
                                         int64_t now) {
    std::vector<StoredChange> out;
    diffList(EntityKind::kUpstream, before.upstreams, after.upstreams, now, out);
    diffList(EntityKind::kRoute, before.routes, after.routes, now, out);
    diffList(EntityKind::kPlugin, before.plugins, after.plugins, now, out);
    diffList(EntityKind::kConsumer, before.consumers, after.consumers, now, out);
    return out;
}

std::string describe(const StoredChange& c) {
    const std::string what = std::string(entityName(c.kind)) + " " + c.name;
    if (!c.before) return "+ " + what;
    if (!c.after) return "- " + what;
    if (c.kind == EntityKind::kPlugin) return "~ " + what;  // c.name is a display name
    const std::string old = nameIn(c.before, c.kind == EntityKind::kConsumer ? "username" : "name");
    if (!old.empty() && old != c.name) return "~ " + what + " (renamed from " + old + ")";
    return "~ " + what;
}

std::string countSummary(const std::vector<StoredChange>& changes) {
    size_t added = 0, changed = 0, removed = 0;
    for (const auto& c : changes) {
        if (!c.before)
            ++added;
        else if (!c.after)
            ++removed;
        else
            ++changed;
    }
    return "+" + std::to_string(added) + " ~" + std::to_string(changed) + " -" +
           std::to_string(removed);
}

void adoptStoredIdentities(const ConfigDocument& stored, ConfigDocument& incoming) {
    adopt(stored.upstreams, incoming.upstreams);
    adopt(stored.routes, incoming.routes);
    adopt(stored.plugins, incoming.plugins);
    adopt(stored.consumers, incoming.consumers);
    // An export leaves JWT secrets out; a credential that comes back without one keeps the
    // secret stored under its id.
    std::map<std::string, const CredentialSpec*> storedCredentials;
    for (const auto& c : stored.consumers)
        for (const auto& cr : c.credentials)
            storedCredentials[cr.id] = &cr;
    for (size_t i = 0; i < incoming.consumers.size(); ++i) {
        const auto& c = incoming.consumers[i];
        for (size_t j = 0; j < c.credentials.size(); ++j) {
            const auto& cr = c.credentials[j];
            if (cr.type != CredentialType::kJwt || !cr.secret.empty()) continue;
            auto it = storedCredentials.find(cr.id);
            if (it != storedCredentials.end() && it->second->type == CredentialType::kJwt)
                incoming.consumers.edit(i).credentials[j].secret = it->second->secret;
        }
    }
}

void assignRoutePositions(const ConfigDocument& stored, ConfigDocument& incoming) {
    std::map<std::string, int64_t> old;
    for (const auto& r : stored.routes)
        old[r.meta.id] = r.position;
    // Keep stored positions while they increase along the new order; a new route takes the
    // next free number below the following kept position.
    bool keep = true;
    std::vector<std::optional<int64_t>> kept(incoming.routes.size());
    int64_t last = -1;
    for (size_t i = 0; i < incoming.routes.size() && keep; ++i) {
        auto it = old.find(incoming.routes[i].meta.id);
        if (it == old.end()) continue;
        if (it->second <= last) keep = false;
        kept[i] = last = it->second;
    }
    if (keep) {
        int64_t prev = -1;
        for (size_t i = 0; i < incoming.routes.size() && keep; ++i) {
            if (kept[i]) {
                prev = *kept[i];
                continue;
            }
            std::optional<int64_t> next;
            for (size_t j = i + 1; j < incoming.routes.size() && !next; ++j)
                next = kept[j];
            if (next && prev + 1 >= *next) keep = false;
            kept[i] = ++prev;
        }
    }
    for (size_t i = 0; i < incoming.routes.size(); ++i) {
        const int64_t position = keep ? *kept[i] : static_cast<int64_t>(i);
        if (incoming.routes[i].position != position) incoming.routes.edit(i).position = position;
    }
}

}  // namespace gatehouse::config
