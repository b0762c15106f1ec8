#include "config/settings.h"

#include <charconv>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "http/ascii.h"
#include "observe/span_exporter.h"

namespace gatehouse::config {
namespace {

std::string trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return std::string(s);
}

/// "section.key" → value. '#' and ';' start comment lines.
std::map<std::string, std::string> parseIni(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw SettingsError("cannot read configuration file " + path);
    std::map<std::string, std::string> out;
    std::string line, section;
    int lineNo = 0;
    while (std::getline(in, line)) {
        ++lineNo;
        const std::string t = trim(line);
        if (t.empty() || t[0] == '#' || t[0] == ';') continue;
        if (t.front() == '[') {
            if (t.back() != ']')
                throw SettingsError(path + ":" + std::to_string(lineNo) + ": bad section header");
            section = http::toLower(trim(std::string_view(t).substr(1, t.size() - 2)));
            continue;
        }
        const size_t eq = t.find('=');
        if (eq == std::string::npos)
            throw SettingsError(path + ":" + std::to_string(lineNo) + ": expected key = value");
        if (section.empty())
            throw SettingsError(path + ":" + std::to_string(lineNo) + ": key outside a [section]");
        out[section + "." + http::toLower(trim(std::string_view(t).substr(0, eq)))] =
            trim(std::string_view(t).substr(eq + 1));
    }
    return out;
}

uint64_t toNumber(const std::string& key, const std::string& v, uint64_t min, uint64_t max) {
    uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || ptr != v.data() + v.size() || v.empty())
        throw SettingsError(key + ": expected a number, got '" + v + "'");
    if (n < min || n > max)
        throw SettingsError(key + ": " + v + " is outside " + std::to_string(min) + "-" +
                            std::to_string(max));
    return n;
}

bool toBool(const std::string& key, const std::string& v) {
    const std::string l = http::toLower(v);
    if (l == "true" || l == "on" || l == "yes" || l == "1") return true;
    if (l == "false" || l == "off" || l == "no" || l == "0") return false;
    throw SettingsError(key + ": expected true or false, got '" + v + "'");
}

}  // namespace

unsigned Settings::effectiveWorkers() const {
    if (workers) return workers;
    const unsigned n = std::thread::hardware_concurrency();
    return n ? n : 1;
}

