#include "observe/trace_context.h"

#include <gtest/gtest.h>

#include <string>

namespace gatehouse::observe {
namespace {

std::string hex(const uint8_t* p, size_t n) {
    std::string s(2 * n, '0');
    TraceContext::toHex(p, n, s.data());
    return s;
}

TEST(TraceContext, ReadsAValidTraceparent) {
    TraceContext t;
    ASSERT_TRUE(t.parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    EXPECT_EQ(hex(t.traceId, 16), "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(hex(t.parentSpanId, 8), "00f067aa0ba902b7");
    EXPECT_TRUE(t.sampled());
    EXPECT_TRUE(t.hasParent);
    TraceContext u;
    ASSERT_TRUE(u.parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
    EXPECT_FALSE(u.sampled());
}

TEST(TraceContext, RefusesMalformedValues) {
    const char* bad[] = {
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",       // no flags
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    // uppercase
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version ff
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // v00 with extra
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // separator
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",    // not hex
    };
    for (const char* v : bad) {
        TraceContext t;
        EXPECT_FALSE(t.parseTraceparent(v)) << v;
    }
}

TEST(TraceContext, LaterVersionsAreReadByTheirKnownFields) {
    TraceContext t;
    EXPECT_TRUE(
        t.parseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"));
    EXPECT_FALSE(
        t.parseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01future"));
}

TEST(TraceContext, FormatsTheGatewaysSpanAsTheParent) {
    TraceContext t;
    ASSERT_TRUE(t.parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    for (int i = 0; i < 8; ++i)
        t.spanId[i] = static_cast<uint8_t>(0x10 + i);
    char out[TraceContext::kTraceparentLength];
    t.formatTraceparent(out);
    EXPECT_EQ(std::string(out, sizeof out),
              "00-4bf92f3577b34da6a3ce929d0e0e4736-1011121314151617-01");
}

}  // namespace
}  // namespace gatehouse::observe
