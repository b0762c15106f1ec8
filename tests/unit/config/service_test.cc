#include "config/service.h"

#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/codec.h"
#include "config/diff.h"

namespace gatehouse::config {
namespace {

using Lines = std::vector<std::string>;

Poco::JSON::Object::Ptr parseObject(const std::string& text) {
    Poco::JSON::Parser p;
    return p.parse(text).extract<Poco::JSON::Object::Ptr>();
}

/// An upstream as the admin API would parse it (no id: one is generated).
UpstreamSpec upstreamFrom(const std::string& json) {
    FieldErrors errors;
    UpstreamSpec u = upstreamFromJson(parseObject(json), "", errors);
    EXPECT_TRUE(errors.empty()) << summarize(errors);
    return u;
}

UpstreamSpec makeUpstream(const std::string& name, int port = 9001) {
    return upstreamFrom(R"({"name": ")" + name + R"(", "targets": [{"address": "127.0.0.1:)" +
                        std::to_string(port) + R"("}]})");
}

RouteSpec routeFrom(const std::string& json) {
    FieldErrors errors;
    RouteSpec r = routeFromJson(parseObject(json), "", errors);
    EXPECT_TRUE(errors.empty()) << summarize(errors);
    return r;
}

RouteSpec makeRoute(const std::string& name, const std::string& upstream, const std::string& path) {
    return routeFrom(R"({"name": ")" + name + R"(", "match": {"paths": [")" + path +
                     R"("]}, "upstream": ")" + upstream + R"("})");
}

std::vector<std::string> upstreamNames(const ConfigDocument& d) {
    std::vector<std::string> out;
    for (const auto& u : d.upstreams)
        out.push_back(u.meta.name);
    return out;
}

Lines describeAll(const std::vector<StoredChange>& changes) {
    Lines out;
    for (const auto& c : changes)
        out.push_back(describe(c));
    return out;
}

/// The document as text without timestamps, plus the route positions: equal when the
/// configuration is the same, route order included.
std::string comparable(const ConfigDocument& d) {
    ConfigDocument c = d;
    std::string positions = "positions:";
    for (size_t i = 0; i < c.upstreams.size(); ++i) {
        auto& u = c.upstreams.edit(i);
        u.meta.createdAt = u.meta.updatedAt = 0;
    }
    for (size_t i = 0; i < c.routes.size(); ++i) {
        auto& r = c.routes.edit(i);
        r.meta.createdAt = r.meta.updatedAt = 0;
        positions += " " + r.meta.name + "=" + std::to_string(r.position);
    }
    return toJsonText(c) + positions;
}

std::vector<std::string> routeNames(const ConfigDocument& d) {
    std::vector<std::string> out;
    for (const auto& r : d.routes)
        out.push_back(r.meta.name);
    return out;
}

class ConfigServiceTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/gh-service-test-XXXXXX";
        const char* p = ::mkdtemp(tmpl);
        ASSERT_NE(p, nullptr);
        dir_ = p;
        dbPath_ = dir_ + "/gatehouse.db";
        store_ = std::make_unique<Store>(dbPath_);
        service_ = makeService(*store_, registry_, true);
        service_->reload();
        ASSERT_EQ(published_.size(), 1u) << "reload publishes";
        published_.clear();
    }
    void TearDown() override {
        service_.reset();
        store_.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    std::unique_ptr<ConfigService> makeService(Store& store, upstream::TargetRegistry& registry,
                                               bool record) {
        ConfigService::Publisher publish;
        if (record)
            publish = [this](std::shared_ptr<const Snapshot> s) { published_.push_back(s); };
        return std::make_unique<ConfigService>(
            store, registry, 1, [] { return std::make_shared<RuntimeSettings>(); }, publish);
    }

    ConfigService& svc() { return *service_; }

    /// upstream "api" and routes "web" (/), "docs" (/docs) on it.
    void seed() {
        svc().createUpstream(makeUpstream("api"), "seed");
        svc().createRoute(makeRoute("web", "api", "/"), "seed");
        svc().createRoute(makeRoute("docs", "api", "/docs"), "seed");
        ASSERT_EQ(svc().version(), 3u);
        published_.clear();
    }

    std::string dir_;
    std::string dbPath_;
    upstream::TargetRegistry registry_;
    std::unique_ptr<Store> store_;
    std::unique_ptr<ConfigService> service_;
    std::vector<std::shared_ptr<const Snapshot>> published_;
};

// --- upstreams -------------------------------------------------------------------------------

TEST_F(ConfigServiceTest, StartsEmptyAtVersionZero) {
    EXPECT_EQ(svc().version(), 0u);
    ASSERT_TRUE(svc().current());
    ASSERT_TRUE(svc().current()->doc);
    EXPECT_TRUE(svc().current()->doc->upstreams.empty());
    EXPECT_FALSE(svc().upstream("api").has_value());
}

