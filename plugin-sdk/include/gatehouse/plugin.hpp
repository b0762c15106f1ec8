/*
 * gatehouse plugin SDK: header-only C++ wrapper over the C ABI in plugin.h.
 *
 * Requires C++17. Nothing here changes the ABI: a plugin written with this header exports the
 * same gatehouse_plugin_entry_v1 and descriptors a C plugin would. What it adds:
 *
 *   - gatehouse::str / gatehouse::view: std::string_view <-> gh_str (no copies; the lifetime
 *     rules of plugin.h apply to the bytes).
 *   - gatehouse::Request: the request-level host functions as methods.
 *   - gatehouse::Plugin: a base class with virtual phase methods and helpers for logging,
 *     metrics and shared state.
 *   - gatehouse::describe<T>(...): builds a gh_plugin_descriptor whose callbacks create, call
 *     and destroy a T. Every exception leaving plugin code is caught at the boundary: in
 *     instance_create it becomes the one-line error, in a phase it becomes GH_FAIL (and is
 *     logged through the host).
 *   - GATEHOUSE_PLUGINS(describe<A>(...), describe<B>(...)): defines the exported entry point.
 *     Use it in exactly one source file of the shared object.
 *
 * Build plugins with hidden visibility (gatehouse_add_plugin does): only the entry point is
 * exported, everything in this header stays private to the plugin.
 */
#ifndef GATEHOUSE_PLUGIN_HPP
#define GATEHOUSE_PLUGIN_HPP

#if !defined(__cplusplus) || \
    (__cplusplus < 201703L && !(defined(_MSVC_LANG) && _MSVC_LANG >= 201703L))
#error "gatehouse/plugin.hpp needs C++17 or later (C plugins include gatehouse/plugin.h)"
#endif

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "gatehouse/plugin.h"

namespace gatehouse {

/* ---------------------------------------------------------------------------------------
 * Strings
 */

/** A gh_str over the bytes of `s` (not copied: `s` must outlive the call that takes it). */
inline gh_str str(std::string_view s) noexcept {
    gh_str out;
    out.ptr = s.data();
    out.len = s.size();
    return out;
}

/** A view of a gh_str; an empty view when ptr is NULL. Valid as long as the gh_str is. */
inline std::string_view view(gh_str s) noexcept {
    return s.ptr != nullptr ? std::string_view(s.ptr, s.len) : std::string_view();
}

namespace detail {

inline bool fits(std::uint32_t structSize, std::size_t offset, std::size_t size) noexcept {
    return static_cast<std::size_t>(structSize) >= offset + size;
}

/* Writes `message` as one NUL-terminated line into buf[0..capacity): line breaks and other
 * control characters become spaces, and truncation never splits a UTF-8 sequence. */
inline void writeLine(char* buf, std::size_t capacity, std::string_view message) noexcept {
    if (buf == nullptr || capacity == 0) return;
    std::size_t n = message.size() < capacity - 1 ? message.size() : capacity - 1;
    if (n < message.size()) {
        // Back off to the start of the UTF-8 sequence that would be cut.
        while (n > 0 && (static_cast<unsigned char>(message[n]) & 0xC0u) == 0x80u)
            --n;
    }
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(message[i]);
        buf[i] = (c < 0x20u || c == 0x7Fu) ? ' ' : message[i];
    }
    buf[n] = '\0';
}

}  // namespace detail

/**
 * True when the host function table `api` contains the function `field` (its struct_size
 * covers it) and the pointer is set. Functions of ABI 1.0 are always there; use this before
 * calling anything a later minor version appended.
 */
#define GATEHOUSE_HOST_HAS(api, field)                                           \
    ((api) != nullptr &&                                                         \
     ::gatehouse::detail::fits((api)->struct_size, offsetof(gh_host_api, field), \
                               sizeof((api)->field)) &&                          \
     (api)->field != nullptr)

/** What a phase method tells the host to do next (the GH_* actions of plugin.h). */
enum class Action : std::int32_t {
    Continue = GH_CONTINUE,
    Respond = GH_RESPOND,
    Pause = GH_PAUSE,
    Fail = GH_FAIL,
};

