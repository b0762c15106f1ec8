#include "config/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <Poco/Data/RecordSet.h>
#include <Poco/Data/SQLite/Connector.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Nullable.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "config/codec.h"

using namespace Poco::Data::Keywords;

namespace gatehouse::config {
namespace {

/// Numbered schema migrations; each runs once, in order, inside a transaction.
const std::vector<std::vector<std::string>>& migrations() {
    static const std::vector<std::vector<std::string>> kMigrations = {
        // 1: entities, the version counter, and the change history
        {
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "INSERT INTO meta (key, value) VALUES ('config_version', '0')",
            "CREATE TABLE upstreams (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
            "body TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)",
            "CREATE TABLE routes (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
            "upstream TEXT NOT NULL, position INTEGER NOT NULL, body TEXT NOT NULL, "
            "created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)",
            "CREATE INDEX routes_upstream ON routes (upstream)",
            "CREATE TABLE config_history (version INTEGER PRIMARY KEY, at INTEGER NOT NULL, "
            "actor TEXT NOT NULL, action TEXT NOT NULL, summary TEXT NOT NULL)",
            "CREATE TABLE config_changes (version INTEGER NOT NULL REFERENCES config_history "
            "(version), "
            "seq INTEGER NOT NULL, entity TEXT NOT NULL, entity_id TEXT NOT NULL, name TEXT NOT "
            "NULL, "
            "before TEXT, after TEXT, before_position INTEGER, after_position INTEGER, "
            "PRIMARY KEY (version, seq))",
        },
        // 2: plugin instances (plugin name, scope, config)
        {
            "CREATE TABLE plugins (id TEXT PRIMARY KEY, name TEXT NOT NULL, route TEXT, "
            "consumer TEXT, body TEXT NOT NULL, created_at INTEGER NOT NULL, "
            "updated_at INTEGER NOT NULL)",
            "CREATE INDEX plugins_route ON plugins (route)",
        },
        // 3: consumers, their credentials inside
        {
            "CREATE TABLE consumers (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
            "body TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)",
        },
    };
    return kMigrations;
}

Poco::JSON::Object::Ptr parseObject(const std::string& text) {
    Poco::JSON::Parser p;
    return p.parse(text).extract<Poco::JSON::Object::Ptr>();
}

template <typename T>
Poco::Nullable<T> nullable(const std::optional<T>& v) {
    return v ? Poco::Nullable<T>(*v) : Poco::Nullable<T>();
}

}  // namespace

Store::Store(const std::string& path) : path_(path) {
    // Created 0600 before SQLite touches it: the store will hold credentials. SQLite gives
    // its -wal and -shm files the same mode.
    const int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) throw StoreError("cannot open database " + path + ": " + std::strerror(errno));
    ::fchmod(fd, 0600);
    ::close(fd);
    try {
        Poco::Data::SQLite::Connector::registerConnector();
        session_ = std::make_unique<Poco::Data::Session>("SQLite", path);
        *session_ << "PRAGMA busy_timeout = 5000", now;
        std::string mode;
        *session_ << "PRAGMA journal_mode = WAL", into(mode), now;
        *session_ << "PRAGMA foreign_keys = ON", now;
        *session_ << "PRAGMA synchronous = NORMAL", now;
        migrate();
    } catch (const Poco::Exception& e) {
        throw StoreError("database " + path + ": " + e.displayText());
    }
}

Store::~Store() = default;

void Store::migrate() {
    *session_ << "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                 "applied_at INTEGER NOT NULL)",
        now;
    int current = 0;
    *session_ << "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", into(current), now;
    const auto& all = migrations();
    if (current > static_cast<int>(all.size()))
        throw StoreError("database " + path_ + " has schema version " + std::to_string(current) +
                         ", newer than this gatehouse understands (" + std::to_string(all.size()) +
                         ")");
    for (size_t i = static_cast<size_t>(current); i < all.size(); ++i) {
        session_->begin();
        try {
            for (const auto& sql : all[i])
                *session_ << sql, now;
            int v = static_cast<int>(i + 1);
            int64_t at = std::time(nullptr);
            *session_ << "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                use(v), use(at), now;
            session_->commit();
        } catch (...) {
            session_->rollback();
            throw;
        }
    }
}

int Store::schemaVersion() {
    std::lock_guard lock(mutex_);
    int v = 0;
    *session_ << "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", into(v), now;
    return v;
}

uint64_t Store::version() {
    std::lock_guard lock(mutex_);
    std::string v;
    *session_ << "SELECT value FROM meta WHERE key = 'config_version'", into(v), now;
    return std::stoull(v);
}

