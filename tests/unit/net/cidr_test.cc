#include "net/cidr.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gatehouse::net {
namespace {

using Poco::Net::IPAddress;

bool contains(const std::string& block, const std::string& addr) {
    auto c = Cidr::parse(block);
    EXPECT_TRUE(c.has_value()) << block;
    if (!c) return false;
    return c->contains(IPAddress(addr));
}

TEST(Cidr, Ipv4Blocks) {
    EXPECT_TRUE(contains("10.0.0.0/8", "10.1.2.3"));
    EXPECT_TRUE(contains("10.0.0.0/8", "10.255.255.255"));
    EXPECT_FALSE(contains("10.0.0.0/8", "11.0.0.0"));
    EXPECT_TRUE(contains("192.168.1.0/24", "192.168.1.77"));
    EXPECT_FALSE(contains("192.168.1.0/24", "192.168.2.1"));
}

TEST(Cidr, NonOctetPrefix) {
    EXPECT_TRUE(contains("172.16.0.0/12", "172.31.255.1"));
    EXPECT_FALSE(contains("172.16.0.0/12", "172.32.0.1"));
    EXPECT_TRUE(contains("10.0.0.128/25", "10.0.0.200"));
    EXPECT_FALSE(contains("10.0.0.128/25", "10.0.0.127"));
}

TEST(Cidr, HostBitsInTheBaseAreIgnored) {
    EXPECT_TRUE(contains("10.9.9.9/8", "10.1.1.1"));
}

TEST(Cidr, Ipv6Blocks) {
    EXPECT_TRUE(contains("2001:db8::/32", "2001:db8:1::5"));
    EXPECT_FALSE(contains("2001:db8::/32", "2001:db9::1"));
    EXPECT_TRUE(contains("fe80::/10", "febf::1"));
    EXPECT_FALSE(contains("fe80::/10", "fec0::1"));
}

TEST(Cidr, ZeroPrefixMatchesEveryAddressOfItsFamily) {
    EXPECT_TRUE(contains("0.0.0.0/0", "1.2.3.4"));
    EXPECT_TRUE(contains("0.0.0.0/0", "255.255.255.255"));
    EXPECT_TRUE(contains("::/0", "2001:db8::1"));
    EXPECT_FALSE(contains("::/0", "1.2.3.4"));
}

TEST(Cidr, SingleAddress) {
    EXPECT_TRUE(contains("127.0.0.1", "127.0.0.1"));
    EXPECT_FALSE(contains("127.0.0.1", "127.0.0.2"));
    EXPECT_TRUE(contains("10.0.0.5/32", "10.0.0.5"));
    EXPECT_FALSE(contains("10.0.0.5/32", "10.0.0.4"));
    EXPECT_TRUE(contains("::1", "::1"));
    EXPECT_FALSE(contains("::1", "::2"));
    EXPECT_TRUE(contains("::1/128", "::1"));
}

TEST(Cidr, Ipv4MappedClientMatchesIpv4Block) {
    EXPECT_TRUE(contains("10.0.0.0/8", "::ffff:10.2.3.4"));
    EXPECT_FALSE(contains("10.0.0.0/8", "::ffff:11.2.3.4"));
    EXPECT_TRUE(contains("127.0.0.1", "::ffff:127.0.0.1"));
}

TEST(Cidr, FamiliesDoNotMix) {
    EXPECT_FALSE(contains("10.0.0.0/8", "::1"));
    EXPECT_FALSE(contains("0.0.0.0/0", "::1"));
    EXPECT_FALSE(contains("::1/128", "127.0.0.1"));
    EXPECT_FALSE(contains("2000::/3", "10.0.0.1"));
}

TEST(Cidr, UnspecifiedIpv6BaseParses) {
    EXPECT_TRUE(Cidr::parse("::/0").has_value());
    EXPECT_TRUE(Cidr::parse("::").has_value());
}

TEST(Cidr, LegacyIpv4NotationsAreNotReinterpreted) {
    // inet_aton reads "010" as octal 8 and "0x0a" as hex: an operator who writes
    // trusted_proxies = 010.0.0.0/8 must not end up trusting 8.0.0.0/8.
    for (const char* text : {"010.0.0.0/8", "010.1.2.3"}) {
        auto c = Cidr::parse(text);
        if (c) {
            EXPECT_FALSE(c->contains(IPAddress("8.1.2.3")))
                << text << " parsed as " << c->toString();
        }
    }
    for (const char* bad : {"0x0a.0.0.1", "167772161", "10.1"})
        EXPECT_FALSE(Cidr::parse(bad).has_value()) << bad;
}

TEST(Cidr, RejectsMalformed) {
    for (const char* bad :
         {"", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/8x", "10.0.0.0/-1", "10.0.0/8",
          "300.0.0.1", "host.example", "10.0.0.0/8/8", "/8", "10.0.0.0 /8", "::g"}) {
        EXPECT_FALSE(Cidr::parse(bad).has_value()) << bad;
    }
}

TEST(Cidr, ToStringShowsPrefix) {
    EXPECT_EQ(Cidr::parse("10.0.0.0/8")->toString(), "10.0.0.0/8");
    EXPECT_EQ(Cidr::parse("::1")->toString(), "::1/128");
    EXPECT_EQ(Cidr::parse("1.2.3.4")->toString(), "1.2.3.4/32");
}

TEST(Cidr, AnyContains) {
    std::vector<Cidr> blocks = {*Cidr::parse("10.0.0.0/8"), *Cidr::parse("::1")};
    EXPECT_TRUE(anyContains(blocks, IPAddress("10.3.3.3")));
    EXPECT_TRUE(anyContains(blocks, IPAddress("::1")));
    EXPECT_FALSE(anyContains(blocks, IPAddress("192.168.0.1")));
    EXPECT_FALSE(anyContains({}, IPAddress("10.3.3.3")));
}

}  // namespace
}  // namespace gatehouse::net
