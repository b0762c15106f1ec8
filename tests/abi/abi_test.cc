// The plugin ABI end to end: the C test plugins in tests/abi/plugins loaded by the real
// gateway, configured through the admin API (or the config document) and exercised through
// the proxy. What a plugin author relies on: refusals with a reason, forward compatibility,
// chain order and scoping, errors that never take the gateway down, RESPOND, PAUSE/resume from
// another thread, instance lifecycle across configuration writes, body buffering, shared
// state and metrics, consumer scope and an on_done that always comes.

#include <gtest/gtest.h>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Parser.h>
#include <Poco/SHA2Engine.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace gatehouse::test {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

const std::string kGoodDir = TEST_PLUGINS_GOOD_DIR;
const std::string kRefusedDir = TEST_PLUGINS_REFUSED_DIR;

Gateway::Options withPlugins(std::string dir = kGoodDir, std::string extraIni = "") {
    Gateway::Options o;
    o.workers = 2;
    o.pluginDir = std::move(dir);
    o.extraIni = std::move(extraIni);
    return o;
}

/// A route named `name` matching the path prefix `prefix`, to upstream "u".
std::string route(const std::string& name, const std::string& prefix) {
    return R"({"name":")" + name + R"(","match":{"paths":[")" + prefix + R"("]},"upstream":"u"})";
}

/// simpleConfig plus a "plugins" array (JSON objects, comma-separated).
std::string configWithPlugins(const std::string& address, const std::string& routes,
                              const std::string& plugins) {
    std::string c = simpleConfig(address, routes);
    c.pop_back();  // the closing '}'
    return c + R"(,"plugins":[)" + plugins + "]}";
}

/// POST /plugins; the new instance's id. Throws (a test failure) unless 201.
std::string addPlugin(const Gateway& gw, const std::string& json) {
    const Response r = admin(gw, "POST", "/plugins", json);
    if (r.status != 201)
        throw std::runtime_error("POST /plugins " + json + " -> " + std::to_string(r.status) + " " +
                                 r.body);
    return r.json()->getValue<std::string>("id");
}

void patchPlugin(const Gateway& gw, const std::string& id, const std::string& json) {
    const Response r = admin(gw, "PATCH", "/plugins/" + id, json);
    if (r.status != 200)
        throw std::runtime_error("PATCH /plugins/" + id + " " + json + " -> " +
                                 std::to_string(r.status) + " " + r.body);
}

int64_t configVersion(const Gateway& gw) {
    return admin(gw, "GET", "/status").json()->getValue<int64_t>("config_version");
}

/// How many requests the echo upstream has served (the /stats request itself included).
int64_t upstreamRequests(const Upstream& up) {
    return roundTrip(up.port(), "GET", "/stats").json()->getValue<int64_t>("requests");
}

/// The gateway's JSON events named `name`, parsed.
std::vector<Poco::JSON::Object::Ptr> events(const Gateway& gw, const std::string& name) {
    std::vector<Poco::JSON::Object::Ptr> out;
    std::istringstream in(gw.log());
    std::string line;
    const std::string needle = "\"event\":\"" + name + "\"";
    while (std::getline(in, line)) {
        if (line.find(needle) == std::string::npos) continue;
        try {
            Poco::JSON::Parser p;
            out.push_back(p.parse(line).extract<Poco::JSON::Object::Ptr>());
        } catch (const std::exception&) {
            // a line cut by a concurrent write: ignored, the test polls again
        }
    }
    return out;
}

std::string field(const Poco::JSON::Object::Ptr& o, const std::string& key) {
    return o && o->has(key) ? o->get(key).toString() : std::string();
}

bool contains(std::string_view hay, std::string_view needle) {
    return hay.find(needle) != std::string_view::npos;
}

/// Lines of a file (the lifecycle plugin's observation channel).
std::vector<std::string> lines(const std::string& path) {
    std::vector<std::string> out;
    std::istringstream in(readFile(path));
    std::string line;
    while (std::getline(in, line))
        out.push_back(line);
    return out;
}

/// Index of the first line starting with `prefix`, or -1.
int lineIndex(const std::vector<std::string>& ls, const std::string& prefix) {
    for (size_t i = 0; i < ls.size(); ++i)
        if (ls[i].rfind(prefix, 0) == 0) return static_cast<int>(i);
    return -1;
}

int countLines(const std::vector<std::string>& ls, const std::string& prefix) {
    return static_cast<int>(std::count_if(ls.begin(), ls.end(),
                                          [&](const auto& l) { return l.rfind(prefix, 0) == 0; }));
}

std::string sha256Hex(const std::string& data) {
    Poco::SHA2Engine sha(Poco::SHA2Engine::SHA_256);
    sha.update(data);
    return Poco::DigestEngine::digestToHex(sha.digest());
}

long toLong(const std::optional<std::string>& v) {
    return v ? std::stol(*v) : -1;
}

