// Self-test of the SDK headers: plugin.hpp (describe, the boundary, Request and Plugin
// helpers, GATEHOUSE_PLUGINS) driven through testing/fake_host.hpp, and the fake host's own
// semantics (descriptor checks, pause/resume, shared state, counters, metrics).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gatehouse/plugin.hpp"
#include "gatehouse/testing/fake_host.hpp"

using gatehouse::Action;
using gatehouse::Message;
using gatehouse::Request;
using gatehouse::testing::FakeHost;
using gatehouse::testing::FakeRequest;

namespace {

int failures = 0;

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            std::fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
            ++failures;                                                                   \
        }                                                                                 \
    } while (0)

std::atomic<int> doneCalls{0};

const char* const kSchema = R"({"type":"object","properties":{"mode":{"type":"string"}}})";

// A plugin exercising every Request method; its behaviour is picked by the config string.
class Probe : public gatehouse::Plugin {
public:
    Probe(const gh_host_api* host, gh_instance_host* ih, std::string_view config)
        : Plugin(host, ih), mode_(config) {
        if (mode_ == "throw") throw std::runtime_error("bad config:\nline two");
        if (mode_ == "long") throw std::runtime_error(std::string(5000, 'e') + "\xC3\xA9");
        if (mode_ == "int") throw 42;
        requests_ = defineCounter("probe_requests_total", "Requests seen");
        inflight_ = defineGauge("probe_inflight", "Requests in flight");
    }

    Action onRequest(Request& r, void** ctx) override {
        requests_.add(1);
        inflight_.set(3);
        if (mode_ == "boom") throw std::runtime_error("boom");
        if (mode_ == "auth") {
            if (r.requestHeader("authorization") != std::optional<std::string_view>("Key k1")) {
                r.respond(401, R"({"error":"unauthorized"})",
                          {{"WWW-Authenticate", "Key"}, {"Content-Type", "application/json"}});
                return Action::Respond;
            }
            r.setConsumer("c-1", "alice");
            return Action::Continue;
        }
        if (mode_ == "lookup") {
            // ABI 1.1: find the credential a request presents, then the consumer's roles.
            gatehouse::Credential credential;
            const auto found = r.findCredential(
                GH_CREDENTIAL_KEY_AUTH, r.requestHeader("apikey").value_or(""), &credential);
            if (!found) {
                r.respond(401);
                return Action::Respond;
            }
            r.setConsumer(found->id, found->username);
            const auto consumer = r.consumer();
            CHECK(consumer && consumer->hasRole("admin") && !consumer->hasRole("adm"));
            r.setHeader(Message::Request, "X-Roles", consumer ? consumer->roles : "");
            r.setHeader(Message::Request, "X-Credential", credential.id);
            // ABI 1.2: request variables, with the host's rules.
            CHECK(r.setVar("auth.method", "lookup") && r.var("auth.method") == "lookup");
            CHECK(!r.setVar("Bad Name", "x") && !r.var("Bad Name"));
            CHECK(r.setVar("auth.method", "") && !r.var("auth.method"));
            r.setVar("auth.subject", found->username);
            if (const auto given = r.var("earlier.plugin"))
                r.setHeader(Message::Request, "X-Earlier", *given);
            return Action::Continue;
        }
        if (mode_ == "rewrite") {
            CHECK(r.method() == "POST");
            CHECK(r.path() == "/v1/items");
            CHECK(r.query() == "a=1");
            CHECK(r.host() == "api.example.test");
            CHECK(r.scheme() == "https");
            CHECK(r.clientAddress() == "198.51.100.7");
            CHECK(r.routeName() == "items");
            CHECK(r.requestId() == "rid-1");
            CHECK(r.status() == 0);
            CHECK(r.headerCount(Message::Request) == 3);
            auto first = r.headerAt(Message::Request, 0);
            CHECK(first && first->first == "X-Multi" && first->second == "1");
            CHECK(!r.headerAt(Message::Request, 3));
            CHECK(r.header(Message::Request, "x-multi", 1) == std::optional<std::string_view>("2"));
            CHECK(!r.header(Message::Request, "x-multi", 2));
            CHECK(!r.responseHeader("anything"));  // no response yet
            CHECK(r.removeHeader(Message::Request, "X-MULTI") == 2);
            CHECK(r.addHeader(Message::Request, "X-Added", "a"));
            CHECK(r.addHeader(Message::Request, "X-Added", "b"));
            CHECK(r.setHeader(Message::Request, "x-added", "c"));
            CHECK(!r.setHeader(Message::Request, "Bad Name", "v"));
            CHECK(!r.setHeader(Message::Request, "X-Inject", "a\r\nb: c"));
            CHECK(!r.setHeader(Message::Response, "X-Too-Early", "v"));
            CHECK(!r.setHeader(Message::Request, "content-length", "5"));  // framing: the host's
            CHECK(!r.addHeader(Message::Request, "Transfer-Encoding", "chunked"));
            CHECK(r.removeHeader(Message::Request, "Content-Length") == 0);
            CHECK(r.setPath("/v2/items"));
            CHECK(r.path() == "/v2/items");
            CHECK(!r.setPath("relative"));
            CHECK(r.setQuery("a=2&b=3"));
            CHECK(!r.setStatus(201));  // on_response only
            auto body = r.body(Message::Request);
            CHECK(body && *body == R"({"x":1})");
            CHECK(r.setBody(Message::Request, R"({"x":2})"));
            CHECK(r.consumerId().empty());
            return Action::Continue;
        }
        if (mode_ == "ctx") {
            *ctx = new int(7);
            return Action::Continue;
        }
        if (mode_ == "pause" || mode_ == "pause-now") {
            // First call: pause and resume from another thread; second call: continue.
            if (*ctx == nullptr) {
                gh_resumer* h = r.pause();
                CHECK(h != nullptr);
                if (h == nullptr) return Action::Fail;
                *ctx = new int(1);
                const gh_host_api* api = r.api();
                const bool now = mode_ == "pause-now";
                if (now) {  // resumed before this callback even returns
                    std::thread([api, h] { gatehouse::resume(api, h); }).join();
                } else {  // resumed later from another thread
                    std::thread([api, h] {
                        std::this_thread::sleep_for(std::chrono::milliseconds(20));
                        gatehouse::resume(api, h);
                    }).detach();
                }
                return Action::Pause;
            }
            ++*static_cast<int*>(*ctx);
            r.setHeader(Message::Request, "X-Resumed", "yes");
            return Action::Continue;
        }
        if (mode_ == "pause-late") {  // resumed by the test after a timeout
            if (*ctx == nullptr) {
                *ctx = r.pause();
                return Action::Pause;
            }
            return Action::Continue;
        }
        return Action::Continue;
    }

