/*
 * gatehouse plugin SDK: an in-memory fake host for unit-testing plugins without a gateway.
 *
 * Header-only, C++17, standard library only. It implements every function of gh_host_api
 * with the semantics plugin.h documents (phases, header rules, respond, pause/resume, shared
 * counters and compare-and-set state with TTLs, metrics, logging) and records what a plugin
 * did so that a test can assert on it:
 *
 *   gatehouse::testing::FakeHost host;
 *   auto loaded = host.load(gatehouse_plugin_entry_v1);          // descriptor checks
 *   const gh_plugin_descriptor& d = *loaded.at(0).descriptor;
 *   auto created = host.create(d, R"({"name":"X-Hello","value":"world"})");
 *   gatehouse::testing::FakeRequest req;
 *   req.requestHeaders = {{"Accept", "text/plain"}};
 *   int32_t action = host.runRequest(d, created.instance, req);  // GH_CONTINUE, ...
 *   assert(req.requestHeader("x-hello") == "world");
 *   host.runLog(d, created.instance, req);                       // then on_done
 *   assert(host.violations().empty());
 *   host.destroy(d, created.instance);
 *
 * What it does not do: validate configs against config_schema (pass JSON the gateway would
 * accept), run a chain of plugins for you (call the run* functions in chain order), or do any
 * I/O. Misuse of the ABI (a host function called outside a phase callback or from another
 * thread, GH_PAUSE without pause(), GH_RESPOND without respond(), an invalid action, resume
 * called twice, metric_define outside instance_create, an exception escaping a callback) is
 * recorded in violations(); a well-behaved plugin leaves it empty.
 *
 * Lifetimes: declare the FakeHost before the requests and keep instances alive until their
 * requests ended (as the gateway does). The clock (unix_ms, monotonic_ns) is process-wide
 * because those host functions take no context: FakeHost::setTime() freezes it for every
 * FakeHost, and a new FakeHost starts on the real clock again.
 */
#ifndef GATEHOUSE_TESTING_FAKE_HOST_HPP
#define GATEHOUSE_TESTING_FAKE_HOST_HPP

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "gatehouse/plugin.h"

namespace gatehouse {
namespace testing {

using Headers = std::vector<std::pair<std::string, std::string>>;

class FakeHost;
class FakeRequest;

namespace detail {

inline char lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

inline bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

/* RFC 9110 token (header names). */
inline bool isToken(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        const bool alnum =
            (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alnum && std::strchr("!#$%&'*+-.^_`|~", c) == nullptr) return false;
        if (c == 0) return false;
    }
    return true;
}

/* RFC 9110 field value: no control characters except HTAB (so no CR, LF, NUL). */
inline bool isFieldValue(std::string_view s) noexcept {
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c < 0x20 && c != '\t') || c == 0x7F) return false;
    }
    return true;
}

/* Headers that frame the message: the gateway owns them (body_set fixes them). */
inline bool isFramingHeader(std::string_view name) noexcept {
    return iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding");
}

