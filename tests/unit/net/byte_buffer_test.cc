#include "net/byte_buffer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace gatehouse::net {
namespace {

std::string pattern(size_t n, int seed) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>((i * 31 + static_cast<size_t>(seed)) % 251);
    return s;
}

TEST(ByteBuffer, StartsEmpty) {
    ByteBuffer b;
    EXPECT_TRUE(b.empty());
    EXPECT_EQ(b.size(), 0u);
    EXPECT_EQ(b.capacity(), 0u);
    ByteBuffer sized(100);
    EXPECT_EQ(sized.capacity(), 100u);
    EXPECT_TRUE(sized.empty());
}

TEST(ByteBuffer, AppendAndConsume) {
    ByteBuffer b;
    b.append("hello ");
    b.append(std::string_view("world"));
    EXPECT_EQ(b.view(), "hello world");
    EXPECT_EQ(b.size(), 11u);
    b.consume(6);
    EXPECT_EQ(b.view(), "world");
    EXPECT_EQ(b.readOffset(), 6u) << "consume is O(1): it only moves the read position";
    b.consume(5);
    EXPECT_TRUE(b.empty());
    EXPECT_EQ(b.readOffset(), 0u) << "an emptied buffer rewinds";
}

TEST(ByteBuffer, OffsetsStayValidUntilCompact) {
    ByteBuffer b(64);
    b.append("0123456789");
    b.consume(4);
    const char* base = b.base();
    const size_t off = b.readOffset();
    b.append("abc");  // fits without moving
    EXPECT_EQ(b.base(), base);
    EXPECT_EQ(std::string_view(b.base() + off, b.size()), "456789abc");
}

TEST(ByteBuffer, CompactMovesUnreadBytesToFront) {
    ByteBuffer b(32);
    b.append("xxxxxpayload");
    b.consume(5);
    const size_t before = b.writable();
    b.compact();
    EXPECT_EQ(b.readOffset(), 0u);
    EXPECT_EQ(b.view(), "payload");
    EXPECT_EQ(b.writable(), before + 5);
    b.compact();  // no-op when already at the front
    EXPECT_EQ(b.view(), "payload");
}

TEST(ByteBuffer, PrepareReusesConsumedFrontBeforeGrowing) {
    ByteBuffer b(16);
    b.append("0123456789abcdef");  // full
    b.consume(10);
    char* w = b.prepare(8);  // 6 unread + 8 fits in 16 after compaction
    EXPECT_EQ(b.capacity(), 16u);
    EXPECT_EQ(b.view(), "abcdef");
    std::memcpy(w, "ghijklmn", 8);
    b.commit(8);
    EXPECT_EQ(b.view(), "abcdefghijklmn");
}

TEST(ByteBuffer, GrowthPreservesUnreadBytes) {
    ByteBuffer b;
    const std::string first = pattern(3000, 1);
    b.append(first);
    b.consume(1000);
    const std::string second = pattern(10000, 2);
    b.append(second);
    EXPECT_GE(b.capacity(), 12000u);
    EXPECT_EQ(b.view(), first.substr(1000) + second);
}

TEST(ByteBuffer, PrepareGivesAtLeastTheRequestedRoom) {
    ByteBuffer b;
    for (size_t n : {1u, 100u, 4096u, 5000u, 70000u}) {
        b.clear();
        b.append("keep");
        char* w = b.prepare(n);
        ASSERT_NE(w, nullptr);
        EXPECT_GE(b.writable(), n) << n;
        std::memset(w, 'z', n);
        b.commit(n);
        EXPECT_EQ(b.size(), n + 4);
        EXPECT_EQ(b.view().substr(0, 4), "keep");
        EXPECT_EQ(b.view().back(), 'z');
    }
}

TEST(ByteBuffer, ManySmallAppendsAndConsumesKeepTheStream) {
    ByteBuffer b(8);
    std::string expected, got;
    const std::string data = pattern(50000, 7);
    size_t in = 0;
    size_t step = 1;
    while (in < data.size() || !b.empty()) {
        const size_t n = std::min(step % 97 + 1, data.size() - in);
        if (n) {
            b.append(data.data() + in, n);
            in += n;
        }
        const size_t take = std::min(b.size(), step % 61 + 1);
        got.append(b.data(), take);
        b.consume(take);
        ++step;
    }
    EXPECT_EQ(got, data);
}

TEST(ByteBuffer, ReleaseFreesOnlyAnEmptyBuffer) {
    ByteBuffer b(128);
    b.append("x");
    b.release();
    EXPECT_EQ(b.capacity(), 128u);
    EXPECT_EQ(b.view(), "x");
    b.consume(1);
    b.release();
    EXPECT_EQ(b.capacity(), 0u);
    b.append("again");
    EXPECT_EQ(b.view(), "again");
}

TEST(ByteBuffer, ReserveKeepsContent) {
    ByteBuffer b(4);
    b.append("abcd");
    b.consume(1);
    b.reserve(1024);
    EXPECT_EQ(b.capacity(), 1024u);
    EXPECT_EQ(b.view(), "bcd");
    b.reserve(10);  // never shrinks
    EXPECT_EQ(b.capacity(), 1024u);
}

TEST(ByteBuffer, MoveTransfersContent) {
    ByteBuffer a;
    a.append("moved");
    ByteBuffer b(std::move(a));
    EXPECT_EQ(b.view(), "moved");
}

}  // namespace
}  // namespace gatehouse::net
