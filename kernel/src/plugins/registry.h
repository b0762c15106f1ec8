#pragma once

#include <gatehouse/plugin.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "plugins/schema.h"

namespace gatehouse::plugins {

/// A plugin the loader accepted. The descriptor fields are copied (only the prefix this host
/// knows), so a plugin built against a later minor with a larger descriptor is read safely.
struct LoadedPlugin {
    std::string name;
    std::string version;
    std::string description;
    std::string file;
    std::string schemaText;
    std::unique_ptr<SchemaValidator> schema;
    int32_t defaultPriority = 0;
    uint32_t phases = 0;
    uint64_t requiredFeatures = 0;
    decltype(gh_plugin_descriptor::instance_create) instanceCreate = nullptr;
    decltype(gh_plugin_descriptor::instance_destroy) instanceDestroy = nullptr;
    decltype(gh_plugin_descriptor::on_request) onRequest = nullptr;
    decltype(gh_plugin_descriptor::on_response) onResponse = nullptr;
    decltype(gh_plugin_descriptor::on_log) onLog = nullptr;
    decltype(gh_plugin_descriptor::on_done) onDone = nullptr;
};

/// What happened to one file (or one descriptor in it) at load time.
struct LoadReport {
    std::string file;
    std::string plugin;  // empty when the file itself failed
    bool loaded = false;
    std::string reason;  // one line, when refused
};

/// Loads plugins from shared objects and keeps them for the life of the process: a loaded
/// object is never unloaded (an instance or a snapshot may still run its code). Control
/// threads only; find() is safe from any thread.
class PluginRegistry {
public:
    explicit PluginRegistry(const gh_host_api* host) : host_(host) {}

    /// Loads every "*.so" in `dir` not loaded before (a replaced file counts as new). Returns
    /// the reports of this scan; refused plugins never stop the others.
    std::vector<LoadReport> scan(const std::string& dir);
    /// Loads one file.
    std::vector<LoadReport> load(const std::string& path);

    std::shared_ptr<const LoadedPlugin> find(std::string_view name) const;
    std::vector<std::shared_ptr<const LoadedPlugin>> all() const;
    /// Every report since start (the latest per file).
    std::vector<LoadReport> reports() const;

private:
    std::vector<LoadReport> loadLocked(const std::string& path);

    const gh_host_api* host_;
    mutable std::mutex mutex_;
    std::vector<std::shared_ptr<const LoadedPlugin>> plugins_;
    std::vector<LoadReport> reports_;
    std::vector<std::string> seen_;  // "path:device:inode:mtime" of files already tried
};

}  // namespace gatehouse::plugins