// ---------------------------------------------------------------------------------------------
// 1. Refusals, each with a one-line reason; a refused plugin never stops the others.

/// Expected reason fragment per refused file.
const std::map<std::string, std::string> kRefusals = {
    {"wrong-major.so", "built for plugin ABI major 2"},
    {"too-new-minor.so", "needs plugin ABI 1.99"},
    {"missing-feature.so", "needs host features"},
    {"small-descriptor.so", "descriptor too small"},
    {"bad-schema.so", "bad config schema"},
    {"v2-entry.so", "major 2"},
};

TEST(PluginAbi, CliListsEachRefusedFileWithItsReasonAndFails) {
    TempDir dir;
    writeFile(dir.file("empty.conf"), "");  // no system INI may leak in
    std::string out;
    const int rc = runCommand({gatehouseBin(), "plugins", "--config", dir.file("empty.conf"),
                               "--plugin-dir", kRefusedDir},
                              &out);
    EXPECT_NE(rc, 0) << out;
    std::istringstream in(out);
    std::map<std::string, std::string> lineOf;
    for (std::string line; std::getline(in, line);)
        for (const auto& [file, reason] : kRefusals)
            if (contains(line, "/" + file)) lineOf[file] = line;
    for (const auto& [file, reason] : kRefusals) {
        ASSERT_TRUE(lineOf.count(file)) << file << " not listed:\n" << out;
        EXPECT_TRUE(contains(lineOf[file], "refused")) << lineOf[file];
        EXPECT_TRUE(contains(lineOf[file], reason)) << lineOf[file];
    }
    EXPECT_FALSE(contains(out, "loaded ")) << out;
}

TEST(PluginAbi, GatewayLogsRefusalsListsThemAndKeepsProxying) {
    Upstream up;
    Gateway gw(simpleConfig(up.address()), withPlugins(kRefusedDir));
    // Every refused file is one plugin_refused event carrying its reason.
    for (const auto& [file, reason] : kRefusals) {
        bool found = false;
        for (const auto& e : events(gw, "plugin_refused"))
            if (contains(field(e, "file"), "/" + file)) {
                found = true;
                EXPECT_TRUE(contains(field(e, "reason"), reason))
                    << file << ": " << field(e, "reason");
            }
        EXPECT_TRUE(found) << "no plugin_refused event for " << file << "\n" << gw.log();
    }
    EXPECT_EQ(gw.countInLog("\"plugin_loaded\""), 0u);

    const Response r = roundTrip(gw.port(), "GET", "/still/proxying");
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(gw.process().running());

    const Response avail = admin(gw, "GET", "/plugins/available");
    ASSERT_EQ(avail.status, 200) << avail.body;
    const auto body = avail.json();
    EXPECT_EQ(body->getArray("data")->size(), 0u) << avail.body;
    const auto refused = body->getArray("refused");
    ASSERT_TRUE(refused);
    for (const auto& [file, reason] : kRefusals) {
        bool found = false;
        for (size_t i = 0; i < refused->size(); ++i) {
            const auto o = refused->getObject(static_cast<unsigned>(i));
            if (!contains(field(o, "file"), "/" + file)) continue;
            found = true;
            EXPECT_TRUE(contains(field(o, "reason"), reason)) << file << ": " << field(o, "reason");
        }
        EXPECT_TRUE(found) << file << " missing from refused: " << avail.body;
    }
}

TEST(PluginAbi, ARefusedPluginDoesNotStopAGoodOneInTheSameDirectory) {
    TempDir mixed;
    namespace fs = std::filesystem;
    fs::copy_file(kRefusedDir + "/wrong-major.so", mixed.file("wrong-major.so"));
    fs::copy_file(kRefusedDir + "/small-descriptor.so", mixed.file("small-descriptor.so"));
    fs::copy_file(kGoodDir + "/order.so", mixed.file("order.so"));

    Upstream up;
    Gateway gw(simpleConfig(up.address()), withPlugins(mixed.path()));
    const auto avail = admin(gw, "GET", "/plugins/available").json();
    std::set<std::string> loaded;
    const auto data = avail->getArray("data");
    for (size_t i = 0; i < data->size(); ++i)
        loaded.insert(field(data->getObject(static_cast<unsigned>(i)), "name"));
    EXPECT_EQ(loaded, (std::set<std::string>{"order-a", "order-b", "order-c"}));
    EXPECT_EQ(avail->getArray("refused")->size(), 2u);

    addPlugin(gw, R"({"name":"order-a","route":"r"})");
    const Response r = roundTrip(gw.port(), "GET", "/x");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.echoedHeader("X-Order"), "a");
}

// ---------------------------------------------------------------------------------------------
// 2. Forward compatibility: a descriptor from a later minor (larger struct) loads and works.