    Action onResponse(Request& r, void** ctx) override {
        (void)ctx;
        CHECK(r.setStatus(299));
        CHECK(!r.setStatus(99));
        CHECK(r.setHeader(Message::Response, "X-Resp", "1"));
        auto body = r.body(Message::Response);
        if (body) CHECK(r.setBody(Message::Response, std::string(*body) + "!"));
        return Action::Continue;
    }

    void onLog(Request& r, void** ctx) override {
        (void)ctx;
        CHECK(r.status() != 0);
        if (mode_ == "boom-log") throw 1;
    }

    void onDone(void* ctx) override {
        if (mode_ == "pause-late") return;  // the ctx is the spent resumer handle
        delete static_cast<int*>(ctx);
        ++doneCalls;
    }

    const std::string mode_;

private:
    gatehouse::Metric requests_;
    gatehouse::Metric inflight_;
};

// Shared state and counters, driven directly from the test through the instance.
class Stateful : public gatehouse::Plugin {
public:
    Stateful(const gh_host_api* host, gh_instance_host* ih, std::string_view) : Plugin(host, ih) {}
};

// Defines a metric too late (in a phase).
class LateMetric : public gatehouse::Plugin {
public:
    LateMetric(const gh_host_api* host, gh_instance_host* ih, std::string_view)
        : Plugin(host, ih) {}
    Action onRequest(Request&, void**) override {
        CHECK(!defineCounter("late_total", "x"));
        return Action::Continue;
    }
};

}  // namespace

GATEHOUSE_PLUGINS(gatehouse::describe<Probe>("probe", "0.1.0", "SDK self-test plugin", kSchema, 10,
                                             GH_PHASE_REQUEST | GH_PHASE_RESPONSE | GH_PHASE_LOG |
                                                 GH_PHASE_REQUEST_BODY | GH_PHASE_RESPONSE_BODY,
                                             GH_FEATURE_PAUSE | GH_FEATURE_METRICS),
                  gatehouse::describe<Stateful>("stateful", "0.1.0", "State", "{}", 0, 0,
                                                GH_FEATURE_SHARED_STATE),
                  gatehouse::describe<LateMetric>("late-metric", "0.1.0", "Late", "{}", 0,
                                                  GH_PHASE_REQUEST))

