#include "observe/metrics.h"

#include <cmath>
#include <cstdio>

namespace gatehouse::observe {
namespace {

bool validName(const std::string& n) {
    if (n.empty() || n.size() > 200) return false;
    for (size_t i = 0; i < n.size(); ++i) {
        const char c = n[i];
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                        (i > 0 && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

std::string escapeLabel(const std::string& v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out.push_back('\\');
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out.push_back(c);
    }
    return out;
}

std::string escapeHelp(const std::string& v) {
    std::string out;
    for (char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out.push_back(c);
    }
    return out;
}

}  // namespace

std::shared_ptr<MetricRegistry::Metric> MetricRegistry::define(Kind kind, const std::string& name,
                                                               const std::string& help,
                                                               const std::string& plugin) {
    if (!validName(name)) return nullptr;
    std::lock_guard lock(mutex_);
    auto& byPlugin = byName_[name];
    if (!byPlugin.empty() && byPlugin.begin()->second->kind != kind) return nullptr;
    auto& slot = byPlugin[plugin];
    if (!slot) {
        slot = std::make_shared<Metric>();
        slot->name = name;
        slot->help = help;
        slot->plugin = plugin;
        slot->kind = kind;
    }
    return slot;
}

std::string MetricRegistry::render() const {
    std::lock_guard lock(mutex_);
    std::string out;
    char num[64];
    for (const auto& [name, byPlugin] : byName_) {
        if (byPlugin.empty()) continue;
        const Metric& first = *byPlugin.begin()->second;
        out += "# HELP " + name + " " + escapeHelp(first.help) + "\n";
        out += "# TYPE " + name + (first.kind == Kind::kCounter ? " counter\n" : " gauge\n");
        for (const auto& [plugin, m] : byPlugin) {
            const double v = m->value.load(std::memory_order_relaxed);
            if (std::isfinite(v))
                std::snprintf(num, sizeof num, "%.17g", v);
            else
                std::snprintf(num, sizeof num, "%s",
                              std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf"));
            out += name + "{plugin=\"" + escapeLabel(plugin) + "\"} " + num + "\n";
        }
    }
    return out;
}

}  // namespace gatehouse::observe
