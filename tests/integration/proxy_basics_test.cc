// The request path end to end: forwarding, the headers the gateway owns, hop-by-hop removal,
// keep-alive on both sides, pipelining, framing conversions.

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <Poco/JSON/Array.h>

#include "harness.h"

namespace gatehouse::test {
namespace {

class ProxyBasics : public ::testing::Test {
protected:
    Upstream upstream_{"alpha"};
    Gateway gw_{simpleConfig(upstream_.address())};
};

TEST_F(ProxyBasics, ForwardsMethodPathQueryAndBody) {
    Response r = roundTrip(gw_.port(), "POST", "/items/7?x=1&y=%20",
                           {{"Content-Type", "text/plain"}}, "hello");
    ASSERT_EQ(r.status, 200);
    auto echo = r.json();
    EXPECT_EQ(echo->getValue<std::string>("id"), "alpha");
    EXPECT_EQ(echo->getValue<std::string>("method"), "POST");
    EXPECT_EQ(echo->getValue<std::string>("uri"), "/items/7?x=1&y=%20");
    EXPECT_EQ(echo->getValue<int>("body_bytes"), 5);
    EXPECT_EQ(r.echoedHeader("content-type"), "text/plain");
    EXPECT_EQ(r.header("X-Upstream-Id"), "alpha");
}

TEST_F(ProxyBasics, GatewayErrorsAreJsonWithRequestId) {
    Response r = roundTrip(gw_.port(), "GET", "/%2e%2e/%2Fetc");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.header("Content-Type"), "application/json");
    auto body = r.json();
    EXPECT_EQ(body->getValue<int>("status"), 400);
    EXPECT_FALSE(body->getValue<std::string>("error").empty());
    EXPECT_EQ(body->getValue<std::string>("request_id"),
              r.header("X-Request-Id").value_or("missing"));
}

TEST_F(ProxyBasics, SetsForwardedHeadersAndReplacesClientCopies) {
    Response r = roundTrip(gw_.port(), "GET", "/fw",
                           {{"Host", "shop.example.com:8443"},
                            {"X-Forwarded-For", "6.6.6.6"},
                            {"X-Forwarded-Proto", "https"},
                            {"X-Forwarded-Host", "evil.example"},
                            {"X-Request-Id", "client-chosen"}});
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.echoedHeader("x-forwarded-for"), "127.0.0.1");
    EXPECT_EQ(r.echoedHeader("x-forwarded-proto"), "http");
    EXPECT_EQ(r.echoedHeader("x-forwarded-host"), "shop.example.com:8443");
    EXPECT_EQ(r.echoedHeader("x-forwarded-port"), std::to_string(gw_.port()));
    // An untrusted client cannot choose the request id; the upstream and the client see ours.
    const auto id = r.echoedHeader("x-request-id");
    ASSERT_TRUE(id.has_value());
    EXPECT_NE(*id, "client-chosen");
    EXPECT_EQ(id->size(), 36u);
    EXPECT_EQ(r.header("X-Request-Id"), id);
    // Host upstream is the target's address unless the route preserves it.
    EXPECT_EQ(r.echoedHeader("host"), upstream_.address());
    // Exactly one copy of each gateway-owned header reached the upstream.
    size_t xff = 0;
    auto headers = r.json()->getArray("headers");
    for (size_t i = 0; i < headers->size(); ++i)
        if (headers->getArray(static_cast<unsigned>(i))->getElement<std::string>(0) ==
            "X-Forwarded-For")
            ++xff;
    EXPECT_EQ(xff, 1u);
}