TEST_F(ConfigServiceTest, CreateUpstream) {
    const int64_t before = std::time(nullptr);
    const UpstreamSpec spec = makeUpstream("api");
    const WriteResult r = svc().createUpstream(spec, "alice");
    EXPECT_EQ(r.version, 1u);
    EXPECT_FALSE(r.dryRun);
    EXPECT_EQ(describeAll(r.changes), Lines{"+ upstream api"});
    EXPECT_EQ(svc().version(), 1u);
    EXPECT_EQ(store_->version(), 1u);

    const auto got = svc().upstream("api");
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->meta.id, spec.meta.id);
    EXPECT_GE(got->meta.createdAt, before);
    EXPECT_EQ(got->meta.updatedAt, got->meta.createdAt);
    ASSERT_TRUE(svc().upstream(spec.meta.id).has_value()) << "lookup by id";
    EXPECT_EQ(svc().upstream(spec.meta.id)->meta.name, "api");

    const ConfigDocument stored = store_->load();
    ASSERT_EQ(stored.upstreams.size(), 1u);
    EXPECT_EQ(stored.upstreams[0].meta.id, spec.meta.id);

    ASSERT_EQ(published_.size(), 1u);
    EXPECT_EQ(published_[0]->version, 1u);
    EXPECT_EQ(published_[0].get(), svc().current().get());
    ASSERT_EQ(published_[0]->upstreams.size(), 1u);
    EXPECT_EQ(published_[0]->upstreams[0].spec->meta.name, "api");
}

TEST_F(ConfigServiceTest, HistoryRecordsActorActionAndSummary) {
    svc().createUpstream(makeUpstream("api"), "alice");
    svc().createRoute(makeRoute("web", "api", "/"), "bob");
    RouteSpec changed = makeRoute("web", "api", "/web");
    svc().putRoute("web", changed, "carol");
    svc().deleteRoute("web", "dave");
    const auto h = store_->history(0, 10);
    ASSERT_EQ(h.size(), 4u);
    EXPECT_EQ(h[3].version, 1u);
    EXPECT_EQ(h[3].actor, "alice");
    EXPECT_EQ(h[3].action, "create");
    EXPECT_EQ(h[3].summary, "create upstream 'api'");
    EXPECT_EQ(h[2].actor, "bob");
    EXPECT_EQ(h[2].action, "create");
    EXPECT_EQ(h[2].summary, "create route 'web'");
    EXPECT_EQ(h[1].actor, "carol");
    EXPECT_EQ(h[1].action, "update");
    EXPECT_EQ(h[1].summary, "update route 'web'");
    EXPECT_EQ(h[0].version, 4u);
    EXPECT_EQ(h[0].actor, "dave");
    EXPECT_EQ(h[0].action, "delete");
    EXPECT_EQ(h[0].summary, "delete route 'web'");

    const auto changes = store_->changesOf(3);
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_EQ(describe(changes[0]), "~ route web");
}

TEST_F(ConfigServiceTest, CreateUpstreamWithATakenNameIsAConflict) {
    seed();
    try {
        svc().createUpstream(makeUpstream("api", 9002), "alice");
        FAIL() << "no conflict";
    } catch (const Conflict& e) {
        EXPECT_NE(std::string(e.what()).find("'api'"), std::string::npos) << e.what();
        EXPECT_EQ(e.fields.count("name"), 1u);
    }
    EXPECT_EQ(svc().version(), 3u);
    EXPECT_EQ(store_->version(), 3u);
    EXPECT_TRUE(published_.empty());
}

TEST_F(ConfigServiceTest, CreateUpstreamWithATakenIdIsAConflict) {
    seed();
    UpstreamSpec spec = makeUpstream("other");
    spec.meta.id = svc().upstream("api")->meta.id;
    spec.meta.generatedId = false;
    try {
        svc().createUpstream(spec, "alice");
        FAIL() << "no conflict";
    } catch (const Conflict& e) {
        EXPECT_EQ(e.fields.count("id"), 1u);
    }
    EXPECT_EQ(store_->version(), 3u);
    EXPECT_TRUE(published_.empty());
}

TEST_F(ConfigServiceTest, PutUpstreamCreatesWhenMissing) {
    const WriteResult r = svc().putUpstream("api", makeUpstream("api"), "alice");
    EXPECT_EQ(r.version, 1u);
    EXPECT_EQ(describeAll(r.changes), Lines{"+ upstream api"});
    EXPECT_TRUE(svc().upstream("api").has_value());
    EXPECT_EQ(store_->historyRecord(1)->action, "create");
    EXPECT_EQ(published_.size(), 1u);
}

TEST_F(ConfigServiceTest, PutUpstreamByUuidCreatesWithThatId) {
    const std::string id = "0c8f6a52-2f0a-4a59-8f3e-3a8a8d2c1a01";
    const WriteResult r = svc().putUpstream(id, makeUpstream("api"), "alice");
    EXPECT_EQ(r.version, 1u);
    ASSERT_EQ(r.changes.size(), 1u);
    EXPECT_EQ(r.changes[0].id, id);
    const auto got = svc().upstream(id);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->meta.name, "api");
    EXPECT_EQ(store_->load().upstreams.at(0).meta.id, id);
}

