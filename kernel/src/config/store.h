#pragma once

#include <Poco/Data/Session.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "config/model.h"

namespace gatehouse::config {

struct StoreError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// The configuration store: one SQLite file (WAL, mode 0600) through Poco::Data::SQLite.
/// Numbered migrations run at open. Every write is one transaction that bumps
/// `config_version` and appends to `config_history`. Thread-safe (one connection, serialized);
/// never used from a worker thread.
class Store {
  public:
    /// Opens or creates the database; throws StoreError with a one-line reason.
    explicit Store(const std::string& path);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    ConfigDocument load();
    uint64_t version();

    /// Replaces the whole configuration in one transaction and returns the new version.
    /// Timestamps: created_at kept when given, updated_at = now.
    uint64_t replaceAll(ConfigDocument doc, const std::string& actor, const std::string& action);

    int schemaVersion();
    const std::string& path() const { return path_; }

  private:
    void migrate();
    std::string path_;
    std::mutex mutex_;
    std::unique_ptr<Poco::Data::Session> session_;
};

}  // namespace gatehouse::config
