// rate-limiting: limits how many requests a client makes, by consumer, credential, client IP,
// a header, route, or all of them together, with several limits at once (10/s and 1000/h).
// Counters live in the host's shared state (ABI: counter_add, state_get/state_cas), so they
// are exact across worker threads and survive configuration reloads; the host evicts
// expired keys and caps how many it tracks.
//
//   {"limits": [{"limit": 10, "window": 1}, {"limit": 1000, "window": 3600}],
//    "algorithm": "sliding-window", "key": ["consumer", "route"], "fallback": "ip"}
//
// Algorithms (per instance, or per limit):
//   fixed-window    a counter per epoch-aligned window: exact, allows 2x at a window edge.
//   sliding-window  the previous window weighted by how much of it still overlaps a window
//                   ending now, plus the current one (the host keeps both).
//   token-bucket    GCRA: one "theoretical arrival time" per key, updated by compare-and-set;
//                   capacity `burst`, refilled at `limit` per `window`.
// Only admitted requests are counted: a refused one rolls back what it took, so a client that
// keeps hammering does not lock itself out for longer than its limits say.
//
// Hot path: no allocation on an admitted request (keys are built in stack buffers, the
// per-request state comes from a per-thread free list) and no parsing (config is read once).

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <gatehouse/plugin.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "auth_common.h"

namespace {

using gatehouse::Action;
using gatehouse::Message;
using gatehouse::Request;

constexpr const char* kSchema = R"JSON({
  "type": "object",
  "additionalProperties": false,
  "required": ["limits"],
  "definitions": {
    "algorithm": {"type": "string", "enum": ["fixed-window", "sliding-window", "token-bucket"]},
    "keyPart": {"type": "string", "enum": ["consumer", "credential", "ip", "header", "route", "global"]}
  },
  "properties": {
    "limits": {"type": "array", "minItems": 1, "maxItems": 8,
      "description": "Every limit must allow the request",
      "items": {"type": "object", "additionalProperties": false, "required": ["limit", "window"],
        "properties": {
          "limit": {"type": "integer", "minimum": 1, "maximum": 1000000000,
                    "description": "Requests per window (token-bucket: tokens added per window)"},
          "window": {"type": "integer", "minimum": 1, "maximum": 31622400,
                     "description": "Window length in seconds"},
          "name": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,32}$",
                   "description": "Policy name in RateLimit headers and in the counter key; default \"<window>s\""},
          "burst": {"type": "integer", "minimum": 1, "maximum": 1000000000,
                    "description": "token-bucket capacity (default: limit)"},
          "algorithm": {"$ref": "#/definitions/algorithm"}
        }}},
    "algorithm": {"$ref": "#/definitions/algorithm", "default": "sliding-window"},
    "key": {"anyOf": [{"$ref": "#/definitions/keyPart"},
                      {"type": "array", "minItems": 1, "maxItems": 6, "uniqueItems": true,
                       "items": {"$ref": "#/definitions/keyPart"}}],
            "default": "consumer",
            "description": "What a counter is per: one part or a combination"},
    "header_name": {"type": "string", "pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$",
                    "description": "The request header of the key part \"header\""},
    "fallback": {"type": "string", "enum": ["ip", "shared", "skip"], "default": "ip",
                 "description": "A request without a key part (no consumer, no header): ip = the client address stands in for it, shared = all such requests share one counter, skip = not limited"},
    "fail_open": {"type": "boolean", "default": true,
                  "description": "When the host cannot track another key (its cap is reached): true lets the request through, false answers 503"},
    "headers": {"type": "boolean", "default": true,
                "description": "RateLimit-Policy and RateLimit response headers (IETF draft)"},
    "legacy_headers": {"type": "boolean", "default": false,
                       "description": "Also X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"},
    "message": {"type": "string", "minLength": 1, "maxLength": 256, "default": "API rate limit exceeded"}
  }
})JSON";

enum class Algorithm : uint8_t { kFixed, kSliding, kTokenBucket };
enum class KeyPart : uint8_t { kConsumer, kCredential, kIp, kHeader, kRoute, kGlobal };
enum class Fallback : uint8_t { kIp, kShared, kSkip };