namespace {

const gh_plugin_descriptor& descriptor(std::uint32_t i) {
    return *gatehouse_plugin_entry_v1(nullptr, i);
}

void testDescriptors() {
    FakeHost host;
    auto loaded = host.load(&gatehouse_plugin_entry_v1);
    CHECK(loaded.size() == 3);
    for (const auto& l : loaded)
        CHECK(l.error.empty());
    const gh_plugin_descriptor& d = descriptor(0);
    CHECK(&d == gatehouse_plugin_entry_v1(host.api(), 0));  // built once, static storage
    CHECK(gatehouse_plugin_entry_v1(host.api(), 3) == nullptr);
    CHECK(d.struct_size == sizeof(gh_plugin_descriptor));
    CHECK(d.abi_major == GH_ABI_MAJOR && d.abi_minor == GH_ABI_MINOR);
    CHECK(d.default_priority == 10);
    CHECK(d.required_features == (GH_FEATURE_PAUSE | GH_FEATURE_METRICS));
    CHECK(d.on_request && d.on_response && d.on_log && d.on_done && d.instance_destroy);
    const gh_plugin_descriptor& s = descriptor(1);
    CHECK(!s.on_request && !s.on_response && !s.on_log);
}

void testChecks() {
    FakeHost host;
    gh_plugin_descriptor d = descriptor(2);
    CHECK(host.check(&d).empty());
    gh_plugin_descriptor bad = d;
    bad.abi_major = 2;
    CHECK(host.check(&bad).find("built for plugin ABI 2.x") != std::string::npos);
    bad = d;
    bad.abi_minor = GH_ABI_MINOR + 1;
    CHECK(host.check(&bad).find("needs plugin ABI 1.") != std::string::npos);
    bad = d;
    bad.struct_size = 16;
    CHECK(host.check(&bad).find("descriptor too small") != std::string::npos);
    bad = d;
    bad.name = "Bad_Name";
    CHECK(host.check(&bad).find("invalid plugin name") != std::string::npos);
    bad = d;
    bad.config_schema = "{\"type\":";
    CHECK(host.check(&bad).find("config_schema") != std::string::npos);
    bad = d;
    bad.phases |= GH_PHASE_LOG;  // declared without a callback
    CHECK(host.check(&bad).find("on_log") != std::string::npos);
    bad = d;
    bad.phases |= 1u << 20;
    CHECK(host.check(&bad).find("unknown phase bits") != std::string::npos);

    FakeHost::Options old;
    old.features = GH_FEATURE_METRICS;
    FakeHost small(old);
    CHECK(small.check(&descriptor(0)).find("lacks: pause") != std::string::npos);
    CHECK(small.check(&descriptor(1)).find("shared-state") != std::string::npos);
    auto loaded = small.load(&gatehouse_plugin_entry_v1);
    CHECK(loaded.size() == 3 && !loaded[0].error.empty() && loaded[2].error.empty());
    CHECK(!small.create(descriptor(0), "x").ok);
}

void testCreateErrors() {
    FakeHost host;
    const gh_plugin_descriptor& d = descriptor(0);
    FakeHost::Created c = host.create(d, "throw");
    CHECK(!c.ok && c.error == "bad config: line two");
    c = host.create(d, "int");
    CHECK(!c.ok && c.error == "unknown error while creating the instance");
    c = host.create(d, "long");
    CHECK(!c.ok && c.error.size() == 1023);  // the fake passes 1024 bytes
    // Truncation never splits a UTF-8 sequence.
    char small[5002];
    void* instance = nullptr;
    const char* mode = "long";
    CHECK(d.instance_create(host.api(), nullptr, gh_str{mode, 4}, &instance, small, sizeof small) ==
          0);
    CHECK(std::strlen(small) == 5000 && instance == nullptr);
    CHECK(d.instance_create(host.api(), nullptr, gh_str{mode, 4}, &instance, small, 1) == 0 &&
          small[0] == '\0');
    CHECK(host.violations().empty());
}

void testRequestMethods() {
    FakeHost host;
    const gh_plugin_descriptor& d = descriptor(0);
    FakeHost::Created c = host.create(d, "rewrite");
    CHECK(c.ok);
    if (!c.ok) return;
    FakeRequest req;
    req.method = "POST";
    req.path = "/v1/items";
    req.query = "a=1";
    req.host = "api.example.test";
    req.scheme = "https";
    req.clientAddress = "198.51.100.7";
    req.routeName = "items";
    req.requestId = "rid-1";
    req.requestHeaders = {{"X-Multi", "1"}, {"Content-Type", "application/json"}, {"x-multi", "2"}};
    req.requestBody = R"({"x":1})";
    CHECK(host.runRequest(d, c.instance, req) == GH_CONTINUE);
    CHECK(req.pathSet == std::optional<std::string>("/v2/items"));
    CHECK(req.querySet == std::optional<std::string>("a=2&b=3"));
    CHECK(FakeRequest::count(req.requestHeaders, "x-multi") == 0);
    CHECK(FakeRequest::count(req.requestHeaders, "x-added") == 1 &&
          req.requestHeader("X-Added") == "c");
    CHECK(req.requestBody == R"({"x":2})" && req.requestHeader("content-length") == "7");

    req.status = 200;
    req.responseBody = "ok";
    CHECK(host.runResponse(d, c.instance, req) == GH_CONTINUE);
    CHECK(req.status == 299 && req.responseHeader("X-Resp") == "1" && req.responseBody == "ok!");
    host.runLog(d, c.instance, req);
    CHECK(host.metric("probe", "probe_requests_total") == std::optional<double>(1));
    CHECK(host.metrics().at("probe_inflight{plugin=\"probe\"}") == 3);
    host.destroy(d, c.instance);
    CHECK(host.violations().empty());
}

void testRespondAndConsumer() {
    FakeHost host;
    const gh_plugin_descriptor& d = descriptor(0);
    FakeHost::Created c = host.create(d, "auth");
    CHECK(c.ok);
    if (!c.ok) return;
    FakeRequest denied;
    CHECK(host.runRequest(d, c.instance, denied) == GH_RESPOND);
    CHECK(denied.responded && denied.responded->status == 401);
    CHECK(denied.status == 401 && denied.responseHeader("www-authenticate") == "Key");
    CHECK(denied.responseBody == R"({"error":"unauthorized"})");

    FakeRequest allowed;
    allowed.requestHeaders = {{"Authorization", "Key k1"}};
    CHECK(host.runRequest(d, c.instance, allowed) == GH_CONTINUE);
    CHECK(allowed.consumerId == "c-1" && allowed.consumerName == "alice" && !allowed.responded);
    host.destroy(d, c.instance);
    CHECK(host.violations().empty());
}

void testExceptionsBecomeFail() {
    FakeHost host;
    const gh_plugin_descriptor& d = descriptor(0);
    FakeHost::Created c = host.create(d, "boom");
    CHECK(c.ok);
    if (!c.ok) return;
    FakeRequest req;
    CHECK(host.runRequest(d, c.instance, req) == GH_FAIL);
    CHECK(req.status == 500);
    auto logs = host.logs();
    CHECK(logs.size() == 1 && logs[0].plugin == "probe" && logs[0].level == GH_LOG_ERROR &&
          logs[0].message == "on_request threw: boom");
    host.destroy(d, c.instance);

    c = host.create(d, "boom-log");
    FakeRequest req2;
    req2.status = 200;
    CHECK(host.runLog(d, c.instance, req2) == GH_CONTINUE);
    CHECK(host.logs().back().message == "on_log threw: unknown exception");
    host.destroy(d, c.instance);
    CHECK(host.violations().empty());  // nothing crossed the C boundary
}

void testContextAndDone() {
    FakeHost host;
    const gh_plugin_descriptor& d = descriptor(0);
    FakeHost::Created c = host.create(d, "ctx");
    const int before = doneCalls.load();
    {
        FakeRequest req;
        host.runRequest(d, c.instance, req);
        CHECK(req.context(d, c.instance) != nullptr);
        req.status = 200;
        host.runLog(d, c.instance, req);
        CHECK(doneCalls.load() == before + 1 && req.context(d, c.instance) == nullptr);
    }
    {
        FakeRequest req;  // ends without on_log (client went away): on_done still runs
        host.runRequest(d, c.instance, req);
    }
    CHECK(doneCalls.load() == before + 2);
    host.destroy(d, c.instance);
}

void testPauseResume() {
    FakeHost host;
    const gh_plugin_descriptor& d = descriptor(0);
    for (const char* mode : {"pause", "pause-now"}) {
        FakeHost::Created c = host.create(d, mode);
        FakeRequest req;
        CHECK(host.runRequest(d, c.instance, req) == GH_PAUSE);
        CHECK(req.paused() && host.pausedCount() == 1);
        CHECK(host.runPending(std::chrono::milliseconds(2000)) == 1);
        CHECK(!req.paused() && req.lastAction == GH_CONTINUE);
        CHECK(req.requestHeader("X-Resumed") == "yes");
        const int* progress = static_cast<int*>(req.context(d, c.instance));
        CHECK(progress != nullptr && *progress == 2);  // the same *ctx both times
        host.end(req);
        host.destroy(d, c.instance);
    }

    // A pause that times out: the request fails with 504, the late resume does nothing.
    FakeHost::Created c = host.create(d, "pause-late");
    gh_resumer* handle = nullptr;
    {
        FakeRequest req;
        CHECK(host.runRequest(d, c.instance, req) == GH_PAUSE);
        handle = static_cast<gh_resumer*>(req.context(d, c.instance));
        CHECK(host.expirePaused() == 1);
        CHECK(req.timedOut && req.status == 504 && !req.paused());
    }
    std::thread([&] { host.api()->resume(handle); }).join();
    CHECK(host.runPending() == 0);
    CHECK(host.violations().empty());
    host.api()->resume(handle);  // twice: a violation
    CHECK(host.violations().size() == 1);
    host.destroy(d, c.instance);
}

void testSharedState() {
    FakeHost host;
    const gh_plugin_descriptor& d = descriptor(1);
    FakeHost::Created c1 = host.create(d, "{}");
    FakeHost::Created c2 = host.create(d, "{}");  // a second instance: same namespace
    CHECK(c1.ok && c2.ok);
    if (!c1.ok || !c2.ok) return;
    auto& a = *static_cast<Stateful*>(c1.instance);
    auto& b = *static_cast<Stateful*>(c2.instance);
    FakeHost::setTime(1'700'000'000'500);

    CHECK(!a.stateGet("k"));
    auto v1 = a.stateCas("k", 0, "open");
    CHECK(v1 && *v1 > 0);
    CHECK(!b.stateCas("k", 0, "again"));  // must not exist
    auto got = b.stateGet("k");
    CHECK(got && got->value == "open" && got->version == *v1);
    CHECK(!b.stateCas("k", *v1 + 100, "x"));
    auto v2 = b.stateCas("k", *v1, std::string(1000, 'z'), 1000);
    CHECK(v2 && *v2 > *v1);
    got = a.stateGet("k");  // bigger than the first read buffer
    CHECK(got && got->value == std::string(1000, 'z') && got->version == *v2);
    FakeHost::advanceTime(999);
    CHECK(a.stateGet("k"));
    FakeHost::advanceTime(1);
    CHECK(!a.stateGet("k"));  // expired
    auto v3 = a.stateCas("k", 0, "new");
    CHECK(v3 && *v3 > *v2);  // never reuses a version
    CHECK(host.state("stateful", "k")->first == "new");
    CHECK(!host.state("probe", "k"));  // namespaced per plugin name

    // Counters: fixed windows aligned to the epoch.
    FakeHost::setTime(1'700'000'000'250);
    auto r1 = a.counterAdd("ip:1", 1000, 1);
    CHECK(r1 && r1->count == 1 && r1->previous == 0 && r1->windowStartMs == 1'700'000'000'000 &&
          r1->windowMs == 1000);
    auto r2 = b.counterAdd("ip:1", 1000, 2);
    CHECK(r2 && r2->count == 3);
    CHECK(a.counterAdd("ip:1", 60000, 0)->count == 0);  // another window length, another counter
    FakeHost::advanceTime(1000);
    auto r3 = a.counterAdd("ip:1", 1000, 0);
    CHECK(r3 && r3->count == 0 && r3->previous == 3 && r3->windowStartMs == 1'700'000'001'000);
    CHECK(r3->sliding(1'700'000'001'250) == 2.25);
    FakeHost::advanceTime(2000);
    auto r4 = a.counterAdd("ip:1", 1000, 5);
    CHECK(r4 && r4->count == 5 && r4->previous == 0);
    CHECK(!a.counterAdd("ip:1", 0, 1));  // window 0 is a bad argument
    FakeHost::useRealTime();

    host.destroy(d, c1.instance);
    host.destroy(d, c2.instance);
    CHECK(host.violations().empty());
}

void testOlderHost() {
    FakeHost::Options o;
    o.apiStructSize = static_cast<std::uint32_t>(offsetof(gh_host_api, counter_add));
    FakeHost host(o);
    const gh_plugin_descriptor& d = descriptor(1);
    FakeHost::Created c = host.create(d, "{}");
    CHECK(c.ok);
    if (!c.ok) return;
    auto& s = *static_cast<Stateful*>(c.instance);
    CHECK(!s.counterAdd("k", 1000, 1));  // beyond the table's struct_size: not called
    CHECK(!s.stateCas("k", 0, "v"));
    CHECK(!host.state("stateful", "k"));
    CHECK(GATEHOUSE_HOST_HAS(host.api(), metric_set));
    CHECK(!GATEHOUSE_HOST_HAS(host.api(), state_get));
    host.destroy(d, c.instance);
}

void testViolations() {
    FakeHost host;
    const gh_plugin_descriptor& d = descriptor(2);
    FakeHost::Created c = host.create(d, "{}");
    FakeRequest req;
    host.runRequest(d, c.instance, req);
    auto v = host.violations();
    CHECK(v.size() == 1 &&
          v[0].find("metric_define called outside instance_create") != std::string::npos);

    // A C-level descriptor returning garbage is failed and logged.
    static gh_plugin_descriptor raw = descriptor(2);
    raw.name = "garbage";
    raw.on_request = [](void*, gh_request*, void**) -> std::int32_t { return 42; };
    FakeRequest req2;
    CHECK(host.runRequest(raw, c.instance, req2) == GH_FAIL);
    CHECK(host.logs().back().message.find("invalid action 42") != std::string::npos);
    // Host functions outside a callback are refused and reported.
    CHECK(host.api()->request_path(reinterpret_cast<gh_request*>(&req2)).len == 0);
    CHECK(host.violations().back().find("request_path called outside a phase callback") !=
          std::string::npos);
    host.destroy(d, c.instance);
}

void testConsumerLookup() {
    FakeHost host;
    const gh_plugin_descriptor& d = descriptor(0);
    FakeHost::Created c = host.create(d, "lookup");
    CHECK(c.ok);
    if (!c.ok) return;
    FakeRequest::Credential key;
    key.type = GH_CREDENTIAL_KEY_AUTH;
    key.lookup = "secret-key";
    key.id = "cred-1";
    key.consumer = {"c-1", "alice", "", "admin,dev"};
    FakeRequest ok;
    ok.credentials = {key};
    ok.requestHeaders = {{"apikey", "secret-key"}};
    CHECK(host.runRequest(d, c.instance, ok) == GH_CONTINUE);
    CHECK(ok.consumerId == "c-1" && ok.requestHeader("X-Roles") == "admin,dev");
    CHECK(ok.requestHeader("X-Credential") == "cred-1");
    CHECK(ok.vars.size() == 1 && ok.vars["auth.subject"] == "alice");
    CHECK(!host.status(c.instance));  // registered (ABI 1.2), reports nothing
    FakeRequest seeded;  // a variable an earlier plugin of the request would have set
    seeded.credentials = {key};
    seeded.requestHeaders = {{"apikey", "secret-key"}};
    seeded.vars["earlier.plugin"] = "hello";
    CHECK(host.runRequest(d, c.instance, seeded) == GH_CONTINUE);
    CHECK(seeded.requestHeader("X-Earlier") == "hello");
    FakeRequest wrong;
    wrong.credentials = {key};
    wrong.requestHeaders = {{"apikey", "other"}};
    CHECK(host.runRequest(d, c.instance, wrong) == GH_RESPOND);
    host.destroy(d, c.instance);
    CHECK(host.violations().empty());
}

}  // namespace

int main() {
    testDescriptors();
    testChecks();
    testCreateErrors();
    testRequestMethods();
    testRespondAndConsumer();
    testConsumerLookup();
    testExceptionsBecomeFail();
    testContextAndDone();
    testPauseResume();
    testSharedState();
    testOlderHost();
    testViolations();
    if (failures != 0) {
        std::fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    std::printf("sdk_test: all checks passed\n");
    return 0;
}
