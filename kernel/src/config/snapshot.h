#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/model.h"
#include "config/settings.h"
#include "observe/traffic_metrics.h"
#include "plugins/instance.h"
#include "router/route_table.h"
#include "upstream/balancer.h"
#include "upstream/connection.h"
#include "upstream/target.h"

namespace gatehouse::config {

struct UpstreamRuntime {
    const UpstreamSpec* spec = nullptr;
    std::vector<std::shared_ptr<upstream::TargetState>> targets;
    std::unique_ptr<upstream::Balancer> balancer;
};

/// Consumers and credentials indexed by what a request presents. Points into the snapshot's
/// document.
struct ConsumerIndex {
    struct Match {
        const ConsumerSpec* consumer = nullptr;
        const CredentialSpec* credential = nullptr;
    };
    std::unordered_map<std::string_view, Match> keyAuth;  // SHA-256 hex of the key
    std::unordered_map<std::string_view, Match> jwt;      // kid, else issuer
    std::unordered_map<std::string_view, Match> basic;    // username
    // Separate, so that a username spelled like another consumer's id cannot stand for it.
    std::unordered_map<std::string_view, const ConsumerSpec*> byId;
    std::unordered_map<std::string_view, const ConsumerSpec*> byName;

    /// The consumer with this id, else with this username.
    const ConsumerSpec* find(std::string_view idOrName) const {
        if (auto it = byId.find(idOrName); it != byId.end()) return it->second;
        if (auto it = byName.find(idOrName); it != byName.end()) return it->second;
        return nullptr;
    }
    std::unordered_map<const ConsumerSpec*, std::string> roles;  // comma-separated
};

/// Everything a request needs from the configuration, immutable once published (the
/// balancers' per-worker slots excepted: each worker touches only its own). A request pins
/// the snapshot it started with; the snapshot dies with its last request.
struct Snapshot {
    uint64_t version = 0;
    std::shared_ptr<const RuntimeSettings> settings;
    std::shared_ptr<const ConfigDocument> doc;  // shared with the config service
    std::vector<UpstreamRuntime> upstreams;
    std::shared_ptr<const router::RouteTable> routes;
    /// Effective timeouts per route (route, then upstream, then INI defaults), by route order.
    std::vector<upstream::UpstreamTimeouts> routeTimeouts;
    /// Each route's plugin chain, by route order (the global plugins merged in).
    std::vector<plugins::PluginChain> routeChains;
    /// Where each route's requests are counted, by route order; empty without metrics.
    struct RouteMetrics {
        std::shared_ptr<observe::RouteSeries> route;
        std::shared_ptr<observe::UpstreamSeries> upstream;
    };
    std::vector<RouteMetrics> routeMetrics;
    ConsumerIndex consumers;
    std::shared_ptr<observe::RouteSeries> unmatchedMetrics;  // requests no route matched
};

/// Compiles a validated document into a snapshot: routes into the route table, upstreams into
/// balancers over shared target states (names resolved here, on the control side). Throws
/// ValidationError when something cannot compile; nothing is published then.
std::shared_ptr<const Snapshot> buildSnapshot(std::shared_ptr<const ConfigDocument> doc,
                                              uint64_t version,
                                              std::shared_ptr<const RuntimeSettings> settings,
                                              upstream::TargetRegistry& targets, unsigned workers,
                                              const plugins::PluginRuntime* plugins = nullptr,
                                              observe::TrafficMetrics* traffic = nullptr);
inline std::shared_ptr<const Snapshot> buildSnapshot(
    ConfigDocument doc, uint64_t version, std::shared_ptr<const RuntimeSettings> settings,
    upstream::TargetRegistry& targets, unsigned workers,
    const plugins::PluginRuntime* plugins = nullptr, observe::TrafficMetrics* traffic = nullptr) {
    return buildSnapshot(std::make_shared<const ConfigDocument>(std::move(doc)), version,
                         std::move(settings), targets, workers, plugins, traffic);
}

/// Where workers find the current snapshot. publish() is called by the control side; workers
/// compare generation() (one relaxed load per request) and fetch the pointer only when it
/// changed.
class SnapshotHolder {
public:
    void publish(std::shared_ptr<const Snapshot> s);
    std::shared_ptr<const Snapshot> current() const;
    uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

    /// A worker hands over its last reference to a replaced snapshot instead of destroying
    /// it: freeing a large route table takes milliseconds, which belong on the control side.
    /// Retired snapshots are destroyed by the next publish() (or with the holder).
    void retire(std::shared_ptr<const Snapshot> s);
    /// Destroys what workers retired (the control side calls this periodically, so that a
    /// retired snapshot and its plugin instances go soon even without a new publish).
    void collect();

private:
    mutable std::mutex mutex_;
    std::shared_ptr<const Snapshot> current_;
    std::vector<std::shared_ptr<const Snapshot>> graveyard_;
    std::atomic<uint64_t> generation_{0};
};

}  // namespace gatehouse::config