TEST(PluginAbi, LargerFutureDescriptorLoadsAndWorks) {
    Upstream up;
    Gateway gw(configWithPlugins(up.address(), "", R"({"name":"future-plugin","route":"r"})"),
               withPlugins());
    const Response r = roundTrip(gw.port(), "GET", "/future");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.echoedHeader("X-Future"), "yes");

    const auto data = admin(gw, "GET", "/plugins/available").json()->getArray("data");
    bool listed = false;
    for (size_t i = 0; i < data->size(); ++i) {
        const auto o = data->getObject(static_cast<unsigned>(i));
        if (field(o, "name") != "future-plugin") continue;
        listed = true;
        EXPECT_EQ(field(o, "version"), "9.0.0");
    }
    EXPECT_TRUE(listed);
}

// ---------------------------------------------------------------------------------------------
// 3. Chain order: priority order on the request, reverse on the response; explicit priority
// and route-scoped instances.

TEST(PluginAbi, ChainRunsByPriorityAndRouteInstancesOverrideGlobalOnes) {
    Upstream up;
    Gateway gw(simpleConfig(up.address(), route("one", "/one") + "," + route("two", "/two")),
               withPlugins());
    addPlugin(gw, R"({"name":"order-b"})");  // added out of order on purpose
    const std::string c = addPlugin(gw, R"({"name":"order-c"})");
    addPlugin(gw, R"({"name":"order-a"})");

    Response r = roundTrip(gw.port(), "GET", "/one");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.echoedHeader("X-Order"), "abc");
    EXPECT_EQ(r.header("X-Order-Response"), "cba");

    // A route-scoped order-a replaces the global one on that route only.
    addPlugin(gw, R"({"name":"order-a","route":"one","config":{"letter":"A"}})");
    r = roundTrip(gw.port(), "GET", "/one");
    EXPECT_EQ(r.echoedHeader("X-Order"), "Abc");
    EXPECT_EQ(r.header("X-Order-Response"), "cbA");
    r = roundTrip(gw.port(), "GET", "/two");
    EXPECT_EQ(r.echoedHeader("X-Order"), "abc");
    EXPECT_EQ(r.header("X-Order-Response"), "cba");

    // An explicit instance priority beats the plugin's default.
    patchPlugin(gw, c, R"({"priority":1000})");
    r = roundTrip(gw.port(), "GET", "/two");
    EXPECT_EQ(r.echoedHeader("X-Order"), "cab");
    EXPECT_EQ(r.header("X-Order-Response"), "bac");
    r = roundTrip(gw.port(), "GET", "/one");
    EXPECT_EQ(r.echoedHeader("X-Order"), "cAb");
    EXPECT_EQ(r.header("X-Order-Response"), "bAc");
}

// ---------------------------------------------------------------------------------------------
// 4. Misbehaving plugins: 500 for that request, logged, the gateway unharmed.

TEST(PluginAbi, GarbageFailAndEmptyRespondAre500LoggedAndHarmless) {
    Upstream up;
    const std::string routes = route("garbage", "/garbage") + "," + route("fail", "/fail") + "," +
                               route("nothing", "/nothing") + "," + route("ok", "/ok");
    Gateway gw(configWithPlugins(up.address(), routes,
                                 R"({"name":"garbage-action","route":"garbage"},)"
                                 R"({"name":"fail-action","route":"fail"},)"
                                 R"({"name":"respond-nothing","route":"nothing"})"),
               withPlugins());
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"/garbage", "garbage-action"}, {"/fail", "fail-action"}, {"/nothing", "respond-nothing"}};
    for (const auto& [path, plugin] : cases) {
        SCOPED_TRACE(plugin);
        const int64_t before = upstreamRequests(up);
        const Response r = roundTrip(gw.port(), "GET", path);
        EXPECT_EQ(r.status, 500) << r.body;
        EXPECT_EQ(r.header("Content-Type"), "application/json");
        const auto body = r.json();
        EXPECT_EQ(body->getValue<int>("status"), 500);
        EXPECT_TRUE(contains(field(body, "error"), plugin)) << r.body;
        // Only our own /stats call reached the upstream: the failed request did not.
        EXPECT_EQ(upstreamRequests(up), before + 1);

        EXPECT_TRUE(eventually(
            [&] {
                for (const auto& e : events(gw, "plugin_failed"))
                    if (field(e, "plugin") == plugin &&
                        field(e, "request_id") == field(body, "request_id"))
                        return true;
                return false;
            },
            milliseconds(3000)))
            << gw.log();

        EXPECT_TRUE(gw.process().running());
        EXPECT_EQ(roundTrip(gw.port(), "GET", "/ok").status, 200);
    }
    // The garbage action is named in the reason.
    bool named = false;
    for (const auto& e : events(gw, "plugin_failed"))
        if (field(e, "plugin") == "garbage-action") named = contains(field(e, "reason"), "42");
    EXPECT_TRUE(named) << gw.log();
}

// ---------------------------------------------------------------------------------------------
// 5. RESPOND: answered by the plugin, upstream untouched, earlier plugins' on_response ran.