TEST_F(ConfigServiceTest, PutUpstreamReplacesKeepingIdAndCreatedAt) {
    UpstreamSpec original = upstreamFrom(
        R"({"name": "api", "created_at": 1000, "targets": [{"address": "127.0.0.1:1"}]})");
    svc().createUpstream(original, "alice");
    ASSERT_EQ(svc().upstream("api")->meta.createdAt, 1000);
    published_.clear();

    UpstreamSpec replacement = upstreamFrom(
        R"({"name": "api", "created_at": 5, "algorithm": "least-connections",
            "targets": [{"address": "127.0.0.1:2", "weight": 7}]})");
    const WriteResult r = svc().putUpstream("api", replacement, "bob");
    EXPECT_EQ(r.version, 2u);
    EXPECT_EQ(describeAll(r.changes), Lines{"~ upstream api"});
    const auto got = svc().upstream("api");
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->meta.id, original.meta.id) << "PUT keeps the id";
    EXPECT_NE(got->meta.id, replacement.meta.id);
    EXPECT_EQ(got->meta.createdAt, 1000) << "PUT keeps created_at";
    EXPECT_GT(got->meta.updatedAt, 1000);
    EXPECT_EQ(got->algorithm, Algorithm::kLeastConnections);
    ASSERT_EQ(got->targets.size(), 1u);
    EXPECT_EQ(got->targets[0].address, "127.0.0.1:2");

    // By id as well, and what the store holds agrees.
    const WriteResult byId = svc().putUpstream(original.meta.id, makeUpstream("api", 3), "bob");
    EXPECT_EQ(byId.version, 3u);
    const ConfigDocument stored = store_->load();
    ASSERT_EQ(stored.upstreams.size(), 1u);
    EXPECT_EQ(stored.upstreams[0].meta.id, original.meta.id);
    EXPECT_EQ(stored.upstreams[0].meta.createdAt, 1000);
    EXPECT_EQ(stored.upstreams[0].targets[0].address, "127.0.0.1:3");
    EXPECT_EQ(published_.size(), 2u);
    EXPECT_EQ(store_->historyRecord(2)->action, "update");
}

TEST_F(ConfigServiceTest, PutOfIdenticalContentIsANoOp) {
    seed();
    const size_t historyBefore = store_->historyCount();
    const WriteResult u = svc().putUpstream("api", makeUpstream("api"), "alice");
    EXPECT_EQ(u.version, 3u);
    EXPECT_TRUE(u.changes.empty());
    const WriteResult r = svc().putRoute("web", makeRoute("web", "api", "/"), "alice");
    EXPECT_EQ(r.version, 3u);
    EXPECT_TRUE(r.changes.empty());
    EXPECT_EQ(svc().version(), 3u);
    EXPECT_EQ(store_->version(), 3u);
    EXPECT_EQ(store_->historyCount(), historyBefore);
    EXPECT_TRUE(published_.empty()) << "no new version, nothing to publish";
}

TEST_F(ConfigServiceTest, PutUpstreamToATakenNameIsAConflict) {
    seed();
    svc().createUpstream(makeUpstream("other", 9002), "alice");
    published_.clear();
    try {
        svc().putUpstream("other", makeUpstream("api", 9002), "alice");
        FAIL() << "no conflict";
    } catch (const Conflict& e) {
        EXPECT_EQ(e.fields.count("name"), 1u);
    }
    EXPECT_EQ(store_->version(), 4u);
    EXPECT_TRUE(svc().upstream("other").has_value());
    EXPECT_TRUE(published_.empty());
}

TEST_F(ConfigServiceTest, RenamingAnUpstreamThatRoutesUseIsAConflict) {
    seed();
    try {
        svc().putUpstream("api", makeUpstream("api2"), "alice");
        FAIL() << "no conflict";
    } catch (const Conflict& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("'api'"), std::string::npos) << what;
        EXPECT_NE(what.find("web"), std::string::npos) << what;
        EXPECT_NE(what.find("docs"), std::string::npos) << what;
        ASSERT_EQ(e.fields.count("name"), 1u);
        EXPECT_NE(e.fields.at("name").find("web"), std::string::npos) << e.fields.at("name");
        EXPECT_NE(e.fields.at("name").find("docs"), std::string::npos) << e.fields.at("name");
    }
    EXPECT_TRUE(svc().upstream("api").has_value());
    EXPECT_FALSE(svc().upstream("api2").has_value());
    EXPECT_EQ(store_->version(), 3u);
    EXPECT_TRUE(published_.empty());
}

TEST_F(ConfigServiceTest, RenamingAnUnusedUpstreamKeepsItsId) {
    svc().createUpstream(makeUpstream("old"), "alice");
    const std::string id = svc().upstream("old")->meta.id;
    const WriteResult r = svc().putUpstream("old", makeUpstream("new"), "alice");
    EXPECT_EQ(r.version, 2u);
    EXPECT_EQ(describeAll(r.changes), Lines{"~ upstream new (renamed from old)"});
    EXPECT_FALSE(svc().upstream("old").has_value());
    ASSERT_TRUE(svc().upstream("new").has_value());
    EXPECT_EQ(svc().upstream("new")->meta.id, id);
}

TEST_F(ConfigServiceTest, DeleteUpstream) {
    svc().createUpstream(makeUpstream("api"), "alice");
    svc().createUpstream(makeUpstream("spare", 9002), "alice");
    published_.clear();
    const WriteResult r = svc().deleteUpstream("spare", "bob");
    EXPECT_EQ(r.version, 3u);
    EXPECT_EQ(describeAll(r.changes), Lines{"- upstream spare"});
    EXPECT_FALSE(svc().upstream("spare").has_value());
    EXPECT_EQ(store_->load().upstreams.size(), 1u);
    EXPECT_EQ(published_.size(), 1u);
    EXPECT_EQ(store_->historyRecord(3)->summary, "delete upstream 'spare'");

    const std::string id = svc().upstream("api")->meta.id;
    EXPECT_EQ(svc().deleteUpstream(id, "bob").version, 4u) << "by id";
    EXPECT_TRUE(store_->load().upstreams.empty());
}

