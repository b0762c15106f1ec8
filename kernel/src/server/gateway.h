#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "admin/admin_server.h"
#include "config/service.h"
#include "config/settings.h"
#include "config/snapshot.h"
#include "config/store.h"
#include "observe/event_log.h"
#include "observe/span_exporter.h"
#include "observe/traffic_metrics.h"
#include "proxy/worker.h"
#include "upstream/target.h"

namespace gatehouse::server {

/// The running gateway: owns the store, the snapshot holder, the workers and the control
/// side, and turns signals into actions (SIGHUP reload, SIGUSR1 reopen logs, SIGTERM/SIGINT
/// drain). run() is the whole life of `gatehouse run`.
class Gateway final : public admin::StatusSource {
public:
    /// `overrides` are the command-line settings ("section.key" → value), re-applied on reload.
    Gateway(std::string iniPath, std::map<std::string, std::string> overrides);
    ~Gateway();

    /// Starts everything, serves until SIGTERM/SIGINT, drains, and returns the exit code.
    int run();

private:
    admin::GatewayStatus status() const override;
    void appendMetrics(std::string& out) const override;
    std::vector<observe::RouteStatus> routeStatus() const override;
    std::optional<std::string> pluginStatus(const std::string& name,
                                            const std::string& config) const override;
    bool startAdmin();
    bool loadAndPublish(const char* reason);
    void reload();
    std::shared_ptr<const config::RuntimeSettings> runtime() const;
    void loadPlugins(const char* reason);
    void published(const std::shared_ptr<const config::Snapshot>& snap);

    std::string iniPath_;
    std::map<std::string, std::string> overrides_;
    config::Settings settings_;
    std::unique_ptr<observe::EventLog> log_;
    std::unique_ptr<config::Store> store_;
    upstream::TargetRegistry targets_;
    config::SnapshotHolder snapshots_;
    // Plugins: the loader and the services instances use live as long as the process.
    // Sized by the INI file ([plugins] shared_state_max_keys) at start.
    std::unique_ptr<plugins::SharedState> sharedState_;
    std::atomic<uint64_t> reopenGeneration_{0};  // SIGUSR1s: plugins reopen their files
    observe::MetricRegistry metrics_;            // plugin-defined
    std::unique_ptr<observe::TrafficMetrics> traffic_;
    std::unique_ptr<observe::SpanExporter> spans_;  // outlives the workers that submit to it
    plugins::PluginServices pluginServices_;
    std::unique_ptr<plugins::PluginRegistry> pluginRegistry_;
    mutable plugins::InstanceCache pluginInstances_;  // find() from the admin API locks it
    plugins::PluginRuntime pluginRuntime_;
    std::unique_ptr<config::ConfigService> config_;
    mutable std::mutex runtimeMutex_;  // settings_.runtime is read by admin threads too
    std::vector<std::unique_ptr<proxy::Worker>> workers_;
    std::unique_ptr<admin::AdminToken> token_;
    std::unique_ptr<admin::AdminApi> adminApi_;
    std::unique_ptr<admin::AdminServer> adminServer_;
    std::chrono::steady_clock::time_point startedAt_ = std::chrono::steady_clock::now();
    std::chrono::system_clock::time_point startedAtWall_ = std::chrono::system_clock::now();
    std::atomic<bool> ready_{false};
    std::atomic<bool> draining_{false};
};

}  // namespace gatehouse::server
