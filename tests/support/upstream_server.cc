// gatehouse-test-upstream: a real HTTP/1.1 upstream for the integration tests and the
// quick-start demo.
//
//   gatehouse-test-upstream [--port N] [--host 127.0.0.1] [--id NAME]
//                           [--mode http|garbage|silent|close|one-per-connection]
//
// Once listening it prints exactly one line "PORT <n>" to stdout (the test harness reads it),
// then serves until SIGTERM/SIGINT and exits 0.
//
// Mode http (default) endpoints, chosen by path (the query string is separate):
//   /status/<code>   that status; echo JSON body (none for 204/304)
//   /delay/<ms>      sleep, then echo JSON
//   /bytes/<n>       n bytes of 'x' with Content-Length (?chunked=1: chunked instead)
//   /stream/<n>      chunked, n bytes of 'y' in pieces of ?chunk=<k> (1024), ?delay_ms=<d> apart
//   /close           echo JSON with Connection: close
//   /headers         echo JSON plus response.add(name, value) for every ?set=Name:Value
//   /until-close/<n> n bytes of 'z', close-delimited (no Content-Length, not chunked)
//   /stats           {"id", "connections_accepted", "requests"}
//   /echo-body       the request body back as application/octet-stream
//   /blob/<name>     PUT stores the body (204); GET answers it as application/json (404 when
//                    none): a stand-in for a JWKS endpoint and the like
//   /v1/traces       a trace collector: POST bodies are kept (200 {}); GET /collected
//                    answers them as a JSON array, in arrival order
//   anything else    200 echo JSON (method, uri, path, query, version, headers, body_bytes,
//                    body_sha256, peer, connection_requests, chunked_request)
// Every response carries X-Upstream-Id: <id>. The request body is always read in full first.
//
// Modes garbage / silent / close are raw TCP servers that misbehave on purpose:
//   garbage  read the request head, answer "NOT HTTP AT ALL\r\n\r\n", close
//   silent   read and discard everything, never answer, keep the connection open
//   close    read the request head, close without answering
//   one-per-connection  answer the first request on a connection keep-alive, then close on
//            the second without answering (a pooled connection that died while idle)

#include <Poco/DigestEngine.h>
#include <Poco/Exception.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPServerConnection.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <Poco/SHA2Engine.h>
#include <Poco/ThreadPool.h>
#include <Poco/Timespan.h>
#include <Poco/URI.h>

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <istream>
#include <mutex>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

using Poco::Net::HTTPRequest;
using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerParams;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;
using Poco::Net::ServerSocket;
using Poco::Net::Socket;
using Poco::Net::SocketAddress;
using Poco::Net::StreamSocket;

constexpr std::size_t kIoChunk = 64 * 1024;  // body read / write granularity
constexpr int kMaxThreads = 128;
constexpr int kMaxQueued = 256;

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

// Parses a whole string as an unsigned decimal; nullopt on junk or overflow.
std::optional<std::uint64_t> parseU64(std::string_view s) {
    std::uint64_t v = 0;
    if (s.empty()) return std::nullopt;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

// If path is "<prefix>/<rest>", returns <rest> (possibly empty).
std::optional<std::string_view> under(std::string_view path, std::string_view prefix) {
    if (path.size() <= prefix.size() || path.substr(0, prefix.size()) != prefix ||
        path[prefix.size()] != '/') {
        return std::nullopt;
    }
    return path.substr(prefix.size() + 1);
}

// True for "/name" and "/name/..." (but not "/namefoo").
bool isRoute(std::string_view path, std::string_view name) {
    return path == name || under(path, name).has_value();
}

// Length of a valid UTF-8 sequence starting at s[i], or 0 if the bytes there are not one.
std::size_t utf8SequenceLength(std::string_view s, std::size_t i) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;  // allowed range of the second byte (rules out overlongs/surrogates)
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        const unsigned char min = k == 1 ? lo : 0x80;
        const unsigned char max = k == 1 ? hi : 0xBF;
        if (b < min || b > max) return 0;
    }
    return len;
}

