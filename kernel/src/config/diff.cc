#include "config/diff.h"

#include <map>
#include <sstream>

#include "config/codec.h"

namespace gatehouse::config {
namespace {

template <typename Spec>
std::string canonical(Spec s) {
    s.meta.id.clear();
    s.meta.createdAt = s.meta.updatedAt = 0;
    std::ostringstream out;
    toJson(s)->stringify(out);
    return out.str();
}

template <typename Spec>
void diffList(const char* kind, const std::vector<Spec>& before, const std::vector<Spec>& after,
              std::vector<std::string>& out) {
    std::map<std::string, const Spec*> old;
    for (const auto& s : before)
        old[s.meta.name] = &s;
    for (const auto& s : after) {
        auto it = old.find(s.meta.name);
        if (it == old.end()) {
            out.push_back(std::string("+ ") + kind + " " + s.meta.name);
        } else {
            if (canonical(*it->second) != canonical(s))
                out.push_back(std::string("~ ") + kind + " " + s.meta.name);
            old.erase(it);
        }
    }
    for (const auto& [name, s] : old)
        out.push_back(std::string("- ") + kind + " " + name);
}

template <typename Spec>
void adopt(const std::vector<Spec>& stored, std::vector<Spec>& incoming) {
    std::map<std::string, const Spec*> byName;
    for (const auto& s : stored)
        byName[s.meta.name] = &s;
    for (auto& s : incoming) {
        auto it = byName.find(s.meta.name);
        if (it == byName.end() || !s.meta.generatedId) continue;
        s.meta.id = it->second->meta.id;
        if (!s.meta.createdAt) s.meta.createdAt = it->second->meta.createdAt;
    }
}

}  // namespace

std::vector<std::string> diffDocuments(const ConfigDocument& before, const ConfigDocument& after) {
    std::vector<std::string> out;
    diffList("upstream", before.upstreams, after.upstreams, out);
    diffList("route", before.routes, after.routes, out);
    return out;
}

void adoptStoredIdentities(const ConfigDocument& stored, ConfigDocument& incoming) {
    adopt(stored.upstreams, incoming.upstreams);
    adopt(stored.routes, incoming.routes);
}

}  // namespace gatehouse::config
