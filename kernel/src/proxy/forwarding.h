#pragma once

#include <string>
#include <string_view>

#include "http/message.h"
#include "net/byte_buffer.h"

namespace gatehouse::proxy {

/// What the gateway knows about the hop it received a request on.
struct ForwardContext {
    std::string_view clientIp;
    std::string_view scheme = "http";
    std::string_view listenerPort;
    bool trustedPeer = false;  // keep (append to) the client's X-Forwarded-* headers
    std::string_view requestId;
    /// The gateway's traceparent ("" = trace context off: the client's headers pass as they
    /// are). It replaces the client's; `dropTracestate` when the client's traceparent was
    /// invalid, whose tracestate then means nothing.
    std::string_view traceparent;
    bool dropTracestate = false;
};

/// Serializes the request head sent upstream: request line with the rewritten path, the
/// client's end-to-end headers (hop-by-hop ones, those named in Connection, and the client's
/// copies of gateway-owned headers removed), then Host, X-Forwarded-For/-Proto/-Host/-Port,
/// X-Request-Id and the body framing.
void writeUpstreamRequestHead(std::string& out, const http::RequestHead& req, std::string_view path,
                              std::string_view query, std::string_view hostHeader,
                              const ForwardContext& fc);

enum class ClientFraming { kNone, kLength, kChunked, kClose };

/// Serializes the response head sent to the client: the upstream's status and end-to-end
/// headers, then X-Request-Id, framing and Connection as this hop needs them.
void writeClientResponseHead(net::ByteBuffer& out, const http::ResponseHead& resp,
                             ClientFraming framing, bool forwardLength, std::string_view requestId,
                             bool close, bool http10KeepAlive);

/// Appends "<hex size>\r\n".
void appendChunkSize(net::ByteBuffer& out, uint64_t size);

}  // namespace gatehouse::proxy