TEST(PluginAbi, RespondAnswersWithoutTheUpstreamAndEarlierOnResponseRuns) {
    Upstream up;
    Gateway gw(configWithPlugins(up.address(), "",
                                 R"({"name":"order-a","route":"r"},{"name":"order-b","route":"r"},)"
                                 R"({"name":"order-c","route":"r"},{"name":"teapot","route":"r"})"),
               withPlugins());
    const int64_t before = upstreamRequests(up);
    const Response r = roundTrip(gw.port(), "GET", "/brew", {{"X-Brew", "1"}});
    EXPECT_EQ(r.status, 418);
    EXPECT_EQ(r.body, "short and stout");
    EXPECT_EQ(r.header("X-Teapot"), "yes");
    EXPECT_EQ(r.header("Content-Type"), "text/plain");
    EXPECT_EQ(r.header("Content-Length"), "15");
    EXPECT_EQ(r.header("X-Order-Response"), "cba");  // all three outrank teapot
    EXPECT_FALSE(r.header("X-Upstream-Id").has_value());
    EXPECT_EQ(upstreamRequests(up), before + 1);  // just the /stats call

    // Without X-Brew, teapot continues and the upstream answers.
    const Response normal = roundTrip(gw.port(), "GET", "/brew");
    EXPECT_EQ(normal.status, 200);
    EXPECT_EQ(normal.echoedHeader("X-Order"), "abc");
}

// ---------------------------------------------------------------------------------------------
// 6. PAUSE, resumed from another thread.

TEST(PluginAbi, PausedRequestsResumeFromAnotherThreadWithoutBlockingWorkers) {
    Upstream up;
    Gateway gw(configWithPlugins(up.address(), route("req", "/req") + "," + route("resp", "/resp"),
                                 R"({"name":"pauser","route":"req","config":{"delay_ms":200}},)"
                                 R"({"name":"pauser","route":"resp","config":)"
                                 R"({"delay_ms":200,"phase":"response"}})"),
               withPlugins());
    const Response r = roundTrip(gw.port(), "GET", "/req");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_GE(toLong(r.echoedHeader("X-Paused")), 190);

    // Many at once, over fresh connections (both workers): if a pause blocked its worker,
    // 16 x 200 ms over 2 workers would need at least 1.6 s.
    constexpr int kConcurrent = 16;
    std::vector<int> statuses(kConcurrent, 0);
    std::vector<long> paused(kConcurrent, -1);
    std::vector<std::thread> threads;
    const auto start = Clock::now();
    for (int i = 0; i < kConcurrent; ++i)
        threads.emplace_back([&, i] {
            try {
                const Response x = roundTrip(gw.port(), "GET", "/req/" + std::to_string(i));
                statuses[i] = x.status;
                paused[i] = toLong(x.echoedHeader("X-Paused"));
            } catch (const std::exception&) {
                statuses[i] = -1;
            }
        });
    for (auto& t : threads)
        t.join();
    const auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    for (int i = 0; i < kConcurrent; ++i) {
        EXPECT_EQ(statuses[i], 200) << "request " << i;
        EXPECT_GE(paused[i], 190) << "request " << i;
    }
    EXPECT_LT(elapsed.count(), 1200) << "paused requests did not overlap";

    // Paused in on_response: the header lands on the response, the body is intact.
    const Response rr = roundTrip(gw.port(), "GET", "/resp");
    ASSERT_EQ(rr.status, 200) << rr.body;
    EXPECT_GE(toLong(rr.header("X-Paused")), 190);
    EXPECT_EQ(rr.json()->getValue<std::string>("path"), "/resp");
    EXPECT_FALSE(rr.echoedHeader("X-Paused").has_value());
}

TEST(PluginAbi, PauseTimeoutIs504AndTheLateResumeIsHarmless) {
    Upstream up;
    Gateway gw(configWithPlugins(up.address(),
                                 route("slow", "/slow") + "," + route("short", "/short") + "," +
                                     route("plain", "/plain"),
                                 R"({"name":"pauser","route":"slow","config":{"delay_ms":1200}},)"
                                 R"({"name":"pauser","route":"short","config":{"delay_ms":300}})"),
               withPlugins(kGoodDir, "[plugins]\npause_timeout_ms = 500\n"));
    const int64_t before = upstreamRequests(up);
    const auto t0 = Clock::now();
    Connection c(gw.port());
    c.send(makeRequest("GET", "/slow"));
    const Response r = c.read();
    const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
    EXPECT_EQ(r.status, 504) << r.body;
    EXPECT_EQ(r.header("Content-Type"), "application/json");
    EXPECT_EQ(r.json()->getValue<int>("status"), 504);
    EXPECT_GE(took, 450);
    EXPECT_LT(took, 1150);  // the timeout, not the plugin's own resume, ended it
    EXPECT_TRUE(gw.waitForLog("\"plugin_pause_timeout\"", milliseconds(2000))) << gw.log();
    EXPECT_EQ(upstreamRequests(up), before + 1);

    // The slow request's resume fires at ~1.2 s. Have another paused request on the same
    // connection then: the stale resume must not wake it early.
    std::this_thread::sleep_until(t0 + milliseconds(1000));
    std::unique_ptr<Connection> fresh;
    Connection* next = &c;
    if (!r.keepAlive) next = (fresh = std::make_unique<Connection>(gw.port())).get();
    next->send(makeRequest("GET", "/short"));
    const Response s = next->read();
    EXPECT_EQ(s.status, 200) << s.body;
    EXPECT_GE(toLong(s.echoedHeader("X-Paused")), 290);

    std::this_thread::sleep_until(t0 + milliseconds(1600));
    EXPECT_TRUE(gw.process().running());
    EXPECT_EQ(roundTrip(gw.port(), "GET", "/plain").status, 200);
    EXPECT_EQ(roundTrip(gw.port(), "GET", "/short").status, 200);
}

