// Observability through the real binary: Prometheus metrics after known traffic, scrapes under
// load, the live view, request-id trust, W3C trace context, OTLP span export to a collector
// process, and the gateway's event log.

#include <gtest/gtest.h>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Parser.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "harness.h"

namespace gatehouse::test {
namespace {

/// series (name{labels}) → value, from the Prometheus text format.
std::map<std::string, double> parseMetrics(const std::string& text) {
    std::map<std::string, double> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        const size_t sp = line.rfind(' ');
        if (sp == std::string::npos) continue;
        out[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
    }
    return out;
}

std::map<std::string, double> scrape(const Gateway& gw) {
    const Response r = admin(gw, "GET", "/metrics");
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.header("Content-Type").value_or("").find("text/plain; version=0.0.4"),
              std::string::npos);
    return parseMetrics(r.body);
}

double value(const std::map<std::string, double>& m, const std::string& series) {
    auto it = m.find(series);
    return it == m.end() ? -1 : it->second;
}

std::string twoRoutes(const std::string& address) {
    return simpleConfig(address, R"({"name":"api","match":{"paths":["/api"]},"upstream":"u",
                                    "strip_prefix":true},
                                   {"name":"other","match":{"paths":["/other"]},"upstream":"u"})");
}

/// Histogram invariants for one label set: cumulative buckets never decrease, +Inf equals
/// _count, and _count equals `expected`.
void checkHistogram(const std::map<std::string, double>& m, const std::string& name,
                    const std::string& labels, double expected) {
    const std::string prefix = name + "_bucket{" + labels + ",le=\"";
    double previous = 0;
    int buckets = 0;
    for (const auto& [series, v] : m) {
        if (series.rfind(prefix, 0) != 0) continue;
        ++buckets;
        if (series == prefix + "+Inf\"}") continue;  // checked below
        EXPECT_GE(v, previous) << series;
        previous = std::max(previous, v);
    }
    EXPECT_EQ(buckets, 20) << name << "{" << labels << "}";
    EXPECT_EQ(value(m, prefix + "+Inf\"}"), expected) << name << "{" << labels << "}";
    EXPECT_GE(value(m, prefix + "+Inf\"}"), previous);
    EXPECT_EQ(value(m, name + "_count{" + labels + "}"), expected);
    EXPECT_GT(value(m, name + "_sum{" + labels + "}"), 0);
}

