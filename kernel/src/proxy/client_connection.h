#pragma once

#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>

#include <cstdint>
#include <memory>
#include <string>

#include "config/snapshot.h"
#include "http/message.h"
#include "http/parser.h"
#include "net/byte_buffer.h"
#include "net/event_loop.h"
#include "proxy/forwarding.h"
#include "proxy/worker.h"
#include "upstream/connection.h"

namespace gatehouse::proxy {

class Worker;

/// One request in flight on a client connection (at most one: pipelined requests wait).
struct Exchange {
    SnapshotRef snapshot;  // pinned for the whole request
    http::RequestHead req;
    http::ResponseHead resp;
    char requestIdBuf[64] = {};
    std::string_view requestId;
    const router::CompiledRoute* route = nullptr;
    // The pinned snapshot keeps the target alive; the shared_ptr is copied only when a new
    // upstream connection (which may outlive the snapshot in the pool) is made.
    const std::shared_ptr<upstream::TargetState>* target = nullptr;
    upstream::UpstreamTimeouts timeouts;
    std::unique_ptr<upstream::UpstreamConnection> up;
    std::string upstreamHead;  // kept for the one retry on a fresh connection

    bool requestDone = false;      // the client's request is fully read
    bool bodyDiscard = false;      // request body read and dropped (local response)
    bool responseStarted = false;  // response head queued to the client
    bool responseDone = false;     // every response byte queued to the client
    bool closeAfter = false;       // close the client connection after this response
    bool reusedConnection = false;
    bool retried = false;
    bool targetCounted = false;
    bool inRequestChunk = false;
    bool inResponseChunk = false;
    ClientFraming clientFraming = ClientFraming::kNone;
    int status = 0;
    uint64_t startUs = 0;
};

/// A downstream HTTP/1.1 connection: reads and parses requests, routes each, streams it to
/// an upstream connection and streams the response back. Worker thread only.
class ClientConnection final : public net::IoHandler,
                               private http::ParserSink,
                               private upstream::ConnectionOwner {
public:
    ClientConnection(Worker& worker, Poco::Net::StreamSocket socket,
                     const Poco::Net::SocketAddress& peer);
    ~ClientConnection() override;
    ClientConnection(const ClientConnection&) = delete;
    ClientConnection& operator=(const ClientConnection&) = delete;

    /// Registers with the loop; false when that fails (the caller drops the connection).
    bool start();
    void onIo(uint32_t events) override;
    /// Worker draining: closes now when idle, else after the current response.
    void drain();
    /// Closes at once (drain deadline, shutdown).
    void closeNow();

    // The worker's intrusive list.
    ClientConnection* prev = nullptr;
    ClientConnection* next = nullptr;

private:
    enum class Phase : uint8_t { kIdle, kHead, kActive, kLingering, kClosed };
    static constexpr size_t kOutHighWatermark = 256 * 1024;
    static constexpr size_t kOutLowWatermark = 64 * 1024;

    // Driving
    void schedule();
    void pump();
    bool step();
    bool readInput();
    bool parseInput();
    bool afterExecute(http::HttpParser::Result r, size_t consumed);
    bool flushOut();
    bool finishExchangeIfDone();
    void onPeerEof();
    void startLingeringClose();
    void onTimer();
    uint64_t deadline() const;
    void rearmTimer();

    // Requests
    HeadAction onHeadComplete() override;
    void onBody(const char* data, size_t len) override;
    void onChunkHeader(uint64_t size) override;
    void onChunkComplete() override;
    bool onMessageComplete() override;
    void beginExchange();
    bool validateRequest(int* status, const char** reason);
    void route();
    void dispatch(bool fresh);
    void respondLocal(int status, std::string_view message, bool close);
    void releaseUpstream(bool reuse);
    bool bodyBlocked() const;
    const config::RuntimeSettings& settings() const;

    // Upstream side (ConnectionOwner)
    void onUpstreamDrained(upstream::UpstreamConnection& c) override;
    HeadAction onUpstreamHead(upstream::UpstreamConnection& c, const http::HttpParser& parser,
                              const char* base) override;
    void onUpstreamBody(const char* data, size_t len) override;
    void onUpstreamChunkHeader(uint64_t size) override;
    void onUpstreamChunkComplete() override;
    void onUpstreamComplete(upstream::UpstreamConnection& c) override;
    void onUpstreamData(upstream::UpstreamConnection& c) override;
    void onUpstreamFailure(upstream::UpstreamConnection& c, upstream::UpstreamFailure f) override;
    bool upstreamMayRead() override;

    Worker& worker_;
    Poco::Net::StreamSocket socket_;
    int fd_;
    std::string clientIp_;
    Poco::Net::IPAddress clientAddr_;
    bool trustedPeer_ = false;

    http::HttpParser parser_;
    net::ByteBuffer in_;
    net::ByteBuffer out_;
    size_t fed_ = 0;  // bytes of in_ given to the parser while the head is incomplete
    std::unique_ptr<Exchange> ex_;
    net::Timer timer_;

    Phase phase_ = Phase::kIdle;
    bool registered_ = false;
    bool readReady_ = false;
    bool pendingEof_ = false;  // EPOLLRDHUP seen: read until EOF even after a short read
    bool writeReady_ = true;
    bool peerEof_ = false;
    bool shutdownSent_ = false;
    bool inPump_ = false;
    bool again_ = false;
    bool outPending_ = false;  // out_ was non-empty when the timer was last armed
    uint32_t requestsServed_ = 0;
    uint64_t phaseSinceMs_ = 0;  // start of the idle / head / lingering phase
    uint64_t lastReadMs_ = 0;
    uint64_t lastWriteMs_ = 0;
};

}  // namespace gatehouse::proxy
