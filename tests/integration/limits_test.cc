// Bad input gets a precise status and never reaches the upstream: framing rules, limits,
// timeouts, path normalization, and upstream failures mapped to 502/504.

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "harness.h"

namespace gatehouse::test {
namespace {

int upstreamRequests(uint16_t gatewayPort) {
    // The echo upstream's own counter, read through the gateway's catch-all route.
    return roundTrip(gatewayPort, "GET", "/stats").json()->getValue<int>("requests");
}

class Limits : public ::testing::Test {
protected:
    static Gateway::Options small() {
        Gateway::Options o;
        o.extraIni =
            "[limits]\nmax_request_line = 1024\nmax_header_bytes = 2048\nmax_header_count = 20\n"
            "max_body_bytes = 1000\nheader_timeout_ms = 600\nbody_timeout_ms = 600\n";
        return o;
    }
    Upstream upstream_;
    Gateway gw_{simpleConfig(upstream_.address()), small()};

    /// Sends raw bytes on a fresh connection; returns the response and whether the gateway
    /// then closed the connection.
    std::pair<Response, bool> raw(const std::string& bytes) {
        Connection c(gw_.port());
        c.send(bytes);
        Response r = c.read();
        return {r, c.closedByPeer(std::chrono::seconds(3))};
    }
};

TEST_F(Limits, ContentLengthWithTransferEncodingIs400AndNeverForwarded) {
    const int before = upstreamRequests(gw_.port());
    auto [r, closed] =
        raw("POST /smuggle HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n"
            "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_EQ(r.status, 400);
    EXPECT_TRUE(closed);
    EXPECT_EQ(upstreamRequests(gw_.port()), before + 1);  // only the /stats call itself
}

TEST_F(Limits, TransferEncodingOtherThanChunked) {
    EXPECT_EQ(raw("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc").first.status,
              400);
    EXPECT_EQ(raw("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
                  .first.status,
              501);
}

TEST_F(Limits, MalformedFramingAndFields) {
    EXPECT_EQ(
        raw("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd")
            .first.status,
        400);
    EXPECT_EQ(raw("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n").first.status, 400);
    EXPECT_EQ(raw("GET / HTTP/1.1\r\nHost: a\r\nX-Fold: a\r\n b\r\n\r\n").first.status, 400);
    EXPECT_EQ(raw("GET / HTTP/1.1\r\nHost: a\r\nX-Space : b\r\n\r\n").first.status, 400);
    EXPECT_EQ(raw("GET / HTTP/1.1\r\nHost: a\r\nX-Bare: a\nX-B: c\r\n\r\n").first.status, 400);
    EXPECT_EQ(raw(std::string("GET / HTTP/1.1\r\nHost: a\r\nX-Nul: a\0b\r\n\r\n", 38)).first.status,
              400);
    EXPECT_EQ(raw("GET / HTTP/1.1\r\n\r\n").first.status, 400);  // no Host
    EXPECT_EQ(raw("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").first.status, 400);
    EXPECT_EQ(raw("GET / HTTP/1.2\r\nHost: a\r\n\r\n").first.status, 505);
    EXPECT_EQ(raw("GET / HTTP/2.0\r\nHost: a\r\n\r\n").first.status, 505);
    EXPECT_EQ(raw("BREW / HTTP/1.1\r\nHost: a\r\n\r\n").first.status, 400);
    EXPECT_EQ(raw("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n").first.status, 405);
    EXPECT_EQ(raw("GET / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n").first.status, 417);
}

TEST_F(Limits, PathNormalization) {
    EXPECT_EQ(raw("GET /a%2Fb HTTP/1.1\r\nHost: a\r\n\r\n").first.status, 400);
    EXPECT_EQ(raw("GET /a%5cb HTTP/1.1\r\nHost: a\r\n\r\n").first.status, 400);
    EXPECT_EQ(raw("GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n").first.status, 400);
    EXPECT_EQ(raw("GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n").first.status, 400);
    Response ok = roundTrip(gw_.port(), "GET", "/a/./b/../%63//d/%7e%41?q=%2F");
    ASSERT_EQ(ok.status, 200);
    // Unreserved escapes decoded, dot segments removed, slashes merged; the query is untouched.
    EXPECT_EQ(ok.json()->getValue<std::string>("uri"), "/a/c/d/~A?q=%2F");
}

TEST_F(Limits, RequestLineTooLongIs414) {
    auto [r, closed] = raw("GET /" + std::string(2000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_EQ(r.status, 414);
    EXPECT_TRUE(closed);
}

TEST_F(Limits, HeaderBlockTooLargeOrTooManyIs431) {
    EXPECT_EQ(raw("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(3000, 'b') + "\r\n\r\n")
                  .first.status,
              431);
    std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 25; ++i)
        many += "X-H" + std::to_string(i) + ": v\r\n";
    EXPECT_EQ(raw(many + "\r\n").first.status, 431);
}

TEST_F(Limits, BodyTooLargeIs413BeforeReadingIt) {
    const int before = upstreamRequests(gw_.port());
    // Content-Length says too much: refused before a single body byte is read.
    auto [r, closed] = raw("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n");
    EXPECT_EQ(r.status, 413);
    EXPECT_TRUE(closed);
    // A chunked body is counted as it streams.
    Connection c(gw_.port());
    c.send("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; ++i)
        c.send("190\r\n" + std::string(400, 'q') + "\r\n");
    c.send("0\r\n\r\n");
    Response chunked = c.read();
    EXPECT_EQ(chunked.status, 413);
    EXPECT_LE(upstreamRequests(gw_.port()), before + 2);
}

TEST_F(Limits, SlowHeadersGet408) {
    Connection c(gw_.port());
    c.send("GET / HTTP/1.1\r\nHost: a\r\n");  // never finished
    Response r = c.read();
    EXPECT_EQ(r.status, 408);
    EXPECT_TRUE(c.closedByPeer());
}

TEST_F(Limits, DribbledHeadersStillTimeOut) {
    // A header timeout that restarted on every byte would let this connection live forever.
    Connection c(gw_.port());
    std::atomic<bool> stop{false};
    const auto start = std::chrono::steady_clock::now();
    std::thread dribble([&] {
        const std::string head = "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ";
        for (char ch : head + std::string(100, 'x')) {
            if (stop || !c.send(std::string(1, ch))) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(40));
        }
    });
    Response r = c.read();
    const auto elapsed = std::chrono::steady_clock::now() - start;
    stop = true;
    dribble.join();
    EXPECT_EQ(r.status, 408);
    EXPECT_LT(elapsed, std::chrono::seconds(2));  // header_timeout_ms = 600, from the first byte
}

TEST_F(Limits, StalledBodyGets408) {
    Connection c(gw_.port());
    c.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly part");
    Response r = c.read();
    EXPECT_EQ(r.status, 408);
}

TEST_F(Limits, UnknownRouteIs404AndConnectionStaysUsable) {
    Gateway gw(simpleConfig(upstream_.address(),
                            R"({"name":"api","match":{"paths":["/api"]},"upstream":"u"})"));
    Connection c(gw.port());
    c.send(makeRequest("POST", "/nowhere", {}, "body that is discarded"));
    Response r = c.read();
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(r.json()->getValue<std::string>("error"), "no route matched");
    c.send(makeRequest("GET", "/api/x"));
    EXPECT_EQ(c.read().status, 200);
}

TEST(UpstreamFailures, RefusedConnectionIs502) {
    std::string address;
    {
        Upstream gone;
        address = gone.address();
    }  // stopped: the port now refuses
    Gateway gw(simpleConfig(address));
    Response r = roundTrip(gw.port(), "GET", "/");
    EXPECT_EQ(r.status, 502);
    EXPECT_EQ(r.json()->getValue<int>("status"), 502);
}

TEST(UpstreamFailures, GarbageResponseIs502) {
    Upstream garbage("g", "garbage");
    Gateway gw(simpleConfig(garbage.address()));
    EXPECT_EQ(roundTrip(gw.port(), "GET", "/").status, 502);
}

TEST(UpstreamFailures, ClosedWithoutResponseIs502) {
    Upstream closer("c", "close");
    Gateway gw(simpleConfig(closer.address()));
    EXPECT_EQ(roundTrip(gw.port(), "GET", "/").status, 502);
}

TEST(UpstreamFailures, SilentUpstreamIs504AfterReadTimeout) {
    Upstream silent("s", "silent");
    Gateway::Options o;
    o.extraIni = "[upstream]\nread_timeout_ms = 500\n";
    Gateway gw(simpleConfig(silent.address()), o);
    const auto start = std::chrono::steady_clock::now();
    Response r = roundTrip(gw.port(), "GET", "/");
    EXPECT_EQ(r.status, 504);
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(450));
}

TEST(UpstreamFailures, PerRouteTimeoutOverridesDefault) {
    Upstream up;
    Gateway gw(simpleConfig(
        up.address(),
        R"({"name":"slow","match":{"paths":["/delay"]},"upstream":"u","timeouts":{"read_ms":300}},)"
        R"({"name":"rest","match":{"paths":["/"]},"upstream":"u"})"));
    EXPECT_EQ(roundTrip(gw.port(), "GET", "/delay/1000").status, 504);
    EXPECT_EQ(roundTrip(gw.port(), "GET", "/other").status, 200);
}

TEST(UpstreamFailures, ConnectTimeoutIs504) {
    // A listener whose accept queue is full and never drained: further SYNs are dropped, so a
    // connect neither succeeds nor fails until the gateway gives up.
    const int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(lfd, 0), 0);
    socklen_t len = sizeof a;
    ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
    std::vector<int> fillers;
    for (int i = 0; i < 4; ++i) {
        const int f = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        ::connect(f, reinterpret_cast<sockaddr*>(&a), sizeof a);
        fillers.push_back(f);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));

    Gateway::Options o;
    o.extraIni = "[upstream]\nconnect_timeout_ms = 400\n";
    Gateway gw(simpleConfig("127.0.0.1:" + std::to_string(ntohs(a.sin_port))), o);
    const auto start = std::chrono::steady_clock::now();
    Response r = roundTrip(gw.port(), "GET", "/");
    EXPECT_EQ(r.status, 504);
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(350));
    for (int f : fillers)
        ::close(f);
    ::close(lfd);
}

}  // namespace
}  // namespace gatehouse::test