TEST(Metrics, CountsAreExactPerRouteMethodAndCode) {
    Upstream up;
    Gateway gw(twoRoutes(up.address()));
    for (int i = 0; i < 30; ++i)
        ASSERT_EQ(roundTrip(gw.port(), "GET", "/api/x").status, 200);
    for (int i = 0; i < 5; ++i)
        ASSERT_EQ(roundTrip(gw.port(), "POST", "/api/status/503", {}, "body").status, 503);
    for (int i = 0; i < 7; ++i)
        ASSERT_EQ(roundTrip(gw.port(), "GET", "/other/x").status, 200);
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(roundTrip(gw.port(), "GET", "/nowhere").status, 404);

    const std::string api = "route=\"api\"";
    std::map<std::string, double> m;
    // A request is counted just after its last byte is written: give the workers a moment.
    ASSERT_TRUE(eventually([&] {
        m = scrape(gw);
        return value(m, "gatehouse_request_duration_seconds_count{route=\"(unmatched)\"}") == 3 &&
               value(m, "gatehouse_request_duration_seconds_count{" + api + "}") == 35 &&
               value(m, "gatehouse_request_duration_seconds_count{route=\"other\"}") == 7;
    }));
    EXPECT_EQ(value(m, "gatehouse_http_requests_total{route=\"api\",method=\"GET\",code=\"200\"}"),
              30);
    EXPECT_EQ(value(m, "gatehouse_http_requests_total{route=\"api\",method=\"POST\",code=\"503\"}"),
              5);
    EXPECT_EQ(
        value(m, "gatehouse_http_requests_total{route=\"other\",method=\"GET\",code=\"200\"}"), 7);
    EXPECT_EQ(value(m,
                    "gatehouse_http_requests_total{route=\"(unmatched)\",method=\"GET\","
                    "code=\"404\"}"),
              3);
    size_t requestSeries = 0;
    for (const auto& [series, v] : m)
        if (series.rfind("gatehouse_http_requests_total{", 0) == 0) ++requestSeries;
    EXPECT_EQ(requestSeries, 4u) << "no series beyond the traffic sent";

    checkHistogram(m, "gatehouse_request_duration_seconds", api, 35);
    checkHistogram(m, "gatehouse_gateway_overhead_seconds", api, 35);
    checkHistogram(m, "gatehouse_upstream_duration_seconds", api + ",upstream=\"u\"", 35);
    checkHistogram(m, "gatehouse_request_duration_seconds", "route=\"other\"", 7);
    checkHistogram(m, "gatehouse_upstream_duration_seconds", "route=\"other\",upstream=\"u\"", 7);
    // Unmatched requests never reach an upstream.
    EXPECT_EQ(value(m,
                    "gatehouse_upstream_duration_seconds_count{route=\"(unmatched)\","
                    "upstream=\"u\"}"),
              -1);
    // The gateway's share is part of the whole.
    EXPECT_LT(value(m, "gatehouse_gateway_overhead_seconds_sum{" + api + "}"),
              value(m, "gatehouse_request_duration_seconds_sum{" + api + "}"));
    // Bytes: the 5 POST bodies (4 bytes each) and every request head were received.
    EXPECT_GT(value(m, "gatehouse_http_received_bytes_total{" + api + "}"), 35 * 30 + 20);
    EXPECT_GT(value(m, "gatehouse_http_sent_bytes_total{" + api + "}"), 35 * 100);

    EXPECT_EQ(value(m, "gatehouse_build_info{version=\"" GATEHOUSE_TEST_VERSION "\"}"), 1);
    EXPECT_EQ(value(m, "gatehouse_config_version"), 1);
    EXPECT_EQ(value(m, "gatehouse_workers"), 2);
    EXPECT_EQ(value(m, "gatehouse_upstream_target_health{upstream=\"u\",target=\"" + up.address() +
                           "\"}"),
              1);
    EXPECT_GE(value(m, "gatehouse_connections_accepted_total"), 45);
    EXPECT_EQ(value(m, "gatehouse_event_log_dropped_total"), 0);

    // The live view agrees with the counters.
    const Response st = admin(gw, "GET", "/status/routes");
    ASSERT_EQ(st.status, 200) << st.body;
    auto routes = st.json()->getArray("routes");
    std::map<std::string, Poco::JSON::Object::Ptr> byRoute;
    for (size_t i = 0; i < routes->size(); ++i) {
        auto o = routes->getObject(static_cast<unsigned>(i));
        byRoute[o->getValue<std::string>("route")] = o;
    }
    ASSERT_EQ(byRoute.size(), 3u) << st.body;
    EXPECT_EQ(byRoute["api"]->getValue<int>("requests"), 35);
    EXPECT_EQ(byRoute["api"]->getValue<int>("errors"), 5);
    EXPECT_NEAR(byRoute["api"]->getValue<double>("error_rate"), 5.0 / 35, 0.001);
    EXPECT_GT(byRoute["api"]->getValue<double>("p50_ms"), 0);
    EXPECT_GE(byRoute["api"]->getValue<double>("p99_ms"),
              byRoute["api"]->getValue<double>("p50_ms"));
    EXPECT_GT(byRoute["api"]->getValue<double>("rate_per_s"), 0);
    EXPECT_EQ(byRoute["other"]->getValue<int>("errors"), 0);
    EXPECT_EQ(byRoute["(unmatched)"]->getValue<int>("requests"), 3);
}