TEST(ProxyTrust, TrustedPeerForwardedHeadersAreKeptAndAppended) {
    Upstream up;
    Gateway::Options o;
    o.extraIni = "[proxy]\ntrusted_proxies = 127.0.0.0/8\n";
    Gateway gw(simpleConfig(up.address()), o);
    Response r = roundTrip(gw.port(), "GET", "/",
                           {{"X-Forwarded-For", "203.0.113.9"},
                            {"X-Forwarded-Proto", "https"},
                            {"X-Request-Id", "edge-1234"}});
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.echoedHeader("x-forwarded-for"), "203.0.113.9, 127.0.0.1");
    EXPECT_EQ(r.echoedHeader("x-forwarded-proto"), "https");
    EXPECT_EQ(r.echoedHeader("x-request-id"), "edge-1234");
    EXPECT_EQ(r.header("X-Request-Id"), "edge-1234");
}

TEST_F(ProxyBasics, RemovesHopByHopRequestHeaders) {
    Response r = roundTrip(gw_.port(), "GET", "/hop",
                           {{"Connection", "keep-alive, X-Private"},
                            {"X-Private", "secret"},
                            {"Keep-Alive", "timeout=5"},
                            {"TE", "trailers"},
                            {"Trailer", "X-T"},
                            {"Upgrade", "websocket"},
                            {"Proxy-Connection", "keep-alive"},
                            {"Proxy-Authorization", "Basic Zm9vOmJhcg=="},
                            {"X-Kept", "yes"}});
    ASSERT_EQ(r.status, 200);
    for (const char* h : {"connection", "x-private", "keep-alive", "te", "trailer", "upgrade",
                          "proxy-connection", "proxy-authorization"})
        EXPECT_FALSE(r.echoedHeader(h).has_value()) << h << " reached the upstream";
    EXPECT_EQ(r.echoedHeader("x-kept"), "yes");
}

TEST_F(ProxyBasics, RemovesHopByHopResponseHeaders) {
    Response r =
        roundTrip(gw_.port(), "GET",
                  "/headers?set=Connection:X-Internal&set=X-Internal:1&set=Keep-Alive:timeout%3D5"
                  "&set=Proxy-Connection:x&set=X-Public:2");
    ASSERT_EQ(r.status, 200);
    EXPECT_FALSE(r.header("X-Internal").has_value());
    EXPECT_FALSE(r.header("Keep-Alive").has_value());
    EXPECT_FALSE(r.header("Proxy-Connection").has_value());
    EXPECT_EQ(r.header("X-Public"), "2");
}

TEST_F(ProxyBasics, KeepAliveOnBothSides) {
    Connection c(gw_.port());
    std::string firstPeer;
    for (int i = 0; i < 20; ++i) {
        ASSERT_TRUE(c.send(makeRequest("GET", "/ka/" + std::to_string(i))));
        Response r = c.read();
        ASSERT_EQ(r.status, 200);
        EXPECT_TRUE(r.keepAlive);
        auto echo = r.json();
        EXPECT_EQ(echo->getValue<std::string>("path"), "/ka/" + std::to_string(i));
        // One upstream connection served every request: the pool reused it.
        if (i == 0) firstPeer = echo->getValue<std::string>("peer");
        EXPECT_EQ(echo->getValue<std::string>("peer"), firstPeer);
        EXPECT_EQ(echo->getValue<int>("connection_requests"), i + 1);
    }
}

TEST_F(ProxyBasics, PipelinedRequestsAnsweredInOrder) {
    Connection c(gw_.port());
    std::string batch;
    for (int i = 0; i < 5; ++i)
        batch += makeRequest("GET", "/p/" + std::to_string(i));
    batch += makeRequest("POST", "/p/body", {}, "twelve bytes");
    ASSERT_TRUE(c.send(batch));
    for (int i = 0; i < 5; ++i) {
        Response r = c.read();
        ASSERT_EQ(r.status, 200);
        EXPECT_EQ(r.json()->getValue<std::string>("path"), "/p/" + std::to_string(i));
    }
    Response last = c.read();
    EXPECT_EQ(last.json()->getValue<int>("body_bytes"), 12);
}