TEST_F(ConfigServiceTest, DeletingAnUpstreamRoutesUseIsAConflictNamingThem) {
    seed();
    try {
        svc().deleteUpstream("api", "alice");
        FAIL() << "no conflict";
    } catch (const Conflict& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("web"), std::string::npos) << what;
        EXPECT_NE(what.find("docs"), std::string::npos) << what;
    }
    EXPECT_TRUE(svc().upstream("api").has_value());
    EXPECT_EQ(store_->version(), 3u);
    EXPECT_TRUE(published_.empty());
}

TEST_F(ConfigServiceTest, MissingEntitiesAreNotFound) {
    seed();
    EXPECT_THROW(svc().deleteUpstream("nope", "alice"), NotFound);
    EXPECT_THROW(svc().deleteUpstream("0c8f6a52-2f0a-4a59-8f3e-3a8a8d2c1a01", "alice"), NotFound);
    EXPECT_THROW(svc().deleteRoute("nope", "alice"), NotFound);
    EXPECT_THROW(svc().deleteRoute(svc().upstream("api")->meta.id, "alice"), NotFound)
        << "an upstream's id is not a route's";
    EXPECT_THROW(svc().documentAt(4), NotFound);
    EXPECT_THROW(svc().rollback(9, "alice", false), NotFound);
    EXPECT_FALSE(svc().route("nope").has_value());
    EXPECT_EQ(store_->version(), 3u);
    EXPECT_TRUE(published_.empty());
}

// --- routes ----------------------------------------------------------------------------------

TEST_F(ConfigServiceTest, CreateRouteAppendsToTheTable) {
    seed();
    const RouteSpec spec = makeRoute("api-v2", "api", "/v2");
    const WriteResult r = svc().createRoute(spec, "alice");
    EXPECT_EQ(r.version, 4u);
    EXPECT_EQ(describeAll(r.changes), Lines{"+ route api-v2"});
    const auto got = svc().route("api-v2");
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->meta.id, spec.meta.id);
    EXPECT_EQ(svc().route(spec.meta.id)->meta.name, "api-v2");
    EXPECT_EQ(routeNames(*svc().current()->doc), (Lines{"web", "docs", "api-v2"}));
    EXPECT_GT(got->position, svc().route("docs")->position);
    EXPECT_GT(svc().route("docs")->position, svc().route("web")->position);
    EXPECT_EQ(routeNames(store_->load()), (Lines{"web", "docs", "api-v2"}));
    ASSERT_EQ(published_.size(), 1u);
    EXPECT_EQ(published_[0]->version, 4u);
    EXPECT_EQ(published_[0]->routes->size(), 3u);
    EXPECT_EQ(svc().routesUsing("api"), (Lines{"web", "docs", "api-v2"}));
}

TEST_F(ConfigServiceTest, RouteToAMissingUpstreamIsAValidationError) {
    seed();
    try {
        svc().createRoute(makeRoute("lost", "missing", "/lost"), "alice");
        FAIL() << "no validation error";
    } catch (const ValidationError& e) {
        EXPECT_EQ(e.fields.count("upstream"), 1u) << summarize(e.fields);
    }
    try {
        svc().putRoute("web", makeRoute("web", "missing", "/"), "alice");
        FAIL() << "no validation error";
    } catch (const ValidationError& e) {
        EXPECT_EQ(e.fields.count("upstream"), 1u) << summarize(e.fields);
    }
    EXPECT_EQ(svc().route("web")->upstream, "api");
    EXPECT_EQ(store_->version(), 3u);
    EXPECT_TRUE(published_.empty());
}

TEST_F(ConfigServiceTest, RouteWhoseRegexDoesNotCompileIsAValidationErrorAndChangesNothing) {
    seed();
    RouteSpec bad = makeRoute("bad", "api", "/bad");
    bad.paths = {"~^/bad/(unclosed"};  // built directly: the codec's own check is bypassed
    EXPECT_THROW(svc().createRoute(bad, "alice"), ValidationError);
    RouteSpec badWeb = makeRoute("web", "api", "/");
    badWeb.headers = {{"X-Id", {"~[z-a]"}}};
    EXPECT_THROW(svc().putRoute("web", badWeb, "alice"), ValidationError);
    EXPECT_EQ(svc().version(), 3u);
    EXPECT_EQ(store_->version(), 3u);
    EXPECT_EQ(store_->historyCount(), 3u);
    EXPECT_FALSE(svc().route("bad").has_value());
    EXPECT_TRUE(svc().route("web")->headers.empty());
    EXPECT_EQ(store_->load().routes.size(), 2u);
    EXPECT_TRUE(published_.empty());
}

TEST_F(ConfigServiceTest, CreateRouteWithATakenNameOrIdIsAConflict) {
    seed();
    try {
        svc().createRoute(makeRoute("web", "api", "/other"), "alice");
        FAIL() << "no conflict";
    } catch (const Conflict& e) {
        EXPECT_NE(std::string(e.what()).find("'web'"), std::string::npos) << e.what();
        EXPECT_EQ(e.fields.count("name"), 1u);
    }
    RouteSpec sameId = makeRoute("other", "api", "/other");
    sameId.meta.id = svc().route("docs")->meta.id;
    sameId.meta.generatedId = false;
    try {
        svc().createRoute(sameId, "alice");
        FAIL() << "no conflict";
    } catch (const Conflict& e) {
        EXPECT_EQ(e.fields.count("id"), 1u);
    }
    RouteSpec renamedOntoOther = makeRoute("docs", "api", "/");
    EXPECT_THROW(svc().putRoute("web", renamedOntoOther, "alice"), Conflict);
    EXPECT_EQ(store_->version(), 3u);
    EXPECT_TRUE(published_.empty());
}

