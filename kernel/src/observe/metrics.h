#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace gatehouse::observe {

/// Metrics plugins define (and, later, the gateway's own). A metric is identified by name
/// and owning plugin, so one that an instance re-defines after a reload keeps its value.
/// Updates are lock-free (atomic); rendering takes the registry's lock only.
class MetricRegistry {
public:
    enum class Kind { kCounter, kGauge };
    struct Metric {
        std::string name;
        std::string help;
        std::string plugin;
        Kind kind = Kind::kCounter;
        std::atomic<double> value{0};
    };

    /// The metric (created on first use). nullptr when `name` is not a valid Prometheus name
    /// or is already defined with another kind.
    std::shared_ptr<Metric> define(Kind kind, const std::string& name, const std::string& help,
                                   const std::string& plugin);

    /// Prometheus text exposition format (version 0.0.4).
    std::string render() const;

private:
    mutable std::mutex mutex_;
    std::map<std::string, std::map<std::string, std::shared_ptr<Metric>>>
        byName_;  // name → plugin → metric
};

}  // namespace gatehouse::observe