// Appends s as a JSON string literal. Valid UTF-8 passes through; control characters and bytes
// that are not valid UTF-8 become \u00XX so the output is always parseable JSON.
void appendJsonString(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.push_back('"');
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
            ++i;
        } else if (c < 0x20 || c == 0x7F) {
            out.append("\\u00");
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xF]);
            ++i;
        } else if (c < 0x80) {
            out.push_back(static_cast<char>(c));
            ++i;
        } else if (const std::size_t len = utf8SequenceLength(s, i); len != 0) {
            out.append(s.substr(i, len));
            i += len;
        } else {
            out.append("\\u00");
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xF]);
            ++i;
        }
    }
    out.push_back('"');
}

// URL-decodes ('+' means space); a malformed %-escape leaves the text as it was rather than
// failing the request.
std::string decodeQueryPart(std::string_view part) {
    std::string decoded;
    try {
        Poco::URI::decode(std::string(part), decoded, true);
    } catch (const Poco::SyntaxException&) {
        decoded.assign(part);
    }
    return decoded;
}

// Splits a raw query string into URL-decoded (name, value) pairs, in order.
std::vector<std::pair<std::string, std::string>> parseQuery(std::string_view query) {
    std::vector<std::pair<std::string, std::string>> params;
    while (!query.empty()) {
        const std::size_t amp = query.find('&');
        const std::string_view part = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (part.empty()) continue;
        const std::size_t eq = part.find('=');
        params.emplace_back(
            decodeQueryPart(part.substr(0, eq)),
            eq == std::string_view::npos ? std::string() : decodeQueryPart(part.substr(eq + 1)));
    }
    return params;
}

std::optional<std::string> queryParam(
    const std::vector<std::pair<std::string, std::string>>& params, std::string_view name) {
    for (const auto& [k, v] : params) {
        if (k == name) return v;
    }
    return std::nullopt;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// ---------------------------------------------------------------------------------------------
// State shared by all connections of one server (no globals: passed to the factories).
// ---------------------------------------------------------------------------------------------

class Shared {
public:
    explicit Shared(std::string upstreamId) : id(std::move(upstreamId)) {}

    const std::string id;
    std::atomic<std::uint64_t> connectionsAccepted{0};

    void collect(std::string body) {
        std::lock_guard<std::mutex> lock(mu_);
        collected_.push_back(std::move(body));
    }
    void putBlob(const std::string& name, std::string body) {
        std::lock_guard<std::mutex> lock(mu_);
        blobs_[name] = std::move(body);
    }
    std::optional<std::string> blob(const std::string& name) {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = blobs_.find(name);
        if (it == blobs_.end()) return std::nullopt;
        return it->second;
    }
    std::string collectedJson() {
        std::lock_guard<std::mutex> lock(mu_);
        std::string out = "[";
        for (std::size_t i = 0; i < collected_.size(); ++i)
            out += (i ? "," : "") + collected_[i];
        return out + "]";
    }

    std::atomic<std::uint64_t> requests{0};

    // A connection starts being served. Live connections are keyed by "ip:port" of the peer,
    // which is unique among open connections, and removed when the connection ends, so a reused
    // ephemeral port starts counting from scratch. Returns false if the server is stopping.
    bool openConnection(const std::string& peer, const StreamSocket& socket) {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) return false;
        live_[peer] = Live{socket, 0};
        return true;
    }

    void closeConnection(const std::string& peer) {
        std::lock_guard<std::mutex> lock(mu_);
        live_.erase(peer);
    }

    // Counts one request on the peer's connection; returns the total including this one.
    std::uint64_t countRequest(const std::string& peer) {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = live_.find(peer);
        if (it == live_.end()) return 1;
        return ++it->second.requests;
    }

    // Sleeps for /delay and /stream; cut short when the server stops so SIGTERM exits promptly.
    void sleepMs(std::uint64_t ms) {
        std::unique_lock<std::mutex> lock(mu_);
        stopCv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping_; });
    }

    // Shuts down every live connection so idle keep-alive sessions end promptly on SIGTERM.
    void shutdownAll() {
        std::lock_guard<std::mutex> lock(mu_);
        stopping_ = true;
        stopCv_.notify_all();
        for (auto& [peer, conn] : live_) {
            try {
                conn.socket.shutdown();
            } catch (...) {
                // Already broken; nothing to do.
            }
        }
    }

