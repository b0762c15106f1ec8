#include "upstream/connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "net/socket_io.h"
#include "upstream/pool.h"

namespace gatehouse::upstream {

const char* describe(UpstreamFailure f) {
    switch (f) {
        case UpstreamFailure::kConnectFailed:
            return "upstream connection failed";
        case UpstreamFailure::kConnectTimeout:
            return "upstream connect timed out";
        case UpstreamFailure::kSendTimeout:
            return "upstream send timed out";
        case UpstreamFailure::kReadTimeout:
            return "upstream timed out";
        case UpstreamFailure::kClosed:
            return "upstream closed the connection";
        case UpstreamFailure::kBadResponse:
            return "invalid response from upstream";
    }
    return "upstream error";
}

UpstreamConnection::UpstreamConnection(net::EventLoop& loop, std::shared_ptr<TargetState> target,
                                       const http::HttpLimits& responseLimits)
    : loop_(loop),
      target_(std::move(target)),
      socket_(target_->resolved.family()),
      parser_(http::HttpParser::Type::kResponse, responseLimits, this),
      timer_([this] { onTimer(); }) {
    const int one = 1;
    ::setsockopt(fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    socket_.connectNB(target_->resolved);  // throws when refused at once
    if (!loop_.add(fd(), this, net::EventLoop::kEdgeTriggered))
        throw std::runtime_error("cannot register upstream socket");
    registered_ = true;
}

UpstreamConnection::~UpstreamConnection() {
    close();
}

int UpstreamConnection::fd() const {
    return socket_.impl()->sockfd();
}

void UpstreamConnection::close() {
    if (closed_) return;
    closed_ = true;
    loop_.timers().disarm(timer_);
    if (registered_) loop_.remove(fd());
    registered_ = false;
    try {
        socket_.close();
    } catch (...) {
    }
}

void UpstreamConnection::attach(ConnectionOwner* owner, const UpstreamTimeouts& timeouts,
                                bool headRequest) {
    owner_ = owner;
    timeouts_ = timeouts;
    headRequest_ = headRequest;
    requestQueued_ = false;
    responseBytes_ = 0;
    reusable_ = false;
    interim_ = false;
    armTimer();
}

void UpstreamConnection::detach() {
    owner_ = nullptr;
    loop_.timers().disarm(timer_);
}

void UpstreamConnection::requestQueued() {
    requestQueued_ = true;
    armTimer();
}

void UpstreamConnection::parkIdle(ConnectionPool* pool, uint64_t idleDeadlineMs) {
    pool_ = pool;
    owner_ = nullptr;
    idleDeadline_ = idleDeadlineMs;
    ++requestsServed_;
    // Pooled connections keep small buffers: the next request would allocate them again.
    in_.trim(16 * 1024);
    out_.trim(16 * 1024);
    armTimer();
}

void UpstreamConnection::unpark() {
    pool_ = nullptr;
    loop_.timers().disarm(timer_);
}

void UpstreamConnection::armTimer() {
    if (closed_) return;
    const uint64_t now = loop_.nowMs();
    if (pool_) {
        loop_.timers().arm(timer_, idleDeadline_);
    } else if (!owner_) {
        loop_.timers().disarm(timer_);
    } else if (connecting_) {
        if (!timer_.armed()) loop_.timers().arm(timer_, now + timeouts_.connectMs);
    } else if (!out_.empty()) {
        loop_.timers().arm(timer_, now + timeouts_.sendMs);
    } else if (requestQueued_ || responseBytes_ > 0) {
        loop_.timers().arm(timer_, now + timeouts_.readMs);
    } else {
        loop_.timers().disarm(timer_);  // waiting for the client's body: its own timer runs
    }
}

void UpstreamConnection::onTimer() {
    if (pool_) {
        pool_->drop(this);
        return;
    }
    if (!owner_) return;
    if (connecting_) return fail(UpstreamFailure::kConnectTimeout);
    if (!out_.empty()) return fail(UpstreamFailure::kSendTimeout);
    fail(UpstreamFailure::kReadTimeout);
}

void UpstreamConnection::fail(UpstreamFailure f) {
    close();
    if (pool_) {
        pool_->drop(this);
    } else if (owner_) {
        ConnectionOwner* o = owner_;
        owner_ = nullptr;
        o->onUpstreamFailure(*this, f);
    }
}

void UpstreamConnection::onIo(uint32_t events) {
    if (closed_) return;
    if (connecting_) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || (events & EPOLLERR)) return fail(UpstreamFailure::kConnectFailed);
        connecting_ = false;
        loop_.timers().disarm(timer_);
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readReady_ = true;
    if (events & (EPOLLRDHUP | EPOLLHUP)) pendingEof_ = true;
    if (events & EPOLLOUT) writeReady_ = true;

    if (pool_) {
        // An idle connection has nothing to say: data or EOF both mean it is finished.
        pool_->drop(this);
        return;
    }
    if (!owner_) return;
    flush();
    if (!closed_ && owner_) readResponse();
}

void UpstreamConnection::flush() {
    if (closed_ || connecting_) return;
    const bool wasHigh = out_.size() >= kLowWatermark;
    while (!out_.empty() && writeReady_) {
        const net::IoResult r = net::writeSome(fd(), out_.data(), out_.size());
        if (r.kind == net::IoResult::kData) {
            out_.consume(r.bytes);
        } else if (r.kind == net::IoResult::kWouldBlock) {
            writeReady_ = false;
        } else {
            return fail(UpstreamFailure::kClosed);
        }
    }
    armTimer();
    if (wasHigh && out_.size() < kLowWatermark && owner_) owner_->onUpstreamDrained(*this);
}

void UpstreamConnection::resumeReading() {
    if (!closed_ && owner_) readResponse();
}

void UpstreamConnection::readResponse() {
    bool delivered = false;
    while (readReady_ && owner_ && !closed_ && owner_->upstreamMayRead()) {
        const size_t want = parser_.headComplete() ? 64 * 1024 : 16 * 1024;
        char* p = in_.prepare(want);
        const net::IoResult r = net::readSome(fd(), p, want);
        if (r.kind == net::IoResult::kWouldBlock) {
            readReady_ = false;
            break;
        }
        if (r.kind == net::IoResult::kError) return fail(UpstreamFailure::kClosed);
        if (r.kind == net::IoResult::kEof) {
            readReady_ = false;
            // Ends an until-close body; anything else is a truncated response.
            if (parser_.headComplete() && parser_.inMessage() && parser_.needsEof() &&
                parser_.finish() != http::HttpParser::Result::kError) {
                reusable_ = false;
                return completeResponse(false);
            }
            return fail(UpstreamFailure::kClosed);
        }
        in_.commit(r.bytes);
        responseBytes_ += r.bytes;
        // A short read drained the socket and a new edge will report new data; but a FIN that
        // came with this data raised no edge of its own, so keep reading to see the EOF.
        if (r.bytes < want && !pendingEof_) readReady_ = false;

        size_t consumed = 0;
        const auto result =
            parser_.execute(in_.data(), in_.data() + fed_, in_.size() - fed_, &consumed);
        if (closed_ || !owner_) return;  // the owner gave up during a callback
        if (result == http::HttpParser::Result::kError) return fail(UpstreamFailure::kBadResponse);
        if (result == http::HttpParser::Result::kPaused)
            return completeResponse(fed_ + consumed < in_.size());
        if (parser_.headComplete()) {
            in_.consume(in_.size());
            fed_ = 0;
        } else {
            fed_ = in_.size();
        }
        delivered = true;
    }
    if (closed_ || !owner_) return;
    armTimer();
    // Last: the owner may write, read more from us (nested), or release us.
    if (delivered) owner_->onUpstreamData(*this);
}

void UpstreamConnection::completeResponse(bool extraBytes) {
    // Bytes beyond a complete response mean a confused upstream: never reuse it.
    reusable_ = reusable_ && !extraBytes;
    in_.clear();
    fed_ = 0;
    parser_.resume();
    ConnectionOwner* o = owner_;
    owner_ = nullptr;
    loop_.timers().disarm(timer_);
    o->onUpstreamComplete(*this);  // may pool or close this connection
}

http::ParserSink::HeadAction UpstreamConnection::onHeadComplete() {
    const int status = parser_.statusCode();
    if (status >= 100 && status < 200) {
        if (status == 101) {
            // Never asked for (Upgrade is hop-by-hop and removed): a protocol error.
            return HeadAction::kReject;
        }
        interim_ = true;  // 100 Continue / 103 Early Hints: swallowed, the final one follows
        return HeadAction::kContinue;
    }
    const HeadAction a = owner_->onUpstreamHead(*this, parser_, in_.data());
    if (headRequest_) return HeadAction::kSkipBody;
    return a;
}

void UpstreamConnection::onBody(const char* data, size_t len) {
    if (owner_) owner_->onUpstreamBody(data, len);
}

void UpstreamConnection::onChunkHeader(uint64_t size) {
    if (owner_) owner_->onUpstreamChunkHeader(size);
}

void UpstreamConnection::onChunkComplete() {
    if (owner_) owner_->onUpstreamChunkComplete();
}

bool UpstreamConnection::onMessageComplete() {
    if (interim_) {
        interim_ = false;
        return false;  // keep parsing: the final response follows
    }
    reusable_ = parser_.keepAlive() && requestFullySent();
    return true;
}

}  // namespace gatehouse::upstream