// ---------------------------------------------------------------------------------------------
// 7. Instance lifecycle: a replaced instance is destroyed only after its last request.

TEST(PluginAbi, ReplacedInstanceIsDestroyedOnlyAfterItsInFlightRequest) {
    Upstream up;
    TempDir dir;
    const std::string file = dir.file("lifecycle.log");
    Gateway gw(simpleConfig(up.address()), withPlugins());
    const std::string id = addPlugin(
        gw, R"({"name":"lifecycle","route":"r","config":{"tag":"old","file":")" + file + R"("}})");
    ASSERT_EQ(countLines(lines(file), "create old"), 1) << readFile(file);

    std::atomic<bool> slowDone{false};
    Response slow;
    const auto t0 = Clock::now();
    std::thread t([&] {
        try {
            slow = roundTrip(gw.port(), "GET", "/delay/1500");
        } catch (const std::exception&) {
            slow.status = -1;
        }
        slowDone = true;
    });
    ASSERT_TRUE(eventually([&] { return countLines(lines(file), "request old") == 1; }))
        << readFile(file);

    patchPlugin(gw, id, R"({"config":{"tag":"new","file":")" + file + R"("}})");
    EXPECT_EQ(countLines(lines(file), "create new"), 1) << readFile(file);
    const Response next = roundTrip(gw.port(), "GET", "/next");
    EXPECT_EQ(next.status, 200);
    EXPECT_EQ(next.echoedHeader("X-Lifecycle"), "new");

    // Give the collector (about every second) a chance to destroy too early.
    std::this_thread::sleep_until(t0 + milliseconds(1250));
    if (!slowDone) {
        EXPECT_EQ(lineIndex(lines(file), "destroy old"), -1) << readFile(file);
    }
    t.join();
    EXPECT_EQ(slow.status, 200);
    EXPECT_EQ(slow.echoedHeader("X-Lifecycle"), "old");

    EXPECT_TRUE(
        eventually([&] { return lineIndex(lines(file), "destroy old") >= 0; }, milliseconds(3500)))
        << readFile(file);
    const auto ls = lines(file);
    const int logOld = lineIndex(ls, "log old 200");
    const int doneOld = lineIndex(ls, "done old ok");
    const int destroyOld = lineIndex(ls, "destroy old");
    ASSERT_GE(logOld, 0) << readFile(file);
    ASSERT_GE(doneOld, 0) << readFile(file);
    EXPECT_LT(logOld, destroyOld) << readFile(file);
    EXPECT_LT(doneOld, destroyOld) << readFile(file);
    EXPECT_EQ(countLines(ls, "destroy old"), 1);
    EXPECT_EQ(lineIndex(ls, "destroy new"), -1) << "the live instance was destroyed";

    const Response after = roundTrip(gw.port(), "GET", "/after");
    EXPECT_EQ(after.echoedHeader("X-Lifecycle"), "new");
}

// ---------------------------------------------------------------------------------------------
// 8. Enable / disable through the admin API applies to the next request.

TEST(PluginAbi, DisablingAndEnablingAnInstanceAppliesToTheNextRequest) {
    Upstream up;
    Gateway gw(simpleConfig(up.address()), withPlugins());
    const std::string id = addPlugin(gw, R"({"name":"order-a","route":"r"})");
    Response r = roundTrip(gw.port(), "GET", "/x");
    EXPECT_EQ(r.echoedHeader("X-Order"), "a");
    EXPECT_EQ(r.header("X-Order-Response"), "a");

    patchPlugin(gw, id, R"({"enabled":false})");
    r = roundTrip(gw.port(), "GET", "/x");
    EXPECT_EQ(r.status, 200);
    EXPECT_FALSE(r.echoedHeader("X-Order").has_value());
    EXPECT_FALSE(r.header("X-Order-Response").has_value());

    patchPlugin(gw, id, R"({"enabled":true})");
    r = roundTrip(gw.port(), "GET", "/x");
    EXPECT_EQ(r.echoedHeader("X-Order"), "a");
    EXPECT_EQ(r.header("X-Order-Response"), "a");
}

