#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "http/limits.h"
#include "net/cidr.h"
#include "upstream/connection.h"
#include "upstream/pool.h"

namespace gatehouse::config {

/// Client-side timeouts (DESIGN.md "Limits").
struct ClientTimeouts {
    uint32_t headerMs = 10000;     // first byte of a request to the end of its head → 408
    uint32_t bodyMs = 60000;       // between two reads of a request body → 408
    uint32_t keepaliveMs = 60000;  // idle between requests → close
    uint32_t sendMs = 60000;       // between two writes to a client that does not read → close
};

/// Settings that take effect on SIGHUP without a restart; every snapshot carries a copy.
struct RuntimeSettings {
    http::HttpLimits limits;
    http::HttpLimits upstreamResponseLimits{8 * 1024, 32 * 1024, 100, 0};
    ClientTimeouts client;
    upstream::UpstreamTimeouts upstream;
    upstream::PoolLimits pool;
    /// Peers whose X-Forwarded-* and X-Request-Id are kept (appended to) instead of replaced.
    std::vector<net::Cidr> trustedProxies;
    /// How long a plugin may keep a request paused before it fails with 504.
    uint32_t pluginPauseMs = 30000;
    /// Peers (besides trusted proxies) whose X-Request-Id is kept rather than replaced.
    std::vector<net::Cidr> requestIdTrusted;
    /// Per-request metrics ([metrics] enabled); off saves their cost on the data plane.
    bool metricsEnabled = true;
    /// W3C trace context: read `traceparent`, start the gateway's span, send it upstream.
    bool tracePropagate = true;
    /// Share of new traces (no incoming traceparent) marked sampled, 0-1.
    double traceSampleRatio = 1.0;
};

/// Span export (start-time settings: the exporter's thread and queues are made once).
struct TracingSettings {
    std::string otlpEndpoint;  // "" = no export
    std::string serviceName = "gatehouse";
    uint32_t flushIntervalMs = 1000;
    uint32_t queuePerWorker = 4096;
};

/// Everything the INI file (and command-line flags) hold. The rest lives in SQLite.
struct Settings {
    std::string configFile;  // where these came from ("" = built-in defaults)
    std::string dbPath = "gatehouse.db";
    std::string proxyListen = "0.0.0.0:8000";
    unsigned workers = 0;  // 0 = one per core
    int backlog = 1024;
    uint32_t drainTimeoutMs = 30000;
    std::string adminListen = "127.0.0.1:8001";  // "off" disables the admin API
    std::string pluginDir;                       // "" = no plugins
    /// Keys the plugins' shared state tracks per kind (counters, values); beyond it new keys
    /// are refused (rate limits fail open or closed as configured). Restart to change.
    uint64_t sharedStateMaxKeys = 1'000'000;
    uint64_t adminMaxBodyBytes = 16u << 20;
    bool adminShowFirstToken = true;  // print the first admin token on stderr
    std::string eventLog = "stderr";  // "stderr", "stdout" or a file path
    std::string logLevel = "info";
    TracingSettings tracing;
    std::shared_ptr<const RuntimeSettings> runtime = std::make_shared<RuntimeSettings>();

    unsigned effectiveWorkers() const;
};

struct SettingsError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Reads `iniPath` ("" = defaults only) and applies `overrides` ("section.key" → value, from
/// the command line) on top. Throws SettingsError with a one-line reason naming the key.
Settings loadSettings(const std::string& iniPath,
                      const std::map<std::string, std::string>& overrides);

/// The default INI file, every key present and commented (packaging installs it).
std::string defaultIni();

}  // namespace gatehouse::config
