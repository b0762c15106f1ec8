#include "config/store.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "config/codec.h"
#include "config/diff.h"

namespace gatehouse::config {
namespace {

// Numbered migrations in kernel/src/config/store.cc (1: entities and history, 2: plugins).
constexpr int kSchemaVersion = 3;

class StoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/gh-store-test-XXXXXX";
        const char* p = ::mkdtemp(tmpl);
        ASSERT_NE(p, nullptr);
        dir_ = p;
        dbPath_ = dir_ + "/gatehouse.db";
    }
    void TearDown() override {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    static ConfigDocument sampleDocument() {
        return documentFromJson(R"({
          "upstreams": [
            {"name": "zeta", "targets": [{"address": "10.0.0.9:80", "weight": 3}]},
            {"name": "alpha", "algorithm": "least-connections",
             "targets": [{"address": "10.0.0.1:80"}, {"address": "10.0.0.2:80", "weight": 0}]}
          ],
          "routes": [
            {"name": "second-by-name", "match": {"paths": ["/b"]}, "upstream": "zeta"},
            {"name": "first-by-name", "match": {"paths": ["=/a"], "methods": ["GET"]},
             "upstream": "alpha", "strip_prefix": true, "created_at": 1000}
          ]})");
    }

    template <typename Spec>
    static std::string json(const Spec& s) {
        std::ostringstream out;
        toJson(s)->stringify(out);
        return out.str();
    }
    template <typename Spec>
    static StoredChange change(const Spec& s) {
        StoredChange c;
        c.kind = std::is_same_v<Spec, UpstreamSpec> ? EntityKind::kUpstream : EntityKind::kRoute;
        c.id = s.meta.id;
        c.name = s.meta.name;
        return c;
    }
    template <typename Spec>
    static StoredChange created(const Spec& s, std::optional<int64_t> position = std::nullopt) {
        StoredChange c = change(s);
        c.after = json(s);
        c.afterPosition = position;
        return c;
    }
    template <typename Spec>
    static StoredChange updated(const Spec& before, const Spec& after,
                                std::optional<int64_t> beforePosition = std::nullopt,
                                std::optional<int64_t> afterPosition = std::nullopt) {
        StoredChange c = change(after);
        c.before = json(before);
        c.after = json(after);
        c.beforePosition = beforePosition;
        c.afterPosition = afterPosition;
        return c;
    }
    template <typename Spec>
    static StoredChange deleted(const Spec& s, std::optional<int64_t> position = std::nullopt) {
        StoredChange c = change(s);
        c.before = json(s);
        c.beforePosition = position;
        return c;
    }

    std::string dir_;
    std::string dbPath_;
};