constexpr size_t kMaxLimits = 8;
constexpr size_t kMaxPartBytes = 128;  // longer values are hashed: bounds the host's memory
constexpr size_t kPartsCapacity = 6 * (2 + kMaxPartBytes);
constexpr size_t kPrefixCapacity = 64;
constexpr int64_t kNsPerMs = 1'000'000;
constexpr int64_t kMaxTauNs = int64_t{100} * 366 * 86'400 * 1'000'000'000;  // 100 years
constexpr int kCasAttempts = 32;

Algorithm parseAlgorithm(const std::string& s) {
    if (s == "fixed-window") return Algorithm::kFixed;
    if (s == "sliding-window") return Algorithm::kSliding;
    if (s == "token-bucket") return Algorithm::kTokenBucket;
    throw std::runtime_error("unknown algorithm \"" + s + "\"");  // the schema stops it first
}

KeyPart parseKeyPart(const std::string& s) {
    static constexpr std::pair<std::string_view, KeyPart> kParts[] = {
        {"consumer", KeyPart::kConsumer},
        {"credential", KeyPart::kCredential},
        {"ip", KeyPart::kIp},
        {"header", KeyPart::kHeader},
        {"route", KeyPart::kRoute},
        {"global", KeyPart::kGlobal}};
    for (const auto& [name, part] : kParts)
        if (name == s) return part;
    throw std::runtime_error("key: unknown part \"" + s + "\"");
}

struct Limit {
    std::string name;
    Algorithm algorithm = Algorithm::kSliding;
    int64_t limit = 0;
    int64_t windowMs = 0;
    // token-bucket (GCRA): one token every intervalNs, at most burst of them.
    int64_t intervalNs = 0;
    int64_t tauNs = 0;
    // Prepended to the request's key parts: name, algorithm and window, so that changing the
    // limit keeps the count while changing what is counted starts afresh.
    std::array<char, kPrefixCapacity> prefix{};
    size_t prefixLen = 0;
};

/// What one limit says about one request.
struct Verdict {
    bool known = false;  // the host answered
    bool allowed = true;
    int64_t remaining = 0;
    int64_t resetMs = 0;  // RateLimit t: see README
    int64_t retryMs = 0;  // until the next request would be allowed (refused only)
};

/// Per-request state from on_request to on_response. Recycled through a per-thread free
/// list: phase callbacks and on_done of one request run on its worker.
struct Ctx {
    uint8_t count = 0;
    std::array<Verdict, kMaxLimits> verdicts;
};

class CtxPool {
public:
    ~CtxPool() {
        for (Ctx* c : free_)
            delete c;
    }
    Ctx* acquire() {
        if (free_.empty()) return new Ctx();
        Ctx* c = free_.back();
        free_.pop_back();
        return c;
    }
    void release(Ctx* c) {
        if (free_.size() >= kKeep) {
            delete c;
            return;
        }
        *c = Ctx();
        free_.push_back(c);
    }

private:
    static constexpr size_t kKeep = 4096;
    std::vector<Ctx*> free_;
};

CtxPool& ctxPool() {
    thread_local CtxPool pool;
    return pool;
}

