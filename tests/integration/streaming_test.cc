// Bodies stream through the gateway in both directions without being buffered whole.

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <Poco/DigestEngine.h>
#include <Poco/SHA2Engine.h>

#include <atomic>
#include <thread>

#include "harness.h"

namespace gatehouse::test {
namespace {

constexpr size_t k100MB = 100'000'000;

/// Samples a process's RSS on a thread and keeps the peak.
class RssWatcher {
public:
    explicit RssWatcher(pid_t pid) : pid_(pid), baseline_(rssKiB(pid)) {
        thread_ = std::thread([this] {
            while (!stop_) {
                peak_ = std::max(peak_.load(), rssKiB(pid_));
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
        });
    }
    ~RssWatcher() {
        stop_ = true;
        thread_.join();
    }
    long growthKiB() const { return peak_ - baseline_; }

private:
    pid_t pid_;
    long baseline_;
    std::atomic<long> peak_{0};
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

Gateway::Options bigBodies() {
    Gateway::Options o;
    o.extraIni = "[limits]\nmax_body_bytes = 200000000\n";
    return o;
}

TEST(Streaming, HundredMegabyteUploadWithBoundedMemory) {
    Upstream up;
    Gateway gw(simpleConfig(up.address()), bigBodies());
    RssWatcher rss(gw.process().pid());

    Connection c(gw.port(), std::chrono::seconds(120));
    c.send("PUT /upload HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(k100MB) +
           "\r\n\r\n");
    Poco::SHA2Engine sha(Poco::SHA2Engine::SHA_256);
    std::string block(64 * 1024, '\0');
    for (size_t i = 0; i < block.size(); ++i)
        block[i] = static_cast<char>('a' + i % 26);
    size_t sent = 0;
    while (sent < k100MB) {
        const size_t n = std::min(block.size(), k100MB - sent);
        ASSERT_TRUE(c.send(std::string_view(block.data(), n)));
        sha.update(block.data(), n);
        sent += n;
    }
    Response r = c.read();
    ASSERT_EQ(r.status, 200);
    auto echo = r.json();
    EXPECT_EQ(echo->getValue<size_t>("body_bytes"), k100MB);
    EXPECT_EQ(echo->getValue<std::string>("body_sha256"),
              Poco::DigestEngine::digestToHex(sha.digest()));
    EXPECT_LT(rss.growthKiB(), 20 * 1024) << "the gateway buffered the body";
}

TEST(Streaming, HundredMegabyteChunkedUpload) {
    Upstream up;
    Gateway gw(simpleConfig(up.address()), bigBodies());
    RssWatcher rss(gw.process().pid());
    Connection c(gw.port(), std::chrono::seconds(120));
    c.send("POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    const std::string piece(100'000, 'c');
    const std::string chunk = "186a0\r\n" + piece + "\r\n";
    for (int i = 0; i < 1000; ++i)
        ASSERT_TRUE(c.send(chunk));
    c.send("0\r\n\r\n");
    Response r = c.read();
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.json()->getValue<size_t>("body_bytes"), k100MB);
    EXPECT_LT(rss.growthKiB(), 20 * 1024);
}

TEST(Streaming, HundredMegabyteDownloadToASlowReaderWithBoundedMemory) {
    Upstream up;
    Gateway gw(simpleConfig(up.address()));
    RssWatcher rss(gw.process().pid());
    Connection c(gw.port(), std::chrono::seconds(120));
    c.send(makeRequest("GET", "/bytes/" + std::to_string(k100MB)));
    // Read the head, then the body slowly at first: the gateway must stop reading from the
    // upstream rather than queue the body in memory.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    size_t total = 0;
    char buf[256 * 1024];
    std::string head;
    size_t headEnd = std::string::npos;
    while (headEnd == std::string::npos) {
        const ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
        ASSERT_GT(n, 0);
        head.append(buf, static_cast<size_t>(n));
        headEnd = head.find("\r\n\r\n");
    }
    ASSERT_EQ(head.rfind("HTTP/1.1 200", 0), 0u);
    ASSERT_NE(head.find("Content-Length: 100000000"), std::string::npos);
    total = head.size() - headEnd - 4;
    while (total < k100MB) {
        const ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
        ASSERT_GT(n, 0);
        total += static_cast<size_t>(n);
    }
    EXPECT_EQ(total, k100MB);
    EXPECT_LT(rss.growthKiB(), 20 * 1024) << "the gateway buffered the response";
}

}  // namespace
}  // namespace gatehouse::test
