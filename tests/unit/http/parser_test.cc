#include "http/parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatehouse::http {
namespace {

using namespace std::string_view_literals;
using Result = HttpParser::Result;
using HeadAction = ParserSink::HeadAction;

/// One parsed message as the sink saw it: the head is copied out at onHeadComplete (spans
/// are only valid until the next message), body and chunk events are appended as they come.
struct Message {
    std::string url;
    std::string statusText;
    int statusCode = 0;
    uint8_t method = 0;
    HttpParser::Span urlSpan;
    std::vector<HttpParser::RawHeader> spans;
    std::vector<std::pair<std::string, std::string>> headers;
    size_t headLength = 0;
    bool chunked = false;
    std::string body;
    std::vector<uint64_t> chunkSizes;
    int chunkCompletes = 0;
    bool complete = false;
};

class RecordingSink final : public ParserSink {
public:
    HttpParser* parser = nullptr;
    const char* base = nullptr;  // the current message start, set before every execute()
    HeadAction headAction = HeadAction::kContinue;
    bool pauseAfterMessage = false;
    int rejectStatus = 0;
    std::vector<Message> messages;

    HeadAction onHeadComplete() override {
        Message m;
        m.urlSpan = parser->url();
        m.url.assign(base + m.urlSpan.off, m.urlSpan.len);
        m.statusText.assign(base + parser->status().off, parser->status().len);
        m.statusCode = parser->statusCode();
        m.method = parser->method();
        m.spans = parser->headers();
        for (const auto& h : m.spans)
            m.headers.emplace_back(std::string(base + h.name.off, h.name.len),
                                   std::string(base + h.value.off, h.value.len));
        m.headLength = parser->headLength();
        m.chunked = parser->isChunked();
        messages.push_back(std::move(m));
        if (rejectStatus) parser->reject(rejectStatus, "rejected by the test sink");
        return headAction;
    }
    void onBody(const char* data, size_t len) override {
        if (messages.empty()) {
            ADD_FAILURE() << "body before head";
            return;
        }
        messages.back().body.append(data, len);
    }
    void onChunkHeader(uint64_t size) override {
        if (!messages.empty()) messages.back().chunkSizes.push_back(size);
    }
    void onChunkComplete() override {
        if (!messages.empty()) ++messages.back().chunkCompletes;
    }
    bool onMessageComplete() override {
        if (messages.empty()) {
            ADD_FAILURE() << "message complete before head";
        } else {
            messages.back().complete = true;
        }
        return pauseAfterMessage;
    }
};

/// A parser plus its sink, fed from one contiguous wire buffer.
class Harness {
public:
    explicit Harness(HttpParser::Type type = HttpParser::Type::kRequest, HttpLimits limits = {})
        : parser_(type, limits, &sink) {
        sink.parser = &parser_;
    }

    /// Feeds `wire` in pieces of at most `step` bytes. After a pause at a message end the
    /// parser is resumed and the next message starts where the previous one ended.
    Result feed(std::string wire, size_t step = SIZE_MAX) {
        wire_ = std::move(wire);
        size_t msgStart = 0, pos = 0;
        size_t guard = 0;
        while (pos < wire_.size()) {
            if (++guard > 4 * wire_.size() + 16) {
                ADD_FAILURE() << "parser makes no progress at offset " << pos;
                return Result::kError;
            }
            const size_t n = std::min(step, wire_.size() - pos);
            size_t consumed = 0;
            sink.base = wire_.data() + msgStart;
            const Result r =
                parser_.execute(wire_.data() + msgStart, wire_.data() + pos, n, &consumed);
            EXPECT_LE(consumed, n);
            pos += consumed;
            if (r == Result::kError) {
                errorOffset = pos;
                return r;
            }
            if (r == Result::kPaused) {
                pauseOffsets.push_back(pos);
                msgStart = pos;
                parser_.resume();
            }
        }
        return Result::kNeedMore;
    }

