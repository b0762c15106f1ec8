#include "server/gateway.h"

#include <signal.h>
#include <unistd.h>

#include <Poco/Exception.h>
#include <Poco/Net/SocketAddress.h>

#include <cstdio>

#include "config/codec.h"
#include "net/listener.h"

namespace gatehouse::server {

Gateway::Gateway(std::string iniPath, std::map<std::string, std::string> overrides)
    : iniPath_(std::move(iniPath)), overrides_(std::move(overrides)) {}

Gateway::~Gateway() = default;

bool Gateway::loadAndPublish(const config::Settings& settings, const char* reason) {
    try {
        const uint64_t version = store_->version();
        auto snap = config::buildSnapshot(store_->load(), version, settings.runtime, targets_,
                                          settings.effectiveWorkers());
        const size_t routes = snap->routes->size();
        const size_t upstreams = snap->upstreams.size();
        for (const auto& u : snap->upstreams)
            for (const auto& t : u.targets)
                if (!t->resolvedOk)
                    log_->emit(observe::Level::kWarn, "target_unresolved",
                               {{"upstream", std::string_view(u.spec->meta.name)},
                                {"target", std::string_view(t->address)},
                                {"reason", std::string_view(t->resolveError)}});
        snapshots_.publish(std::move(snap));
        log_->emit(observe::Level::kInfo, "config_applied",
                   {{"version", version},
                    {"reason", std::string_view(reason)},
                    {"routes", static_cast<uint64_t>(routes)},
                    {"upstreams", static_cast<uint64_t>(upstreams)}});
        return true;
    } catch (const config::ValidationError& e) {
        const std::string detail = config::summarize(e.fields);
        log_->emit(observe::Level::kError, "config_rejected",
                   {{"reason", std::string_view(e.what())}, {"fields", std::string_view(detail)}});
    } catch (const std::exception& e) {
        log_->emit(observe::Level::kError, "config_rejected",
                   {{"reason", std::string_view(e.what())}});
    }
    return false;
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
        fresh.dbPath != settings_.dbPath)
        log_->emit(observe::Level::kWarn, "restart_required",
                   {{"reason",
                     std::string_view(
                         "proxy.listen, proxy.workers and store.path apply at the next start")}});
    fresh.proxyListen = settings_.proxyListen;
    fresh.workers = settings_.workers;
    fresh.dbPath = settings_.dbPath;
    if (loadAndPublish(fresh, "SIGHUP")) settings_ = fresh;
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
    if (!loadAndPublish(settings_, "start")) {
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
            workers_.push_back(
                std::make_unique<proxy::Worker>(i, std::move(listeners[i]), snapshots_, *log_));
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
    for (auto& w : workers_)
        w->start();
    log_->emit(observe::Level::kInfo, "listening",
               {{"proxy", std::string_view(bound)},
                {"workers", static_cast<uint64_t>(n)},
                {"pid", static_cast<int64_t>(::getpid())},
                {"db", std::string_view(settings_.dbPath)}});

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGHUP) {
            reload();
        } else if (sig == SIGUSR1) {
            log_->reopen();
            log_->emit(observe::Level::kInfo, "logs_reopened");
        } else {
            break;
        }
    }

    log_->emit(observe::Level::kInfo, "draining",
               {{"timeout_ms", static_cast<uint64_t>(settings_.drainTimeoutMs)}});
    for (auto& w : workers_)
        w->beginDrain(settings_.drainTimeoutMs);
    for (auto& w : workers_)
        w->join();
    uint64_t requests = 0;
    for (auto& w : workers_)
        requests += w->stats().requests.load();
    workers_.clear();
    log_->emit(observe::Level::kInfo, "stopped", {{"requests", requests}});
    log_->flush();
    return 0;
}

}  // namespace gatehouse::server
