#include "server/gateway.h"

#include <signal.h>
#include <unistd.h>

#include <Poco/Exception.h>
#include <Poco/Net/SocketAddress.h>

#include <algorithm>
#include <cstdio>

#include "config/codec.h"
#include "net/clock.h"
#include "net/listener.h"

namespace gatehouse::server {

Gateway::Gateway(std::string iniPath, std::map<std::string, std::string> overrides)
    : iniPath_(std::move(iniPath)), overrides_(std::move(overrides)) {}

Gateway::~Gateway() = default;

std::shared_ptr<const config::RuntimeSettings> Gateway::runtime() const {
    std::lock_guard lock(runtimeMutex_);
    return settings_.runtime;
}

void Gateway::published(const std::shared_ptr<const config::Snapshot>& snap) {
    snapshots_.publish(snap);
    for (const auto& u : snap->upstreams)
        for (const auto& t : u.targets)
            if (!t->resolvedOk)
                log_->emit(observe::Level::kWarn, "target_unresolved",
                           {{"upstream", std::string_view(u.spec->meta.name)},
                            {"target", std::string_view(t->address)},
                            {"reason", std::string_view(t->resolveError)}});
    log_->emit(observe::Level::kInfo, "config_applied",
               {{"version", snap->version},
                {"routes", static_cast<uint64_t>(snap->doc->routes.size())},
                {"upstreams", static_cast<uint64_t>(snap->doc->upstreams.size())}});
}

admin::GatewayStatus Gateway::status() const {
    admin::GatewayStatus st;
    st.uptimeMs = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::steady_clock::now() - startedAt_)
                                            .count());
    st.workers = static_cast<unsigned>(workers_.size());
    for (const auto& w : workers_) {
        st.openConnections += w->stats().connectionsOpen.load(std::memory_order_relaxed);
        st.acceptedConnections += w->stats().connectionsAccepted.load(std::memory_order_relaxed);
        st.requests += w->stats().requests.load(std::memory_order_relaxed);
    }
    st.ready = ready_.load();
    st.draining = draining_.load();
    return st;
}

void Gateway::appendMetrics(std::string& out) const {
    auto header = [&](const char* name, const char* type, const char* help) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    };
    auto line = [&](const std::string& series, auto value) {
        out += series + " " + std::to_string(value) + "\n";
    };
    header("gatehouse_build_info", "gauge", "The running build (always 1).");
    line("gatehouse_build_info{version=\"" GATEHOUSE_VERSION "\"}", 1);
    header("gatehouse_start_time_seconds", "gauge", "When the process started (Unix time).");
    line("gatehouse_start_time_seconds",
         std::chrono::duration_cast<std::chrono::seconds>(startedAtWall_.time_since_epoch())
             .count());
    header("gatehouse_workers", "gauge", "Data-plane worker threads.");
    line("gatehouse_workers", workers_.size());

    int64_t open = 0, inFlight = 0, upstreamIdle = 0;
    uint64_t accepted = 0;
    for (const auto& w : workers_) {
        open += w->stats().connectionsOpen.load(std::memory_order_relaxed);
        inFlight += w->stats().requestsInFlight.load(std::memory_order_relaxed);
        accepted += w->stats().connectionsAccepted.load(std::memory_order_relaxed);
        upstreamIdle += w->idleUpstreamConnections();
    }
    // The two counts are read a moment apart: keep the idle figure from going negative.
    const int64_t active = std::min(inFlight, open);
    header("gatehouse_connections", "gauge",
           "Open client connections: active (a request under way) or idle (keep-alive).");
    line("gatehouse_connections{state=\"active\"}", active);
    line("gatehouse_connections{state=\"idle\"}", open - active);
    header("gatehouse_connections_accepted_total", "counter", "Client connections accepted.");
    line("gatehouse_connections_accepted_total", accepted);
    header("gatehouse_upstream_idle_connections", "gauge",
           "Keep-alive upstream connections waiting in the workers' pools.");
    line("gatehouse_upstream_idle_connections", upstreamIdle);

    if (const auto snap = snapshots_.current()) {
        std::string health, activeReqs;
        for (const auto& u : snap->upstreams)
            for (const auto& t : u.targets) {
                std::string labels = "{upstream=\"";
                observe::appendLabelValue(labels, u.spec->meta.name);
                labels += "\",target=\"";
                observe::appendLabelValue(labels, t->address);
                labels += "\"}";
                // Without health checks a target is healthy when its address resolved.
                health +=
                    "gatehouse_upstream_target_health" + labels + (t->resolvedOk ? " 1\n" : " 0\n");
                activeReqs += "gatehouse_upstream_target_active_requests" + labels + " " +
                              std::to_string(t->active.load(std::memory_order_relaxed)) + "\n";
            }
        header("gatehouse_upstream_target_health", "gauge",
               "1 when the target is in rotation, 0 when it is not.");
        out += health;
        header("gatehouse_upstream_target_active_requests", "gauge",
               "Requests in flight to the target, all workers.");
        out += activeReqs;
    }
    if (traffic_) traffic_->render(out);

    header("gatehouse_event_log_dropped_total", "counter",
           "Event log lines dropped because the writer fell behind.");
    line("gatehouse_event_log_dropped_total", log_->dropped());
    if (spans_ && spans_->enabled()) {
        header("gatehouse_spans_exported_total", "counter", "Spans the collector accepted.");
        line("gatehouse_spans_exported_total", spans_->exported());
        header("gatehouse_spans_dropped_total", "counter",
               "Spans dropped because a worker's export queue was full.");
        line("gatehouse_spans_dropped_total", spans_->dropped());
        header("gatehouse_spans_failed_total", "counter",
               "Spans lost because the collector could not be reached or refused them.");
        line("gatehouse_spans_failed_total", spans_->failed());
    }
}