/** Which message a header or body method acts on. */
enum class Message : std::int32_t { Request = GH_REQUEST, Response = GH_RESPONSE };

/** Wakes a request paused with Request::pause(). Any thread; exactly once per handle. Only
 * needs the host table, which lives as long as the process (unlike the plugin instance). */
inline void resume(const gh_host_api* api, gh_resumer* resumer) noexcept {
    if (resumer != nullptr && GATEHOUSE_HOST_HAS(api, resume)) api->resume(resumer);
}

/* ---------------------------------------------------------------------------------------
 * Request: the request-level host functions. Only valid inside a phase callback for that
 * request, on the thread running it; the string_views it returns are borrowed from the host
 * until the callback returns (header and body views: or until that header/body changes).
 * Methods return an empty value / false when the host lacks the function or refuses the
 * call (wrong phase, bad argument).
 */
/** A configured consumer (ABI 1.1); views valid until the callback returns. */
struct Consumer {
    std::string_view id;
    std::string_view username;
    std::string_view customId;
    std::string_view roles;  // comma-separated
    bool hasRole(std::string_view role) const noexcept {
        std::string_view rest = roles;
        while (!rest.empty()) {
            const std::size_t comma = rest.find(',');
            if (rest.substr(0, comma) == role) return true;
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
        return false;
    }
};

/** A configured credential (ABI 1.1); views valid until the callback returns. */
struct Credential {
    std::int32_t type = 0;  // GH_CREDENTIAL_*
    std::string_view id;
    std::string_view algorithm;
    std::string_view secret;
    std::string_view publicKey;
    std::string_view issuer;
    std::string_view kid;
};

// Inside Request: the host has `field` (GATEHOUSE_HOST_HAS) and there is a request.
#define GATEHOUSE_REQ_HAS_(field) (GATEHOUSE_HOST_HAS(api_, field) && r_ != nullptr)

class Request {
public:
    using HeaderList = std::initializer_list<std::pair<std::string_view, std::string_view>>;

    Request(const gh_host_api* api, gh_request* request) noexcept : api_(api), r_(request) {}

    const gh_host_api* api() const noexcept { return api_; }
    gh_request* raw() const noexcept { return r_; }

    std::string_view method() const noexcept {
        return get(&gh_host_api::request_method, GATEHOUSE_REQ_HAS_(request_method));
    }
    std::string_view path() const noexcept {
        return get(&gh_host_api::request_path, GATEHOUSE_REQ_HAS_(request_path));
    }
    std::string_view query() const noexcept {
        return get(&gh_host_api::request_query, GATEHOUSE_REQ_HAS_(request_query));
    }
    std::string_view host() const noexcept {
        return get(&gh_host_api::request_host, GATEHOUSE_REQ_HAS_(request_host));
    }
    std::string_view scheme() const noexcept {
        return get(&gh_host_api::request_scheme, GATEHOUSE_REQ_HAS_(request_scheme));
    }
    std::string_view clientAddress() const noexcept {
        return get(&gh_host_api::client_address, GATEHOUSE_REQ_HAS_(client_address));
    }
    std::string_view routeName() const noexcept {
        return get(&gh_host_api::route_name, GATEHOUSE_REQ_HAS_(route_name));
    }
    std::string_view requestId() const noexcept {
        return get(&gh_host_api::request_id, GATEHOUSE_REQ_HAS_(request_id));
    }

    /** The response status; 0 before a response exists. */
    std::int32_t status() const noexcept {
        return GATEHOUSE_REQ_HAS_(response_status) ? api_->response_status(r_) : 0;
    }
    /** Changes the response status (on_response only). */
    bool setStatus(std::int32_t status) const noexcept {
        return GATEHOUSE_REQ_HAS_(set_response_status) &&
               api_->set_response_status(r_, status) != 0;
    }