private:
    struct Live {
        StreamSocket socket;
        std::uint64_t requests = 0;
    };
    std::mutex mu_;
    std::vector<std::string> collected_;
    std::map<std::string, std::string> blobs_;
    std::condition_variable stopCv_;
    bool stopping_ = false;
    std::unordered_map<std::string, Live> live_;
};

// ---------------------------------------------------------------------------------------------
// HTTP mode
// ---------------------------------------------------------------------------------------------

struct RequestInfo {
    std::string method;
    std::string uri;
    std::string path;
    std::string query;
    std::string version;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string peer;
    std::uint64_t bodyBytes = 0;
    std::string bodySha256;
    std::uint64_t connectionRequests = 0;
    bool chunkedRequest = false;
};

std::string echoJson(const std::string& id, const RequestInfo& r) {
    std::string out;
    out.reserve(512);
    out.append("{\"id\":");
    appendJsonString(out, id);
    out.append(",\"method\":");
    appendJsonString(out, r.method);
    out.append(",\"uri\":");
    appendJsonString(out, r.uri);
    out.append(",\"path\":");
    appendJsonString(out, r.path);
    out.append(",\"query\":");
    appendJsonString(out, r.query);
    out.append(",\"version\":");
    appendJsonString(out, r.version);
    out.append(",\"headers\":[");
    bool first = true;
    for (const auto& [name, value] : r.headers) {
        if (!first) out.push_back(',');
        first = false;
        out.push_back('[');
        appendJsonString(out, name);
        out.push_back(',');
        appendJsonString(out, value);
        out.push_back(']');
    }
    out.append("],\"body_bytes\":");
    out.append(std::to_string(r.bodyBytes));
    out.append(",\"body_sha256\":");
    appendJsonString(out, r.bodySha256);
    out.append(",\"peer\":");
    appendJsonString(out, r.peer);
    out.append(",\"connection_requests\":");
    out.append(std::to_string(r.connectionRequests));
    out.append(",\"chunked_request\":");
    out.append(r.chunkedRequest ? "true" : "false");
    out.append("}\n");
    return out;
}

class UpstreamHandler final : public Poco::Net::HTTPRequestHandler {
public:
    explicit UpstreamHandler(Shared& shared) : shared_(shared) {}

    void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
        try {
            serve(request, response);
        } catch (const std::exception& e) {  // Poco::Exception is a std::exception too
            // The connection's state is unknown (client gone, body half read): never reuse it.
            response.setKeepAlive(false);
            if (!response.sent()) {
                try {
                    response.setStatusAndReason(HTTPResponse::HTTP_INTERNAL_SERVER_ERROR);
                    response.setContentType("text/plain");
                    const std::string msg = std::string("upstream error: ") + e.what() + "\n";
                    response.sendBuffer(msg.data(), msg.size());
                } catch (...) {
                    // The socket is dead; HTTPServerConnection will notice and drop it.
                }
            }
        }
    }