    HttpParser& parser() { return parser_; }
    int errorStatus() const { return parser_.error().status; }
    const std::string& wire() const { return wire_; }

    RecordingSink sink;
    std::vector<size_t> pauseOffsets;
    size_t errorOffset = 0;

private:
    HttpParser parser_;
    std::string wire_;
};

HttpLimits smallLimits() {
    HttpLimits l;
    l.maxRequestLine = 64;
    l.maxHeaderBytes = 256;
    l.maxHeaderCount = 3;
    l.maxBodyBytes = 10;
    return l;
}

/// Parses a request that should fail and returns the status the parser chose.
int rejectStatus(const std::string& wire, HttpLimits limits = {}) {
    Harness h(HttpParser::Type::kRequest, limits);
    const Result r = h.feed(wire);
    EXPECT_EQ(r, Result::kError) << "accepted: " << wire;
    if (r != Result::kError) return 0;
    EXPECT_NE(std::string_view(h.parser().error().reason), "") << "an error must carry a reason";
    return h.errorStatus();
}

TEST(HttpParserRequest, HeadFieldsAreSpansIntoTheMessage) {
    Harness h;
    const std::string wire =
        "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nX-Empty:\r\n\r\n";
    ASSERT_EQ(h.feed(wire), Result::kNeedMore);
    ASSERT_EQ(h.sink.messages.size(), 1u);
    const Message& m = h.sink.messages[0];
    EXPECT_TRUE(m.complete);
    EXPECT_EQ(m.method, HTTP_GET);
    EXPECT_EQ(m.url, "/a/b?c=d");
    EXPECT_EQ(m.urlSpan.off, wire.find("/a/b"));
    ASSERT_EQ(m.headers.size(), 3u);
    EXPECT_EQ(m.headers[0], (std::pair<std::string, std::string>{"Host", "example.com"}));
    EXPECT_EQ(m.headers[1], (std::pair<std::string, std::string>{"Accept", "*/*"}));
    EXPECT_EQ(m.headers[2], (std::pair<std::string, std::string>{"X-Empty", ""}));
    EXPECT_EQ(m.spans[0].name.off, wire.find("Host"));
    EXPECT_EQ(m.spans[0].name.len, 4u);
    EXPECT_EQ(m.spans[0].value.off, wire.find("example.com"));
    EXPECT_EQ(m.spans[1].value.off, wire.find("*/*"));
    // headLength covers every span.
    for (const auto& s : m.spans) {
        EXPECT_LE(s.name.off + s.name.len, m.headLength);
        EXPECT_LE(s.value.off + s.value.len, m.headLength);
    }
    EXPECT_LE(m.headLength, wire.size());
    EXPECT_EQ(h.parser().versionMajor(), 1);
    EXPECT_EQ(h.parser().versionMinor(), 1);
    EXPECT_TRUE(h.parser().keepAlive());
}

TEST(HttpParserRequest, TrailingWhitespaceIsTrimmedFromValues) {
    Harness h;
    ASSERT_EQ(h.feed("GET / HTTP/1.1\r\nHost: h\r\nX-A:   spaced value \t \r\nX-B: b\t\r\n\r\n"),
              Result::kNeedMore);
    ASSERT_EQ(h.sink.messages.size(), 1u);
    const auto& hs = h.sink.messages[0].headers;
    ASSERT_EQ(hs.size(), 3u);
    EXPECT_EQ(hs[1].second, "spaced value");
    EXPECT_EQ(hs[2].second, "b");
}

TEST(HttpParserRequest, ObsFoldIsRejected) {
    EXPECT_EQ(rejectStatus("GET / HTTP/1.1\r\nHost: h\r\nX-Fold: a\r\n  b\r\n\r\n"), 400);
    EXPECT_EQ(rejectStatus("GET / HTTP/1.1\r\nHost: h\r\nX-Fold: a\r\n\tb\r\n\r\n"), 400);
}

TEST(HttpParserRequest, ObsFoldIsRejectedEvenWhenFedByteByByte) {
    Harness h;
    EXPECT_EQ(h.feed("GET / HTTP/1.1\r\nHost: h\r\nX-Fold: a\r\n  b\r\n\r\n", 1), Result::kError);
    EXPECT_EQ(h.errorStatus(), 400);
}

TEST(HttpParserRequest, WhitespaceBeforeColonIsRejected) {
    EXPECT_EQ(rejectStatus("GET / HTTP/1.1\r\nHost : h\r\n\r\n"), 400);
    EXPECT_EQ(rejectStatus("GET / HTTP/1.1\r\nHost: h\r\nX-A\t: v\r\n\r\n"), 400);
}

TEST(HttpParserRequest, EmptyHeaderNameIsRejected) {
    EXPECT_EQ(rejectStatus("GET / HTTP/1.1\r\nHost: h\r\n: value\r\n\r\n"), 400);
}

TEST(HttpParserRequest, NonTokenHeaderNameIsRejected) {
    EXPECT_EQ(rejectStatus("GET / HTTP/1.1\r\nHost: h\r\nX(A): v\r\n\r\n"), 400);
}

TEST(HttpParserRequest, BareCrOrNulInFieldValueIsRejected) {
    EXPECT_EQ(rejectStatus(std::string("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n")), 400);
    EXPECT_EQ(rejectStatus(std::string("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n"sv)), 400);
}

TEST(HttpParserRequest, ContentLengthWithTransferEncodingIsRejected) {
    EXPECT_EQ(rejectStatus("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
              400);
    EXPECT_EQ(rejectStatus("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                           "Content-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
              400);
}

TEST(HttpParserRequest, TransferEncodingOtherThanFinalChunkedIsRejected) {
    const int gzip =
        rejectStatus("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nabc");
    EXPECT_TRUE(gzip == 400 || gzip == 501) << gzip;
    const int notLast = rejectStatus(
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n");
    EXPECT_TRUE(notLast == 400 || notLast == 501) << notLast;
}

TEST(HttpParserRequest, DuplicateOrConflictingContentLengthIsRejected) {
    EXPECT_EQ(rejectStatus("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                           "Content-Length: 6\r\n\r\nhello!"),
              400);
    EXPECT_EQ(rejectStatus("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                           "Content-Length: 5\r\n\r\nhello"),
              400);
}

TEST(HttpParserRequest, MalformedContentLengthIsRejected) {
    EXPECT_EQ(rejectStatus("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n"), 400);
    EXPECT_EQ(rejectStatus("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"), 400);
    EXPECT_EQ(rejectStatus("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\nab"), 400);
}

TEST(HttpParserLimits, RequestTargetLongerThanLimitIs414) {
    const HttpLimits l = smallLimits();
    const std::string longTarget = "/" + std::string(l.maxRequestLine, 'a');  // limit + 1
    EXPECT_EQ(rejectStatus("GET " + longTarget + " HTTP/1.1\r\nHost: h\r\n\r\n", l), 414);

    Harness ok(HttpParser::Type::kRequest, l);
    const std::string atLimit = "/" + std::string(l.maxRequestLine - 1, 'a');
    EXPECT_EQ(ok.feed("GET " + atLimit + " HTTP/1.1\r\nHost: h\r\n\r\n"), Result::kNeedMore);
    ASSERT_EQ(ok.sink.messages.size(), 1u);
    EXPECT_EQ(ok.sink.messages[0].url, atLimit);
}

TEST(HttpParserLimits, LongTargetIs414EvenWhenFedByteByByte) {
    Harness h(HttpParser::Type::kRequest, smallLimits());
    EXPECT_EQ(h.feed("GET /" + std::string(200, 'b') + " HTTP/1.1\r\nHost: h\r\n\r\n", 1),
              Result::kError);
    EXPECT_EQ(h.errorStatus(), 414);
}

TEST(HttpParserLimits, HeaderBlockLargerThanLimitIs431) {
    EXPECT_EQ(
        rejectStatus("GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(300, 'x') + "\r\n\r\n",
                     smallLimits()),
        431);
    // Many small fields add up too.
    HttpLimits l = smallLimits();
    l.maxHeaderCount = 1000;
    std::string wire = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (int i = 0; i < 30; ++i)
        wire += "X-" + std::to_string(i) + ": 0123456789\r\n";
    EXPECT_EQ(rejectStatus(wire + "\r\n", l), 431);
}

TEST(HttpParserLimits, HeaderBlockWithinLimitIsAccepted) {
    Harness h(HttpParser::Type::kRequest, smallLimits());
    EXPECT_EQ(h.feed("GET / HTTP/1.1\r\nHost: h\r\nX-Mid: " + std::string(100, 'x') + "\r\n\r\n"),
              Result::kNeedMore);
    EXPECT_EQ(h.sink.messages.size(), 1u);
}

TEST(HttpParserLimits, MoreFieldsThanLimitIs431) {
    EXPECT_EQ(
        rejectStatus("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", smallLimits()),
        431);
    Harness ok(HttpParser::Type::kRequest, smallLimits());
    EXPECT_EQ(ok.feed("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n"), Result::kNeedMore);
    ASSERT_EQ(ok.sink.messages.size(), 1u);
    EXPECT_EQ(ok.sink.messages[0].headers.size(), 3u);
}

TEST(HttpParserLimits, ContentLengthAboveLimitIs413BeforeTheBody) {
    Harness h(HttpParser::Type::kRequest, smallLimits());
    // Only the head is sent: the check must not wait for body bytes.
    EXPECT_EQ(h.feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n"), Result::kError);
    EXPECT_EQ(h.errorStatus(), 413);
    EXPECT_TRUE(h.sink.messages.empty()) << "the sink must not see a head that is rejected";
}

TEST(HttpParserLimits, ContentLengthAtLimitIsAccepted) {
    Harness h(HttpParser::Type::kRequest, smallLimits());
    EXPECT_EQ(h.feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789"),
              Result::kNeedMore);
    ASSERT_EQ(h.sink.messages.size(), 1u);
    EXPECT_EQ(h.sink.messages[0].body, "0123456789");
    EXPECT_TRUE(h.sink.messages[0].complete);
}

TEST(HttpParserLimits, ChunkedBodyAboveLimitIs413) {
    Harness h(HttpParser::Type::kRequest, smallLimits());
    EXPECT_EQ(h.feed("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n"),
              Result::kError);
    EXPECT_EQ(h.errorStatus(), 413);
    ASSERT_EQ(h.sink.messages.size(), 1u);
    EXPECT_LE(h.sink.messages[0].body.size(), 10u);
    EXPECT_FALSE(h.sink.messages[0].complete);
}

TEST(HttpParserLimits, ZeroMaxBodyMeansUnlimited) {
    HttpLimits l;
    l.maxBodyBytes = 0;
    Harness h(HttpParser::Type::kRequest, l);
    const std::string body(100000, 'z');
    EXPECT_EQ(h.feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n" + body),
              Result::kNeedMore);
    ASSERT_EQ(h.sink.messages.size(), 1u);
    EXPECT_EQ(h.sink.messages[0].body.size(), body.size());
}

TEST(HttpParserRequest, UnsupportedVersionIs505) {
    EXPECT_EQ(rejectStatus("GET / HTTP/1.2\r\nHost: h\r\n\r\n"), 505);
    EXPECT_EQ(rejectStatus("GET / HTTP/3.0\r\nHost: h\r\n\r\n"), 505);
}

TEST(HttpParserRequest, Http10IsParsed) {
    Harness h;
    EXPECT_EQ(h.feed("GET / HTTP/1.0\r\nHost: h\r\n\r\n"), Result::kNeedMore);
    ASSERT_EQ(h.sink.messages.size(), 1u);
    EXPECT_EQ(h.parser().versionMinor(), 0);
    EXPECT_FALSE(h.parser().keepAlive());
}

TEST(HttpParserRequest, SinkRejectionReportsTheSinksStatus) {
    Harness h;
    h.sink.headAction = HeadAction::kReject;
    h.sink.rejectStatus = 417;
    EXPECT_EQ(h.feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), Result::kError);
    EXPECT_EQ(h.errorStatus(), 417);
}

TEST(HttpParserRequest, ObsTextInValuesIsAccepted) {
    Harness h;
    ASSERT_EQ(h.feed("GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\xc3\xa9\r\n\r\n"),
              Result::kNeedMore);
    ASSERT_EQ(h.sink.messages.size(), 1u);
    EXPECT_EQ(h.sink.messages[0].headers[1].second, "caf\xc3\xa9");
}

TEST(HttpParserRequest, AbsoluteFormTargetIsKeptAsReceived) {
    Harness h;
    ASSERT_EQ(h.feed("GET http://example.com/p?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"),
              Result::kNeedMore);
    ASSERT_EQ(h.sink.messages.size(), 1u);
    EXPECT_EQ(h.sink.messages[0].url, "http://example.com/p?q=1");
}

TEST(HttpParserRequest, UpgradeRequestIsFollowedByPlainHttp) {
    Harness h;
    ASSERT_EQ(
        h.feed("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
               "GET /next HTTP/1.1\r\nHost: h\r\n\r\n"),
        Result::kNeedMore);
    ASSERT_EQ(h.sink.messages.size(), 2u);
    EXPECT_EQ(h.sink.messages[0].url, "/ws");
    EXPECT_EQ(h.sink.messages[1].url, "/next");
    EXPECT_TRUE(h.sink.messages[1].complete);
}

TEST(HttpParserPipelining, PausesAtEachMessageEndAndParsesTheNext) {
    Harness h;
    h.sink.pauseAfterMessage = true;
    const std::string first = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n";
    const std::string second = "POST /two HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\n\r\nxyz";
    const std::string third = "GET /three HTTP/1.1\r\nHost: c\r\n\r\n";
    ASSERT_EQ(h.feed(first + second + third), Result::kNeedMore);
    ASSERT_EQ(h.sink.messages.size(), 3u);
    EXPECT_EQ(h.pauseOffsets, (std::vector<size_t>{first.size(), first.size() + second.size(),
                                                   first.size() + second.size() + third.size()}));
    EXPECT_EQ(h.sink.messages[0].url, "/one");
    EXPECT_EQ(h.sink.messages[0].headers[0].second, "a");
    EXPECT_EQ(h.sink.messages[1].url, "/two");
    EXPECT_EQ(h.sink.messages[1].method, HTTP_POST);
    EXPECT_EQ(h.sink.messages[1].headers[0].second, "b");
    EXPECT_EQ(h.sink.messages[1].body, "xyz");
    // Spans of a later message are relative to that message's start.
    EXPECT_EQ(h.sink.messages[1].urlSpan.off, 5u);
    EXPECT_EQ(h.sink.messages[2].url, "/three");
    EXPECT_EQ(h.sink.messages[2].headers[0].second, "c");
    for (const auto& m : h.sink.messages)
        EXPECT_TRUE(m.complete);
}

TEST(HttpParserPipelining, ExecuteStopsAtThePause) {
    RecordingSink sink;
    HttpParser parser(HttpParser::Type::kRequest, HttpLimits{}, &sink);
    sink.parser = &parser;
    sink.pauseAfterMessage = true;
    const std::string first = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n";
    const std::string wire = first + "GET /two HTTP/1.1\r\nHost: b\r\n\r\n";
    size_t consumed = 0;
    sink.base = wire.data();
    EXPECT_EQ(parser.execute(wire.data(), wire.data(), wire.size(), &consumed), Result::kPaused);
    EXPECT_EQ(consumed, first.size());
    EXPECT_EQ(sink.messages.size(), 1u);
    EXPECT_FALSE(parser.inMessage());

    parser.resume();
    const char* next = wire.data() + consumed;
    sink.base = next;
    size_t consumed2 = 0;
    EXPECT_EQ(parser.execute(next, next, wire.size() - consumed, &consumed2), Result::kPaused);
    EXPECT_EQ(consumed2, wire.size() - first.size());
    ASSERT_EQ(sink.messages.size(), 2u);
    EXPECT_EQ(sink.messages[1].url, "/two");
}

TEST(HttpParserSplitting, ByteByByteGivesTheSameSpans) {
    const std::string wire =
        "PUT /x/y?z=1 HTTP/1.1\r\nHost: example.org\r\nX-Long-Header-Name: some value here  \r\n"
        "Content-Length: 4\r\n\r\nbody";
    Harness whole;
    ASSERT_EQ(whole.feed(wire), Result::kNeedMore);
    Harness split;
    ASSERT_EQ(split.feed(wire, 1), Result::kNeedMore);
    ASSERT_EQ(whole.sink.messages.size(), 1u);
    ASSERT_EQ(split.sink.messages.size(), 1u);
    const Message& a = whole.sink.messages[0];
    const Message& b = split.sink.messages[0];
    EXPECT_EQ(b.url, "/x/y?z=1");
    EXPECT_EQ(a.urlSpan.off, b.urlSpan.off);
    EXPECT_EQ(a.urlSpan.len, b.urlSpan.len);
    ASSERT_EQ(b.headers.size(), 3u);
    EXPECT_EQ(a.headers, b.headers);
    EXPECT_EQ(b.headers[1].second, "some value here");
    for (size_t i = 0; i < a.spans.size(); ++i) {
        EXPECT_EQ(a.spans[i].name.off, b.spans[i].name.off) << i;
        EXPECT_EQ(a.spans[i].name.len, b.spans[i].name.len) << i;
        EXPECT_EQ(a.spans[i].value.off, b.spans[i].value.off) << i;
        EXPECT_EQ(a.spans[i].value.len, b.spans[i].value.len) << i;
    }
    EXPECT_EQ(a.headLength, b.headLength);
    EXPECT_EQ(b.body, "body");
    EXPECT_TRUE(b.complete);
}

TEST(HttpParserSplitting, ArbitrarySplitPointsGiveTheSameResult) {
    const std::string wire =
        "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
    for (size_t step : {2u, 3u, 5u, 7u, 13u}) {
        Harness h;
        ASSERT_EQ(h.feed(wire, step), Result::kNeedMore) << step;
        ASSERT_EQ(h.sink.messages.size(), 1u) << step;
        EXPECT_EQ(h.sink.messages[0].body, "abc0123456789abcdef") << step;
        EXPECT_EQ(h.sink.messages[0].headers[1].second, "chunked") << step;
        EXPECT_TRUE(h.sink.messages[0].complete) << step;
    }
}

TEST(HttpParserBody, ChunkCallbacksReportEachChunk) {
    Harness h;
    ASSERT_EQ(h.feed("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
              Result::kNeedMore);
    ASSERT_EQ(h.sink.messages.size(), 1u);
    const Message& m = h.sink.messages[0];
    EXPECT_TRUE(m.chunked);
    EXPECT_EQ(m.chunkSizes, (std::vector<uint64_t>{5, 6, 0}));
    EXPECT_EQ(m.chunkCompletes, 3);
    EXPECT_EQ(m.body, "hello world");
    EXPECT_TRUE(m.complete);
}

TEST(HttpParserBody, ChunkExtensionsAreAccepted) {
    Harness h;
    ASSERT_EQ(h.feed("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "4;name=value\r\nwiki\r\n0\r\n\r\n"),
              Result::kNeedMore);
    ASSERT_EQ(h.sink.messages.size(), 1u);
    EXPECT_EQ(h.sink.messages[0].body, "wiki");
    EXPECT_EQ(h.sink.messages[0].chunkSizes, (std::vector<uint64_t>{4, 0}));
}

TEST(HttpParserBody, InvalidChunkSizeIsRejected) {
    Harness h;
    EXPECT_EQ(h.feed("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "zz\r\nwiki\r\n0\r\n\r\n"),
              Result::kError);
    EXPECT_EQ(h.errorStatus(), 400);
}

TEST(HttpParserBody, TrailersAreNotKeptAsHeaders) {
    Harness h;
    ASSERT_EQ(h.feed("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "2\r\nok\r\n0\r\nX-Trailer: t\r\n\r\n"),
              Result::kNeedMore);
    ASSERT_EQ(h.sink.messages.size(), 1u);
    EXPECT_EQ(h.sink.messages[0].body, "ok");
    EXPECT_TRUE(h.sink.messages[0].complete);
    EXPECT_EQ(h.sink.messages[0].headers.size(), 2u);
}

TEST(HttpParserBody, BinaryBodyIsDeliveredIntact) {
    std::string body;
    for (int i = 0; i < 5000; ++i)
        body.push_back(static_cast<char>(i * 7 % 256));
    const std::string wire = "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n" + body;
    for (size_t step : {size_t{1}, size_t{17}, size_t{4096}, SIZE_MAX}) {
        Harness h;
        ASSERT_EQ(h.feed(wire, step), Result::kNeedMore) << step;
        ASSERT_EQ(h.sink.messages.size(), 1u);
        EXPECT_EQ(h.sink.messages[0].body, body) << step;
        EXPECT_TRUE(h.sink.messages[0].complete);
    }
}

TEST(HttpParserResponse, ParsesStatusLineAndHeaders) {
    Harness h(HttpParser::Type::kResponse);
    ASSERT_EQ(h.feed("HTTP/1.1 201 Created\r\nLocation: /x\r\nContent-Length: 2\r\n\r\nok"),
              Result::kNeedMore);
    ASSERT_EQ(h.sink.messages.size(), 1u);
    const Message& m = h.sink.messages[0];
    EXPECT_EQ(m.statusCode, 201);
    EXPECT_EQ(m.statusText, "Created");
    ASSERT_EQ(m.headers.size(), 2u);
    EXPECT_EQ(m.headers[0].first, "Location");
    EXPECT_EQ(m.headers[0].second, "/x");
    EXPECT_EQ(m.body, "ok");
}

TEST(HttpParserResponse, SkipBodyForHeadResponse) {
    Harness h(HttpParser::Type::kResponse);
    h.sink.pauseAfterMessage = true;
    h.sink.headAction = HeadAction::kSkipBody;
    const std::string headResponse = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
    const std::string next = "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabc";

    size_t consumed = 0;
    const std::string wire = headResponse + next;
    h.sink.base = wire.data();
    ASSERT_EQ(h.parser().execute(wire.data(), wire.data(), wire.size(), &consumed),
              Result::kPaused);
    EXPECT_EQ(consumed, headResponse.size())
        << "a HEAD response has no body despite Content-Length";
    ASSERT_EQ(h.sink.messages.size(), 1u);
    EXPECT_EQ(h.sink.messages[0].statusCode, 200);
    EXPECT_TRUE(h.sink.messages[0].body.empty());
    EXPECT_TRUE(h.sink.messages[0].complete);

    h.parser().resume();
    h.sink.headAction = HeadAction::kContinue;
    const char* start = wire.data() + consumed;
    h.sink.base = start;
    size_t consumed2 = 0;
    ASSERT_EQ(h.parser().execute(start, start, next.size(), &consumed2), Result::kPaused);
    EXPECT_EQ(consumed2, next.size());
    ASSERT_EQ(h.sink.messages.size(), 2u);
    EXPECT_EQ(h.sink.messages[1].statusCode, 404);
    EXPECT_EQ(h.sink.messages[1].statusText, "Not Found");
    EXPECT_EQ(h.sink.messages[1].body, "abc");
}

TEST(HttpParserResponse, NoContentAndInformationalResponsesHaveNoBody) {
    Harness h(HttpParser::Type::kResponse);
    ASSERT_EQ(h.feed("HTTP/1.1 100 Continue\r\n\r\n"
                     "HTTP/1.1 204 No Content\r\n\r\n"
                     "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"
                     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
              Result::kNeedMore);
    ASSERT_EQ(h.sink.messages.size(), 4u);
    EXPECT_EQ(h.sink.messages[0].statusCode, 100);
    EXPECT_EQ(h.sink.messages[1].statusCode, 204);
    EXPECT_EQ(h.sink.messages[2].statusCode, 304);
    EXPECT_EQ(h.sink.messages[3].statusCode, 200);
    for (int i = 0; i < 3; ++i)
        EXPECT_TRUE(h.sink.messages[static_cast<size_t>(i)].body.empty());
    EXPECT_EQ(h.sink.messages[3].body, "hi");
}

TEST(HttpParserResponse, BodyUntilEofCompletesOnFinish) {
    Harness h(HttpParser::Type::kResponse);
    ASSERT_EQ(h.feed("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello "),
              Result::kNeedMore);
    ASSERT_EQ(h.sink.messages.size(), 1u);
    EXPECT_TRUE(h.parser().needsEof());
    EXPECT_FALSE(h.sink.messages[0].complete);
    EXPECT_EQ(h.parser().finish(), Result::kNeedMore);
    EXPECT_TRUE(h.sink.messages[0].complete);
    EXPECT_EQ(h.sink.messages[0].body, "hello ");
}

TEST(HttpParserResponse, TruncatedLengthBodyIsAnErrorOnFinish) {
    Harness h(HttpParser::Type::kResponse);
    ASSERT_EQ(h.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf"), Result::kNeedMore);
    EXPECT_EQ(h.parser().finish(), Result::kError);
    ASSERT_EQ(h.sink.messages.size(), 1u);
    EXPECT_FALSE(h.sink.messages[0].complete);
}

TEST(HttpParserResponse, OversizedResponseHeadIs502NotClientStatus) {
    HttpLimits l = smallLimits();
    Harness h(HttpParser::Type::kResponse, l);
    EXPECT_EQ(h.feed("HTTP/1.1 200 OK\r\nX-Big: " + std::string(400, 'y') + "\r\n\r\n"),
              Result::kError);
    EXPECT_EQ(h.errorStatus(), 502);
}

TEST(HttpParserResponse, ResponseBodyIsNotLimitedByRequestBodyLimit) {
    HttpLimits l = smallLimits();  // maxBodyBytes = 10 applies to requests only
    Harness h(HttpParser::Type::kResponse, l);
    const std::string body(100, 'r');
    EXPECT_EQ(h.feed("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + body), Result::kNeedMore);
    ASSERT_EQ(h.sink.messages.size(), 1u);
    EXPECT_EQ(h.sink.messages[0].body, body);
}

TEST(HttpParserReset, ResetClearsAnErrorForANewStream) {
    Harness h;
    ASSERT_EQ(h.feed("GARBAGE\r\n\r\n"), Result::kError);
    EXPECT_EQ(h.errorStatus(), 400);
    h.parser().reset();
    EXPECT_EQ(h.feed("GET /ok HTTP/1.1\r\nHost: h\r\n\r\n"), Result::kNeedMore);
    ASSERT_EQ(h.sink.messages.size(), 1u);
    EXPECT_EQ(h.sink.messages[0].url, "/ok");
}

}  // namespace
}  // namespace gatehouse::http
