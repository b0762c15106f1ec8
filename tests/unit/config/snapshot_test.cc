#include "config/snapshot.h"

#include <gtest/gtest.h>
#include <llhttp.h>

#include <string>

#include "config/codec.h"

namespace gatehouse::config {
namespace {

ConfigDocument sample() {
    return documentFromJson(R"({
      "upstreams": [
        {"name": "one", "targets": [{"address": "127.0.0.1:1"}], "timeouts": {"read_ms": 111}},
        {"name": "two", "targets": [{"address": "127.0.0.1:2"}, {"address": "127.0.0.1:3"}]}
      ],
      "routes": [
        {"name": "a", "match": {"paths": ["/a"]}, "upstream": "one", "timeouts": {"connect_ms": 7}},
        {"name": "off", "enabled": false, "match": {"paths": ["/off"]}, "upstream": "one"},
        {"name": "c", "match": {"paths": ["/c"]}, "upstream": "two"}
      ]})");
}

/// The route that matches `path` in `snap`, or nullptr.
const router::CompiledRoute* route(const Snapshot& snap, const std::string& path) {
    router::RegexScratch scratch;
    http::HeaderList none;
    router::RequestView v;
    v.method = HTTP_GET;
    v.path = path;
    v.host = "h";
    v.headers = &none;
    return snap.routes->match(v, scratch).route;
}

TEST(BuildSnapshot, DisabledRoutesAreLeftOutAndDestinationsStayAligned) {
    upstream::TargetRegistry registry;
    auto settings = std::make_shared<RuntimeSettings>();
    auto snap = buildSnapshot(sample(), 42, settings, registry, 2);
    ASSERT_TRUE(snap);
    EXPECT_EQ(snap->version, 42u);
    ASSERT_EQ(snap->routes->size(), 2u);
    EXPECT_EQ(route(*snap, "/off"), nullptr) << "a disabled route never matches";

    const auto* c = route(*snap, "/c/x");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->spec->meta.name, "c");
    ASSERT_LT(c->destination, snap->upstreams.size());
    EXPECT_EQ(snap->upstreams[c->destination].spec->meta.name, "two");

    const auto* a = route(*snap, "/a");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(snap->upstreams[a->destination].spec->meta.name, "one");
    EXPECT_EQ(a->spec, &snap->doc->routes[0]) << "the table points into the snapshot's own doc";
}

TEST(BuildSnapshot, SharesTheDocumentItIsGiven) {
    upstream::TargetRegistry registry;
    auto doc = std::make_shared<const ConfigDocument>(sample());
    auto snap = buildSnapshot(doc, 3, std::make_shared<RuntimeSettings>(), registry, 1);
    ASSERT_TRUE(snap);
    EXPECT_EQ(snap->doc.get(), doc.get())
        << "no copy: the config service and the snapshot share it";
    ASSERT_EQ(snap->upstreams.size(), 2u);
    EXPECT_EQ(snap->upstreams[0].spec, &doc->upstreams[0]);
    const auto* c = route(*snap, "/c");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->spec, &doc->routes[2]);
}

TEST(BuildSnapshot, ByValueOverloadOwnsItsCopy) {
    upstream::TargetRegistry registry;
    ConfigDocument doc = sample();
    auto snap = buildSnapshot(doc, 4, std::make_shared<RuntimeSettings>(), registry, 1);
    doc.routes.clear();  // the caller's copy is not the snapshot's
    ASSERT_TRUE(snap->doc);
    EXPECT_EQ(snap->doc->routes.size(), 3u);
    EXPECT_NE(route(*snap, "/a"), nullptr);
}

TEST(BuildSnapshot, RegexThatDoesNotCompileIsAValidationError) {
    upstream::TargetRegistry registry;
    ConfigDocument doc = sample();
    doc.routes.edit(2).paths = {"~^/c/(unclosed"};  // codec would reject it; the compiler must too
    EXPECT_THROW(buildSnapshot(doc, 1, std::make_shared<RuntimeSettings>(), registry, 1),
                 ValidationError);
}

TEST(BuildSnapshot, EffectiveTimeoutsFollowRouteThenUpstreamThenDefaults) {
    upstream::TargetRegistry registry;
    auto settings = std::make_shared<RuntimeSettings>();
    auto snap = buildSnapshot(sample(), 1, settings, registry, 1);
    ASSERT_EQ(snap->routeTimeouts.size(), 2u) << "one entry per enabled route, in table order";
    EXPECT_EQ(snap->routeTimeouts[0].connectMs, 7u);                      // route
    EXPECT_EQ(snap->routeTimeouts[0].readMs, 111u);                       // upstream
    EXPECT_EQ(snap->routeTimeouts[0].sendMs, settings->upstream.sendMs);  // INI default
    EXPECT_EQ(snap->routeTimeouts[1].connectMs, settings->upstream.connectMs);
    EXPECT_EQ(snap->routeTimeouts[1].readMs, settings->upstream.readMs);
}

TEST(BuildSnapshot, TargetsAreResolvedAndSharedAcrossSnapshots) {
    upstream::TargetRegistry registry;
    auto settings = std::make_shared<RuntimeSettings>();
    auto first = buildSnapshot(sample(), 1, settings, registry, 1);
    auto second = buildSnapshot(sample(), 2, settings, registry, 1);
    ASSERT_EQ(first->upstreams[1].targets.size(), 2u);
    EXPECT_TRUE(first->upstreams[1].targets[0]->resolvedOk);
    EXPECT_EQ(first->upstreams[1].targets[1].get(), second->upstreams[1].targets[1].get());
    ASSERT_TRUE(first->upstreams[1].balancer);
    const int pick = first->upstreams[1].balancer->pick({}, 0);
    EXPECT_TRUE(pick == 0 || pick == 1);
}

TEST(BuildSnapshot, InvalidDocumentIsRejected) {
    upstream::TargetRegistry registry;
    ConfigDocument doc = sample();
    doc.routes.edit(0).upstream = "missing";
    EXPECT_THROW(buildSnapshot(doc, 1, std::make_shared<RuntimeSettings>(), registry, 1),
                 ValidationError);
}

TEST(SnapshotHolder, PublishBumpsGenerationAndSwapsPointer) {
    SnapshotHolder holder;
    EXPECT_EQ(holder.generation(), 0u);
    EXPECT_EQ(holder.current(), nullptr);
    auto s1 = std::make_shared<Snapshot>();
    holder.publish(s1);
    EXPECT_EQ(holder.generation(), 1u);
    EXPECT_EQ(holder.current().get(), s1.get());
    auto pinned = holder.current();
    holder.publish(std::make_shared<Snapshot>());
    EXPECT_EQ(holder.generation(), 2u);
    EXPECT_NE(holder.current().get(), s1.get());
    EXPECT_EQ(pinned.get(), s1.get()) << "a pinned snapshot outlives its replacement";
}

}  // namespace
}  // namespace gatehouse::config