    std::size_t headerCount(Message which) const noexcept {
        return GATEHOUSE_REQ_HAS_(header_count)
                   ? api_->header_count(r_, static_cast<std::int32_t>(which))
                   : 0;
    }
    /** The header at `index` (in message order), or nothing past the end. */
    std::optional<std::pair<std::string_view, std::string_view>> headerAt(
        Message which, std::size_t index) const noexcept {
        gh_str name{nullptr, 0};
        gh_str value{nullptr, 0};
        if (!GATEHOUSE_REQ_HAS_(header_at) ||
            api_->header_at(r_, static_cast<std::int32_t>(which), index, &name, &value) == 0) {
            return std::nullopt;
        }
        return std::make_pair(view(name), view(value));
    }
    /** The `nth` (0-based) header called `name` (case-insensitive). */
    std::optional<std::string_view> header(Message which, std::string_view name,
                                           std::size_t nth = 0) const noexcept {
        gh_str value{nullptr, 0};
        if (!GATEHOUSE_REQ_HAS_(header_get) ||
            api_->header_get(r_, static_cast<std::int32_t>(which), str(name), nth, &value) == 0) {
            return std::nullopt;
        }
        return view(value);
    }
    std::optional<std::string_view> requestHeader(std::string_view name,
                                                  std::size_t nth = 0) const noexcept {
        return header(Message::Request, name, nth);
    }
    std::optional<std::string_view> responseHeader(std::string_view name,
                                                   std::size_t nth = 0) const noexcept {
        return header(Message::Response, name, nth);
    }
    /** Replaces every header called `name` with one. */
    bool setHeader(Message which, std::string_view name, std::string_view value) const noexcept {
        return GATEHOUSE_REQ_HAS_(header_set) &&
               api_->header_set(r_, static_cast<std::int32_t>(which), str(name), str(value)) != 0;
    }
    bool addHeader(Message which, std::string_view name, std::string_view value) const noexcept {
        return GATEHOUSE_REQ_HAS_(header_add) &&
               api_->header_add(r_, static_cast<std::int32_t>(which), str(name), str(value)) != 0;
    }
    /** Removes every header called `name`; returns how many there were. */
    int removeHeader(Message which, std::string_view name) const noexcept {
        return GATEHOUSE_REQ_HAS_(header_remove)
                   ? api_->header_remove(r_, static_cast<std::int32_t>(which), str(name))
                   : 0;
    }

    /** Rewrites the path sent upstream (on_request; must start with '/'). */
    bool setPath(std::string_view path) const noexcept {
        return GATEHOUSE_REQ_HAS_(set_path) && api_->set_path(r_, str(path)) != 0;
    }
    /** Rewrites the query sent upstream (on_request; without '?'). */
    bool setQuery(std::string_view query) const noexcept {
        return GATEHOUSE_REQ_HAS_(set_query) && api_->set_query(r_, str(query)) != 0;
    }

    /** The buffered body (needs GH_PHASE_REQUEST_BODY / GH_PHASE_RESPONSE_BODY). */
    std::optional<std::string_view> body(Message which) const noexcept {
        gh_str b{nullptr, 0};
        if (!GATEHOUSE_REQ_HAS_(body_get) ||
            api_->body_get(r_, static_cast<std::int32_t>(which), &b) == 0)
            return std::nullopt;
        return view(b);
    }
    /** Replaces the buffered body; the host fixes Content-Length. */
    bool setBody(Message which, std::string_view body) const noexcept {
        return GATEHOUSE_REQ_HAS_(body_set) &&
               api_->body_set(r_, static_cast<std::int32_t>(which), str(body)) != 0;
    }