TEST_F(ConfigServiceTest, AnIdIsUniqueAcrossKindsOfEntity) {
    seed();
    const std::string upstreamId = svc().upstream("api")->meta.id;
    RouteSpec byPost = makeRoute("other", "api", "/other");
    byPost.meta.id = upstreamId;
    byPost.meta.generatedId = false;
    try {
        svc().createRoute(byPost, "alice");
        FAIL() << "no conflict";
    } catch (const Conflict& e) {
        EXPECT_NE(std::string(e.what()).find("used by an upstream"), std::string::npos) << e.what();
        EXPECT_EQ(e.fields.count("id"), 1u);
    }
    // PUT to a UUID that names no route but an upstream: not a create with that id.
    EXPECT_THROW(svc().putRoute(upstreamId, makeRoute("other", "api", "/other"), "alice"),
                 Conflict);
    EXPECT_EQ(store_->version(), 3u);
    EXPECT_TRUE(published_.empty());
}

TEST_F(ConfigServiceTest, AWriteSharesTheEntitiesItDidNotTouchWithThePreviousSnapshot) {
    seed();
    const auto before = svc().current();
    svc().putRoute("docs", makeRoute("docs", "api", "/manual"), "alice");
    const auto after = svc().current();
    ASSERT_NE(before.get(), after.get());
    ASSERT_EQ(after->doc->routes.size(), 2u);
    // A write costs what it changes: the untouched route and upstream are the very objects
    // of the old document, and the old snapshot still sees the old route.
    EXPECT_TRUE(before->doc->upstreams.sameAt(0, after->doc->upstreams, 0));
    EXPECT_TRUE(before->doc->routes.sameAt(0, after->doc->routes, 0)) << "web";
    EXPECT_FALSE(before->doc->routes.sameAt(1, after->doc->routes, 1)) << "docs";
    EXPECT_EQ(before->doc->routes[1].paths, (std::vector<std::string>{"/docs"}));
    EXPECT_EQ(after->doc->routes[1].paths, (std::vector<std::string>{"/manual"}));
    EXPECT_GE(after->doc->routes[1].meta.updatedAt, before->doc->routes[1].meta.updatedAt);
}

TEST_F(ConfigServiceTest, PutRouteReplacesKeepingIdCreatedAtAndPosition) {
    seed();
    const RouteSpec original = *svc().route("web");
    RouteSpec replacement = routeFrom(
        R"({"name": "web", "created_at": 5, "priority": 9,
            "match": {"paths": ["/site"], "methods": ["GET"]}, "upstream": "api"})");
    const WriteResult r = svc().putRoute("web", replacement, "bob");
    EXPECT_EQ(r.version, 4u);
    EXPECT_EQ(describeAll(r.changes), Lines{"~ route web"});
    const auto got = svc().route("web");
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->meta.id, original.meta.id);
    EXPECT_EQ(got->meta.createdAt, original.meta.createdAt);
    EXPECT_EQ(got->position, original.position);
    EXPECT_EQ(got->priority, 9);
    EXPECT_EQ(got->paths, (Lines{"/site"}));
    EXPECT_EQ(routeNames(*svc().current()->doc), (Lines{"web", "docs"})) << "order kept";
    EXPECT_EQ(routeNames(store_->load()), (Lines{"web", "docs"}));

    // Renamed through PUT by id.
    const WriteResult renamed =
        svc().putRoute(original.meta.id, makeRoute("site", "api", "/"), "bob");
    EXPECT_EQ(describeAll(renamed.changes), Lines{"~ route site (renamed from web)"});
    EXPECT_EQ(svc().route("site")->meta.id, original.meta.id);
    EXPECT_EQ(published_.size(), 2u);
}

TEST_F(ConfigServiceTest, PutRouteCreatesWhenMissingAndByUuidWithThatId) {
    seed();
    const WriteResult byName = svc().putRoute("extra", makeRoute("extra", "api", "/x"), "alice");
    EXPECT_EQ(byName.version, 4u);
    EXPECT_EQ(describeAll(byName.changes), Lines{"+ route extra"});
    EXPECT_EQ(store_->historyRecord(4)->action, "create");

    const std::string id = "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b";
    const WriteResult byId = svc().putRoute(id, makeRoute("more", "api", "/m"), "alice");
    EXPECT_EQ(byId.version, 5u);
    ASSERT_TRUE(svc().route(id).has_value());
    EXPECT_EQ(svc().route(id)->meta.name, "more");
    EXPECT_EQ(routeNames(*svc().current()->doc), (Lines{"web", "docs", "extra", "more"}));
    EXPECT_EQ(routeNames(store_->load()), (Lines{"web", "docs", "extra", "more"}));
    EXPECT_EQ(published_.size(), 2u);
}

