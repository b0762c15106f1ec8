#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "plugins/host_api.h"
#include "plugins/registry.h"

namespace gatehouse::plugins {

/// One plugin instance: a plugin plus one configuration. Shared by every snapshot whose
/// configuration has it and by every worker; destroyed (instance_destroy, on the control
/// side) when the last snapshot holding it goes, i.e. after its last request.
class PluginInstance {
public:
    /// Calls instance_create; nullptr and the plugin's one-line reason on refusal.
    static std::shared_ptr<PluginInstance> create(std::shared_ptr<const LoadedPlugin> plugin,
                                                  const std::string& config,
                                                  PluginServices& services, std::string* error);
    ~PluginInstance();
    PluginInstance(const PluginInstance&) = delete;
    PluginInstance& operator=(const PluginInstance&) = delete;

    const LoadedPlugin& plugin() const { return *plugin_; }
    void* handle() const { return handle_; }
    const std::string& config() const { return config_; }
    /// instance_status as JSON text; nullopt when the plugin shows none.
    std::optional<std::string> status() const;

private:
    PluginInstance() = default;
    std::shared_ptr<const LoadedPlugin> plugin_;
    std::string config_;
    gh_instance_host host_;
    void* handle_ = nullptr;
};

/// Reuses the instance of an unchanged (plugin, configuration) across snapshots, so that a
/// write elsewhere in the configuration does not recreate every instance.
class InstanceCache {
public:
    std::shared_ptr<PluginInstance> get(const std::shared_ptr<const LoadedPlugin>& plugin,
                                        const std::string& config, PluginServices& services,
                                        std::string* error);
    /// The live instance for (plugin, config), if any; never creates one.
    std::shared_ptr<PluginInstance> find(const LoadedPlugin* plugin, const std::string& config);

private:
    std::mutex mutex_;
    std::map<std::pair<const LoadedPlugin*, std::string>, std::weak_ptr<PluginInstance>> cache_;
};

/// One entry of a route's plugin chain.
struct ChainEntry {
    std::shared_ptr<PluginInstance> instance;
    std::string consumer;  // run only for this consumer (id or username); empty = everyone
    int32_t priority = 0;
    uint32_t phases = 0;
};

/// The plugins a route runs, highest priority first: on_request in this order, on_response
/// in reverse, on_log in order.
struct PluginChain {
    std::vector<ChainEntry> entries;
    uint32_t phases = 0;  // union of the entries' phases
    bool empty() const { return entries.empty(); }
};

/// What the snapshot builder needs to turn plugin specs into chains.
struct PluginRuntime {
    PluginRegistry* registry = nullptr;
    InstanceCache* instances = nullptr;
    PluginServices* services = nullptr;
};

}  // namespace gatehouse::plugins