    /**
     * Prepares a local response (on_request); return Action::Respond afterwards.
     * r.respond(401, R"({"error":"no key"})", {{"Content-Type", "application/json"}});
     */
    bool respond(std::int32_t status, std::string_view body = {}, HeaderList headers = {}) const {
        std::vector<gh_header> list;
        list.reserve(headers.size());
        for (const auto& h : headers)
            list.push_back(makeHeader(h.first, h.second));
        return respondRaw(status, list.data(), list.size(), body);
    }
    /** Same, with headers from any container of pairs convertible to std::string_view. */
    template <typename Range, typename = decltype(std::begin(std::declval<const Range&>()))>
    bool respond(std::int32_t status, std::string_view body, const Range& headers) const {
        std::vector<gh_header> list;
        for (const auto& h : headers) {
            list.push_back(makeHeader(std::string_view(h.first), std::string_view(h.second)));
        }
        return respondRaw(status, list.data(), list.size(), body);
    }
    bool respondRaw(std::int32_t status, const gh_header* headers, std::size_t count,
                    std::string_view body) const noexcept {
        return GATEHOUSE_REQ_HAS_(respond) &&
               api_->respond(r_, status, headers, count, str(body)) != 0;
    }

    /** Records the authenticated consumer (authentication plugins, on_request). */
    bool setConsumer(std::string_view id, std::string_view name) const noexcept {
        return GATEHOUSE_REQ_HAS_(set_consumer) && api_->set_consumer(r_, str(id), str(name)) != 0;
    }
    /** The authenticated consumer's id; empty when none. */
    std::string_view consumerId() const noexcept {
        return get(&gh_host_api::consumer_id, GATEHOUSE_REQ_HAS_(consumer_id));
    }

    /** The consumer whose credential of `type` is `lookup` (GH_FEATURE_CONSUMERS): for
     * GH_CREDENTIAL_KEY_AUTH the key as presented, for GH_CREDENTIAL_JWT the kid or iss. */
    std::optional<Consumer> findCredential(std::int32_t type, std::string_view lookup,
                                           Credential* credential = nullptr) const noexcept {
        if (!GATEHOUSE_REQ_HAS_(credential_find)) return std::nullopt;
        gh_consumer c;
        std::memset(&c, 0, sizeof c);
        c.struct_size = static_cast<std::uint32_t>(sizeof c);
        gh_credential cr;
        std::memset(&cr, 0, sizeof cr);
        cr.struct_size = static_cast<std::uint32_t>(sizeof cr);
        if (api_->credential_find(r_, type, str(lookup), &c, &cr) == 0) return std::nullopt;
        if (credential != nullptr) {
            credential->type = cr.type;
            credential->id = view(cr.id);
            credential->algorithm = view(cr.algorithm);
            credential->secret = view(cr.secret);
            credential->publicKey = view(cr.public_key);
            credential->issuer = view(cr.issuer);
            credential->kid = view(cr.kid);
        }
        return toConsumer(c);
    }
    /** The request's progress (GH_FEATURE_REQUEST_INFO): upstream target, status or failure,
     * bytes, times. nullopt on a host without it. */
    std::optional<gh_request_info> info() const noexcept {
        if (!GATEHOUSE_REQ_HAS_(request_info)) return std::nullopt;
        gh_request_info i;
        std::memset(&i, 0, sizeof i);
        i.struct_size = static_cast<std::uint32_t>(sizeof i);
        if (api_->request_info(r_, &i) == 0) return std::nullopt;
        return i;
    }

    /** Sets a request variable (GH_FEATURE_VARS): a value later plugins of this request read
     * with var() and the client cannot set. An empty value removes it. */
    bool setVar(std::string_view name, std::string_view value) const noexcept {
        return GATEHOUSE_REQ_HAS_(var_set) && api_->var_set(r_, str(name), str(value)) != 0;
    }
    /** A request variable; valid until the callback returns or the name is set again. */
    std::optional<std::string_view> var(std::string_view name) const noexcept {
        if (!GATEHOUSE_REQ_HAS_(var_get)) return std::nullopt;
        gh_str value{nullptr, 0};
        if (api_->var_get(r_, str(name), &value) == 0) return std::nullopt;
        return view(value);
    }

    /** The request's consumer as configured (after setConsumer), with its roles. */
    std::optional<Consumer> consumer() const noexcept {
        if (!GATEHOUSE_REQ_HAS_(consumer_get)) return std::nullopt;
        gh_consumer c;
        std::memset(&c, 0, sizeof c);
        c.struct_size = static_cast<std::uint32_t>(sizeof c);
        if (api_->consumer_get(r_, &c) == 0) return std::nullopt;
        return toConsumer(c);
    }

