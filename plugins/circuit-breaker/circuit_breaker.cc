// circuit-breaker: stops sending a route's requests to an upstream that keeps failing, so
// the upstream gets room to recover and clients get a fast 503 instead of a slow error.
//
//   closed ──(N consecutive failures, or a failure ratio over a window)──▶ open
//   open ──(open_s passed)──▶ half-open: `half_open_probes` requests go through
//   half-open ──(every probe succeeded)──▶ closed;  ──(a probe failed)──▶ open again
//
// Failures are the upstream statuses in `failure_statuses`, connect errors and timeouts (as
// the gateway's request_info reports them, ABI 1.2). While open, requests are answered 503
// with Retry-After and the upstream is not contacted. With `per_target`, each target of the
// route has its own breaker: an open target is avoided (request variable upstream.avoid,
// which the gateway's balancer honours) and the others keep serving.
//
// The state lives in the host's shared state, keyed by route, target and a hash of this
// configuration: exact across workers, kept across configuration reloads, and started afresh
// when the breaker's own configuration changes. GET /plugins/{id}/status shows it.
//
//   {"consecutive_failures": 5, "open_s": 30, "half_open_probes": 1}
//   {"failure_ratio": 0.5, "window_s": 10, "min_requests": 20, "per_target": true}

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <gatehouse/plugin.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "auth_common.h"

namespace {

using gatehouse::Action;
using gatehouse::Request;

constexpr const char* kSchema = R"JSON({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "failure_statuses": {"type": "array", "maxItems": 64, "uniqueItems": true, "default": [500, 502, 503, 504],
                         "items": {"type": "integer", "minimum": 100, "maximum": 599},
                         "description": "Upstream response statuses that count as failures"},
    "count_connect_errors": {"type": "boolean", "default": true},
    "count_timeouts": {"type": "boolean", "default": true},
    "consecutive_failures": {"type": "integer", "minimum": 0, "maximum": 100000, "default": 5,
                             "description": "Open after this many failures in a row (0: off)"},
    "failure_ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1,
                      "description": "Open when failures / requests over window_s reaches this (absent: off)"},
    "window_s": {"type": "integer", "minimum": 1, "maximum": 3600, "default": 10},
    "min_requests": {"type": "integer", "minimum": 1, "maximum": 1000000, "default": 20,
                     "description": "Requests a window needs before failure_ratio applies"},
    "open_s": {"type": "integer", "minimum": 1, "maximum": 86400, "default": 30,
               "description": "How long the breaker stays open before probing"},
    "half_open_probes": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1,
                         "description": "Requests let through to probe; all must succeed to close"},
    "per_target": {"type": "boolean", "default": false,
                   "description": "One breaker per upstream target (open targets are avoided) instead of one per route"}
  }
})JSON";

enum class Phase : char { kClosed = 'c', kOpen = 'o', kHalfOpen = 'h' };

/// One breaker's state, as stored in the host's shared state (a short text).
struct State {
    Phase phase = Phase::kClosed;
    int64_t consecutive = 0;  // failures in a row (closed)
    int64_t untilMs = 0;      // open until (open)
    int64_t probes = 0;       // admitted (half-open)
    int64_t successes = 0;    // probe successes (half-open)

    std::string encode() const {
        char buf[96];
        const int n =
            std::snprintf(buf, sizeof buf, "%c %lld %lld %lld %lld", static_cast<char>(phase),
                          static_cast<long long>(consecutive), static_cast<long long>(untilMs),
                          static_cast<long long>(probes), static_cast<long long>(successes));
        return std::string(buf, static_cast<size_t>(n));
    }
    static State decode(std::string_view text) {
        State s;
        char phase = 'c';
        long long c = 0, u = 0, p = 0, k = 0;
        const std::string copy(text);
        if (std::sscanf(copy.c_str(), "%c %lld %lld %lld %lld", &phase, &c, &u, &p, &k) == 5 &&
            (phase == 'c' || phase == 'o' || phase == 'h')) {
            s.phase = static_cast<Phase>(phase);
            s.consecutive = c;
            s.untilMs = u;
            s.probes = p;
            s.successes = k;
        }
        return s;  // anything unreadable reads as closed
    }
};

const char* phaseName(Phase p) {
    return p == Phase::kOpen ? "open" : p == Phase::kHalfOpen ? "half_open" : "closed";
}

// req_ctx markers (no allocation): what on_request decided for this request.
char kProbe;     // admitted as a half-open probe
char kRejected;  // answered 503 by the breaker

