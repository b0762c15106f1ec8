#include "observe/traffic_metrics.h"

#include <llhttp.h>

#include <algorithm>
#include <cstdio>
#include <map>

namespace gatehouse::observe {

namespace {

constexpr const char* kMethodLabels[] = {"GET",   "HEAD",    "POST",    "PUT",   "DELETE",
                                         "PATCH", "OPTIONS", "CONNECT", "TRACE", "other"};
constexpr uint8_t kOtherMethod = 9;

void appendUs(std::string& out, uint64_t us) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%llu.%06llu", static_cast<unsigned long long>(us / 1000000),
                  static_cast<unsigned long long>(us % 1000000));
    out += buf;
}

void appendHistogram(std::string& out, const char* name, const std::string& labels,
                     const LatencyTotals& t) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kLatencyBuckets; ++i) {
        cumulative += t.buckets[i];
        out += name;
        out += "_bucket{";
        out += labels;
        out += ",le=\"";
        out += i + 1 < kLatencyBuckets ? kLatencyBoundLabels[i] : "+Inf";
        out += "\"} ";
        out += std::to_string(cumulative);
        out += '\n';
    }
    out += name;
    out += "_sum{";
    out += labels;
    out += "} ";
    appendUs(out, t.sumUs);
    out += '\n';
    out += name;
    out += "_count{";
    out += labels;
    out += "} ";
    out += std::to_string(cumulative);
    out += '\n';
}

void appendHeader(std::string& out, const char* name, const char* type, const char* help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

std::string routeLabel(const std::string& route) {
    std::string l = "route=\"";
    appendLabelValue(l, route);
    l += '"';
    return l;
}

}  // namespace

uint8_t methodSlot(int m) {
    switch (m) {
        case HTTP_GET:
            return 0;
        case HTTP_HEAD:
            return 1;
        case HTTP_POST:
            return 2;
        case HTTP_PUT:
            return 3;
        case HTTP_DELETE:
            return 4;
        case HTTP_PATCH:
            return 5;
        case HTTP_OPTIONS:
            return 6;
        case HTTP_CONNECT:
            return 7;
        case HTTP_TRACE:
            return 8;
        default:
            return kOtherMethod;
    }
}

const char* methodLabel(uint8_t slot) {
    return kMethodLabels[slot <= kOtherMethod ? slot : kOtherMethod];
}

void appendLabelValue(std::string& out, std::string_view v) {
    for (char c : v) {
        if (c == '\\' || c == '"')
            out.push_back('\\');
        else if (c == '\n') {
            out += "\\n";
            continue;
        }
        out.push_back(c);
    }
}

void RouteCells::countStatus(uint8_t method, int status) {
    const uint32_t key = (static_cast<uint32_t>(method) + 1) << 16 | static_cast<uint32_t>(status);
    size_t i = (key * 2654435761u) >> 26;  // top 6 bits: 64 slots
    for (size_t probe = 0; probe < kStatusSlots; ++probe, i = (i + 1) % kStatusSlots) {
        const uint32_t k = statusKeys[i].load(std::memory_order_relaxed);
        if (k == key) {
            statusCounts[i].add(1);
            return;
        }
        if (k == 0) {
            // Claim the slot. Its count is still 0, so a reader that sees the key early reads
            // 0 at worst; only this worker writes either.
            statusKeys[i].store(key, std::memory_order_release);
            statusCounts[i].add(1);
            return;
        }
    }
    statusOverflow.add(1);
}

TrafficMetrics::TrafficMetrics(unsigned workers)
    : workers_(workers), unmatched_(std::make_shared<RouteSeries>(kUnmatchedRoute, workers)) {}

std::shared_ptr<RouteSeries> TrafficMetrics::route(std::string_view name) {
    std::lock_guard lock(mutex_);
    auto it = routes_.find(name);
    if (it != routes_.end()) return it->second;
    auto s = std::make_shared<RouteSeries>(std::string(name), workers_);
    routes_.emplace(std::string(name), s);
    return s;
}