// ---------------------------------------------------------------------------------------------
// 9. Configuration validation: schema, unknown plugin, instance_create refusal, missing route,
// duplicate scope; a refused write applies nothing.

TEST(PluginAbi, InvalidPluginWritesAreRefusedWithFieldsAndApplyNothing) {
    Upstream up;
    Gateway gw(simpleConfig(up.address()), withPlugins());
    addPlugin(gw, R"({"name":"order-b","route":"r"})");
    const int64_t version = configVersion(gw);
    const auto fieldsOf = [](const Response& r) {
        const auto body = r.json();
        return body->has("fields") ? body->getObject("fields") : Poco::JSON::Object::Ptr();
    };

    // Wrong type for a schema property.
    Response r = admin(gw, "POST", "/plugins", R"({"name":"order-a","config":{"letter":5}})");
    EXPECT_EQ(r.status, 400) << r.body;
    auto f = fieldsOf(r);
    ASSERT_TRUE(f) << r.body;
    EXPECT_TRUE(f->has("config.letter")) << r.body;

    // A property the schema does not allow (additionalProperties: false).
    r = admin(gw, "POST", "/plugins", R"({"name":"order-a","config":{"colour":"red"}})");
    EXPECT_EQ(r.status, 400) << r.body;
    f = fieldsOf(r);
    ASSERT_TRUE(f) << r.body;
    EXPECT_TRUE(f->has("config.colour")) << r.body;

    // A required property missing (the example docs/plugin-abi.md gives).
    r = admin(gw, "POST", "/plugins", R"({"name":"lifecycle","config":{}})");
    EXPECT_EQ(r.status, 400) << r.body;
    f = fieldsOf(r);
    ASSERT_TRUE(f) << r.body;
    EXPECT_TRUE(f->has("config.tag")) << r.body;

    // No such plugin.
    r = admin(gw, "POST", "/plugins", R"({"name":"no-such-plugin"})");
    EXPECT_EQ(r.status, 400) << r.body;
    f = fieldsOf(r);
    ASSERT_TRUE(f) << r.body;
    EXPECT_TRUE(f->has("name")) << r.body;

    // instance_create refuses: its reason reaches the client.
    r = admin(gw, "POST", "/plugins", R"({"name":"lifecycle","config":{"tag":"x","reject":true}})");
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_TRUE(contains(r.body, "told to refuse")) << r.body;

    // A route that does not exist.
    r = admin(gw, "POST", "/plugins", R"({"name":"order-a","route":"missing"})");
    EXPECT_EQ(r.status, 400) << r.body;
    f = fieldsOf(r);
    ASSERT_TRUE(f) << r.body;
    EXPECT_TRUE(f->has("route")) << r.body;

    // The same plugin twice in one scope.
    r = admin(gw, "POST", "/plugins", R"({"name":"order-b","route":"r"})");
    EXPECT_EQ(r.status, 409) << r.body;

    EXPECT_EQ(configVersion(gw), version);
    EXPECT_EQ(admin(gw, "GET", "/plugins").json()->getValue<int>("total"), 1);
    const Response x = roundTrip(gw.port(), "GET", "/x");
    EXPECT_EQ(x.echoedHeader("X-Order"), "b");
}

// ---------------------------------------------------------------------------------------------
// 10. Body buffering: bodies replaced by a plugin go out with a correct Content-Length.

