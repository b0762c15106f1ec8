#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/snapshot.h"
#include "http/message.h"
#include "net/byte_buffer.h"
#include "observe/trace_context.h"
#include "plugins/host_api.h"
#include "plugins/instance.h"
#include "proxy/forwarding.h"
#include "proxy/worker.h"
#include "upstream/connection.h"

namespace gatehouse::proxy {

class ClientConnection;

/// Lets a resumer (any thread, possibly after the request ended) find its request: the
/// connection clears `connection` when the exchange ends. Read and written on the worker
/// thread only (resume posts there first).
struct ResumeToken {
    ClientConnection* connection = nullptr;
};

/// A response a plugin prepared with respond().
struct PluginResponse {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

/// Where a request is in its route's plugin chain.
struct PluginState {
    enum class Phase : uint8_t { kNone, kRequest, kResponse, kLog };
    static constexpr size_t kNoEntry = std::numeric_limits<size_t>::max();

    const plugins::PluginChain* chain = nullptr;  // in the pinned snapshot
    std::vector<void*> ctx;                       // each entry's req_ctx
    std::vector<uint8_t> saw;                     // entries whose on_request ran
    size_t requestCursor = 0;                     // next entry for on_request
    size_t responseCursor = 0;                    // on_response runs entries below it, downwards
    size_t current = kNoEntry;                    // entry inside a callback now
    Phase phase = Phase::kNone;
    bool responsePhaseStarted = false;
    bool paused = false;
    bool pauseIssued = false;  // pause() was called in the current callback
    uint64_t pausedAtMs = 0;
    std::shared_ptr<ResumeToken> token;
    std::optional<PluginResponse> response;
    std::string consumerId;
    std::string consumerName;
    std::vector<std::pair<std::string, std::string>> vars;  // var_set, few: a vector is fastest
    std::optional<std::string> path;                        // set_path
    std::optional<std::string> query;                       // set_query
    bool bufferRequestBody = false;                         // on_request waits for the whole body
    bool bufferResponseBody = false;                        // on_response waits for the whole body
    bool holdResponse = false;  // response head held while response plugins run
    std::string requestBody;
    std::string responseBody;
    bool ended = false;  // on_log / on_done ran

    bool anySaw() const {
        for (uint8_t s : saw)
            if (s) return true;
        return false;
    }
};

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
    std::string upstreamHead;     // kept for the one retry on a fresh connection
    std::string upstreamPath;     // after the route's strip_prefix / rewrite_path
    net::ByteBuffer pendingBody;  // request body that arrived before the upstream was chosen

    PluginState plugins;
    gh_request handle;  // what plugins receive; points at the connection's RequestAccess

    bool requestDone = false;      // the client's request is fully read
    bool bodyDiscard = false;      // request body read and dropped (local response)
    bool responseStarted = false;  // response head queued to the client
    bool responseDone = false;     // every response byte queued to the client
    bool upstreamDone = false;     // the upstream's response is complete
    bool closeAfter = false;       // close the client connection after this response
    bool reusedConnection = false;
    bool retried = false;
    bool targetCounted = false;
    bool inRequestChunk = false;
    bool inResponseChunk = false;
    bool sentContinue = false;
    bool forwardLength = false;  // HEAD/304: forward the upstream's Content-Length as is
    ClientFraming clientFraming = ClientFraming::kNone;
    int status = 0;
    uint64_t startUs = 0;
    int upstreamStatus = 0;  // the upstream's response status, 0 until one arrives
    int upstreamError = 0;   // GH_UPSTREAM_*: why no (complete) upstream response

    // Observability. The timestamps are taken only when `timed` (metrics or span export on).
    bool timed = false;
    uint64_t dispatchUs = 0;      // the request was handed to an upstream connection
    uint64_t upstreamHeadUs = 0;  // the upstream's response head arrived
    uint64_t heldUs = 0;          // a head held for response plugins was released
    uint64_t bytesIn = 0;         // request head and body bytes received
    uint64_t bytesOut = 0;        // bytes written to the client
    observe::TraceContext trace;
    bool traced = false;          // trace context on: `traceparent` is what goes upstream
    bool dropTracestate = false;  // the client's traceparent was missing or invalid
    char traceparent[observe::TraceContext::kTraceparentLength] = {};

    /// Makes this a fresh exchange for the connection's next request, keeping the storage
    /// that would otherwise be allocated again (head copies, header lists, the upstream head).
    void recycle() {
        http::RawBytes reqRaw = std::move(req.raw), respRaw = std::move(resp.raw);
        http::HeaderList reqHeaders = std::move(req.headers), respHeaders = std::move(resp.headers);
        std::string head = std::move(upstreamHead), path = std::move(upstreamPath);
        std::vector<void*> ctx = std::move(plugins.ctx);
        std::vector<uint8_t> saw = std::move(plugins.saw);
        *this = Exchange{};
        ctx.clear();
        saw.clear();
        plugins.ctx = std::move(ctx);
        plugins.saw = std::move(saw);
        req.raw = std::move(reqRaw);
        resp.raw = std::move(respRaw);
        reqHeaders.clear();
        respHeaders.clear();
        req.headers = std::move(reqHeaders);
        resp.headers = std::move(respHeaders);
        head.clear();
        path.clear();
        upstreamHead = std::move(head);
        upstreamPath = std::move(path);
    }
};

}  // namespace gatehouse::proxy
