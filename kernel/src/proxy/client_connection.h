#pragma once

#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>

#include <cstdint>
#include <memory>
#include <string>

#include "http/message.h"
#include "http/parser.h"
#include "net/byte_buffer.h"
#include "net/event_loop.h"
#include "plugins/host_api.h"
#include "proxy/exchange.h"
#include "proxy/plugin_runner.h"
#include "upstream/connection.h"

namespace gatehouse::proxy {

class Worker;

/// A downstream HTTP/1.1 connection: reads and parses requests, routes each, runs its
/// route's plugin chain, streams it to an upstream connection and streams the response
/// back. Worker thread only.
class ClientConnection final : public net::IoHandler,
                               private http::ParserSink,
                               private upstream::ConnectionOwner,
                               private plugins::RequestAccess {
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
    /// A plugin's resumer fired (posted to this worker): continue the paused phase.
    void resumePlugins(const ResumeToken* token);

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
    void endExchange();
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
    void startTrace(Exchange& ex, const config::RuntimeSettings& s);
    /// Records a finished (or abandoned) exchange in the metrics and, when sampled, as a span.
    void observeExchange(Exchange& ex);
    bool validateRequest(int* status, const char** reason);
    void route();
    void runRequestPlugins();
    void proceedUpstream();
    void dispatch(bool fresh);
    void sendContinue();
    net::ByteBuffer& requestSink();
    void releaseUpstream(bool reuse);
    bool bodyBlocked() const;
    const config::RuntimeSettings& settings() const;

    // Responses
    /// An error made by the gateway: before the route's plugins saw the request it is
    /// written at once; after, it goes through their on_response like any response.
    void respondLocal(int status, std::string_view message, bool close);
    void respondFromPlugin();
    void setLocalResponse(int status, std::string_view contentType, std::string body,
                          std::vector<std::pair<std::string, std::string>> headers = {});
    /// The response head is known (upstream or local): run on_response if needed, then emit.
    void startResponse(bool local);
    void runResponsePlugins();
    void emitResponseHead();
    void emitBody(const char* data, size_t len);
    void completeResponse();

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

    // What plugins see of the current exchange (plugins::RequestAccess)
    std::string_view method() override;
    std::string_view path() override;
    std::string_view query() override;
    std::string_view host() override;
    std::string_view scheme() override;
    std::string_view clientAddress() override;
    std::string_view routeName() override;
    std::string_view requestId() override;
    int status() override;
    bool setStatus(int status) override;
    http::HeaderList* headers(int which, bool forWriting) override;
    bool setPath(std::string_view path) override;
    bool setQuery(std::string_view query) override;
    std::string* body(int which, bool forWriting) override;
    bool respond(int status, std::vector<std::pair<std::string, std::string>> headers,
                 std::string body) override;
    bool setConsumer(std::string_view id, std::string_view name) override;
    std::string_view consumerId() override;
    bool findCredential(int type, std::string_view lookup, plugins::ConsumerView* consumer,
                        plugins::CredentialView* credential) override;
    bool currentConsumer(plugins::ConsumerView* consumer) override;
    bool setVar(std::string_view name, std::string_view value) override;
    const std::string* var(std::string_view name) override;
    plugins::RequestInfoView requestInfo() override;
    /// `picked`, or the next target not named in the request variable upstream.avoid (a
    /// circuit breaker's open targets); -1 when every target is avoided.
    int avoidTargets(const config::UpstreamRuntime& u, int picked) const;
    gh_resumer* pause() override;
    bool currentPluginHas(uint32_t phaseBit) const;

    Worker& worker_;
    Poco::Net::StreamSocket socket_;
    int fd_;
    std::string clientIp_;
    Poco::Net::IPAddress clientAddr_;
    bool trustedPeer_ = false;
    bool trustedRequestId_ = false;  // this peer's X-Request-Id is kept

    http::HttpParser parser_;
    net::ByteBuffer in_;
    net::ByteBuffer out_;
    size_t fed_ = 0;                // bytes of in_ given to the parser while the head is incomplete
    std::unique_ptr<Exchange> ex_;  // the request in flight
    std::unique_ptr<Exchange> spare_;  // the previous one, recycled for the next
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
