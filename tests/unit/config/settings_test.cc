#include "config/settings.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>

namespace gatehouse::config {
namespace {

/// A private directory under /tmp, removed with everything in it.
class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/gh-settings-test-XXXXXX";
        const char* p = ::mkdtemp(tmpl);
        if (!p) throw std::runtime_error("mkdtemp failed");
        path_ = p;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    std::string write(const std::string& name, const std::string& content) const {
        const std::string file = path_ + "/" + name;
        std::ofstream out(file, std::ios::binary);
        out << content;
        return file;
    }

private:
    std::string path_;
};

/// The message of the SettingsError that loading `ini` throws, "" when it does not throw.
std::string loadError(const std::string& ini,
                      const std::map<std::string, std::string>& overrides = {}) {
    TempDir dir;
    const std::string file = dir.write("gatehouse.conf", ini);
    try {
        loadSettings(file, overrides);
    } catch (const SettingsError& e) {
        return e.what();
    }
    return "";
}

Settings loadText(const std::string& ini,
                  const std::map<std::string, std::string>& overrides = {}) {
    TempDir dir;
    return loadSettings(dir.write("gatehouse.conf", ini), overrides);
}

TEST(LoadSettings, DefaultsWithoutAFile) {
    const Settings s = loadSettings("", {});
    EXPECT_EQ(s.configFile, "");
    EXPECT_EQ(s.dbPath, "gatehouse.db");
    EXPECT_EQ(s.proxyListen, "0.0.0.0:8000");
    EXPECT_EQ(s.workers, 0u);
    EXPECT_GE(s.effectiveWorkers(), 1u);
    EXPECT_EQ(s.backlog, 1024);
    EXPECT_EQ(s.drainTimeoutMs, 30000u);
    EXPECT_EQ(s.eventLog, "stderr");
    EXPECT_EQ(s.logLevel, "info");
    ASSERT_TRUE(s.runtime);
    const RuntimeSettings& rt = *s.runtime;
    // DESIGN.md "Limits".
    EXPECT_EQ(rt.limits.maxRequestLine, 8u * 1024);
    EXPECT_EQ(rt.limits.maxHeaderBytes, 32u * 1024);
    EXPECT_EQ(rt.limits.maxHeaderCount, 100u);
    EXPECT_EQ(rt.limits.maxBodyBytes, 8ull << 20);
    EXPECT_EQ(rt.client.headerMs, 10000u);
    EXPECT_EQ(rt.client.keepaliveMs, 60000u);
    EXPECT_EQ(rt.upstream.connectMs, 5000u);
    EXPECT_EQ(rt.upstream.readMs, 60000u);
    EXPECT_TRUE(rt.trustedProxies.empty());
}

TEST(LoadSettings, DefaultIniLoadsAndMatchesTheBuiltInLimits) {
    const Settings s = loadText(defaultIni());
    const Settings d = loadSettings("", {});
    EXPECT_EQ(s.dbPath, "/var/lib/gatehouse/gatehouse.db");
    EXPECT_FALSE(s.adminShowFirstToken) << "the packaged file keeps the token out of the journal";
    EXPECT_TRUE(d.adminShowFirstToken) << "without a file (quick start) it is shown";
    EXPECT_EQ(s.proxyListen, d.proxyListen);
    EXPECT_EQ(s.workers, d.workers);
    EXPECT_EQ(s.logLevel, "info");
    EXPECT_EQ(s.runtime->limits.maxRequestLine, d.runtime->limits.maxRequestLine);
    EXPECT_EQ(s.runtime->limits.maxHeaderBytes, d.runtime->limits.maxHeaderBytes);
    EXPECT_EQ(s.runtime->limits.maxHeaderCount, d.runtime->limits.maxHeaderCount);
    EXPECT_EQ(s.runtime->limits.maxBodyBytes, d.runtime->limits.maxBodyBytes);
    EXPECT_EQ(s.runtime->client.headerMs, d.runtime->client.headerMs);
    EXPECT_EQ(s.runtime->upstream.connectMs, d.runtime->upstream.connectMs);
    EXPECT_EQ(s.runtime->pool.maxIdlePerTarget, 64u);
    EXPECT_EQ(s.runtime->pool.idleTimeoutMs, 30000u);
    EXPECT_TRUE(s.runtime->trustedProxies.empty());
}

TEST(LoadSettings, EveryKeyOfTheDefaultIniIsKnown) {
    // Each "key = value" of defaultIni(), given alone as an override, must be accepted.
    std::istringstream in(defaultIni());
    std::string line, section;
    int keys = 0;
    const std::regex kv(R"(^([a-z_]+)\s*=\s*(.*)$)");
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        if (line[0] == '[') {
            section = line.substr(1, line.find(']') - 1);
            continue;
        }
        std::smatch m;
        ASSERT_TRUE(std::regex_match(line, m, kv)) << line;
        const std::string key = section + "." + m[1].str();
        EXPECT_NO_THROW(loadSettings("", {{key, m[2].str()}})) << key;
        ++keys;
    }
    EXPECT_GE(keys, 20);
}