inline bool isMetricName(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                        (i > 0 && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

inline std::string_view view(gh_str s) noexcept {
    return s.ptr != nullptr ? std::string_view(s.ptr, s.len) : std::string_view();
}

inline gh_str str(std::string_view s) noexcept {
    gh_str out;
    out.ptr = s.data();
    out.len = s.size();
    return out;
}

/* Printable, bounded rendering of untrusted bytes for messages. */
inline std::string printable(std::string_view s, std::size_t max = 64) {
    std::string out;
    for (std::size_t i = 0; i < s.size() && i < max; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        out += (c >= 0x20 && c < 0x7F) ? s[i] : '?';
    }
    if (s.size() > max) out += "...";
    return out;
}

/* A JSON syntax check (RFC 8259), for config_schema. Depth-limited, no allocation. */
class JsonChecker {
public:
    explicit JsonChecker(std::string_view text) noexcept : s_(text) {}

    bool document(bool objectOnly) noexcept {
        ws();
        if (objectOnly && (i_ >= s_.size() || s_[i_] != '{')) return false;
        if (!value(0)) return false;
        ws();
        return i_ == s_.size();
    }

private:
    void ws() noexcept {
        while (i_ < s_.size() &&
               (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
            ++i_;
    }
    bool eat(char c) noexcept {
        ws();
        if (i_ < s_.size() && s_[i_] == c) {
            ++i_;
            return true;
        }
        return false;
    }
    bool value(int depth) noexcept {
        if (depth > 128) return false;
        ws();
        if (i_ >= s_.size()) return false;
        switch (s_[i_]) {
            case '{':
                return object(depth);
            case '[':
                return array(depth);
            case '"':
                return string();
            case 't':
                return literal("true");
            case 'f':
                return literal("false");
            case 'n':
                return literal("null");
            default:
                return number();
        }
    }
    bool object(int depth) noexcept {
        ++i_;
        if (eat('}')) return true;
        do {
            ws();
            if (!string() || !eat(':') || !value(depth + 1)) return false;
        } while (eat(','));
        return eat('}');
    }
    bool array(int depth) noexcept {
        ++i_;
        if (eat(']')) return true;
        do {
            if (!value(depth + 1)) return false;
        } while (eat(','));
        return eat(']');
    }
    bool string() noexcept {
        if (i_ >= s_.size() || s_[i_] != '"') return false;
        ++i_;
        while (i_ < s_.size()) {
            const auto c = static_cast<unsigned char>(s_[i_++]);
            if (c == '"') return true;
            if (c < 0x20) return false;
            if (c == '\\') {
                if (i_ >= s_.size()) return false;
                const char e = s_[i_++];
                if (e == 'u') {
                    for (int k = 0; k < 4; ++k, ++i_) {
                        if (i_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[i_])))
                            return false;
                    }
                } else if (std::strchr("\"\\/bfnrt", e) == nullptr || e == '\0') {
                    return false;
                }
            }
        }
        return false;
    }
    bool digits() noexcept {
        const std::size_t start = i_;
        while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9')
            ++i_;
        return i_ > start;
    }
    bool number() noexcept {
        if (i_ < s_.size() && s_[i_] == '-') ++i_;
        if (i_ < s_.size() && s_[i_] == '0') {
            ++i_;
        } else if (!digits()) {
            return false;
        }
        if (i_ < s_.size() && s_[i_] == '.') {
            ++i_;
            if (!digits()) return false;
        }
        if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
            ++i_;
            if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
            if (!digits()) return false;
        }
        return true;
    }
    bool literal(const char* word) noexcept {
        const std::size_t n = std::strlen(word);
        if (s_.substr(i_, n) != word) return false;
        i_ += n;
        return true;
    }

    std::string_view s_;
    std::size_t i_ = 0;
};

/* The process-wide clock behind unix_ms and monotonic_ns. */
struct Clock {
    std::atomic<bool> manual{false};
    std::atomic<std::int64_t> unixMs{0};
    std::atomic<std::uint64_t> monotonicNs{0};
};

inline Clock& clock() noexcept {
    static Clock c;
    return c;
}

inline std::int64_t nowUnixMs() noexcept {
    if (clock().manual.load()) return clock().unixMs.load();
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

inline std::uint64_t nowMonotonicNs() noexcept {
    if (clock().manual.load()) return clock().monotonicNs.load();
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

struct InstanceState {
    FakeHost* host = nullptr;
    const gh_plugin_descriptor* descriptor = nullptr;
    std::string plugin;
    void* instance = nullptr;
    bool creating = false;
    bool destroyed = false;
    std::int32_t (*status)(void*, char*, std::size_t, std::size_t*) = nullptr;  // 1.2
};

struct MetricState {
    FakeHost* host = nullptr;
    std::string plugin;
    std::string name;
    std::string help;
    std::int32_t kind = GH_METRIC_COUNTER;
    double value = 0;
};

struct ResumerState {
    FakeHost* host = nullptr;
    FakeRequest* request = nullptr;  // null once the request ended, timed out or went on
    bool resumed = false;
    bool used = false;
};

struct Api;

}  // namespace detail

/** The phase a FakeRequest is in while a callback runs. */
enum class Phase { None, Request, Response, Log };

/** What the running callback may touch, derived from the phase and the descriptor's body
 * bits (see FakeRequest::accessFor), unless FakeRequest::forceAccess is set. */
struct Access {
    bool requestHeaders = false;
    bool requestHeadersWritable = false;
    bool responseHeaders = false;
    bool responseHeadersWritable = false;
    bool requestBody = false;
    bool requestBodyWritable = false;
    bool responseBody = false;
    bool responseBodyWritable = false;
};

/** A response prepared with respond(). */
struct Response {
    std::int32_t status = 0;
    Headers headers;
    std::string body;
};

/**
 * One request in flight. Set the public fields up as the gateway would have them, run
 * phases through a FakeHost, then inspect the same fields and the captured calls.
 */
class FakeRequest {
public:
    // What the host reports (request_method, request_path, ...). path is what routing saw,
    // or what set_path set; query is without '?'; host is lower case without a port.
    std::string method = "GET";
    std::string path = "/";
    std::string query;
    std::string host = "example.test";
    std::string scheme = "http";
    std::string clientAddress = "192.0.2.10";
    std::string routeName;
    std::string requestId = "5f0c6a1e-8d7b-4c43-9b61-3a2f1e0d9c01";
    Headers requestHeaders;
    Headers responseHeaders;
    std::int32_t status = 0;  // the response status seen in on_response / on_log
    std::string requestBody;  // body_get/body_set when the descriptor buffers it
    std::string responseBody;
    std::string consumerId;  // set_consumer / consumer_id
    std::string consumerName;
    /// Request variables (ABI 1.2): what var_set stored; set entries to act as an earlier
    /// plugin of the request would have (e.g. "auth.roles" for an authorization plugin).
    std::map<std::string, std::string, std::less<>> vars;
    /// What request_info reports (ABI 1.2): set it as the gateway would have measured.
    struct Info {
        std::int32_t upstreamStatus = 0;
        std::int32_t upstreamError = GH_UPSTREAM_OK;
        std::string upstreamAddress;
        std::uint64_t bytesIn = 0, bytesOut = 0;
        std::int64_t startUnixUs = 0, totalUs = 0, upstreamUs = -1;
    } info;

    /// Consumers and credentials as the gateway's configuration would have them (ABI 1.1):
    /// credential_find looks credentials up by (type, lookup) — for key-auth, `lookup` is the
    /// key itself here (the real host compares hashes) — and consumer_get finds the consumer
    /// set_consumer named, by id or username.
    struct Consumer {
        std::string id, username, customId, roles;  // roles comma-separated
    };
    struct Credential {
        std::int32_t type = GH_CREDENTIAL_KEY_AUTH;
        std::string lookup;  // the key, the kid or iss, or the username
        Consumer consumer;
        std::string id, algorithm, secret, publicKey, issuer, kid;
    };
    std::vector<Credential> credentials;
    std::vector<Consumer> consumers;  // besides those of `credentials`

    // Captured calls.
    std::optional<Response> responded;    // the last respond()
    std::optional<std::string> pathSet;   // the last set_path()
    std::optional<std::string> querySet;  // the last set_query()

    // State.
    Phase phase = Phase::None;              // the phase whose callback is running
    Access access;                          // what that callback may touch
    std::optional<Access> forceAccess;      // set to override the derived access rules
    std::int32_t lastAction = GH_CONTINUE;  // after validation: an invalid action reads GH_FAIL
    bool timedOut = false;                  // set by FakeHost::expirePaused()

    FakeRequest() = default;
    FakeRequest(const FakeRequest&) = delete;
    FakeRequest& operator=(const FakeRequest&) = delete;
    ~FakeRequest();

    /** The nth header called `name` (case-insensitive). */
    static std::optional<std::string> find(const Headers& headers, std::string_view name,
                                           std::size_t nth = 0) {
        for (const auto& h : headers) {
            if (detail::iequals(h.first, name) && nth-- == 0) return h.second;
        }
        return std::nullopt;
    }
    static std::size_t count(const Headers& headers, std::string_view name) {
        std::size_t n = 0;
        for (const auto& h : headers)
            if (detail::iequals(h.first, name)) ++n;
        return n;
    }
    std::optional<std::string> requestHeader(std::string_view name, std::size_t nth = 0) const {
        return find(requestHeaders, name, nth);
    }
    std::optional<std::string> responseHeader(std::string_view name, std::size_t nth = 0) const {
        return find(responseHeaders, name, nth);
    }

    /** True while a phase of this request is paused and not re-run yet. */
    bool paused() const noexcept { return paused_.has_value(); }

    /** The plugin's *req_ctx for this request (nullptr when none or after on_done). */
    void* context(const gh_plugin_descriptor& d, void* instance) const noexcept {
        for (const auto& s : slots_) {
            if (s.descriptor == &d && s.instance == instance) return s.ctx;
        }
        return nullptr;
    }

    /** The access rules of plugin.h for a phase, given the descriptor's GH_PHASE_* bits. */
    static Access accessFor(Phase p, std::uint32_t phases) noexcept {
        Access a;
        const bool reqBody = (phases & GH_PHASE_REQUEST_BODY) != 0;
        const bool respBody = (phases & GH_PHASE_RESPONSE_BODY) != 0;
        switch (p) {
            case Phase::Request:
                a.requestHeaders = a.requestHeadersWritable = true;
                a.requestBody = a.requestBodyWritable = reqBody;
                break;
            case Phase::Response:
                a.requestHeaders = true;
                a.responseHeaders = a.responseHeadersWritable = true;
                a.requestBody = reqBody;
                a.responseBody = a.responseBodyWritable = respBody;
                break;
            case Phase::Log:
                a.requestHeaders = a.responseHeaders = true;
                a.requestBody = reqBody;
                a.responseBody = respBody;
                break;
            case Phase::None:
                break;
        }
        return a;
    }

private:
    friend class FakeHost;
    friend struct detail::Api;

    struct Slot {
        const gh_plugin_descriptor* descriptor = nullptr;
        void* instance = nullptr;
        void* ctx = nullptr;
        bool ended = false;
    };
    struct Paused {
        const gh_plugin_descriptor* descriptor = nullptr;
        void* instance = nullptr;
        Phase phase = Phase::None;
        detail::ResumerState* resumer = nullptr;
    };

    // Callers have checked `which` (GH_REQUEST or GH_RESPONSE) through the access rules.
    Headers& headers(std::int32_t which) noexcept {
        return which == GH_RESPONSE ? responseHeaders : requestHeaders;
    }
    std::string& body(std::int32_t which) noexcept {
        return which == GH_RESPONSE ? responseBody : requestBody;
    }
    /* A host-owned copy that stays valid until the callback returns. */
    gh_str borrow(std::string_view s) {
        borrowed_.emplace_back(s);
        return detail::str(borrowed_.back());
    }

    std::list<Slot> slots_;
    FakeHost* host_ = nullptr;
    // Read by host functions called from other threads (to report them), hence atomic.
    std::atomic<std::thread::id> thread_{};
    std::atomic<bool> inCallback_{false};
    bool respondCalled_ = false;
    const gh_plugin_descriptor* current_ = nullptr;
    detail::ResumerState* pending_ = nullptr;  // pause() called in the running callback
    std::optional<Paused> paused_;
    std::list<std::string> borrowed_;
};

/**
 * The fake gateway: a complete gh_host_api plus instance management, phase runners,
 * pause/resume, shared state, metrics and logs, all in memory.
 */
class FakeHost {
public:
    static constexpr std::uint64_t kAllFeatures =
        GH_FEATURE_PAUSE | GH_FEATURE_BODY | GH_FEATURE_SHARED_STATE | GH_FEATURE_METRICS |
        GH_FEATURE_CONSUMERS | GH_FEATURE_VARS | GH_FEATURE_REQUEST_INFO;

    struct Options {
        std::uint64_t features = kAllFeatures;  // what gh_host_api.features reports
        std::uint32_t abiMinor = GH_ABI_MINOR;  // what gh_host_api.abi_minor reports
        // What gh_host_api.struct_size reports: set it lower to act as an older host whose
        // table ends earlier (the functions stay set; a correct plugin does not call them).
        std::uint32_t apiStructSize = static_cast<std::uint32_t>(sizeof(gh_host_api));
    };
    struct LogLine {
        std::string plugin;  // empty when logged without an instance
        std::int32_t level = GH_LOG_INFO;
        std::string message;
    };
    struct Loaded {
        const gh_plugin_descriptor* descriptor = nullptr;
        std::string error;  // the refusal reason; empty when accepted
    };
    struct Created {
        bool ok = false;
        void* instance = nullptr;
        std::string error;  // instance_create's one-line reason, or the descriptor refusal
    };

    FakeHost() : FakeHost(Options()) {}
    explicit FakeHost(Options options);
    ~FakeHost();
    FakeHost(const FakeHost&) = delete;
    FakeHost& operator=(const FakeHost&) = delete;

    /** The host function table to hand to plugin code. */
    const gh_host_api* api() const noexcept { return &api_; }

    /** Why the gateway would refuse this descriptor (empty when it would load it). Checks
     * what the loader checks except duplicate names (see load). */
    std::string check(const gh_plugin_descriptor* d) const;

    /** Calls the entry point with index 0, 1, ... until NULL and checks every descriptor,
     * refusing names loaded before (by this or an earlier load). */
    std::vector<Loaded> load(gh_plugin_entry_fn entry);

    /** instance_create with `configJson` (not validated against the schema). */
    Created create(const gh_plugin_descriptor& d, std::string_view configJson);
    /** instance_destroy. */
    void destroy(const gh_plugin_descriptor& d, void* instance);

    /** Run one phase of one plugin. Returns the action after the host's validation (an
     * invalid action, GH_PAUSE without pause() or GH_RESPOND without respond() read
     * GH_FAIL). A phase the descriptor does not declare is skipped (GH_CONTINUE). GH_RESPOND
     * copies the prepared response into status/responseHeaders/responseBody; GH_FAIL sets
     * status 500. */
    std::int32_t runRequest(const gh_plugin_descriptor& d, void* instance, FakeRequest& r) {
        return run(Phase::Request, d, instance, r);
    }
    std::int32_t runResponse(const gh_plugin_descriptor& d, void* instance, FakeRequest& r) {
        return run(Phase::Response, d, instance, r);
    }
    /** on_log (return value ignored, as the gateway does), then on_done for this plugin. */
    std::int32_t runLog(const gh_plugin_descriptor& d, void* instance, FakeRequest& r) {
        run(Phase::Log, d, instance, r);
        endSlot(r, d, instance);
        return GH_CONTINUE;
    }
    /** Ends the request for every plugin that ran on it: on_done where *req_ctx is non-null
     * (also when paused: that is a disconnect). The destructor of FakeRequest does this. */
    void end(FakeRequest& r);

    /** Re-invokes the paused phase of every request whose resumer was resumed, waiting up to
     * `waitFor` for at least one. Returns how many phases ran. */
    std::size_t runPending(std::chrono::milliseconds waitFor = std::chrono::milliseconds(0));
    /** Requests paused and not re-run yet. */
    std::size_t pausedCount() const;
    /** The pause timeout: every paused request fails (status 504, lastAction GH_FAIL,
     * timedOut); a later resume of its handle does nothing. Returns how many. */
    std::size_t expirePaused();
    /** What the instance reports for GET /plugins/{id}/status (status_register, ABI 1.2);
     * nullopt when it registered nothing or reports nothing. */
    std::optional<std::string> status(void* instance) const;

    /** What the gateway does on SIGUSR1: plugins see reopen_generation() change. */
    void reopenLogs() noexcept { reopenGeneration_.fetch_add(1); }

    /** Freezes the process-wide fake clock at `unixMs` (monotonic time freezes too). */
    static void setTime(std::int64_t unixMs) noexcept {
        detail::clock().monotonicNs = detail::nowMonotonicNs();
        detail::clock().unixMs = unixMs;
        detail::clock().manual = true;
    }
    /** Moves the frozen clock forward (freezing it at the current time first if needed). */
    static void advanceTime(std::int64_t ms) noexcept {
        if (!detail::clock().manual.load()) setTime(detail::nowUnixMs());
        detail::clock().unixMs += ms;
        detail::clock().monotonicNs += static_cast<std::uint64_t>(ms) * 1000000u;
    }
    static void useRealTime() noexcept { detail::clock().manual = false; }
    static std::int64_t unixMs() noexcept { return detail::nowUnixMs(); }

    std::vector<LogLine> logs() const {
        std::lock_guard<std::mutex> lock(mu_);
        return logs_;
    }
    void clearLogs() {
        std::lock_guard<std::mutex> lock(mu_);
        logs_.clear();
    }
    /** Every metric as `name{plugin="<plugin>"}` -> value. */
    std::map<std::string, double> metrics() const {
        std::lock_guard<std::mutex> lock(mu_);
        std::map<std::string, double> out;
        for (const auto& m : metrics_)
            out[m.second->name + "{plugin=\"" + m.second->plugin + "\"}"] = m.second->value;
        return out;
    }
    std::optional<double> metric(std::string_view plugin, std::string_view name) const {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = metrics_.find(metricKey(plugin, name));
        if (it == metrics_.end()) return std::nullopt;
        return it->second->value;
    }
    std::vector<std::string> violations() const {
        std::lock_guard<std::mutex> lock(mu_);
        return violations_;
    }
    /** A shared-state value as plugin `plugin` sees it (nothing if absent or expired). */
    std::optional<std::pair<std::string, std::uint64_t>> state(std::string_view plugin,
                                                               std::string_view key) const {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = state_.find(nsKey(plugin, key));
        if (it == state_.end() || expired(it->second, detail::nowUnixMs())) return std::nullopt;
        return std::make_pair(it->second.value, it->second.version);
    }

private:
    friend class FakeRequest;
    friend struct detail::Api;

    struct Value {
        std::string value;
        std::uint64_t version = 0;
        std::int64_t expiresAtMs = 0;  // 0 = never
    };
    struct Window {
        std::uint64_t start = 0;
        std::int64_t count = 0;
        std::int64_t previous = 0;
    };

    static std::string nsKey(std::string_view plugin, std::string_view key) {
        std::string k(plugin);
        k += '\0';
        k.append(key.data(), key.size());
        return k;
    }
    static std::string metricKey(std::string_view plugin, std::string_view name) {
        return nsKey(plugin, name);
    }
    static bool expired(const Value& v, std::int64_t now) noexcept {
        return v.expiresAtMs != 0 && now >= v.expiresAtMs;
    }

    void violation(std::string message) {
        std::lock_guard<std::mutex> lock(mu_);
        violations_.push_back(std::move(message));
    }
    void hostLog(std::string plugin, std::int32_t level, std::string message) {
        std::lock_guard<std::mutex> lock(mu_);
        logs_.push_back(LogLine{std::move(plugin), level, std::move(message)});
    }

    FakeRequest::Slot& slot(FakeRequest& r, const gh_plugin_descriptor& d, void* instance) {
        for (auto& s : r.slots_) {
            if (s.descriptor == &d && s.instance == instance) return s;
        }
        FakeRequest::Slot s;
        s.descriptor = &d;
        s.instance = instance;
        r.slots_.push_back(s);
        return r.slots_.back();
    }
    void attach(FakeRequest& r) {
        if (r.host_ == this) return;
        if (r.host_ != nullptr) r.host_->detachRequest(r);
        r.host_ = this;
        requests_.insert(&r);
    }
    void detachRequest(FakeRequest& r) {
        std::lock_guard<std::mutex> lock(mu_);
        if (r.pending_ != nullptr) r.pending_->request = nullptr;
        if (r.paused_ && r.paused_->resumer != nullptr) r.paused_->resumer->request = nullptr;
        r.pending_ = nullptr;
        r.paused_.reset();
        paused_.erase(std::remove(paused_.begin(), paused_.end(), &r), paused_.end());
        requests_.erase(&r);
        r.host_ = nullptr;
    }
    void endSlot(FakeRequest& r, const gh_plugin_descriptor& d, void* instance) {
        FakeRequest::Slot& s = slot(r, d, instance);
        if (s.ended) return;
        s.ended = true;
        void* ctx = s.ctx;
        s.ctx = nullptr;
        if (ctx != nullptr && d.on_done != nullptr) {
            try {
                d.on_done(instance, ctx);
            } catch (...) {
                violation(std::string(d.name) + ": an exception escaped on_done");
            }
        }
    }

    std::int32_t run(Phase phase, const gh_plugin_descriptor& d, void* instance, FakeRequest& r);
    std::int32_t invoke(Phase phase, const gh_plugin_descriptor& d, void* instance, FakeRequest& r);

    gh_host_api api_;
    Options options_;
    mutable std::mutex mu_;
    std::condition_variable resumed_;
    std::vector<LogLine> logs_;
    std::vector<std::string> violations_;
    std::atomic<std::uint64_t> reopenGeneration_{0};
    std::list<std::unique_ptr<detail::InstanceState>> instances_;
    std::map<std::string, std::unique_ptr<detail::MetricState>> metrics_;
    std::list<std::unique_ptr<detail::ResumerState>> resumers_;  // kept to detect reuse
    std::vector<FakeRequest*> paused_;
    std::set<FakeRequest*> requests_;
    std::set<std::string> loadedNames_;
    std::map<std::string, Value> state_;
    std::map<std::tuple<std::string, std::uint64_t>, Window> counters_;  // (ns key, window)
    std::uint64_t nextVersion_ = 1;
};

/* ---------------------------------------------------------------------------------------
 * The host function table.
 */
namespace detail {

struct Api {
    static FakeRequest* request(gh_request* r, const char* fn) noexcept {
        auto* q = reinterpret_cast<FakeRequest*>(r);
        if (q == nullptr) return nullptr;
        const bool inCallback = q->inCallback_.load();
        if (!inCallback || q->thread_.load() != std::this_thread::get_id()) {
            if (q->host_ != nullptr) {
                try {
                    q->host_->violation(std::string(fn) +
                                        " called outside a phase callback of its request" +
                                        (inCallback ? " (from another thread)" : ""));
                } catch (...) {
                }
            }
            return nullptr;
        }
        return q;
    }
    static Access access(const FakeRequest& q) noexcept {
        if (q.forceAccess) return *q.forceAccess;
        return q.access;
    }
    static InstanceState* instance(const gh_instance_host* h) noexcept {
        return const_cast<InstanceState*>(reinterpret_cast<const InstanceState*>(h));
    }
    static bool usable(InstanceState* s, const char* fn) noexcept {
        if (s == nullptr) return false;
        if (s->destroyed) {
            try {
                s->host->violation(s->plugin + ": " + fn + " called after instance_destroy");
            } catch (...) {
            }
            return false;
        }
        return true;
    }

    static void log(const gh_instance_host* h, std::int32_t level, gh_str message) noexcept {
        InstanceState* s = instance(h);
        if (s == nullptr) return;  // without an instance there is no FakeHost to record on
        try {
            s->host->hostLog(s->plugin, level, std::string(view(message)));
        } catch (...) {
        }
    }

#define GATEHOUSE_FAKE_ATTRIBUTE_(fn, expr)               \
    static gh_str fn(gh_request* r) noexcept {            \
        FakeRequest* q = request(r, #fn);                 \
        if (q == nullptr) return str(std::string_view()); \
        try {                                             \
            return q->borrow(expr);                       \
        } catch (...) {                                   \
            return str(std::string_view());               \
        }                                                 \
    }
    GATEHOUSE_FAKE_ATTRIBUTE_(request_method, q->method)
    GATEHOUSE_FAKE_ATTRIBUTE_(request_path, q->path)
    GATEHOUSE_FAKE_ATTRIBUTE_(request_query, q->query)
    GATEHOUSE_FAKE_ATTRIBUTE_(request_host, q->host)
    GATEHOUSE_FAKE_ATTRIBUTE_(request_scheme, q->scheme)
    GATEHOUSE_FAKE_ATTRIBUTE_(client_address, q->clientAddress)
    GATEHOUSE_FAKE_ATTRIBUTE_(route_name, q->routeName)
    GATEHOUSE_FAKE_ATTRIBUTE_(request_id, q->requestId)
    GATEHOUSE_FAKE_ATTRIBUTE_(consumer_id, q->consumerId)
#undef GATEHOUSE_FAKE_ATTRIBUTE_

    static std::int32_t response_status(gh_request* r) noexcept {
        FakeRequest* q = request(r, "response_status");
        if (q == nullptr || q->phase == Phase::Request) return 0;
        return q->status;
    }
    static std::int32_t set_response_status(gh_request* r, std::int32_t status) noexcept {
        FakeRequest* q = request(r, "set_response_status");
        if (q == nullptr || q->phase != Phase::Response || status < 100 || status > 599) return 0;
        q->status = status;
        return 1;
    }

    static bool canRead(const FakeRequest& q, std::int32_t which) noexcept {
        const Access a = access(q);
        return which == GH_REQUEST    ? a.requestHeaders
               : which == GH_RESPONSE ? a.responseHeaders
                                      : false;
    }
    static bool canWrite(const FakeRequest& q, std::int32_t which) noexcept {
        const Access a = access(q);
        return which == GH_REQUEST    ? a.requestHeadersWritable
               : which == GH_RESPONSE ? a.responseHeadersWritable
                                      : false;
    }

    static std::size_t header_count(gh_request* r, std::int32_t which) noexcept {
        FakeRequest* q = request(r, "header_count");
        if (q == nullptr || !canRead(*q, which)) return 0;
        return q->headers(which).size();
    }
    static std::int32_t header_at(gh_request* r, std::int32_t which, std::size_t index,
                                  gh_str* name, gh_str* value) noexcept {
        FakeRequest* q = request(r, "header_at");
        if (q == nullptr || !canRead(*q, which) || name == nullptr || value == nullptr) return 0;
        Headers& hs = q->headers(which);
        if (index >= hs.size()) return 0;
        *name = str(hs[index].first);
        *value = str(hs[index].second);
        return 1;
    }
    static std::int32_t header_get(gh_request* r, std::int32_t which, gh_str name, std::size_t nth,
                                   gh_str* value) noexcept {
        FakeRequest* q = request(r, "header_get");
        if (q == nullptr || !canRead(*q, which) || value == nullptr) return 0;
        for (const auto& h : q->headers(which)) {
            if (iequals(h.first, view(name)) && nth-- == 0) {
                *value = str(h.second);
                return 1;
            }
        }
        return 0;
    }
    static std::int32_t header_set(gh_request* r, std::int32_t which, gh_str name,
                                   gh_str value) noexcept {
        FakeRequest* q = request(r, "header_set");
        if (q == nullptr || !canWrite(*q, which) || !isToken(view(name)) ||
            isFramingHeader(view(name)) || !isFieldValue(view(value)))
            return 0;
        try {
            Headers& hs = q->headers(which);
            Headers out;
            bool placed = false;
            for (auto& h : hs) {
                if (!iequals(h.first, view(name))) {
                    out.push_back(std::move(h));
                } else if (!placed) {
                    out.emplace_back(std::string(view(name)), std::string(view(value)));
                    placed = true;
                }
            }
            if (!placed) out.emplace_back(std::string(view(name)), std::string(view(value)));
            hs = std::move(out);
            return 1;
        } catch (...) {
            return 0;
        }
    }
    static std::int32_t header_add(gh_request* r, std::int32_t which, gh_str name,
                                   gh_str value) noexcept {
        FakeRequest* q = request(r, "header_add");
        if (q == nullptr || !canWrite(*q, which) || !isToken(view(name)) ||
            isFramingHeader(view(name)) || !isFieldValue(view(value)))
            return 0;
        try {
            q->headers(which).emplace_back(std::string(view(name)), std::string(view(value)));
            return 1;
        } catch (...) {
            return 0;
        }
    }
    static std::int32_t header_remove(gh_request* r, std::int32_t which, gh_str name) noexcept {
        FakeRequest* q = request(r, "header_remove");
        if (q == nullptr || !canWrite(*q, which) || !isToken(view(name)) ||
            isFramingHeader(view(name)))
            return 0;
        Headers& hs = q->headers(which);
        const std::size_t before = hs.size();
        hs.erase(std::remove_if(hs.begin(), hs.end(),
                                [&](const std::pair<std::string, std::string>& h) {
                                    return iequals(h.first, view(name));
                                }),
                 hs.end());
        return static_cast<std::int32_t>(before - hs.size());
    }

    static bool urlPart(std::string_view s) noexcept {
        for (char ch : s) {
            const auto c = static_cast<unsigned char>(ch);
            if (c <= 0x20 || c == 0x7F || c == '#') return false;
        }
        return true;
    }
    static std::int32_t set_path(gh_request* r, gh_str path) noexcept {
        FakeRequest* q = request(r, "set_path");
        const std::string_view p = view(path);
        if (q == nullptr || q->phase != Phase::Request || p.empty() || p[0] != '/' || !urlPart(p) ||
            p.find('?') != std::string_view::npos) {
            return 0;
        }
        try {
            q->path = std::string(p);
            q->pathSet = q->path;
            return 1;
        } catch (...) {
            return 0;
        }
    }
    static std::int32_t set_query(gh_request* r, gh_str query) noexcept {
        FakeRequest* q = request(r, "set_query");
        if (q == nullptr || q->phase != Phase::Request || !urlPart(view(query))) return 0;
        try {
            q->query = std::string(view(query));
            q->querySet = q->query;
            return 1;
        } catch (...) {
            return 0;
        }
    }

    static std::int32_t body_get(gh_request* r, std::int32_t which, gh_str* body) noexcept {
        FakeRequest* q = request(r, "body_get");
        if (q == nullptr || body == nullptr) return 0;
        const Access a = access(*q);
        if (!(which == GH_REQUEST ? a.requestBody : which == GH_RESPONSE ? a.responseBody : false))
            return 0;
        *body = str(q->body(which));
        return 1;
    }
    static std::int32_t body_set(gh_request* r, std::int32_t which, gh_str body) noexcept {
        FakeRequest* q = request(r, "body_set");
        if (q == nullptr) return 0;
        const Access a = access(*q);
        if (!(which == GH_REQUEST    ? a.requestBodyWritable
              : which == GH_RESPONSE ? a.responseBodyWritable
                                     : false)) {
            return 0;
        }
        try {
            q->body(which) = std::string(view(body));
            // Fix the framing as the gateway does.
            Headers& hs = q->headers(which);
            hs.erase(std::remove_if(hs.begin(), hs.end(),
                                    [](const std::pair<std::string, std::string>& h) {
                                        return iequals(h.first, "Content-Length") ||
                                               iequals(h.first, "Transfer-Encoding");
                                    }),
                     hs.end());
            hs.emplace_back("Content-Length", std::to_string(q->body(which).size()));
            return 1;
        } catch (...) {
            return 0;
        }
    }

    static std::int32_t respond(gh_request* r, std::int32_t status, const gh_header* headers,
                                std::size_t count, gh_str body) noexcept {
        FakeRequest* q = request(r, "respond");
        if (q == nullptr || q->phase != Phase::Request || status < 100 || status > 599) return 0;
        if (count > 0 && headers == nullptr) return 0;
        try {
            Response out;
            out.status = status;
            for (std::size_t i = 0; i < count; ++i) {
                if (!isToken(view(headers[i].name)) || !isFieldValue(view(headers[i].value)))
                    return 0;
                out.headers.emplace_back(std::string(view(headers[i].name)),
                                         std::string(view(headers[i].value)));
            }
            out.body = std::string(view(body));
            q->responded = std::move(out);
            q->respondCalled_ = true;
            return 1;
        } catch (...) {
            return 0;
        }
    }

    static std::int32_t set_consumer(gh_request* r, gh_str id, gh_str name) noexcept {
        FakeRequest* q = request(r, "set_consumer");
        if (q == nullptr || q->phase != Phase::Request || view(id).empty()) return 0;
        try {
            q->consumerId = std::string(view(id));
            q->consumerName = std::string(view(name));
            return 1;
        } catch (...) {
            return 0;
        }
    }

    static std::int32_t request_info(gh_request* r, gh_request_info* out) noexcept {
        FakeRequest* q = request(r, "request_info");
        if (q == nullptr || out == nullptr || out->struct_size < sizeof(std::uint32_t)) return 0;
        gh_request_info full;
        std::memset(&full, 0, sizeof full);
        full.upstream_status = q->info.upstreamStatus;
        full.upstream_error = q->info.upstreamError;
        full.upstream_address = q->borrow(q->info.upstreamAddress);
        full.bytes_in = q->info.bytesIn;
        full.bytes_out = q->info.bytesOut;
        full.start_unix_us = q->info.startUnixUs;
        full.total_us = q->info.totalUs;
        full.upstream_us = q->info.upstreamUs;
        copyFields(out, full);
        return 1;
    }

    static void status_register(gh_instance_host* h, std::int32_t (*fn)(void*, char*, std::size_t,
                                                                        std::size_t*)) noexcept {
        InstanceState* s = instance(h);
        if (!usable(s, "status_register")) return;
        if (!s->creating) {
            s->host->violation(s->plugin + ": status_register called outside instance_create");
            return;
        }
        s->status = fn;
    }

    static std::uint64_t reopen_generation(gh_instance_host* h) noexcept {
        InstanceState* s = instance(h);
        return s != nullptr && s->host != nullptr ? s->host->reopenGeneration_.load() : 0;
    }

    // The real host's rules: name [a-z0-9._-]{1,64}, value <= 4096 bytes, <= 32 names.
    static std::int32_t var_set(gh_request* r, gh_str name, gh_str value) noexcept {
        FakeRequest* q = request(r, "var_set");
        const std::string_view n = view(name);
        if (q == nullptr || n.empty() || n.size() > 64 || value.len > 4096) return 0;
        for (char c : n)
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                  c == '-'))
                return 0;
        try {
            const auto it = q->vars.find(n);
            if (value.len == 0) {
                if (it != q->vars.end()) q->vars.erase(it);
                return 1;
            }
            if (it != q->vars.end()) {
                it->second = std::string(view(value));
                return 1;
            }
            if (q->vars.size() >= 32) return 0;
            q->vars.emplace(std::string(n), std::string(view(value)));
            return 1;
        } catch (...) {
            return 0;
        }
    }

    static std::int32_t var_get(gh_request* r, gh_str name, gh_str* value) noexcept {
        FakeRequest* q = request(r, "var_get");
        if (q == nullptr || value == nullptr) return 0;
        const auto it = q->vars.find(view(name));
        if (it == q->vars.end()) return 0;
        *value = gh_str{it->second.data(), it->second.size()};
        return 1;
    }

    static void fillConsumer(FakeRequest* q, const FakeRequest::Consumer& c, gh_consumer* out) {
        gh_consumer full;
        std::memset(&full, 0, sizeof full);
        full.id = q->borrow(c.id);
        full.username = q->borrow(c.username);
        full.custom_id = q->borrow(c.customId);
        full.roles = q->borrow(c.roles);
        copyFields(out, full);
    }
    /// Copies what fits in the caller's struct_size, keeping its struct_size.
    template <typename T>
    static void copyFields(T* to, const T& from) noexcept {
        const std::size_t n = std::min<std::size_t>(to->struct_size, sizeof(T));
        const std::size_t header = sizeof(std::uint32_t);
        if (n > header)
            std::memcpy(reinterpret_cast<unsigned char*>(to) + header,
                        reinterpret_cast<const unsigned char*>(&from) + header, n - header);
    }

    static std::int32_t credential_find(gh_request* r, std::int32_t type, gh_str lookup,
                                        gh_consumer* consumer, gh_credential* credential) noexcept {
        FakeRequest* q = request(r, "credential_find");
        if (q == nullptr || consumer == nullptr) return 0;
        try {
            for (const auto& c : q->credentials) {
                if (c.type != type || c.lookup != view(lookup)) continue;
                fillConsumer(q, c.consumer, consumer);
                if (credential != nullptr) {
                    gh_credential full;
                    std::memset(&full, 0, sizeof full);
                    full.type = c.type;
                    full.id = q->borrow(c.id);
                    full.algorithm = q->borrow(c.algorithm);
                    full.secret = q->borrow(c.secret);
                    full.public_key = q->borrow(c.publicKey);
                    full.issuer = q->borrow(c.issuer);
                    full.kid = q->borrow(c.kid);
                    copyFields(credential, full);
                }
                return 1;
            }
        } catch (...) {
        }
        return 0;
    }

    static std::int32_t consumer_get(gh_request* r, gh_consumer* consumer) noexcept {
        FakeRequest* q = request(r, "consumer_get");
        if (q == nullptr || consumer == nullptr || q->consumerId.empty()) return 0;
        try {
            auto matches = [&](const FakeRequest::Consumer& c) {
                return c.id == q->consumerId || c.username == q->consumerId;
            };
            for (const auto& c : q->consumers)
                if (matches(c)) {
                    fillConsumer(q, c, consumer);
                    return 1;
                }
            for (const auto& c : q->credentials)
                if (matches(c.consumer)) {
                    fillConsumer(q, c.consumer, consumer);
                    return 1;
                }
        } catch (...) {
        }
        return 0;
    }

    static std::uint64_t monotonic_ns() noexcept {
        return nowMonotonicNs();
    }
    static std::int64_t unix_ms() noexcept {
        return nowUnixMs();
    }

    static gh_resumer* pause(gh_request* r) noexcept {
        FakeRequest* q = request(r, "pause");
        if (q == nullptr || q->host_ == nullptr) return nullptr;
        FakeHost& host = *q->host_;
        if ((host.options_.features & GH_FEATURE_PAUSE) == 0) return nullptr;
        if (q->phase != Phase::Request && q->phase != Phase::Response) return nullptr;
        try {
            if (q->pending_ != nullptr) {
                host.violation(std::string(q->current_->name) +
                               ": pause() called twice in one callback");
                return nullptr;
            }
            std::lock_guard<std::mutex> lock(host.mu_);
            host.resumers_.push_back(std::make_unique<ResumerState>());
            ResumerState* st = host.resumers_.back().get();
            st->host = &host;
            st->request = q;
            q->pending_ = st;
            return reinterpret_cast<gh_resumer*>(st);
        } catch (...) {
            return nullptr;
        }
    }
    static void resume(gh_resumer* resumer) noexcept {
        auto* st = reinterpret_cast<ResumerState*>(resumer);
        if (st == nullptr) return;
        FakeHost& host = *st->host;
        try {
            std::unique_lock<std::mutex> lock(host.mu_);
            if (st->used) {
                host.violations_.push_back("resume() called twice with the same handle");
                return;
            }
            st->used = true;
            if (st->request != nullptr) st->resumed = true;
            // Notify under the lock: once runPending sees the flag, this thread no longer
            // touches the host, so the test may destroy it.
            host.resumed_.notify_all();
        } catch (...) {
        }
    }

    static gh_metric* metric_define(gh_instance_host* h, std::int32_t kind, gh_str name,
                                    gh_str help) noexcept {
        InstanceState* s = instance(h);
        if (!usable(s, "metric_define")) return nullptr;
        FakeHost& host = *s->host;
        if ((host.options_.features & GH_FEATURE_METRICS) == 0) return nullptr;
        try {
            if (!s->creating) {
                host.violation(s->plugin + ": metric_define called outside instance_create");
                return nullptr;
            }
            if ((kind != GH_METRIC_COUNTER && kind != GH_METRIC_GAUGE) || !isMetricName(view(name)))
                return nullptr;
            std::lock_guard<std::mutex> lock(host.mu_);
            auto& slot = host.metrics_[FakeHost::metricKey(s->plugin, view(name))];
            if (!slot) {
                slot = std::make_unique<MetricState>();
                slot->host = &host;
                slot->plugin = s->plugin;
                slot->name = std::string(view(name));
                slot->help = std::string(view(help));
                slot->kind = kind;
            } else if (slot->kind != kind) {
                return nullptr;  // the same name with another kind
            }
            return reinterpret_cast<gh_metric*>(slot.get());
        } catch (...) {
            return nullptr;
        }
    }
    static void metric_add(gh_metric* metric, double delta) noexcept {
        auto* m = reinterpret_cast<MetricState*>(metric);
        if (m == nullptr) return;
        try {
            std::lock_guard<std::mutex> lock(m->host->mu_);
            if (m->kind == GH_METRIC_COUNTER && !(delta >= 0)) {
                m->host->violations_.push_back(
                    m->plugin + ": metric_add with a negative delta on counter " + m->name);
                return;
            }
            m->value += delta;
        } catch (...) {
        }
    }
    static void metric_set(gh_metric* metric, double value) noexcept {
        auto* m = reinterpret_cast<MetricState*>(metric);
        if (m == nullptr) return;
        try {
            std::lock_guard<std::mutex> lock(m->host->mu_);
            if (m->kind != GH_METRIC_GAUGE) {
                m->host->violations_.push_back(m->plugin + ": metric_set on counter " + m->name);
                return;
            }
            m->value = value;
        } catch (...) {
        }
    }

    static std::int32_t counter_add(gh_instance_host* h, gh_str key, std::uint64_t windowMs,
                                    std::int64_t delta, gh_counter_result* result) noexcept {
        InstanceState* s = instance(h);
        if (!usable(s, "counter_add")) return 0;
        FakeHost& host = *s->host;
        if ((host.options_.features & GH_FEATURE_SHARED_STATE) == 0 || windowMs == 0) return 0;
        const std::int64_t nowMs = nowUnixMs();
        if (nowMs < 0) return 0;
        const auto now = static_cast<std::uint64_t>(nowMs);
        const std::uint64_t start = now - now % windowMs;  // aligned to the unix epoch
        try {
            std::lock_guard<std::mutex> lock(host.mu_);
            // Evict counters whose window and the one after it are over (nobody can see them
            // as "previous" any more).
            for (auto it = host.counters_.begin(); it != host.counters_.end();) {
                const std::uint64_t w = std::get<1>(it->first);
                const std::uint64_t end2 = it->second.start + 2 * w;
                if (end2 > it->second.start && now >= end2) {
                    it = host.counters_.erase(it);
                } else {
                    ++it;
                }
            }
            FakeHost::Window& c =
                host.counters_[std::make_tuple(FakeHost::nsKey(s->plugin, view(key)), windowMs)];
            if (c.start != start) {
                c.previous = (c.start + windowMs == start) ? c.count : 0;
                c.count = 0;
                c.start = start;
            }
            c.count += delta;
            if (result != nullptr) {
                // Fill what the caller's struct has room for.
                const std::size_t size = result->struct_size;
                if (size >= offsetof(gh_counter_result, count) + sizeof result->count)
                    result->count = c.count;
                if (size >= offsetof(gh_counter_result, previous) + sizeof result->previous) {
                    result->previous = c.previous;
                }
                if (size >=
                    offsetof(gh_counter_result, window_start_ms) + sizeof result->window_start_ms) {
                    result->window_start_ms = c.start;
                }
                if (size >= offsetof(gh_counter_result, window_ms) + sizeof result->window_ms) {
                    result->window_ms = windowMs;
                }
            }
            return 1;
        } catch (...) {
            return 0;
        }
    }

    static std::int32_t state_get(gh_instance_host* h, gh_str key, char* buf, std::size_t capacity,
                                  std::size_t* length, std::uint64_t* version) noexcept {
        InstanceState* s = instance(h);
        if (version != nullptr) *version = 0;
        if (length != nullptr) *length = 0;
        if (!usable(s, "state_get")) return 0;
        FakeHost& host = *s->host;
        if ((host.options_.features & GH_FEATURE_SHARED_STATE) == 0) return 0;
        try {
            std::lock_guard<std::mutex> lock(host.mu_);
            auto it = host.state_.find(FakeHost::nsKey(s->plugin, view(key)));
            if (it == host.state_.end()) return 0;
            if (FakeHost::expired(it->second, nowUnixMs())) {
                host.state_.erase(it);
                return 0;
            }
            const std::string& v = it->second.value;
            if (buf != nullptr && capacity > 0)
                std::memcpy(buf, v.data(), std::min(capacity, v.size()));
            if (length != nullptr) *length = v.size();
            if (version != nullptr) *version = it->second.version;
            return 1;
        } catch (...) {
            return 0;
        }
    }
    static std::int32_t state_cas(gh_instance_host* h, gh_str key, std::uint64_t expected,
                                  gh_str value, std::uint64_t ttlMs,
                                  std::uint64_t* version) noexcept {
        InstanceState* s = instance(h);
        if (!usable(s, "state_cas")) return 0;
        FakeHost& host = *s->host;
        if ((host.options_.features & GH_FEATURE_SHARED_STATE) == 0) return 0;
        try {
            std::lock_guard<std::mutex> lock(host.mu_);
            const std::int64_t now = nowUnixMs();
            const std::string k = FakeHost::nsKey(s->plugin, view(key));
            auto it = host.state_.find(k);
            if (it != host.state_.end() && FakeHost::expired(it->second, now)) {
                host.state_.erase(it);
                it = host.state_.end();
            }
            const std::uint64_t current = it == host.state_.end() ? 0 : it->second.version;
            if (current != expected) return 0;
            FakeHost::Value& v = host.state_[k];
            v.value = std::string(view(value));
            // Versions come from one host-wide sequence, so a key that expired and was
            // created again never repeats a version someone may still hold.
            v.version = host.nextVersion_++;
            v.expiresAtMs = ttlMs == 0 ? 0 : now + static_cast<std::int64_t>(ttlMs);
            if (version != nullptr) *version = v.version;
            return 1;
        } catch (...) {
            return 0;
        }
    }
};

}  // namespace detail

/* ---------------------------------------------------------------------------------------
 * FakeHost and FakeRequest out-of-class members.
 */

inline FakeRequest::~FakeRequest() {
    if (host_ != nullptr) {
        try {
            host_->end(*this);
        } catch (...) {
        }
        if (host_ != nullptr) host_->detachRequest(*this);
    }
}

inline FakeHost::FakeHost(Options options) : options_(options) {
    std::memset(&api_, 0, sizeof api_);
    api_.struct_size = options.apiStructSize;
    api_.abi_major = GH_ABI_MAJOR;
    api_.abi_minor = options.abiMinor;
    api_.features = options.features;
    api_.log = &detail::Api::log;
    api_.request_method = &detail::Api::request_method;
    api_.request_path = &detail::Api::request_path;
    api_.request_query = &detail::Api::request_query;
    api_.request_host = &detail::Api::request_host;
    api_.request_scheme = &detail::Api::request_scheme;
    api_.client_address = &detail::Api::client_address;
    api_.route_name = &detail::Api::route_name;
    api_.request_id = &detail::Api::request_id;
    api_.response_status = &detail::Api::response_status;
    api_.set_response_status = &detail::Api::set_response_status;
    api_.header_count = &detail::Api::header_count;
    api_.header_at = &detail::Api::header_at;
    api_.header_get = &detail::Api::header_get;
    api_.header_set = &detail::Api::header_set;
    api_.header_add = &detail::Api::header_add;
    api_.header_remove = &detail::Api::header_remove;
    api_.set_path = &detail::Api::set_path;
    api_.set_query = &detail::Api::set_query;
    api_.body_get = &detail::Api::body_get;
    api_.body_set = &detail::Api::body_set;
    api_.respond = &detail::Api::respond;
    api_.set_consumer = &detail::Api::set_consumer;
    api_.consumer_id = &detail::Api::consumer_id;
    api_.monotonic_ns = &detail::Api::monotonic_ns;
    api_.unix_ms = &detail::Api::unix_ms;
    api_.pause = &detail::Api::pause;
    api_.resume = &detail::Api::resume;
    api_.metric_define = &detail::Api::metric_define;
    api_.metric_add = &detail::Api::metric_add;
    api_.metric_set = &detail::Api::metric_set;
    api_.counter_add = &detail::Api::counter_add;
    api_.state_get = &detail::Api::state_get;
    api_.state_cas = &detail::Api::state_cas;
    api_.credential_find = &detail::Api::credential_find;
    api_.consumer_get = &detail::Api::consumer_get;
    api_.var_set = &detail::Api::var_set;
    api_.var_get = &detail::Api::var_get;
    api_.request_info = &detail::Api::request_info;
    api_.reopen_generation = &detail::Api::reopen_generation;
    api_.status_register = &detail::Api::status_register;
    useRealTime();
}

inline FakeHost::~FakeHost() {
    {
        // Wait for a resume() still finishing on another thread.
        std::lock_guard<std::mutex> lock(mu_);
    }
    // End the requests still around (their on_done runs), then destroy leftover instances.
    while (!requests_.empty()) {
        FakeRequest* r = *requests_.begin();
        try {
            end(*r);
        } catch (...) {
        }
        detachRequest(*r);
    }
    for (auto& s : instances_) {
        if (!s->destroyed && s->descriptor->instance_destroy != nullptr) {
            s->descriptor->instance_destroy(s->instance);
            s->destroyed = true;
        }
    }
}

inline std::string FakeHost::check(const gh_plugin_descriptor* d) const {
    constexpr std::size_t kMinSize = offsetof(gh_plugin_descriptor, on_done) + sizeof(d->on_done);
    if (d == nullptr) return "no descriptor";
    if (d->struct_size < kMinSize) {
        return "descriptor too small: struct_size " + std::to_string(d->struct_size) +
               ", ABI 1.0 needs " + std::to_string(kMinSize);
    }
    if (d->abi_major != GH_ABI_MAJOR) {
        return "built for plugin ABI " + std::to_string(d->abi_major) +
               ".x, this gateway has ABI " + std::to_string(GH_ABI_MAJOR) + "." +
               std::to_string(options_.abiMinor);
    }
    if (d->abi_minor > options_.abiMinor) {
        return "needs plugin ABI " + std::to_string(GH_ABI_MAJOR) + "." +
               std::to_string(d->abi_minor) + ", this gateway has " + std::to_string(GH_ABI_MAJOR) +
               "." + std::to_string(options_.abiMinor);
    }
    if (d->name == nullptr) return "descriptor has no name";
    const std::string_view name(d->name);
    bool nameOk = !name.empty() && name.size() <= 64;
    for (char c : name)
        nameOk = nameOk && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
    if (!nameOk)
        return "invalid plugin name \"" + detail::printable(name) + "\" (1-64 of [a-z0-9-])";
    const std::string who = "plugin " + std::string(name) + ": ";
    if (d->version == nullptr || d->version[0] == '\0') return who + "no version";
    if (d->description == nullptr) return who + "no description";
    if (std::strpbrk(d->description, "\r\n") != nullptr) return who + "description is not one line";
    constexpr std::uint32_t kKnownPhases = GH_PHASE_REQUEST | GH_PHASE_RESPONSE | GH_PHASE_LOG |
                                           GH_PHASE_REQUEST_BODY | GH_PHASE_RESPONSE_BODY |
                                           GH_PHASE_LOG_ALL;
    if ((d->phases & ~kKnownPhases) != 0) {
        char bits[32];
        std::snprintf(bits, sizeof bits, "0x%x", static_cast<unsigned>(d->phases & ~kKnownPhases));
        return who + "unknown phase bits " + bits;
    }
    if ((d->phases & GH_PHASE_REQUEST) != 0 && d->on_request == nullptr)
        return who + "declares on_request but has none";
    if ((d->phases & GH_PHASE_RESPONSE) != 0 && d->on_response == nullptr) {
        return who + "declares on_response but has none";
    }
    if ((d->phases & GH_PHASE_LOG) != 0 && d->on_log == nullptr)
        return who + "declares on_log but has none";
    std::uint64_t needed = d->required_features;
    if ((d->phases & (GH_PHASE_REQUEST_BODY | GH_PHASE_RESPONSE_BODY)) != 0)
        needed |= GH_FEATURE_BODY;
    const std::uint64_t missing = needed & ~options_.features;
    if (missing != 0) {
        std::string list;
        const std::pair<std::uint64_t, const char*> names[] = {
            {GH_FEATURE_PAUSE, "pause"},
            {GH_FEATURE_BODY, "body"},
            {GH_FEATURE_SHARED_STATE, "shared-state"},
            {GH_FEATURE_METRICS, "metrics"},
            {GH_FEATURE_CONSUMERS, "consumers"},
            {GH_FEATURE_VARS, "vars"},
            {GH_FEATURE_REQUEST_INFO, "request-info"}};
        std::uint64_t rest = missing;
        for (const auto& n : names) {
            if ((rest & n.first) != 0) {
                list += (list.empty() ? "" : ", ") + std::string(n.second);
                rest &= ~n.first;
            }
        }
        if (rest != 0) {
            char bits[32];
            std::snprintf(bits, sizeof bits, "0x%llx", static_cast<unsigned long long>(rest));
            list += (list.empty() ? "" : ", ") + std::string(bits);
        }
        return who + "needs host features this gateway lacks: " + list;
    }
    if (d->config_schema == nullptr || !detail::JsonChecker(d->config_schema).document(true)) {
        return who + "config_schema is not a JSON object";
    }
    if (d->instance_create == nullptr) return who + "no instance_create";
    return std::string();
}

inline std::vector<FakeHost::Loaded> FakeHost::load(gh_plugin_entry_fn entry) {
    std::vector<Loaded> out;
    if (entry == nullptr) return out;
    for (std::uint32_t i = 0; i < 1024; ++i) {
        const gh_plugin_descriptor* d = nullptr;
        try {
            d = entry(&api_, i);
        } catch (...) {
            violation("an exception escaped gatehouse_plugin_entry_v1");
            break;
        }
        if (d == nullptr) break;
        Loaded l;
        l.descriptor = d;
        l.error = check(d);
        if (l.error.empty()) {
            if (loadedNames_.count(d->name) != 0) {
                l.error = "plugin " + std::string(d->name) + ": duplicate name (already loaded)";
            } else {
                loadedNames_.insert(d->name);
            }
        }
        out.push_back(std::move(l));
    }
    return out;
}

inline FakeHost::Created FakeHost::create(const gh_plugin_descriptor& d,
                                          std::string_view configJson) {
    Created out;
    out.error = check(&d);
    if (!out.error.empty()) return out;
    instances_.push_back(std::make_unique<detail::InstanceState>());
    detail::InstanceState* s = instances_.back().get();
    s->host = this;
    s->descriptor = &d;
    s->plugin = d.name;
    s->creating = true;
    const std::string config(configJson);  // the gateway's copy, valid during the call
    char error[1024];
    std::memset(error, 'x', sizeof error);
    void* instance = nullptr;
    std::int32_t ok = 0;
    try {
        ok = d.instance_create(&api_, reinterpret_cast<gh_instance_host*>(s), detail::str(config),
                               &instance, error, sizeof error);
    } catch (...) {
        violation(std::string(d.name) + ": an exception escaped instance_create");
        ok = 0;
        std::snprintf(error, sizeof error, "%s", "exception in instance_create");
    }
    s->creating = false;
    if (ok == 1) {
        s->instance = instance;
        out.ok = true;
        out.instance = instance;
        out.error.clear();
        return out;
    }
    s->destroyed = true;  // never created: its instance host is dead
    if (ok != 0)
        violation(std::string(d.name) + ": instance_create returned " + std::to_string(ok));
    const void* nul = std::memchr(error, '\0', sizeof error);
    if (nul == nullptr) {
        violation(std::string(d.name) + ": instance_create failed without a NUL-terminated error");
        out.error = "(no reason)";
    } else {
        out.error = error;
        if (out.error.find_first_of("\r\n") != std::string::npos) {
            violation(std::string(d.name) + ": instance_create error is not one line");
        }
        if (out.error.empty()) out.error = "(no reason)";
    }
    return out;
}

inline std::optional<std::string> FakeHost::status(void* instance) const {
    for (const auto& s : instances_) {
        if (s->instance != instance || s->destroyed || s->status == nullptr) continue;
        std::string buf(256, '\0');
        for (int attempt = 0; attempt < 2; ++attempt) {
            std::size_t length = 0;
            if (s->status(instance, &buf[0], buf.size(), &length) == 0) return std::nullopt;
            if (length <= buf.size()) {
                buf.resize(length);
                return buf;
            }
            buf.assign(length, '\0');
        }
    }
    return std::nullopt;
}

inline void FakeHost::destroy(const gh_plugin_descriptor& d, void* instance) {
    for (auto& s : instances_) {
        if (s->descriptor == &d && s->instance == instance && !s->destroyed) {
            s->destroyed = true;
            if (d.instance_destroy != nullptr) d.instance_destroy(instance);
            return;
        }
    }
    violation(std::string(d.name) + ": destroy of an unknown or already destroyed instance");
}

inline void FakeHost::end(FakeRequest& r) {
    if (r.host_ != this) return;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (r.paused_ && r.paused_->resumer != nullptr) r.paused_->resumer->request = nullptr;
        r.paused_.reset();
        paused_.erase(std::remove(paused_.begin(), paused_.end(), &r), paused_.end());
    }
    for (auto& s : r.slots_)
        endSlot(r, *s.descriptor, s.instance);
}

