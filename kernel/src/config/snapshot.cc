#include "config/snapshot.h"

#include <map>
#include <stdexcept>

#include "config/codec.h"

namespace gatehouse::config {

std::shared_ptr<const Snapshot> buildSnapshot(std::shared_ptr<const ConfigDocument> doc,
                                              uint64_t version,
                                              std::shared_ptr<const RuntimeSettings> settings,
                                              upstream::TargetRegistry& targets, unsigned workers) {
    FieldErrors errors;
    validateDocument(*doc, errors);
    if (!errors.empty()) throw ValidationError("invalid configuration", std::move(errors));

    auto snap = std::make_shared<Snapshot>();
    snap->version = version;
    snap->settings = std::move(settings);
    snap->doc = std::move(doc);  // immutable: the route table may point into it

    std::map<std::string, uint32_t> upstreamIndex;
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
    for (const auto& r : snap->doc->routes) {
        if (!r.enabled) continue;
        destinations.push_back(upstreamIndex.at(r.upstream));
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
    for (const auto& r : snap->doc->routes) {
        if (!r.enabled) continue;
        const Timeouts& ut = snap->doc->upstreams[upstreamIndex.at(r.upstream)].timeouts;
        upstream::UpstreamTimeouts t;
        t.connectMs = r.timeouts.connectMs.value_or(ut.connectMs.value_or(d.connectMs));
        t.sendMs = r.timeouts.sendMs.value_or(ut.sendMs.value_or(d.sendMs));
        t.readMs = r.timeouts.readMs.value_or(ut.readMs.value_or(d.readMs));
        snap->routeTimeouts.push_back(t);
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

std::shared_ptr<const Snapshot> SnapshotHolder::current() const {
    std::lock_guard lock(mutex_);
    return current_;
}

}  // namespace gatehouse::config