TEST(Metrics, CountersSurviveConfigurationWrites) {
    Upstream up;
    Gateway gw(twoRoutes(up.address()));
    for (int i = 0; i < 10; ++i)
        ASSERT_EQ(roundTrip(gw.port(), "GET", "/api/x").status, 200);
    const std::string series =
        "gatehouse_http_requests_total{route=\"api\",method=\"GET\",code=\"200\"}";
    ASSERT_TRUE(eventually([&] { return value(scrape(gw), series) == 10; }));
    // Change the route itself and add another: its counts carry on by name.
    ASSERT_EQ(admin(gw, "PATCH", "/routes/api", R"({"priority":5})").status, 200);
    ASSERT_EQ(
        admin(gw, "POST", "/routes", R"({"name":"new","match":{"paths":["/new"]},"upstream":"u"})")
            .status,
        201);
    EXPECT_EQ(value(scrape(gw), series), 10);
    for (int i = 0; i < 5; ++i)
        ASSERT_EQ(roundTrip(gw.port(), "GET", "/api/x").status, 200);
    EXPECT_TRUE(eventually([&] { return value(scrape(gw), series) == 15; }));
    EXPECT_EQ(value(scrape(gw), "gatehouse_config_version"), 3);
}

TEST(Metrics, ScrapesUnderLoadNeitherFailNorLoseCounts) {
    Upstream up;
    Gateway gw(twoRoutes(up.address()));
    std::atomic<bool> stop{false};
    std::atomic<int> sent{0}, failed{0};
    auto traffic = [&] {
        Connection c(gw.port());
        while (!stop) {
            c.send(makeRequest("GET", "/api/x"));
            if (c.read().status == 200)
                ++sent;
            else
                ++failed;
        }
    };
    std::thread t1(traffic), t2(traffic);
    double last = 0;
    for (int i = 0; i < 40; ++i) {
        const auto m = scrape(gw);
        const double now = std::max(
            0.0,
            value(m, "gatehouse_http_requests_total{route=\"api\",method=\"GET\",code=\"200\"}"));
        EXPECT_GE(now, last) << "a counter went backwards";
        last = now;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop = true;
    t1.join();
    t2.join();
    EXPECT_EQ(failed.load(), 0);
    EXPECT_GT(sent.load(), 100);
    EXPECT_TRUE(eventually([&] {
        return value(scrape(gw),
                     "gatehouse_http_requests_total{route=\"api\",method=\"GET\","
                     "code=\"200\"}") == sent.load();
    })) << "sent "
        << sent.load();
}

TEST(Metrics, ClientThatLeavesMidRequestCounts499) {
    Upstream up;
    Gateway gw(twoRoutes(up.address()));
    {
        Connection c(gw.port());
        c.send("POST /api/echo-body HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nhalf");
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }  // closed before the body (and so the response) was complete
    EXPECT_TRUE(eventually([&] {
        return value(scrape(gw),
                     "gatehouse_http_requests_total{route=\"api\",method=\"POST\","
                     "code=\"499\"}") == 1;
    }));
}

TEST(Metrics, CanBeSwitchedOff) {
    Upstream up;
    Gateway::Options o;
    o.extraIni = "[metrics]\nenabled = false\n";
    Gateway gw(twoRoutes(up.address()), o);
    for (int i = 0; i < 5; ++i)
        ASSERT_EQ(roundTrip(gw.port(), "GET", "/api/x").status, 200);
    const Response r = admin(gw, "GET", "/metrics");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body.find("gatehouse_http_requests_total{"), std::string::npos);
    EXPECT_NE(r.body.find("gatehouse_connections_accepted_total 5"), std::string::npos);
    // Switched back on by SIGHUP, without a restart.
    gw.rewriteIni("");
    ASSERT_TRUE(gw.reload());
    ASSERT_EQ(roundTrip(gw.port(), "GET", "/api/x").status, 200);
    EXPECT_TRUE(eventually([&] {
        return value(scrape(gw),
                     "gatehouse_http_requests_total{route=\"api\",method=\"GET\","
                     "code=\"200\"}") == 1;
    }));
}

