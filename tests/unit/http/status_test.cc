#include "http/status.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace gatehouse::http {
namespace {

using namespace std::string_view_literals;

Poco::JSON::Object::Ptr parse(const std::string& text) {
    Poco::JSON::Parser parser;
    return parser.parse(text).extract<Poco::JSON::Object::Ptr>();
}

TEST(ErrorBody, IsJsonWithErrorStatusAndRequestId) {
    const std::string body = errorBody(502, "upstream connect failed", "req-123");
    Poco::JSON::Object::Ptr o;
    ASSERT_NO_THROW(o = parse(body)) << body;
    EXPECT_EQ(o->getValue<std::string>("error"), "upstream connect failed");
    EXPECT_EQ(o->getValue<int>("status"), 502);
    EXPECT_EQ(o->getValue<std::string>("request_id"), "req-123");
    EXPECT_EQ(o->size(), 3u);
}

TEST(ErrorBody, EscapesQuotesAndBackslashes) {
    const std::string msg = R"(bad "path" C:\temp\x)";
    const std::string body = errorBody(400, msg, R"(id"\)");
    EXPECT_NE(body.find(R"(bad \"path\" C:\\temp\\x)"), std::string::npos) << body;
    Poco::JSON::Object::Ptr o;
    ASSERT_NO_THROW(o = parse(body)) << body;
    EXPECT_EQ(o->getValue<std::string>("error"), msg);
    EXPECT_EQ(o->getValue<std::string>("request_id"), R"(id"\)");
}

TEST(ErrorBody, EscapesEveryControlCharacter) {
    std::string msg;
    for (int c = 0; c < 0x20; ++c)
        msg.push_back(static_cast<char>(c));
    msg += "end";
    const std::string body = errorBody(400, msg, "r");
    for (char c : body) {
        EXPECT_GE(static_cast<unsigned char>(c), 0x20u)
            << "raw control character " << static_cast<int>(c) << " in " << body;
    }
    EXPECT_NE(body.find("\\n"), std::string::npos);
    EXPECT_NE(body.find("\\t"), std::string::npos);
    EXPECT_NE(body.find("\\r"), std::string::npos);
    EXPECT_NE(body.find("\\u0000"), std::string::npos);
    EXPECT_NE(body.find("\\u001f"), std::string::npos);
    Poco::JSON::Object::Ptr o;
    ASSERT_NO_THROW(o = parse(body)) << body;
    EXPECT_EQ(o->getValue<std::string>("error"), msg);
}

TEST(AppendJsonString, QuotesAndKeepsPrintableText) {
    std::string out = "x=";
    appendJsonString(out, "a/b é");
    EXPECT_EQ(out, "x=\"a/b é\"");
    out.clear();
    appendJsonString(out, "\x01\"\\"sv);
    EXPECT_EQ(out, R"("\u0001\"\\")");
}

TEST(ReasonPhrase, KnownAndUnknownCodes) {
    EXPECT_EQ(reasonPhrase(200), "OK");
    EXPECT_EQ(reasonPhrase(404), "Not Found");
    EXPECT_EQ(reasonPhrase(414), "URI Too Long");
    EXPECT_EQ(reasonPhrase(431), "Request Header Fields Too Large");
    EXPECT_EQ(reasonPhrase(502), "Bad Gateway");
    EXPECT_EQ(reasonPhrase(504), "Gateway Timeout");
    EXPECT_EQ(reasonPhrase(799), "Unknown");
}

}  // namespace
}  // namespace gatehouse::http
