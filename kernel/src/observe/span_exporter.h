#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "observe/event_log.h"
#include "observe/trace_context.h"

namespace gatehouse::observe {

/// The gateway's span for one request, as a worker hands it over.
struct SpanRecord {
    TraceContext trace;
    uint64_t startUnixNs = 0;
    uint64_t endUnixNs = 0;
    int status = 0;
    std::string method;
    std::string target;  // path and query as the client sent them (only the path is exported)
    std::string host;
    std::string route;  // "" when nothing matched
    std::string requestId;
    std::string clientIp;
    std::string upstream;  // the target's address, "" when not proxied
};

/// Exports sampled gateway spans as OTLP/HTTP JSON (POST <endpoint>, normally
/// http://collector:4318/v1/traces). Workers hand spans over through their own bounded
/// single-producer queue and never wait: a full queue drops the span and counts it. A
/// background thread drains the queues every flush interval and posts them in batches.
class SpanExporter {
public:
    struct Options {
        std::string endpoint;  // "" = export off
        std::string serviceName = "gatehouse";
        uint32_t flushIntervalMs = 1000;
        uint32_t timeoutMs = 2000;
        size_t queuePerWorker = 4096;
        size_t maxBatch = 512;
    };

    /// Throws std::invalid_argument when the endpoint is not an http:// URL.
    SpanExporter(Options options, unsigned workers, EventLog& log);
    ~SpanExporter();
    SpanExporter(const SpanExporter&) = delete;
    SpanExporter& operator=(const SpanExporter&) = delete;

    bool enabled() const { return enabled_; }
    /// Worker `worker`'s thread only. False when the span was dropped (queue full).
    bool submit(unsigned worker, SpanRecord&& span);

    uint64_t exported() const { return exported_.load(std::memory_order_relaxed); }
    uint64_t dropped() const;
    uint64_t failed() const { return failed_.load(std::memory_order_relaxed); }

    /// Validates an endpoint URL; "" when acceptable, else the reason.
    static std::string checkEndpoint(const std::string& endpoint);
    /// The OTLP JSON request body for `spans` (exposed for tests).
    static std::string encode(const std::vector<SpanRecord>& spans, const std::string& serviceName);

private:
    /// A single-producer (worker), single-consumer (exporter thread) ring.
    struct Queue {
        explicit Queue(size_t capacity) : slots(capacity) {}
        std::vector<SpanRecord> slots;
        std::atomic<uint64_t> head{0};  // next to take (consumer)
        std::atomic<uint64_t> tail{0};  // next to fill (producer)
        std::atomic<uint64_t> dropped{0};
    };

    void run();
    void drainInto(std::vector<SpanRecord>& batch);
    bool post(const std::string& body);

    Options options_;
    bool enabled_;
    EventLog& log_;
    std::string host_;
    uint16_t port_ = 0;
    std::string path_;
    std::vector<std::unique_ptr<Queue>> queues_;
    std::atomic<uint64_t> exported_{0};
    std::atomic<uint64_t> failed_{0};
    bool failing_ = false;  // exporter thread: a failure was logged and not yet recovered

    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace gatehouse::observe