class CircuitBreaker final : public gatehouse::Plugin {
public:
    CircuitBreaker(const gh_host_api* host, gh_instance_host* instance, std::string_view config)
        : Plugin(host, instance) {
        if (!hostHasFeatures(GH_FEATURE_SHARED_STATE | GH_FEATURE_REQUEST_INFO | GH_FEATURE_VARS))
            throw std::runtime_error("this gateway lacks shared state or request_info (ABI 1.2)");
        Poco::JSON::Parser parser;
        const auto o = parser.parse(std::string(config)).extract<Poco::JSON::Object::Ptr>();
        if (const auto a = o->getArray("failure_statuses")) {
            for (size_t i = 0; i < a->size(); ++i)
                failureStatuses_.push_back(a->getElement<int>(static_cast<unsigned>(i)));
        } else {
            failureStatuses_ = {500, 502, 503, 504};
        }
        countConnect_ = o->optValue<bool>("count_connect_errors", true);
        countTimeouts_ = o->optValue<bool>("count_timeouts", true);
        consecutive_ = o->optValue<int>("consecutive_failures", 5);
        if (o->has("failure_ratio")) ratio_ = o->getValue<double>("failure_ratio");
        windowMs_ = static_cast<uint64_t>(o->optValue<int>("window_s", 10)) * 1000;
        minRequests_ = o->optValue<int>("min_requests", 20);
        openMs_ = static_cast<int64_t>(o->optValue<int>("open_s", 30)) * 1000;
        probes_ = o->optValue<int>("half_open_probes", 1);
        perTarget_ = o->optValue<bool>("per_target", false);
        if (consecutive_ == 0 && ratio_ <= 0)
            throw std::runtime_error(
                "nothing would open the breaker: set consecutive_failures or failure_ratio");
        // A configuration change starts from closed breakers: its hash is part of every key.
        configTag_ = std::to_string(std::hash<std::string_view>{}(config));
        opened_ = defineCounter("circuit_breaker_opened_total", "Breakers that opened");
        rejected_ = defineCounter("circuit_breaker_rejected_total",
                                  "Requests answered 503 by an open breaker");
    }

    Action onRequest(Request& r, void** ctx) override {
        const int64_t now = unixMs();
        if (perTarget_) return avoidOpenTargets(r, now);
        const std::string key = stateKey(r.routeName(), "");
        remember(r.routeName(), "");
        for (int attempt = 0; attempt < 8; ++attempt) {
            uint64_t version = 0;
            State s = read(key, &version);
            if (s.phase == Phase::kClosed) return Action::Continue;
            if (s.phase == Phase::kOpen && now < s.untilMs) return reject(r, ctx, s.untilMs - now);
            // Half-open keeps a deadline: probes that never told anything (their client went
            // away first) do not keep the breaker half-open for ever.
            if (s.phase == Phase::kOpen || (s.probes >= probes_ && now >= s.untilMs))
                s = State{Phase::kHalfOpen, 0, now + openMs_, 0, 0};
            if (s.probes >= probes_) return reject(r, ctx, 1000);  // probes already out
            ++s.probes;
            if (!write(key, version, s)) continue;  // another worker moved it: look again
            *ctx = &kProbe;
            return Action::Continue;
        }
        return Action::Continue;  // heavy contention: let it through rather than fail it
    }