std::vector<observe::RouteStatus> Gateway::routeStatus() const {
    if (!traffic_) return {};
    return traffic_->routeStatus(net::monotonicMs());
}

std::optional<std::string> Gateway::pluginStatus(const std::string& name,
                                                 const std::string& config) const {
    if (!pluginRegistry_) return std::nullopt;
    const auto loaded = pluginRegistry_->find(name);
    if (!loaded) return std::nullopt;
    const auto instance = pluginInstances_.find(loaded.get(), config);
    return instance ? instance->status() : std::nullopt;
}

bool Gateway::startAdmin() {
    if (settings_.adminListen == "off") return true;
    token_ = std::make_unique<admin::AdminToken>(*store_);
    if (const std::string fresh = token_->ensure(); !fresh.empty()) {
        // Shown once, never in the event log: the store keeps only its hash.
        log_->flush();
        if (settings_.adminShowFirstToken)
            std::fprintf(stderr,
                         "gatehouse: admin API token (shown once; `gatehouse admin-token` makes a "
                         "new one): %s\n",
                         fresh.c_str());
        else
            std::fprintf(stderr,
                         "gatehouse: the admin API needs a token: make one with `gatehouse "
                         "admin-token` run as this service's user (e.g. sudo -u gatehouse "
                         "gatehouse admin-token)\n");
    }
    admin::AdminSettings as;
    as.listen = settings_.adminListen;
    as.maxBodyBytes = settings_.adminMaxBodyBytes;
    adminApi_ = std::make_unique<admin::AdminApi>(*config_, *token_, *this, as.maxBodyBytes,
                                                  pluginRegistry_.get(), &metrics_);
    adminServer_ = std::make_unique<admin::AdminServer>(as, *adminApi_);
    try {
        adminServer_->start();
    } catch (const Poco::Exception& e) {
        const std::string reason = "cannot listen on " + as.listen + " (admin): " + e.displayText();
        log_->emit(observe::Level::kError, "startup_failed",
                   {{"reason", std::string_view(reason)}});
        return false;
    } catch (const std::exception& e) {
        const std::string reason = "cannot listen on " + as.listen + " (admin): " + e.what();
        log_->emit(observe::Level::kError, "startup_failed",
                   {{"reason", std::string_view(reason)}});
        return false;
    }
    if (adminServer_->exposed()) {
        log_->emit(
            observe::Level::kWarn, "admin_exposed",
            {{"admin", std::string_view(adminServer_->address())},
             {"reason",
              std::string_view("the admin API is reachable beyond loopback without TLS: anyone who "
                               "obtains the token can reconfigure the gateway")}});
    }
    return true;
}