inline std::int32_t FakeHost::run(Phase phase, const gh_plugin_descriptor& d, void* instance,
                                  FakeRequest& r) {
    attach(r);
    if (r.paused_) {
        violation(std::string(d.name) + ": a phase was run on a paused request");
        return GH_FAIL;
    }
    FakeRequest::Slot& s = slot(r, d, instance);
    if (s.ended) violation(std::string(d.name) + ": a phase was run after the request ended");
    const std::uint32_t bit = phase == Phase::Request    ? GH_PHASE_REQUEST
                              : phase == Phase::Response ? GH_PHASE_RESPONSE
                                                         : GH_PHASE_LOG;
    auto fn = phase == Phase::Request    ? d.on_request
              : phase == Phase::Response ? d.on_response
                                         : d.on_log;
    if ((d.phases & bit) == 0 || fn == nullptr) {
        r.lastAction = GH_CONTINUE;
        return GH_CONTINUE;
    }
    return invoke(phase, d, instance, r);
}

inline std::int32_t FakeHost::invoke(Phase phase, const gh_plugin_descriptor& d, void* instance,
                                     FakeRequest& r) {
    FakeRequest::Slot& s = slot(r, d, instance);
    auto fn = phase == Phase::Request    ? d.on_request
              : phase == Phase::Response ? d.on_response
                                         : d.on_log;
    const char* fnName = phase == Phase::Request    ? "on_request"
                         : phase == Phase::Response ? "on_response"
                                                    : "on_log";
    r.phase = phase;
    r.access = FakeRequest::accessFor(phase, d.phases);
    r.thread_ = std::this_thread::get_id();
    r.inCallback_ = true;
    r.current_ = &d;
    r.pending_ = nullptr;
    r.respondCalled_ = false;
    std::int32_t action = GH_FAIL;
    try {
        action = fn(instance, reinterpret_cast<gh_request*>(&r), &s.ctx);
    } catch (...) {
        violation(std::string(d.name) + ": an exception escaped " + fnName);
        action = GH_FAIL;
    }
    r.inCallback_ = false;
    r.phase = Phase::None;
    r.access = Access();
    r.borrowed_.clear();
    const std::string who(d.name);

    detail::ResumerState* pending = nullptr;
    {
        std::lock_guard<std::mutex> lock(mu_);
        pending = r.pending_;
        r.pending_ = nullptr;
    }
    if (phase == Phase::Log) {  // on_log's result is ignored
        r.lastAction = GH_CONTINUE;
        return GH_CONTINUE;
    }
    if (action < GH_CONTINUE || action > GH_FAIL) {
        hostLog(who, GH_LOG_ERROR,
                std::string(fnName) + " returned invalid action " + std::to_string(action) +
                    ", treated as GH_FAIL");
        violation(who + ": " + fnName + " returned invalid action " + std::to_string(action));
        action = GH_FAIL;
    }
    if (action == GH_PAUSE && pending == nullptr) {
        violation(who + ": " + fnName + " returned GH_PAUSE without a successful pause()");
        action = GH_FAIL;
    }
    if (action != GH_PAUSE && pending != nullptr) {
        violation(who + ": pause() was called but " + fnName + " returned " +
                  std::to_string(action));
        std::lock_guard<std::mutex> lock(mu_);
        pending->request = nullptr;  // its resume (still required) will do nothing
    }
    if (action == GH_RESPOND && (phase != Phase::Request || !r.respondCalled_)) {
        violation(
            who + ": " + fnName + " returned GH_RESPOND " +
            (phase != Phase::Request ? "outside on_request" : "without a successful respond()"));
        action = GH_FAIL;
    }
    if (action == GH_PAUSE) {
        std::lock_guard<std::mutex> lock(mu_);
        FakeRequest::Paused p;
        p.descriptor = &d;
        p.instance = instance;
        p.phase = phase;
        p.resumer = pending;
        r.paused_ = p;
        paused_.push_back(&r);
    } else if (action == GH_RESPOND) {
        r.status = r.responded->status;
        r.responseHeaders = r.responded->headers;
        r.responseBody = r.responded->body;
    } else if (action == GH_FAIL) {
        r.status = 500;
    }
    r.lastAction = action;
    return action;
}

