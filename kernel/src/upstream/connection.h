#pragma once

#include <Poco/Net/StreamSocket.h>

#include <cstdint>
#include <memory>

#include "http/parser.h"
#include "net/byte_buffer.h"
#include "net/event_loop.h"
#include "upstream/target.h"

namespace gatehouse::upstream {

class ConnectionPool;
class UpstreamConnection;

enum class UpstreamFailure {
    kConnectFailed,   // refused, unreachable: 502
    kConnectTimeout,  // 504
    kSendTimeout,     // 504
    kReadTimeout,     // 504
    kClosed,          // closed or reset before the response was complete: 502
    kBadResponse,     // not valid HTTP/1.x: 502
};

const char* describe(UpstreamFailure f);

/// The request currently using a connection. Callbacks run on the worker thread; the owner
/// may release or close the connection from inside any of them.
class ConnectionOwner {
public:
    /// Pending request bytes fell under the low watermark: more body may be queued.
    virtual void onUpstreamDrained(UpstreamConnection& c) = 0;
    virtual http::ParserSink::HeadAction onUpstreamHead(UpstreamConnection& c,
                                                        const http::HttpParser& parser,
                                                        const char* base) = 0;
    virtual void onUpstreamBody(const char* data, size_t len) = 0;
    virtual void onUpstreamChunkHeader(uint64_t size) = 0;
    virtual void onUpstreamChunkComplete() = 0;
    virtual void onUpstreamComplete(UpstreamConnection& c) = 0;
    /// Response bytes were handed over by the callbacks above (outside the parser): write
    /// them out. Called after each batch of reads that did not end the response.
    virtual void onUpstreamData(UpstreamConnection& c) = 0;
    virtual void onUpstreamFailure(UpstreamConnection& c, UpstreamFailure f) = 0;
    /// False while the client cannot take more response bytes (backpressure).
    virtual bool upstreamMayRead() = 0;

protected:
    ~ConnectionOwner() = default;
};

struct UpstreamTimeouts {
    uint32_t connectMs = 5000;
    uint32_t sendMs = 60000;
    uint32_t readMs = 60000;
};

/// One connection to an upstream target: non-blocking connect, request bytes out, response
/// parsed with llhttp and handed to the owner. Registered edge-triggered once; lives in the
/// worker's pool between requests.
class UpstreamConnection final : public net::IoHandler, private http::ParserSink {
public:
    static constexpr size_t kHighWatermark = 256 * 1024;
    static constexpr size_t kLowWatermark = 64 * 1024;

    /// Starts connecting; throws Poco::Exception when the attempt fails at once.
    UpstreamConnection(net::EventLoop& loop, std::shared_ptr<TargetState> target,
                       const http::HttpLimits& responseLimits);
    ~UpstreamConnection() override;

    /// Starts a request: `owner` receives the response. `expectBody` is false for HEAD.
    void attach(ConnectionOwner* owner, const UpstreamTimeouts& timeouts, bool headRequest);
    /// The owner lets go (it finished, or gave up on the connection).
    void detach();

    net::ByteBuffer& out() { return out_; }
    /// The owner has queued every request byte (read timeout starts once they are sent).
    void requestQueued();
    /// Writes what it can now.
    void flush();
    /// Reads again after the owner stopped it through upstreamMayRead().
    void resumeReading();
    /// Closes the socket now (the object is destroyed later by its holder).
    void close();

    bool reused() const { return requestsServed_ > 0; }
    bool responseStarted() const { return responseBytes_ > 0; }
    bool requestFullySent() const { return requestQueued_ && out_.empty(); }
    /// True after a complete response on a connection both sides keep alive.
    bool reusable() const { return reusable_; }
    size_t pendingOut() const { return out_.size(); }
    TargetState& target() { return *target_; }
    const std::shared_ptr<TargetState>& targetPtr() const { return target_; }
    int fd() const;

    // Pool bookkeeping.
    void parkIdle(ConnectionPool* pool, uint64_t idleDeadlineMs);
    void unpark();

    void onIo(uint32_t events) override;

private:
    HeadAction onHeadComplete() override;
    void onBody(const char* data, size_t len) override;
    void onChunkHeader(uint64_t size) override;
    void onChunkComplete() override;
    bool onMessageComplete() override;

    void readResponse();
    void completeResponse(bool extraBytes);
    void fail(UpstreamFailure f);
    void onTimer();
    void armTimer();

    net::EventLoop& loop_;
    std::shared_ptr<TargetState> target_;
    Poco::Net::StreamSocket socket_;
    http::HttpParser parser_;
    net::ByteBuffer in_;
    net::ByteBuffer out_;
    net::Timer timer_;
    size_t fed_ = 0;  // bytes of in_ already given to the parser (head incomplete)

    ConnectionOwner* owner_ = nullptr;
    ConnectionPool* pool_ = nullptr;  // set while idle
    UpstreamTimeouts timeouts_;
    uint64_t idleDeadline_ = 0;
    uint32_t requestsServed_ = 0;
    uint64_t responseBytes_ = 0;
    bool registered_ = false;
    bool connecting_ = true;
    bool readReady_ = false;
    bool pendingEof_ = false;  // EPOLLRDHUP seen: read until EOF even after a short read
    bool writeReady_ = false;
    bool requestQueued_ = false;
    bool headRequest_ = false;
    bool interim_ = false;  // parsing a 1xx response
    bool reusable_ = false;
    bool closed_ = false;
};

}  // namespace gatehouse::upstream
