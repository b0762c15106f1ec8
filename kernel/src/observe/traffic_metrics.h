#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "observe/histogram.h"

namespace gatehouse::observe {

/// The `method` label: standard methods by name, anything else "other", so a client cannot
/// grow the number of series by inventing methods.
uint8_t methodSlot(int llhttpMethod);
const char* methodLabel(uint8_t slot);

/// One worker's counts for one route.
struct RouteCells {
    /// Requests by (method, status): an open-addressed table whose slots the owning worker
    /// claims (key first, published with release) and anyone reads. Keys never move.
    static constexpr size_t kStatusSlots = 64;
    std::atomic<uint32_t> statusKeys[kStatusSlots] = {};  // (slot + 1) << 16 | status; 0 = free
    LocalCounter statusCounts[kStatusSlots];
    LocalCounter statusOverflow;  // more distinct pairs than slots (rendered as "other")
    LatencyCells duration;        // head received → last response byte written
    LatencyCells overhead;        // time the gateway itself spent (see record())
    LocalCounter errors;          // 5xx, for the live view
    LocalCounter bytesReceived;   // request head + body
    LocalCounter bytesSent;       // everything written to the client

    void countStatus(uint8_t method, int status);
};

struct UpstreamCells {
    LatencyCells duration;  // request dispatched → response head received
};

/// Cells for each worker, allocated by the worker on its first use of them (most series of a
/// large route table never see traffic) and read by the scraper.
template <class Cells>
class PerWorkerCells {
public:
    explicit PerWorkerCells(unsigned workers)
        : n_(workers), slots_(new std::atomic<Cells*>[workers]) {
        for (unsigned i = 0; i < n_; ++i)
            slots_[i].store(nullptr, std::memory_order_relaxed);
    }
    ~PerWorkerCells() {
        for (unsigned i = 0; i < n_; ++i)
            delete slots_[i].load(std::memory_order_relaxed);
    }
    PerWorkerCells(const PerWorkerCells&) = delete;
    PerWorkerCells& operator=(const PerWorkerCells&) = delete;

    /// Worker `worker`'s cells (that worker's thread only).
    Cells& local(unsigned worker) {
        Cells* c = slots_[worker].load(std::memory_order_relaxed);
        if (!c) {
            c = new Cells();
            slots_[worker].store(c, std::memory_order_release);
        }
        return *c;
    }
    template <class F>
    void forEach(F&& f) const {
        for (unsigned i = 0; i < n_; ++i)
            if (const Cells* c = slots_[i].load(std::memory_order_acquire)) f(*c);
    }
    bool used() const {
        for (unsigned i = 0; i < n_; ++i)
            if (slots_[i].load(std::memory_order_acquire)) return true;
        return false;
    }

private:
    unsigned n_;
    std::unique_ptr<std::atomic<Cells*>[]> slots_;
};

/// What the live view keeps per route: request, error and latency counts in 5-second slots.
struct RouteWindow {
    static constexpr size_t kSlots = 12;
    struct Slot {
        uint64_t requests = 0;
        uint64_t errors = 0;
        LatencyTotals duration;
    };
    Slot slots[kSlots];
    size_t next = 0;    // the slot the next sample fills
    size_t filled = 0;  // complete slots held (≤ kSlots)
    Slot atLastSample;  // cumulative totals at the last sample
};

/// One route's series (label route="NAME"), shared by every snapshot that has the route, so
/// its counters survive configuration changes.
class RouteSeries {
public:
    RouteSeries(std::string name, unsigned workers) : name_(std::move(name)), cells_(workers) {}
    const std::string& name() const { return name_; }
    RouteCells& local(unsigned worker) { return cells_.local(worker); }
    const PerWorkerCells<RouteCells>& cells() const { return cells_; }

private:
    friend class TrafficMetrics;
    std::string name_;
    PerWorkerCells<RouteCells> cells_;
    std::unique_ptr<RouteWindow> window_;  // TrafficMetrics' lock; created with first traffic
};

/// Upstream timing of one (route, upstream) pair.
class UpstreamSeries {
public:
    UpstreamSeries(std::string route, std::string upstream, unsigned workers)
        : route_(std::move(route)), upstream_(std::move(upstream)), cells_(workers) {}
    const std::string& route() const { return route_; }
    const std::string& upstream() const { return upstream_; }
    UpstreamCells& local(unsigned worker) { return cells_.local(worker); }
    const PerWorkerCells<UpstreamCells>& cells() const { return cells_; }

private:
    std::string route_;
    std::string upstream_;
    PerWorkerCells<UpstreamCells> cells_;
};

/// One route in the live view (admin /status/routes).
struct RouteStatus {
    std::string route;
    uint64_t requests = 0;
    uint64_t errors = 0;  // 5xx
    double windowS = 0;   // how many seconds the counts cover (≤ 60)
    double p50Us = -1;    // -1: no requests in the window
    double p99Us = -1;
};

/// The gateway's per-request metrics. Workers record into their own cells of the series their
/// snapshot points at, without a lock or a locked instruction; the control side creates the
/// series (when a snapshot is built) and merges the workers' cells when it renders, under a
/// lock no worker takes, so a scrape never pauses a worker.
class TrafficMetrics {
public:
    static constexpr uint64_t kSampleEveryMs = 5000;
    static constexpr const char* kUnmatchedRoute = "(unmatched)";  // not a valid route name

    explicit TrafficMetrics(unsigned workers);

    unsigned workers() const { return workers_; }
    /// The series of route `name`, created on first use (control threads).
    std::shared_ptr<RouteSeries> route(std::string_view name);
    std::shared_ptr<UpstreamSeries> upstream(std::string_view route, std::string_view upstream);
    /// Requests that matched no route.
    const std::shared_ptr<RouteSeries>& unmatched() const { return unmatched_; }

    /// Appends the Prometheus text exposition of every series that has seen traffic.
    void render(std::string& out) const;
    /// Closes a live-view slot when kSampleEveryMs passed since the last one, and forgets
    /// series that no snapshot holds any more. Called about once a second by the control side.
    void sample(uint64_t nowMs);
    /// The live view: the last minute of every route that had traffic in it, by name.
    std::vector<RouteStatus> routeStatus(uint64_t nowMs) const;

private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    static RouteWindow::Slot totalsOf(const RouteSeries& s);

    unsigned workers_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::shared_ptr<RouteSeries>, Hash, std::equal_to<>> routes_;
    std::unordered_map<std::string, std::shared_ptr<UpstreamSeries>, Hash, std::equal_to<>>
        upstreams_;  // key: route '\0' upstream
    std::shared_ptr<RouteSeries> unmatched_;
    uint64_t lastSampleMs_ = 0;
};

/// Appends `v` escaped for a Prometheus label value.
void appendLabelValue(std::string& out, std::string_view v);

}  // namespace gatehouse::observe