inline std::size_t FakeHost::runPending(std::chrono::milliseconds waitFor) {
    std::vector<FakeRequest*> ready;
    {
        std::unique_lock<std::mutex> lock(mu_);
        auto anyReady = [this] {
            for (FakeRequest* q : paused_) {
                if (q->paused_ && q->paused_->resumer != nullptr && q->paused_->resumer->resumed)
                    return true;
            }
            return false;
        };
        resumed_.wait_for(lock, waitFor, anyReady);
        for (FakeRequest* q : paused_) {
            if (q->paused_ && q->paused_->resumer != nullptr && q->paused_->resumer->resumed)
                ready.push_back(q);
        }
        for (FakeRequest* q : ready) {
            paused_.erase(std::remove(paused_.begin(), paused_.end(), q), paused_.end());
        }
    }
    std::size_t n = 0;
    for (FakeRequest* q : ready) {
        const FakeRequest::Paused p = *q->paused_;
        {
            std::lock_guard<std::mutex> lock(mu_);
            p.resumer->request = nullptr;  // the handle is spent
            q->paused_.reset();
        }
        invoke(p.phase, *p.descriptor, p.instance, *q);
        ++n;
    }
    return n;
}

inline std::size_t FakeHost::pausedCount() const {
    std::lock_guard<std::mutex> lock(mu_);
    return paused_.size();
}

inline std::size_t FakeHost::expirePaused() {
    std::lock_guard<std::mutex> lock(mu_);
    const std::size_t n = paused_.size();
    for (FakeRequest* q : paused_) {
        if (q->paused_ && q->paused_->resumer != nullptr) q->paused_->resumer->request = nullptr;
        q->paused_.reset();
        q->timedOut = true;
        q->status = 504;
        q->lastAction = GH_FAIL;
    }
    paused_.clear();
    return n;
}

}  // namespace testing
}  // namespace gatehouse

#endif /* GATEHOUSE_TESTING_FAKE_HOST_HPP */
