#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/settings.h"
#include "config/snapshot.h"
#include "config/store.h"
#include "observe/event_log.h"
#include "proxy/worker.h"
#include "upstream/target.h"

namespace gatehouse::server {

/// The running gateway: owns the store, the snapshot holder, the workers and the control
/// side, and turns signals into actions (SIGHUP reload, SIGUSR1 reopen logs, SIGTERM/SIGINT
/// drain). run() is the whole life of `gatehouse run`.
class Gateway {
  public:
    /// `overrides` are the command-line settings ("section.key" → value), re-applied on reload.
    Gateway(std::string iniPath, std::map<std::string, std::string> overrides);
    ~Gateway();

    /// Starts everything, serves until SIGTERM/SIGINT, drains, and returns the exit code.
    int run();

  private:
    bool loadAndPublish(const config::Settings& settings, const char* reason);
    void reload();

    std::string iniPath_;
    std::map<std::string, std::string> overrides_;
    config::Settings settings_;
    std::unique_ptr<observe::EventLog> log_;
    std::unique_ptr<config::Store> store_;
    upstream::TargetRegistry targets_;
    config::SnapshotHolder snapshots_;
    std::vector<std::unique_ptr<proxy::Worker>> workers_;
};

}  // namespace gatehouse::server
