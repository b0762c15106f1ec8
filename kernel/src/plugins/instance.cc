#include "plugins/instance.h"

namespace gatehouse::plugins {

std::shared_ptr<PluginInstance> PluginInstance::create(std::shared_ptr<const LoadedPlugin> plugin,
                                                       const std::string& config,
                                                       PluginServices& services,
                                                       std::string* error) {
    std::shared_ptr<PluginInstance> inst(new PluginInstance());
    inst->plugin_ = std::move(plugin);
    inst->config_ = config;
    inst->host_.services = &services;
    inst->host_.plugin = inst->plugin_->name;
    char reason[512] = {};
    void* handle = nullptr;
    const int32_t ok = inst->plugin_->instanceCreate(
        hostApi(), &inst->host_, {config.data(), config.size()}, &handle, reason, sizeof reason);
    reason[sizeof reason - 1] = '\0';
    if (ok != 1) {
        *error = reason[0] ? reason : "the plugin refused this configuration";
        inst->plugin_ = nullptr;  // nothing to destroy
        return nullptr;
    }
    inst->handle_ = handle;
    return inst;
}

PluginInstance::~PluginInstance() {
    if (plugin_ && plugin_->instanceDestroy) plugin_->instanceDestroy(handle_);
}

std::shared_ptr<PluginInstance> InstanceCache::get(
    const std::shared_ptr<const LoadedPlugin>& plugin, const std::string& config,
    PluginServices& services, std::string* error) {
    std::lock_guard lock(mutex_);
    std::erase_if(cache_, [](const auto& kv) { return kv.second.expired(); });
    auto& slot = cache_[{plugin.get(), config}];
    if (auto live = slot.lock()) return live;
    auto fresh = PluginInstance::create(plugin, config, services, error);
    if (fresh) slot = fresh;
    return fresh;
}

std::shared_ptr<PluginInstance> InstanceCache::find(const LoadedPlugin* plugin,
                                                    const std::string& config) {
    std::lock_guard lock(mutex_);
    auto it = cache_.find({plugin, config});
    return it == cache_.end() ? nullptr : it->second.lock();
}

std::optional<std::string> PluginInstance::status() const {
    if (!host_.status) return std::nullopt;
    std::string buf(4096, '\0');
    for (int attempt = 0; attempt < 3; ++attempt) {
        size_t length = 0;
        if (!host_.status(handle_, buf.data(), buf.size(), &length)) return std::nullopt;
        if (length <= buf.size()) {
            buf.resize(length);
            return buf;
        }
        if (length > (16u << 20)) return std::nullopt;  // not a status any more
        buf.assign(length, '\0');
    }
    return std::nullopt;
}

}  // namespace gatehouse::plugins
