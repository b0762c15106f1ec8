#include "upstream/target.h"

#include <gtest/gtest.h>

#include <string>

namespace gatehouse::upstream {
namespace {

TEST(ParseTargetAddress, AcceptsHostPort) {
    std::string host;
    uint16_t port = 0;
    ASSERT_TRUE(parseTargetAddress("h:80", &host, &port));
    EXPECT_EQ(host, "h");
    EXPECT_EQ(port, 80);
    ASSERT_TRUE(parseTargetAddress("api.internal:65535", &host, &port));
    EXPECT_EQ(host, "api.internal");
    EXPECT_EQ(port, 65535);
    ASSERT_TRUE(parseTargetAddress("127.0.0.1:1", &host, &port));
    EXPECT_EQ(host, "127.0.0.1");
    EXPECT_EQ(port, 1);
}

TEST(ParseTargetAddress, AcceptsBracketedIpv6) {
    std::string host;
    uint16_t port = 0;
    ASSERT_TRUE(parseTargetAddress("[::1]:80", &host, &port));
    EXPECT_EQ(host, "::1");
    EXPECT_EQ(port, 80);
    ASSERT_TRUE(parseTargetAddress("[2001:db8::5]:8443", &host, &port));
    EXPECT_EQ(host, "2001:db8::5");
    EXPECT_EQ(port, 8443);
}

TEST(ParseTargetAddress, RejectsMalformed) {
    std::string host = "untouched";
    uint16_t port = 7;
    for (const char* bad :
         {"h", "h:0", "h:70000", "h:65536", "::1:80", ":80", "h:", "h:8x", "h:-1", "h:+80", "[::1]",
          "[]:80", "[::1:80", "h h:80", "user@h:80", "h/p:80", ""}) {
        EXPECT_FALSE(parseTargetAddress(bad, &host, &port)) << bad;
    }
    EXPECT_EQ(host, "untouched") << "outputs are only written on success";
    EXPECT_EQ(port, 7);
}

TEST(TargetRegistry, ResolvesAndSharesState) {
    TargetRegistry registry;
    auto a = registry.get("up", "127.0.0.1:1");
    ASSERT_TRUE(a);
    EXPECT_TRUE(a->resolvedOk) << a->resolveError;
    EXPECT_NE(a->id, 0u);
    EXPECT_EQ(a->address, "127.0.0.1:1");
    EXPECT_EQ(a->resolved.port(), 1);
    EXPECT_EQ(a->resolved.host().toString(), "127.0.0.1");
    EXPECT_EQ(a->hostHeader, "127.0.0.1:1");

    auto again = registry.get("up", "127.0.0.1:1");
    EXPECT_EQ(again.get(), a.get()) << "the same upstream and address share one state";

    auto other = registry.get("other", "127.0.0.1:1");
    EXPECT_NE(other.get(), a.get());
    EXPECT_NE(other->id, a->id);
}

TEST(TargetRegistry, HostHeaderOmitsDefaultPort) {
    TargetRegistry registry;
    EXPECT_EQ(registry.get("up", "127.0.0.1:80")->hostHeader, "127.0.0.1");
    EXPECT_EQ(registry.get("up", "[::1]:80")->hostHeader, "[::1]");
    EXPECT_EQ(registry.get("up", "[::1]:8080")->hostHeader, "[::1]:8080");
}

TEST(TargetRegistry, ReleasedStateIsRecreatedWithANewId) {
    TargetRegistry registry;
    uint64_t firstId = 0;
    {
        auto t = registry.get("up", "127.0.0.1:2");
        firstId = t->id;
    }
    auto t2 = registry.get("up", "127.0.0.1:2");
    EXPECT_NE(t2->id, firstId);
}

TEST(TargetRegistry, MalformedAddressIsNotUsable) {
    TargetRegistry registry;
    auto t = registry.get("up", "no-port");
    EXPECT_FALSE(t->resolvedOk);
    EXPECT_FALSE(t->resolveError.empty());
}

}  // namespace
}  // namespace gatehouse::upstream