TEST(LoadSettings, EveryDocumentedKeyTakesEffect) {
    const Settings s = loadText(R"([proxy]
listen = 127.0.0.1:9000
workers = 3
backlog = 77
trusted_proxies = 10.0.0.0/8, ::1
request_id_trusted = 192.168.0.0/16

[metrics]
enabled = off

[tracing]
propagate = false
sample_ratio = 0.25
otlp_endpoint = http://127.0.0.1:4318/v1/traces
service_name = edge
flush_interval_ms = 250
queue_size = 128

[limits]
max_request_line = 4096
max_header_bytes = 16384
max_header_count = 50
max_body_bytes = 1048576
header_timeout_ms = 1000
body_timeout_ms = 2000
keepalive_timeout_ms = 3000
send_timeout_ms = 4000

[upstream]
connect_timeout_ms = 500
send_timeout_ms = 600
read_timeout_ms = 700
keepalive_max_idle = 8
keepalive_idle_timeout_ms = 900
max_response_header_bytes = 65536

[store]
path = /tmp/x.db

[server]
drain_timeout_ms = 1234
event_log = /var/log/gatehouse/events.log
log_level = debug
)");
    EXPECT_EQ(s.proxyListen, "127.0.0.1:9000");
    EXPECT_EQ(s.workers, 3u);
    EXPECT_EQ(s.effectiveWorkers(), 3u);
    EXPECT_EQ(s.backlog, 77);
    const RuntimeSettings& rt = *s.runtime;
    ASSERT_EQ(rt.trustedProxies.size(), 2u);
    EXPECT_EQ(rt.trustedProxies[0].toString(), "10.0.0.0/8");
    EXPECT_EQ(rt.trustedProxies[1].toString(), "::1/128");
    EXPECT_EQ(rt.limits.maxRequestLine, 4096u);
    EXPECT_EQ(rt.limits.maxHeaderBytes, 16384u);
    EXPECT_EQ(rt.limits.maxHeaderCount, 50u);
    EXPECT_EQ(rt.limits.maxBodyBytes, 1048576u);
    EXPECT_EQ(rt.client.headerMs, 1000u);
    EXPECT_EQ(rt.client.bodyMs, 2000u);
    EXPECT_EQ(rt.client.keepaliveMs, 3000u);
    EXPECT_EQ(rt.client.sendMs, 4000u);
    EXPECT_EQ(rt.upstream.connectMs, 500u);
    EXPECT_EQ(rt.upstream.sendMs, 600u);
    EXPECT_EQ(rt.upstream.readMs, 700u);
    EXPECT_EQ(rt.pool.maxIdlePerTarget, 8u);
    EXPECT_EQ(rt.pool.idleTimeoutMs, 900u);
    EXPECT_EQ(rt.upstreamResponseLimits.maxHeaderBytes, 65536u);
    EXPECT_EQ(rt.upstreamResponseLimits.maxHeaderCount, 50u)
        << "upstream responses get the same field-count limit";
    EXPECT_EQ(s.dbPath, "/tmp/x.db");
    EXPECT_EQ(s.drainTimeoutMs, 1234u);
    EXPECT_EQ(s.eventLog, "/var/log/gatehouse/events.log");
    EXPECT_EQ(s.logLevel, "debug");
    ASSERT_EQ(rt.requestIdTrusted.size(), 1u);
    EXPECT_EQ(rt.requestIdTrusted[0].toString(), "192.168.0.0/16");
    EXPECT_FALSE(rt.metricsEnabled);
    EXPECT_FALSE(rt.tracePropagate);
    EXPECT_DOUBLE_EQ(rt.traceSampleRatio, 0.25);
    EXPECT_EQ(s.tracing.otlpEndpoint, "http://127.0.0.1:4318/v1/traces");
    EXPECT_EQ(s.tracing.serviceName, "edge");
    EXPECT_EQ(s.tracing.flushIntervalMs, 250u);
    EXPECT_EQ(s.tracing.queuePerWorker, 128u);
}

