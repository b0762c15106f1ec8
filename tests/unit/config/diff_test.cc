#include "config/diff.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "config/codec.h"

namespace gatehouse::config {
namespace {

using Lines = std::vector<std::string>;

/// What the store would hold: upstreams api, old; routes web (position 0), keep (position 1).
ConfigDocument base() {
    ConfigDocument d = documentFromJson(R"({
      "upstreams": [{"name": "api", "targets": [{"address": "10.0.0.1:80"}]},
                    {"name": "old", "targets": [{"address": "10.0.0.2:80"}]}],
      "routes": [{"name": "web", "match": {"paths": ["/"]}, "upstream": "api"},
                 {"name": "keep", "match": {"paths": ["/k"]}, "upstream": "api"}]})");
    for (size_t i = 0; i < d.routes.size(); ++i)
        d.routes.edit(i).position = static_cast<int64_t>(i);
    for (size_t i = 0; i < d.upstreams.size(); ++i) {
        auto& u = d.upstreams.edit(i);
        u.meta.createdAt = u.meta.updatedAt = 100;
    }
    for (size_t i = 0; i < d.routes.size(); ++i) {
        auto& r = d.routes.edit(i);
        r.meta.createdAt = r.meta.updatedAt = 100;
    }
    return d;
}

Lines describeAll(const std::vector<StoredChange>& changes) {
    Lines out;
    for (const auto& c : changes)
        out.push_back(describe(c));
    return out;
}

// --- computeChanges / describe ---------------------------------------------------------------

TEST(DiffComputeChanges, IdenticalDocumentsHaveNoChanges) {
    const ConfigDocument before = base();
    ConfigDocument after = before;
    EXPECT_TRUE(computeChanges(before, after, 5000).empty());
    for (const auto& r : after.routes) {
        EXPECT_EQ(r.meta.createdAt, 100) << r.meta.name;
        EXPECT_EQ(r.meta.updatedAt, 100) << r.meta.name << ": unchanged entities are not stamped";
    }
    EXPECT_EQ(after.upstreams[0].meta.updatedAt, 100);
}

TEST(DiffComputeChanges, TimestampsAloneAreNoChangeAndKeepTheStoredValues) {
    const ConfigDocument before = base();
    ConfigDocument after = before;
    after.routes.edit(0).meta.createdAt = 12345;
    after.upstreams.edit(0).meta.updatedAt = 999;
    EXPECT_TRUE(computeChanges(before, after, 5000).empty());
    EXPECT_EQ(after.routes[0].meta.createdAt, 100);
    EXPECT_EQ(after.upstreams[0].meta.updatedAt, 100);
}

TEST(DiffComputeChanges, EntitiesAreMatchedById) {
    const ConfigDocument before = base();
    ConfigDocument after = base();  // parsed again: same names, fresh generated ids
    ASSERT_NE(before.routes[0].meta.id, after.routes[0].meta.id);
    const auto changes = computeChanges(before, after, 5000);
    EXPECT_EQ(describeAll(changes),
              (Lines{"+ upstream api", "+ upstream old", "- upstream api", "- upstream old",
                     "+ route web", "+ route keep", "- route web", "- route keep"}));
    std::set<std::string> oldIds, newIds;
    for (const auto& u : before.upstreams)
        oldIds.insert(u.meta.id);
    for (const auto& r : before.routes)
        oldIds.insert(r.meta.id);
    for (const auto& u : after.upstreams)
        newIds.insert(u.meta.id);
    for (const auto& r : after.routes)
        newIds.insert(r.meta.id);
    for (const auto& c : changes) {
        if (c.after)
            EXPECT_TRUE(newIds.count(c.id)) << describe(c) << " " << c.id;
        else
            EXPECT_TRUE(oldIds.count(c.id)) << describe(c) << " " << c.id;
    }
}

TEST(DiffComputeChanges, ShiftedAndSwappedEntitiesAreStillMatchedById) {
    ConfigDocument before = base();
    RouteSpec third = before.routes[1];
    third.meta.id = newUuid();
    third.meta.name = "third";
    third.position = 2;
    before.routes.push_back(third);
    // Removing the first route shifts the others down one slot; swapping the upstreams moves
    // both: neither may read as a remove-and-add of the entities that only moved.
    ConfigDocument after = before;
    after.routes.erase(after.routes.begin());
    after.upstreams.swapAt(0, 1);
    const auto changes = computeChanges(before, after, 5000);
    EXPECT_EQ(describeAll(changes), (Lines{"- route web"}));
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_EQ(changes[0].id, before.routes[0].meta.id);
    for (const auto& r : after.routes)
        EXPECT_EQ(r.meta.updatedAt, 100) << r.meta.name << " only moved";
}

TEST(DiffComputeChanges, AddedRemovedAndChangedEntities) {
    const ConfigDocument before = base();
    ConfigDocument after = before;
    after.upstreams.erase(after.upstreams.begin() + 1);  // - upstream old
    after.upstreams.edit(0).targets[0].weight = 7;       // ~ upstream api
    after.routes.edit(0).paths = {"/web"};               // ~ route web
    RouteSpec added = after.routes[1];
    added.meta.id = newUuid();
    added.meta.name = "new";
    added.meta.createdAt = added.meta.updatedAt = 0;
    added.position = 2;
    after.routes.push_back(added);  // + route new
    const auto changes = computeChanges(before, after, 5000);
    EXPECT_EQ(describeAll(changes),
              (Lines{"~ upstream api", "- upstream old", "~ route web", "+ route new"}));
    EXPECT_EQ(countSummary(changes), "+1 ~2 -1");
}

TEST(DiffComputeChanges, ChangesCarryBeforeAndAfterJsonAndPositions) {
    const ConfigDocument before = base();
    ConfigDocument after = before;
    after.upstreams.pop_back();
    after.routes.edit(1).paths = {"/kept"};
    const auto changes = computeChanges(before, after, 5000);
    ASSERT_EQ(changes.size(), 2u);

    const StoredChange& removed = changes[0];
    EXPECT_EQ(removed.kind, EntityKind::kUpstream);
    EXPECT_EQ(removed.id, before.upstreams[1].meta.id);
    EXPECT_EQ(removed.name, "old");
    ASSERT_TRUE(removed.before.has_value());
    EXPECT_NE(removed.before->find("\"10.0.0.2:80\""), std::string::npos) << *removed.before;
    EXPECT_FALSE(removed.after.has_value());
    EXPECT_FALSE(removed.beforePosition.has_value()) << "upstreams have no position";
    EXPECT_FALSE(removed.afterPosition.has_value());

    const StoredChange& changed = changes[1];
    EXPECT_EQ(changed.kind, EntityKind::kRoute);
    EXPECT_EQ(changed.id, before.routes[1].meta.id);
    ASSERT_TRUE(changed.before && changed.after);
    EXPECT_NE(changed.before->find("\"/k\""), std::string::npos) << *changed.before;
    EXPECT_NE(changed.after->find("\"/kept\""), std::string::npos) << *changed.after;
    EXPECT_NE(changed.after->find("\"updated_at\":5000"), std::string::npos)
        << "the recorded JSON carries the new timestamp: " << *changed.after;
    EXPECT_EQ(changed.beforePosition, std::optional<int64_t>(1));
    EXPECT_EQ(changed.afterPosition, std::optional<int64_t>(1));
}

TEST(DiffComputeChanges, TimestampsAreStampedOnlyOnChangedEntities) {
    const ConfigDocument before = base();
    ConfigDocument after = before;
    after.routes.edit(0).paths = {"/web"};
    RouteSpec fresh = after.routes[1];
    fresh.meta.id = newUuid();
    fresh.meta.name = "fresh";
    fresh.meta.createdAt = fresh.meta.updatedAt = 0;
    fresh.position = 2;
    after.routes.push_back(fresh);
    RouteSpec imported = fresh;
    imported.meta.id = newUuid();
    imported.meta.name = "imported";
    imported.meta.createdAt = 777;  // an explicit created_at of a new entity is kept
    imported.position = 3;
    after.routes.push_back(imported);

    ASSERT_EQ(computeChanges(before, after, 5000).size(), 3u);
    EXPECT_EQ(after.routes[0].meta.createdAt, 100) << "a changed entity keeps created_at";
    EXPECT_EQ(after.routes[0].meta.updatedAt, 5000);
    EXPECT_EQ(after.routes[1].meta.createdAt, 100) << "unchanged";
    EXPECT_EQ(after.routes[1].meta.updatedAt, 100) << "unchanged";
    EXPECT_EQ(after.routes[2].meta.createdAt, 5000) << "new";
    EXPECT_EQ(after.routes[2].meta.updatedAt, 5000) << "new";
    EXPECT_EQ(after.routes[3].meta.createdAt, 777);
    EXPECT_EQ(after.routes[3].meta.updatedAt, 5000);
    for (const auto& u : after.upstreams)
        EXPECT_EQ(u.meta.updatedAt, 100) << u.meta.name;
}

TEST(DiffComputeChanges, CreatedAtOfAChangedEntityComesFromTheStoredOne) {
    const ConfigDocument before = base();
    ConfigDocument after = before;
    after.upstreams.edit(0).targets[0].weight = 1;
    after.upstreams.edit(0).meta.createdAt = 1;  // the input cannot rewrite history
    ASSERT_EQ(computeChanges(before, after, 5000).size(), 1u);
    EXPECT_EQ(after.upstreams[0].meta.createdAt, 100);
    EXPECT_EQ(after.upstreams[0].meta.updatedAt, 5000);
}

TEST(DiffComputeChanges, PositionOnlyChangeOfARouteIsAChange) {
    const ConfigDocument before = base();
    ConfigDocument after = before;
    after.routes.edit(1).position = 7;
    const auto changes = computeChanges(before, after, 5000);
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_EQ(describe(changes[0]), "~ route keep");
    EXPECT_EQ(changes[0].beforePosition, std::optional<int64_t>(1));
    EXPECT_EQ(changes[0].afterPosition, std::optional<int64_t>(7));
    EXPECT_EQ(after.routes[1].meta.updatedAt, 5000);
    EXPECT_EQ(after.routes[0].meta.updatedAt, 100);
}

TEST(DiffComputeChanges, RenameIsOneChangeDescribedAsRenamed) {
    const ConfigDocument before = base();
    ConfigDocument after = before;
    after.routes.edit(1).meta.name = "kept";
    after.upstreams.edit(1).meta.name = "older";
    const auto changes = computeChanges(before, after, 5000);
    EXPECT_EQ(describeAll(changes),
              (Lines{"~ upstream older (renamed from old)", "~ route kept (renamed from keep)"}));
    ASSERT_EQ(changes.size(), 2u);
    EXPECT_EQ(changes[1].id, before.routes[1].meta.id);
    EXPECT_EQ(changes[1].name, "kept");
}

TEST(DiffComputeChanges, FromAndToEmpty) {
    ConfigDocument all = base();
    EXPECT_EQ(describeAll(computeChanges(ConfigDocument{}, all, 5000)),
              (Lines{"+ upstream api", "+ upstream old", "+ route web", "+ route keep"}));
    ConfigDocument none;
    const auto removed = computeChanges(base(), none, 5000);
    EXPECT_EQ(describeAll(removed),
              (Lines{"- upstream api", "- upstream old", "- route web", "- route keep"}));
    EXPECT_EQ(countSummary(removed), "+0 ~0 -4");
}

TEST(DiffComputeChanges, EnabledFlagIsAChange) {
    const ConfigDocument before = base();
    ConfigDocument after = before;
    after.routes.edit(1).enabled = false;
    EXPECT_EQ(describeAll(computeChanges(before, after, 5000)), (Lines{"~ route keep"}));
}

TEST(DiffDescribe, FormsAndCounts) {
    StoredChange c;
    c.kind = EntityKind::kUpstream;
    c.name = "api";
    c.after = R"({"id":"x","name":"api"})";
    EXPECT_EQ(describe(c), "+ upstream api");
    c.before = R"({"id":"x","name":"api"})";
    EXPECT_EQ(describe(c), "~ upstream api");
    c.before = R"({"id":"x","name":"www"})";
    EXPECT_EQ(describe(c), "~ upstream api (renamed from www)");
    c.after.reset();
    c.kind = EntityKind::kRoute;
    c.name = "www";
    EXPECT_EQ(describe(c), "- route www");
    EXPECT_EQ(countSummary({}), "+0 ~0 -0");
}

// --- adoptStoredIdentities -------------------------------------------------------------------

TEST(DiffAdoptStoredIdentities, GeneratedIdsTakeTheStoredOnes) {
    ConfigDocument stored = base();
    stored.routes.edit(0).meta.createdAt = 111;
    ConfigDocument incoming = base();
    for (size_t i = 0; i < incoming.routes.size(); ++i) {
        auto& r = incoming.routes.edit(i);
        r.meta.createdAt = 0;
    }
    incoming.routes.edit(1).meta.id = "0c8f6a52-2f0a-4a59-8f3e-3a8a8d2c1a01";
    incoming.routes.edit(1).meta.generatedId = false;
    adoptStoredIdentities(stored, incoming);
    EXPECT_EQ(incoming.routes[0].meta.id, stored.routes[0].meta.id);
    EXPECT_EQ(incoming.routes[0].meta.createdAt, 111);
    EXPECT_EQ(incoming.upstreams[1].meta.id, stored.upstreams[1].meta.id);
    EXPECT_EQ(incoming.routes[1].meta.id, "0c8f6a52-2f0a-4a59-8f3e-3a8a8d2c1a01")
        << "an explicit id is never replaced";
}

TEST(DiffAdoptStoredIdentities, UnknownNamesKeepTheirGeneratedIds) {
    const ConfigDocument stored = base();
    ConfigDocument incoming = base();
    incoming.routes.edit(0).meta.name = "brand-new";
    const std::string generated = incoming.routes.edit(0).meta.id;
    adoptStoredIdentities(stored, incoming);
    EXPECT_EQ(incoming.routes[0].meta.id, generated);
    EXPECT_EQ(incoming.routes[1].meta.id, stored.routes[1].meta.id);
}

TEST(DiffAdoptStoredIdentities, ReimportingTheSameFileChangesNothing) {
    const ConfigDocument stored = base();
    ConfigDocument incoming = base();  // the same file parsed again: no ids, no timestamps
    for (size_t i = 0; i < incoming.upstreams.size(); ++i) {
        auto& u = incoming.upstreams.edit(i);
        u.meta.createdAt = u.meta.updatedAt = 0;
    }
    for (size_t i = 0; i < incoming.routes.size(); ++i) {
        auto& r = incoming.routes.edit(i);
        r.meta.createdAt = r.meta.updatedAt = 0;
    }
    adoptStoredIdentities(stored, incoming);
    assignRoutePositions(stored, incoming);
    EXPECT_EQ(describeAll(computeChanges(stored, incoming, 5000)), Lines{});
    EXPECT_EQ(incoming.routes[0].meta.updatedAt, 100) << "timestamps come from the store";
}

// --- assignRoutePositions --------------------------------------------------------------------

/// Stored routes a, b, c at `positions`.
ConfigDocument storedAt(std::vector<int64_t> positions) {
    ConfigDocument d = documentFromJson(R"({
      "upstreams": [{"name": "api", "targets": [{"address": "10.0.0.1:80"}]}],
      "routes": [{"name": "a", "match": {"paths": ["/a"]}, "upstream": "api"},
                 {"name": "b", "match": {"paths": ["/b"]}, "upstream": "api"},
                 {"name": "c", "match": {"paths": ["/c"]}, "upstream": "api"}]})");
    for (size_t i = 0; i < d.routes.size(); ++i)
        d.routes.edit(i).position = positions[i];
    return d;
}

