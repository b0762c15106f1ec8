#pragma once

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "http/limits.h"

namespace gatehouse::http {

/// Receives what the parser finds after the head. Called synchronously from execute().
class ParserSink {
public:
    enum class HeadAction { kContinue, kSkipBody, kPause, kReject };
    /// The head is complete; head spans are valid until the next execute(). kReject ends
    /// parsing with an error (call HttpParser::reject() first to say which).
    virtual HeadAction onHeadComplete() = 0;
    virtual void onBody(const char* data, size_t len) = 0;
    /// A chunk of `size` bytes follows (chunked framing only; size 0 = last chunk).
    virtual void onChunkHeader(uint64_t size) { (void)size; }
    virtual void onChunkComplete() {}
    /// Return true to pause parsing right after this message (pipelining: one at a time).
    virtual bool onMessageComplete() = 0;

protected:
    ~ParserSink() = default;
};

/// Strict HTTP/1.1 parsing with llhttp (no lenient flags), plus the checks llhttp leaves to
/// its user: header-name tokens, obs-fold, limits (414/431/413), trailing whitespace.
///
/// Head fields are recorded as offsets from the start of the message, so the caller's buffer
/// may move between execute() calls as long as the message's bytes stay contiguous from
/// `messageStart`.
class HttpParser {
public:
    enum class Type { kRequest, kResponse };
    enum class Result { kNeedMore, kPaused, kError };

    struct Span {
        uint32_t off = 0;
        uint32_t len = 0;
    };
    struct RawHeader {
        Span name;
        Span value;
    };
    struct Error {
        int status = 400;  // what a client should be told
        const char* reason = "";
    };

    HttpParser(Type type, const HttpLimits& limits, ParserSink* sink);
    HttpParser(const HttpParser&) = delete;
    HttpParser& operator=(const HttpParser&) = delete;

    /// Parses data[0..len). `messageStart` is where the current message's first byte is (or
    /// will be); spans are relative to it. `*consumed` is how much was used: less than len
    /// after a pause or error.
    Result execute(const char* messageStart, const char* data, size_t len, size_t* consumed);
    /// The peer closed: completes an until-EOF body, or reports a truncated message.
    Result finish();
    /// Continues after a kPaused.
    void resume();
    /// Makes the parser ready for an unrelated message stream (a pooled upstream connection).
    void reset();
    void setLimits(const HttpLimits& limits) { limits_ = limits; }
    /// From onHeadComplete: the status and reason execute() will report.
    void reject(int status, const char* reason) { error_ = {status, reason}; }

    const Error& error() const { return error_; }
    bool inMessage() const { return inMessage_; }
    bool headComplete() const { return headComplete_; }

    // Valid from onHeadComplete until the next message begins.
    Span url() const { return url_; }
    Span status() const { return statusText_; }
    const std::vector<RawHeader>& headers() const { return headers_; }
    /// How many bytes from the message start hold every span above (copy these to keep them).
    size_t headLength() const { return headLength_; }
    uint8_t method() const { return parser_.method; }
    uint8_t versionMajor() const { return parser_.http_major; }
    uint8_t versionMinor() const { return parser_.http_minor; }
    int statusCode() const { return parser_.status_code; }
    bool keepAlive() const { return llhttp_should_keep_alive(&parser_) != 0; }
    bool needsEof() const { return llhttp_message_needs_eof(&parser_) != 0; }
    uint64_t contentLength() const { return parser_.content_length; }
    bool hasContentLength() const { return (parser_.flags & F_CONTENT_LENGTH) != 0; }
    bool isChunked() const { return (parser_.flags & F_CHUNKED) != 0; }
    bool hasTransferEncoding() const { return (parser_.flags & F_TRANSFER_ENCODING) != 0; }
    bool isUpgrade() const { return parser_.upgrade != 0; }

private:
    static HttpParser& self(llhttp_t* p) { return *static_cast<HttpParser*>(p->data); }
    static int onMessageBegin(llhttp_t* p);
    static int onUrl(llhttp_t* p, const char* at, size_t len);
    static int onStatus(llhttp_t* p, const char* at, size_t len);
    static int onHeaderField(llhttp_t* p, const char* at, size_t len);
    static int onHeaderFieldComplete(llhttp_t* p);
    static int onHeaderValue(llhttp_t* p, const char* at, size_t len);
    static int onHeaderValueComplete(llhttp_t* p);
    static int onHeadersComplete(llhttp_t* p);
    static int onBody(llhttp_t* p, const char* at, size_t len);
    static int onChunkHeader(llhttp_t* p);
    static int onChunkComplete(llhttp_t* p);
    static int onMessageComplete(llhttp_t* p);

    int fail(int status, const char* reason);
    uint32_t offsetOf(const char* at) const { return static_cast<uint32_t>(at - base_); }
    bool extend(Span& span, const char* at, size_t len);
    int countHeadBytes(size_t len);

    Type type_;
    HttpLimits limits_;
    ParserSink* sink_;
    llhttp_settings_t settings_{};
    llhttp_t parser_{};
    const char* base_ = nullptr;

    Error error_;
    bool inMessage_ = false;
    bool headComplete_ = false;
    bool paused_ = false;
    bool valueStarted_ = false;
    Span url_;
    Span statusText_;
    Span field_;
    Span value_;
    std::vector<RawHeader> headers_;
    size_t headerBytes_ = 0;
    size_t headLength_ = 0;
    uint64_t bodyBytes_ = 0;
};

}  // namespace gatehouse::http