private:
    static void setStatus(HTTPServerResponse& response, int code) {
        const auto status = static_cast<HTTPResponse::HTTPStatus>(code);
        response.setStatusAndReason(status, HTTPResponse::getReasonForStatus(status));
    }

    // Small in-memory bodies go out with a Content-Length.
    static void sendBody(HTTPServerResponse& response, int code, const std::string& contentType,
                         const std::string& body) {
        setStatus(response, code);
        response.setContentType(contentType);
        response.sendBuffer(body.data(), body.size());
    }

    // Streams the body through SHA-256 in 64 KiB pieces; keeps a copy only if asked to.
    static void readBody(std::istream& in, RequestInfo& info, std::string* keep) {
        Poco::SHA2Engine sha(Poco::SHA2Engine::SHA_256);
        std::vector<char> buf(kIoChunk);
        while (in) {
            in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
            const std::streamsize n = in.gcount();
            if (n <= 0) break;
            sha.update(buf.data(), static_cast<unsigned>(n));
            info.bodyBytes += static_cast<std::uint64_t>(n);
            if (keep != nullptr) keep->append(buf.data(), static_cast<std::size_t>(n));
        }
        if (in.bad()) throw Poco::IOException("failed reading request body");
        info.bodySha256 = Poco::DigestEngine::digestToHex(sha.digest());
    }

    // Writes `count` copies of `fill` in pieces of `piece` bytes, optionally flushing and pausing.
    void writeFill(std::ostream& out, std::uint64_t count, char fill, std::size_t piece,
                   bool flushEach, std::uint64_t delayMs) {
        const std::string block(std::min<std::uint64_t>(piece, count), fill);
        std::uint64_t left = count;
        while (left > 0 && out) {
            const std::size_t n =
                static_cast<std::size_t>(std::min<std::uint64_t>(left, block.size()));
            out.write(block.data(), static_cast<std::streamsize>(n));
            left -= n;
            if (flushEach) out.flush();
            if (left > 0 && delayMs > 0) shared_.sleepMs(delayMs);
        }
        out.flush();
        if (!out) throw Poco::IOException("failed writing response body");
    }

    void serve(HTTPServerRequest& request, HTTPServerResponse& response) {
        shared_.requests.fetch_add(1);
        response.set("X-Upstream-Id", shared_.id);

        RequestInfo info;
        info.method = request.getMethod();
        info.uri = request.getURI();
        const std::size_t qpos = info.uri.find('?');
        info.path = info.uri.substr(0, qpos);
        if (qpos != std::string::npos) info.query = info.uri.substr(qpos + 1);
        info.version = request.getVersion();
        // Poco's header map keeps names as received but groups repeated names together.
        for (const auto& [name, value] : request)
            info.headers.emplace_back(name, value);
        info.peer = request.clientAddress().toString();
        info.chunkedRequest = request.getChunkedTransferEncoding();

        const std::string_view path = info.path;
        std::string body;
        const bool keepBody =
            path == "/echo-body" || path == "/v1/traces" || path.rfind("/blob/", 0) == 0;
        readBody(request.stream(), info, keepBody ? &body : nullptr);
        info.connectionRequests = shared_.countRequest(info.peer);

        const bool head = info.method == HTTPRequest::HTTP_HEAD;
        const auto params = parseQuery(info.query);

        if (path == "/v1/traces" && info.method == HTTPRequest::HTTP_POST) {
            shared_.collect(std::move(body));
            sendBody(response, 200, "application/json", "{}");
            return;
        }
        if (auto name = under(path, "/blob")) {
            if (info.method == HTTPRequest::HTTP_PUT) {
                shared_.putBlob(std::string(*name), std::move(body));
                setStatus(response, 204);
                response.send();
                return;
            }
            if (auto b = shared_.blob(std::string(*name))) {
                sendBody(response, 200, "application/json", *b);
                return;
            }
            sendBody(response, 404, "application/json", "{}");
            return;
        }
        if (path == "/collected") {
            sendBody(response, 200, "application/json", shared_.collectedJson());
            return;
        }

        if (auto rest = under(path, "/status")) {
            const auto code = parseU64(*rest);
            if (!code || *code < 200 || *code > 599) {
                sendBody(response, 400, "application/json", echoJson(shared_.id, info));
                return;
            }
            const int status = static_cast<int>(*code);
            if (status == 204 || status == 304) {
                // No body allowed; Poco sends these without Content-Length and keeps the
                // connection.
                setStatus(response, status);
                response.send();
                return;
            }
            sendBody(response, status, "application/json", echoJson(shared_.id, info));
            return;
        }

        if (auto rest = under(path, "/delay")) {
            const auto ms = parseU64(*rest);
            if (!ms || *ms > 600'000) {
                sendBody(response, 400, "application/json", echoJson(shared_.id, info));
                return;
            }
            shared_.sleepMs(*ms);
            sendBody(response, 200, "application/json", echoJson(shared_.id, info));
            return;
        }

        if (auto rest = under(path, "/bytes")) {
            const auto n = parseU64(*rest);
            if (!n) {
                sendBody(response, 400, "application/json", echoJson(shared_.id, info));
                return;
            }
            response.setContentType("application/octet-stream");
            if (queryParam(params, "chunked") == "1") {
                response.setChunkedTransferEncoding(true);
            } else {
                response.setContentLength64(static_cast<Poco::Int64>(*n));
            }
            std::ostream& out = response.send();
            if (!head) writeFill(out, *n, 'x', kIoChunk, false, 0);
            return;
        }

        if (auto rest = under(path, "/stream")) {
            const auto n = parseU64(*rest);
            const auto chunkParam = queryParam(params, "chunk");
            const auto delayParam = queryParam(params, "delay_ms");
            const auto chunk =
                chunkParam ? parseU64(*chunkParam) : std::optional<std::uint64_t>(1024);
            const auto delay = delayParam ? parseU64(*delayParam) : std::optional<std::uint64_t>(0);
            if (!n || !chunk || *chunk == 0 || *chunk > (1U << 24) || !delay || *delay > 600'000) {
                sendBody(response, 400, "application/json", echoJson(shared_.id, info));
                return;
            }
            response.setContentType("application/octet-stream");
            response.setChunkedTransferEncoding(true);
            std::ostream& out = response.send();
            if (!head) writeFill(out, *n, 'y', static_cast<std::size_t>(*chunk), true, *delay);
            return;
        }

        if (isRoute(path, "/close")) {
            response.setKeepAlive(false);
            sendBody(response, 200, "application/json", echoJson(shared_.id, info));
            return;
        }

        if (isRoute(path, "/headers")) {
            for (const auto& [name, value] : params) {
                if (name != "set") continue;
                const std::size_t colon = value.find(':');
                if (colon == std::string::npos) continue;
                const std::string_view v = value;
                response.add(std::string(trim(v.substr(0, colon))),
                             std::string(trim(v.substr(colon + 1))));
            }
            sendBody(response, 200, "application/json", echoJson(shared_.id, info));
            return;
        }

        if (auto rest = under(path, "/until-close")) {
            const auto n = parseU64(*rest);
            if (!n) {
                sendBody(response, 400, "application/json", echoJson(shared_.id, info));
                return;
            }
            // No Content-Length and not chunked: Poco then writes a close-delimited body and closes
            // the connection once the handler returns.
            response.setKeepAlive(false);
            response.setChunkedTransferEncoding(false);
            response.setContentType("application/octet-stream");
            std::ostream& out = response.send();
            if (!head) writeFill(out, *n, 'z', kIoChunk, false, 0);
            return;
        }

        if (path == "/stats") {
            std::string out = "{\"id\":";
            appendJsonString(out, shared_.id);
            out.append(",\"connections_accepted\":");
            out.append(std::to_string(shared_.connectionsAccepted.load()));
            out.append(",\"requests\":");
            out.append(std::to_string(shared_.requests.load()));
            out.append("}\n");
            sendBody(response, 200, "application/json", out);
            return;
        }

        if (path == "/echo-body") {
            sendBody(response, 200, "application/octet-stream", body);
            return;
        }

        sendBody(response, 200, "application/json", echoJson(shared_.id, info));
    }

    Shared& shared_;
};