RouteSpec newRoute(const ConfigDocument& like, const std::string& name) {
    RouteSpec r = like.routes[0];
    r.meta.id = newUuid();
    r.meta.name = name;
    r.position = 0;
    return r;
}

std::vector<int64_t> positionsOf(const ConfigDocument& d) {
    std::vector<int64_t> out;
    for (const auto& r : d.routes)
        out.push_back(r.position);
    return out;
}

using Positions = std::vector<int64_t>;

TEST(DiffAssignRoutePositions, UnchangedOrderKeepsSparseStoredPositions) {
    const ConfigDocument stored = storedAt({3, 10, 20});
    ConfigDocument incoming = stored;
    for (size_t i = 0; i < incoming.routes.size(); ++i) {
        auto& r = incoming.routes.edit(i);
        r.position = 0;
    }
    assignRoutePositions(stored, incoming);
    EXPECT_EQ(positionsOf(incoming), (Positions{3, 10, 20}));
    EXPECT_TRUE(computeChanges(stored, incoming, 5000).empty());
}

TEST(DiffAssignRoutePositions, RemovedRouteLeavesTheOthersInPlace) {
    const ConfigDocument stored = storedAt({3, 10, 20});
    ConfigDocument incoming = stored;
    incoming.routes.erase(incoming.routes.begin() + 1);
    assignRoutePositions(stored, incoming);
    EXPECT_EQ(positionsOf(incoming), (Positions{3, 20}));
}