TEST_F(ConfigServiceTest, DeleteRoute) {
    seed();
    const std::string id = svc().route("web")->meta.id;
    const WriteResult r = svc().deleteRoute(id, "alice");
    EXPECT_EQ(r.version, 4u);
    EXPECT_EQ(describeAll(r.changes), Lines{"- route web"});
    EXPECT_FALSE(svc().route("web").has_value());
    EXPECT_EQ(routeNames(store_->load()), Lines{"docs"});
    EXPECT_EQ(svc().deleteRoute("docs", "alice").version, 5u);
    EXPECT_TRUE(svc().routesUsing("api").empty());
    EXPECT_EQ(svc().deleteUpstream("api", "alice").version, 6u) << "no longer used";
    EXPECT_EQ(published_.size(), 3u);
}

// --- replaceAll ------------------------------------------------------------------------------

const char* const kImport = R"({
  "upstreams": [{"name": "api", "targets": [{"address": "127.0.0.1:9001"}]},
                {"name": "static", "targets": [{"address": "127.0.0.1:9002"}]}],
  "routes": [{"name": "web", "match": {"paths": ["/"]}, "upstream": "static"},
             {"name": "docs", "match": {"paths": ["/docs"]}, "upstream": "api"},
             {"name": "assets", "match": {"paths": ["/assets"]}, "upstream": "static"}]})";

TEST_F(ConfigServiceTest, ReplaceAllWritesTheDocument) {
    seed();
    const WriteResult r = svc().replaceAll(documentFromJson(kImport), "cli", "import", false);
    EXPECT_EQ(r.version, 4u);
    EXPECT_FALSE(r.dryRun);
    EXPECT_EQ(describeAll(r.changes), (Lines{"+ upstream static", "~ route web", "+ route assets"}))
        << "web and docs keep their ids (adopted by name); docs is unchanged";
    EXPECT_EQ(routeNames(*svc().current()->doc), (Lines{"web", "docs", "assets"}));
    EXPECT_EQ(routeNames(store_->load()), (Lines{"web", "docs", "assets"}));
    EXPECT_EQ(svc().route("web")->upstream, "static");
    const auto rec = store_->historyRecord(4);
    ASSERT_TRUE(rec.has_value());
    EXPECT_EQ(rec->actor, "cli");
    EXPECT_EQ(rec->action, "import");
    EXPECT_EQ(rec->summary, "import +2 ~1 -0");
    EXPECT_EQ(published_.size(), 1u);

    // The same file again: nothing to do.
    const WriteResult again = svc().replaceAll(documentFromJson(kImport), "cli", "import", false);
    EXPECT_TRUE(again.changes.empty());
    EXPECT_EQ(again.version, 4u);
    EXPECT_EQ(store_->version(), 4u);
    EXPECT_EQ(published_.size(), 1u);
}

TEST_F(ConfigServiceTest, ReplaceAllDryRunChangesNothing) {
    seed();
    const std::string before = comparable(*svc().current()->doc);
    const auto snapBefore = svc().current();
    const WriteResult r = svc().replaceAll(documentFromJson(kImport), "cli", "import", true);
    EXPECT_TRUE(r.dryRun);
    EXPECT_EQ(r.version, 3u);
    EXPECT_EQ(describeAll(r.changes),
              (Lines{"+ upstream static", "~ route web", "+ route assets"}));
    EXPECT_EQ(svc().version(), 3u);
    EXPECT_EQ(svc().current().get(), snapBefore.get());
    EXPECT_EQ(comparable(*svc().current()->doc), before);
    EXPECT_EQ(store_->version(), 3u);
    EXPECT_EQ(store_->historyCount(), 3u);
    EXPECT_EQ(comparable(store_->load()), before);
    EXPECT_FALSE(svc().upstream("static").has_value());
    EXPECT_TRUE(published_.empty());
}

TEST_F(ConfigServiceTest, ReplaceAllOfTheCurrentExportIsANoOp) {
    seed();
    svc().replaceAll(documentFromJson(kImport), "cli", "import", false);
    // Leave sparse stored positions: web 0, assets 2, docs 3.
    svc().deleteRoute("docs", "alice");
    svc().createRoute(makeRoute("docs", "api", "/docs"), "alice");
    published_.clear();
    const uint64_t v = svc().version();
    const std::string text = toJsonText(*svc().current()->doc);
    const WriteResult r = svc().replaceAll(documentFromJson(text), "admin", "replace", false);
    EXPECT_TRUE(r.changes.empty()) << ::testing::PrintToString(describeAll(r.changes));
    EXPECT_EQ(r.version, v);
    EXPECT_EQ(store_->version(), v);
    EXPECT_EQ(toJsonText(*svc().current()->doc), text);
    EXPECT_TRUE(published_.empty());
}

TEST_F(ConfigServiceTest, ReplaceAllRejectsAnInvalidDocument) {
    seed();
    ConfigDocument doc = documentFromJson(kImport);
    doc.routes.edit(0).upstream = "missing";
    EXPECT_THROW(svc().replaceAll(doc, "cli", "import", false), ValidationError);
    EXPECT_THROW(svc().replaceAll(doc, "cli", "import", true), ValidationError);
    ConfigDocument badRegex = documentFromJson(kImport);
    badRegex.routes.edit(1).paths = {"~(("};
    EXPECT_THROW(svc().replaceAll(badRegex, "cli", "import", false), ValidationError);
    EXPECT_EQ(store_->version(), 3u);
    EXPECT_EQ(svc().version(), 3u);
    EXPECT_TRUE(published_.empty());
}