TEST(PluginAbi, BufferedBodiesAreReplacedWithCorrectFraming) {
    Upstream up;
    Gateway gw(configWithPlugins(up.address(), "", R"({"name":"shout","route":"r"})"),
               withPlugins());

    // With a Content-Length from the client.
    Response r = roundTrip(gw.port(), "POST", "/echo-body", {}, "hello");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, "HELLO!");
    EXPECT_EQ(r.header("Content-Length"), "6");
    EXPECT_FALSE(r.chunked);

    // What the upstream saw: the upper-cased body with its own length.
    r = roundTrip(gw.port(), "POST", "/anything", {}, "hello");
    ASSERT_EQ(r.status, 200);
    ASSERT_FALSE(r.body.empty());
    EXPECT_EQ(r.body.back(), '!');
    EXPECT_EQ(r.header("Content-Length"), std::to_string(r.body.size()));
    {
        Response echo = r;
        echo.body.pop_back();
        const auto j = echo.json();
        EXPECT_EQ(j->getValue<int>("body_bytes"), 5);
        EXPECT_EQ(j->getValue<std::string>("body_sha256"), sha256Hex("HELLO"));
        EXPECT_EQ(echo.echoedHeader("Content-Length"), "5");
    }

    // Chunked from the client: buffered, replaced, sent upstream with a length.
    const std::string chunked =
        "POST /anything HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n";
    {
        Connection c(gw.port());
        c.send(chunked);
        Response echo = c.read();
        ASSERT_EQ(echo.status, 200) << echo.body;
        EXPECT_EQ(echo.header("Content-Length"), std::to_string(echo.body.size()));
        ASSERT_FALSE(echo.body.empty());
        echo.body.pop_back();
        const auto j = echo.json();
        EXPECT_EQ(j->getValue<int>("body_bytes"), 5);
        EXPECT_EQ(j->getValue<std::string>("body_sha256"), sha256Hex("HELLO"));
        EXPECT_FALSE(j->getValue<bool>("chunked_request"));
        EXPECT_EQ(echo.echoedHeader("Content-Length"), "5");
        EXPECT_FALSE(echo.echoedHeader("Transfer-Encoding").has_value());
    }
    {
        Connection c(gw.port());
        c.send(
            "POST /echo-body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            "3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n");
        const Response e = c.read();
        EXPECT_EQ(e.body, "HELLO!");
        EXPECT_EQ(e.header("Content-Length"), "6");
    }

    // A chunked upstream response, buffered and suffixed, leaves with a length.
    r = roundTrip(gw.port(), "GET", "/stream/10?chunk=3");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body, std::string(10, 'y') + "!");
    EXPECT_FALSE(r.chunked);
    EXPECT_EQ(r.header("Content-Length"), "11");
}

// ---------------------------------------------------------------------------------------------
// 11. Shared state kept by the host: exact across workers, kept across configuration writes.

TEST(PluginAbi, SharedCountersAreExactAcrossWorkersAndSurviveWrites) {
    Upstream up;
    // A window far longer than the test: no epoch-aligned rollover mid-test.
    Gateway gw(configWithPlugins(up.address(), "",
                                 R"({"name":"counter","route":"r","config":)"
                                 R"({"window_ms":1000000000000}})"),
               withPlugins());
    constexpr int kRequests = 10;
    std::vector<long> hits(kRequests, -1), versions(kRequests, -1);
    std::vector<std::thread> threads;
    for (int i = 0; i < kRequests; ++i)
        threads.emplace_back([&, i] {
            try {
                const Response r = roundTrip(gw.port(), "GET", "/c/" + std::to_string(i));
                hits[i] = toLong(r.header("X-Hits"));
                versions[i] = toLong(r.header("X-Last-Version"));
            } catch (const std::exception&) {
            }
        });
    for (auto& t : threads)
        t.join();
    std::multiset<long> seen(hits.begin(), hits.end());
    std::multiset<long> expected;
    for (long v = 1; v <= kRequests; ++v)
        expected.insert(v);
    EXPECT_EQ(seen, expected);
    const std::set<long> distinctVersions(versions.begin(), versions.end());
    EXPECT_EQ(distinctVersions.size(), static_cast<size_t>(kRequests));
    EXPECT_GT(*distinctVersions.begin(), 0);
    long lastVersion = *distinctVersions.rbegin();

    // An unrelated write builds a new snapshot; the count and the value carry on.
    ASSERT_EQ(admin(gw, "POST", "/routes", route("other", "/other")).status, 201);
    for (long want = kRequests + 1; want <= kRequests + 2; ++want) {
        const Response r = roundTrip(gw.port(), "GET", "/c/again");
        EXPECT_EQ(toLong(r.header("X-Hits")), want);
        const long v = toLong(r.header("X-Last-Version"));
        EXPECT_GT(v, lastVersion);
        lastVersion = v;
    }

    const Response m = admin(gw, "GET", "/metrics");
    ASSERT_EQ(m.status, 200);
    const std::string metric = "gatehouse_test_counter_requests_total{plugin=\"counter\"}";
    const size_t at = m.body.find("\n" + metric + " ");
    ASSERT_NE(at, std::string::npos) << m.body;
    EXPECT_DOUBLE_EQ(std::stod(m.body.substr(at + 1 + metric.size() + 1)), kRequests + 2.0);
}

// ---------------------------------------------------------------------------------------------
// 12. Consumer scope: an instance for one consumer runs only for that consumer's requests.

TEST(PluginAbi, ConsumerScopedInstanceRunsOnlyForThatConsumer) {
    Upstream up;
    Gateway gw(configWithPlugins(up.address(), "",
                                 R"({"name":"fake-auth","priority":1000},)"
                                 R"({"name":"order-b","route":"r","consumer":"alice"})"),
               withPlugins());
    Response r = roundTrip(gw.port(), "GET", "/x", {{"X-Consumer", "alice"}});
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.echoedHeader("X-Order"), "b");
    EXPECT_EQ(r.header("X-Order-Response"), "b");

    r = roundTrip(gw.port(), "GET", "/x", {{"X-Consumer", "bob"}});
    ASSERT_EQ(r.status, 200);
    EXPECT_FALSE(r.echoedHeader("X-Order").has_value());
    EXPECT_FALSE(r.header("X-Order-Response").has_value());

    r = roundTrip(gw.port(), "GET", "/x");
    ASSERT_EQ(r.status, 200);
    EXPECT_FALSE(r.echoedHeader("X-Order").has_value());
}

