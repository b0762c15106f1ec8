// Unit test of the add-header plugin against the SDK's fake host.
//
// Loads the built shared object the way the gateway does (dlopen + the entry symbol), so it
// also checks what was exported. Usage: test_add_header path/to/add-header.so
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "gatehouse/plugin.hpp"
#include "gatehouse/testing/fake_host.hpp"

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

// Creating an instance with `config` fails, with a reason containing `expected`.
void expectRejected(FakeHost& host, const gh_plugin_descriptor& d, const char* config,
                    const char* expected) {
    FakeHost::Created c = host.create(d, config);
    CHECK(!c.ok);
    if (c.error.find(expected) == std::string::npos) {
        std::fprintf(stderr, "config %s: error \"%s\" lacks \"%s\"\n", config, c.error.c_str(),
                     expected);
        ++failures;
    }
    CHECK(c.error.find('\n') == std::string::npos);
}

void testLoad(FakeHost& host, gh_plugin_entry_fn entry) {
    std::vector<FakeHost::Loaded> loaded = host.load(entry);
    CHECK(loaded.size() == 1);
    CHECK(loaded.at(0).error.empty());
    const gh_plugin_descriptor& d = *loaded.at(0).descriptor;
    CHECK(std::strcmp(d.name, "add-header") == 0);
    CHECK(d.abi_major == GH_ABI_MAJOR);
    CHECK(d.struct_size == sizeof(gh_plugin_descriptor));
    CHECK(entry(host.api(), 1) == nullptr);
    // A second load of the same object is refused: names are unique per gateway.
    std::vector<FakeHost::Loaded> again = host.load(entry);
    CHECK(again.size() == 1 && again.at(0).error.find("duplicate") != std::string::npos);
}

void testRequestHeader(FakeHost& host, const gh_plugin_descriptor& d) {
    FakeHost::Created c = host.create(d, R"({"name":"X-Added","value":"yes"})");
    CHECK(c.ok);
    if (!c.ok) return;
    FakeRequest req;
    req.requestHeaders = {{"Accept", "*/*"}, {"x-added", "old"}, {"X-ADDED", "older"}};
    CHECK(host.runRequest(d, c.instance, req) == GH_CONTINUE);
    CHECK(FakeRequest::count(req.requestHeaders, "x-added") == 1);  // replaced, not added
    CHECK(req.requestHeader("X-Added") == std::optional<std::string>("yes"));
    CHECK(req.requestHeader("accept") == std::optional<std::string>("*/*"));

    req.status = 200;
    req.responseHeaders = {{"Content-Type", "text/plain"}};
    CHECK(host.runResponse(d, c.instance, req) == GH_CONTINUE);
    CHECK(!req.responseHeader("X-Added"));  // to defaults to "request"
    host.runLog(d, c.instance, req);
    host.destroy(d, c.instance);
}

void testResponseHeader(FakeHost& host, const gh_plugin_descriptor& d) {
    FakeHost::Created c =
        host.create(d, " {\n \"to\" : \"response\", \"name\":\"X-Served-By\",\t\"value\":\"gh\"} ");
    CHECK(c.ok);
    if (!c.ok) return;
    FakeRequest req;
    CHECK(host.runRequest(d, c.instance, req) == GH_CONTINUE);
    CHECK(!req.requestHeader("X-Served-By"));
    req.status = 502;
    CHECK(host.runResponse(d, c.instance, req) == GH_CONTINUE);
    CHECK(req.responseHeader("x-served-by") == std::optional<std::string>("gh"));
    CHECK(req.status == 502);
    host.runLog(d, c.instance, req);
    host.destroy(d, c.instance);
}

void testEscapes(FakeHost& host, const gh_plugin_descriptor& d) {
    FakeHost::Created c =
        host.create(d, R"({"name":"X-Quote","value":"a\"b\\c\u0041\/d\te","to":"request"})");
    CHECK(c.ok);
    if (!c.ok) return;
    FakeRequest req;
    CHECK(host.runRequest(d, c.instance, req) == GH_CONTINUE);
    CHECK(req.requestHeader("X-Quote") == std::optional<std::string>("a\"b\\cA/d\te"));
    host.destroy(d, c.instance);
}

