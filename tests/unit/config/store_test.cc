#include "config/store.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "config/codec.h"

namespace gatehouse::config {
namespace {

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

    std::string dir_;
    std::string dbPath_;
};

TEST_F(StoreTest, NewDatabaseIsPrivateAndEmpty) {
    Store store(dbPath_);
    struct stat st {};
    ASSERT_EQ(::stat(dbPath_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << std::oct << (st.st_mode & 0777);
    EXPECT_EQ(store.version(), 0u);
    EXPECT_EQ(store.schemaVersion(), 1);
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
    store.replaceAll(sampleDocument(), "test", "import");
    for (const char* suffix : {"-wal", "-shm"}) {
        const std::string p = dbPath_ + suffix;
        struct stat st {};
        if (::stat(p.c_str(), &st) != 0) continue;  // checkpointed away: nothing to check
        EXPECT_EQ(st.st_mode & 0077, 0u) << p << " is readable by others";
    }
}

TEST_F(StoreTest, ReplaceAllBumpsVersionAndLoadReturnsWhatWasStored) {
    Store store(dbPath_);
    const ConfigDocument doc = sampleDocument();
    EXPECT_EQ(store.replaceAll(doc, "alice", "import"), 1u);
    EXPECT_EQ(store.version(), 1u);

    const ConfigDocument loaded = store.load();
    ASSERT_EQ(loaded.upstreams.size(), 2u);
    ASSERT_EQ(loaded.routes.size(), 2u);
    // Upstreams by name; routes in stored order (the table's last tie-breaker).
    EXPECT_EQ(loaded.upstreams[0].meta.name, "alpha");
    EXPECT_EQ(loaded.upstreams[1].meta.name, "zeta");
    EXPECT_EQ(loaded.routes[0].meta.name, "second-by-name");
    EXPECT_EQ(loaded.routes[1].meta.name, "first-by-name");

    EXPECT_EQ(loaded.upstreams[0].meta.id, doc.upstreams[1].meta.id) << "ids are kept";
    EXPECT_EQ(loaded.routes[1].meta.id, doc.routes[1].meta.id);
    EXPECT_EQ(loaded.upstreams[0].algorithm, Algorithm::kLeastConnections);
    ASSERT_EQ(loaded.upstreams[0].targets.size(), 2u);
    EXPECT_EQ(loaded.upstreams[0].targets[1].weight, 0u);
    EXPECT_EQ(loaded.upstreams[1].targets[0].weight, 3u);
    EXPECT_EQ(loaded.routes[1].paths, (std::vector<std::string>{"=/a"}));
    EXPECT_EQ(loaded.routes[1].methods, (std::vector<std::string>{"GET"}));
    EXPECT_TRUE(loaded.routes[1].stripPrefix);
    EXPECT_EQ(loaded.routes[1].upstream, "alpha");

    // Timestamps: created_at kept when given, otherwise set; updated_at set.
    EXPECT_EQ(loaded.routes[1].meta.createdAt, 1000);
    EXPECT_GT(loaded.routes[0].meta.createdAt, 1000);
    EXPECT_GT(loaded.routes[1].meta.updatedAt, 1000);
}

TEST_F(StoreTest, EveryReplaceIsANewVersion) {
    Store store(dbPath_);
    ConfigDocument doc = sampleDocument();
    EXPECT_EQ(store.replaceAll(doc, "a", "import"), 1u);
    doc.routes.pop_back();
    EXPECT_EQ(store.replaceAll(doc, "b", "delete route"), 2u);
    EXPECT_EQ(store.replaceAll(ConfigDocument{}, "c", "clear"), 3u);
    EXPECT_EQ(store.version(), 3u);
    EXPECT_TRUE(store.load().routes.empty());
}

TEST_F(StoreTest, ReplaceKeepsOnlyTheNewContent) {
    Store store(dbPath_);
    ConfigDocument doc = sampleDocument();
    store.replaceAll(doc, "a", "import");
    doc.routes.erase(doc.routes.begin());
    doc.upstreams.erase(doc.upstreams.begin());  // "zeta" was only used by the erased route
    store.replaceAll(doc, "a", "edit");
    const ConfigDocument loaded = store.load();
    ASSERT_EQ(loaded.upstreams.size(), 1u);
    EXPECT_EQ(loaded.upstreams[0].meta.name, "alpha");
    ASSERT_EQ(loaded.routes.size(), 1u);
    EXPECT_EQ(loaded.routes[0].meta.name, "first-by-name");
}

TEST_F(StoreTest, ReopeningKeepsDataAndRunsNoMigrationTwice) {
    ConfigDocument doc = sampleDocument();
    {
        Store store(dbPath_);
        store.replaceAll(doc, "a", "import");
        store.replaceAll(doc, "a", "again");
    }
    for (int i = 0; i < 2; ++i) {
        std::unique_ptr<Store> reopened;
        ASSERT_NO_THROW(reopened = std::make_unique<Store>(dbPath_));
        EXPECT_EQ(reopened->schemaVersion(), 1);
        EXPECT_EQ(reopened->version(), 2u);
        const ConfigDocument loaded = reopened->load();
        EXPECT_EQ(loaded.upstreams.size(), 2u);
        EXPECT_EQ(loaded.routes.size(), 2u);
    }
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