    /**
     * Pauses the request (GH_FEATURE_PAUSE): returns the handle to pass to
     * gatehouse::resume() later (from any thread, exactly once), then return Action::Pause.
     * The host calls the same phase again with the same *ctx after the resume. nullptr when
     * the host cannot pause here: then do not return Action::Pause.
     */
    gh_resumer* pause() const noexcept {
        return GATEHOUSE_REQ_HAS_(pause) ? api_->pause(r_) : nullptr;
    }

private:
    static Consumer toConsumer(const gh_consumer& c) noexcept {
        Consumer out;
        out.id = view(c.id);
        out.username = view(c.username);
        out.customId = view(c.custom_id);
        out.roles = view(c.roles);
        return out;
    }
    std::string_view get(gh_str (*gh_host_api::*fn)(gh_request*), bool present) const noexcept {
        return present ? view((api_->*fn)(r_)) : std::string_view();
    }
    static gh_header makeHeader(std::string_view name, std::string_view value) noexcept {
        gh_header h;
        h.name = str(name);
        h.value = str(value);
        return h;
    }

    const gh_host_api* api_;
    gh_request* r_;
};

#undef GATEHOUSE_REQ_HAS_

/* ---------------------------------------------------------------------------------------
 * Metrics
 */

/** A metric defined in the plugin's constructor; usable from any thread while the instance
 * lives. A default-constructed or failed Metric ignores updates. */
class Metric {
public:
    Metric() noexcept = default;
    Metric(const gh_host_api* api, gh_metric* metric) noexcept : api_(api), metric_(metric) {}

    /** Counters: delta >= 0. */
    void add(double delta) const noexcept {
        if (metric_ != nullptr && GATEHOUSE_HOST_HAS(api_, metric_add))
            api_->metric_add(metric_, delta);
    }
    /** Gauges. */
    void set(double value) const noexcept {
        if (metric_ != nullptr && GATEHOUSE_HOST_HAS(api_, metric_set))
            api_->metric_set(metric_, value);
    }
    explicit operator bool() const noexcept { return metric_ != nullptr; }
    gh_metric* raw() const noexcept { return metric_; }

private:
    const gh_host_api* api_ = nullptr;
    gh_metric* metric_ = nullptr;
};

/** counter_add's result. */
struct Counter {
    std::int64_t count = 0;           // in the current window, after the add
    std::int64_t previous = 0;        // in the window before it
    std::uint64_t windowStartMs = 0;  // unix ms at which the current window started
    std::uint64_t windowMs = 0;       // the window length

    /** Sliding-window estimate at `nowMs`: the previous window weighted by how much of it
     * still overlaps a window ending now, plus the current count. */
    double sliding(std::int64_t nowMs) const noexcept {
        if (windowMs == 0) return static_cast<double>(count);
        const double elapsed =
            nowMs > static_cast<std::int64_t>(windowStartMs)
                ? static_cast<double>(static_cast<std::uint64_t>(nowMs) - windowStartMs)
                : 0.0;
        double weight = 1.0 - elapsed / static_cast<double>(windowMs);
        if (weight < 0) weight = 0;
        return static_cast<double>(previous) * weight + static_cast<double>(count);
    }
};

/** A shared-state value and its version. */
struct StateValue {
    std::string value;
    std::uint64_t version = 0;
};

/* ---------------------------------------------------------------------------------------
 * Plugin base class. Derive, give the derived class a constructor
 *   T(const gh_host_api* host, gh_instance_host* instanceHost, std::string_view configJson)
 * that parses the (schema-validated) config and throws on anything it rejects, and override
 * the phases you declare in describe<T>(). One object serves every worker thread: keep it
 * read-only after construction or synchronize; keep per-request state in *ctx and free it
 * in onDone.
 */
class Plugin {
public:
    Plugin(const gh_host_api* host, gh_instance_host* instanceHost) noexcept
        : api_(host), instance_(instanceHost) {}
    virtual ~Plugin() = default;
    Plugin(const Plugin&) = delete;
    Plugin& operator=(const Plugin&) = delete;