std::shared_ptr<UpstreamSeries> TrafficMetrics::upstream(std::string_view route,
                                                         std::string_view upstream) {
    std::string key;
    key.reserve(route.size() + 1 + upstream.size());
    key.append(route).push_back('\0');
    key.append(upstream);
    std::lock_guard lock(mutex_);
    auto it = upstreams_.find(key);
    if (it != upstreams_.end()) return it->second;
    auto s = std::make_shared<UpstreamSeries>(std::string(route), std::string(upstream), workers_);
    upstreams_.emplace(std::move(key), s);
    return s;
}

RouteWindow::Slot TrafficMetrics::totalsOf(const RouteSeries& s) {
    RouteWindow::Slot t;
    s.cells().forEach([&](const RouteCells& c) {
        t.duration.add(c.duration);
        t.errors += c.errors.get();
    });
    t.requests = t.duration.count();
    return t;
}

void TrafficMetrics::sample(uint64_t nowMs) {
    std::lock_guard lock(mutex_);
    if (lastSampleMs_ != 0 && nowMs - lastSampleMs_ < kSampleEveryMs) return;
    lastSampleMs_ = nowMs;
    auto close = [](RouteSeries& s) {
        if (!s.cells().used()) return;
        if (!s.window_) s.window_ = std::make_unique<RouteWindow>();
        RouteWindow& w = *s.window_;
        const RouteWindow::Slot now = totalsOf(s);
        RouteWindow::Slot& slot = w.slots[w.next];
        slot.requests = now.requests - w.atLastSample.requests;
        slot.errors = now.errors - w.atLastSample.errors;
        slot.duration = now.duration.since(w.atLastSample.duration);
        w.atLastSample = now;
        w.next = (w.next + 1) % RouteWindow::kSlots;
        w.filled = std::min(w.filled + 1, RouteWindow::kSlots);
    };
    close(*unmatched_);
    for (auto it = routes_.begin(); it != routes_.end();) {
        // Only the registry holds it: no snapshot has this route any more.
        if (it->second.use_count() == 1) {
            it = routes_.erase(it);
            continue;
        }
        close(*it->second);
        ++it;
    }
    std::erase_if(upstreams_, [](const auto& kv) { return kv.second.use_count() == 1; });
}

std::vector<RouteStatus> TrafficMetrics::routeStatus(uint64_t nowMs) const {
    std::vector<RouteStatus> out;
    std::lock_guard lock(mutex_);
    const double partialS =
        lastSampleMs_ == 0 ? 0 : static_cast<double>(nowMs - lastSampleMs_) / 1000.0;
    auto one = [&](const RouteSeries& s) {
        if (!s.cells().used()) return;
        // The complete slots of the last minute, plus what arrived since the last sample.
        const RouteWindow::Slot now = totalsOf(s);
        RouteWindow::Slot sum;
        double windowS = 0;
        if (s.window_) {
            const RouteWindow& w = *s.window_;
            const size_t complete = std::min(w.filled, RouteWindow::kSlots - 1);
            for (size_t k = 1; k <= complete; ++k) {
                const auto& slot =
                    w.slots[(w.next + RouteWindow::kSlots - k) % RouteWindow::kSlots];
                sum.requests += slot.requests;
                sum.errors += slot.errors;
                sum.duration.merge(slot.duration);
            }
            windowS = static_cast<double>(complete) * (kSampleEveryMs / 1000.0);
            sum.requests += now.requests - w.atLastSample.requests;
            sum.errors += now.errors - w.atLastSample.errors;
            sum.duration.merge(now.duration.since(w.atLastSample.duration));
            windowS += partialS;
        } else {
            // Traffic began after the last sample: everything so far is in the window.
            sum = now;
            windowS = partialS;
        }
        if (sum.requests == 0) return;
        RouteStatus st;
        st.route = s.name();
        st.requests = sum.requests;
        st.errors = sum.errors;
        st.windowS = windowS;
        st.p50Us = sum.duration.quantileUs(0.5);
        st.p99Us = sum.duration.quantileUs(0.99);
        out.push_back(std::move(st));
    };
    for (const auto& [name, s] : routes_)
        one(*s);
    one(*unmatched_);
    std::sort(out.begin(), out.end(),
              [](const RouteStatus& a, const RouteStatus& b) { return a.route < b.route; });
    return out;
}