bool Gateway::loadAndPublish(const char* reason) {
    try {
        config_->reload();
        return true;
    } catch (const config::ValidationError& e) {
        const std::string detail = config::summarize(e.fields);
        log_->emit(observe::Level::kError, "config_rejected",
                   {{"reason", std::string_view(e.what())},
                    {"fields", std::string_view(detail)},
                    {"on", std::string_view(reason)}});
    } catch (const std::exception& e) {
        log_->emit(observe::Level::kError, "config_rejected",
                   {{"reason", std::string_view(e.what())}, {"on", std::string_view(reason)}});
    }
    return false;
}

void Gateway::loadPlugins(const char* reason) {
    if (settings_.pluginDir.empty()) return;
    for (const auto& r : pluginRegistry_->scan(settings_.pluginDir)) {
        if (r.loaded)
            log_->emit(observe::Level::kInfo, "plugin_loaded",
                       {{"plugin", std::string_view(r.plugin)},
                        {"file", std::string_view(r.file)},
                        {"on", std::string_view(reason)}});
        else
            log_->emit(observe::Level::kWarn, "plugin_refused",
                       {{"plugin", std::string_view(r.plugin)},
                        {"file", std::string_view(r.file)},
                        {"reason", std::string_view(r.reason)}});
    }
}

void Gateway::reload() {
    config::Settings fresh;
    try {
        fresh = config::loadSettings(iniPath_, overrides_);
    } catch (const std::exception& e) {
        log_->emit(observe::Level::kError, "reload_failed",
                   {{"reason", std::string_view(e.what())},
                    {"kept", std::string_view("previous settings")}});
        fresh = settings_;
    }
    if (fresh.proxyListen != settings_.proxyListen ||
        fresh.effectiveWorkers() != settings_.effectiveWorkers() ||
        fresh.dbPath != settings_.dbPath ||
        fresh.sharedStateMaxKeys != settings_.sharedStateMaxKeys)
        log_->emit(observe::Level::kWarn, "restart_required",
                   {{"reason", std::string_view("proxy.listen, proxy.workers, store.path and "
                                                "plugins.shared_state_max_keys apply at the "
                                                "next start")}});
    fresh.proxyListen = settings_.proxyListen;
    fresh.workers = settings_.workers;
    fresh.dbPath = settings_.dbPath;
    fresh.sharedStateMaxKeys = settings_.sharedStateMaxKeys;
    const config::Settings previous = settings_;
    {
        std::lock_guard lock(runtimeMutex_);
        settings_ = fresh;
    }
    loadPlugins("SIGHUP");
    if (!loadAndPublish("SIGHUP")) {
        std::lock_guard lock(runtimeMutex_);
        settings_ = previous;  // the old snapshot keeps serving with the old settings
    }
}

