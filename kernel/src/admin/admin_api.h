#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "admin/admin_token.h"
#include "config/service.h"
#include "observe/metrics.h"
#include "observe/traffic_metrics.h"
#include "plugins/registry.h"

namespace gatehouse::admin {

/// What the gateway reports through /status and /ready.
struct GatewayStatus {
    uint64_t uptimeMs = 0;
    unsigned workers = 0;
    int64_t openConnections = 0;
    uint64_t acceptedConnections = 0;
    uint64_t requests = 0;
    bool ready = false;     // a configuration is loaded and workers accept traffic
    bool draining = false;  // SIGTERM received
};

class StatusSource {
public:
    virtual ~StatusSource() = default;
    virtual GatewayStatus status() const = 0;
    /// Appends the gateway's own metrics in the Prometheus text format.
    virtual void appendMetrics(std::string& /*out*/) const {}
    /// The live view: every route's last minute.
    virtual std::vector<observe::RouteStatus> routeStatus() const { return {}; }
    /// What the live instance of plugin `name` with `config` reports (instance_status, JSON
    /// text); nullopt when there is no such instance or it reports nothing.
    virtual std::optional<std::string> pluginStatus(const std::string& /*name*/,
                                                    const std::string& /*config*/) const {
        return std::nullopt;
    }
};

struct ApiRequest {
    std::string method;
    std::string path;   // without query
    std::string query;  // without '?'
    std::string authorization;
    std::string contentType;
    std::string body;
    bool bodyTooLarge = false;
    std::string peer;  // client address, recorded as the actor of writes
};

struct ApiResponse {
    int status = 200;
    std::string body;  // JSON (empty for 204)
    std::vector<std::pair<std::string, std::string>> headers;
};

/// The admin REST API as a function from request to response, independent of the HTTP
/// server that carries it. Thread-safe (the config service serializes writes).
class AdminApi {
public:
    /// `plugins` and `metrics` may be null (no plugin directory; no metrics).
    AdminApi(config::ConfigService& config, AdminToken& token, const StatusSource& status,
             size_t maxBodyBytes, const plugins::PluginRegistry* plugins = nullptr,
             const observe::MetricRegistry* metrics = nullptr);

    ApiResponse handle(const ApiRequest& request) const;
    size_t maxBodyBytes() const { return maxBodyBytes_; }

private:
    config::ConfigService& config_;
    AdminToken& token_;
    const StatusSource& status_;
    size_t maxBodyBytes_;
    const plugins::PluginRegistry* plugins_;
    const observe::MetricRegistry* metrics_;
};

/// The OpenAPI 3.1 document of this API (admin/openapi.cc).
const std::string& openApiDocument();

}  // namespace gatehouse::admin
