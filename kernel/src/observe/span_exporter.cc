#include "observe/span_exporter.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/URI.h>

#include <chrono>
#include <stdexcept>

#include "http/status.h"

namespace gatehouse::observe {

namespace {

void attr(std::string& out, bool& first, std::string_view key, std::string_view value) {
    if (value.empty()) return;
    if (!first) out.push_back(',');
    first = false;
    out += "{\"key\":";
    http::appendJsonString(out, key);
    out += ",\"value\":{\"stringValue\":";
    http::appendJsonString(out, value);
    out += "}}";
}

void intAttr(std::string& out, bool& first, std::string_view key, int64_t value) {
    if (!first) out.push_back(',');
    first = false;
    out += "{\"key\":";
    http::appendJsonString(out, key);
    out += ",\"value\":{\"intValue\":\"" + std::to_string(value) + "\"}}";  // int64 as a string
}

std::string hex(const uint8_t* p, size_t n) {
    std::string s(2 * n, '0');
    TraceContext::toHex(p, n, s.data());
    return s;
}

}  // namespace

std::string SpanExporter::checkEndpoint(const std::string& endpoint) {
    if (endpoint.empty()) return {};
    try {
        const Poco::URI uri(endpoint);
        if (uri.getScheme() != "http")
            return "must be an http:// URL (e.g. http://127.0.0.1:4318/v1/traces)";
        if (uri.getHost().empty()) return "has no host";
    } catch (const Poco::Exception& e) {
        return "is not a URL: " + e.displayText();
    }
    return {};
}

SpanExporter::SpanExporter(Options options, unsigned workers, EventLog& log)
    : options_(std::move(options)), enabled_(!options_.endpoint.empty()), log_(log) {
    if (!enabled_) return;
    if (const std::string why = checkEndpoint(options_.endpoint); !why.empty())
        throw std::invalid_argument("tracing.otlp_endpoint " + why);
    const Poco::URI uri(options_.endpoint);
    host_ = uri.getHost();
    port_ = uri.getPort();
    path_ = uri.getPathAndQuery();
    if (path_.empty()) path_ = "/v1/traces";
    for (unsigned i = 0; i < workers; ++i)
        queues_.push_back(std::make_unique<Queue>(options_.queuePerWorker));
    thread_ = std::thread([this] { run(); });
}

SpanExporter::~SpanExporter() {
    if (!thread_.joinable()) return;
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

bool SpanExporter::submit(unsigned worker, SpanRecord&& span) {
    Queue& q = *queues_[worker];
    const uint64_t tail = q.tail.load(std::memory_order_relaxed);
    if (tail - q.head.load(std::memory_order_acquire) >= q.slots.size()) {
        q.dropped.store(q.dropped.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        return false;
    }
    q.slots[tail % q.slots.size()] = std::move(span);
    q.tail.store(tail + 1, std::memory_order_release);
    return true;
}

uint64_t SpanExporter::dropped() const {
    uint64_t n = 0;
    for (const auto& q : queues_)
        n += q->dropped.load(std::memory_order_relaxed);
    return n;
}

void SpanExporter::drainInto(std::vector<SpanRecord>& batch) {
    for (auto& qp : queues_) {
        Queue& q = *qp;
        uint64_t head = q.head.load(std::memory_order_relaxed);
        const uint64_t tail = q.tail.load(std::memory_order_acquire);
        for (; head < tail; ++head)
            batch.push_back(std::move(q.slots[head % q.slots.size()]));
        q.head.store(head, std::memory_order_release);
    }
}

void SpanExporter::run() {
    std::vector<SpanRecord> batch;
    for (;;) {
        bool stopping;
        {
            std::unique_lock lock(mutex_);
            wake_.wait_for(lock, std::chrono::milliseconds(options_.flushIntervalMs),
                           [this] { return stop_; });
            stopping = stop_;
        }
        drainInto(batch);
        for (size_t from = 0; from < batch.size(); from += options_.maxBatch) {
            const size_t to = std::min(batch.size(), from + options_.maxBatch);
            std::vector<SpanRecord> part(std::make_move_iterator(batch.begin() + from),
                                         std::make_move_iterator(batch.begin() + to));
            if (post(encode(part, options_.serviceName)))
                exported_.fetch_add(part.size(), std::memory_order_relaxed);
            else
                failed_.fetch_add(part.size(), std::memory_order_relaxed);
        }
        batch.clear();
        if (stopping) return;
    }
}

bool SpanExporter::post(const std::string& body) {
    std::string reason;
    try {
        Poco::Net::HTTPClientSession session(host_, port_);
        session.setTimeout(Poco::Timespan(static_cast<long>(options_.timeoutMs) * 1000));
        Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_POST, path_,
                                   Poco::Net::HTTPMessage::HTTP_1_1);
        req.setContentType("application/json");
        req.setContentLength(static_cast<std::streamsize>(body.size()));
        session.sendRequest(req) << body;
        Poco::Net::HTTPResponse resp;
        std::istream& in = session.receiveResponse(resp);
        in.ignore(std::numeric_limits<std::streamsize>::max());
        if (resp.getStatus() >= 200 && resp.getStatus() < 300) {
            if (failing_) log_.emit(Level::kInfo, "span_export_recovered");
            failing_ = false;
            return true;
        }
        reason = "collector answered " + std::to_string(static_cast<int>(resp.getStatus()));
    } catch (const Poco::Exception& e) {
        reason = e.displayText();
    } catch (const std::exception& e) {
        reason = e.what();
    }
    if (!failing_)  // once per failure streak, not once per batch
        log_.emit(Level::kWarn, "span_export_failed",
                  {{"endpoint", std::string_view(options_.endpoint)},
                   {"reason", std::string_view(reason)}});
    failing_ = true;
    return false;
}

std::string SpanExporter::encode(const std::vector<SpanRecord>& spans,
                                 const std::string& serviceName) {
    std::string out;
    out.reserve(256 + spans.size() * 640);
    out += R"({"resourceSpans":[{"resource":{"attributes":[)";
    bool first = true;
    attr(out, first, "service.name", serviceName);
    out += R"(]},"scopeSpans":[{"scope":{"name":"gatehouse"},"spans":[)";
    for (size_t i = 0; i < spans.size(); ++i) {
        const SpanRecord& s = spans[i];
        if (i) out.push_back(',');
        out += "{\"traceId\":\"" + hex(s.trace.traceId, 16) + "\",\"spanId\":\"" +
               hex(s.trace.spanId, 8) + "\"";
        if (s.trace.hasParent) out += ",\"parentSpanId\":\"" + hex(s.trace.parentSpanId, 8) + "\"";
        // Span name per the HTTP semantic conventions: method and route (low cardinality).
        out += ",\"name\":";
        http::appendJsonString(out, s.method + (s.route.empty() ? "" : " " + s.route));
        out += ",\"kind\":2";  // SPAN_KIND_SERVER
        out += ",\"startTimeUnixNano\":\"" + std::to_string(s.startUnixNs) + "\"";
        out += ",\"endTimeUnixNano\":\"" + std::to_string(s.endUnixNs) + "\"";
        out += ",\"attributes\":[";
        bool firstAttr = true;
        attr(out, firstAttr, "http.request.method", s.method);
        // The query is left out: it may carry credentials (api keys, tokens).
        attr(out, firstAttr, "url.path", s.target.substr(0, s.target.find('?')));
        attr(out, firstAttr, "server.address", s.host);
        attr(out, firstAttr, "client.address", s.clientIp);
        attr(out, firstAttr, "http.route", s.route);
        attr(out, firstAttr, "gatehouse.request_id", s.requestId);
        attr(out, firstAttr, "gatehouse.upstream.address", s.upstream);
        intAttr(out, firstAttr, "http.response.status_code", s.status);
        out += "]";
        // Server spans are errors for 5xx only (4xx is the client's failure).
        out += s.status >= 500 ? ",\"status\":{\"code\":2}" : ",\"status\":{}";
        out += "}";
    }
    out += "]}]}]}";
    return out;
}

}  // namespace gatehouse::observe
