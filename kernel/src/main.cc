// gatehouse command line: wiring only. Each command lives in the module it drives.

#include <unistd.h>

#include <cxxopts.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "admin/admin_token.h"
#include "config/codec.h"
#include "config/diff.h"
#include "config/service.h"
#include "config/settings.h"
#include "config/snapshot.h"
#include "config/store.h"
#include "observe/event_log.h"
#include "observe/metrics.h"
#include "plugins/host_api.h"
#include "plugins/instance.h"
#include "plugins/registry.h"
#include "server/gateway.h"
#include "upstream/target.h"

#ifndef GATEHOUSE_VERSION
#define GATEHOUSE_VERSION "0.0.0"
#endif

namespace {

using namespace gatehouse;

constexpr const char* kDefaultConfig = "/etc/gatehouse/gatehouse.conf";

const char* kUsage = R"(usage: gatehouse <command> [options]

commands:
  run                          serve traffic until SIGTERM (SIGHUP reloads, SIGUSR1 reopens logs)
  validate                     check the configuration file and the stored configuration
  config export [FILE]         write the stored configuration as JSON (stdout without FILE)
  config import FILE           replace the stored configuration with FILE (--dry-run: check only)
  admin-token                  make a new admin API token, print it (the old one stops working)
  plugins                      list the plugin directory: what loads, and why the rest does not
  default-config               print the default configuration file (what packages install)
  version                      print the version

options:
  -c, --config FILE            INI file (default: $GATEHOUSE_CONFIG, else )"
                     "/etc/gatehouse/gatehouse.conf"
                     R"( if it exists)
      --db PATH                SQLite database (overrides [store] path)
      --listen ADDR            proxy listener host:port (overrides [proxy] listen)
      --workers N              worker threads, 0 = one per core (overrides [proxy] workers)
      --plugin-dir DIR         plugin directory (overrides [plugins] dir)
      --dry-run                with config import: validate and show the changes, write nothing
  -h, --help                   this text
)";

std::string configPath(const cxxopts::ParseResult& args) {
    if (args.count("config")) return args["config"].as<std::string>();
    if (const char* env = std::getenv("GATEHOUSE_CONFIG"); env && *env) return env;
    if (::access(kDefaultConfig, R_OK) == 0) return kDefaultConfig;
    return "";
}

std::map<std::string, std::string> overrides(const cxxopts::ParseResult& args) {
    std::map<std::string, std::string> o;
    if (args.count("db")) o["store.path"] = args["db"].as<std::string>();
    if (args.count("listen")) o["proxy.listen"] = args["listen"].as<std::string>();
    if (args.count("workers")) o["proxy.workers"] = args["workers"].as<std::string>();
    if (args.count("plugin-dir")) o["plugins.dir"] = args["plugin-dir"].as<std::string>();
    return o;
}

void printValidation(const config::ValidationError& e) {
    std::fprintf(stderr, "gatehouse: %s\n", e.what());
    for (const auto& [field, reason] : e.fields)
        std::fprintf(stderr, "  %s: %s\n", field.c_str(), reason.c_str());
}

/// The CLI writes through the same ConfigService as the admin API; it has no workers to
/// publish to (a running gatehouse applies the new version on SIGHUP). Plugins are loaded so
/// that their configurations are checked against their schemas, exactly as the gateway will.
struct OfflineConfig {
    explicit OfflineConfig(const config::Settings& settings)
        : store(settings.dbPath),
          events("stderr", observe::Level::kWarn),
          services{&events, &state, &metrics},
          registry(plugins::hostApi()),
          runtime{&registry, &instances, &services},
          service(
              store, targets, 1, [rt = settings.runtime] { return rt; }, {}, &runtime) {
        if (!settings.pluginDir.empty()) registry.scan(settings.pluginDir);
        service.reload();
    }
    config::Store store;
    upstream::TargetRegistry targets;
    observe::EventLog events;
    plugins::SharedState state;
    observe::MetricRegistry metrics;
    plugins::PluginServices services;
    plugins::PluginRegistry registry;
    plugins::InstanceCache instances;
    plugins::PluginRuntime runtime;
    config::ConfigService service;
};

/// `gatehouse plugins`: what the plugin directory holds, what loaded and why the rest did not.
int cmdPlugins(const config::Settings& settings) {
    if (settings.pluginDir.empty()) {
        std::printf("no plugin directory configured ([plugins] dir)\n");
        return 0;
    }
    plugins::PluginRegistry registry(plugins::hostApi());
    const auto reports = registry.scan(settings.pluginDir);
    std::printf("plugin directory %s (host plugin ABI %d.%d)\n", settings.pluginDir.c_str(),
                GH_ABI_MAJOR, GH_ABI_MINOR);
    int refused = 0;
    for (const auto& r : reports) {
        if (r.loaded) {
            const auto p = registry.find(r.plugin);
            std::printf("  loaded   %-20s %-10s %s\n", p->name.c_str(), p->version.c_str(),
                        r.file.c_str());
        } else {
            ++refused;
            std::printf("  refused  %-20s %s: %s\n", r.plugin.empty() ? "-" : r.plugin.c_str(),
                        r.file.c_str(), r.reason.c_str());
        }
    }
    if (reports.empty()) std::printf("  (no *.so files)\n");
    return refused ? 1 : 0;
}