TEST_F(ConfigServiceTest, ReplaceAllWithANewOrderRenumbersRoutes) {
    seed();
    ConfigDocument doc = documentFromJson(toJsonText(*svc().current()->doc));
    doc.routes.swapAt(0, 1);  // docs, web
    const WriteResult r = svc().replaceAll(doc, "cli", "import", false);
    EXPECT_EQ(describeAll(r.changes), (Lines{"~ route docs", "~ route web"}));
    EXPECT_EQ(routeNames(*svc().current()->doc), (Lines{"docs", "web"}));
    EXPECT_EQ(routeNames(store_->load()), (Lines{"docs", "web"}));
}

// --- rollback and documentAt -----------------------------------------------------------------

TEST_F(ConfigServiceTest, RollbackRestoresTheDocumentExactlyAsANewVersion) {
    std::map<uint64_t, std::string> at;  // version -> comparable document
    at[0] = comparable(*svc().current()->doc);
    auto snap = [&] { at[svc().version()] = comparable(*svc().current()->doc); };

    svc().replaceAll(documentFromJson(kImport), "cli", "import", false);  // v1
    snap();
    svc().putUpstream("api", makeUpstream("api", 9100), "alice");  // v2: changed target
    snap();
    {
        ConfigDocument d = documentFromJson(toJsonText(*svc().current()->doc));
        d.routes.swapAt(0, 2);  // v3: assets, docs, web
        svc().replaceAll(d, "alice", "replace", false);
    }
    snap();
    svc().deleteRoute("docs", "alice");  // v4
    snap();
    svc().createRoute(makeRoute("docs", "static", "/documentation"),
                      "alice");  // v5: same name, new id
    snap();
    svc().createUpstream(makeUpstream("zz-extra", 9200), "alice");  // v6
    snap();
    ASSERT_EQ(svc().version(), 6u);
    published_.clear();

    const WriteResult r = svc().rollback(2, "bob", false);
    EXPECT_EQ(r.version, 7u);
    EXPECT_FALSE(r.changes.empty());
    EXPECT_EQ(comparable(*svc().current()->doc), at[2]);
    EXPECT_EQ(comparable(store_->load()), at[2]) << "the store holds the same";
    EXPECT_EQ(routeNames(*svc().current()->doc), (Lines{"web", "docs", "assets"}));
    EXPECT_EQ(store_->version(), 7u);
    ASSERT_EQ(published_.size(), 1u);
    EXPECT_EQ(published_[0]->version, 7u);

    const auto h = store_->history(0, 1);
    ASSERT_EQ(h.size(), 1u);
    EXPECT_EQ(h[0].version, 7u);
    EXPECT_EQ(h[0].action, "rollback");
    EXPECT_EQ(h[0].actor, "bob");
    EXPECT_EQ(h[0].summary, "rollback to version 2");
    EXPECT_EQ(store_->historyCount(), 7u) << "nothing was erased from the history";

    // Every version can still be reconstructed, the rollback's own included.
    at[7] = at[2];
    for (uint64_t v = 0; v <= 7; ++v) {
        SCOPED_TRACE("version " + std::to_string(v));
        EXPECT_EQ(comparable(svc().documentAt(v)), at[v]);
    }
}

TEST_F(ConfigServiceTest, RollbackKeepsTheOriginalIdsAndCreationTimes) {
    seed();
    const RouteSpec docs = *svc().route("docs");
    svc().deleteRoute("docs", "alice");
    svc().createRoute(makeRoute("docs", "api", "/docs"), "alice");  // same name, another id
    ASSERT_NE(svc().route("docs")->meta.id, docs.meta.id);
    svc().rollback(3, "alice", false);
    const auto back = svc().route("docs");
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->meta.id, docs.meta.id);
    EXPECT_EQ(back->meta.createdAt, docs.meta.createdAt);
    EXPECT_EQ(back->position, docs.position);
    EXPECT_EQ(store_->load().routes.size(), 2u);
}

TEST_F(ConfigServiceTest, RollbackDryRunAndRollbackToTheCurrentVersion) {
    seed();
    const std::string current = comparable(*svc().current()->doc);
    const WriteResult dry = svc().rollback(1, "alice", true);
    EXPECT_TRUE(dry.dryRun);
    EXPECT_EQ(dry.version, 3u);
    EXPECT_EQ(describeAll(dry.changes), (Lines{"- route web", "- route docs"}));
    EXPECT_EQ(comparable(*svc().current()->doc), current);
    EXPECT_EQ(store_->version(), 3u);

    const WriteResult same = svc().rollback(3, "alice", false);
    EXPECT_TRUE(same.changes.empty());
    EXPECT_EQ(same.version, 3u);
    EXPECT_EQ(store_->historyCount(), 3u);
    EXPECT_TRUE(published_.empty());
}