class HandlerFactory final : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit HandlerFactory(Shared& shared) : shared_(shared) {}

    Poco::Net::HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override {
        return new UpstreamHandler(shared_);
    }

private:
    Shared& shared_;
};

// HTTPServerConnection plus bookkeeping: registers the connection for per-connection request
// counts and for shutdown, and swallows the network errors a misbehaving client causes.
class TrackedConnection final : public Poco::Net::HTTPServerConnection {
public:
    TrackedConnection(const StreamSocket& socket, HTTPServerParams::Ptr params,
                      Poco::Net::HTTPRequestHandlerFactory::Ptr factory, Shared& shared)
        : HTTPServerConnection(socket, params, factory), shared_(shared) {}

    void run() override {
        std::string peer;
        try {
            peer = socket().peerAddress().toString();
        } catch (...) {
            return;  // the client is already gone
        }
        if (!shared_.openConnection(peer, socket())) return;
        try {
            HTTPServerConnection::run();
        } catch (...) {
            // Resets, timeouts and half-sent requests are routine for a test upstream.
        }
        shared_.closeConnection(peer);
    }

private:
    Shared& shared_;
};

// Used instead of HTTPServer so that connections are TrackedConnection; otherwise identical.
class ConnectionFactory final : public Poco::Net::TCPServerConnectionFactory {
public:
    ConnectionFactory(HTTPServerParams::Ptr params,
                      Poco::Net::HTTPRequestHandlerFactory::Ptr handlers, Shared& shared)
        : params_(std::move(params)), handlers_(std::move(handlers)), shared_(shared) {}