// ---------------------------------------------------------------------------------------------
// 12b. Request variables (ABI 1.2): the host's limits, and a fresh set for every request.

TEST(PluginAbi, RequestVariablesFollowTheirLimitsAndLiveForOneRequest) {
    Upstream up;
    Gateway gw(configWithPlugins(up.address(), "", R"({"name":"vars","route":"r"})"),
               withPlugins());
    const std::string expected =
        "fresh=1 bad=0 long=0 big=0 max=1 count=32 got=1 removed=1 refill=1";
    Connection c(gw.port());  // one kept-alive connection: nothing carries over
    for (int i = 0; i < 3; ++i) {
        c.send(makeRequest("GET", "/x"));
        const Response r = c.read();
        ASSERT_EQ(r.status, 200);
        EXPECT_EQ(r.header("X-Vars"), expected) << "request " << i;
    }
}

// 12c. request_info (ABI 1.2): the upstream's status or the failure, the target, bytes and
// times; reopen_generation follows SIGUSR1. "info" is response-only: it runs because the
// request reached its place in the chain.

TEST(PluginAbi, RequestInfoTellsHowTheUpstreamPartWent) {
    Upstream up;
    Upstream gone("gone");
    const std::string goneAddress = gone.address();
    gone.stop();
    Gateway gw(
        R"({"upstreams":[{"name":"u","targets":[{"address":")" + up.address() +
            R"("}]},{"name":"down","targets":[{"address":")" + goneAddress + R"("}]}],"routes":[)" +
            route("ok", "/ok") + "," +
            R"({"name":"slow","match":{"paths":["/delay"]},"upstream":"u","timeouts":{"read_ms":300}},)" +
            R"({"name":"down","match":{"paths":["/down"]},"upstream":"down"}],)" +
            R"("plugins":[{"name":"info"}]})",
        withPlugins());
    Response r = roundTrip(gw.port(), "GET", "/ok/x");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("X-Info"),
              "status=200 error=0 address=" + up.address() + " in=1 start=1 upstream=1 refused=1");
    r = roundTrip(gw.port(), "GET", "/down/x");
    EXPECT_EQ(r.status, 502);
    EXPECT_EQ(r.header("X-Info"),
              "status=0 error=2 address=" + goneAddress + " in=1 start=1 upstream=0 refused=1");
    r = roundTrip(gw.port(), "GET", "/delay/1000");
    EXPECT_EQ(r.status, 504);
    EXPECT_EQ(r.header("X-Info"),
              "status=0 error=3 address=" + up.address() + " in=1 start=1 upstream=0 refused=1");
    EXPECT_EQ(r.header("X-Info-Reopen"), "0");
    gw.process().signal(SIGUSR1);
    EXPECT_TRUE(eventually(
        [&] { return roundTrip(gw.port(), "GET", "/ok/x").header("X-Info-Reopen") == "1"; }));
}

// ---------------------------------------------------------------------------------------------
// 13. on_log and on_done come however the request ends, a client disconnect included.

TEST(PluginAbi, OnDoneRunsWhenTheClientDisconnects) {
    Upstream up;
    TempDir dir;
    const std::string file = dir.file("lifecycle.log");
    Gateway gw(configWithPlugins(up.address(), "",
                                 R"({"name":"lifecycle","route":"r","config":{"tag":"t","file":")" +
                                     file + R"("}})"),
               withPlugins());

    // Gone while the upstream is still working on the answer.
    {
        Connection c(gw.port());
        c.send(makeRequest("GET", "/delay/1000"));
        ASSERT_TRUE(eventually([&] { return countLines(lines(file), "request t") == 1; }))
            << readFile(file);
    }
    EXPECT_TRUE(
        eventually([&] { return countLines(lines(file), "done t ok") == 1; }, milliseconds(5000)))
        << readFile(file);
    EXPECT_EQ(countLines(lines(file), "log t"), 1) << readFile(file);

    // Gone in the middle of sending the request body.
    {
        Connection c(gw.port());
        c.send("POST /delay/1000 HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\npartial");
        ASSERT_TRUE(eventually([&] { return countLines(lines(file), "request t") == 2; }))
            << readFile(file);
    }
    EXPECT_TRUE(
        eventually([&] { return countLines(lines(file), "done t ok") == 2; }, milliseconds(5000)))
        << readFile(file);
    EXPECT_EQ(countLines(lines(file), "log t"), 2) << readFile(file);
    EXPECT_TRUE(gw.process().running());
    EXPECT_EQ(roundTrip(gw.port(), "GET", "/x").echoedHeader("X-Lifecycle"), "t");
}

}  // namespace
}  // namespace gatehouse::test