    /** on_request, in priority order. *ctx starts as nullptr for each request. */
    virtual Action onRequest(Request& request, void** ctx) {
        (void)request;
        (void)ctx;
        return Action::Continue;
    }
    /** on_response, in reverse order. */
    virtual Action onResponse(Request& request, void** ctx) {
        (void)request;
        (void)ctx;
        return Action::Continue;
    }
    /** on_log, after the last byte went to the client. */
    /** The instance's runtime state as JSON for GET /plugins/{id}/status (ABI 1.2); empty:
     * nothing to show. Control thread, concurrently with requests. */
    virtual std::string status() const { return {}; }
    virtual void onLog(Request& request, void** ctx) {
        (void)request;
        (void)ctx;
    }
    /** Called when the request ends if *ctx was left non-null: free it here. */
    virtual void onDone(void* ctx) { (void)ctx; }

    const gh_host_api* api() const noexcept { return api_; }
    gh_instance_host* instanceHost() const noexcept { return instance_; }
    bool hostHasFeatures(std::uint64_t features) const noexcept {
        return api_ != nullptr && (api_->features & features) == features;
    }

    /** Writes a line to the gateway's event log (GH_LOG_DEBUG..GH_LOG_ERROR). Any thread. */
    void log(std::int32_t level, std::string_view message) const noexcept {
        if (GATEHOUSE_HOST_HAS(api_, log)) api_->log(instance_, level, str(message));
    }

    std::uint64_t monotonicNs() const noexcept {
        return GATEHOUSE_HOST_HAS(api_, monotonic_ns) ? api_->monotonic_ns() : 0;
    }
    std::int64_t unixMs() const noexcept {
        return GATEHOUSE_HOST_HAS(api_, unix_ms) ? api_->unix_ms() : 0;
    }
    /** How many times the operator asked for log files to be reopened (SIGUSR1; ABI 1.2). */
    std::uint64_t reopenGeneration() const noexcept {
        return GATEHOUSE_HOST_HAS(api_, reopen_generation) ? api_->reopen_generation(instance_) : 0;
    }

    /** Wakes a paused request (see Request::pause). */
    void resume(gh_resumer* resumer) const noexcept { gatehouse::resume(api_, resumer); }

    /** Defines a metric; call from the constructor only (GH_FEATURE_METRICS). */
    Metric defineMetric(std::int32_t kind, std::string_view name,
                        std::string_view help) const noexcept {
        if (!GATEHOUSE_HOST_HAS(api_, metric_define)) return Metric();
        return Metric(api_, api_->metric_define(instance_, kind, str(name), str(help)));
    }
    Metric defineCounter(std::string_view name, std::string_view help) const noexcept {
        return defineMetric(GH_METRIC_COUNTER, name, help);
    }
    Metric defineGauge(std::string_view name, std::string_view help) const noexcept {
        return defineMetric(GH_METRIC_GAUGE, name, help);
    }

    /** Adds `delta` to the shared counter `key` in the epoch-aligned window of `windowMs`
     * (delta 0 just reads). Nothing when the host refuses or lacks shared state. */
    std::optional<Counter> counterAdd(std::string_view key, std::uint64_t windowMs,
                                      std::int64_t delta) const noexcept {
        if (!GATEHOUSE_HOST_HAS(api_, counter_add)) return std::nullopt;
        gh_counter_result result;
        std::memset(&result, 0, sizeof result);
        result.struct_size = static_cast<std::uint32_t>(sizeof result);
        if (api_->counter_add(instance_, str(key), windowMs, delta, &result) == 0)
            return std::nullopt;
        Counter c;
        c.count = result.count;
        c.previous = result.previous;
        c.windowStartMs = result.window_start_ms;
        c.windowMs = result.window_ms;
        return c;
    }