Settings loadSettings(const std::string& iniPath,
                      const std::map<std::string, std::string>& overrides) {
    std::map<std::string, std::string> kv;
    if (!iniPath.empty()) kv = parseIni(iniPath);
    for (const auto& [k, v] : overrides)
        kv[k] = v;

    Settings s;
    s.configFile = iniPath;
    auto rt = std::make_shared<RuntimeSettings>();
    constexpr uint64_t kDay = 86'400'000;
    auto u32 = [](uint64_t v) { return static_cast<uint32_t>(v); };

    using Setter = std::function<void(const std::string& key, const std::string& v)>;
    const std::map<std::string, Setter> setters = {
        {"proxy.listen", [&](auto&, auto& v) { s.proxyListen = v; }},
        {"proxy.workers", [&](auto& k, auto& v) { s.workers = u32(toNumber(k, v, 0, 256)); }},
        {"proxy.backlog",
         [&](auto& k, auto& v) { s.backlog = static_cast<int>(toNumber(k, v, 1, 65535)); }},
        {"proxy.trusted_proxies",
         [&](auto& k, auto& v) {
             rt->trustedProxies.clear();
             http::forEachListElement(v, [&](std::string_view item) {
                 auto c = net::Cidr::parse(std::string(item));
                 if (!c)
                     throw SettingsError(k + ": '" + std::string(item) +
                                         "' is not an address or CIDR block");
                 rt->trustedProxies.push_back(*c);
             });
         }},
        {"proxy.request_id_trusted",
         [&](auto& k, auto& v) {
             rt->requestIdTrusted.clear();
             http::forEachListElement(v, [&](std::string_view item) {
                 auto c = net::Cidr::parse(std::string(item));
                 if (!c)
                     throw SettingsError(k + ": '" + std::string(item) +
                                         "' is not an address or CIDR block");
                 rt->requestIdTrusted.push_back(*c);
             });
         }},
        {"metrics.enabled", [&](auto& k, auto& v) { rt->metricsEnabled = toBool(k, v); }},
        {"tracing.propagate", [&](auto& k, auto& v) { rt->tracePropagate = toBool(k, v); }},
        {"tracing.sample_ratio",
         [&](auto& k, auto& v) {
             double r = -1;
             auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), r);
             if (ec != std::errc() || ptr != v.data() + v.size() || !(r >= 0 && r <= 1))
                 throw SettingsError(k + ": expected a number from 0 to 1, got '" + v + "'");
             rt->traceSampleRatio = r;
         }},
        {"tracing.otlp_endpoint",
         [&](auto& k, auto& v) {
             if (const std::string why = observe::SpanExporter::checkEndpoint(v); !why.empty())
                 throw SettingsError(k + ": " + why);
             s.tracing.otlpEndpoint = v;
         }},
        {"tracing.service_name",
         [&](auto& k, auto& v) {
             if (v.empty()) throw SettingsError(k + ": must not be empty");
             s.tracing.serviceName = v;
         }},
        {"tracing.flush_interval_ms",
         [&](auto& k, auto& v) { s.tracing.flushIntervalMs = u32(toNumber(k, v, 10, 60000)); }},
        {"tracing.queue_size",
         [&](auto& k, auto& v) { s.tracing.queuePerWorker = u32(toNumber(k, v, 16, 1 << 20)); }},
        {"limits.max_request_line",
         [&](auto& k, auto& v) { rt->limits.maxRequestLine = toNumber(k, v, 64, 1 << 20); }},
        {"limits.max_header_bytes",
         [&](auto& k, auto& v) { rt->limits.maxHeaderBytes = toNumber(k, v, 256, 1 << 20); }},
        {"limits.max_header_count",
         [&](auto& k, auto& v) { rt->limits.maxHeaderCount = toNumber(k, v, 1, 10000); }},
        {"limits.max_body_bytes",
         [&](auto& k, auto& v) { rt->limits.maxBodyBytes = toNumber(k, v, 0, UINT64_MAX >> 1); }},
        {"limits.header_timeout_ms",
         [&](auto& k, auto& v) { rt->client.headerMs = u32(toNumber(k, v, 1, kDay)); }},
        {"limits.body_timeout_ms",
         [&](auto& k, auto& v) { rt->client.bodyMs = u32(toNumber(k, v, 1, kDay)); }},
        {"limits.keepalive_timeout_ms",
         [&](auto& k, auto& v) { rt->client.keepaliveMs = u32(toNumber(k, v, 1, kDay)); }},
        {"limits.send_timeout_ms",
         [&](auto& k, auto& v) { rt->client.sendMs = u32(toNumber(k, v, 1, kDay)); }},
        {"upstream.connect_timeout_ms",
         [&](auto& k, auto& v) { rt->upstream.connectMs = u32(toNumber(k, v, 1, kDay)); }},
        {"upstream.send_timeout_ms",
         [&](auto& k, auto& v) { rt->upstream.sendMs = u32(toNumber(k, v, 1, kDay)); }},
        {"upstream.read_timeout_ms",
         [&](auto& k, auto& v) { rt->upstream.readMs = u32(toNumber(k, v, 1, kDay)); }},
        {"upstream.keepalive_max_idle",
         [&](auto& k, auto& v) { rt->pool.maxIdlePerTarget = u32(toNumber(k, v, 0, 100000)); }},
        {"upstream.keepalive_idle_timeout_ms",
         [&](auto& k, auto& v) { rt->pool.idleTimeoutMs = u32(toNumber(k, v, 1, kDay)); }},
        {"upstream.max_response_header_bytes",
         [&](auto& k, auto& v) {
             rt->upstreamResponseLimits.maxHeaderBytes = toNumber(k, v, 256, 1 << 20);
         }},
        {"plugins.dir", [&](auto&, auto& v) { s.pluginDir = v; }},
        {"plugins.pause_timeout_ms",
         [&](auto& k, auto& v) { rt->pluginPauseMs = u32(toNumber(k, v, 1, kDay)); }},
        {"plugins.shared_state_max_keys",
         [&](auto& k, auto& v) { s.sharedStateMaxKeys = toNumber(k, v, 1, 1'000'000'000); }},
        {"admin.listen",
         [&](auto& k, auto& v) {
             if (v.empty()) throw SettingsError(k + ": must be host:port or off");
             s.adminListen = v;
         }},
        {"admin.max_body_bytes",
         [&](auto& k, auto& v) { s.adminMaxBodyBytes = toNumber(k, v, 1024, 1ull << 30); }},
        {"admin.show_first_token", [&](auto& k, auto& v) { s.adminShowFirstToken = toBool(k, v); }},
        {"store.path",
         [&](auto& k, auto& v) {
             if (v.empty()) throw SettingsError(k + ": must not be empty");
             s.dbPath = v;
         }},
        {"server.drain_timeout_ms",
         [&](auto& k, auto& v) { s.drainTimeoutMs = u32(toNumber(k, v, 0, kDay)); }},
        {"server.event_log",
         [&](auto& k, auto& v) {
             if (v.empty()) throw SettingsError(k + ": must not be empty");
             s.eventLog = v;
         }},
        {"server.log_level",
         [&](auto& k, auto& v) {
             if (v != "debug" && v != "info" && v != "warn" && v != "error")
                 throw SettingsError(k + ": expected debug, info, warn or error");
             s.logLevel = v;
         }},
    };
    for (const auto& [k, v] : kv) {
        auto it = setters.find(k);
        if (it == setters.end()) throw SettingsError("unknown setting '" + k + "'");
        it->second(k, v);
    }
    rt->upstreamResponseLimits.maxHeaderCount = rt->limits.maxHeaderCount;
    s.runtime = std::move(rt);
    return s;
}

std::string defaultIni() {
    return R"(# gatehouse configuration. Listeners, storage, limits and timeouts live here; routes,
# upstreams and plugins live in the SQLite store and are changed through the admin API or
# `gatehouse config import`. SIGHUP re-reads this file: [limits] and [upstream] apply to new
# requests at once; [proxy] listen/workers need a restart.

[proxy]
listen = 0.0.0.0:8000
# 0 = one worker per CPU core
workers = 0
backlog = 1024
# Peers whose X-Forwarded-For / -Proto / -Host and X-Request-Id are kept (comma-separated
# addresses or CIDR blocks). Everyone else's are replaced.
trusted_proxies =
# Other peers whose X-Request-Id is kept (e.g. internal clients that make their own ids).
request_id_trusted =

[limits]
max_request_line = 8192
max_header_bytes = 32768
max_header_count = 100
max_body_bytes = 8388608
header_timeout_ms = 10000
body_timeout_ms = 60000
keepalive_timeout_ms = 60000
send_timeout_ms = 60000

[upstream]
connect_timeout_ms = 5000
send_timeout_ms = 60000
read_timeout_ms = 60000
keepalive_max_idle = 64
keepalive_idle_timeout_ms = 30000
max_response_header_bytes = 32768

[admin]
# The admin REST API. Keep it on loopback (or behind TLS): it changes the configuration.
# "off" disables it.
listen = 127.0.0.1:8001
max_body_bytes = 16777216
# The first start makes an admin API token. true prints it on stderr (once); false keeps it
# out of logs (a service's stderr is its journal) and says how to make one instead:
#   sudo -u gatehouse gatehouse admin-token
show_first_token = false

[plugins]
# Every *.so here is loaded at start and on SIGHUP (`gatehouse plugins` lists what loaded).
dir = /usr/lib/gatehouse/plugins
# A plugin that pauses a request must resume it within this time, else the request gets 504.
pause_timeout_ms = 30000
# Keys (rate-limit counters, breaker states) the plugins' shared state tracks, per kind;
# beyond it new keys are refused until old ones expire. Restart to change.
shared_state_max_keys = 1000000

[store]
path = /var/lib/gatehouse/gatehouse.db

[metrics]
# Per-request Prometheus metrics at the admin API's /metrics and the live view at
# /status/routes.
enabled = true

[tracing]
# W3C traceparent/tracestate: continued from the client or started here, with the gateway's
# own span sent upstream as the parent.
propagate = true
# Share of new traces marked sampled (a client's sampled flag is always kept).
sample_ratio = 1.0
# Export sampled gateway spans as OTLP/HTTP JSON, e.g. http://127.0.0.1:4318/v1/traces
# (empty = off). Spans are batched off the workers and dropped, never waited for, when the
# queue is full. Changes apply at restart.
otlp_endpoint =
service_name = gatehouse
flush_interval_ms = 1000
queue_size = 4096

[server]
drain_timeout_ms = 30000
# stderr, stdout, or a file path (reopened on SIGUSR1)
event_log = stderr
log_level = info
)";
}

}  // namespace gatehouse::config
