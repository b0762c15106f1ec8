#pragma once

#include <Poco/Data/Session.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/model.h"

namespace gatehouse::config {

struct StoreError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// The store's version moved since the caller read it (another writer, e.g. the CLI).
struct StaleVersion : StoreError {
    using StoreError::StoreError;
};

/// One entity changed by a write, as recorded in the history.
struct StoredChange {
    EntityKind kind = EntityKind::kRoute;
    std::string id;
    std::string name;
    std::optional<std::string> before;      // entity JSON; nullopt = the write created it
    std::optional<std::string> after;       // entity JSON; nullopt = the write deleted it
    std::optional<int64_t> beforePosition;  // routes only
    std::optional<int64_t> afterPosition;
};

struct HistoryRecord {
    uint64_t version = 0;
    int64_t at = 0;  // unix seconds
    std::string actor;
    std::string action;
    std::string summary;
};

/// The configuration store: one SQLite file (WAL, mode 0600) through Poco::Data::SQLite.
/// Numbered migrations run at open. Every write is one transaction that applies entity
/// changes, bumps `config_version` and records the changes (before and after) in the
/// history, so any earlier version can be shown, diffed and rolled back. Thread-safe (one
/// connection, serialized); never used from a worker thread.
class Store {
public:
    /// Opens or creates the database; throws StoreError with a one-line reason.
    explicit Store(const std::string& path);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    /// The stored document, routes in table order (RouteSpec::position filled).
    ConfigDocument load();
    uint64_t version();

    /// Applies `changes` in one transaction and returns the new version. Throws StaleVersion
    /// when the stored version is no longer `baseVersion`, StoreError on failure; nothing is
    /// written then.
    uint64_t commit(uint64_t baseVersion, const std::vector<StoredChange>& changes,
                    const std::string& actor, const std::string& action,
                    const std::string& summary);

    /// Newest first.
    std::vector<HistoryRecord> history(size_t offset, size_t limit);
    size_t historyCount();
    std::optional<HistoryRecord> historyRecord(uint64_t version);
    std::vector<StoredChange> changesOf(uint64_t version);

    std::optional<std::string> meta(const std::string& key);
    void setMeta(const std::string& key, const std::string& value);

    int schemaVersion();
    const std::string& path() const { return path_; }

private:
    void migrate();
    std::string path_;
    std::mutex mutex_;
    std::unique_ptr<Poco::Data::Session> session_;
};

}  // namespace gatehouse::config
