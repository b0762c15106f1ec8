#include "proxy/client_connection.h"

#include <llhttp.h>
#include <sys/socket.h>

#include <Poco/Exception.h>

#include <chrono>
#include <cstring>

#include "config/credentials.h"
#include "http/ascii.h"
#include "http/path.h"
#include "http/status.h"
#include "net/clock.h"
#include "net/listener.h"
#include "net/socket_io.h"
#include "proxy/worker.h"

namespace gatehouse::proxy {
namespace {

constexpr uint32_t kLingerMs = 5000;
/// Buffer storage a keep-alive connection keeps between requests.
constexpr size_t kKeptBufferBytes = 16 * 1024;
constexpr size_t kMaxPipelinedBytes = 64 * 1024;

bool isIdempotent(uint8_t method) {
    switch (method) {
        case HTTP_GET:
        case HTTP_HEAD:
        case HTTP_OPTIONS:
        case HTTP_TRACE:
        case HTTP_PUT:
        case HTTP_DELETE:
            return true;
        default:
            return false;
    }
}

/// X-Request-Id values accepted from trusted peers: short, visible ASCII.
bool acceptableRequestId(std::string_view v) {
    if (v.empty() || v.size() > 64) return false;
    for (char c : v)
        if (c <= ' ' || c > '~' || c == '"' || c == '\\') return false;
    return true;
}

}  // namespace

ClientConnection::ClientConnection(Worker& worker, Poco::Net::StreamSocket socket,
                                   const Poco::Net::SocketAddress& peer)
    : worker_(worker),
      socket_(std::move(socket)),
      fd_(socket_.impl()->sockfd()),
      clientIp_(peer.host().toString()),
      clientAddr_(peer.host()),
      parser_(http::HttpParser::Type::kRequest, worker.snapshot().settings->limits, this),
      timer_([this] { onTimer(); }) {
    const config::RuntimeSettings& s = *worker.snapshot().settings;
    trustedPeer_ = net::anyContains(s.trustedProxies, clientAddr_);
    trustedRequestId_ = trustedPeer_ || net::anyContains(s.requestIdTrusted, clientAddr_);
}

ClientConnection::~ClientConnection() {
    if (phase_ != Phase::kClosed) closeNow();
}

bool ClientConnection::start() {
    if (!worker_.loop().add(fd_, this, net::EventLoop::kEdgeTriggered)) return false;
    registered_ = true;
    phaseSinceMs_ = lastReadMs_ = lastWriteMs_ = worker_.loop().nowMs();
    rearmTimer();
    return true;
}

const config::RuntimeSettings& ClientConnection::settings() const {
    return ex_ && ex_->snapshot ? *ex_->snapshot->settings : *worker_.snapshot().settings;
}

// ---------------------------------------------------------------------------------------
// Driving: every event ends in pump(), which reads, parses, writes and finishes exchanges
// until nothing moves. Callbacks from the upstream side call schedule(), which re-enters
// pump() only when it is not already running.

void ClientConnection::onIo(uint32_t events) {
    if (phase_ == Phase::kClosed) return;
    if (events & EPOLLERR) {
        closeNow();
        return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) readReady_ = true;
    if (events & (EPOLLRDHUP | EPOLLHUP)) pendingEof_ = true;
    if (events & EPOLLOUT) writeReady_ = true;
    schedule();
}

void ClientConnection::schedule() {
    if (inPump_) {
        again_ = true;
        return;
    }
    pump();
}

void ClientConnection::pump() {
    inPump_ = true;
    int rounds = 0;
    do {
        again_ = false;
        if (step()) again_ = true;
    } while (again_ && phase_ != Phase::kClosed && ++rounds < 1000);
    inPump_ = false;
    if (phase_ != Phase::kClosed) rearmTimer();
}

bool ClientConnection::step() {
    bool progressed = false;
    if (readReady_) progressed |= readInput();
    if (phase_ == Phase::kClosed) return false;
    progressed |= parseInput();
    if (phase_ == Phase::kClosed) return false;
    if (ex_ && ex_->up) ex_->up->flush();  // forward what parsing queued, without a loop round
    if (phase_ == Phase::kClosed) return false;
    progressed |= flushOut();
    if (phase_ == Phase::kClosed) return false;
    progressed |= finishExchangeIfDone();
    return progressed;
}

bool ClientConnection::readInput() {
    size_t want = 4096;  // heads are small; bodies read in 64 KiB below
    switch (phase_) {
        case Phase::kIdle:
        case Phase::kHead: {
            const auto& l = settings().limits;
            const size_t cap = l.maxRequestLine + l.maxHeaderBytes + 4096;
            if (in_.size() >= cap) return false;  // the parser reports 414/431 first
            break;
        }
        case Phase::kActive:
            if (ex_->requestDone) {
                if (in_.size() >= kMaxPipelinedBytes) return false;  // next request waits
            } else {
                if (bodyBlocked() || in_.size() >= 64 * 1024) return false;
                want = 64 * 1024;
            }
            break;
        case Phase::kLingering: {
            char scratch[16 * 1024];
            const net::IoResult r = net::readSome(fd_, scratch, sizeof scratch);
            if (r.kind == net::IoResult::kData) return true;
            readReady_ = false;
            if (r.kind != net::IoResult::kWouldBlock) closeNow();
            return false;
        }
        case Phase::kClosed:
            return false;
    }
    char* p = in_.prepare(want);
    const net::IoResult r = net::readSome(fd_, p, want);
    switch (r.kind) {
        case net::IoResult::kData:
            in_.commit(r.bytes);
            lastReadMs_ = worker_.loop().nowMs();
            // Drained; a new edge reports new data, but not a FIN that came with this data.
            if (r.bytes < want && !pendingEof_) readReady_ = false;
            return true;
        case net::IoResult::kWouldBlock:
            readReady_ = false;
            return false;
        case net::IoResult::kEof:
            readReady_ = false;
            peerEof_ = true;
            onPeerEof();
            return true;
        case net::IoResult::kError:
            readReady_ = false;
            closeNow();
            return false;
    }
    return false;
}

void ClientConnection::onPeerEof() {
    switch (phase_) {
        case Phase::kIdle:
        case Phase::kHead:
            closeNow();  // nothing (complete) was asked: nothing to answer
            return;
        case Phase::kActive:
            if (!ex_->requestDone && !ex_->responseDone) {
                closeNow();  // the client gave up mid-request
                return;
            }
            ex_->closeAfter = true;  // half-close after a full request: answer, then close
            return;
        case Phase::kLingering:
            closeNow();
            return;
        case Phase::kClosed:
            return;
    }
}

bool ClientConnection::parseInput() {
    if (in_.empty()) return false;
    size_t consumed = 0;
    switch (phase_) {
        case Phase::kIdle:
            phase_ = Phase::kHead;
            phaseSinceMs_ = worker_.loop().nowMs();
            [[fallthrough]];
        case Phase::kHead: {
            if (fed_ >= in_.size()) return false;
            const auto r =
                parser_.execute(in_.data(), in_.data() + fed_, in_.size() - fed_, &consumed);
            return afterExecute(r, consumed);
        }
        case Phase::kActive: {
            if (ex_->requestDone || bodyBlocked()) return false;
            const auto r = parser_.execute(in_.data(), in_.data(), in_.size(), &consumed);
            return afterExecute(r, consumed);
        }
        case Phase::kLingering:
            in_.clear();
            return false;
        case Phase::kClosed:
            return false;
    }
    return false;
}

bool ClientConnection::afterExecute(http::HttpParser::Result r, size_t consumed) {
    if (phase_ == Phase::kClosed) return false;
    const size_t total = fed_ + consumed;
    switch (r) {
        case http::HttpParser::Result::kError: {
            in_.clear();
            fed_ = 0;
            const auto& e = parser_.error();
            if (ex_ && ex_->responseStarted) {
                // Already answering (a local error or the upstream's response): the rest of
                // the stream is garbage. Finish what is queued, then close.
                ex_->closeAfter = true;
                ex_->requestDone = true;
                if (!ex_->responseDone) closeNow();
            } else {
                respondLocal(e.status, e.reason, /*close=*/true);
                if (ex_) ex_->requestDone = true;
            }
            return true;
        }
        case http::HttpParser::Result::kPaused:  // a request ended; the next one waits
            in_.consume(total);
            fed_ = 0;
            return true;
        case http::HttpParser::Result::kNeedMore:
            if (phase_ == Phase::kActive) {
                in_.consume(total);
                fed_ = 0;
            } else {
                fed_ = total;
            }
            return consumed > 0;
    }
    return false;
}

bool ClientConnection::flushOut() {
    if (out_.empty() || !writeReady_) {
        if (phase_ == Phase::kLingering && out_.empty() && !shutdownSent_) {
            ::shutdown(fd_, SHUT_WR);
            shutdownSent_ = true;
        }
        return false;
    }
    const bool wasHigh = out_.size() >= kOutLowWatermark;
    bool wrote = false;
    while (!out_.empty()) {
        const net::IoResult r = net::writeSome(fd_, out_.data(), out_.size());
        if (r.kind == net::IoResult::kData) {
            out_.consume(r.bytes);
            if (ex_) ex_->bytesOut += r.bytes;
            wrote = true;
        } else if (r.kind == net::IoResult::kWouldBlock) {
            writeReady_ = false;
            break;
        } else {
            closeNow();
            return false;
        }
    }
    if (wrote) lastWriteMs_ = worker_.loop().nowMs();
    if (out_.empty()) {
        if (phase_ == Phase::kLingering && !shutdownSent_) {
            ::shutdown(fd_, SHUT_WR);
            shutdownSent_ = true;
        }
    }
    if (wasHigh && out_.size() < kOutLowWatermark && ex_ && ex_->up) ex_->up->resumeReading();
    return wrote;
}

bool ClientConnection::finishExchangeIfDone() {
    if (phase_ != Phase::kActive || !ex_ || !ex_->responseDone || !out_.empty()) return false;
    if (!ex_->requestDone && !ex_->closeAfter) return false;  // still discarding the body

    WorkerStats::add(worker_.stats().requests, uint64_t{1});
    ++requestsServed_;
    const bool close = ex_->closeAfter || !ex_->requestDone || !ex_->req.keepAlive || peerEof_ ||
                       worker_.draining();
    endExchange();  // on_log after the last byte was queued
    if (close) {
        startLingeringClose();
        return true;
    }
    phase_ = Phase::kIdle;
    phaseSinceMs_ = worker_.loop().nowMs();
    parser_.resume();
    parser_.setLimits(worker_.snapshot().settings->limits);
    // Keep small buffers for the next request; give back what a large body grew.
    in_.trim(kKeptBufferBytes);
    out_.trim(kKeptBufferBytes);
    return true;
}

void ClientConnection::startLingeringClose() {
    // Half-close and drain what the client still sends, so that its unread bytes do not turn
    // our close into a reset that destroys the response it has not read yet.
    phase_ = Phase::kLingering;
    phaseSinceMs_ = worker_.loop().nowMs();
    in_.clear();
    if (out_.empty() && !shutdownSent_) {
        ::shutdown(fd_, SHUT_WR);
        shutdownSent_ = true;
    }
    if (peerEof_) closeNow();
}

void ClientConnection::drain() {
    if (phase_ == Phase::kIdle && in_.empty()) {
        closeNow();
        return;
    }
    if (ex_) ex_->closeAfter = true;
}

void ClientConnection::endExchange() {
    if (!ex_) return;
    if (ex_->timed) observeExchange(*ex_);
    WorkerStats::add(worker_.stats().requestsInFlight, int64_t{-1});
    // Plugins get on_log and on_done however the request ended (served, failed, abandoned).
    if (ex_->plugins.chain) worker_.plugins().end(*ex_);
    releaseUpstream(false);
    ex_->recycle();
    spare_ = std::move(ex_);
}

void ClientConnection::closeNow() {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosed;
    worker_.loop().timers().disarm(timer_);
    endExchange();
    if (registered_) worker_.loop().remove(fd_);
    registered_ = false;
    try {
        socket_.close();
    } catch (...) {
    }
    worker_.connectionClosed(this);  // hands ownership to the loop for deferred deletion
}

// ---------------------------------------------------------------------------------------
// Timeouts. One timer per connection; its deadline depends on the phase.

uint64_t ClientConnection::deadline() const {
    const auto& c = settings().client;
    switch (phase_) {
        case Phase::kIdle:
            return phaseSinceMs_ + (requestsServed_ == 0 ? c.headerMs : c.keepaliveMs);
        case Phase::kHead:
            return phaseSinceMs_ + c.headerMs;  // fixed from the first byte: no slowloris
        case Phase::kActive:
            if (!out_.empty()) return lastWriteMs_ + c.sendMs;
            if (ex_->plugins.paused) return ex_->plugins.pausedAtMs + settings().pluginPauseMs;
            if (!ex_->requestDone && !bodyBlocked()) return lastReadMs_ + c.bodyMs;
            return 0;  // waiting on the upstream: its own timers run
        case Phase::kLingering:
            return phaseSinceMs_ + kLingerMs;
        case Phase::kClosed:
            return 0;
    }
    return 0;
}

void ClientConnection::rearmTimer() {
    // The send timeout counts from when output started waiting, not from the last write of
    // some earlier response.
    const bool pending = !out_.empty();
    if (pending && !outPending_) lastWriteMs_ = worker_.loop().nowMs();
    outPending_ = pending;
    const uint64_t d = deadline();
    if (d == 0)
        worker_.loop().timers().disarm(timer_);
    else
        worker_.loop().timers().arm(timer_, d);
}

void ClientConnection::onTimer() {
    const uint64_t d = deadline();
    if (d == 0) return;
    if (d > worker_.loop().nowMs()) {
        worker_.loop().timers().arm(timer_, d);
        return;
    }
    switch (phase_) {
        case Phase::kIdle:
        case Phase::kLingering:
            closeNow();
            return;
        case Phase::kHead:
            respondLocal(408, "timed out reading the request head", true);
            break;
        case Phase::kActive:
            if (!out_.empty() || ex_->responseStarted) {
                closeNow();  // the client stopped reading, or cannot be told anything now
                return;
            }
            if (ex_->plugins.paused) {
                const size_t i = ex_->plugins.phase == PluginState::Phase::kResponse
                                     ? ex_->plugins.responseCursor - 1
                                     : ex_->plugins.requestCursor;
                const std::string& name = ex_->plugins.chain->entries[i].instance->plugin().name;
                worker_.log().emit(
                    observe::Level::kWarn, "plugin_pause_timeout",
                    {{"plugin", std::string_view(name)}, {"request_id", ex_->requestId}});
                ex_->plugins.paused = false;
                if (ex_->plugins.token) ex_->plugins.token->connection = nullptr;
                ex_->plugins.responsePhaseStarted = true;  // no second round of on_response
                respondLocal(504, "plugin " + name + " did not resume in time", !ex_->requestDone);
                break;
            }
            respondLocal(408, "timed out reading the request body", true);
            break;
        case Phase::kClosed:
            return;
    }
    schedule();
}

// ---------------------------------------------------------------------------------------
// Request side

http::ParserSink::HeadAction ClientConnection::onHeadComplete() {
    beginExchange();
    int status = 0;
    const char* reason = "";
    if (!validateRequest(&status, &reason)) {
        parser_.reject(status, reason);
        return HeadAction::kReject;
    }
    route();
    return HeadAction::kContinue;
}

void ClientConnection::beginExchange() {
    if (!ex_) ex_ = spare_ ? std::move(spare_) : std::make_unique<Exchange>();
    Exchange& ex = *ex_;
    ex.snapshot = worker_.pinSnapshot();
    ex.startUs = net::monotonicUs();
    WorkerStats::add(worker_.stats().requestsInFlight, int64_t{1});
    ex.handle.access = this;
    phase_ = Phase::kActive;

    // Keep the head: copy its bytes once, then every field is a view into the copy.
    http::RequestHead& req = ex.req;
    req.raw.assign(in_.data(), parser_.headLength());
    req.headers.clear();
    for (const auto& h : parser_.headers())
        req.headers.addView(req.raw.view(h.name.off, h.name.len),
                            req.raw.view(h.value.off, h.value.len));
    req.method = parser_.method();
    req.methodName = llhttp_method_name(static_cast<llhttp_method_t>(req.method));
    req.target = req.raw.view(parser_.url().off, parser_.url().len);
    req.versionMajor = parser_.versionMajor();
    req.versionMinor = parser_.versionMinor();
    req.keepAlive = parser_.keepAlive();
    if (parser_.isChunked()) {
        req.framing = http::Framing::kChunked;
    } else if (parser_.hasContentLength()) {
        req.framing = http::Framing::kLength;  // kept even when 0: some upstreams need it
        req.contentLength = parser_.contentLength();
    } else {
        req.framing = http::Framing::kNone;
    }
    ex.bytesIn = parser_.headLength();
    const config::RuntimeSettings& s = *ex.snapshot->settings;
    if (s.tracePropagate) startTrace(ex, s);
    ex.timed = s.metricsEnabled || (ex.trace.sampled() && worker_.spans());

    // X-Request-Id: a trusted peer's is kept; everyone else gets a fresh one.
    std::optional<std::string_view> incoming;
    if (trustedRequestId_) incoming = req.headers.get("x-request-id");
    if (incoming && acceptableRequestId(*incoming)) {
        std::memcpy(ex.requestIdBuf, incoming->data(), incoming->size());
        ex.requestId = std::string_view(ex.requestIdBuf, incoming->size());
    } else {
        worker_.ids().next(ex.requestIdBuf);
        ex.requestId = std::string_view(ex.requestIdBuf, 36);
    }
}

bool ClientConnection::validateRequest(int* status, const char** reason) {
    http::RequestHead& req = ex_->req;
    auto fail = [&](int s, const char* r) {
        *status = s;
        *reason = r;
        return false;
    };
    if (req.versionMajor != 1 || req.versionMinor > 1) return fail(505, "unsupported HTTP version");
    if (req.method == HTTP_CONNECT) return fail(405, "CONNECT is not supported");

    // Transfer-Encoding: only a lone "chunked" is understood (RFC 9112 6.1).
    if (parser_.hasTransferEncoding()) {
        std::string_view last;
        size_t codings = 0;
        for (const auto& f : req.headers.fields()) {
            if (!http::iequals(f.name, "transfer-encoding")) continue;
            http::forEachListElement(f.value, [&](std::string_view c) {
                last = c;
                ++codings;
            });
        }
        if (!http::iequals(last, "chunked"))
            return fail(400, "Transfer-Encoding must end with chunked");
        if (codings != 1) return fail(501, "unsupported transfer coding");
    }

    // Host: exactly one on HTTP/1.1 (RFC 9112 3.2); absolute-form targets override it.
    const size_t hosts = req.headers.count("host");
    if (hosts > 1) return fail(400, "more than one Host header");
    http::TargetParts parts;
    const char* why = "";
    if (!http::splitTarget(req.target, &parts, &why)) return fail(400, why);
    std::string_view hostValue;
    if (!parts.authority.empty()) {
        hostValue = parts.authority;
    } else if (hosts == 1) {
        hostValue = *req.headers.get("host");
    } else if (req.versionMinor >= 1) {
        return fail(400, "missing Host header");
    }
    req.hostHeader = hostValue;
    req.host.clear();
    if (!hostValue.empty()) {
        std::string_view port;
        if (!http::splitHostPort(hostValue, &req.host, &port))
            return fail(400, "invalid Host header");
    }
    req.query = parts.query;
    if (!http::normalizePath(parts.path, &req.path, &why)) return fail(400, why);

    req.expectContinue = false;
    if (auto expect = req.headers.get("expect")) {
        if (!http::iequals(*expect, "100-continue")) return fail(417, "unsupported expectation");
        req.expectContinue = req.versionMinor >= 1;
    }
    return true;
}

void ClientConnection::route() {
    Exchange& ex = *ex_;
    const config::Snapshot& snap = *ex.snapshot;
    router::RequestView view;
    view.method = ex.req.method;
    view.path = ex.req.path;
    view.host = ex.req.host;
    view.query = ex.req.query;
    view.headers = &ex.req.headers;
    const router::RouteMatch m = snap.routes->match(view, worker_.regexScratch());
    if (!m) {
        respondLocal(404, "no route matched", false);
        return;
    }
    ex.route = m.route;
    ex.timeouts = snap.routeTimeouts[m.route->order];
    ex.upstreamPath = snap.routes->upstreamPath(m, ex.req.path, worker_.regexScratch());

    const plugins::PluginChain& chain = snap.routeChains[m.route->order];
    if (chain.empty()) {
        proceedUpstream();
        return;
    }
    PluginState& ps = ex.plugins;
    ps.chain = &chain;
    if (chain.phases & (GH_PHASE_LOG | GH_PHASE_LOG_ALL)) ex.timed = true;  // for on_log
    ps.ctx.assign(chain.entries.size(), nullptr);
    ps.saw.assign(chain.entries.size(), 0);
    if ((chain.phases & GH_PHASE_REQUEST_BODY) && ex.req.hasBody()) {
        // Some plugin reads the body in on_request: collect it first (bounded by
        // max_body_bytes, which the parser enforces), run the chain at message end.
        ps.bufferRequestBody = true;
        sendContinue();
        return;
    }
    runRequestPlugins();
}

void ClientConnection::runRequestPlugins() {
    Exchange& ex = *ex_;
    switch (worker_.plugins().request(ex)) {
        case ChainOutcome::kContinue:
            proceedUpstream();
            return;
        case ChainOutcome::kRespond:
            respondFromPlugin();
            return;
        case ChainOutcome::kPaused:
            ex.plugins.pausedAtMs = worker_.loop().nowMs();
            return;
        case ChainOutcome::kFailed:
            respondLocal(500, worker_.plugins().lastFailure(), false);
            return;
    }
}

void ClientConnection::resumePlugins(const ResumeToken* token) {
    if (!ex_ || ex_->plugins.token.get() != token || !ex_->plugins.paused) return;
    Exchange& ex = *ex_;
    if (ex.plugins.phase == PluginState::Phase::kRequest)
        runRequestPlugins();
    else if (ex.plugins.phase == PluginState::Phase::kResponse)
        runResponsePlugins();
    schedule();
}

void ClientConnection::proceedUpstream() {
    Exchange& ex = *ex_;
    const config::Snapshot& snap = *ex.snapshot;
    const config::UpstreamRuntime& u = snap.upstreams[ex.route->destination];
    int idx = u.balancer->pick({clientIp_, &ex.req.headers}, worker_.index());
    if (idx >= 0 && !ex.plugins.vars.empty()) idx = avoidTargets(u, idx);
    if (idx < 0) {
        ex.upstreamError = GH_UPSTREAM_NO_TARGET;
        respondLocal(503, "no upstream target available", false);
        return;
    }
    ex.target = &u.targets[static_cast<size_t>(idx)];

    if (ex.plugins.bufferRequestBody) {
        // The body was collected (and maybe replaced by a plugin): send it with a length.
        ex.req.framing = http::Framing::kLength;
        ex.req.contentLength = ex.plugins.requestBody.size();
        ex.req.headers.remove("transfer-encoding");
    }
    ForwardContext fc;
    fc.clientIp = clientIp_;
    fc.listenerPort = worker_.listenerPort();
    fc.trustedPeer = trustedPeer_;
    fc.requestId = ex.requestId;
    if (ex.traced) {
        fc.traceparent = std::string_view(ex.traceparent, sizeof ex.traceparent);
        fc.dropTracestate = ex.dropTracestate;
    }
    const std::string_view host = ex.route->spec->preserveHost && !ex.req.hostHeader.empty()
                                      ? ex.req.hostHeader
                                      : std::string_view((*ex.target)->hostHeader);
    const std::string_view path =
        ex.plugins.path ? std::string_view(*ex.plugins.path) : ex.upstreamPath;
    const std::string_view query =
        ex.plugins.query ? std::string_view(*ex.plugins.query) : ex.req.query;
    writeUpstreamRequestHead(ex.upstreamHead, ex.req, path, query, host, fc);
    dispatch(false);
    if (!ex.up) return;
    if (ex.plugins.bufferRequestBody) {
        ex.up->out().append(ex.plugins.requestBody);
    } else if (!ex.pendingBody.empty()) {
        ex.up->out().append(ex.pendingBody.view());
        ex.pendingBody.clear();
    }
    if (ex.requestDone) ex.up->requestQueued();
}

void ClientConnection::dispatch(bool fresh) {
    Exchange& ex = *ex_;
    std::unique_ptr<upstream::UpstreamConnection> conn;
    if (!fresh) conn = worker_.pool().acquire(**ex.target);
    if (!conn) {
        try {
            conn = std::make_unique<upstream::UpstreamConnection>(
                worker_.loop(), *ex.target, settings().upstreamResponseLimits);
        } catch (const std::exception& e) {
            worker_.log().emit(observe::Level::kWarn, "upstream_connect_failed",
                               {{"target", std::string_view((*ex.target)->address)},
                                {"reason", std::string_view(e.what())},
                                {"request_id", ex.requestId}});
            ex.upstreamError = GH_UPSTREAM_CONNECT_FAILED;
            respondLocal(502, "upstream connection failed", false);
            return;
        }
    }
    if (ex.timed && ex.dispatchUs == 0) ex.dispatchUs = net::monotonicUs();
    ex.reusedConnection = conn->reused();
    conn->attach(this, ex.timeouts, ex.req.method == HTTP_HEAD);
    conn->out().append(ex.upstreamHead);
    if (!ex.targetCounted) {
        (*ex.target)->active.fetch_add(1, std::memory_order_relaxed);
        ex.targetCounted = true;
    }
    ex.up = std::move(conn);
    if (!fresh) sendContinue();
}

void ClientConnection::sendContinue() {
    Exchange& ex = *ex_;
    if (!ex.req.expectContinue || !ex.req.hasBody() || ex.sentContinue || ex.responseStarted)
        return;
    ex.sentContinue = true;
    out_.append("HTTP/1.1 100 Continue\r\n\r\n");
}

net::ByteBuffer& ClientConnection::requestSink() {
    return ex_->up ? ex_->up->out() : ex_->pendingBody;
}

void ClientConnection::onBody(const char* data, size_t len) {
    if (!ex_) return;
    ex_->bytesIn += len;
    if (ex_->bodyDiscard) return;
    if (ex_->plugins.bufferRequestBody) {
        ex_->plugins.requestBody.append(data, len);
        return;
    }
    requestSink().append(data, len);
}

void ClientConnection::onChunkHeader(uint64_t size) {
    if (!ex_) return;
    ex_->inRequestChunk = size > 0;
    if (ex_->bodyDiscard || ex_->plugins.bufferRequestBody || size == 0) return;
    appendChunkSize(requestSink(), size);
}

void ClientConnection::onChunkComplete() {
    if (!ex_ || !ex_->inRequestChunk) return;
    ex_->inRequestChunk = false;
    if (!ex_->bodyDiscard && !ex_->plugins.bufferRequestBody) requestSink().append("\r\n", 2);
}

bool ClientConnection::onMessageComplete() {
    if (!ex_) return true;
    Exchange& ex = *ex_;
    ex.requestDone = true;
    if (ex.bodyDiscard) return true;
    if (ex.plugins.bufferRequestBody) {
        if (!ex.responseStarted) runRequestPlugins();  // the body the chain waited for is here
        return true;
    }
    if (ex.req.framing == http::Framing::kChunked) requestSink().append("0\r\n\r\n", 5);
    if (ex.up) ex.up->requestQueued();
    return true;  // pause: a pipelined request waits for this response
}

bool ClientConnection::bodyBlocked() const {
    if (!ex_) return false;
    constexpr size_t kHigh = upstream::UpstreamConnection::kHighWatermark;
    return (ex_->up && ex_->up->pendingOut() >= kHigh) || ex_->pendingBody.size() >= kHigh;
}

void ClientConnection::releaseUpstream(bool reuse) {
    if (!ex_) return;
    Exchange& ex = *ex_;
    if (ex.targetCounted) {
        (*ex.target)->active.fetch_sub(1, std::memory_order_relaxed);
        ex.targetCounted = false;
    }
    if (!ex.up) return;
    ex.up->detach();
    if (reuse)
        worker_.pool().release(std::move(ex.up), settings().pool);
    else
        worker_.pool().discard(std::move(ex.up));
}

// ---------------------------------------------------------------------------------------
// Responses. Every response, the upstream's or the gateway's own, ends in emitResponseHead;
// once the route's plugins saw the request, on_response runs first (over a held head).

void ClientConnection::respondLocal(int status, std::string_view message, bool close) {
    if (!ex_) {
        // An error before any request head was complete (parse error, timeout).
        ex_ = spare_ ? std::move(spare_) : std::make_unique<Exchange>();
        ex_->snapshot = worker_.pinSnapshot();
        ex_->startUs = net::monotonicUs();
        ex_->timed = ex_->snapshot->settings->metricsEnabled;
        WorkerStats::add(worker_.stats().requestsInFlight, int64_t{1});
        worker_.ids().next(ex_->requestIdBuf);
        ex_->requestId = std::string_view(ex_->requestIdBuf, 36);
        ex_->req.keepAlive = false;
        ex_->handle.access = this;
        phase_ = Phase::kActive;
    }
    Exchange& ex = *ex_;
    if (ex.responseStarted) {
        closeNow();
        return;
    }
    releaseUpstream(false);
    ex.closeAfter = ex.closeAfter || close;
    if (!ex.requestDone) ex.bodyDiscard = true;
    setLocalResponse(status, "application/json", http::errorBody(status, message, ex.requestId));
    startResponse(true);
}

void ClientConnection::respondFromPlugin() {
    Exchange& ex = *ex_;
    PluginResponse r = std::move(*ex.plugins.response);
    ex.plugins.response.reset();
    if (!ex.requestDone) ex.bodyDiscard = true;
    setLocalResponse(r.status, "", std::move(r.body), std::move(r.headers));
    startResponse(true);
}

void ClientConnection::setLocalResponse(int status, std::string_view contentType, std::string body,
                                        std::vector<std::pair<std::string, std::string>> headers) {
    Exchange& ex = *ex_;
    http::ResponseHead& resp = ex.resp;
    resp.raw.assign("", 0);
    resp.headers.clear();
    resp.status = status;
    resp.reason = {};
    resp.versionMinor = 1;
    resp.headers.add("Date", worker_.date().now());
    resp.headers.add("Server", "gatehouse");
    if (!contentType.empty()) resp.headers.add("Content-Type", contentType);
    for (auto& [k, v] : headers)
        resp.headers.add(k, v);
    resp.contentLength = body.size();
    ex.plugins.responseBody = std::move(body);
    ex.plugins.bufferResponseBody = true;  // the whole body is here: emitted with a length
    ex.clientFraming = ClientFraming::kLength;
    ex.forwardLength = false;
    ex.upstreamDone = true;
    if (status == 204 || status == 304 || ex.req.method == HTTP_HEAD) {
        ex.clientFraming = ClientFraming::kNone;
        ex.forwardLength = status != 204 && ex.req.method == HTTP_HEAD;
        if (status == 204 || status == 304) ex.plugins.responseBody.clear();
    }
}

void ClientConnection::startResponse(bool local) {
    Exchange& ex = *ex_;
    PluginState& ps = ex.plugins;
    if (!ps.responsePhaseStarted && PluginRunner::hasResponseWork(ex)) {
        const bool needBody = (ps.chain->phases & GH_PHASE_RESPONSE_BODY) != 0;
        if (!local && needBody) {
            // Collect the upstream's body; the chain runs when it is complete.
            ps.bufferResponseBody = true;
            ps.holdResponse = true;
            return;
        }
        ps.holdResponse = true;
        runResponsePlugins();
        return;
    }
    emitResponseHead();
    if (local) completeResponse();
}

void ClientConnection::runResponsePlugins() {
    Exchange& ex = *ex_;
    PluginState& ps = ex.plugins;
    switch (worker_.plugins().response(ex)) {
        case ChainOutcome::kPaused:
            ps.pausedAtMs = worker_.loop().nowMs();
            return;
        case ChainOutcome::kFailed:
        case ChainOutcome::kRespond:
            // The response cannot be trusted now: a plain 500, without a second round.
            releaseUpstream(false);
            ex.closeAfter = ex.closeAfter || !ex.requestDone;
            setLocalResponse(500, "application/json",
                             http::errorBody(500, worker_.plugins().lastFailure(), ex.requestId));
            break;
        case ChainOutcome::kContinue:
            break;
    }
    ps.holdResponse = false;
    if (ex.timed && ex.upstreamHeadUs) ex.heldUs = net::monotonicUs();
    emitResponseHead();
    if (ps.bufferResponseBody) {
        if (ex.upstreamDone) completeResponse();  // else: the rest streams, completion follows
    } else if (!ps.responseBody.empty()) {
        // Bytes that arrived while the head was held.
        std::string held = std::move(ps.responseBody);
        ps.responseBody.clear();
        emitBody(held.data(), held.size());
        if (ex.upstreamDone) completeResponse();
    } else if (ex.upstreamDone) {
        completeResponse();
    }
}

void ClientConnection::emitResponseHead() {
    Exchange& ex = *ex_;
    if (ex.responseStarted) return;
    // An early response (request body still arriving) ends the connection: the rest of the
    // body cannot be told apart from a next request without reading it all.
    if (!ex.requestDone && !ex.bodyDiscard) ex.closeAfter = true;
    if (!ex.req.keepAlive || worker_.draining()) ex.closeAfter = true;
    if (ex.plugins.bufferResponseBody && ex.clientFraming != ClientFraming::kNone) {
        ex.clientFraming = ClientFraming::kLength;
        ex.resp.contentLength = ex.plugins.responseBody.size();
    }
    if (ex.clientFraming == ClientFraming::kClose) ex.closeAfter = true;
    const bool keepAlive10 = !ex.closeAfter && ex.req.keepAlive && ex.req.versionMinor == 0;
    writeClientResponseHead(out_, ex.resp, ex.clientFraming, ex.forwardLength, ex.requestId,
                            ex.closeAfter, keepAlive10);
    ex.status = ex.resp.status;
    ex.responseStarted = true;
}

void ClientConnection::emitBody(const char* data, size_t len) {
    Exchange& ex = *ex_;
    if (ex.clientFraming == ClientFraming::kChunked && !ex.inResponseChunk) {
        // Not inside an upstream chunk (close-delimited upstream, or held bytes): one chunk.
        if (len == 0) return;
        appendChunkSize(out_, len);
        out_.append(data, len);
        out_.append("\r\n", 2);
        return;
    }
    if (ex.clientFraming != ClientFraming::kNone) out_.append(data, len);
}

void ClientConnection::completeResponse() {
    Exchange& ex = *ex_;
    if (ex.responseDone) return;
    if (ex.plugins.bufferResponseBody) {
        if (ex.clientFraming != ClientFraming::kNone) out_.append(ex.plugins.responseBody);
        ex.plugins.responseBody.clear();
    } else if (ex.clientFraming == ClientFraming::kChunked) {
        out_.append("0\r\n\r\n", 5);
    }
    ex.responseDone = true;
}

// ---------------------------------------------------------------------------------------
// Upstream side

void ClientConnection::onUpstreamDrained(upstream::UpstreamConnection&) {
    schedule();
}

bool ClientConnection::upstreamMayRead() {
    if (ex_ && ex_->plugins.holdResponse && !ex_->plugins.bufferResponseBody)
        return false;  // on_response is paused: hold the upstream too
    return out_.size() < kOutHighWatermark;
}

http::ParserSink::HeadAction ClientConnection::onUpstreamHead(upstream::UpstreamConnection&,
                                                              const http::HttpParser& p,
                                                              const char* base) {
    Exchange& ex = *ex_;
    if (ex.timed) ex.upstreamHeadUs = net::monotonicUs();
    ex.upstreamStatus = p.statusCode();
    http::ResponseHead& resp = ex.resp;
    resp.raw.assign(base, p.headLength());
    resp.headers.clear();
    for (const auto& h : p.headers())
        resp.headers.addView(resp.raw.view(h.name.off, h.name.len),
                             resp.raw.view(h.value.off, h.value.len));
    resp.status = p.statusCode();
    resp.reason = resp.raw.view(p.status().off, p.status().len);
    resp.versionMajor = p.versionMajor();
    resp.versionMinor = p.versionMinor();
    resp.contentLength = p.contentLength();

    const bool noBody = ex.req.method == HTTP_HEAD || resp.status == 204 || resp.status == 304;
    ex.forwardLength = false;
    if (noBody) {
        ex.clientFraming = ClientFraming::kNone;
        ex.forwardLength = p.hasContentLength() && resp.status != 204;
    } else if (p.hasContentLength() && !p.isChunked()) {
        ex.clientFraming = ClientFraming::kLength;
    } else if (ex.req.versionMinor >= 1) {
        ex.clientFraming = ClientFraming::kChunked;  // chunked or until-close upstream
    } else {
        ex.clientFraming = ClientFraming::kClose;  // HTTP/1.0 client: the close ends the body
    }
    startResponse(false);
    return HeadAction::kContinue;
}

void ClientConnection::onUpstreamBody(const char* data, size_t len) {
    Exchange& ex = *ex_;
    if (ex.plugins.holdResponse || ex.plugins.bufferResponseBody) {
        if (ex.plugins.bufferResponseBody &&
            ex.plugins.responseBody.size() + len > settings().limits.maxBodyBytes &&
            settings().limits.maxBodyBytes) {
            // A plugin wants the whole body, but it is larger than we buffer: refuse it.
            ex.plugins.responsePhaseStarted = true;
            ex.plugins.holdResponse = false;
            ex.plugins.bufferResponseBody = false;
            ex.plugins.responseBody.clear();
            respondLocal(502, "upstream response body too large to buffer for plugins", false);
            return;
        }
        ex.plugins.responseBody.append(data, len);
        return;
    }
    emitBody(data, len);
}

void ClientConnection::onUpstreamChunkHeader(uint64_t size) {
    Exchange& ex = *ex_;
    if (size == 0) return;  // the last chunk: written at completion
    if (ex.plugins.holdResponse || ex.plugins.bufferResponseBody) return;
    ex.inResponseChunk = true;
    if (ex.clientFraming == ClientFraming::kChunked) appendChunkSize(out_, size);
}

void ClientConnection::onUpstreamChunkComplete() {
    Exchange& ex = *ex_;
    if (!ex.inResponseChunk) return;
    ex.inResponseChunk = false;
    if (ex.clientFraming == ClientFraming::kChunked) out_.append("\r\n", 2);
}

void ClientConnection::onUpstreamComplete(upstream::UpstreamConnection& c) {
    Exchange& ex = *ex_;
    ex.upstreamDone = true;
    releaseUpstream(c.reusable() && ex.requestDone);
    if (ex.plugins.holdResponse) {
        if (ex.plugins.bufferResponseBody && !ex.plugins.paused &&
            ex.plugins.phase != PluginState::Phase::kResponse)
            runResponsePlugins();  // the body the chain waited for is complete
        // else: a paused on_response completes the response when it resumes
    } else if (ex.responseStarted) {
        completeResponse();
    }
    schedule();
}

void ClientConnection::onUpstreamData(upstream::UpstreamConnection&) {
    schedule();
}

void ClientConnection::onUpstreamFailure(upstream::UpstreamConnection& c,
                                         upstream::UpstreamFailure f) {
    Exchange& ex = *ex_;
    const bool retry = ex.reusedConnection && !ex.retried &&
                       f == upstream::UpstreamFailure::kClosed && !c.responseStarted() &&
                       !ex.responseStarted && !ex.plugins.holdResponse &&
                       isIdempotent(ex.req.method) && !ex.req.hasBody();
    if (retry) {
        // A pooled keep-alive connection the upstream had already closed: once more, fresh.
        ex.retried = true;
        ex.up->detach();
        worker_.pool().discard(std::move(ex.up));
        dispatch(true);
        if (ex.up) {
            if (ex.requestDone) ex.up->requestQueued();
            ex.up->flush();
        }
        schedule();
        return;
    }
    ex.upstreamError = f == upstream::UpstreamFailure::kConnectFailed ? GH_UPSTREAM_CONNECT_FAILED
                       : f == upstream::UpstreamFailure::kConnectTimeout ||
                               f == upstream::UpstreamFailure::kSendTimeout ||
                               f == upstream::UpstreamFailure::kReadTimeout
                           ? GH_UPSTREAM_TIMEOUT
                           : GH_UPSTREAM_BROKEN;
    worker_.log().emit(observe::Level::kWarn, "upstream_failed",
                       {{"target", std::string_view((*ex.target)->address)},
                        {"reason", std::string_view(upstream::describe(f))},
                        {"request_id", ex.requestId}});
    if (ex.responseStarted || ex.plugins.holdResponse) {
        closeNow();  // mid-response: only a close can say the body is incomplete
        return;
    }
    const bool timeout = f == upstream::UpstreamFailure::kConnectTimeout ||
                         f == upstream::UpstreamFailure::kReadTimeout ||
                         f == upstream::UpstreamFailure::kSendTimeout;
    respondLocal(timeout ? 504 : 502, upstream::describe(f), !ex.requestDone);
    schedule();
}

// ---------------------------------------------------------------------------------------
// What plugins see (plugins::RequestAccess). Called only from inside a plugin callback of
// the current exchange, on this worker.

bool ClientConnection::currentPluginHas(uint32_t phaseBit) const {
    const PluginState& ps = ex_->plugins;
    if (ps.current == PluginState::kNoEntry) return false;
    return (ps.chain->entries[ps.current].instance->plugin().phases & phaseBit) != 0;
}

std::string_view ClientConnection::method() {
    return ex_->req.methodName;
}

std::string_view ClientConnection::path() {
    return ex_->plugins.path ? std::string_view(*ex_->plugins.path)
                             : std::string_view(ex_->req.path);
}

std::string_view ClientConnection::query() {
    return ex_->plugins.query ? std::string_view(*ex_->plugins.query) : ex_->req.query;
}

std::string_view ClientConnection::host() {
    return ex_->req.host;
}
std::string_view ClientConnection::scheme() {
    return "http";
}
std::string_view ClientConnection::clientAddress() {
    return clientIp_;
}

std::string_view ClientConnection::routeName() {
    return ex_->route ? std::string_view(ex_->route->spec->meta.name) : std::string_view();
}

std::string_view ClientConnection::requestId() {
    return ex_->requestId;
}

int ClientConnection::status() {
    return ex_->plugins.phase == PluginState::Phase::kRequest ? 0 : ex_->resp.status;
}

bool ClientConnection::setStatus(int status) {
    if (ex_->plugins.phase != PluginState::Phase::kResponse || ex_->responseStarted) return false;
    ex_->resp.status = status;
    ex_->resp.reason = {};  // the upstream's phrase described the old status
    return true;
}

http::HeaderList* ClientConnection::headers(int which, bool forWriting) {
    const PluginState::Phase ph = ex_->plugins.phase;
    if (which == GH_REQUEST) {
        // Changes reach the upstream only while it has not been contacted.
        if (forWriting && (ph != PluginState::Phase::kRequest || ex_->up)) return nullptr;
        return &ex_->req.headers;
    }
    if (which != GH_RESPONSE || ph == PluginState::Phase::kRequest) return nullptr;
    if (forWriting && (ph != PluginState::Phase::kResponse || ex_->responseStarted)) return nullptr;
    return &ex_->resp.headers;
}

bool ClientConnection::setPath(std::string_view path) {
    if (ex_->plugins.phase != PluginState::Phase::kRequest) return false;
    ex_->plugins.path = std::string(path);
    return true;
}

bool ClientConnection::setQuery(std::string_view query) {
    if (ex_->plugins.phase != PluginState::Phase::kRequest) return false;
    ex_->plugins.query = std::string(query);
    return true;
}

std::string* ClientConnection::body(int which, bool forWriting) {
    PluginState& ps = ex_->plugins;
    if (which == GH_REQUEST) {
        if (!ps.bufferRequestBody || !currentPluginHas(GH_PHASE_REQUEST_BODY)) return nullptr;
        if (forWriting && (ps.phase != PluginState::Phase::kRequest || ex_->up)) return nullptr;
        return &ps.requestBody;
    }
    if (which != GH_RESPONSE || !ps.bufferResponseBody || !currentPluginHas(GH_PHASE_RESPONSE_BODY))
        return nullptr;
    if (forWriting && (ps.phase != PluginState::Phase::kResponse || ex_->responseStarted))
        return nullptr;
    return &ps.responseBody;
}

bool ClientConnection::respond(int status, std::vector<std::pair<std::string, std::string>> headers,
                               std::string body) {
    if (ex_->plugins.phase != PluginState::Phase::kRequest) return false;
    ex_->plugins.response = PluginResponse{status, std::move(headers), std::move(body)};
    return true;
}

bool ClientConnection::setConsumer(std::string_view id, std::string_view name) {
    if (ex_->plugins.phase != PluginState::Phase::kRequest || id.empty()) return false;
    ex_->plugins.consumerId = std::string(id);
    ex_->plugins.consumerName = std::string(name);
    return true;
}

std::string_view ClientConnection::consumerId() {
    return ex_->plugins.consumerId;
}

namespace {

plugins::ConsumerView consumerView(const config::Snapshot& snap, const config::ConsumerSpec& c) {
    plugins::ConsumerView v;
    v.id = c.meta.id;
    v.username = c.meta.name;
    v.customId = c.customId;
    if (auto it = snap.consumers.roles.find(&c); it != snap.consumers.roles.end())
        v.roles = it->second;
    return v;
}

}  // namespace

bool ClientConnection::findCredential(int type, std::string_view lookup,
                                      plugins::ConsumerView* consumer,
                                      plugins::CredentialView* credential) {
    const config::Snapshot& snap = *ex_->snapshot;
    const config::ConsumerIndex& idx = snap.consumers;
    const config::ConsumerIndex::Match* m = nullptr;
    if (type == GH_CREDENTIAL_KEY_AUTH) {
        if (lookup.empty() || lookup.size() > 1024) return false;
        const std::string hash = config::sha256Hex(lookup);
        auto it = idx.keyAuth.find(hash);
        if (it != idx.keyAuth.end()) m = &it->second;
    } else if (type == GH_CREDENTIAL_JWT) {
        auto it = idx.jwt.find(lookup);
        if (it != idx.jwt.end()) m = &it->second;
    } else if (type == GH_CREDENTIAL_BASIC_AUTH) {
        auto it = idx.basic.find(lookup);
        if (it != idx.basic.end()) m = &it->second;
    }
    if (!m) return false;
    *consumer = consumerView(snap, *m->consumer);
    const config::CredentialSpec& c = *m->credential;
    credential->type = type;
    credential->id = c.id;
    credential->algorithm = c.algorithm;
    // For basic-auth, the password hash: the plugin verifies it off the worker.
    credential->secret = type == GH_CREDENTIAL_BASIC_AUTH ? std::string_view(c.passwordHash)
                                                          : std::string_view(c.secret);
    credential->publicKey = c.publicKey;
    credential->issuer = c.issuer;
    credential->kid = c.kid;
    return true;
}

bool ClientConnection::currentConsumer(plugins::ConsumerView* consumer) {
    const config::Snapshot& snap = *ex_->snapshot;
    const std::string& id = ex_->plugins.consumerId;
    if (id.empty()) return false;
    const config::ConsumerSpec* c = snap.consumers.find(id);
    if (!c) return false;
    *consumer = consumerView(snap, *c);
    return true;
}

bool ClientConnection::setVar(std::string_view name, std::string_view value) {
    auto& vars = ex_->plugins.vars;
    for (auto it = vars.begin(); it != vars.end(); ++it)
        if (it->first == name) {
            if (value.empty())
                vars.erase(it);
            else
                it->second.assign(value);
            return true;
        }
    if (value.empty()) return true;
    if (vars.size() >= plugins::kMaxVars) return false;
    vars.emplace_back(name, value);
    return true;
}

int ClientConnection::avoidTargets(const config::UpstreamRuntime& u, int picked) const {
    const std::string* avoid = nullptr;
    for (const auto& [name, value] : ex_->plugins.vars)
        if (name == "upstream.avoid") avoid = &value;
    if (!avoid) return picked;
    auto avoided = [&](size_t i) {
        bool found = false;
        http::forEachListElement(*avoid, [&](std::string_view a) {
            if (a == u.targets[i]->address) found = true;
        });
        return found;
    };
    // The balancer's choice if allowed, else the next allowed target in order.
    const size_t n = u.targets.size();
    for (size_t k = 0; k < n; ++k) {
        const size_t i = (static_cast<size_t>(picked) + k) % n;
        if (!avoided(i)) return static_cast<int>(i);
    }
    return -1;
}

plugins::RequestInfoView ClientConnection::requestInfo() {
    const Exchange& ex = *ex_;
    plugins::RequestInfoView v;
    v.upstreamStatus = ex.upstreamStatus;
    v.upstreamError = ex.upstreamError;
    if (ex.target) v.upstreamAddress = (*ex.target)->address;
    v.bytesIn = ex.bytesIn;
    v.bytesOut = ex.bytesOut;
    const uint64_t now = net::monotonicUs();
    v.totalUs = static_cast<int64_t>(now - ex.startUs);
    const int64_t unixNowUs = std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
    v.startUnixUs = unixNowUs - v.totalUs;
    if (ex.dispatchUs && ex.upstreamHeadUs >= ex.dispatchUs)
        v.upstreamUs = static_cast<int64_t>(ex.upstreamHeadUs - ex.dispatchUs);
    return v;
}

const std::string* ClientConnection::var(std::string_view name) {
    for (const auto& [n, v] : ex_->plugins.vars)
        if (n == name) return &v;
    return nullptr;
}

gh_resumer* ClientConnection::pause() {
    PluginState& ps = ex_->plugins;
    const bool pausable = ps.phase == PluginState::Phase::kRequest ||
                          (ps.phase == PluginState::Phase::kResponse && !ex_->responseStarted);
    if (!pausable || ps.pauseIssued || ps.current == PluginState::kNoEntry) return nullptr;
    ps.pauseIssued = true;
    if (!ps.token) {
        ps.token = std::make_shared<ResumeToken>();
        ps.token->connection = this;
    }
    // Any thread may call resume(): it posts to this worker, which finds the connection
    // through the token (cleared when the exchange ends) and never touches a freed one.
    auto token = ps.token;
    auto poster = worker_.poster();
    return new gh_resumer{[token, poster] {
        poster->post([token] {
            if (token->connection) token->connection->resumePlugins(token.get());
        });
    }};
}

// ---------------------------------------------------------------------------------------
// Observability: trace context in, metrics and spans out.

void ClientConnection::startTrace(Exchange& ex, const config::RuntimeSettings& s) {
    ex.traced = true;
    // Continue the client's trace when it sent exactly one valid traceparent.
    std::string_view incoming;
    int count = 0;
    for (const auto& f : ex.req.headers.fields())
        if (f.name.size() == 11 && http::iequals(f.name, "traceparent")) {
            incoming = f.value;
            ++count;
        }
    observe::RequestIdGenerator& rng = worker_.ids();
    if (count != 1 || !ex.trace.parseTraceparent(http::trimOws(incoming))) {
        ex.trace = {};
        ex.dropTracestate = true;  // tracestate belongs to the traceparent it came with
        observe::TraceContext::storeId(ex.trace.traceId, rng.random());
        observe::TraceContext::storeId(ex.trace.traceId + 8, rng.random());
        // A new trace is sampled with the configured probability (53 random bits).
        if (s.traceSampleRatio >= 1)
            ex.trace.flags = 1;
        else if (s.traceSampleRatio > 0)
            ex.trace.flags =
                static_cast<double>(rng.random() >> 11) * 0x1.0p-53 < s.traceSampleRatio ? 1 : 0;
    }
    uint64_t span = 0;
    while (span == 0)
        span = rng.random();
    observe::TraceContext::storeId(ex.trace.spanId, span);
    ex.trace.formatTraceparent(ex.traceparent);
}

void ClientConnection::observeExchange(Exchange& ex) {
    if (!ex.snapshot) return;
    const config::Snapshot& snap = *ex.snapshot;
    const uint64_t endUs = net::monotonicUs();
    const uint64_t totalUs = endUs - ex.startUs;
    // A response that never started was abandoned: the client closed first (nginx's 499).
    const int status = ex.responseStarted ? ex.status : 499;
    const bool proxied = ex.upstreamHeadUs != 0 && ex.dispatchUs != 0;

    if (snap.settings->metricsEnabled) {
        const config::Snapshot::RouteMetrics* rm =
            ex.route && !snap.routeMetrics.empty() ? &snap.routeMetrics[ex.route->order] : nullptr;
        observe::RouteSeries* series = rm ? rm->route.get() : snap.unmatchedMetrics.get();
        if (series) {
            observe::RouteCells& c = series->local(worker_.index());
            const uint8_t method = ex.req.methodName.empty() ? observe::methodSlot(-1)
                                                             : observe::methodSlot(ex.req.method);
            c.countStatus(method, status);
            if (status >= 500) c.errors.add(1);
            c.duration.record(totalUs);
            c.bytesReceived.add(ex.bytesIn);
            c.bytesSent.add(ex.bytesOut);
            if (proxied) {
                // The gateway's part: routing and request plugins before the upstream was
                // contacted, response plugins while the head was held.
                const uint64_t before = ex.dispatchUs - ex.startUs;
                const uint64_t held =
                    ex.heldUs > ex.upstreamHeadUs ? ex.heldUs - ex.upstreamHeadUs : 0;
                c.overhead.record(before + held);
                if (rm && rm->upstream)
                    rm->upstream->local(worker_.index())
                        .duration.record(ex.upstreamHeadUs - ex.dispatchUs);
            } else {
                c.overhead.record(totalUs);  // answered by the gateway itself
            }
        }
    }

    observe::SpanExporter* spans = worker_.spans();
    if (spans && ex.traced && ex.trace.sampled()) {
        timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        const uint64_t endNs =
            static_cast<uint64_t>(now.tv_sec) * 1000000000u + static_cast<uint64_t>(now.tv_nsec);
        observe::SpanRecord r;
        r.trace = ex.trace;
        r.endUnixNs = endNs;
        r.startUnixNs = endNs - totalUs * 1000u;
        r.status = status;
        r.method = ex.req.methodName;
        r.target = ex.req.target;
        r.host = ex.req.hostHeader;
        if (ex.route) r.route = ex.route->spec->meta.name;
        r.requestId = ex.requestId;
        r.clientIp = clientIp_;
        if (proxied && ex.target) r.upstream = (*ex.target)->address;
        spans->submit(worker_.index(), std::move(r));
    }
}

}  // namespace gatehouse::proxy