void TrafficMetrics::render(std::string& out) const {
    // Copies of the series pointers, sorted for a stable exposition; the cells are read after
    // the lock is released (the pointers keep them alive).
    std::vector<std::shared_ptr<RouteSeries>> routes;
    std::vector<std::shared_ptr<UpstreamSeries>> upstreams;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [name, s] : routes_)
            if (s->cells().used()) routes.push_back(s);
        for (const auto& [key, s] : upstreams_)
            if (s->cells().used()) upstreams.push_back(s);
    }
    if (unmatched_->cells().used()) routes.push_back(unmatched_);
    std::sort(routes.begin(), routes.end(),
              [](const auto& a, const auto& b) { return a->name() < b->name(); });
    std::sort(upstreams.begin(), upstreams.end(), [](const auto& a, const auto& b) {
        return a->route() != b->route() ? a->route() < b->route() : a->upstream() < b->upstream();
    });

    appendHeader(out, "gatehouse_http_requests_total", "counter",
                 "Requests answered, by route, method and status code (code 499: the client "
                 "closed before a response).");
    for (const auto& s : routes) {
        std::map<uint32_t, uint64_t> byKey;  // (method slot + 1) << 16 | status
        uint64_t overflow = 0;
        s->cells().forEach([&](const RouteCells& c) {
            for (size_t i = 0; i < RouteCells::kStatusSlots; ++i)
                if (const uint32_t k = c.statusKeys[i].load(std::memory_order_acquire))
                    byKey[k] += c.statusCounts[i].get();
            overflow += c.statusOverflow.get();
        });
        const std::string labels = routeLabel(s->name());
        for (const auto& [key, n] : byKey) {
            out += "gatehouse_http_requests_total{" + labels + ",method=\"";
            out += methodLabel(static_cast<uint8_t>((key >> 16) - 1));
            out += "\",code=\"" + std::to_string(key & 0xffff) + "\"} " + std::to_string(n) + "\n";
        }
        if (overflow)
            out += "gatehouse_http_requests_total{" + labels +
                   ",method=\"other\",code=\"other\"} " + std::to_string(overflow) + "\n";
    }

    auto histograms = [&](const char* name, const char* help, LatencyCells RouteCells::*field) {
        appendHeader(out, name, "histogram", help);
        for (const auto& s : routes) {
            LatencyTotals t;
            s->cells().forEach([&](const RouteCells& c) { t.add(c.*field); });
            appendHistogram(out, name, routeLabel(s->name()), t);
        }
    };
    histograms("gatehouse_request_duration_seconds",
               "Time from a request's head to the last byte of its response, by route.",
               &RouteCells::duration);
    histograms("gatehouse_gateway_overhead_seconds",
               "Time the gateway itself spent on a request (routing, plugins, queuing), "
               "excluding the wait for the upstream, by route.",
               &RouteCells::overhead);

    appendHeader(out, "gatehouse_upstream_duration_seconds", "histogram",
                 "Time from sending a request upstream to receiving the response head, by route "
                 "and upstream.");
    for (const auto& s : upstreams) {
        LatencyTotals t;
        s->cells().forEach([&](const UpstreamCells& c) { t.add(c.duration); });
        std::string labels = routeLabel(s->route()) + ",upstream=\"";
        appendLabelValue(labels, s->upstream());
        labels += '"';
        appendHistogram(out, "gatehouse_upstream_duration_seconds", labels, t);
    }

    auto counters = [&](const char* name, const char* help, LocalCounter RouteCells::*field) {
        appendHeader(out, name, "counter", help);
        for (const auto& s : routes) {
            uint64_t n = 0;
            s->cells().forEach([&](const RouteCells& c) { n += (c.*field).get(); });
            out += name;
            out += "{" + routeLabel(s->name()) + "} " + std::to_string(n) + "\n";
        }
    };
    counters("gatehouse_http_received_bytes_total",
             "Bytes received from clients (request heads and bodies), by route.",
             &RouteCells::bytesReceived);
    counters("gatehouse_http_sent_bytes_total", "Bytes sent to clients, by route.",
             &RouteCells::bytesSent);
}

}  // namespace gatehouse::observe