/// FNV-1a 64: stands in for over-long key parts. Only values a client already chooses freely
/// (header values) get that long, so a crafted collision buys nothing.
uint64_t fnv1a(std::string_view s) {
    uint64_t h = 14695981039346656037ull;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

/// Builds a counter key into a fixed buffer: each part is a tag byte, a length byte and the
/// bytes, so no value can be read as another part's.
class KeyBuilder {
public:
    void add(char tag, std::string_view value) {
        if (value.size() > kMaxPartBytes) {
            const uint64_t h = fnv1a(value);
            char hashed[sizeof h];
            std::memcpy(hashed, &h, sizeof h);
            put(static_cast<char>(tag & ~0x20),
                std::string_view(hashed, sizeof hashed));  // upper case
        } else {
            put(tag, value);
        }
    }
    std::string_view view() const { return std::string_view(buf_.data(), len_); }

private:
    void put(char tag, std::string_view value) {
        buf_[len_++] = tag;
        buf_[len_++] = static_cast<char>(value.size());
        std::memcpy(buf_.data() + len_, value.data(), value.size());
        len_ += value.size();
    }
    std::array<char, kPartsCapacity> buf_;
    size_t len_ = 0;
};

int64_t ceilSeconds(int64_t ms) {
    return ms <= 0 ? 0 : (ms + 999) / 1000;
}

/// Appends the decimal `v` to out[len..cap); false when it does not fit.
bool appendInt(char* out, size_t cap, size_t& len, int64_t v) {
    const auto r = std::to_chars(out + len, out + cap, v);
    if (r.ec != std::errc()) return false;
    len = static_cast<size_t>(r.ptr - out);
    return true;
}

bool appendStr(char* out, size_t cap, size_t& len, std::string_view s) {
    if (cap - len < s.size()) return false;
    std::memcpy(out + len, s.data(), s.size());
    len += s.size();
    return true;
}

class RateLimiting final : public gatehouse::Plugin {
public:
    RateLimiting(const gh_host_api* host, gh_instance_host* instance, std::string_view config)
        : Plugin(host, instance) {
        if (!hostHasFeatures(GH_FEATURE_SHARED_STATE | GH_FEATURE_VARS))
            throw std::runtime_error("this gateway has no shared state or request variables");
        Poco::JSON::Parser parser;
        const auto o = parser.parse(std::string(config)).extract<Poco::JSON::Object::Ptr>();

        const Algorithm algorithm =
            parseAlgorithm(o->optValue<std::string>("algorithm", "sliding-window"));
        parseKey(o);
        fallback_ = [&] {
            const std::string f = o->optValue<std::string>("fallback", "ip");
            return f == "shared" ? Fallback::kShared
                                 : (f == "skip" ? Fallback::kSkip : Fallback::kIp);
        }();
        failOpen_ = o->optValue<bool>("fail_open", true);
        headers_ = o->optValue<bool>("headers", true);
        legacyHeaders_ = o->optValue<bool>("legacy_headers", false);
        message_ = o->optValue<std::string>("message", "API rate limit exceeded");

        const auto limits = o->getArray("limits");
        if (!limits || limits->size() == 0 || limits->size() > kMaxLimits)
            throw std::runtime_error("limits: between 1 and 8 limits");
        for (size_t i = 0; i < limits->size(); ++i)
            limits_.push_back(
                parseLimit(*limits->getObject(static_cast<unsigned>(i)), i, algorithm));

        // Static for the instance: the policy list never changes between responses.
        for (const Limit& l : limits_) {
            if (!policy_.empty()) policy_ += ", ";
            policy_ += "\"" + l.name + "\";q=" + std::to_string(l.limit) +
                       ";w=" + std::to_string(l.windowMs / 1000);
        }
        limited_ = defineCounter("rate_limiting_limited_total",
                                 "Requests refused with 429 by a rate limit");
        unavailable_ =
            defineCounter("rate_limiting_state_unavailable_total",
                          "Requests whose counter the host could not track (key cap reached); "
                          "let through or refused as fail_open says");
    }

    Action onRequest(Request& r, void** ctxSlot) override {
        KeyBuilder parts;
        if (!buildKey(r, parts)) return Action::Continue;  // fallback "skip"

        const int64_t nowMs = unixMs();
        std::array<Verdict, kMaxLimits> verdicts;
        std::array<bool, kMaxLimits> committed{};
        const size_t n = limits_.size();
        size_t refusedAt = n;  // the first limit that refused; later ones are only read
        bool unavailable = false;
        for (size_t i = 0; i < n; ++i) {
            char keyBuf[kPrefixCapacity + kPartsCapacity];
            const std::string_view key = makeKey(limits_[i], parts.view(), keyBuf);
            // Once the answer is no (refused, or unavailable and failing closed), the rest
            // are only read for the headers and Retry-After.
            const bool commit = refusedAt == n && (failOpen_ || !unavailable);
            verdicts[i] = evaluate(limits_[i], key, nowMs, commit);
            if (!verdicts[i].known) {
                unavailable = true;
                continue;
            }
            if (commit && !verdicts[i].allowed) refusedAt = i;
            committed[i] = commit && verdicts[i].allowed;
        }

        if (unavailable) {
            unavailable_.add(1);
            warnOnce();
        }
        const bool refuse = refusedAt < n || (unavailable && !failOpen_);
        if (refuse) {
            // Only admitted requests count: give back what the earlier limits took.
            for (size_t i = 0; i < n; ++i) {
                if (!committed[i]) continue;
                char keyBuf[kPrefixCapacity + kPartsCapacity];
                rollback(limits_[i], makeKey(limits_[i], parts.view(), keyBuf), nowMs);
                ++verdicts[i].remaining;  // the headers report the state without this request
            }
        }

        if (headers_ || legacyHeaders_) {
            Ctx* ctx = ctxPool().acquire();
            ctx->count = static_cast<uint8_t>(n);
            ctx->verdicts = verdicts;
            *ctxSlot = ctx;
        }
        if (!refuse) return Action::Continue;

        if (refusedAt == n) {  // fail closed
            return respond(r, 503, "rate limit state unavailable", 1000);
        }
        int64_t retryMs = 0;
        for (size_t i = 0; i < n; ++i)
            if (verdicts[i].known) retryMs = std::max(retryMs, verdicts[i].retryMs);
        limited_.add(1);
        return respond(r, 429, message_, retryMs);
    }

    Action onResponse(Request& r, void** ctxSlot) override {
        const Ctx* ctx = static_cast<const Ctx*>(*ctxSlot);
        if (ctx == nullptr) return Action::Continue;
        if (headers_) {
            r.setHeader(Message::Response, "RateLimit-Policy", policy_);
            char buf[kMaxLimits * 64];
            size_t len = 0;
            for (size_t i = 0; i < ctx->count; ++i) {
                const Verdict& v = ctx->verdicts[i];
                if (!v.known) continue;
                if (len != 0 && !appendStr(buf, sizeof buf, len, ", ")) break;
                if (!appendStr(buf, sizeof buf, len, "\"") ||
                    !appendStr(buf, sizeof buf, len, limits_[i].name) ||
                    !appendStr(buf, sizeof buf, len, "\";r=") ||
                    !appendInt(buf, sizeof buf, len, v.remaining) ||
                    !appendStr(buf, sizeof buf, len, ";t=") ||
                    !appendInt(buf, sizeof buf, len, ceilSeconds(v.resetMs)))
                    break;
            }
            if (len != 0) r.setHeader(Message::Response, "RateLimit", std::string_view(buf, len));
        }
        if (legacyHeaders_) {
            // The most restrictive limit: the fewest requests left, then the longest wait.
            size_t best = kMaxLimits;
            for (size_t i = 0; i < ctx->count; ++i) {
                const Verdict& v = ctx->verdicts[i];
                if (!v.known) continue;
                if (best == kMaxLimits || v.remaining < ctx->verdicts[best].remaining ||
                    (v.remaining == ctx->verdicts[best].remaining &&
                     v.resetMs > ctx->verdicts[best].resetMs))
                    best = i;
            }
            if (best != kMaxLimits) {
                const Verdict& v = ctx->verdicts[best];
                setIntHeader(r, "X-RateLimit-Limit", limits_[best].limit);
                setIntHeader(r, "X-RateLimit-Remaining", v.remaining);
                setIntHeader(r, "X-RateLimit-Reset", ceilSeconds(v.resetMs));
            }
        }
        return Action::Continue;
    }

    void onDone(void* ctx) override { ctxPool().release(static_cast<Ctx*>(ctx)); }

private:
    void parseKey(const Poco::JSON::Object::Ptr& o) {
        if (const auto list = o->getArray("key")) {
            for (size_t i = 0; i < list->size(); ++i)
                keyParts_.push_back(
                    parseKeyPart(list->getElement<std::string>(static_cast<unsigned>(i))));
        } else {
            keyParts_.push_back(parseKeyPart(o->optValue<std::string>("key", "consumer")));
        }
        const auto has = [&](KeyPart p) {
            return std::find(keyParts_.begin(), keyParts_.end(), p) != keyParts_.end();
        };
        if (has(KeyPart::kGlobal) && keyParts_.size() > 1)
            throw std::runtime_error("key: \"global\" cannot be combined with other parts");
        headerName_ = o->optValue<std::string>("header_name", "");
        if (has(KeyPart::kHeader) && headerName_.empty())
            throw std::runtime_error("header_name: required when key has \"header\"");
        if (!has(KeyPart::kHeader) && !headerName_.empty())
            throw std::runtime_error("header_name: only used when key has \"header\"");
    }

    Limit parseLimit(const Poco::JSON::Object& o, size_t index, Algorithm fallbackAlgorithm) {
        const std::string where = "limits[" + std::to_string(index) + "]";
        Limit l;
        l.limit = o.getValue<int64_t>("limit");
        const int64_t windowS = o.getValue<int64_t>("window");
        if (l.limit < 1 || windowS < 1) throw std::runtime_error(where + ": must be positive");
        l.windowMs = windowS * 1000;
        l.algorithm = o.has("algorithm") ? parseAlgorithm(o.getValue<std::string>("algorithm"))
                                         : fallbackAlgorithm;
        l.name = o.optValue<std::string>("name", std::to_string(windowS) + "s");
        for (const Limit& other : limits_)
            if (other.name == l.name)
                throw std::runtime_error(where + ": another limit is named \"" + l.name +
                                         "\" (give limits with the same window a name)");
        if (o.has("burst")) {
            if (l.algorithm != Algorithm::kTokenBucket)
                throw std::runtime_error(where + ".burst: only for the token-bucket algorithm");
        }
        const int64_t burst = o.optValue<int64_t>("burst", l.limit);
        if (l.algorithm == Algorithm::kTokenBucket) {
            l.intervalNs = std::max<int64_t>(1, l.windowMs * kNsPerMs / l.limit);
            if (burst > kMaxTauNs / l.intervalNs)
                throw std::runtime_error(where + ": burst x window / limit exceeds 100 years");
            l.tauNs = burst * l.intervalNs;
        }
        // prefix: name, algorithm and window (the parts follow).
        const char algo = l.algorithm == Algorithm::kFixed
                              ? 'f'
                              : (l.algorithm == Algorithm::kSliding ? 's' : 't');
        size_t len = 0;
        char* p = l.prefix.data();
        if (!appendStr(p, l.prefix.size(), len, l.name) ||
            !appendStr(p, l.prefix.size(), len, std::string_view("\x1f", 1)) ||
            !appendStr(p, l.prefix.size(), len, std::string_view(&algo, 1)) ||
            !appendInt(p, l.prefix.size(), len, windowS) ||
            !appendStr(p, l.prefix.size(), len, std::string_view("\x1f", 1)))
            throw std::runtime_error(where + ": name too long");
        l.prefixLen = len;
        return l;
    }

    /// The request's key parts; false when a part is missing and fallback is "skip".
    bool buildKey(Request& r, KeyBuilder& parts) const {
        for (KeyPart p : keyParts_) {
            std::string_view value;
            char tag = 0;
            switch (p) {
                case KeyPart::kGlobal:
                    parts.add('g', {});
                    continue;
                case KeyPart::kRoute:
                    parts.add('r', r.routeName());
                    continue;
                case KeyPart::kIp:
                    parts.add('i', r.clientAddress());
                    continue;
                case KeyPart::kConsumer:
                    // The anonymous consumer of an auth plugin stands for "nobody": counting all
                    // anonymous clients together would let one of them starve the rest.
                    if (!anonymous(r)) value = r.consumerId();
                    tag = 'c';
                    break;
                case KeyPart::kCredential:
                    // X-Credential-Id is trustworthy only once an auth plugin ran: it removes the
                    // client's copy and sets its own (auth_common.h).
                    if (authenticated(r))
                        value = r.requestHeader("X-Credential-Id").value_or(std::string_view());
                    tag = 'k';
                    break;
                case KeyPart::kHeader:
                    value = r.requestHeader(headerName_).value_or(std::string_view());
                    tag = 'h';
                    break;
            }
            if (!value.empty()) {
                parts.add(tag, value);
                continue;
            }
            switch (fallback_) {
                case Fallback::kSkip:
                    return false;
                case Fallback::kShared:
                    parts.add('-', std::string_view(&tag, 1));  // one counter for "missing"
                    break;
                case Fallback::kIp:
                    parts.add('i', r.clientAddress());
                    break;
            }
        }
        return true;
    }

    static bool anonymous(Request& r) { return r.var(gatehouse::auth::kVarAnonymous).has_value(); }
    static bool authenticated(Request& r) { return gatehouse::auth::authenticatedEarlier(r); }

    static std::string_view makeKey(const Limit& l, std::string_view parts,
                                    char (&buf)[kPrefixCapacity + kPartsCapacity]) {
        std::memcpy(buf, l.prefix.data(), l.prefixLen);
        std::memcpy(buf + l.prefixLen, parts.data(), parts.size());
        return std::string_view(buf, l.prefixLen + parts.size());
    }

    /// Takes (commit) or only reads one limit's quota for this request.
    Verdict evaluate(const Limit& l, std::string_view key, int64_t nowMs, bool commit) const {
        if (l.algorithm == Algorithm::kTokenBucket) return tokenBucket(l, key, nowMs, commit);
        Verdict v;
        const auto c = counterAdd(key, static_cast<uint64_t>(l.windowMs), commit ? 1 : 0);
        if (!c) return v;
        v.known = true;
        const int64_t start = static_cast<int64_t>(c->windowStartMs);
        const int64_t elapsed = std::clamp<int64_t>(nowMs - start, 0, l.windowMs);
        const int64_t toWindowEnd = l.windowMs - elapsed;
        // `taken`: the count including this request (commit), or including a next one (read).
        const int64_t taken = c->count + (commit ? 0 : 1);
        if (l.algorithm == Algorithm::kFixed) {
            v.allowed = taken <= l.limit;
            v.remaining = std::max<int64_t>(0, l.limit - taken + (commit ? 0 : 1));
            if (!v.allowed) {
                v.remaining = 0;
                v.retryMs = toWindowEnd;
            }
            v.resetMs = toWindowEnd;
        } else {
            const double weight =
                static_cast<double>(toWindowEnd) / static_cast<double>(l.windowMs);
            const double previous = static_cast<double>(c->previous) * weight;
            v.allowed = previous + static_cast<double>(taken) <= static_cast<double>(l.limit);
            const double left = static_cast<double>(l.limit) - previous -
                                static_cast<double>(taken - (commit ? 0 : 1));
            v.remaining = left > 0 ? static_cast<int64_t>(std::floor(left)) : 0;
            v.resetMs = toWindowEnd;
            if (!v.allowed) {
                v.remaining = 0;
                v.retryMs = slidingRetryMs(l, c->previous, taken - 1, elapsed);
                v.resetMs = v.retryMs;
            }
        }
        if (commit && !v.allowed) counterAdd(key, static_cast<uint64_t>(l.windowMs), -1);
        return v;
    }

    /// How long until `previous`*(remaining share of the window) + `current` + 1 <= limit.
    static int64_t slidingRetryMs(const Limit& l, int64_t previous, int64_t current,
                                  int64_t elapsed) {
        const double w = static_cast<double>(l.windowMs);
        const double limit = static_cast<double>(l.limit);
        double waitMs;
        if (current + 1 <= l.limit) {
            // Within this window, as the previous one's weight shrinks.
            const double needElapsed =
                previous > 0 ? w * (1.0 - (limit - static_cast<double>(current) - 1.0) /
                                              static_cast<double>(previous))
                             : 0.0;
            waitMs = std::max(0.0, needElapsed - static_cast<double>(elapsed));
        } else {
            // This window is full: into the next, where this one is the previous.
            const double needElapsed =
                current > 0
                    ? std::max(0.0, w * (1.0 - (limit - 1.0) / static_cast<double>(current)))
                    : 0.0;
            waitMs = (w - static_cast<double>(elapsed)) + needElapsed;
        }
        return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(waitMs)));
    }

    /// GCRA over the host's compare-and-set: the stored value is the bucket's theoretical
    /// arrival time (unix ns, 8 bytes); the bucket is full when it is in the past.
    Verdict tokenBucket(const Limit& l, std::string_view key, int64_t nowMs, bool commit) const {
        const int64_t now = nowMs * kNsPerMs;
        Verdict v;
        for (int attempt = 0; attempt < kCasAttempts; ++attempt) {
            uint64_t version = 0;
            int64_t tat = now;
            if (!readTat(key, &tat, &version)) return v;
            tat = std::max(tat, now);
            const int64_t next = tat + l.intervalNs;
            v.known = true;
            v.allowed = next - now <= l.tauNs;
            if (!v.allowed || !commit) {
                v.remaining = std::max<int64_t>(0, (l.tauNs - (tat - now)) / l.intervalNs);
                if (!v.allowed) {
                    v.retryMs = nsToMsCeil(next - l.tauNs - now);
                    v.resetMs = v.retryMs;
                    v.remaining = 0;
                } else {
                    v.resetMs = nsToMsCeil(tat - now);
                }
                return v;
            }
            uint64_t fresh = 0;
            if (casTat(key, version, next, nsToMsCeil(next - now) + 1, &fresh)) {
                v.remaining = (l.tauNs - (next - now)) / l.intervalNs;
                v.resetMs = nsToMsCeil(next - now);
                return v;
            }
            if (version == 0) {
                // Creating failed: taken meanwhile (retry), or the host's key cap is reached.
                int64_t ignored = 0;
                uint64_t current = 0;
                if (!readTat(key, &ignored, &current) || current == 0) return Verdict{};
            }
        }
        return Verdict{};  // lost the race every time: treated like an unavailable store
    }

    /// Gives back the quota an admitted-then-refused request took from limit `l`.
    void rollback(const Limit& l, std::string_view key, int64_t nowMs) const {
        if (l.algorithm != Algorithm::kTokenBucket) {
            counterAdd(key, static_cast<uint64_t>(l.windowMs), -1);
            return;
        }
        const int64_t now = nowMs * kNsPerMs;
        for (int attempt = 0; attempt < kCasAttempts; ++attempt) {
            uint64_t version = 0;
            int64_t tat = 0;
            if (!readTat(key, &tat, &version) || version == 0) return;
            const int64_t back = tat - l.intervalNs;
            if (back <= now) return;  // full again by now anyway
            uint64_t fresh = 0;
            if (casTat(key, version, back, nsToMsCeil(back - now) + 1, &fresh)) return;
        }
    }

    /// The stored arrival time; *version 0 (and *tat untouched) when there is none. False only
    /// when the host lacks state_get.
    bool readTat(std::string_view key, int64_t* tat, uint64_t* version) const {
        if (!GATEHOUSE_HOST_HAS(api(), state_get)) return false;
        char buf[16];
        size_t length = 0;
        *version = 0;
        if (api()->state_get(instanceHost(), gatehouse::str(key), buf, sizeof buf, &length,
                             version) == 0) {
            *version = 0;
            return true;
        }
        if (length == sizeof(int64_t)) std::memcpy(tat, buf, sizeof(int64_t));
        // Anything else is not ours: overwritten by the next compare-and-set.
        return true;
    }

    bool casTat(std::string_view key, uint64_t expected, int64_t tat, int64_t ttlMs,
                uint64_t* version) const {
        char buf[sizeof tat];
        std::memcpy(buf, &tat, sizeof tat);
        return GATEHOUSE_HOST_HAS(api(), state_cas) &&
               api()->state_cas(instanceHost(), gatehouse::str(key), expected,
                                gatehouse::str(std::string_view(buf, sizeof buf)),
                                static_cast<uint64_t>(ttlMs), version) != 0;
    }

    static int64_t nsToMsCeil(int64_t ns) { return ns <= 0 ? 0 : (ns + kNsPerMs - 1) / kNsPerMs; }

    Action respond(Request& r, int status, std::string_view message, int64_t retryMs) const {
        const std::string body = gatehouse::auth::errorBody(status, message, r.requestId());
        char retry[24];
        size_t len = 0;
        appendInt(retry, sizeof retry, len, std::max<int64_t>(1, ceilSeconds(retryMs)));
        const gh_header headers[] = {
            {gatehouse::str("Content-Type"), gatehouse::str("application/json")},
            {gatehouse::str("Retry-After"), gatehouse::str(std::string_view(retry, len))}};
        if (!r.respondRaw(status, headers, 2, body)) return Action::Fail;
        return Action::Respond;
    }

    static void setIntHeader(Request& r, std::string_view name, int64_t value) {
        char buf[24];
        size_t len = 0;
        if (appendInt(buf, sizeof buf, len, value))
            r.setHeader(Message::Response, name, std::string_view(buf, len));
    }

    void warnOnce() const {
        if (!warned_.exchange(true, std::memory_order_relaxed))
            log(GH_LOG_WARN,
                std::string("the host's shared state refused a key (its cap, [plugins] "
                            "shared_state_max_keys, is reached): requests are ") +
                    (failOpen_ ? "let through unlimited" : "refused with 503"));
    }

    std::vector<Limit> limits_;
    std::vector<KeyPart> keyParts_;
    std::string headerName_;
    Fallback fallback_ = Fallback::kIp;
    bool failOpen_ = true;
    bool headers_ = true;
    bool legacyHeaders_ = false;
    std::string message_;
    std::string policy_;
    gatehouse::Metric limited_;
    gatehouse::Metric unavailable_;
    mutable std::atomic<bool> warned_{false};
};

const gh_plugin_descriptor kDescriptor = gatehouse::describe<RateLimiting>(
    "rate-limiting", "1.0.0",
    "Limits requests per consumer, credential, client IP, header or route (fixed window, "
    "sliding window, token bucket)",
    kSchema, 900, GH_PHASE_REQUEST | GH_PHASE_RESPONSE, GH_FEATURE_SHARED_STATE | GH_FEATURE_VARS,
    2);

}  // namespace

extern "C" GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v1(const gh_host_api*,
                                                                           uint32_t index) {
    return index == 0 ? &kDescriptor : nullptr;
}
