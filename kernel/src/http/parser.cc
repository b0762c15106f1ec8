#include "http/parser.h"

#include <algorithm>

#include "http/ascii.h"

namespace gatehouse::http {

HttpParser::HttpParser(Type type, const HttpLimits& limits, ParserSink* sink)
    : type_(type), limits_(limits), sink_(sink) {
    llhttp_settings_init(&settings_);
    settings_.on_message_begin = &HttpParser::onMessageBegin;
    settings_.on_url = &HttpParser::onUrl;
    settings_.on_status = &HttpParser::onStatus;
    settings_.on_header_field = &HttpParser::onHeaderField;
    settings_.on_header_field_complete = &HttpParser::onHeaderFieldComplete;
    settings_.on_header_value = &HttpParser::onHeaderValue;
    settings_.on_header_value_complete = &HttpParser::onHeaderValueComplete;
    settings_.on_headers_complete = &HttpParser::onHeadersComplete;
    settings_.on_body = &HttpParser::onBody;
    settings_.on_chunk_header = &HttpParser::onChunkHeader;
    settings_.on_chunk_complete = &HttpParser::onChunkComplete;
    settings_.on_message_complete = &HttpParser::onMessageComplete;
    reset();
    headers_.reserve(32);
}

void HttpParser::reset() {
    llhttp_init(&parser_, type_ == Type::kRequest ? HTTP_REQUEST : HTTP_RESPONSE, &settings_);
    parser_.data = this;
    error_ = {};
    inMessage_ = headComplete_ = paused_ = valueStarted_ = false;
    headers_.clear();
}

int HttpParser::fail(int status, const char* reason) {
    error_ = {status, reason};
    return HPE_USER;
}

HttpParser::Result HttpParser::execute(const char* messageStart, const char* data, size_t len,
                                       size_t* consumed) {
    base_ = messageStart;
    const llhttp_errno_t rc = llhttp_execute(&parser_, data, len);
    if (rc == HPE_OK) {
        *consumed = len;
        return Result::kNeedMore;
    }
    const char* pos = llhttp_get_error_pos(&parser_);
    *consumed = pos ? static_cast<size_t>(pos - data) : len;
    if (rc == HPE_PAUSED || rc == HPE_PAUSED_UPGRADE) {
        // An Upgrade request is proxied as a plain request (Upgrade is hop-by-hop and
        // removed), so the stream continues as HTTP after it.
        paused_ = true;
        return Result::kPaused;
    }
    if (error_.reason[0] == '\0') {
        switch (rc) {
            case HPE_INVALID_VERSION:
                error_ = {505, "unsupported HTTP version"};
                break;
            case HPE_INVALID_TRANSFER_ENCODING:
                error_ = {400, "invalid Transfer-Encoding"};
                break;
            case HPE_UNEXPECTED_CONTENT_LENGTH:
                error_ = {400, "Content-Length conflicts with Transfer-Encoding or repeats"};
                break;
            case HPE_INVALID_CONTENT_LENGTH:
                error_ = {400, "invalid Content-Length"};
                break;
            case HPE_INVALID_METHOD:
                error_ = {400, "invalid method"};
                break;
            case HPE_INVALID_URL:
                error_ = {400, "invalid request target"};
                break;
            case HPE_INVALID_CHUNK_SIZE:
                error_ = {400, "invalid chunk size"};
                break;
            default:
                error_ = {400, llhttp_errno_name(rc)};
                break;
        }
    }
    return Result::kError;
}

HttpParser::Result HttpParser::finish() {
    const llhttp_errno_t rc = llhttp_finish(&parser_);
    if (rc == HPE_OK) return Result::kNeedMore;
    if (rc == HPE_PAUSED) {
        paused_ = true;
        return Result::kPaused;
    }
    if (error_.reason[0] == '\0') error_ = {400, "message truncated"};
    return Result::kError;
}

void HttpParser::resume() {
    if (!paused_) return;
    paused_ = false;
    if (llhttp_get_errno(&parser_) == HPE_PAUSED_UPGRADE)
        llhttp_resume_after_upgrade(&parser_);
    else
        llhttp_resume(&parser_);
}

bool HttpParser::extend(Span& span, const char* at, size_t len) {
    const uint32_t off = offsetOf(at);
    if (span.len == 0) {
        span.off = off;
    } else if (off != span.off + span.len) {
        return false;  // not contiguous with what came before
    }
    span.len += static_cast<uint32_t>(len);
    return true;
}

int HttpParser::countHeadBytes(size_t len) {
    headerBytes_ += len;
    if (headerBytes_ > limits_.maxHeaderBytes)
        return fail(type_ == Type::kRequest ? 431 : 502, "header block too large");
    return 0;
}

int HttpParser::onMessageBegin(llhttp_t* p) {
    HttpParser& s = self(p);
    s.inMessage_ = true;
    s.headComplete_ = false;
    s.valueStarted_ = false;
    s.url_ = s.statusText_ = s.field_ = s.value_ = {};
    s.headers_.clear();
    s.headerBytes_ = 0;
    s.bodyBytes_ = 0;
    s.headLength_ = 0;
    return 0;
}

int HttpParser::onUrl(llhttp_t* p, const char* at, size_t len) {
    HttpParser& s = self(p);
    s.extend(s.url_, at, len);
    if (s.url_.len > s.limits_.maxRequestLine) return s.fail(414, "request target too long");
    return 0;
}

int HttpParser::onStatus(llhttp_t* p, const char* at, size_t len) {
    HttpParser& s = self(p);
    s.extend(s.statusText_, at, len);
    if (s.statusText_.len > 512) return s.fail(502, "status line too long");
    return 0;
}

int HttpParser::onHeaderField(llhttp_t* p, const char* at, size_t len) {
    HttpParser& s = self(p);
    if (s.headComplete_) return s.countHeadBytes(len);  // trailer: counted, not kept
    s.extend(s.field_, at, len);
    return s.countHeadBytes(len);
}

int HttpParser::onHeaderFieldComplete(llhttp_t* p) {
    HttpParser& s = self(p);
    if (s.headComplete_) return 0;
    // llhttp keeps whitespace before the colon in the name; RFC 9112 5.1 says reject.
    if (!isToken(std::string_view(s.base_ + s.field_.off, s.field_.len)))
        return s.fail(s.type_ == Type::kRequest ? 400 : 502, "invalid header field name");
    s.valueStarted_ = false;
    s.value_ = {};
    return 0;
}

int HttpParser::onHeaderValue(llhttp_t* p, const char* at, size_t len) {
    HttpParser& s = self(p);
    if (s.headComplete_) return s.countHeadBytes(len);
    // llhttp accepts obs-fold by delivering the continuation line as a second, non-contiguous
    // piece of the same value. RFC 9112 5.2: a server must reject it.
    if (s.valueStarted_ && !s.extend(s.value_, at, len))
        return s.fail(s.type_ == Type::kRequest ? 400 : 502, "obsolete line folding in header");
    if (!s.valueStarted_) {
        s.value_ = {s.offsetOf(at), static_cast<uint32_t>(len)};
        s.valueStarted_ = true;
    }
    return s.countHeadBytes(len + 4);  // ": " and CRLF
}

int HttpParser::onHeaderValueComplete(llhttp_t* p) {
    HttpParser& s = self(p);
    if (s.headComplete_) return 0;
    if (s.headers_.size() >= s.limits_.maxHeaderCount)
        return s.fail(s.type_ == Type::kRequest ? 431 : 502, "too many header fields");
    Span v = s.value_;
    while (v.len > 0 && isOws(s.base_[v.off + v.len - 1]))
        --v.len;  // trailing OWS
    s.headers_.push_back({s.field_, v});
    s.field_ = {};
    s.value_ = {};
    s.valueStarted_ = false;
    return 0;
}

int HttpParser::onHeadersComplete(llhttp_t* p) {
    HttpParser& s = self(p);
    s.headComplete_ = true;
    // The extent of the recorded spans: what a caller must copy to keep the head.
    auto end = [](Span sp) { return sp.off + sp.len; };
    s.headLength_ = std::max(end(s.url_), end(s.statusText_));
    if (!s.headers_.empty())
        s.headLength_ = std::max<size_t>(
            s.headLength_, std::max(end(s.headers_.back().name), end(s.headers_.back().value)));
    if (s.type_ == Type::kRequest && (p->flags & F_CONTENT_LENGTH) && s.limits_.maxBodyBytes &&
        p->content_length > s.limits_.maxBodyBytes)
        return s.fail(413, "request body too large");
    switch (s.sink_->onHeadComplete()) {
        case ParserSink::HeadAction::kContinue:
            return 0;
        case ParserSink::HeadAction::kSkipBody:
            return 1;
        case ParserSink::HeadAction::kPause:
            return HPE_PAUSED;
        case ParserSink::HeadAction::kReject:
            if (s.error_.reason[0] == '\0')
                s.error_ = {s.type_ == Type::kRequest ? 400 : 502, "message rejected"};
            return -1;
    }
    return 0;
}

int HttpParser::onBody(llhttp_t* p, const char* at, size_t len) {
    HttpParser& s = self(p);
    s.bodyBytes_ += len;
    if (s.type_ == Type::kRequest && s.limits_.maxBodyBytes &&
        s.bodyBytes_ > s.limits_.maxBodyBytes)
        return s.fail(413, "request body too large");
    s.sink_->onBody(at, len);
    return 0;
}

int HttpParser::onChunkHeader(llhttp_t* p) {
    self(p).sink_->onChunkHeader(p->content_length);
    return 0;
}

int HttpParser::onChunkComplete(llhttp_t* p) {
    self(p).sink_->onChunkComplete();
    return 0;
}

int HttpParser::onMessageComplete(llhttp_t* p) {
    HttpParser& s = self(p);
    s.inMessage_ = false;
    return s.sink_->onMessageComplete() ? HPE_PAUSED : 0;
}

}  // namespace gatehouse::http