// -------------------------------------------------------------------------------------------
// Request ids

TEST(RequestIds, OnlyTrustedSourcesKeepTheirs) {
    Upstream up;
    const std::string mine = "client-chosen-id-42";
    {
        Gateway gw(twoRoutes(up.address()));
        const Response r = roundTrip(gw.port(), "GET", "/api/x", {{"X-Request-Id", mine}});
        ASSERT_EQ(r.status, 200);
        const auto seen = r.echoedHeader("X-Request-Id");
        ASSERT_TRUE(seen);
        EXPECT_NE(*seen, mine) << "an untrusted client's id was kept";
        EXPECT_TRUE(std::regex_match(*seen, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-"
                                                       "[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
            << *seen;
        EXPECT_EQ(r.header("X-Request-Id"), seen) << "the client gets the id upstream saw";
        // Error bodies carry it too.
        const Response missing = roundTrip(gw.port(), "GET", "/nowhere");
        ASSERT_EQ(missing.status, 404);
        EXPECT_EQ(missing.json()->getValue<std::string>("request_id"),
                  missing.header("X-Request-Id").value_or("?"));
    }
    {
        Gateway::Options o;
        o.extraIni = "[proxy]\nrequest_id_trusted = 127.0.0.0/8\n";
        Gateway gw(twoRoutes(up.address()), o);
        const Response r = roundTrip(gw.port(), "GET", "/api/x",
                                     {{"X-Request-Id", mine}, {"X-Forwarded-For", "10.9.9.9"}});
        ASSERT_EQ(r.status, 200);
        EXPECT_EQ(r.echoedHeader("X-Request-Id"), mine);
        EXPECT_EQ(r.header("X-Request-Id"), mine);
        // Trusting its request ids does not make the peer a trusted proxy.
        EXPECT_EQ(r.echoedHeader("X-Forwarded-For"), "127.0.0.1");
        // Even a trusted source's id must be sane.
        const Response bad =
            roundTrip(gw.port(), "GET", "/api/x", {{"X-Request-Id", std::string(100, 'a')}});
        EXPECT_NE(bad.echoedHeader("X-Request-Id"), std::string(100, 'a'));
        EXPECT_EQ(bad.echoedHeader("X-Request-Id").value_or("").size(), 36u);
    }
}

// -------------------------------------------------------------------------------------------
// Trace context

const std::regex kTraceparent("00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])");

TEST(TraceContext, ContinuesAValidTraceWithTheGatewaysSpan) {
    Upstream up;
    Gateway gw(twoRoutes(up.address()));
    const Response r =
        roundTrip(gw.port(), "GET", "/api/x",
                  {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                   {"tracestate", "vendor=opaque"}});
    ASSERT_EQ(r.status, 200);
    const std::string tp = r.echoedHeader("traceparent").value_or("");
    std::smatch m;
    ASSERT_TRUE(std::regex_match(tp, m, kTraceparent)) << tp;
    EXPECT_EQ(m[1].str(), "4bf92f3577b34da6a3ce929d0e0e4736") << "same trace";
    EXPECT_NE(m[2].str(), "00f067aa0ba902b7") << "the upstream's parent is the gateway's span";
    EXPECT_EQ(m[3].str(), "01");
    EXPECT_EQ(r.echoedHeader("tracestate"), "vendor=opaque");
}

TEST(TraceContext, StartsATraceWhenNoneOrAnInvalidOneArrives) {
    Upstream up;
    Gateway gw(twoRoutes(up.address()));
    std::set<std::string> traces;
    const std::vector<std::vector<std::pair<std::string, std::string>>> cases = {
        {},
        {{"tracestate", "orphan=1"}},
        {{"traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"},
         {"tracestate", "stale=1"}},
        {{"traceparent", "garbage"}},
        {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
         {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b8-01"}},
    };
    for (const auto& headers : cases) {
        const Response r = roundTrip(gw.port(), "GET", "/api/x", headers);
        ASSERT_EQ(r.status, 200);
        const std::string tp = r.echoedHeader("traceparent").value_or("");
        std::smatch m;
        ASSERT_TRUE(std::regex_match(tp, m, kTraceparent)) << tp;
        EXPECT_EQ(m[3].str(), "01") << "sample_ratio defaults to 1";
        EXPECT_NE(m[1].str(), "4bf92f3577b34da6a3ce929d0e0e4736");
        traces.insert(m[1].str());
        EXPECT_FALSE(r.echoedHeader("tracestate")) << "tracestate without its traceparent";
        EXPECT_EQ(r.headerCount("traceparent"), 0u) << "not echoed to the client";
    }
    EXPECT_EQ(traces.size(), cases.size()) << "every new trace has its own id";
}

TEST(TraceContext, SampleRatioAndSwitchingPropagationOff) {
    Upstream up;
    {
        Gateway::Options o;
        o.extraIni = "[tracing]\nsample_ratio = 0\n";
        Gateway gw(twoRoutes(up.address()), o);
        const Response fresh = roundTrip(gw.port(), "GET", "/api/x");
        EXPECT_EQ(fresh.echoedHeader("traceparent").value_or("").substr(53), "00");
        // A caller's decision stands.
        const Response kept =
            roundTrip(gw.port(), "GET", "/api/x",
                      {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}});
        EXPECT_EQ(kept.echoedHeader("traceparent").value_or("").substr(53), "01");
    }
    {
        Gateway::Options o;
        o.extraIni = "[tracing]\npropagate = false\n";
        Gateway gw(twoRoutes(up.address()), o);
        EXPECT_FALSE(roundTrip(gw.port(), "GET", "/api/x").echoedHeader("traceparent"));
        const std::string theirs = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        EXPECT_EQ(roundTrip(gw.port(), "GET", "/api/x", {{"traceparent", theirs}})
                      .echoedHeader("traceparent"),
                  theirs);
    }
}

// -------------------------------------------------------------------------------------------
// OTLP export

Poco::JSON::Array::Ptr collectedSpans(uint16_t collectorPort) {
    const Response r = roundTrip(collectorPort, "GET", "/collected");
    Poco::JSON::Parser parser;
    auto batches = parser.parse(r.body).extract<Poco::JSON::Array::Ptr>();
    Poco::JSON::Array::Ptr spans = new Poco::JSON::Array;
    for (size_t b = 0; b < batches->size(); ++b) {
        auto rs = batches->getObject(static_cast<unsigned>(b))->getArray("resourceSpans");
        for (size_t i = 0; i < rs->size(); ++i) {
            auto ss = rs->getObject(static_cast<unsigned>(i))->getArray("scopeSpans");
            for (size_t j = 0; j < ss->size(); ++j) {
                auto list = ss->getObject(static_cast<unsigned>(j))->getArray("spans");
                for (size_t k = 0; k < list->size(); ++k)
                    spans->add(list->getObject(static_cast<unsigned>(k)));
            }
        }
    }
    return spans;
}

std::string attribute(const Poco::JSON::Object::Ptr& span, const std::string& key) {
    auto attrs = span->getArray("attributes");
    for (size_t i = 0; i < attrs->size(); ++i) {
        auto a = attrs->getObject(static_cast<unsigned>(i));
        if (a->getValue<std::string>("key") != key) continue;
        auto v = a->getObject("value");
        return v->has("stringValue") ? v->getValue<std::string>("stringValue")
                                     : v->getValue<std::string>("intValue");
    }
    return "";
}

TEST(SpanExport, SampledRequestsReachTheCollectorAsOtlpJson) {
    Upstream up, collector("collector");
    Gateway::Options o;
    o.extraIni = "[tracing]\notlp_endpoint = http://" + collector.address() +
                 "/v1/traces\nflush_interval_ms = 100\nservice_name = edge-gw\n";
    Gateway gw(twoRoutes(up.address()), o);
    const Response traced =
        roundTrip(gw.port(), "GET", "/api/x",
                  {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}});
    ASSERT_EQ(traced.status, 200);
    const std::string gatewaySpan = traced.echoedHeader("traceparent").value_or("").substr(36, 16);
    ASSERT_EQ(roundTrip(gw.port(), "POST", "/api/status/502", {}, "x").status, 502);
    ASSERT_EQ(roundTrip(gw.port(), "GET", "/nowhere").status, 404);
    // Not sampled by its caller: not exported.
    ASSERT_EQ(
        roundTrip(gw.port(), "GET", "/api/x",
                  {{"traceparent", "00-11111111111111111111111111111111-00f067aa0ba902b7-00"}})
            .status,
        200);

    Poco::JSON::Array::Ptr spans;
    ASSERT_TRUE(eventually([&] {
        spans = collectedSpans(collector.port());
        return spans->size() >= 3;
    }));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // nothing else arrives
    spans = collectedSpans(collector.port());
    ASSERT_EQ(spans->size(), 3u);
    const auto batch = roundTrip(collector.port(), "GET", "/collected").body;
    EXPECT_NE(batch.find(R"("stringValue":"edge-gw")"), std::string::npos);

    std::map<std::string, Poco::JSON::Object::Ptr> byStatus;
    for (size_t i = 0; i < spans->size(); ++i) {
        auto s = spans->getObject(static_cast<unsigned>(i));
        byStatus[attribute(s, "http.response.status_code")] = s;
        EXPECT_EQ(s->getValue<int>("kind"), 2);
        EXPECT_LT(std::stoull(s->getValue<std::string>("startTimeUnixNano")),
                  std::stoull(s->getValue<std::string>("endTimeUnixNano")));
    }
    ASSERT_EQ(byStatus.size(), 3u);
    const auto ok = byStatus["200"];
    EXPECT_EQ(ok->getValue<std::string>("traceId"), "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(ok->getValue<std::string>("parentSpanId"), "00f067aa0ba902b7");
    EXPECT_EQ(ok->getValue<std::string>("spanId"), gatewaySpan)
        << "the exported span is the parent the upstream saw";
    EXPECT_EQ(ok->getValue<std::string>("name"), "GET api");
    EXPECT_EQ(attribute(ok, "http.route"), "api");
    EXPECT_EQ(attribute(ok, "gatehouse.upstream.address"), up.address());
    EXPECT_EQ(attribute(ok, "gatehouse.request_id"), traced.header("X-Request-Id").value_or("?"));
    EXPECT_FALSE(byStatus["502"]->has("parentSpanId")) << "a trace the gateway started";
    EXPECT_EQ(byStatus["502"]->getObject("status")->getValue<int>("code"), 2);
    EXPECT_EQ(attribute(byStatus["404"], "http.route"), "");

    EXPECT_TRUE(
        eventually([&] { return value(scrape(gw), "gatehouse_spans_exported_total") == 3; }));
    EXPECT_EQ(value(scrape(gw), "gatehouse_spans_dropped_total"), 0);
}

TEST(SpanExport, ADeadCollectorCostsRequestsNothing) {
    Upstream up, collector("collector");
    const std::string address = collector.address();
    collector.stop();
    Gateway::Options o;
    o.extraIni =
        "[tracing]\notlp_endpoint = http://" + address + "/v1/traces\nflush_interval_ms = 50\n";
    Gateway gw(twoRoutes(up.address()), o);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 50; ++i)
        ASSERT_EQ(roundTrip(gw.port(), "GET", "/api/x").status, 200);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
    EXPECT_TRUE(eventually([&] { return value(scrape(gw), "gatehouse_spans_failed_total") > 0; }));
    EXPECT_TRUE(gw.waitForLog("\"span_export_failed\""));
    EXPECT_EQ(gw.countInLog("\"span_export_failed\""), 1u) << "logged once per failure streak";
}

TEST(SpanExport, ABadEndpointIsRefusedAtStart) {
    Upstream up;
    Gateway::Options o;
    o.start = false;
    Gateway gw(twoRoutes(up.address()), o);
    gw.rewriteIni("[tracing]\notlp_endpoint = https://collector/v1/traces\n");
    for (const char* command : {"validate", "run"}) {
        std::string out;
        EXPECT_NE(runCommand({gatehouseBin(), command, "--config", gw.iniPath()}, &out), 0);
        EXPECT_NE(out.find("tracing.otlp_endpoint: must be an http:// URL"), std::string::npos)
            << command << ": " << out;
    }
}

// -------------------------------------------------------------------------------------------
// Event log

TEST(EventLog, EachGatewayEventIsAJsonLine) {
    Upstream up;
    TempDir plugins;
    std::filesystem::copy_file(std::string(TEST_PLUGINS_GOOD_DIR) + "/noop.so",
                               plugins.file("noop.so"));
    std::filesystem::copy_file(std::string(TEST_PLUGINS_REFUSED_DIR) + "/wrong-major.so",
                               plugins.file("wrong-major.so"));
    Gateway::Options o;
    o.pluginDir = plugins.path();
    Gateway gw(twoRoutes(up.address()), o);

    // An upstream failure, a write (config applied), a rejected reload, a log reopen.
    up.stop();
    const Response failed = roundTrip(gw.port(), "GET", "/api/x");
    EXPECT_EQ(failed.status, 502);
    ASSERT_EQ(admin(gw, "POST", "/routes",
                    R"({"name":"extra","match":{"paths":["/extra"]},"upstream":"u"})")
                  .status,
              201);
    gw.rewriteIni("[limits]\nmax_body_bytes = lots\n");
    gw.process().signal(SIGHUP);
    ASSERT_TRUE(gw.waitForLog("\"reload_failed\""));
    gw.process().signal(SIGUSR1);
    ASSERT_TRUE(gw.waitForLog("\"logs_reopened\""));
    ASSERT_EQ(gw.stop(), 0);

    std::map<std::string, std::vector<Poco::JSON::Object::Ptr>> events;
    std::istringstream in(gw.log());
    std::string line;
    Poco::JSON::Parser parser;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] != '{') continue;  // the token banner is not an event
        Poco::JSON::Object::Ptr e;
        ASSERT_NO_THROW(e = parser.parse(line).extract<Poco::JSON::Object::Ptr>()) << line;
        ASSERT_TRUE(e->has("time") && e->has("level") && e->has("event")) << line;
        EXPECT_TRUE(std::regex_match(e->getValue<std::string>("time"),
                                     std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
            << line;
        events[e->getValue<std::string>("event")].push_back(e);
    }
    for (const char* kind :
         {"plugin_loaded", "plugin_refused", "config_applied", "listening", "upstream_failed",
          "reload_failed", "logs_reopened", "draining", "stopped"})
        EXPECT_EQ(events.count(kind), 1u) << kind << " missing from:\n" << gw.log();
    ASSERT_GE(events["config_applied"].size(), 2u);
    EXPECT_EQ(events["config_applied"][0]->getValue<int>("version"), 1);
    EXPECT_EQ(events["config_applied"][1]->getValue<int>("version"), 2);
    EXPECT_EQ(events["listening"][0]->getValue<int>("workers"), 2);
    EXPECT_EQ(events["plugin_loaded"][0]->getValue<std::string>("plugin"), "noop-1");
    EXPECT_FALSE(events["plugin_refused"][0]->getValue<std::string>("reason").empty());
    EXPECT_EQ(events["plugin_refused"][0]->getValue<std::string>("level"), "warn");
    // Request-scoped events carry the id the client received.
    EXPECT_EQ(events["upstream_failed"][0]->getValue<std::string>("request_id"),
              failed.header("X-Request-Id").value_or("?"));
    EXPECT_EQ(events["reload_failed"][0]->getValue<std::string>("level"), "error");
    EXPECT_GE(events["stopped"][0]->getValue<int>("requests"), 1);
}

}  // namespace
}  // namespace gatehouse::test
