#include "config/diff.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/codec.h"

namespace gatehouse::config {
namespace {

using Lines = std::vector<std::string>;

ConfigDocument base() {
    return documentFromJson(R"({
      "upstreams": [{"name": "api", "targets": [{"address": "10.0.0.1:80"}]},
                    {"name": "old", "targets": [{"address": "10.0.0.2:80"}]}],
      "routes": [{"name": "web", "match": {"paths": ["/"]}, "upstream": "api"},
                 {"name": "keep", "match": {"paths": ["/k"]}, "upstream": "api"}]})");
}

TEST(DiffDocuments, IdenticalDocumentsHaveNoDiff) {
    EXPECT_EQ(diffDocuments(base(), base()), Lines{});
}

TEST(DiffDocuments, IdsAndTimestampsAreIgnored) {
    const ConfigDocument a = base();
    ConfigDocument b = base();  // parsed again: fresh generated ids
    ASSERT_NE(a.routes[0].meta.id, b.routes[0].meta.id);
    b.routes[0].meta.createdAt = 12345;
    b.upstreams[0].meta.updatedAt = 999;
    EXPECT_EQ(diffDocuments(a, b), Lines{});
}

TEST(DiffDocuments, AddedRemovedAndChangedEntities) {
    const ConfigDocument before = base();
    ConfigDocument after = base();
    after.upstreams.erase(after.upstreams.begin() + 1);  // - upstream old
    after.upstreams[0].targets[0].weight = 7;            // ~ upstream api
    after.routes[0].paths = {"/web"};                    // ~ route web
    RouteSpec added = after.routes[1];
    added.meta.name = "new";
    after.routes.push_back(added);  // + route new
    EXPECT_EQ(diffDocuments(before, after),
              (Lines{"~ upstream api", "- upstream old", "~ route web", "+ route new"}));
}

TEST(DiffDocuments, RenameIsARemovalAndAnAddition) {
    const ConfigDocument before = base();
    ConfigDocument after = base();
    after.routes[1].meta.name = "kept";
    EXPECT_EQ(diffDocuments(before, after), (Lines{"+ route kept", "- route keep"}));
}

TEST(DiffDocuments, FromEmpty) {
    EXPECT_EQ(diffDocuments(ConfigDocument{}, base()),
              (Lines{"+ upstream api", "+ upstream old", "+ route web", "+ route keep"}));
    EXPECT_EQ(diffDocuments(base(), ConfigDocument{}),
              (Lines{"- upstream api", "- upstream old", "- route keep", "- route web"}));
}

TEST(DiffDocuments, EnabledFlagIsAChange) {
    const ConfigDocument before = base();
    ConfigDocument after = base();
    after.routes[1].enabled = false;
    EXPECT_EQ(diffDocuments(before, after), (Lines{"~ route keep"}));
}

TEST(AdoptStoredIdentities, GeneratedIdsTakeTheStoredOnes) {
    ConfigDocument stored = base();
    stored.routes[0].meta.createdAt = 111;
    ConfigDocument incoming = base();
    incoming.routes[1].meta.id = "0c8f6a52-2f0a-4a59-8f3e-3a8a8d2c1a01";
    incoming.routes[1].meta.generatedId = false;
    adoptStoredIdentities(stored, incoming);
    EXPECT_EQ(incoming.routes[0].meta.id, stored.routes[0].meta.id);
    EXPECT_EQ(incoming.routes[0].meta.createdAt, 111);
    EXPECT_EQ(incoming.upstreams[1].meta.id, stored.upstreams[1].meta.id);
    EXPECT_EQ(incoming.routes[1].meta.id, "0c8f6a52-2f0a-4a59-8f3e-3a8a8d2c1a01")
        << "an explicit id is never replaced";
}

}  // namespace
}  // namespace gatehouse::config