TEST_F(ConfigServiceTest, DocumentAtSeveralVersions) {
    EXPECT_TRUE(svc().documentAt(0).upstreams.empty());
    svc().createUpstream(makeUpstream("api"), "a");             // v1
    svc().createRoute(makeRoute("web", "api", "/"), "a");       // v2
    svc().createRoute(makeRoute("b", "api", "/b"), "a");        // v3
    svc().putRoute("web", makeRoute("web", "api", "/w"), "a");  // v4

    const ConfigDocument v1 = svc().documentAt(1);
    EXPECT_EQ(v1.upstreams.size(), 1u);
    EXPECT_TRUE(v1.routes.empty());
    const ConfigDocument v2 = svc().documentAt(2);
    EXPECT_EQ(routeNames(v2), Lines{"web"});
    EXPECT_EQ(v2.routes[0].paths, Lines{"/"});
    const ConfigDocument v3 = svc().documentAt(3);
    EXPECT_EQ(routeNames(v3), (Lines{"web", "b"}));
    EXPECT_EQ(v3.routes[0].paths, Lines{"/"});
    const ConfigDocument v4 = svc().documentAt(4);
    EXPECT_EQ(v4.routes[0].paths, Lines{"/w"});
    EXPECT_EQ(comparable(v4), comparable(*svc().current()->doc));
    EXPECT_EQ(svc().version(), 4u) << "reading history writes nothing";
    EXPECT_THROW(svc().documentAt(5), NotFound);
}

TEST_F(ConfigServiceTest, PutByAnUpperCaseUuidKeepsOneCanonicalId) {
    // UUIDs are case-insensitive; the codec stores them in lower case.
    const std::string lower = "0c8f6a52-2f0a-4a59-8f3e-3a8a8d2c1a01";
    const std::string upper = "0C8F6A52-2F0A-4A59-8F3E-3A8A8D2C1A01";
    svc().putUpstream(upper, makeUpstream("api"), "alice");
    const auto created = svc().upstream("api");
    ASSERT_TRUE(created.has_value());
    // A restarted gatehouse must know the entity by the id this one reported.
    upstream::TargetRegistry otherTargets;
    auto restarted = makeService(*store_, otherTargets, false);
    restarted->reload();
    ASSERT_TRUE(restarted->upstream("api").has_value());
    EXPECT_EQ(restarted->upstream("api")->meta.id, created->meta.id)
        << "the id changed across a restart";
    EXPECT_TRUE(restarted->documentAt(0).upstreams.empty())
        << "history and current state disagree on the id";
    // Replacing by either spelling replaces, it does not conflict.
    EXPECT_NO_THROW(svc().putUpstream(lower, makeUpstream("api", 9002), "alice"));
    EXPECT_NO_THROW(svc().putUpstream(upper, makeUpstream("api", 9003), "alice"));
}

TEST_F(ConfigServiceTest, ServedDocumentIsWhatTheStoreHolds) {
    // Upstreams created out of name order; the store (and so a restart, an export and
    // documentAt) lists them by name.
    svc().createUpstream(makeUpstream("zeta", 9001), "alice");
    svc().createUpstream(makeUpstream("alpha", 9002), "alice");
    svc().createRoute(makeRoute("web", "zeta", "/"), "alice");
    const Lines served = upstreamNames(*svc().current()->doc);
    EXPECT_EQ(served, upstreamNames(store_->load()));
    EXPECT_EQ(served, upstreamNames(svc().documentAt(svc().version())));
}

// --- other writers ---------------------------------------------------------------------------

TEST_F(ConfigServiceTest, AWriteAfterAnotherWriterCommittedIsAConflictThenServesTheirState) {
    seed();
    {
        // The CLI: its own Store handle and service on the same file, nothing to publish to.
        Store cliStore(dbPath_);
        upstream::TargetRegistry cliTargets;
        auto cli = makeService(cliStore, cliTargets, false);
        cli->reload();
        ASSERT_EQ(cli->version(), 3u);
        EXPECT_EQ(cli->createUpstream(makeUpstream("from-cli", 9300), "cli").version, 4u);
    }
    EXPECT_EQ(svc().version(), 3u) << "not yet seen";
    try {
        svc().createRoute(makeRoute("mine", "api", "/mine"), "admin");
        FAIL() << "no conflict";
    } catch (const Conflict& e) {
        EXPECT_NE(std::string(e.what()).find("another writer"), std::string::npos) << e.what();
    }
    EXPECT_EQ(store_->version(), 4u);
    EXPECT_EQ(store_->historyRecord(4)->actor, "cli");
    EXPECT_FALSE(svc().route("mine").has_value());
    // The service now serves the other writer's state (and hands it to the workers).
    EXPECT_EQ(svc().version(), 4u);
    EXPECT_TRUE(svc().upstream("from-cli").has_value());
    ASSERT_EQ(published_.size(), 1u);
    EXPECT_EQ(published_[0]->version, 4u);
    EXPECT_EQ(published_[0].get(), svc().current().get());

    // A retry succeeds on top of it.
    const WriteResult retry = svc().createRoute(makeRoute("mine", "api", "/mine"), "admin");
    EXPECT_EQ(retry.version, 5u);
    EXPECT_EQ(store_->load().upstreams.size(), 2u);
    EXPECT_EQ(routeNames(store_->load()), (Lines{"web", "docs", "mine"}));
}

TEST_F(ConfigServiceTest, ReloadServesWhatTheStoreHolds) {
    seed();
    upstream::TargetRegistry otherTargets;
    auto restarted = makeService(*store_, otherTargets, false);
    EXPECT_EQ(restarted->version(), 0u) << "empty until reload";
    restarted->reload();
    EXPECT_EQ(restarted->version(), 3u);
    EXPECT_EQ(comparable(*restarted->current()->doc), comparable(*svc().current()->doc));
}

}  // namespace
}  // namespace gatehouse::config