TEST_F(StoreTest, NewDatabaseIsPrivateAndEmpty) {
    Store store(dbPath_);
    struct stat st {};
    ASSERT_EQ(::stat(dbPath_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << std::oct << (st.st_mode & 0777);
    EXPECT_EQ(store.version(), 0u);
    EXPECT_EQ(store.schemaVersion(), kSchemaVersion);
    const ConfigDocument d = store.load();
    EXPECT_TRUE(d.upstreams.empty());
    EXPECT_TRUE(d.routes.empty());
    EXPECT_EQ(store.path(), dbPath_);
}

TEST_F(StoreTest, ExistingLooseFileModeIsTightened) {
    {
        FILE* f = ::fopen(dbPath_.c_str(), "w");
        ASSERT_NE(f, nullptr);
        ::fclose(f);
        ASSERT_EQ(::chmod(dbPath_.c_str(), 0644), 0);
    }
    Store store(dbPath_);
    struct stat st {};
    ASSERT_EQ(::stat(dbPath_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << std::oct << (st.st_mode & 0777);
}

TEST_F(StoreTest, WalSidecarFilesArePrivateToo) {
    Store store(dbPath_);
    ConfigDocument doc = sampleDocument();
    store.commit(0, computeChanges({}, doc, 5000), "test", "import", "import");
    for (const char* suffix : {"-wal", "-shm"}) {
        const std::string p = dbPath_ + suffix;
        struct stat st {};
        if (::stat(p.c_str(), &st) != 0) continue;  // checkpointed away: nothing to check
        EXPECT_EQ(st.st_mode & 0077, 0u) << p << " is readable by others";
    }
}

TEST_F(StoreTest, CommitBumpsVersionAndLoadReturnsWhatWasStored) {
    Store store(dbPath_);
    ConfigDocument doc = sampleDocument();
    doc.routes.edit(0).position = 0;
    doc.routes.edit(1).position = 1;
    const auto changes = computeChanges({}, doc, 5000);
    ASSERT_EQ(changes.size(), 4u);
    EXPECT_EQ(store.commit(0, changes, "alice", "import", "import +4 ~0 -0"), 1u);
    EXPECT_EQ(store.version(), 1u);

    const ConfigDocument loaded = store.load();
    ASSERT_EQ(loaded.upstreams.size(), 2u);
    ASSERT_EQ(loaded.routes.size(), 2u);
    // Upstreams by name; routes by position (the table's last tie-breaker).
    EXPECT_EQ(loaded.upstreams[0].meta.name, "alpha");
    EXPECT_EQ(loaded.upstreams[1].meta.name, "zeta");
    EXPECT_EQ(loaded.routes[0].meta.name, "second-by-name");
    EXPECT_EQ(loaded.routes[1].meta.name, "first-by-name");
    EXPECT_EQ(loaded.routes[0].position, 0);
    EXPECT_EQ(loaded.routes[1].position, 1);

    EXPECT_EQ(loaded.upstreams[0].meta.id, doc.upstreams[1].meta.id) << "ids are kept";
    EXPECT_EQ(loaded.routes[1].meta.id, doc.routes[1].meta.id);
    EXPECT_FALSE(loaded.routes[1].meta.generatedId) << "a stored entity has its id";
    EXPECT_EQ(loaded.upstreams[0].algorithm, Algorithm::kLeastConnections);
    ASSERT_EQ(loaded.upstreams[0].targets.size(), 2u);
    EXPECT_EQ(loaded.upstreams[0].targets[1].weight, 0u);
    EXPECT_EQ(loaded.upstreams[1].targets[0].weight, 3u);
    EXPECT_EQ(loaded.routes[1].paths, (std::vector<std::string>{"=/a"}));
    EXPECT_EQ(loaded.routes[1].methods, (std::vector<std::string>{"GET"}));
    EXPECT_TRUE(loaded.routes[1].stripPrefix);
    EXPECT_EQ(loaded.routes[1].upstream, "alpha");

    // Timestamps as computeChanges stamped them: created_at kept when given, else now.
    EXPECT_EQ(loaded.routes[1].meta.createdAt, 1000);
    EXPECT_EQ(loaded.routes[0].meta.createdAt, 5000);
    EXPECT_EQ(loaded.routes[1].meta.updatedAt, 5000);
    EXPECT_EQ(loaded.upstreams[0].meta.updatedAt, 5000);
}

TEST_F(StoreTest, LoadOrdersRoutesByStoredPosition) {
    Store store(dbPath_);
    ConfigDocument doc = sampleDocument();
    RouteSpec third = doc.routes[0];
    third.meta.id = newUuid();
    third.meta.name = "third";
    third.paths = {"/c"};
    doc.routes.push_back(third);
    doc.routes.edit(0).position = 9;  // second-by-name
    doc.routes.edit(1).position = 2;  // first-by-name
    doc.routes.edit(2).position = 5;  // third
    store.commit(0, computeChanges({}, doc, 5000), "a", "import", "");
    const ConfigDocument loaded = store.load();
    ASSERT_EQ(loaded.routes.size(), 3u);
    EXPECT_EQ(loaded.routes[0].meta.name, "first-by-name");
    EXPECT_EQ(loaded.routes[0].position, 2);
    EXPECT_EQ(loaded.routes[1].meta.name, "third");
    EXPECT_EQ(loaded.routes[1].position, 5);
    EXPECT_EQ(loaded.routes[2].meta.name, "second-by-name");
    EXPECT_EQ(loaded.routes[2].position, 9);
}

TEST_F(StoreTest, CommitCreatesUpdatesAndDeletesRows) {
    Store store(dbPath_);
    const ConfigDocument doc = sampleDocument();
    const UpstreamSpec& alpha = doc.upstreams[1];
    const UpstreamSpec& zeta = doc.upstreams[0];
    const RouteSpec& route = doc.routes[1];  // first-by-name -> alpha

    ASSERT_EQ(
        store.commit(0, {created(alpha), created(zeta), created(route, 4)}, "a", "create", "three"),
        1u);
    ConfigDocument loaded = store.load();
    ASSERT_EQ(loaded.upstreams.size(), 2u);
    ASSERT_EQ(loaded.routes.size(), 1u);
    EXPECT_EQ(loaded.routes[0].position, 4);

    // Update: new weight for alpha, route renamed and moved.
    UpstreamSpec alpha2 = alpha;
    alpha2.targets[0].weight = 42;
    RouteSpec route2 = route;
    route2.meta.name = "renamed";
    route2.position = 1;
    ASSERT_EQ(store.commit(1, {updated(alpha, alpha2), updated(route, route2, 4, 1)}, "b", "update",
                           "two"),
              2u);
    loaded = store.load();
    ASSERT_EQ(loaded.upstreams.size(), 2u);
    EXPECT_EQ(loaded.upstreams[0].meta.id, alpha.meta.id);
    EXPECT_EQ(loaded.upstreams[0].targets[0].weight, 42u);
    ASSERT_EQ(loaded.routes.size(), 1u);
    EXPECT_EQ(loaded.routes[0].meta.id, route.meta.id);
    EXPECT_EQ(loaded.routes[0].meta.name, "renamed");
    EXPECT_EQ(loaded.routes[0].position, 1);

    // Delete the route and zeta.
    ASSERT_EQ(store.commit(2, {deleted(zeta), deleted(route2, 1)}, "c", "delete", "two"), 3u);
    loaded = store.load();
    ASSERT_EQ(loaded.upstreams.size(), 1u);
    EXPECT_EQ(loaded.upstreams[0].meta.name, "alpha");
    EXPECT_TRUE(loaded.routes.empty());
    EXPECT_EQ(store.version(), 3u);
}

TEST_F(StoreTest, RenameAndReuseOfTheOldNameInOneCommit) {
    Store store(dbPath_);
    const ConfigDocument doc = sampleDocument();
    const UpstreamSpec& zeta = doc.upstreams[0];
    store.commit(0, {created(zeta)}, "a", "create", "");
    UpstreamSpec renamed = zeta;
    renamed.meta.name = "omega";
    UpstreamSpec reuse = zeta;
    reuse.meta.id = newUuid();  // a new entity that takes the old name
    // The creation comes first: the store must not trip over UNIQUE(name) halfway.
    ASSERT_NO_THROW(store.commit(1, {created(reuse), updated(zeta, renamed)}, "a", "swap", ""));
    const ConfigDocument loaded = store.load();
    ASSERT_EQ(loaded.upstreams.size(), 2u);
    EXPECT_EQ(loaded.upstreams[0].meta.name, "omega");
    EXPECT_EQ(loaded.upstreams[0].meta.id, zeta.meta.id);
    EXPECT_EQ(loaded.upstreams[1].meta.name, "zeta");
    EXPECT_EQ(loaded.upstreams[1].meta.id, reuse.meta.id);
}

TEST_F(StoreTest, EveryCommitIsANewVersion) {
    Store store(dbPath_);
    ConfigDocument empty;
    ConfigDocument doc = sampleDocument();
    EXPECT_EQ(store.commit(0, computeChanges(empty, doc, 5000), "a", "import", ""), 1u);
    ConfigDocument fewer = doc;
    fewer.routes.pop_back();
    EXPECT_EQ(store.commit(1, computeChanges(doc, fewer, 5001), "b", "delete", ""), 2u);
    EXPECT_EQ(store.commit(2, computeChanges(fewer, empty, 5002), "c", "clear", ""), 3u);
    EXPECT_EQ(store.version(), 3u);
    EXPECT_TRUE(store.load().routes.empty());
    EXPECT_TRUE(store.load().upstreams.empty());
    EXPECT_EQ(store.historyCount(), 3u);
}

TEST_F(StoreTest, StaleBaseVersionThrowsAndWritesNothing) {
    Store store(dbPath_);
    ConfigDocument doc = sampleDocument();
    store.commit(0, computeChanges({}, doc, 5000), "a", "import", "");
    ConfigDocument changed = doc;
    changed.upstreams.edit(0).targets.front().weight = 9;
    changed.routes.clear();
    const auto changes = computeChanges(doc, changed, 5001);
    ASSERT_FALSE(changes.empty());
    EXPECT_THROW(store.commit(0, changes, "b", "edit", ""), StaleVersion);
    EXPECT_THROW(store.commit(2, changes, "b", "edit", ""), StaleVersion);
    EXPECT_EQ(store.version(), 1u);
    EXPECT_EQ(store.historyCount(), 1u);
    EXPECT_FALSE(store.historyRecord(2).has_value());
    EXPECT_TRUE(store.changesOf(2).empty());
    const ConfigDocument loaded = store.load();
    EXPECT_EQ(loaded.routes.size(), 2u);
    EXPECT_EQ(loaded.upstreams[1].targets[0].weight, 3u);
    // The right base still works afterwards (the failed transaction was rolled back).
    EXPECT_EQ(store.commit(1, changes, "b", "edit", ""), 2u);
    EXPECT_TRUE(store.load().routes.empty());
}

TEST_F(StoreTest, StaleVersionIsAStoreError) {
    Store store(dbPath_);
    try {
        store.commit(3, {}, "a", "noop", "");
        FAIL() << "no exception";
    } catch (const StoreError& e) {
        EXPECT_NE(dynamic_cast<const StaleVersion*>(&e), nullptr);
    }
}

TEST_F(StoreTest, HistoryIsNewestFirstWithPaging) {
    Store store(dbPath_);
    const ConfigDocument doc = sampleDocument();
    const UpstreamSpec& zeta = doc.upstreams[0];
    const int64_t before = static_cast<int64_t>(std::time(nullptr));
    for (uint64_t v = 0; v < 5; ++v) {
        UpstreamSpec prev = zeta, next = zeta;
        prev.targets[0].weight = static_cast<uint32_t>(v);
        next.targets[0].weight = static_cast<uint32_t>(v + 1);
        const StoredChange c = v == 0 ? created(next) : updated(prev, next);
        store.commit(v, {c}, "actor" + std::to_string(v + 1), "action" + std::to_string(v + 1),
                     "summary " + std::to_string(v + 1));
    }
    EXPECT_EQ(store.historyCount(), 5u);

    const auto all = store.history(0, 100);
    ASSERT_EQ(all.size(), 5u);
    for (size_t i = 0; i < all.size(); ++i) {
        const uint64_t v = 5 - i;
        EXPECT_EQ(all[i].version, v);
        EXPECT_EQ(all[i].actor, "actor" + std::to_string(v));
        EXPECT_EQ(all[i].action, "action" + std::to_string(v));
        EXPECT_EQ(all[i].summary, "summary " + std::to_string(v));
        EXPECT_GE(all[i].at, before);
        EXPECT_LE(all[i].at, static_cast<int64_t>(std::time(nullptr)) + 1);
    }

    const auto page = store.history(1, 2);
    ASSERT_EQ(page.size(), 2u);
    EXPECT_EQ(page[0].version, 4u);
    EXPECT_EQ(page[1].version, 3u);
    const auto tail = store.history(4, 10);
    ASSERT_EQ(tail.size(), 1u);
    EXPECT_EQ(tail[0].version, 1u);
    EXPECT_TRUE(store.history(5, 10).empty());
    EXPECT_TRUE(store.history(0, 0).empty());

    const auto rec = store.historyRecord(3);
    ASSERT_TRUE(rec.has_value());
    EXPECT_EQ(rec->version, 3u);
    EXPECT_EQ(rec->actor, "actor3");
    EXPECT_EQ(rec->action, "action3");
    EXPECT_EQ(rec->summary, "summary 3");
    EXPECT_EQ(rec->at, all[2].at);
    EXPECT_FALSE(store.historyRecord(6).has_value());
    EXPECT_FALSE(store.historyRecord(0).has_value());
}

TEST_F(StoreTest, ChangesOfReturnsBeforeAfterAndPositionsInOrder) {
    Store store(dbPath_);
    const ConfigDocument doc = sampleDocument();
    const UpstreamSpec& alpha = doc.upstreams[1];
    const RouteSpec& a = doc.routes[1];
    const RouteSpec& b = doc.routes[0];
    const std::vector<StoredChange> first = {created(alpha), created(a, 7),
                                             created(doc.upstreams[0]), created(b, 3)};
    store.commit(0, first, "x", "create", "");
    RouteSpec a2 = a;
    a2.priority = 5;
    const std::vector<StoredChange> second = {deleted(b, 3), updated(a, a2, 7, 0)};
    store.commit(1, second, "x", "edit", "");

    const auto got1 = store.changesOf(1);
    ASSERT_EQ(got1.size(), first.size());
    for (size_t i = 0; i < first.size(); ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(got1[i].kind, first[i].kind);
        EXPECT_EQ(got1[i].id, first[i].id);
        EXPECT_EQ(got1[i].name, first[i].name);
        EXPECT_EQ(got1[i].before, std::nullopt);
        EXPECT_EQ(got1[i].after, first[i].after);
        EXPECT_EQ(got1[i].beforePosition, std::nullopt);
        EXPECT_EQ(got1[i].afterPosition, first[i].afterPosition);
    }
    EXPECT_EQ(got1[1].afterPosition, std::optional<int64_t>(7));
    EXPECT_EQ(got1[2].afterPosition, std::nullopt) << "upstreams have no position";

    const auto got2 = store.changesOf(2);
    ASSERT_EQ(got2.size(), 2u);
    EXPECT_EQ(got2[0].kind, EntityKind::kRoute);
    EXPECT_EQ(got2[0].id, b.meta.id);
    EXPECT_EQ(got2[0].before, json(b));
    EXPECT_EQ(got2[0].after, std::nullopt);
    EXPECT_EQ(got2[0].beforePosition, std::optional<int64_t>(3));
    EXPECT_EQ(got2[0].afterPosition, std::nullopt);
    EXPECT_EQ(got2[1].id, a.meta.id);
    EXPECT_EQ(got2[1].before, json(a));
    EXPECT_EQ(got2[1].after, json(a2));
    EXPECT_EQ(got2[1].beforePosition, std::optional<int64_t>(7));
    EXPECT_EQ(got2[1].afterPosition, std::optional<int64_t>(0));

    EXPECT_TRUE(store.changesOf(3).empty());
}

TEST_F(StoreTest, MetaRoundTrip) {
    {
        Store store(dbPath_);
        EXPECT_EQ(store.meta("admin_token_hash"), std::nullopt);
        store.setMeta("admin_token_hash", "abc");
        EXPECT_EQ(store.meta("admin_token_hash"), std::optional<std::string>("abc"));
        store.setMeta("admin_token_hash", "def");  // overwrite
        EXPECT_EQ(store.meta("admin_token_hash"), std::optional<std::string>("def"));
        store.setMeta("empty", "");
        EXPECT_EQ(store.meta("empty"), std::optional<std::string>(""));
        EXPECT_EQ(store.meta("config_version"), std::optional<std::string>("0"));
        EXPECT_EQ(store.version(), 0u) << "meta keys do not touch the version";
    }
    Store reopened(dbPath_);
    EXPECT_EQ(reopened.meta("admin_token_hash"), std::optional<std::string>("def"));
    EXPECT_EQ(reopened.meta("empty"), std::optional<std::string>(""));
}

TEST_F(StoreTest, ReopeningKeepsDataAndRunsNoMigrationTwice) {
    ConfigDocument doc = sampleDocument();
    {
        Store store(dbPath_);
        store.commit(0, computeChanges({}, doc, 5000), "a", "import", "");
        ConfigDocument changed = doc;
        changed.routes.edit(0).priority = 3;
        store.commit(1, computeChanges(doc, changed, 5001), "a", "again", "");
    }
    for (int i = 0; i < 2; ++i) {
        std::unique_ptr<Store> reopened;
        ASSERT_NO_THROW(reopened = std::make_unique<Store>(dbPath_));
        EXPECT_EQ(reopened->schemaVersion(), kSchemaVersion);
        EXPECT_EQ(reopened->version(), 2u);
        EXPECT_EQ(reopened->historyCount(), 2u);
        const ConfigDocument loaded = reopened->load();
        EXPECT_EQ(loaded.upstreams.size(), 2u);
        ASSERT_EQ(loaded.routes.size(), 2u);
        // Equal positions: by name.
        EXPECT_EQ(loaded.routes[0].meta.name, "first-by-name");
        EXPECT_EQ(loaded.routes[0].priority, 0);
        EXPECT_EQ(loaded.routes[1].meta.name, "second-by-name");
        EXPECT_EQ(loaded.routes[1].priority, 3);
    }
}

TEST_F(StoreTest, TwoHandlesOnOneFileSeeEachOthersCommits) {
    Store first(dbPath_);
    Store second(dbPath_);
    ConfigDocument doc = sampleDocument();
    ASSERT_EQ(second.commit(0, computeChanges({}, doc, 5000), "cli", "import", ""), 1u);
    EXPECT_EQ(first.version(), 1u);
    EXPECT_EQ(first.load().routes.size(), 2u);
    EXPECT_THROW(first.commit(0, {}, "admin", "edit", ""), StaleVersion);
}

TEST_F(StoreTest, UnopenablePathIsAStoreError) {
    EXPECT_THROW(Store(dir_ + "/missing-dir/gatehouse.db"), StoreError);
}

TEST_F(StoreTest, NotADatabaseIsAStoreError) {
    {
        FILE* f = ::fopen(dbPath_.c_str(), "w");
        ASSERT_NE(f, nullptr);
        ::fputs("this is definitely not an SQLite database, just some text to fill a page.....", f);
        ::fclose(f);
    }
    EXPECT_THROW(Store{dbPath_}, StoreError);
}

}  // namespace
}  // namespace gatehouse::config