ConfigDocument Store::load() {
    std::lock_guard lock(mutex_);
    ConfigDocument doc;
    FieldErrors errors;
    try {
        std::vector<std::string> bodies;
        *session_ << "SELECT body FROM upstreams ORDER BY name", into(bodies), now;
        for (size_t i = 0; i < bodies.size(); ++i)
            doc.upstreams.push_back(upstreamFromJson(
                parseObject(bodies[i]), "upstreams[" + std::to_string(i) + "]", errors));
        bodies.clear();
        std::vector<int64_t> positions;
        *session_ << "SELECT body, position FROM routes ORDER BY position, name", into(bodies),
            into(positions), now;
        for (size_t i = 0; i < bodies.size(); ++i) {
            RouteSpec r =
                routeFromJson(parseObject(bodies[i]), "routes[" + std::to_string(i) + "]", errors);
            r.position = positions[i];
            doc.routes.push_back(std::move(r));
        }
        bodies.clear();
        *session_ << "SELECT body FROM plugins ORDER BY name, route, consumer, id", into(bodies),
            now;
        for (size_t i = 0; i < bodies.size(); ++i)
            doc.plugins.push_back(pluginFromJson(parseObject(bodies[i]),
                                                 "plugins[" + std::to_string(i) + "]", errors));
        bodies.clear();
        *session_ << "SELECT body FROM consumers ORDER BY name", into(bodies), now;
        for (size_t i = 0; i < bodies.size(); ++i)
            doc.consumers.push_back(consumerFromJson(
                parseObject(bodies[i]), "consumers[" + std::to_string(i) + "]", errors));
    } catch (const Poco::Exception& e) {
        throw StoreError("reading " + path_ + ": " + e.displayText());
    }
    validateDocument(doc, errors);
    if (!errors.empty())
        throw StoreError("stored configuration in " + path_ + " is invalid: " + summarize(errors));
    return doc;
}

uint64_t Store::commit(uint64_t baseVersion, const std::vector<StoredChange>& changes,
                       const std::string& actor, const std::string& action,
                       const std::string& summary) {
    std::lock_guard lock(mutex_);
    session_->begin();
    try {
        std::string v;
        *session_ << "SELECT value FROM meta WHERE key = 'config_version'", into(v), now;
        const uint64_t stored = std::stoull(v);
        if (stored != baseVersion)
            throw StaleVersion("the configuration changed (version " + std::to_string(stored) +
                               ", expected " + std::to_string(baseVersion) + ")");
        const uint64_t next = stored + 1;
        int64_t version = static_cast<int64_t>(next);
        int64_t at = std::time(nullptr);
        std::string who = actor, what = action, text = summary;
        *session_ << "INSERT INTO config_history (version, at, actor, action, summary) VALUES (?, "
                     "?, ?, ?, ?)",
            use(version), use(at), use(who), use(what), use(text), now;

        // Deletes first, so that a rename and a create reusing the old name in one write do
        // not trip the UNIQUE(name) constraint halfway.
        for (const auto& c : changes) {
            std::string id = c.id;
            switch (c.kind) {
                case EntityKind::kUpstream:
                    *session_ << "DELETE FROM upstreams WHERE id = ?", use(id), now;
                    break;
                case EntityKind::kRoute:
                    *session_ << "DELETE FROM routes WHERE id = ?", use(id), now;
                    break;
                case EntityKind::kPlugin:
                    *session_ << "DELETE FROM plugins WHERE id = ?", use(id), now;
                    break;
                case EntityKind::kConsumer:
                    *session_ << "DELETE FROM consumers WHERE id = ?", use(id), now;
                    break;
            }
        }
        int seq = 0;
        for (const auto& c : changes) {
            if (c.after) {
                const Poco::JSON::Object::Ptr o = parseObject(*c.after);
                std::string id = c.id, name = c.name, body = *c.after;
                int64_t created = o->optValue<int64_t>("created_at", at);
                int64_t updated = o->optValue<int64_t>("updated_at", at);
                if (c.kind == EntityKind::kConsumer) {
                    *session_ << "INSERT INTO consumers (id, name, body, created_at, updated_at) "
                                 "VALUES (?, ?, ?, ?, ?)",
                        use(id), use(name), use(body), use(created), use(updated), now;
                } else if (c.kind == EntityKind::kUpstream) {
                    *session_ << "INSERT INTO upstreams (id, name, body, created_at, updated_at) "
                                 "VALUES (?, ?, ?, ?, ?)",
                        use(id), use(name), use(body), use(created), use(updated), now;
                } else if (c.kind == EntityKind::kPlugin) {
                    Poco::Nullable<std::string> route, consumer;
                    if (o->has("route") && !o->get("route").isEmpty())
                        route = o->getValue<std::string>("route");
                    if (o->has("consumer") && !o->get("consumer").isEmpty())
                        consumer = o->getValue<std::string>("consumer");
                    *session_
                        << "INSERT INTO plugins (id, name, route, consumer, body, created_at, "
                           "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        use(id), use(name), use(route), use(consumer), use(body), use(created),
                        use(updated), now;
                } else {
                    std::string up = o->optValue<std::string>("upstream", "");
                    int64_t position = c.afterPosition.value_or(0);
                    *session_ << "INSERT INTO routes (id, name, upstream, position, body, "
                                 "created_at, updated_at) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        use(id), use(name), use(up), use(position), use(body), use(created),
                        use(updated), now;
                }
            }
            std::string entity = entityName(c.kind), id = c.id, name = c.name;
            Poco::Nullable<std::string> before = nullable(c.before), after = nullable(c.after);
            Poco::Nullable<int64_t> beforePos = nullable(c.beforePosition),
                                    afterPos = nullable(c.afterPosition);
            int s = seq++;
            *session_ << "INSERT INTO config_changes (version, seq, entity, entity_id, name, "
                         "before, after, "
                         "before_position, after_position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                use(version), use(s), use(entity), use(id), use(name), use(before), use(after),
                use(beforePos), use(afterPos), now;
        }
        std::string nextText = std::to_string(next);
        *session_ << "UPDATE meta SET value = ? WHERE key = 'config_version'", use(nextText), now;
        session_->commit();
        return next;
    } catch (const StaleVersion&) {
        session_->rollback();
        throw;
    } catch (const Poco::Exception& e) {
        session_->rollback();
        throw StoreError("writing " + path_ + ": " + e.displayText());
    } catch (...) {
        session_->rollback();
        throw;
    }
}

