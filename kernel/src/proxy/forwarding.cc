#include "proxy/forwarding.h"

#include <llhttp.h>

#include <charconv>

#include "http/ascii.h"
#include "http/header_rules.h"
#include "http/status.h"

namespace gatehouse::proxy {
namespace {

void appendHeader(std::string& out, std::string_view name, std::string_view value) {
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
}

void appendHeader(net::ByteBuffer& out, std::string_view name, std::string_view value) {
    out.append(name);
    out.append(": ", 2);
    out.append(value);
    out.append("\r\n", 2);
}

void appendNumber(std::string& out, uint64_t v) {
    char buf[24];
    auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, static_cast<size_t>(ptr - buf));
}

void appendNumber(net::ByteBuffer& out, uint64_t v) {
    char buf[24];
    auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, static_cast<size_t>(ptr - buf));
}

}  // namespace

void writeUpstreamRequestHead(std::string& out, const http::RequestHead& req, std::string_view path,
                              std::string_view query, std::string_view hostHeader,
                              const ForwardContext& fc) {
    out.clear();
    out.append(req.methodName);
    out.push_back(' ');
    out.append(path);
    if (!query.empty()) {
        out.push_back('?');
        out.append(query);
    }
    out.append(" HTTP/1.1\r\n");

    // Client copies of gateway-owned headers are kept only from trusted peers.
    std::string xff;
    std::string_view xfProto, xfHost, xfPort;
    const http::ConnectionTokens named(req.headers);
    for (const auto& f : req.headers.fields()) {
        switch (http::classifyRequestHeader(f.name)) {
            case http::HeaderClass::kForward:
                if (!named.empty() && named.contains(f.name)) continue;
                if (!fc.traceparent.empty() && (f.name.size() == 11 || f.name.size() == 10) &&
                    (http::iequals(f.name, "traceparent") ||
                     (fc.dropTracestate && http::iequals(f.name, "tracestate"))))
                    continue;
                appendHeader(out, f.name, f.value);
                break;
            case http::HeaderClass::kGatewayOwned:
                if (!fc.trustedPeer) continue;
                if (http::iequals(f.name, "x-forwarded-for")) {
                    if (!xff.empty()) xff.append(", ");
                    xff.append(f.value);
                } else if (http::iequals(f.name, "x-forwarded-proto")) {
                    xfProto = f.value;
                } else if (http::iequals(f.name, "x-forwarded-host")) {
                    xfHost = f.value;
                } else if (http::iequals(f.name, "x-forwarded-port")) {
                    xfPort = f.value;
                }
                break;
            case http::HeaderClass::kHopByHop:
            case http::HeaderClass::kFraming:
                break;
        }
    }
    appendHeader(out, "Host", hostHeader);
    if (!xff.empty()) xff.append(", ");
    xff.append(fc.clientIp);
    appendHeader(out, "X-Forwarded-For", xff);
    appendHeader(out, "X-Forwarded-Proto", xfProto.empty() ? fc.scheme : xfProto);
    if (!xfHost.empty() || !req.hostHeader.empty())
        appendHeader(out, "X-Forwarded-Host", xfHost.empty() ? req.hostHeader : xfHost);
    appendHeader(out, "X-Forwarded-Port", xfPort.empty() ? fc.listenerPort : xfPort);
    appendHeader(out, "X-Request-Id", fc.requestId);
    if (!fc.traceparent.empty()) appendHeader(out, "traceparent", fc.traceparent);
    if (req.framing == http::Framing::kChunked) {
        out.append("Transfer-Encoding: chunked\r\n");
    } else if (req.framing == http::Framing::kLength) {
        out.append("Content-Length: ");
        appendNumber(out, req.contentLength);
        out.append("\r\n");
    } else if (req.method == HTTP_POST || req.method == HTTP_PUT || req.method == HTTP_PATCH) {
        // RFC 9110 8.6: a request whose method defines content says when it has none; some
        // upstreams otherwise read a bodiless POST until the connection closes.
        out.append("Content-Length: 0\r\n");
    }
    out.append("\r\n");
}

void writeClientResponseHead(net::ByteBuffer& out, const http::ResponseHead& resp,
                             ClientFraming framing, bool forwardLength, std::string_view requestId,
                             bool close, bool http10KeepAlive) {
    out.append("HTTP/1.1 ", 9);
    appendNumber(out, static_cast<uint64_t>(resp.status));
    out.append(" ", 1);
    out.append(resp.reason.empty() ? http::reasonPhrase(resp.status) : resp.reason);
    out.append("\r\n", 2);
    const http::ConnectionTokens named(resp.headers);
    for (const auto& f : resp.headers.fields()) {
        if (http::classifyResponseHeader(f.name) != http::HeaderClass::kForward) continue;
        if (!named.empty() && named.contains(f.name)) continue;
        appendHeader(out, f.name, f.value);
    }
    appendHeader(out, "X-Request-Id", requestId);
    if (framing == ClientFraming::kLength || forwardLength) {
        out.append("Content-Length: ", 16);
        appendNumber(out, resp.contentLength);
        out.append("\r\n", 2);
    } else if (framing == ClientFraming::kChunked) {
        out.append("Transfer-Encoding: chunked\r\n", 28);
    }
    if (close)
        out.append("Connection: close\r\n", 19);
    else if (http10KeepAlive)
        out.append("Connection: keep-alive\r\n", 24);
    out.append("\r\n", 2);
}

void appendChunkSize(net::ByteBuffer& out, uint64_t size) {
    char buf[24];
    auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, size, 16);
    out.append(buf, static_cast<size_t>(ptr - buf));
    out.append("\r\n", 2);
}

}  // namespace gatehouse::proxy
