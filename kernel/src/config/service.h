#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/codec.h"
#include "config/model.h"
#include "config/snapshot.h"
#include "config/store.h"
#include "upstream/target.h"

namespace gatehouse::config {

/// No entity with that id or name (404).
struct NotFound : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// The write contradicts the current state: a taken name, a referenced upstream (409).
struct Conflict : std::runtime_error {
    Conflict(const std::string& what, FieldErrors f = {})
        : std::runtime_error(what), fields(std::move(f)) {}
    FieldErrors fields;
};

struct WriteResult {
    uint64_t version = 0;  // the version now in force (unchanged for a no-op or a dry run)
    std::vector<StoredChange> changes;
    bool dryRun = false;
};

/// Every configuration change goes through here: the admin API, `gatehouse config import`
/// and rollbacks. A write builds the whole candidate document, compiles it into a snapshot
/// (which validates it), commits the entity changes in one transaction, then publishes the
/// snapshot — so when a write returns, the next proxied request sees it, and a write that
/// cannot compile changes nothing. Writes are serialized; reads see the published state.
class ConfigService {
public:
    using SettingsSource = std::function<std::shared_ptr<const RuntimeSettings>()>;
    using Publisher = std::function<void(std::shared_ptr<const Snapshot>)>;

    /// `publish` receives each new snapshot (empty for the CLI, which only writes the store).
    /// `plugins` (nullable) turns plugin specs into instances; without it a configuration
    /// with plugins does not compile.
    ConfigService(Store& store, upstream::TargetRegistry& targets, unsigned workers,
                  SettingsSource settings, Publisher publish,
                  const plugins::PluginRuntime* plugins = nullptr,
                  observe::TrafficMetrics* traffic = nullptr);

    /// Reads the store, compiles and publishes. Throws (ValidationError, StoreError) and
    /// leaves the current configuration in place when the stored one cannot compile.
    std::shared_ptr<const Snapshot> reload();

    std::shared_ptr<const Snapshot> current() const;
    uint64_t version() const { return current()->version; }

    /// Lookup by UUID or name.
    std::optional<UpstreamSpec> upstream(const std::string& idOrName) const;
    std::optional<RouteSpec> route(const std::string& idOrName) const;
    /// Plugin instances are found by id only: their names (the plugin's) are not unique.
    std::optional<PluginSpec> plugin(const std::string& id) const;
    /// Names of the routes that send traffic to `upstreamName`.
    std::vector<std::string> routesUsing(const std::string& upstreamName) const;

    WriteResult createUpstream(UpstreamSpec spec, const std::string& actor);
    /// Replaces the entity `idOrName`, or creates it (PUT semantics).
    WriteResult putUpstream(const std::string& idOrName, UpstreamSpec spec,
                            const std::string& actor);
    WriteResult deleteUpstream(const std::string& idOrName, const std::string& actor);
    WriteResult createRoute(RouteSpec spec, const std::string& actor);
    WriteResult putRoute(const std::string& idOrName, RouteSpec spec, const std::string& actor);
    /// Deleting a route deletes the plugin instances scoped to it; renaming a route keeps
    /// them attached.
    WriteResult deleteRoute(const std::string& idOrName, const std::string& actor);
    WriteResult createPlugin(PluginSpec spec, const std::string& actor);
    WriteResult putPlugin(const std::string& id, PluginSpec spec, const std::string& actor);
    WriteResult deletePlugin(const std::string& id, const std::string& actor);
    std::optional<ConsumerSpec> consumer(const std::string& idOrName) const;
    WriteResult createConsumer(ConsumerSpec spec, const std::string& actor);
    WriteResult putConsumer(const std::string& idOrName, ConsumerSpec spec,
                            const std::string& actor);
    /// Deleting a consumer deletes the plugin instances scoped to it.
    WriteResult deleteConsumer(const std::string& idOrName, const std::string& actor);
    /// Credentials live inside their consumer: adding or removing one is a consumer update.
    WriteResult addCredential(const std::string& consumerKey, CredentialSpec credential,
                              const std::string& actor);
    WriteResult deleteCredential(const std::string& consumerKey, const std::string& credentialId,
                                 const std::string& actor);

    /// Replaces everything (import, PUT /config). Entities without ids keep the ids of
    /// same-named stored ones.
    WriteResult replaceAll(ConfigDocument doc, const std::string& actor, const std::string& action,
                           bool dryRun);
    /// Makes the configuration what it was at `version`, recorded as a new version.
    WriteResult rollback(uint64_t version, const std::string& actor, bool dryRun);
    /// The configuration as it was at `version` (reconstructed from the history).
    ConfigDocument documentAt(uint64_t version);

    Store& store() { return store_; }

private:
    template <typename Spec>
    struct Kind;  // per-entity-kind rules (service.cc)
    template <typename Spec>
    WriteResult putEntity(const std::string* key, Spec spec, const std::string& actor);
    template <typename Spec>
    WriteResult removeEntity(const std::string& key, const std::string& actor);
    void checkPlugin(const ConfigDocument& doc, const PluginSpec& spec) const;
    /// Who guarantees the document-wide rules (unique names and ids, references resolve):
    /// write() checks a whole new document; an entity write keeps them with checks of the
    /// one entity, which is O(1) lookups instead of a pass over 10,000 routes.
    enum class DocumentRules { kCheckAll, kKeptByEntityChecks };
    WriteResult write(ConfigDocument candidate, const std::string& actor, const std::string& action,
                      const std::string& what, bool dryRun, DocumentRules rules);
    std::shared_ptr<const Snapshot> compile(std::shared_ptr<const ConfigDocument> doc,
                                            uint64_t version);
    ConfigDocument documentAtLocked(uint64_t version);

    Store& store_;
    upstream::TargetRegistry& targets_;
    unsigned workers_;
    const plugins::PluginRuntime* plugins_;
    observe::TrafficMetrics* traffic_;
    SettingsSource settings_;
    Publisher publish_;

    std::mutex writeMutex_;  // one write at a time
    mutable std::mutex currentMutex_;
    std::shared_ptr<const Snapshot> current_;
};

/// Whether `s` looks like a UUID (lookups by id) rather than a name.
bool looksLikeUuid(const std::string& s);

}  // namespace gatehouse::config