TEST(LoadSettings, SharedStateMaxKeys) {
    EXPECT_EQ(loadSettings("", {}).sharedStateMaxKeys, 1'000'000u);
    EXPECT_EQ(loadText(defaultIni()).sharedStateMaxKeys, 1'000'000u);
    EXPECT_EQ(loadText("[plugins]\nshared_state_max_keys = 5000\n").sharedStateMaxKeys, 5000u);
    EXPECT_NE(
        loadError("[plugins]\nshared_state_max_keys = 0\n").find("plugins.shared_state_max_keys"),
        std::string::npos);
    EXPECT_NE(loadError("[plugins]\nshared_state_max_keys = many\n")
                  .find("plugins.shared_state_max_keys"),
              std::string::npos);
}

TEST(LoadSettings, ObservabilityDefaults) {
    const Settings s = loadText("");
    EXPECT_TRUE(s.runtime->metricsEnabled);
    EXPECT_TRUE(s.runtime->tracePropagate);
    EXPECT_DOUBLE_EQ(s.runtime->traceSampleRatio, 1.0);
    EXPECT_TRUE(s.runtime->requestIdTrusted.empty());
    EXPECT_EQ(s.tracing.otlpEndpoint, "");
}

TEST(LoadSettings, BadObservabilityValuesNameTheKey) {
    for (const auto& [text, key] : std::vector<std::pair<std::string, std::string>>{
             {"[metrics]\nenabled = maybe\n", "metrics.enabled"},
             {"[tracing]\nsample_ratio = 1.5\n", "tracing.sample_ratio"},
             {"[tracing]\nsample_ratio = half\n", "tracing.sample_ratio"},
             {"[tracing]\notlp_endpoint = collector:4318\n", "tracing.otlp_endpoint"},
             {"[tracing]\nflush_interval_ms = 1\n", "tracing.flush_interval_ms"},
             {"[proxy]\nrequest_id_trusted = nope\n", "proxy.request_id_trusted"},
         }) {
        const std::string err = loadError(text);
        EXPECT_NE(err.find(key), std::string::npos) << text << " -> " << err;
    }
}

TEST(LoadSettings, UnknownKeyIsNamed) {
    const std::string err = loadError("[proxy]\nworkers = 2\nbogus_key = 1\n");
    EXPECT_NE(err.find("proxy.bogus_key"), std::string::npos) << err;
    const std::string section = loadError("[nosuch]\nworkers = 2\n");
    EXPECT_NE(section.find("nosuch.workers"), std::string::npos) << section;
}