TEST_F(ProxyBasics, Http10ClientGetsCloseDelimitedOrLengthFramedResponses) {
    Connection c(gw_.port());
    c.send("GET /stream/5000?chunk=100 HTTP/1.0\r\nHost: a\r\n\r\n");
    Response r = c.read();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, std::string(5000, 'y'));
    EXPECT_FALSE(r.chunked);  // an HTTP/1.0 client cannot be sent chunked
    EXPECT_TRUE(c.closedByPeer());

    Connection k(gw_.port());
    k.send("GET /ka HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n");
    Response r1 = k.read();
    EXPECT_EQ(r1.status, 200);
    EXPECT_EQ(r1.header("Connection"), "keep-alive");
    k.send("GET /ka2 HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n");
    EXPECT_EQ(k.read().status, 200);
}

TEST_F(ProxyBasics, ChunkedRequestBodyReachesUpstream) {
    Connection c(gw_.port());
    c.send(
        "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n");
    Response r = c.read();
    ASSERT_EQ(r.status, 200);
    auto echo = r.json();
    EXPECT_EQ(echo->getValue<int>("body_bytes"), 11);
    EXPECT_TRUE(echo->getValue<bool>("chunked_request"));
    // sha256("hello world")
    EXPECT_EQ(echo->getValue<std::string>("body_sha256"),
              "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
}

TEST_F(ProxyBasics, ChunkedAndCloseDelimitedResponsesArriveChunked) {
    Connection c(gw_.port());
    c.send(makeRequest("GET", "/bytes/70000?chunked=1"));
    Response chunked = c.read();
    EXPECT_TRUE(chunked.chunked);
    EXPECT_EQ(chunked.body, std::string(70000, 'x'));
    c.send(makeRequest("GET", "/until-close/3000"));
    Response untilClose = c.read();
    EXPECT_TRUE(untilClose.chunked);  // re-framed, so the client connection stays usable
    EXPECT_EQ(untilClose.body, std::string(3000, 'z'));
    c.send(makeRequest("GET", "/after"));
    EXPECT_EQ(c.read().status, 200);
}

TEST_F(ProxyBasics, HeadAndNoContentResponsesHaveNoBody) {
    Connection c(gw_.port());
    c.send(makeRequest("HEAD", "/bytes/1234"));
    Response head = c.read(/*headRequest=*/true);
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.header("Content-Length"), "1234");
    EXPECT_TRUE(head.body.empty());
    c.send(makeRequest("GET", "/status/204"));
    Response nc = c.read();
    EXPECT_EQ(nc.status, 204);
    EXPECT_TRUE(nc.body.empty());
    // The connection is still in sync after both.
    c.send(makeRequest("GET", "/sync"));
    EXPECT_EQ(c.read().json()->getValue<std::string>("path"), "/sync");
}

TEST_F(ProxyBasics, ExpectContinueIsAnsweredByTheGateway) {
    Connection c(gw_.port());
    c.send("PUT /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    // The interim 100 arrives before we send the body (read() skips it and waits for the
    // final response, so send the body first only after checking the raw bytes).
    char buf[64] = {};
    ASSERT_GT(::recv(c.fd(), buf, sizeof buf - 1, 0), 0);
    EXPECT_EQ(std::string(buf).rfind("HTTP/1.1 100 Continue\r\n\r\n", 0), 0u);
    c.send("data");
    Response r = c.read();
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.json()->getValue<int>("body_bytes"), 4);
    EXPECT_FALSE(r.echoedHeader("expect").has_value());
}

TEST_F(ProxyBasics, UpstreamStatusesPassThrough) {
    for (int code : {201, 301, 404, 418, 500, 503}) {
        Response r = roundTrip(gw_.port(), "GET", "/status/" + std::to_string(code));
        EXPECT_EQ(r.status, code);
        EXPECT_EQ(r.header("X-Upstream-Id"), "alpha");
    }
}

}  // namespace
}  // namespace gatehouse::test