int cmdValidate(const config::Settings& settings) {
    try {
        Poco::Net::SocketAddress(settings.proxyListen);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gatehouse: proxy.listen '%s' is not a valid address\n",
                     settings.proxyListen.c_str());
        return 1;
    }
    OfflineConfig cfg(settings);
    const auto snap = cfg.service.current();
    for (const auto& u : snap->upstreams)
        for (const auto& t : u.targets)
            if (!t->resolvedOk)
                std::fprintf(stderr, "gatehouse: warning: upstream %s target %s: %s\n",
                             u.spec->meta.name.c_str(), t->address.c_str(),
                             t->resolveError.c_str());
    std::printf("configuration OK: %s, store %s at version %llu (%zu upstreams, %zu routes)\n",
                settings.configFile.empty() ? "built-in defaults" : settings.configFile.c_str(),
                settings.dbPath.c_str(), static_cast<unsigned long long>(snap->version),
                snap->doc->upstreams.size(), snap->doc->routes.size());
    return 0;
}

int cmdExport(const config::Settings& settings, const std::vector<std::string>& rest) {
    OfflineConfig cfg(settings);
    const std::string text = config::toJsonText(*cfg.service.current()->doc);
    if (rest.empty()) {
        std::fwrite(text.data(), 1, text.size(), stdout);
        return 0;
    }
    std::ofstream out(rest[0], std::ios::trunc);
    if (!(out << text)) {
        std::fprintf(stderr, "gatehouse: cannot write %s\n", rest[0].c_str());
        return 1;
    }
    return 0;
}

int cmdImport(const config::Settings& settings, const std::vector<std::string>& rest, bool dryRun) {
    if (rest.empty()) {
        std::fprintf(stderr, "gatehouse: config import needs a FILE\n");
        return 2;
    }
    std::ifstream in(rest[0]);
    if (!in) {
        std::fprintf(stderr, "gatehouse: cannot read %s\n", rest[0].c_str());
        return 1;
    }
    std::stringstream buf;
    buf << in.rdbuf();
    config::ConfigDocument doc = config::documentFromJson(buf.str());
    OfflineConfig cfg(settings);
    const auto result = cfg.service.replaceAll(std::move(doc), "cli", "import", dryRun);
    if (dryRun)
        std::printf("dry run: %s is valid; %zu change(s) would be applied, nothing was written\n",
                    rest[0].c_str(), result.changes.size());
    else
        std::printf(
            "imported %s as configuration version %llu (%zu change(s)); a running gatehouse "
            "applies it on "
            "SIGHUP\n",
            rest[0].c_str(), static_cast<unsigned long long>(result.version),
            result.changes.size());
    for (const auto& c : result.changes)
        std::printf("  %s\n", config::describe(c).c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    cxxopts::Options options("gatehouse", "API gateway");
    options.add_options()("c,config", "INI file", cxxopts::value<std::string>())(
        "db", "database", cxxopts::value<std::string>())("listen", "proxy address",
                                                         cxxopts::value<std::string>())(
        "workers", "workers", cxxopts::value<std::string>())("plugin-dir", "plugin directory",
                                                             cxxopts::value<std::string>())(
        "dry-run", "validate only")("h,help", "help")("args", "command and arguments",
                                                      cxxopts::value<std::vector<std::string>>());
    options.parse_positional({"args"});

    cxxopts::ParseResult args;
    try {
        args = options.parse(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gatehouse: %s\n\n%s", e.what(), kUsage);
        return 2;
    }
    std::vector<std::string> words;
    if (args.count("args")) words = args["args"].as<std::vector<std::string>>();
    if (args.count("help") || words.empty()) {
        std::fputs(kUsage, words.empty() && !args.count("help") ? stderr : stdout);
        return args.count("help") ? 0 : 2;
    }
    const std::string cmd = words[0];
    if (cmd == "version") {
        std::printf("gatehouse %s\n", GATEHOUSE_VERSION);
        return 0;
    }
    if (cmd == "default-config") {
        std::fputs(config::defaultIni().c_str(), stdout);
        return 0;
    }
    const std::string ini = configPath(args);
    if (cmd == "run") return server::Gateway(ini, overrides(args)).run();

    try {
        const config::Settings settings = config::loadSettings(ini, overrides(args));
        if (cmd == "validate") return cmdValidate(settings);
        if (cmd == "plugins") return cmdPlugins(settings);
        if (cmd == "admin-token") {
            config::Store store(settings.dbPath);
            std::printf("%s\n", admin::AdminToken(store).rotate().c_str());
            return 0;
        }
        if (cmd == "config" && words.size() >= 2) {
            const std::vector<std::string> rest(words.begin() + 2, words.end());
            if (words[1] == "export") return cmdExport(settings, rest);
            if (words[1] == "import") return cmdImport(settings, rest, args.count("dry-run") > 0);
        }
    } catch (const config::ValidationError& e) {
        printValidation(e);
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gatehouse: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr, "gatehouse: unknown command '%s'\n\n%s", cmd.c_str(), kUsage);
    return 2;
}
