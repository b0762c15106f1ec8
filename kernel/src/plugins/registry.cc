#include "plugins/registry.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>

#include "config/model.h"

namespace gatehouse::plugins {
namespace {

/// The size of a version 1.0 descriptor: anything smaller cannot be read.
constexpr size_t kMinDescriptorSize =
    offsetof(gh_plugin_descriptor, on_done) + sizeof(gh_plugin_descriptor::on_done);

std::string featureNames(uint64_t bits) {
    static const std::pair<uint64_t, const char*> kNames[] = {
        {GH_FEATURE_PAUSE, "pause"},
        {GH_FEATURE_BODY, "body"},
        {GH_FEATURE_SHARED_STATE, "shared-state"},
        {GH_FEATURE_METRICS, "metrics"},
        {GH_FEATURE_CONSUMERS, "consumers"},
        {GH_FEATURE_VARS, "vars"},
        {GH_FEATURE_REQUEST_INFO, "request-info"},
    };
    std::string out;
    for (const auto& [bit, name] : kNames) {
        if (!(bits & bit)) continue;
        out += (out.empty() ? "" : ", ") + std::string(name);
        bits &= ~bit;
    }
    if (bits)
        out += (out.empty() ? "" : ", ") + std::string("unknown bits 0x") + [&] {
            char buf[24];
            std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(bits));
            return std::string(buf);
        }();
    return out;
}

std::string identity(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return path;
    return path + ':' + std::to_string(st.st_dev) + ':' + std::to_string(st.st_ino) + ':' +
           std::to_string(st.st_mtim.tv_sec) + '.' + std::to_string(st.st_mtim.tv_nsec);
}

}  // namespace

std::vector<LoadReport> PluginRegistry::scan(const std::string& dir) {
    std::vector<std::string> files;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        if (entry.path().extension() == ".so" && entry.is_regular_file(ec))
            files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
    std::lock_guard lock(mutex_);
    std::vector<LoadReport> out;
    if (ec) {
        out.push_back({dir, "", false, "cannot read plugin directory: " + ec.message()});
        return out;
    }
    for (const auto& f : files) {
        const std::string id = identity(f);
        if (std::find(seen_.begin(), seen_.end(), id) != seen_.end()) continue;
        seen_.push_back(id);
        auto reports = loadLocked(f);
        out.insert(out.end(), reports.begin(), reports.end());
    }
    return out;
}

std::vector<LoadReport> PluginRegistry::load(const std::string& path) {
    std::lock_guard lock(mutex_);
    seen_.push_back(identity(path));
    return loadLocked(path);
}

