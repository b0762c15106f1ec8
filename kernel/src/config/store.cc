#include "config/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/SQLite/SQLiteException.h>
#include <Poco/JSON/Parser.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <sstream>
#include <vector>

#include "config/codec.h"

using namespace Poco::Data::Keywords;

namespace gatehouse::config {
namespace {

/// Numbered schema migrations; each runs once, in order, inside a transaction.
const std::vector<std::vector<std::string>>& migrations() {
    static const std::vector<std::vector<std::string>> kMigrations = {
        // 1: the entity tables of the kernel foundation
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
            "actor TEXT NOT NULL, action TEXT NOT NULL, entity TEXT NOT NULL, entity_id TEXT, "
            "before TEXT, after TEXT)",
        },
    };
    return kMigrations;
}

std::string stringify(const Poco::JSON::Object::Ptr& o) {
    std::ostringstream out;
    o->stringify(out);
    return out.str();
}

Poco::JSON::Object::Ptr parseObject(const std::string& text) {
    Poco::JSON::Parser p;
    return p.parse(text).extract<Poco::JSON::Object::Ptr>();
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
        *session_ << "SELECT body FROM routes ORDER BY position, name", into(bodies), now;
        for (size_t i = 0; i < bodies.size(); ++i)
            doc.routes.push_back(
                routeFromJson(parseObject(bodies[i]), "routes[" + std::to_string(i) + "]", errors));
    } catch (const Poco::Exception& e) {
        throw StoreError("reading " + path_ + ": " + e.displayText());
    }
    validateDocument(doc, errors);
    if (!errors.empty())
        throw StoreError("stored configuration in " + path_ + " is invalid: " + summarize(errors));
    return doc;
}

uint64_t Store::replaceAll(ConfigDocument doc, const std::string& actor,
                           const std::string& action) {
    std::lock_guard lock(mutex_);
    const int64_t nowSec = std::time(nullptr);
    for (auto& u : doc.upstreams) {
        if (!u.meta.createdAt) u.meta.createdAt = nowSec;
        u.meta.updatedAt = nowSec;
    }
    for (auto& r : doc.routes) {
        if (!r.meta.createdAt) r.meta.createdAt = nowSec;
        r.meta.updatedAt = nowSec;
    }
    session_->begin();
    try {
        *session_ << "DELETE FROM routes", now;
        *session_ << "DELETE FROM upstreams", now;
        for (const auto& u : doc.upstreams) {
            std::string id = u.meta.id, name = u.meta.name, body = stringify(toJson(u));
            int64_t c = u.meta.createdAt, m = u.meta.updatedAt;
            *session_ << "INSERT INTO upstreams (id, name, body, created_at, updated_at) VALUES "
                         "(?, ?, ?, ?, ?)",
                use(id), use(name), use(body), use(c), use(m), now;
        }
        int position = 0;
        for (const auto& r : doc.routes) {
            std::string id = r.meta.id, name = r.meta.name, up = r.upstream,
                        body = stringify(toJson(r));
            int64_t c = r.meta.createdAt, m = r.meta.updatedAt;
            *session_ << "INSERT INTO routes (id, name, upstream, position, body, created_at, "
                         "updated_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)",
                use(id), use(name), use(up), use(position), use(body), use(c), use(m), now;
            ++position;
        }
        std::string v;
        *session_ << "SELECT value FROM meta WHERE key = 'config_version'", into(v), now;
        uint64_t next = std::stoull(v) + 1;
        std::string nextText = std::to_string(next);
        *session_ << "UPDATE meta SET value = ? WHERE key = 'config_version'", use(nextText), now;
        std::string who = actor, what = action, entity = "config", after = stringify(toJson(doc));
        int64_t version = static_cast<int64_t>(next);
        int64_t at = nowSec;
        *session_ << "INSERT INTO config_history (version, at, actor, action, entity, after) "
                     "VALUES (?, ?, ?, ?, ?, ?)",
            use(version), use(at), use(who), use(what), use(entity), use(after), now;
        session_->commit();
        return next;
    } catch (const Poco::Exception& e) {
        session_->rollback();
        throw StoreError("writing " + path_ + ": " + e.displayText());
    }
}

}  // namespace gatehouse::config