int Gateway::run() {
    // Signals are taken synchronously by this thread; every other thread has them blocked.
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1})
        sigaddset(&set, s);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);

    try {
        settings_ = config::loadSettings(iniPath_, overrides_);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gatehouse: %s\n", e.what());
        return 2;
    }
    log_ = std::make_unique<observe::EventLog>(settings_.eventLog,
                                               observe::EventLog::parseLevel(settings_.logLevel));

    try {
        store_ = std::make_unique<config::Store>(settings_.dbPath);
    } catch (const std::exception& e) {
        log_->emit(observe::Level::kError, "startup_failed",
                   {{"reason", std::string_view(e.what())}});
        log_->flush();
        return 1;
    }
    try {
        observe::SpanExporter::Options so;
        so.endpoint = settings_.tracing.otlpEndpoint;
        so.serviceName = settings_.tracing.serviceName;
        so.flushIntervalMs = settings_.tracing.flushIntervalMs;
        so.queuePerWorker = settings_.tracing.queuePerWorker;
        spans_ = std::make_unique<observe::SpanExporter>(so, settings_.effectiveWorkers(), *log_);
    } catch (const std::exception& e) {
        log_->emit(observe::Level::kError, "startup_failed",
                   {{"reason", std::string_view(e.what())}});
        log_->flush();
        return 1;
    }
    traffic_ = std::make_unique<observe::TrafficMetrics>(settings_.effectiveWorkers());
    sharedState_ =
        std::make_unique<plugins::SharedState>(static_cast<size_t>(settings_.sharedStateMaxKeys));
    pluginServices_ = {log_.get(), sharedState_.get(), &metrics_, &reopenGeneration_};
    pluginRegistry_ = std::make_unique<plugins::PluginRegistry>(plugins::hostApi());
    pluginRuntime_ = {pluginRegistry_.get(), &pluginInstances_, &pluginServices_};
    loadPlugins("start");
    config_ = std::make_unique<config::ConfigService>(
        *store_, targets_, settings_.effectiveWorkers(), [this] { return runtime(); },
        [this](std::shared_ptr<const config::Snapshot> snap) { published(snap); }, &pluginRuntime_,
        traffic_.get());
    if (!loadAndPublish("start")) {
        log_->flush();
        return 1;
    }

    const unsigned n = settings_.effectiveWorkers();
    std::vector<Poco::Net::ServerSocket> listeners;
    std::string bound;
    try {
        listeners = net::openReusePortListeners(Poco::Net::SocketAddress(settings_.proxyListen), n,
                                                settings_.backlog);
        bound = listeners.front().address().toString();
        for (unsigned i = 0; i < n; ++i)
            workers_.push_back(std::make_unique<proxy::Worker>(i, std::move(listeners[i]),
                                                               snapshots_, *log_, spans_.get()));
    } catch (const std::exception& e) {
        const std::string reason = "cannot listen on " + settings_.proxyListen + ": " +
                                   (dynamic_cast<const Poco::Exception*>(&e)
                                        ? dynamic_cast<const Poco::Exception&>(e).displayText()
                                        : std::string(e.what()));
        log_->emit(observe::Level::kError, "startup_failed",
                   {{"reason", std::string_view(reason)}});
        log_->flush();
        return 1;
    }
    if (!startAdmin()) {
        log_->flush();
        return 1;
    }
    for (auto& w : workers_)
        w->start();
    ready_ = true;
    const std::string adminAddress = adminServer_ ? adminServer_->address() : "off";
    log_->emit(observe::Level::kInfo, "listening",
               {{"proxy", std::string_view(bound)},
                {"admin", std::string_view(adminAddress)},
                {"workers", static_cast<uint64_t>(n)},
                {"pid", static_cast<int64_t>(::getpid())},
                {"db", std::string_view(settings_.dbPath)}});

    for (;;) {
        // Wake at least every second to destroy what workers retired (replaced snapshots and
        // the plugin instances only they held) on this thread, never on a worker.
        const timespec tick{1, 0};
        const int sig = sigtimedwait(&set, nullptr, &tick);
        if (sig < 0) {
            snapshots_.collect();
            traffic_->sample(net::monotonicMs());
            continue;
        }
        if (sig == SIGHUP) {
            reload();
        } else if (sig == SIGUSR1) {
            log_->reopen();
            reopenGeneration_.fetch_add(1, std::memory_order_relaxed);
            log_->emit(observe::Level::kInfo, "logs_reopened");
        } else {
            break;
        }
    }

    draining_ = true;  // /ready answers 503 from here on
    log_->emit(observe::Level::kInfo, "draining",
               {{"timeout_ms", static_cast<uint64_t>(settings_.drainTimeoutMs)}});
    for (auto& w : workers_)
        w->beginDrain(settings_.drainTimeoutMs);
    for (auto& w : workers_)
        w->join();
    if (adminServer_) adminServer_->stop();
    const uint64_t requests = status().requests;
    workers_.clear();
    log_->emit(observe::Level::kInfo, "stopped", {{"requests", requests}});
    log_->flush();
    return 0;
}

}  // namespace gatehouse::server
