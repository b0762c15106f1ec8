#include "http/header_rules.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gatehouse::http {
namespace {

const std::vector<std::string> kHopByHop = {
    "Connection",          "Keep-Alive",        "TE", "Trailer", "Upgrade", "Proxy-Connection",
    "Proxy-Authorization", "Transfer-Encoding",
};

std::string upper(std::string s) {
    for (char& c : s)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
    return s;
}

std::string lower(std::string s) {
    for (char& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return s;
}

TEST(HeaderRules, EveryHopByHopNameIsHopByHopInRequestsInAnyCase) {
    for (const auto& name : kHopByHop) {
        EXPECT_EQ(classifyRequestHeader(name), HeaderClass::kHopByHop) << name;
        EXPECT_EQ(classifyRequestHeader(lower(name)), HeaderClass::kHopByHop) << lower(name);
        EXPECT_EQ(classifyRequestHeader(upper(name)), HeaderClass::kHopByHop) << upper(name);
    }
}

TEST(HeaderRules, EveryHopByHopNameIsHopByHopInResponsesInAnyCase) {
    for (const auto& name : kHopByHop) {
        EXPECT_EQ(classifyResponseHeader(name), HeaderClass::kHopByHop) << name;
        EXPECT_EQ(classifyResponseHeader(lower(name)), HeaderClass::kHopByHop) << lower(name);
        EXPECT_EQ(classifyResponseHeader(upper(name)), HeaderClass::kHopByHop) << upper(name);
    }
}

TEST(HeaderRules, ContentLengthIsFramingBothWays) {
    EXPECT_EQ(classifyRequestHeader("Content-Length"), HeaderClass::kFraming);
    EXPECT_EQ(classifyRequestHeader("content-length"), HeaderClass::kFraming);
    EXPECT_EQ(classifyResponseHeader("CONTENT-LENGTH"), HeaderClass::kFraming);
}

TEST(HeaderRules, GatewayOwnedRequestHeaders) {
    for (const char* name : {"Host", "X-Forwarded-For", "x-forwarded-proto", "X-FORWARDED-HOST",
                             "X-Forwarded-Port", "X-Request-Id"})
        EXPECT_EQ(classifyRequestHeader(name), HeaderClass::kGatewayOwned) << name;
}

TEST(HeaderRules, ResponsesOnlyOwnTheRequestId) {
    EXPECT_EQ(classifyResponseHeader("X-Request-Id"), HeaderClass::kGatewayOwned);
    EXPECT_EQ(classifyResponseHeader("Host"), HeaderClass::kForward);
    EXPECT_EQ(classifyResponseHeader("X-Forwarded-For"), HeaderClass::kForward);
}

TEST(HeaderRules, OrdinaryAndLookAlikeNamesAreForwarded) {
    for (const char* name : {"Content-Type", "Authorization", "Cookie", "X-Custom", "Tee", "T",
                             "Upgrade-Insecure-Requests", "Connections", "Keep-Alive2", "Trailers",
                             "Proxy-Authenticate", ""}) {
        EXPECT_EQ(classifyRequestHeader(name), HeaderClass::kForward) << name;
        EXPECT_EQ(classifyResponseHeader(name), HeaderClass::kForward) << name;
    }
}

TEST(HeaderRules, ExpectIsAnsweredByTheGateway) {
    EXPECT_EQ(classifyRequestHeader("Expect"), HeaderClass::kHopByHop);
}

TEST(NamedInConnection, FindsEveryListedNameCaseInsensitively) {
    HeaderList h;
    h.add("Host", "example.com");
    h.add("Connection", "close, X-Foo");
    EXPECT_TRUE(namedInConnection(h, "X-Foo"));
    EXPECT_TRUE(namedInConnection(h, "x-foo"));
    EXPECT_TRUE(namedInConnection(h, "close"));
    EXPECT_TRUE(namedInConnection(h, "CLOSE"));
    EXPECT_FALSE(namedInConnection(h, "X-Bar"));
    EXPECT_FALSE(namedInConnection(h, "X-Fo"));
    EXPECT_FALSE(namedInConnection(h, "Host")) << "only Connection's value counts";
}

TEST(NamedInConnection, ToleratesOwsAndEmptyElements) {
    HeaderList h;
    h.add("connection", " ,  keep-alive ,, X-A\t,");
    EXPECT_TRUE(namedInConnection(h, "keep-alive"));
    EXPECT_TRUE(namedInConnection(h, "X-A"));
    EXPECT_FALSE(namedInConnection(h, ""));
    EXPECT_FALSE(namedInConnection(h, " keep-alive"));
}

TEST(NamedInConnection, LooksAtEveryConnectionField) {
    HeaderList h;
    h.add("Connection", "keep-alive");
    h.add("X-Other", "X-Hidden");
    h.add("CONNECTION", "Upgrade, X-Second");
    EXPECT_TRUE(namedInConnection(h, "x-second"));
    EXPECT_TRUE(namedInConnection(h, "upgrade"));
    EXPECT_TRUE(namedInConnection(h, "keep-alive"));
    EXPECT_FALSE(namedInConnection(h, "X-Hidden"));
}

TEST(NamedInConnection, NoConnectionHeaderNamesNothing) {
    HeaderList h;
    h.add("X-Foo", "close");
    EXPECT_FALSE(namedInConnection(h, "close"));
    EXPECT_FALSE(connectionHas(h, "close"));
}

TEST(ConnectionHas, FindsTokens) {
    HeaderList h;
    h.add("Connection", "Keep-Alive, Upgrade");
    EXPECT_TRUE(connectionHas(h, "keep-alive"));
    EXPECT_TRUE(connectionHas(h, "upgrade"));
    EXPECT_FALSE(connectionHas(h, "close"));
}

}  // namespace
}  // namespace gatehouse::http