TEST(DiffAssignRoutePositions, NewRouteFitsIntoAGap) {
    const ConfigDocument stored = storedAt({3, 10, 20});
    ConfigDocument incoming = stored;
    incoming.routes.insert(incoming.routes.begin() + 1, newRoute(stored, "n"));
    assignRoutePositions(stored, incoming);
    EXPECT_EQ(positionsOf(incoming), (Positions{3, 4, 10, 20}));
    const auto changes = computeChanges(stored, incoming, 5000);
    ASSERT_EQ(changes.size(), 1u) << "only the new route is a change";
    EXPECT_EQ(describe(changes[0]), "+ route n");
}

TEST(DiffAssignRoutePositions, NewRoutesAtTheEndsAreNumberedAroundTheKeptOnes) {
    const ConfigDocument stored = storedAt({3, 10, 20});
    ConfigDocument incoming = stored;
    incoming.routes.insert(incoming.routes.begin(), newRoute(stored, "first"));
    incoming.routes.push_back(newRoute(stored, "last"));
    assignRoutePositions(stored, incoming);
    EXPECT_EQ(positionsOf(incoming), (Positions{0, 3, 10, 20, 21}));
}

TEST(DiffAssignRoutePositions, ChangedOrderRenumbers) {
    const ConfigDocument stored = storedAt({3, 10, 20});
    ConfigDocument incoming = stored;
    incoming.routes.swapAt(0, 2);  // c, b, a
    assignRoutePositions(stored, incoming);
    EXPECT_EQ(positionsOf(incoming), (Positions{0, 1, 2}));
    EXPECT_EQ(incoming.routes[0].meta.name, "c");
}