    /** The shared value of `key` with its version; nothing when there is no such key. */
    std::optional<StateValue> stateGet(std::string_view key) const {
        if (!GATEHOUSE_HOST_HAS(api_, state_get)) return std::nullopt;
        StateValue out;
        out.value.resize(256);
        for (int attempt = 0; attempt < 16; ++attempt) {
            std::size_t length = 0;
            std::uint64_t version = 0;
            if (api_->state_get(instance_, str(key), &out.value[0], out.value.size(), &length,
                                &version) == 0) {
                return std::nullopt;
            }
            if (length <= out.value.size()) {
                out.value.resize(length);
                out.version = version;
                return out;
            }
            out.value.resize(length);  // it grew: read again with room for all of it
        }
        throw std::runtime_error("shared state value kept growing while being read");
    }

    /** Stores `value` if `key`'s version is `expected` (0 = must not exist); returns the new
     * version, or nothing when someone else changed it first. ttlMs 0 = no expiry. */
    std::optional<std::uint64_t> stateCas(std::string_view key, std::uint64_t expected,
                                          std::string_view value,
                                          std::uint64_t ttlMs = 0) const noexcept {
        if (!GATEHOUSE_HOST_HAS(api_, state_cas)) return std::nullopt;
        std::uint64_t version = 0;
        if (api_->state_cas(instance_, str(key), expected, str(value), ttlMs, &version) == 0)
            return std::nullopt;
        return version;
    }

private:
    const gh_host_api* api_;
    gh_instance_host* instance_;
};

/* ---------------------------------------------------------------------------------------
 * describe<T>() and the boundary thunks.
 */
namespace detail {

inline void logException(const Plugin* plugin, const char* where, const char* what) noexcept {
    if (plugin == nullptr) return;
    char line[512];
    std::snprintf(line, sizeof line, "%s threw: %s", where, what);
    plugin->log(GH_LOG_ERROR, line);
}

template <typename T>
struct Thunks {
    static std::int32_t create(const gh_host_api* host, gh_instance_host* instanceHost,
                               gh_str config, void** instance, char* error,
                               std::size_t errorCapacity) noexcept {
        if (instance == nullptr) {
            writeLine(error, errorCapacity, "instance_create called without an output pointer");
            return 0;
        }
        *instance = nullptr;
        try {
            T* object = new T(host, instanceHost, view(config));
            *instance = object;
            if (GATEHOUSE_HOST_HAS(host, status_register))
                host->status_register(instanceHost, &Thunks<T>::status);
            return 1;
        } catch (const std::exception& e) {
            writeLine(error, errorCapacity, e.what());
        } catch (...) {
            writeLine(error, errorCapacity, "unknown error while creating the instance");
        }
        return 0;
    }

    static void destroy(void* instance) noexcept {
        try {
            delete static_cast<T*>(instance);
        } catch (...) {
            // Unreachable for noexcept destructors (the default); kept so that nothing a
            // noexcept(false) destructor throws can reach the host.
        }
    }

    template <typename Phase>
    static std::int32_t run(void* instance, gh_request* r, void** ctx, const char* where,
                            Phase phase) noexcept {
        T* object = static_cast<T*>(instance);
        try {
            Request request(static_cast<const Plugin*>(object)->api(), r);
            return phase(*object, request, ctx);
        } catch (const std::exception& e) {
            logException(object, where, e.what());
        } catch (...) {
            logException(object, where, "unknown exception");
        }
        return GH_FAIL;
    }