    void onLog(Request& r, void** ctx) override {
        if (*ctx == &kRejected) return;
        const auto info = r.info();
        if (!info) return;
        const std::optional<bool> failed = outcome(*info);
        if (!failed) return;  // no upstream outcome (refused earlier, no target)
        const std::string_view target =
            perTarget_ ? std::string_view(info->upstream_address.ptr, info->upstream_address.len)
                       : std::string_view();
        if (perTarget_ && target.empty()) return;
        const std::string key = stateKey(r.routeName(), target);
        remember(r.routeName(), target);
        bool ratioTrip = false;
        if (ratio_ > 0) ratioTrip = countAndCheckRatio(key, *failed);
        // Per route, only admitted probes decide a half-open breaker; per target, whatever
        // reached the target does (the balancer, not this plugin, chose the request).
        const bool probe = perTarget_ || *ctx == &kProbe;
        const int64_t now = unixMs();
        for (int attempt = 0; attempt < 8; ++attempt) {
            uint64_t version = 0;
            State s = read(key, &version);
            State next = s;
            std::string why;
            if (s.phase == Phase::kClosed) {
                if (*failed) {
                    next.consecutive = s.consecutive + 1;
                    if (consecutive_ > 0 && next.consecutive >= consecutive_)
                        why = std::to_string(next.consecutive) + " consecutive failures";
                    else if (ratioTrip)
                        why = "failure ratio over " + std::to_string(windowMs_ / 1000) + " s";
                } else if (s.consecutive == 0) {
                    return;  // the common case: nothing to write
                } else {
                    next.consecutive = 0;
                }
            } else if (s.phase == Phase::kHalfOpen && probe) {
                if (*failed) {
                    why = "a probe failed";
                } else if (++next.successes >= probes_) {
                    next = State{};
                }
            } else if (s.phase == Phase::kOpen && perTarget_ && now >= s.untilMs) {
                // Per target, the first outcome after open_s is the probe.
                if (*failed) {
                    why = "a probe failed";
                } else if (probes_ <= 1) {
                    next = State{};
                } else {
                    next = State{Phase::kHalfOpen, 0, 0, 1, 1};
                }
            } else {
                return;  // open: a late outcome of a request admitted before it opened
            }
            if (!why.empty()) next = State{Phase::kOpen, 0, now + openMs_, 0, 0};
            if (!write(key, version, next)) continue;
            if (!why.empty()) {
                opened_.add(1);
                log(GH_LOG_WARN, "circuit opened for route " + std::string(r.routeName()) +
                                     (target.empty() ? "" : " target " + std::string(target)) +
                                     ": " + why + "; retry in " + std::to_string(openMs_ / 1000) +
                                     " s");
            } else if (next.phase == Phase::kClosed && s.phase != Phase::kClosed) {
                log(GH_LOG_INFO, "circuit closed for route " + std::string(r.routeName()) +
                                     (target.empty() ? "" : " target " + std::string(target)));
            }
            return;
        }
    }

    void onDone(void*) override {}  // the markers are static

    std::string status() const override {
        std::vector<std::pair<std::string, std::string>> seen;
        {
            std::lock_guard lock(seenMutex_);
            seen.assign(seen_.begin(), seen_.end());
        }
        Poco::JSON::Array::Ptr list = new Poco::JSON::Array;
        const int64_t now = unixMs();
        for (const auto& [route, target] : seen) {
            uint64_t version = 0;
            const State s = read(stateKey(route, target), &version);
            Poco::JSON::Object::Ptr o = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
            o->set("route", route);
            if (perTarget_) o->set("target", target);
            o->set("state", std::string(phaseName(s.phase)));
            o->set("consecutive_failures", s.consecutive);
            if (s.phase == Phase::kOpen)
                o->set("retry_in_s", std::max<int64_t>(0, (s.untilMs - now + 999) / 1000));
            if (s.phase == Phase::kHalfOpen) {
                o->set("probes", s.probes);
                o->set("probe_successes", s.successes);
            }
            list->add(o);
        }
        Poco::JSON::Object::Ptr out = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
        out->set("breakers", list);
        std::ostringstream text;
        out->stringify(text);
        return text.str();
    }

private:
    /// true: a failure, false: a success, nullopt: the upstream was not involved.
    std::optional<bool> outcome(const gh_request_info& i) const {
        switch (i.upstream_error) {
            case GH_UPSTREAM_CONNECT_FAILED:
                return countConnect_ ? std::optional<bool>(true) : std::nullopt;
            case GH_UPSTREAM_TIMEOUT:
                return countTimeouts_ ? std::optional<bool>(true) : std::nullopt;
            case GH_UPSTREAM_BROKEN:
                return true;
            case GH_UPSTREAM_NO_TARGET:
                return std::nullopt;
            default:
                break;
        }
        if (i.upstream_status == 0) return std::nullopt;
        return std::find(failureStatuses_.begin(), failureStatuses_.end(), i.upstream_status) !=
               failureStatuses_.end();
    }

    /// Counts the outcome in the window counters; whether the ratio says open.
    bool countAndCheckRatio(const std::string& key, bool failed) {
        const auto total = counterAdd(key + "\nn", windowMs_, 1);
        const auto failures = counterAdd(key + "\nf", windowMs_, failed ? 1 : 0);
        if (!total || !failures || !failed) return false;
        // Sliding estimate: the previous window weighted by how much of it is still in range.
        const double elapsed =
            static_cast<double>(static_cast<uint64_t>(unixMs()) - total->windowStartMs) /
            static_cast<double>(windowMs_);
        const double weight = std::max(0.0, 1.0 - elapsed);
        const double n = static_cast<double>(total->count) + total->previous * weight;
        const double f = static_cast<double>(failures->count) + failures->previous * weight;
        return n >= minRequests_ && f / n >= ratio_;
    }