TEST(DiffAssignRoutePositions, NoGapRenumbers) {
    const ConfigDocument stored = storedAt({0, 1, 2});
    ConfigDocument incoming = stored;
    incoming.routes.insert(incoming.routes.begin() + 1, newRoute(stored, "n"));
    assignRoutePositions(stored, incoming);
    EXPECT_EQ(positionsOf(incoming), (Positions{0, 1, 2, 3}));
    const auto changes = computeChanges(stored, incoming, 5000);
    EXPECT_EQ(describeAll(changes), (Lines{"+ route n", "~ route b", "~ route c"}))
        << "b and c moved down";
}

TEST(DiffAssignRoutePositions, GapTooSmallForTwoNewRoutesRenumbers) {
    const ConfigDocument stored = storedAt({0, 2, 3});
    ConfigDocument incoming = stored;
    incoming.routes.insert(incoming.routes.begin() + 1, newRoute(stored, "n1"));
    incoming.routes.insert(incoming.routes.begin() + 2, newRoute(stored, "n2"));
    assignRoutePositions(stored, incoming);
    EXPECT_EQ(positionsOf(incoming), (Positions{0, 1, 2, 3, 4}));
}

TEST(DiffAssignRoutePositions, NewRouteBeforeAStoredZeroRenumbers) {
    const ConfigDocument stored = storedAt({0, 5, 9});
    ConfigDocument incoming = stored;
    incoming.routes.insert(incoming.routes.begin(), newRoute(stored, "n"));
    assignRoutePositions(stored, incoming);
    EXPECT_EQ(positionsOf(incoming), (Positions{0, 1, 2, 3}));
}

}  // namespace
}  // namespace gatehouse::config