std::vector<HistoryRecord> Store::history(size_t offset, size_t limit) {
    std::lock_guard lock(mutex_);
    std::vector<int64_t> versions, ats;
    std::vector<std::string> actors, actions, summaries;
    int64_t lim = static_cast<int64_t>(limit), off = static_cast<int64_t>(offset);
    *session_
        << "SELECT version, at, actor, action, summary FROM config_history ORDER BY version DESC "
           "LIMIT ? OFFSET ?",
        into(versions), into(ats), into(actors), into(actions), into(summaries), use(lim), use(off),
        now;
    std::vector<HistoryRecord> out;
    for (size_t i = 0; i < versions.size(); ++i)
        out.push_back(
            {static_cast<uint64_t>(versions[i]), ats[i], actors[i], actions[i], summaries[i]});
    return out;
}

size_t Store::historyCount() {
    std::lock_guard lock(mutex_);
    int64_t n = 0;
    *session_ << "SELECT COUNT(*) FROM config_history", into(n), now;
    return static_cast<size_t>(n);
}

std::optional<HistoryRecord> Store::historyRecord(uint64_t version) {
    std::lock_guard lock(mutex_);
    int64_t v = static_cast<int64_t>(version);
    Poco::Data::Statement select(*session_);
    select << "SELECT version, at, actor, action, summary FROM config_history WHERE version = ?",
        use(v), now;
    Poco::Data::RecordSet rs(select);
    if (rs.rowCount() == 0) return std::nullopt;
    rs.moveFirst();
    return HistoryRecord{version, rs["at"].convert<int64_t>(), rs["actor"].convert<std::string>(),
                         rs["action"].convert<std::string>(), rs["summary"].convert<std::string>()};
}

std::vector<StoredChange> Store::changesOf(uint64_t version) {
    std::lock_guard lock(mutex_);
    int64_t v = static_cast<int64_t>(version);
    Poco::Data::Statement select(*session_);
    select << "SELECT entity, entity_id, name, before, after, before_position, after_position "
              "FROM config_changes WHERE version = ? ORDER BY seq",
        use(v), now;
    Poco::Data::RecordSet rs(select);
    std::vector<StoredChange> out;
    for (bool more = rs.moveFirst(); more; more = rs.moveNext()) {
        StoredChange c;
        const std::string entity = rs["entity"].convert<std::string>();
        c.kind = entity == "upstream"   ? EntityKind::kUpstream
                 : entity == "plugin"   ? EntityKind::kPlugin
                 : entity == "consumer" ? EntityKind::kConsumer
                                        : EntityKind::kRoute;
        c.id = rs["entity_id"].convert<std::string>();
        c.name = rs["name"].convert<std::string>();
        if (!rs["before"].isEmpty()) c.before = rs["before"].convert<std::string>();
        if (!rs["after"].isEmpty()) c.after = rs["after"].convert<std::string>();
        if (!rs["before_position"].isEmpty())
            c.beforePosition = rs["before_position"].convert<int64_t>();
        if (!rs["after_position"].isEmpty())
            c.afterPosition = rs["after_position"].convert<int64_t>();
        out.push_back(std::move(c));
    }
    return out;
}

std::optional<std::string> Store::meta(const std::string& key) {
    std::lock_guard lock(mutex_);
    std::string k = key;
    std::vector<std::string> values;
    *session_ << "SELECT value FROM meta WHERE key = ?", use(k), into(values), now;
    if (values.empty()) return std::nullopt;
    return values.front();
}

void Store::setMeta(const std::string& key, const std::string& value) {
    std::lock_guard lock(mutex_);
    std::string k = key, v = value;
    *session_ << "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value "
                 "= excluded.value",
        use(k), use(v), now;
}

}  // namespace gatehouse::config