    /// Per target: tells the balancer which targets are open (request variable
    /// upstream.avoid); expired ones are left out, so they get their probe.
    Action avoidOpenTargets(Request& r, int64_t now) {
        std::vector<std::string> targets;
        {
            std::lock_guard lock(seenMutex_);
            for (const auto& [route, target] : seen_)
                if (route == r.routeName()) targets.push_back(target);
        }
        std::string avoid;
        for (const auto& t : targets) {
            uint64_t version = 0;
            const State s = read(stateKey(r.routeName(), t), &version);
            if (s.phase == Phase::kOpen && now < s.untilMs) {
                if (!avoid.empty()) avoid += ',';
                avoid += t;
            }
        }
        if (!avoid.empty()) r.setVar("upstream.avoid", avoid);
        return Action::Continue;
    }

    Action reject(Request& r, void** ctx, int64_t retryMs) {
        *ctx = &kRejected;
        rejected_.add(1);
        return gatehouse::auth::reject(
            r, 503, "circuit open: the upstream is failing",
            {{"Retry-After", std::to_string(std::max<int64_t>(1, (retryMs + 999) / 1000))}});
    }

    std::string stateKey(std::string_view route, std::string_view target) const {
        std::string key(route);
        key += '\n';
        key += target;
        key += '\n';
        key += configTag_;
        return key;
    }

    /// Records a (route, target) for status() and the avoid list. Every request passes here,
    /// so a worker skips the shared, locked set when it recorded the same pair last time.
    void remember(std::string_view route, std::string_view target) {
        struct Last {
            uint64_t owner = 0;
            std::string route, target;
        };
        thread_local Last last;
        if (last.owner == id_ && last.route == route && last.target == target) return;
        {
            std::lock_guard lock(seenMutex_);
            if (seen_.size() < 10000) seen_.emplace(route, target);
        }
        last.owner = id_;
        last.route.assign(route);
        last.target.assign(target);
    }

    State read(const std::string& key, uint64_t* version) const {
        char buf[128];
        size_t length = 0;
        *version = 0;
        if (api()->state_get(instanceHost(), gatehouse::str(key), buf, sizeof buf, &length,
                             version) == 0 ||
            length > sizeof buf)
            return State{};
        return State::decode(std::string_view(buf, length));
    }

    bool write(const std::string& key, uint64_t expected, const State& s) const {
        uint64_t version = 0;
        // Kept for a while after the last change: long enough for the window and the open
        // time, then an idle closed breaker is forgotten (and reads as closed).
        const uint64_t ttl = static_cast<uint64_t>(std::max<int64_t>(openMs_ * 4, 600000));
        return api()->state_cas(instanceHost(), gatehouse::str(key), expected,
                                gatehouse::str(s.encode()), ttl, &version) != 0;
    }

    std::vector<int> failureStatuses_;
    bool countConnect_ = true;
    bool countTimeouts_ = true;
    int consecutive_ = 5;
    double ratio_ = 0;
    uint64_t windowMs_ = 10000;
    int minRequests_ = 20;
    int64_t openMs_ = 30000;
    int probes_ = 1;
    bool perTarget_ = false;
    std::string configTag_;
    // Unique per instance for the life of the process (an address could be reused).
    const uint64_t id_ = [] {
        static std::atomic<uint64_t> next{1};
        return next.fetch_add(1);
    }();
    gatehouse::Metric opened_, rejected_;
    mutable std::mutex seenMutex_;
    std::set<std::pair<std::string, std::string>, std::less<>> seen_;  // (route, target)
};

// After authentication and rate limiting (a refused request never reaches the upstream, so
// it must not count), before the transformers.
const gh_plugin_descriptor kDescriptor = gatehouse::describe<CircuitBreaker>(
    "circuit-breaker", "1.0.0", "Stops calling an upstream that keeps failing (503 while open)",
    kSchema, 850, GH_PHASE_REQUEST | GH_PHASE_LOG,
    GH_FEATURE_SHARED_STATE | GH_FEATURE_REQUEST_INFO | GH_FEATURE_VARS, 2);

}  // namespace

extern "C" GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v1(const gh_host_api*,
                                                                           uint32_t index) {
    return index == 0 ? &kDescriptor : nullptr;
}