std::vector<LoadReport> PluginRegistry::loadLocked(const std::string& path) {
    std::vector<LoadReport> out;
    auto refuse = [&](const std::string& plugin, const std::string& reason) {
        out.push_back({path, plugin, false, reason});
    };
    auto finish = [&] {
        for (const auto& r : out) {
            std::erase_if(reports_, [&](const LoadReport& old) {
                return old.file == r.file && old.plugin == r.plugin;
            });
            reports_.push_back(r);
        }
        return out;
    };

    // RTLD_LOCAL: one plugin's symbols never satisfy another's. Never dlclose()d.
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char* err = ::dlerror();
        refuse("", std::string("cannot load: ") + (err ? err : "unknown dlopen error"));
        return finish();
    }
    auto entry = reinterpret_cast<gh_plugin_entry_fn>(::dlsym(handle, GH_PLUGIN_ENTRY_SYMBOL));
    if (!entry) {
        for (int major = GH_ABI_MAJOR + 1; major < GH_ABI_MAJOR + 10; ++major) {
            const std::string sym = "gatehouse_plugin_entry_v" + std::to_string(major);
            if (::dlsym(handle, sym.c_str())) {
                refuse("", "built for plugin ABI major " + std::to_string(major) +
                               "; this gatehouse has ABI " + std::to_string(GH_ABI_MAJOR) + "." +
                               std::to_string(GH_ABI_MINOR));
                return finish();
            }
        }
        refuse("", "not a gatehouse plugin: no " + std::string(GH_PLUGIN_ENTRY_SYMBOL) + " symbol");
        return finish();
    }

    for (uint32_t index = 0; index < 64; ++index) {
        const gh_plugin_descriptor* d = entry(host_, index);
        if (!d) break;
        const std::string label = "descriptor " + std::to_string(index);
        if (d->struct_size < kMinDescriptorSize) {
            refuse(label, "descriptor too small (struct_size " + std::to_string(d->struct_size) +
                              ", need at least " + std::to_string(kMinDescriptorSize) + ")");
            continue;
        }
        const std::string name = d->name ? d->name : "";
        const std::string who = name.empty() ? label : name;
        if (d->abi_major != GH_ABI_MAJOR) {
            refuse(who, "built for plugin ABI major " + std::to_string(d->abi_major) +
                            "; this gatehouse has ABI " + std::to_string(GH_ABI_MAJOR) + "." +
                            std::to_string(GH_ABI_MINOR));
            continue;
        }
        if (d->abi_minor > GH_ABI_MINOR) {
            refuse(who, "needs plugin ABI " + std::to_string(GH_ABI_MAJOR) + "." +
                            std::to_string(d->abi_minor) + "; this gatehouse has " +
                            std::to_string(GH_ABI_MAJOR) + "." + std::to_string(GH_ABI_MINOR) +
                            " (upgrade gatehouse)");
            continue;
        }
        if (const uint64_t missing = d->required_features & ~host_->features) {
            refuse(who, "needs host features this gatehouse lacks: " + featureNames(missing));
            continue;
        }
        if (!config::isValidPluginName(name)) {
            refuse(who, "invalid plugin name '" + name + "' (needs [a-z0-9-]+)");
            continue;
        }
        auto existing = std::find_if(plugins_.begin(), plugins_.end(),
                                     [&](const auto& p) { return p->name == name; });
        if (existing != plugins_.end() && (*existing)->file != path) {
            refuse(name, "duplicate plugin name: already loaded from " + (*existing)->file);
            continue;
        }
        if (!d->instance_create || !d->instance_destroy) {
            refuse(name, "descriptor lacks instance_create or instance_destroy");
            continue;
        }
        if (((d->phases & (GH_PHASE_REQUEST | GH_PHASE_REQUEST_BODY)) && !d->on_request) ||
            ((d->phases & (GH_PHASE_RESPONSE | GH_PHASE_RESPONSE_BODY)) && !d->on_response) ||
            ((d->phases & (GH_PHASE_LOG | GH_PHASE_LOG_ALL)) && !d->on_log)) {
            refuse(name, "declares a phase whose callback is missing");
            continue;
        }
        auto p = std::make_shared<LoadedPlugin>();
        p->name = name;
        p->version = d->version ? d->version : "";
        p->description = d->description ? d->description : "";
        p->file = path;
        p->schemaText = d->config_schema ? d->config_schema : "{}";
        std::string schemaError;
        p->schema = SchemaValidator::compile(p->schemaText, &schemaError);
        if (!p->schema) {
            refuse(name, "bad config schema: " + schemaError);
            continue;
        }
        p->defaultPriority = d->default_priority;
        p->phases = d->phases;
        p->requiredFeatures = d->required_features;
        p->instanceCreate = d->instance_create;
        p->instanceDestroy = d->instance_destroy;
        p->onRequest =
            (d->phases & (GH_PHASE_REQUEST | GH_PHASE_REQUEST_BODY)) ? d->on_request : nullptr;
        p->onResponse =
            (d->phases & (GH_PHASE_RESPONSE | GH_PHASE_RESPONSE_BODY)) ? d->on_response : nullptr;
        p->onLog = (d->phases & (GH_PHASE_LOG | GH_PHASE_LOG_ALL)) ? d->on_log : nullptr;
        p->onDone = d->on_done;
        // A replaced file (SIGHUP) supersedes its earlier version; instances of the old one
        // keep it alive until they go.
        std::erase_if(plugins_, [&](const auto& old) { return old->name == name; });
        plugins_.push_back(p);
        out.push_back({path, name, true, ""});
    }
    if (out.empty()) refuse("", "the plugin object provides no plugins");
    return finish();
}

std::shared_ptr<const LoadedPlugin> PluginRegistry::find(std::string_view name) const {
    std::lock_guard lock(mutex_);
    for (const auto& p : plugins_)
        if (p->name == name) return p;
    return nullptr;
}

std::vector<std::shared_ptr<const LoadedPlugin>> PluginRegistry::all() const {
    std::lock_guard lock(mutex_);
    return plugins_;
}

std::vector<LoadReport> PluginRegistry::reports() const {
    std::lock_guard lock(mutex_);
    return reports_;
}

}  // namespace gatehouse::plugins
