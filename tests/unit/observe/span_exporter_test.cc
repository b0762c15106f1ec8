#include "observe/span_exporter.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

namespace gatehouse::observe {
namespace {

SpanRecord sampleSpan() {
    SpanRecord s;
    EXPECT_TRUE(
        s.trace.parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    for (int i = 0; i < 8; ++i)
        s.trace.spanId[i] = static_cast<uint8_t>(i + 1);
    s.startUnixNs = 1700000000000000000ull;
    s.endUnixNs = 1700000000001500000ull;
    s.status = 503;
    s.method = "GET";
    s.target = "/api/x?q=\"1\"";
    s.host = "example.com";
    s.route = "api";
    s.requestId = "rid-1";
    s.clientIp = "127.0.0.1";
    s.upstream = "127.0.0.1:9000";
    return s;
}

TEST(SpanExporter, EncodesOtlpJson) {
    const std::string body = SpanExporter::encode({sampleSpan()}, "edge");
    Poco::JSON::Parser parser;
    auto root = parser.parse(body).extract<Poco::JSON::Object::Ptr>();
    auto rs = root->getArray("resourceSpans")->getObject(0);
    auto attrs = rs->getObject("resource")->getArray("attributes");
    EXPECT_EQ(attrs->getObject(0)->getValue<std::string>("key"), "service.name");
    EXPECT_EQ(attrs->getObject(0)->getObject("value")->getValue<std::string>("stringValue"),
              "edge");
    auto span = rs->getArray("scopeSpans")->getObject(0)->getArray("spans")->getObject(0);
    EXPECT_EQ(span->getValue<std::string>("traceId"), "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(span->getValue<std::string>("spanId"), "0102030405060708");
    EXPECT_EQ(span->getValue<std::string>("parentSpanId"), "00f067aa0ba902b7");
    EXPECT_EQ(span->getValue<std::string>("name"), "GET api");
    EXPECT_EQ(span->getValue<int>("kind"), 2);
    EXPECT_EQ(span->getValue<std::string>("startTimeUnixNano"), "1700000000000000000");
    EXPECT_EQ(span->getValue<std::string>("endTimeUnixNano"), "1700000000001500000");
    EXPECT_EQ(span->getObject("status")->getValue<int>("code"), 2);  // 5xx: error
    bool sawStatus = false, sawPath = false;
    auto list = span->getArray("attributes");
    for (size_t i = 0; i < list->size(); ++i) {
        auto a = list->getObject(static_cast<unsigned>(i));
        if (a->getValue<std::string>("key") == "http.response.status_code") {
            sawStatus = true;
            EXPECT_EQ(a->getObject("value")->getValue<std::string>("intValue"), "503");
        }
        if (a->getValue<std::string>("key") == "url.path") {
            sawPath = true;
            EXPECT_EQ(a->getObject("value")->getValue<std::string>("stringValue"), "/api/x")
                << "the query (which may hold credentials) is not exported";
        }
    }
    EXPECT_TRUE(sawStatus);
    EXPECT_TRUE(sawPath);
}

TEST(SpanExporter, ARootSpanHasNoParent) {
    SpanRecord s = sampleSpan();
    s.trace.hasParent = false;
    s.status = 200;
    const std::string body = SpanExporter::encode({s}, "gatehouse");
    EXPECT_EQ(body.find("parentSpanId"), std::string::npos);
    EXPECT_NE(body.find("\"status\":{}"), std::string::npos);
}

TEST(SpanExporter, EndpointMustBeHttp) {
    EXPECT_EQ(SpanExporter::checkEndpoint(""), "");
    EXPECT_EQ(SpanExporter::checkEndpoint("http://127.0.0.1:4318/v1/traces"), "");
    EXPECT_NE(SpanExporter::checkEndpoint("https://collector/v1/traces"), "");
    EXPECT_NE(SpanExporter::checkEndpoint("collector:4318"), "");
}

TEST(SpanExporter, AFullQueueDropsAndCountsInsteadOfWaiting) {
    EventLog log("stderr", Level::kError);
    SpanExporter::Options o;
    o.endpoint = "http://127.0.0.1:9/v1/traces";  // discard port: nothing listens
    o.queuePerWorker = 4;
    o.flushIntervalMs = 60000;  // the exporter thread does not drain during the test
    SpanExporter e(o, 1, log);
    int accepted = 0;
    for (int i = 0; i < 10; ++i)
        accepted += e.submit(0, sampleSpan()) ? 1 : 0;
    EXPECT_EQ(accepted, 4);
    EXPECT_EQ(e.dropped(), 6u);
}

}  // namespace
}  // namespace gatehouse::observe