    Poco::Net::TCPServerConnection* createConnection(const StreamSocket& socket) override {
        shared_.connectionsAccepted.fetch_add(1);
        return new TrackedConnection(socket, params_, handlers_, shared_);
    }

private:
    HTTPServerParams::Ptr params_;
    Poco::Net::HTTPRequestHandlerFactory::Ptr handlers_;
    Shared& shared_;
};

// ---------------------------------------------------------------------------------------------
// Raw (deliberately broken) modes
// ---------------------------------------------------------------------------------------------

enum class Mode { Http, Garbage, Silent, Close, OnePerConnection };

const Poco::Timespan kPollInterval(0, 200'000);  // how often raw loops check for shutdown

class RawServer {
public:
    RawServer(ServerSocket& listener, Mode mode) : listener_(listener), mode_(mode) {}

    void start() {
        acceptor_ = std::thread([this] { acceptLoop(); });
    }

    // Stops accepting and waits for the connection threads, which poll stopping_ every 200 ms.
    void stop() {
        stopping_ = true;
        if (acceptor_.joinable()) acceptor_.join();
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return active_ == 0; });
    }

private:
    void acceptLoop() {
        while (!stopping_) {
            try {
                if (!listener_.poll(kPollInterval, Socket::SELECT_READ)) continue;
                StreamSocket socket = listener_.acceptConnection();
                {
                    std::lock_guard<std::mutex> lock(mu_);
                    ++active_;
                }
                // One thread per connection; detached, but counted so stop() can wait for them.
                std::thread([this, socket]() mutable { serveConnection(socket); }).detach();
            } catch (const std::exception&) {
                // accept() failures (e.g. EMFILE) must not kill the server; back off a little.
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        }
    }

    void serveConnection(StreamSocket socket) {
        try {
            switch (mode_) {
                case Mode::Garbage: {
                    readHead(socket);
                    static constexpr std::string_view kGarbage = "NOT HTTP AT ALL\r\n\r\n";
                    sendAll(socket, kGarbage);
                    closeGracefully(socket);
                    break;
                }
                case Mode::Close:
                    readHead(socket);
                    closeGracefully(socket);
                    break;
                case Mode::OnePerConnection: {
                    // Answers the first request keep-alive, then closes on the second without
                    // answering: a pooled connection that died while idle, on demand.
                    readHead(socket);
                    static constexpr std::string_view kOk =
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                        "2\r\n\r\nok";
                    sendAll(socket, kOk);
                    readHead(socket);
                    socket.close();
                    break;
                }
                case Mode::Silent:
                    drain(socket, std::nullopt);
                    break;
                case Mode::Http:
                    break;
            }
        } catch (...) {
            // A broken client connection only ends its own thread.
        }
        try {
            socket.close();
        } catch (...) {
        }
        std::lock_guard<std::mutex> lock(mu_);
        --active_;
        cv_.notify_all();
    }

    // Reads until the end of the request head ("\r\n\r\n"), 64 KiB, EOF, or shutdown.
    void readHead(StreamSocket& socket) {
        std::string head;
        char buf[4096];
        while (!stopping_ && head.size() < kIoChunk && head.find("\r\n\r\n") == std::string::npos) {
            if (!socket.poll(kPollInterval, Socket::SELECT_READ)) continue;
            const int n = socket.receiveBytes(buf, sizeof buf);
            if (n <= 0) return;
            head.append(buf, static_cast<std::size_t>(n));
        }
    }

    // Reads and discards until EOF, shutdown, or the optional deadline.
    void drain(StreamSocket& socket,
               std::optional<std::chrono::steady_clock::time_point> deadline) {
        char buf[4096];
        while (!stopping_ && (!deadline || std::chrono::steady_clock::now() < *deadline)) {
            if (!socket.poll(kPollInterval, Socket::SELECT_READ)) continue;
            if (socket.receiveBytes(buf, sizeof buf) <= 0) return;
        }
    }

    static void sendAll(StreamSocket& socket, std::string_view data) {
        while (!data.empty()) {
            const int n = socket.sendBytes(data.data(), static_cast<int>(data.size()));
            if (n <= 0) return;
            data.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    // FIN first, then swallow whatever the client still sends for a moment: closing with unread
    // input would make the kernel send RST, which can destroy our answer before the client reads
    // it.
    void closeGracefully(StreamSocket& socket) {
        socket.shutdownSend();
        drain(socket, std::chrono::steady_clock::now() + std::chrono::seconds(1));
    }

    ServerSocket& listener_;
    const Mode mode_;
    std::atomic<bool> stopping_{false};
    std::thread acceptor_;
    std::mutex mu_;
    std::condition_variable cv_;
    int active_ = 0;
};

// ---------------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------------

struct Options {
    std::uint16_t port = 0;
    std::string host = "127.0.0.1";
    std::string id = "upstream";
    Mode mode = Mode::Http;
};

constexpr const char* kUsage =
    "usage: gatehouse-test-upstream [--port N] [--host 127.0.0.1] [--id NAME]"
    " [--mode http|garbage|silent|close|one-per-connection]\n";

[[noreturn]] void usageError(const std::string& msg) {
    std::fprintf(stderr, "gatehouse-test-upstream: %s\n%s", msg.c_str(), kUsage);
    std::exit(2);
}

Options parseArgs(int argc, char** argv) {
    Options opt;
    const std::vector<std::string> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string name = args[i];
        std::optional<std::string> value;
        if (name == "--help" || name == "-h") {
            std::fputs(kUsage, stdout);
            std::exit(0);
        }
        // Accept both "--flag value" and "--flag=value".
        if (const std::size_t eq = name.find('=');
            name.rfind("--", 0) == 0 && eq != std::string::npos) {
            value = name.substr(eq + 1);
            name.resize(eq);
        } else if (i + 1 < args.size()) {
            value = args[++i];
        }
        if (name != "--port" && name != "--host" && name != "--id" && name != "--mode") {
            usageError("unknown argument '" + name + "'");
        }
        if (!value) usageError(name + " needs a value");
        if (name == "--port") {
            const auto p = parseU64(*value);
            if (!p || *p > 65535) usageError("bad port '" + *value + "'");
            opt.port = static_cast<std::uint16_t>(*p);
        } else if (name == "--host") {
            opt.host = *value;
        } else if (name == "--id") {
            opt.id = *value;
        } else if (*value == "http") {
            opt.mode = Mode::Http;
        } else if (*value == "garbage") {
            opt.mode = Mode::Garbage;
        } else if (*value == "silent") {
            opt.mode = Mode::Silent;
        } else if (*value == "close") {
            opt.mode = Mode::Close;
        } else if (*value == "one-per-connection") {
            opt.mode = Mode::OnePerConnection;
        } else {
            usageError("bad mode '" + *value + "'");
        }
    }
    return opt;
}

// Blocks until SIGTERM or SIGINT (which every thread has blocked, see main). Then arms a
// watchdog: a handler sleeping in /delay or /stream must not keep the process alive, and the
// harness expects a prompt exit status 0.
void waitForTermination(const sigset_t& set) {
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
    std::thread([] {
        std::this_thread::sleep_for(std::chrono::seconds(3));
        std::fflush(stdout);
        std::_Exit(0);
    }).detach();
}

int run(const Options& opt, const sigset_t& termSignals) {
    ServerSocket listener;
    // SO_REUSEADDR (quick restarts on a fixed port) but not SO_REUSEPORT, which the two-argument
    // bind() would also set: a second instance on a busy port must fail, not share it.
    listener.bind(SocketAddress(opt.host, opt.port), true, false);
    listener.listen(1024);
    const unsigned port = listener.address().port();

    if (opt.mode != Mode::Http) {
        RawServer server(listener, opt.mode);
        server.start();
        std::printf("PORT %u\n", port);
        std::fflush(stdout);
        waitForTermination(termSignals);
        server.stop();
        return 0;
    }

    Shared shared(opt.id);
    HTTPServerParams::Ptr params = new HTTPServerParams;
    params->setKeepAlive(true);
    params->setMaxKeepAliveRequests(0);  // 0 = unlimited
    params->setKeepAliveTimeout(Poco::Timespan(30, 0));
    params->setMaxThreads(kMaxThreads);
    params->setMaxQueued(kMaxQueued);

    // TCPServer would otherwise use Poco's default pool, capped at 16 threads.
    Poco::ThreadPool pool(2, kMaxThreads);
    Poco::Net::HTTPRequestHandlerFactory::Ptr handlers = new HandlerFactory(shared);
    Poco::Net::TCPServer server(new ConnectionFactory(params, handlers, shared), pool, listener,
                                params);
    server.start();
    std::printf("PORT %u\n", port);
    std::fflush(stdout);

    waitForTermination(termSignals);
    server.stop();         // stop accepting
    shared.shutdownAll();  // wake idle keep-alive connections so their threads finish
    pool.joinAll();        // the watchdog bounds this if a handler is still sleeping
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const Options opt = parseArgs(argc, argv);

    // A client that disconnects mid-response must not kill us with SIGPIPE.
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ignore, nullptr);

    // Block SIGTERM/SIGINT before any thread exists so only sigwait() in main sees them.
    sigset_t termSignals;
    sigemptyset(&termSignals);
    sigaddset(&termSignals, SIGTERM);
    sigaddset(&termSignals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &termSignals, nullptr);

    try {
        return run(opt, termSignals);
    } catch (const Poco::Exception& e) {
        std::fprintf(stderr, "gatehouse-test-upstream: %s\n",
                     e.displayText().c_str());  // e.g. port busy
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gatehouse-test-upstream: %s\n", e.what());
        return 1;
    }
}
