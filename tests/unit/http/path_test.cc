#include "http/path.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace gatehouse::http {
namespace {

using namespace std::string_view_literals;

/// Normalizes `raw`; returns the result, or "<rejected: reason>" so failures print usefully.
std::string norm(std::string_view raw) {
    std::string out;
    const char* reason = "";
    if (!normalizePath(raw, &out, &reason)) return std::string("<rejected: ") + reason + ">";
    return out;
}

bool rejected(std::string_view raw) {
    std::string out;
    const char* reason = nullptr;
    const bool ok = normalizePath(raw, &out, &reason);
    if (!ok) {
        EXPECT_NE(reason, nullptr) << "a rejection must say why";
    }
    return !ok;
}

TEST(NormalizePath, KeepsAlreadyNormalPaths) {
    EXPECT_EQ(norm("/"), "/");
    EXPECT_EQ(norm("/api/users/42"), "/api/users/42");
    EXPECT_EQ(norm("/a-b_c~d.e"), "/a-b_c~d.e");
}

TEST(NormalizePath, DecodesUnreservedEscapes) {
    EXPECT_EQ(norm("/%61%62%63"), "/abc");
    EXPECT_EQ(norm("/%41%5A%30%39"), "/AZ09");
    EXPECT_EQ(norm("/a%2Db%5fc%7Ed%2ee"), "/a-b_c~d.e");
    EXPECT_EQ(norm("/%7e"), "/~");
}

TEST(NormalizePath, UpperCasesOtherEscapes) {
    EXPECT_EQ(norm("/a%3ab"), "/a%3Ab");
    EXPECT_EQ(norm("/%e2%82%ac"), "/%E2%82%AC");
    EXPECT_EQ(norm("/x%20y"), "/x%20y");
    EXPECT_EQ(norm("/q%3F"), "/q%3F");
    EXPECT_EQ(norm("/p%25"), "/p%25") << "an encoded '%' must stay encoded";
}

TEST(NormalizePath, EncodedDotSegmentsAreRemoved) {
    EXPECT_EQ(norm("/a/%2E%2E/b"), "/b");
    EXPECT_EQ(norm("/a/%2e%2e/b"), "/b");
    EXPECT_EQ(norm("/a/%2E/b"), "/a/b");
    EXPECT_EQ(norm("/a/.%2E/b"), "/b");
    EXPECT_EQ(norm("/%2e%2e/%2e%2e/etc/passwd"), "/etc/passwd");
}

TEST(NormalizePath, RejectsEncodedSlashBackslashAndNul) {
    EXPECT_TRUE(rejected("/a%2Fb"));
    EXPECT_TRUE(rejected("/a%2fb"));
    EXPECT_TRUE(rejected("/a%5Cb"));
    EXPECT_TRUE(rejected("/a%5cb"));
    EXPECT_TRUE(rejected("/a%00b"));
    EXPECT_TRUE(rejected("/..%2F..%2Fetc"));
}

TEST(NormalizePath, RejectsRawBackslashAndNul) {
    EXPECT_TRUE(rejected("/a\\b"));
    EXPECT_TRUE(rejected("/..\\..\\windows"));
    EXPECT_TRUE(rejected("/a\0b"sv));
}

TEST(NormalizePath, RejectsMalformedEscapes) {
    EXPECT_TRUE(rejected("/a%"));
    EXPECT_TRUE(rejected("/a%4"));
    EXPECT_TRUE(rejected("/a%zz"));
    EXPECT_TRUE(rejected("/a%4g/b"));
    EXPECT_TRUE(rejected("/a%g4/b"));
    EXPECT_TRUE(rejected("%"));
    // A valid escape right at the end is fine.
    EXPECT_EQ(norm("/a%41"), "/aA");
}

TEST(NormalizePath, RemovesDotSegments) {
    EXPECT_EQ(norm("/a/./b"), "/a/b");
    EXPECT_EQ(norm("/a/b/../c"), "/a/c");
    EXPECT_EQ(norm("/a/b/c/../../d"), "/a/d");
    EXPECT_EQ(norm("/a/./../b"), "/b");
    EXPECT_EQ(norm("/a/.b/..c/c."), "/a/.b/..c/c.") << "dots inside names are not dot segments";
}

TEST(NormalizePath, TrailingDotSegmentsLeaveADirectory) {
    EXPECT_EQ(norm("/a/b/.."), "/a/");
    EXPECT_EQ(norm("/a/b/."), "/a/b/");
    EXPECT_EQ(norm("/a/b/../"), "/a/");
    EXPECT_EQ(norm("/a/.."), "/");
}

TEST(NormalizePath, NeverClimbsAboveRoot) {
    EXPECT_EQ(norm("/.."), "/");
    EXPECT_EQ(norm("/../.."), "/");
    EXPECT_EQ(norm("/../../a"), "/a");
    EXPECT_EQ(norm("/a/../../../b"), "/b");
    EXPECT_EQ(norm("/./"), "/");
}

TEST(NormalizePath, MergesSlashes) {
    EXPECT_EQ(norm("//a///b"), "/a/b");
    EXPECT_EQ(norm("////"), "/");
    EXPECT_EQ(norm("/a//..//b"), "/b");
}

TEST(NormalizePath, PreservesTrailingSlash) {
    EXPECT_EQ(norm("/a/b/"), "/a/b/");
    EXPECT_EQ(norm("/a/b//"), "/a/b/");
    EXPECT_EQ(norm("/a/b"), "/a/b");
}

TEST(SplitTarget, OriginForm) {
    TargetParts t;
    const char* reason = "";
    ASSERT_TRUE(splitTarget("/p/q?x=1&y=2", &t, &reason));
    EXPECT_EQ(t.path, "/p/q");
    EXPECT_EQ(t.query, "x=1&y=2");
    EXPECT_TRUE(t.authority.empty());

    ASSERT_TRUE(splitTarget("/only", &t, &reason));
    EXPECT_EQ(t.path, "/only");
    EXPECT_TRUE(t.query.empty());
}

TEST(SplitTarget, FragmentIsDropped) {
    TargetParts t;
    const char* reason = "";
    ASSERT_TRUE(splitTarget("/p?q=1#frag", &t, &reason));
    EXPECT_EQ(t.path, "/p");
    EXPECT_EQ(t.query, "q=1");
    ASSERT_TRUE(splitTarget("/p#frag?notquery", &t, &reason));
    EXPECT_EQ(t.path, "/p");
    EXPECT_TRUE(t.query.empty());
}

TEST(SplitTarget, AbsoluteFormHttpAndHttps) {
    TargetParts t;
    const char* reason = "";
    ASSERT_TRUE(splitTarget("http://Example.com:8080/a/b?c=d", &t, &reason));
    EXPECT_EQ(t.authority, "Example.com:8080");
    EXPECT_EQ(t.path, "/a/b");
    EXPECT_EQ(t.query, "c=d");

    ASSERT_TRUE(splitTarget("https://api.example.com/v1#x", &t, &reason));
    EXPECT_EQ(t.authority, "api.example.com");
    EXPECT_EQ(t.path, "/v1");
    EXPECT_TRUE(t.query.empty());

    ASSERT_TRUE(splitTarget("HTTP://h/", &t, &reason)) << "the scheme is case-insensitive";
    EXPECT_EQ(t.authority, "h");
    EXPECT_EQ(t.path, "/");
}

TEST(SplitTarget, AbsoluteFormWithoutPathMeansRoot) {
    TargetParts t;
    const char* reason = "";
    ASSERT_TRUE(splitTarget("http://h", &t, &reason));
    EXPECT_EQ(t.authority, "h");
    EXPECT_EQ(t.path, "/");
    EXPECT_TRUE(t.query.empty());

    ASSERT_TRUE(splitTarget("http://h:81?a=b#f", &t, &reason));
    EXPECT_EQ(t.authority, "h:81");
    EXPECT_EQ(t.path, "/");
    EXPECT_EQ(t.query, "a=b");
}

TEST(SplitTarget, RejectsAsteriskAndAuthorityForm) {
    TargetParts t;
    const char* reason = nullptr;
    EXPECT_FALSE(splitTarget("*", &t, &reason));
    ASSERT_NE(reason, nullptr);
    reason = nullptr;
    EXPECT_FALSE(splitTarget("example.com:443", &t, &reason));
    ASSERT_NE(reason, nullptr);
    EXPECT_FALSE(splitTarget("", &t, &reason));
}

TEST(SplitTarget, RejectsOtherSchemesAndBadAuthorities) {
    TargetParts t;
    const char* reason = "";
    EXPECT_FALSE(splitTarget("ftp://h/file", &t, &reason));
    EXPECT_FALSE(splitTarget("http:///path", &t, &reason)) << "empty authority";
    EXPECT_FALSE(splitTarget("http://user@h/", &t, &reason)) << "userinfo is not allowed";
}

TEST(SplitHostPort, HostAndPort) {
    std::string host;
    std::string_view port;
    ASSERT_TRUE(splitHostPort("example.com:8080", &host, &port));
    EXPECT_EQ(host, "example.com");
    EXPECT_EQ(port, "8080");

    ASSERT_TRUE(splitHostPort("example.com", &host, &port));
    EXPECT_EQ(host, "example.com");
    EXPECT_TRUE(port.empty());
}

TEST(SplitHostPort, LowercasesHost) {
    std::string host;
    std::string_view port;
    ASSERT_TRUE(splitHostPort("API.Example.COM:443", &host, &port));
    EXPECT_EQ(host, "api.example.com");
    EXPECT_EQ(port, "443");
}

TEST(SplitHostPort, Ipv6InBrackets) {
    std::string host;
    std::string_view port;
    ASSERT_TRUE(splitHostPort("[::1]:8000", &host, &port));
    EXPECT_EQ(host, "[::1]");
    EXPECT_EQ(port, "8000");

    ASSERT_TRUE(splitHostPort("[2001:DB8::1]", &host, &port));
    EXPECT_EQ(host, "[2001:db8::1]");
    EXPECT_TRUE(port.empty());
}

TEST(SplitHostPort, RejectsJunk) {
    std::string host;
    std::string_view port;
    EXPECT_FALSE(splitHostPort("", &host, &port));
    EXPECT_FALSE(splitHostPort(":80", &host, &port));
    EXPECT_FALSE(splitHostPort("h:8o", &host, &port));
    EXPECT_FALSE(splitHostPort("h:-1", &host, &port));
    EXPECT_FALSE(splitHostPort("[::1", &host, &port));
    EXPECT_FALSE(splitHostPort("[::1]80", &host, &port));
    EXPECT_FALSE(splitHostPort("[::1]:x", &host, &port));
    EXPECT_FALSE(splitHostPort("a b", &host, &port));
    EXPECT_FALSE(splitHostPort("user@h", &host, &port));
    EXPECT_FALSE(splitHostPort("h/p", &host, &port));
    EXPECT_FALSE(splitHostPort("h\x7f", &host, &port));
}

}  // namespace
}  // namespace gatehouse::http
