#include "plugins/host_api.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>

#include "http/ascii.h"
#include "net/clock.h"

namespace gatehouse::plugins {
namespace {

// Every function here is called by plugin code through C function pointers: none may
// throw, and each checks its arguments (a plugin may pass NULL or garbage lengths).

gh_str str(std::string_view s) {
    return {s.data(), s.size()};
}
std::string_view view(gh_str s) {
    return s.ptr ? std::string_view(s.ptr, s.len) : std::string_view();
}
constexpr gh_str kEmpty{"", 0};

template <typename F>
auto guarded(F&& f, decltype(f()) fallback) noexcept -> decltype(f()) {
    try {
        return f();
    } catch (...) {
        return fallback;
    }
}

RequestAccess* access(gh_request* r) {
    return r ? r->access : nullptr;
}

void hostLog(const gh_instance_host* h, int32_t level, gh_str message) {
    guarded(
        [&] {
            if (!h || !h->services || !h->services->log) return 0;
            const observe::Level l = level <= GH_LOG_DEBUG  ? observe::Level::kDebug
                                     : level == GH_LOG_INFO ? observe::Level::kInfo
                                     : level == GH_LOG_WARN ? observe::Level::kWarn
                                                            : observe::Level::kError;
            h->services->log->emit(
                l, "plugin_log",
                {{"plugin", std::string_view(h->plugin)}, {"message", view(message)}});
            return 0;
        },
        0);
}

#define GH_ATTRIBUTE(fn, call)                                                               \
    gh_str fn(gh_request* r) {                                                               \
        return guarded([&] { return access(r) ? str(access(r)->call()) : kEmpty; }, kEmpty); \
    }
GH_ATTRIBUTE(requestMethod, method)
GH_ATTRIBUTE(requestPath, path)
GH_ATTRIBUTE(requestQuery, query)
GH_ATTRIBUTE(requestHost, host)
GH_ATTRIBUTE(requestScheme, scheme)
GH_ATTRIBUTE(clientAddress, clientAddress)
GH_ATTRIBUTE(routeName, routeName)
GH_ATTRIBUTE(requestId, requestId)
GH_ATTRIBUTE(consumerId, consumerId)
#undef GH_ATTRIBUTE

int32_t responseStatus(gh_request* r) {
    return guarded([&] { return access(r) ? access(r)->status() : 0; }, 0);
}

int32_t setResponseStatus(gh_request* r, int32_t status) {
    return guarded(
        [&] {
            return access(r) && status >= 100 && status <= 599 && access(r)->setStatus(status) ? 1
                                                                                               : 0;
        },
        0);
}

size_t headerCount(gh_request* r, int32_t which) {
    return guarded(
        [&]() -> size_t {
            http::HeaderList* h = access(r) ? access(r)->headers(which, false) : nullptr;
            return h ? h->size() : 0;
        },
        size_t{0});
}

int32_t headerAt(gh_request* r, int32_t which, size_t index, gh_str* name, gh_str* value) {
    return guarded(
        [&] {
            http::HeaderList* h = access(r) ? access(r)->headers(which, false) : nullptr;
            if (!h || index >= h->size()) return 0;
            if (name) *name = str(h->fields()[index].name);
            if (value) *value = str(h->fields()[index].value);
            return 1;
        },
        0);
}

int32_t headerGet(gh_request* r, int32_t which, gh_str name, size_t nth, gh_str* value) {
    return guarded(
        [&] {
            http::HeaderList* h = access(r) ? access(r)->headers(which, false) : nullptr;
            if (!h) return 0;
            for (const auto& f : h->fields()) {
                if (!http::iequals(f.name, view(name))) continue;
                if (nth-- == 0) {
                    if (value) *value = str(f.value);
                    return 1;
                }
            }
            return 0;
        },
        0);
}

/// Header values a plugin sets must not smuggle a second header or a second message, and the
/// framing headers are the host's (it rewrites them from the actual body).
bool validField(std::string_view name, std::string_view value) {
    if (!http::isToken(name)) return false;
    if (http::iequals(name, "content-length") || http::iequals(name, "transfer-encoding"))
        return false;
    // memchr is vectorized: three passes beat one byte loop with three compares.
    const char* p = value.data();
    const size_t n = value.size();
    return !std::memchr(p, '\r', n) && !std::memchr(p, '\n', n) && !std::memchr(p, '\0', n);
}

int32_t headerSet(gh_request* r, int32_t which, gh_str name, gh_str value) {
    return guarded(
        [&] {
            http::HeaderList* h = access(r) ? access(r)->headers(which, true) : nullptr;
            if (!h || !validField(view(name), view(value))) return 0;
            h->set(view(name), view(value));
            return 1;
        },
        0);
}

int32_t headerAdd(gh_request* r, int32_t which, gh_str name, gh_str value) {
    return guarded(
        [&] {
            http::HeaderList* h = access(r) ? access(r)->headers(which, true) : nullptr;
            if (!h || !validField(view(name), view(value))) return 0;
            h->add(view(name), view(value));
            return 1;
        },
        0);
}

int32_t headerRemove(gh_request* r, int32_t which, gh_str name) {
    return guarded(
        [&] {
            http::HeaderList* h = access(r) ? access(r)->headers(which, true) : nullptr;
            return h ? static_cast<int32_t>(h->remove(view(name))) : 0;
        },
        0);
}

int32_t setPath(gh_request* r, gh_str path) {
    return guarded(
        [&] {
            const std::string_view p = view(path);
            if (!access(r) || p.empty() || p.front() != '/') return 0;
            for (char c : p)
                if (static_cast<unsigned char>(c) <= ' ' || c == '?' || c == '#' || c == 0x7f)
                    return 0;
            return access(r)->setPath(p) ? 1 : 0;
        },
        0);
}

int32_t setQuery(gh_request* r, gh_str query) {
    return guarded(
        [&] {
            const std::string_view q = view(query);
            if (!access(r)) return 0;
            for (char c : q)
                if (static_cast<unsigned char>(c) <= ' ' || c == '#' || c == 0x7f) return 0;
            return access(r)->setQuery(q) ? 1 : 0;
        },
        0);
}

int32_t bodyGet(gh_request* r, int32_t which, gh_str* body) {
    return guarded(
        [&] {
            std::string* b = access(r) ? access(r)->body(which, false) : nullptr;
            if (!b) return 0;
            if (body) *body = str(*b);
            return 1;
        },
        0);
}

int32_t bodySet(gh_request* r, int32_t which, gh_str body) {
    return guarded(
        [&] {
            std::string* b = access(r) ? access(r)->body(which, true) : nullptr;
            if (!b || (body.len && !body.ptr)) return 0;
            b->assign(view(body));
            return 1;
        },
        0);
}

int32_t respond(gh_request* r, int32_t status, const gh_header* headers, size_t count,
                gh_str body) {
    return guarded(
        [&] {
            if (!access(r) || status < 100 || status > 599 || (count && !headers)) return 0;
            std::vector<std::pair<std::string, std::string>> hs;
            for (size_t i = 0; i < count; ++i) {
                if (!validField(view(headers[i].name), view(headers[i].value))) return 0;
                hs.emplace_back(std::string(view(headers[i].name)),
                                std::string(view(headers[i].value)));
            }
            return access(r)->respond(status, std::move(hs), std::string(view(body))) ? 1 : 0;
        },
        0);
}

int32_t setConsumer(gh_request* r, gh_str id, gh_str name) {
    return guarded(
        [&] { return access(r) && access(r)->setConsumer(view(id), view(name)) ? 1 : 0; }, 0);
}

/// A request variable's name: [a-z0-9._-]{1,64}.
bool validVarName(std::string_view name) {
    if (name.empty() || name.size() > kMaxVarName) return false;
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    return true;
}

int32_t varSet(gh_request* r, gh_str name, gh_str value) {
    return guarded(
        [&]() -> int32_t {
            if (!access(r) || !validVarName(view(name)) || value.len > kMaxVarValue) return 0;
            return access(r)->setVar(view(name), view(value)) ? 1 : 0;
        },
        0);
}

int32_t varGet(gh_request* r, gh_str name, gh_str* value) {
    return guarded(
        [&]() -> int32_t {
            if (!access(r) || !value) return 0;
            const std::string* v = access(r)->var(view(name));
            if (!v) return 0;
            *value = str(*v);
            return 1;
        },
        0);
}

void statusRegister(gh_instance_host* h, int32_t (*status)(void*, char*, size_t, size_t*)) {
    if (h) h->status = status;
}

uint64_t reopenGeneration(gh_instance_host* h) {
    return h && h->services && h->services->reopenGeneration
               ? h->services->reopenGeneration->load(std::memory_order_relaxed)
               : 0;
}

/// Copies the fields of `from` that fit in the caller's struct (struct_size: a plugin built
/// against a later minor passes a larger struct; an older one cannot call this at all).
template <typename T>
void fill(T* to, const T& from) {
    const uint32_t size = to->struct_size;
    const auto* src = reinterpret_cast<const unsigned char*>(&from);
    auto* dst = reinterpret_cast<unsigned char*>(to);
    const size_t n = std::min<size_t>(size, sizeof(T));
    constexpr size_t kHeader = sizeof(uint32_t);  // struct_size stays the caller's
    if (n > kHeader) std::memcpy(dst + kHeader, src + kHeader, n - kHeader);
}

gh_consumer consumerOf(const ConsumerView& v) {
    gh_consumer c{};
    c.struct_size = sizeof c;
    c.id = str(v.id);
    c.username = str(v.username);
    c.custom_id = str(v.customId);
    c.roles = str(v.roles);
    return c;
}

int32_t credentialFind(gh_request* r, int32_t type, gh_str lookup, gh_consumer* consumer,
                       gh_credential* credential) {
    return guarded(
        [&]() -> int32_t {
            if (!access(r) || !consumer || consumer->struct_size < sizeof(uint32_t)) return 0;
            ConsumerView cv;
            CredentialView crv;
            if (!access(r)->findCredential(type, view(lookup), &cv, &crv)) return 0;
            fill(consumer, consumerOf(cv));
            if (credential && credential->struct_size >= sizeof(uint32_t)) {
                gh_credential c{};
                c.struct_size = sizeof c;
                c.type = crv.type;
                c.id = str(crv.id);
                c.algorithm = str(crv.algorithm);
                c.secret = str(crv.secret);
                c.public_key = str(crv.publicKey);
                c.issuer = str(crv.issuer);
                c.kid = str(crv.kid);
                fill(credential, c);
            }
            return 1;
        },
        0);
}

int32_t requestInfo(gh_request* r, gh_request_info* info) {
    return guarded(
        [&]() -> int32_t {
            if (!access(r) || !info || info->struct_size < sizeof(uint32_t)) return 0;
            const RequestInfoView v = access(r)->requestInfo();
            gh_request_info full{};
            full.upstream_status = v.upstreamStatus;
            full.upstream_error = v.upstreamError;
            full.upstream_address = str(v.upstreamAddress);
            full.bytes_in = v.bytesIn;
            full.bytes_out = v.bytesOut;
            full.start_unix_us = v.startUnixUs;
            full.total_us = v.totalUs;
            full.upstream_us = v.upstreamUs;
            fill(info, full);
            return 1;
        },
        0);
}

int32_t consumerGet(gh_request* r, gh_consumer* consumer) {
    return guarded(
        [&]() -> int32_t {
            if (!access(r) || !consumer || consumer->struct_size < sizeof(uint32_t)) return 0;
            ConsumerView cv;
            if (!access(r)->currentConsumer(&cv)) return 0;
            fill(consumer, consumerOf(cv));
            return 1;
        },
        0);
}

uint64_t monotonicNs() {
    return net::monotonicUs() * 1000u;
}

int64_t unixMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

gh_resumer* pause(gh_request* r) {
    return guarded([&]() -> gh_resumer* { return access(r) ? access(r)->pause() : nullptr; },
                   static_cast<gh_resumer*>(nullptr));
}

void resume(gh_resumer* resumer) {
    if (!resumer) return;
    std::function<void()> wake = std::move(resumer->wake);
    delete resumer;
    guarded(
        [&] {
            if (wake) wake();
            return 0;
        },
        0);
}

gh_metric* metricDefine(gh_instance_host* h, int32_t kind, gh_str name, gh_str help) {
    return guarded(
        [&]() -> gh_metric* {
            if (!h || !h->services || !h->services->metrics) return nullptr;
            const auto k = kind == GH_METRIC_GAUGE ? observe::MetricRegistry::Kind::kGauge
                                                   : observe::MetricRegistry::Kind::kCounter;
            auto m = h->services->metrics->define(k, std::string(view(name)),
                                                  std::string(view(help)), h->plugin);
            if (!m) return nullptr;
            h->metrics.push_back(m);  // the instance keeps it alive for its handles
            // The handle lives in the instance: freed with it, never by the plugin.
            return reinterpret_cast<gh_metric*>(h->metrics.back().get());
        },
        static_cast<gh_metric*>(nullptr));
}

observe::MetricRegistry::Metric* metricOf(gh_metric* m) {
    return reinterpret_cast<observe::MetricRegistry::Metric*>(m);
}

void metricAdd(gh_metric* m, double delta) {
    if (!m || !(delta >= 0)) return;
    metricOf(m)->value.fetch_add(delta, std::memory_order_relaxed);
}

void metricSet(gh_metric* m, double value) {
    if (!m) return;
    metricOf(m)->value.store(value, std::memory_order_relaxed);
}

/// "<plugin>\x1f<key>", in a per-thread buffer (valid until the thread's next call): shared
/// state is reached once or twice per request by rate limiters and breakers.
std::string_view namespaced(const gh_instance_host* h, gh_str key) {
    thread_local std::string k;
    k.assign(h->plugin);
    k.push_back('\x1f');  // unit separator: plugin names cannot contain it
    k.append(view(key));
    return k;
}

uint64_t nowMs() {
    return static_cast<uint64_t>(unixMs());
}

int32_t counterAdd(gh_instance_host* h, gh_str key, uint64_t windowMs, int64_t delta,
                   gh_counter_result* result) {
    return guarded(
        [&] {
            if (!h || !h->services || !h->services->state || windowMs == 0) return 0;
            const uint64_t now = nowMs();
            auto res = h->services->state->counterAdd(namespaced(h, key), windowMs, delta, now);
            if (!res) return 0;
            if (result && result->struct_size >= sizeof(gh_counter_result)) {
                result->count = res->count;
                result->previous = res->previous;
                result->window_start_ms = res->windowStartMs;
                result->window_ms = windowMs;
            }
            return 1;
        },
        0);
}

int32_t stateGet(gh_instance_host* h, gh_str key, char* buf, size_t capacity, size_t* length,
                 uint64_t* version) {
    return guarded(
        [&] {
            if (version) *version = 0;
            if (length) *length = 0;
            if (!h || !h->services || !h->services->state) return 0;
            auto v = h->services->state->get(namespaced(h, key), nowMs());
            if (!v) return 0;
            if (buf && capacity)
                std::memcpy(buf, v->data.data(), std::min(capacity, v->data.size()));
            if (length) *length = v->data.size();
            if (version) *version = v->version;
            return 1;
        },
        0);
}

int32_t stateCas(gh_instance_host* h, gh_str key, uint64_t expected, gh_str value, uint64_t ttlMs,
                 uint64_t* version) {
    return guarded(
        [&] {
            if (!h || !h->services || !h->services->state || (value.len && !value.ptr)) return 0;
            auto v = h->services->state->compareAndSet(namespaced(h, key), expected, view(value),
                                                       ttlMs, nowMs());
            if (!v) return 0;
            if (version) *version = *v;
            return 1;
        },
        0);
}

gh_host_api makeTable() {
    gh_host_api t{};
    t.struct_size = sizeof(gh_host_api);
    t.abi_major = GH_ABI_MAJOR;
    t.abi_minor = GH_ABI_MINOR;
    t.features = GH_FEATURE_PAUSE | GH_FEATURE_BODY | GH_FEATURE_SHARED_STATE | GH_FEATURE_METRICS |
                 GH_FEATURE_CONSUMERS | GH_FEATURE_VARS | GH_FEATURE_REQUEST_INFO;
    t.log = hostLog;
    t.request_method = requestMethod;
    t.request_path = requestPath;
    t.request_query = requestQuery;
    t.request_host = requestHost;
    t.request_scheme = requestScheme;
    t.client_address = clientAddress;
    t.route_name = routeName;
    t.request_id = requestId;
    t.response_status = responseStatus;
    t.set_response_status = setResponseStatus;
    t.header_count = headerCount;
    t.header_at = headerAt;
    t.header_get = headerGet;
    t.header_set = headerSet;
    t.header_add = headerAdd;
    t.header_remove = headerRemove;
    t.set_path = setPath;
    t.set_query = setQuery;
    t.body_get = bodyGet;
    t.body_set = bodySet;
    t.respond = respond;
    t.set_consumer = setConsumer;
    t.consumer_id = consumerId;
    t.credential_find = credentialFind;
    t.consumer_get = consumerGet;
    t.var_set = varSet;
    t.var_get = varGet;
    t.request_info = requestInfo;
    t.reopen_generation = reopenGeneration;
    t.status_register = statusRegister;
    t.monotonic_ns = monotonicNs;
    t.unix_ms = unixMs;
    t.pause = pause;
    t.resume = resume;
    t.metric_define = metricDefine;
    t.metric_add = metricAdd;
    t.metric_set = metricSet;
    t.counter_add = counterAdd;
    t.state_get = stateGet;
    t.state_cas = stateCas;
    return t;
}

}  // namespace

const gh_host_api* hostApi() {
    static const gh_host_api table = makeTable();
    return &table;
}

}  // namespace gatehouse::plugins