    static std::int32_t onRequest(void* instance, gh_request* r, void** ctx) noexcept {
        return run(instance, r, ctx, "on_request", [](T& p, Request& q, void** c) {
            return static_cast<std::int32_t>(p.onRequest(q, c));
        });
    }
    static std::int32_t onResponse(void* instance, gh_request* r, void** ctx) noexcept {
        return run(instance, r, ctx, "on_response", [](T& p, Request& q, void** c) {
            return static_cast<std::int32_t>(p.onResponse(q, c));
        });
    }
    static std::int32_t onLog(void* instance, gh_request* r, void** ctx) noexcept {
        return run(instance, r, ctx, "on_log", [](T& p, Request& q, void** c) {
            p.onLog(q, c);
            return static_cast<std::int32_t>(GH_CONTINUE);
        });
    }
    static std::int32_t status(void* instance, char* buf, std::size_t capacity,
                               std::size_t* length) noexcept {
        T* object = static_cast<T*>(instance);
        try {
            const std::string text = object->status();
            if (text.empty() || length == nullptr) return 0;
            *length = text.size();
            if (buf != nullptr) std::memcpy(buf, text.data(), std::min(capacity, text.size()));
            return 1;
        } catch (const std::exception& e) {
            logException(object, "instance_status", e.what());
        } catch (...) {
            logException(object, "instance_status", "unknown exception");
        }
        return 0;
    }
    static void onDone(void* instance, void* ctx) noexcept {
        T* object = static_cast<T*>(instance);
        try {
            object->onDone(ctx);
        } catch (const std::exception& e) {
            logException(object, "on_done", e.what());
        } catch (...) {
            logException(object, "on_done", "unknown exception");
        }
    }
};

}  // namespace detail

/**
 * A descriptor for plugin class T (derived from gatehouse::Plugin). The strings must have
 * static storage duration (string literals); `phases` says which of onRequest / onResponse /
 * onLog the host calls (GH_PHASE_* bits, plus GH_PHASE_*_BODY to buffer bodies),
 * `features` the GH_FEATURE_* bits the plugin needs, `abiMinor` the lowest host minor it
 * needs (default: the minor of the plugin.h it was built with).
 */
template <typename T>
gh_plugin_descriptor describe(const char* name, const char* version, const char* description,
                              const char* configSchema, std::int32_t priority, std::uint32_t phases,
                              std::uint64_t features = 0,
                              std::uint32_t abiMinor = GH_ABI_MINOR) noexcept {
    static_assert(std::is_base_of<Plugin, T>::value, "T must derive from gatehouse::Plugin");
    static_assert(
        std::is_constructible<T, const gh_host_api*, gh_instance_host*, std::string_view>::value,
        "T needs a constructor T(const gh_host_api*, gh_instance_host*, std::string_view config)");
    gh_plugin_descriptor d;
    std::memset(&d, 0, sizeof d);
    d.struct_size = static_cast<std::uint32_t>(sizeof(gh_plugin_descriptor));
    d.abi_major = GH_ABI_MAJOR;
    d.abi_minor = abiMinor;
    d.phases = phases;
    d.required_features = features;
    d.name = name;
    d.version = version;
    d.description = description;
    d.config_schema = configSchema;
    d.default_priority = priority;
    d.instance_create = &detail::Thunks<T>::create;
    d.instance_destroy = &detail::Thunks<T>::destroy;
    d.on_request = (phases & GH_PHASE_REQUEST) != 0 ? &detail::Thunks<T>::onRequest : nullptr;
    d.on_response = (phases & GH_PHASE_RESPONSE) != 0 ? &detail::Thunks<T>::onResponse : nullptr;
    d.on_log =
        (phases & (GH_PHASE_LOG | GH_PHASE_LOG_ALL)) != 0 ? &detail::Thunks<T>::onLog : nullptr;
    d.on_done = &detail::Thunks<T>::onDone;
    return d;
}

}  // namespace gatehouse

/**
 * Defines the exported entry point over a static array of descriptors, built once on first
 * use (thread-safe static initialization) and alive until the object is unloaded:
 *
 *   GATEHOUSE_PLUGINS(gatehouse::describe<AddHeader>("add-header", "1.0.0", "...", kSchema,
 *                                                    0, GH_PHASE_REQUEST))
 */
#define GATEHOUSE_PLUGINS(...)                                                            \
    extern "C" GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v1(           \
        const gh_host_api* host, uint32_t index) {                                        \
        (void)host;                                                                       \
        static const gh_plugin_descriptor gatehouse_descriptors_[] = {__VA_ARGS__};       \
        return index < sizeof(gatehouse_descriptors_) / sizeof(gatehouse_descriptors_[0]) \
                   ? &gatehouse_descriptors_[index]                                       \
                   : nullptr;                                                             \
    }

#endif /* GATEHOUSE_PLUGIN_HPP */