void testRejections(FakeHost& host, const gh_plugin_descriptor& d) {
    expectRejected(host, d, R"({"name":"Bad Name","value":"v"})",
                   "config.name: not an HTTP header name");
    expectRejected(host, d, R"({"name":"","value":"v"})", "config.name");
    expectRejected(host, d, R"({"name":"X-A:","value":"v"})", "config.name");
    expectRejected(host, d, R"({"name":"Content-Length","value":"1"})",
                   "config.name: message framing");
    expectRejected(host, d, R"({"value":"v"})", "config.name: required");
    expectRejected(host, d, R"({"name":"X-A"})", "config.value: required");
    expectRejected(host, d, R"({"name":"X-A","value":"v","to":"upstream"})", "config.to");
    expectRejected(host, d, R"({"name":"X-A","value":"v","extra":"1"})", "unknown field \"extra\"");
    expectRejected(host, d, R"({"name":"X-A","value":"v","name":"X-B"})",
                   "config.name: given twice");
    expectRejected(host, d, R"({"name":"X-A","value":"caf\u00e9"})",
                   "config.value: \\u escapes beyond ASCII");
    expectRejected(host, d, R"({"name":"X-A","value":"a\nb"})", "config.value: control characters");
    expectRejected(host, d, R"({"name":"X-A","value":"a\u000db"})",
                   "config.value: control characters");
    expectRejected(host, d, R"({"name":"X-A","value":"a\qb"})", "invalid escape");
    expectRejected(host, d, R"({"name":"X-A","value":"v\u12"})", "\\u escape");
    expectRejected(host, d, R"({"name":"X-A","value":1})", "config.value: must be a string");
    expectRejected(host, d, R"({"name":"X-A","value":"v"} x)", "unexpected text");
    expectRejected(host, d, R"({"name":"X-A","value":"v)", "unterminated");
    expectRejected(host, d, R"({"name":"X-A" "value":"v"})", "expected ',' or '}'");
    expectRejected(host, d, R"(["name"])", "must be a JSON object");
    expectRejected(host, d, "", "must be a JSON object");
    expectRejected(host, d, "{\"name\":\"X-A\",\"value\":\"a\tb\"}",
                   "control character in a string");
}

// The reason is cut to the buffer the gateway passes, always NUL-terminated.
void testErrorTruncation(FakeHost& host, const gh_plugin_descriptor& d) {
    const char* config = R"({"name":"Bad Name","value":"v"})";
    char error[9];
    std::memset(error, 'x', sizeof error);
    void* instance = reinterpret_cast<void*>(1);
    gh_str cfg{config, std::strlen(config)};
    CHECK(d.instance_create(host.api(), nullptr, cfg, &instance, error, sizeof error) == 0);
    CHECK(std::memchr(error, '\0', sizeof error) != nullptr);
    CHECK(std::strlen(error) == sizeof error - 1);
    CHECK(std::strncmp(error, "config.n", 8) == 0);
    // Capacity 0: nothing is written, still refused.
    CHECK(d.instance_create(host.api(), nullptr, cfg, &instance, nullptr, 0) == 0);
}

// Header functions used outside a phase they are allowed in fail and the plugin fails closed.
void testWrongPhase(FakeHost& host, const gh_plugin_descriptor& d) {
    FakeHost::Created c = host.create(d, R"({"name":"X-A","value":"v","to":"response"})");
    CHECK(c.ok);
    if (!c.ok) return;
    FakeRequest req;
    gatehouse::testing::Access readOnly;
    readOnly.requestHeaders = readOnly.responseHeaders = true;
    req.forceAccess = readOnly;
    CHECK(host.runResponse(d, c.instance, req) == GH_FAIL);
    CHECK(req.status == 500);
    std::vector<FakeHost::LogLine> logs = host.logs();
    CHECK(logs.size() == 1 && logs.at(0).plugin == "add-header" &&
          logs.at(0).level == GH_LOG_ERROR);
    host.clearLogs();
    host.destroy(d, c.instance);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s path/to/add-header.so\n", argv[0]);
        return 2;
    }
    void* so = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (so == nullptr) {
        std::fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    auto entry = reinterpret_cast<gh_plugin_entry_fn>(dlsym(so, GH_PLUGIN_ENTRY_SYMBOL));
    if (entry == nullptr) {
        std::fprintf(stderr, "no %s in %s\n", GH_PLUGIN_ENTRY_SYMBOL, argv[1]);
        return 1;
    }
    {
        FakeHost host;
        testLoad(host, entry);
        const gh_plugin_descriptor& d = *entry(host.api(), 0);
        testRequestHeader(host, d);
        testResponseHeader(host, d);
        testEscapes(host, d);
        testRejections(host, d);
        testErrorTruncation(host, d);
        testWrongPhase(host, d);
        CHECK(host.logs().empty());
        for (const std::string& v : host.violations()) {
            std::fprintf(stderr, "violation: %s\n", v.c_str());
            ++failures;
        }
    }
    // The gateway never unloads an object while an instance exists; all are gone here.
    dlclose(so);
    if (failures != 0) {
        std::fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    std::printf("add-header: all checks passed\n");
    return 0;
}