TEST(LoadSettings, BadNumberNamesTheKey) {
    std::string err = loadError("[limits]\nmax_body_bytes = lots\n");
    EXPECT_NE(err.find("limits.max_body_bytes"), std::string::npos) << err;
    err = loadError("[proxy]\nworkers = 2x\n");
    EXPECT_NE(err.find("proxy.workers"), std::string::npos) << err;
    err = loadError("[proxy]\nworkers = -1\n");
    EXPECT_NE(err.find("proxy.workers"), std::string::npos) << err;
    err = loadError("[limits]\nheader_timeout_ms =\n");
    EXPECT_NE(err.find("limits.header_timeout_ms"), std::string::npos) << err;
}

TEST(LoadSettings, OutOfRangeNumberNamesTheKey) {
    std::string err = loadError("[proxy]\nworkers = 100000\n");
    EXPECT_NE(err.find("proxy.workers"), std::string::npos) << err;
    err = loadError("[limits]\nmax_header_count = 0\n");
    EXPECT_NE(err.find("limits.max_header_count"), std::string::npos) << err;
    err = loadError("[upstream]\nconnect_timeout_ms = 99999999999\n");
    EXPECT_NE(err.find("upstream.connect_timeout_ms"), std::string::npos) << err;
}

TEST(LoadSettings, BadValuesOfOtherKindsNameTheKey) {
    std::string err = loadError("[proxy]\ntrusted_proxies = 10.0.0.0/8, not-an-ip\n");
    EXPECT_NE(err.find("proxy.trusted_proxies"), std::string::npos) << err;
    err = loadError("[server]\nlog_level = verbose\n");
    EXPECT_NE(err.find("server.log_level"), std::string::npos) << err;
    err = loadError("[store]\npath =\n");
    EXPECT_NE(err.find("store.path"), std::string::npos) << err;
}

TEST(LoadSettings, OverridesWinOverTheFile) {
    const Settings s = loadText("[proxy]\nworkers = 2\nlisten = 0.0.0.0:1\n",
                                {{"proxy.workers", "5"}, {"limits.max_header_count", "7"}});
    EXPECT_EQ(s.workers, 5u);
    EXPECT_EQ(s.proxyListen, "0.0.0.0:1") << "keys not overridden keep the file's value";
    EXPECT_EQ(s.runtime->limits.maxHeaderCount, 7u);
}

TEST(LoadSettings, UnknownOverrideIsAnError) {
    EXPECT_THROW(loadSettings("", {{"proxy.nope", "1"}}), SettingsError);
}

TEST(LoadSettings, CommentsBlankLinesAndCase) {
    const Settings s = loadText(
        "# hash comment\n"
        "; semicolon comment\n"
        "\n"
        "   # indented comment\n"
        "[PROXY]\n"
        "  Workers   =   4  \n"
        ";workers = 9\n"
        "#workers = 9\n"
        "[ limits ]\n"
        "max_header_count=12\n");
    EXPECT_EQ(s.workers, 4u);
    EXPECT_EQ(s.runtime->limits.maxHeaderCount, 12u);
}

TEST(LoadSettings, CrlfLineEndings) {
    const Settings s = loadText("[proxy]\r\nworkers = 6\r\n[server]\r\nlog_level = warn\r\n");
    EXPECT_EQ(s.workers, 6u);
    EXPECT_EQ(s.logLevel, "warn");
}

TEST(LoadSettings, StructuralErrorsAreReported) {
    EXPECT_NE(loadError("workers = 2\n"), "") << "key outside a section";
    EXPECT_NE(loadError("[proxy\nworkers = 2\n"), "") << "bad section header";
    EXPECT_NE(loadError("[proxy]\nworkers\n"), "") << "missing '='";
    EXPECT_THROW(loadSettings("/nonexistent/gatehouse.conf", {}), SettingsError);
}

TEST(LoadSettings, EmptyTrustedProxiesClearsTheList) {
    const Settings s = loadText("[proxy]\ntrusted_proxies =\n");
    EXPECT_TRUE(s.runtime->trustedProxies.empty());
}

}  // namespace
}  // namespace gatehouse::config
