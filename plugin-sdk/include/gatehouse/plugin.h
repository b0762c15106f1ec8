/*
 * gatehouse plugin ABI, version 1.
 *
 * A plugin is a shared object exporting one symbol, gatehouse_plugin_entry_v1, which the
 * gateway calls with index 0, 1, 2, ... until it returns NULL; each call returns the
 * descriptor of one plugin the object provides. Everything else reaches the plugin through
 * the host function table passed to that entry point. Plugins link nothing of gatehouse.
 *
 * Stability rules (docs/plugin-abi.md has the full policy):
 *   - Every struct starts with struct_size and only ever grows at its end. A reader checks
 *     struct_size before touching a field; a larger struct from a newer build is fine.
 *   - GH_ABI_MINOR grows when fields or host functions are appended; GH_ABI_MAJOR changes only
 *     when something is removed or changes meaning, and the entry symbol's name changes with
 *     it (gatehouse_plugin_entry_v2).
 *   - Only opaque handles, fixed-width integers and {ptr,len} strings cross the boundary: no
 *     C++ types, no exceptions, no memory allocated on one side and freed on the other.
 *
 * Threads: a plugin instance is shared by every worker thread, so instance_create's result
 * must be read-only or synchronize itself. Phase callbacks of one request run on one worker
 * thread, one at a time. Host functions taking a gh_request must be called from inside a
 * phase callback for that request (on the worker running it), except where noted.
 *
 * This header is C99 and includes only <stddef.h> and <stdint.h>.
 */
#ifndef GATEHOUSE_PLUGIN_H
#define GATEHOUSE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GH_ABI_MAJOR 1
#define GH_ABI_MINOR 2

#if defined(__GNUC__)
#define GH_EXPORT __attribute__((visibility("default")))
#else
#define GH_EXPORT
#endif

/* ---------------------------------------------------------------------------------------
 * Basic types
 */

/* A string: `len` bytes at `ptr`, not NUL-terminated, may contain any byte. Who owns the
 * bytes and how long they stay valid is said wherever a gh_str crosses the boundary. */
typedef struct gh_str {
    const char* ptr;
    size_t len;
} gh_str;

/* A header for respond(): both strings are copied by the host during the call. */
typedef struct gh_header {
    gh_str name;
    gh_str value;
} gh_header;

/* One request in flight. Opaque; valid only inside the phase callbacks of that request. */
typedef struct gh_request gh_request;

/* Per-instance host services (metrics, shared state). Opaque; valid from instance_create
 * until instance_destroy returns, usable from any thread. */
typedef struct gh_instance_host gh_instance_host;

/* A paused request's wake-up handle, see gh_host_api.pause. Opaque. */
typedef struct gh_resumer gh_resumer;

/* A metric defined at instance creation. Opaque; valid while its instance lives. */
typedef struct gh_metric gh_metric;

/* What a phase callback tells the host to do next. Returned as int32_t: any other value is
 * treated as GH_FAIL and logged.
 *   on_request  may return any of the four.
 *   on_response may return GH_CONTINUE, GH_PAUSE or GH_FAIL (GH_RESPOND there is a GH_FAIL).
 *   on_log      its value is ignored.
 * After GH_RESPOND or GH_FAIL in on_request (and for the gateway's own error responses), the
 * response still passes through on_response of every plugin the request reached (whose
 * on_request ran, or, for a plugin without one, whose place in the chain the request
 * passed), in reverse order; a GH_FAIL in on_response replaces the response with a 500 and
 * ends the phase. */
enum {
    GH_CONTINUE = 0, /* go on with the next plugin / the request */
    GH_RESPOND = 1,  /* answer now with what respond() set; the upstream is not contacted */
    GH_PAUSE = 2,    /* stop here until the resumer from pause() is resumed */
    GH_FAIL = 3      /* something went wrong: the client gets 500, the reason is logged */
};

/* Phases a descriptor implements (gh_plugin_descriptor.phases). */
enum {
    GH_PHASE_REQUEST = 1u << 0,       /* on_request */
    GH_PHASE_RESPONSE = 1u << 1,      /* on_response */
    GH_PHASE_LOG = 1u << 2,           /* on_log */
    GH_PHASE_REQUEST_BODY = 1u << 3,  /* on_request runs after the whole request body was
                                         read and buffered (body_get/body_set work on it) */
    GH_PHASE_RESPONSE_BODY = 1u << 4, /* on_response runs after the whole response body was
                                         read and buffered */
    GH_PHASE_LOG_ALL = 1u << 5        /* ABI 1.2: on_log for every request of the route, also
                                         those answered before the plugin's place in the chain
                                         (refused by an earlier plugin): an access log */
};

/* Host capabilities (gh_host_api.features); a descriptor lists what it needs in
 * required_features and is refused by a host that lacks any of them. */
enum {
    GH_FEATURE_PAUSE = 1u << 0,
    GH_FEATURE_BODY = 1u << 1,
    GH_FEATURE_SHARED_STATE = 1u << 2,
    GH_FEATURE_METRICS = 1u << 3,
    GH_FEATURE_CONSUMERS = 1u << 4,   /* ABI 1.1: credential_find, consumer_get */
    GH_FEATURE_VARS = 1u << 5,        /* ABI 1.2: var_set, var_get */
    GH_FEATURE_REQUEST_INFO = 1u << 6 /* ABI 1.2: request_info, reopen_generation */
};

/* Credential types for credential_find (ABI 1.1). */
enum { GH_CREDENTIAL_KEY_AUTH = 1, GH_CREDENTIAL_JWT = 2, GH_CREDENTIAL_BASIC_AUTH = 3 };

/* A consumer as the host's configuration knows it (ABI 1.1). The caller sets struct_size;
 * the host fills the fields that fit. Strings are borrowed until the callback returns. */
typedef struct gh_consumer {
    uint32_t struct_size;
    uint32_t reserved;
    gh_str id;
    gh_str username;
    gh_str custom_id;
    gh_str roles; /* comma-separated, no spaces; empty when none */
} gh_consumer;

/* The credential that matched (ABI 1.1); struct_size set by the caller. For JWT credentials
 * the key material is here: the algorithm the key is pinned to, and either the HMAC secret
 * (HS*) or a PEM public key (RS*, ES*). For basic-auth credentials `secret` is the password
 * hash, "$pbkdf2-sha256$i=<iterations>$<salt base64>$<hash base64>", which the plugin
 * verifies (off the worker: it is slow on purpose). Borrowed until the callback returns. */
typedef struct gh_credential {
    uint32_t struct_size;
    int32_t type; /* GH_CREDENTIAL_* */
    gh_str id;
    gh_str algorithm;
    gh_str secret;
    gh_str public_key;
    gh_str issuer;
    gh_str kid;
} gh_credential;

/* How the upstream part of a request went (gh_request_info.upstream_error, ABI 1.2). */
enum {
    GH_UPSTREAM_OK = 0,             /* a response head arrived, or no upstream was involved yet */
    GH_UPSTREAM_NO_TARGET = 1,      /* no target could be chosen (503) */
    GH_UPSTREAM_CONNECT_FAILED = 2, /* refused, unreachable (502) */
    GH_UPSTREAM_TIMEOUT = 3,        /* connect, send or read timeout (504) */
    GH_UPSTREAM_BROKEN = 4          /* closed, reset or answered something that is not HTTP (502) */
};

/* What the gateway knows about a request's progress (request_info, ABI 1.2). The caller sets
 * struct_size; the host fills the fields that fit. Times are microseconds. */
typedef struct gh_request_info {
    uint32_t struct_size;
    int32_t upstream_status; /* the upstream's response status; 0 when none arrived */
    int32_t upstream_error;  /* GH_UPSTREAM_* */
    uint32_t reserved;
    gh_str upstream_address; /* the target chosen ("host:port"); empty when none was */
    uint64_t bytes_in;       /* bytes read from the client for this request so far */
    uint64_t bytes_out;      /* bytes written to the client for this request so far */
    int64_t start_unix_us;   /* wall clock when the request head was complete */
    int64_t total_us;        /* from then to now (in on_log: to the last byte queued) */
    int64_t upstream_us;     /* request sent upstream to its response head; -1 if none */
} gh_request_info;

/* Which message a header or body function acts on. */
enum { GH_REQUEST = 0, GH_RESPONSE = 1 };

/* Log levels for gh_host_api.log. */
enum { GH_LOG_DEBUG = 0, GH_LOG_INFO = 1, GH_LOG_WARN = 2, GH_LOG_ERROR = 3 };

/* Metric kinds for gh_host_api.metric_define. */
enum { GH_METRIC_COUNTER = 0, GH_METRIC_GAUGE = 1 };

/* Result of counter_add (struct_size set by the caller; the host fills what it knows). */
typedef struct gh_counter_result {
    uint32_t struct_size;
    uint32_t reserved;
    int64_t count;            /* in the current window, after the add */
    int64_t previous;         /* in the window before it (for sliding-window estimates) */
    uint64_t window_start_ms; /* unix ms at which the current window started */
    uint64_t window_ms;       /* the window length used */
} gh_counter_result;

/* ---------------------------------------------------------------------------------------
 * Host function table. Passed to the entry point and to instance_create; valid for the
 * life of the process. Check struct_size (or abi_minor) before using a function that a
 * later minor version appended.
 *
 * Unless noted, a function returning int returns 1 on success and 0 on failure (wrong
 * phase, no such header, bad argument).
 */
typedef struct gh_host_api {
    uint32_t struct_size;
    uint32_t abi_major; /* GH_ABI_MAJOR of the host */
    uint32_t abi_minor; /* GH_ABI_MINOR of the host */
    uint32_t reserved;
    uint64_t features; /* GH_FEATURE_* the host provides */

    /* Writes a line to the gateway's event log, attributed to the plugin. `message` is
     * copied. Any thread. `instance` must be the instance_host of one of this plugin's
     * instances; with NULL nothing is logged. */
    void (*log)(const gh_instance_host* instance, int32_t level, gh_str message);

    /* Request attributes. The returned bytes belong to the host and stay valid until the
     * callback returns. Method, path (normalized; what routing saw, or what set_path set),
     * query (without '?'), host (lower case, no port), scheme ("http"/"https"), client
     * address (IP), route name (empty when none), request id. */
    gh_str (*request_method)(gh_request* r);
    gh_str (*request_path)(gh_request* r);
    gh_str (*request_query)(gh_request* r);
    gh_str (*request_host)(gh_request* r);
    gh_str (*request_scheme)(gh_request* r);
    gh_str (*client_address)(gh_request* r);
    gh_str (*route_name)(gh_request* r);
    gh_str (*request_id)(gh_request* r);
    /* The response status: 0 before a response exists (on_request), the upstream's or the
     * gateway's status in on_response and on_log. */
    int32_t (*response_status)(gh_request* r);
    /* Changes the response status (on_response only). */
    int32_t (*set_response_status)(gh_request* r, int32_t status);

    /* Headers of the request (which = GH_REQUEST: on_request and later; changes in
     * on_request reach the upstream) or of the response (GH_RESPONSE: on_response and
     * on_log; changes in on_response reach the client). Names are case-insensitive.
     * Returned strings belong to the host and stay valid until the callback returns or the
     * header is changed, whichever is first; arguments are copied. */
    size_t (*header_count)(gh_request* r, int32_t which);
    int32_t (*header_at)(gh_request* r, int32_t which, size_t index, gh_str* name, gh_str* value);
    /* The `nth` (0-based) header named `name`. */
    int32_t (*header_get)(gh_request* r, int32_t which, gh_str name, size_t nth, gh_str* value);
    /* Replaces every header named `name` with one. Names must be tokens and values must not
     * contain CR, LF or NUL. The framing headers Content-Length and Transfer-Encoding belong
     * to the host (body_set fixes the framing): setting or adding them returns 0. */
    int32_t (*header_set)(gh_request* r, int32_t which, gh_str name, gh_str value);
    int32_t (*header_add)(gh_request* r, int32_t which, gh_str name, gh_str value);
    /* Returns how many were removed. */
    int32_t (*header_remove)(gh_request* r, int32_t which, gh_str name);

    /* Rewrites the path and query sent upstream (on_request). The path must start with '/'.
     * Copied. */
    int32_t (*set_path)(gh_request* r, gh_str path);
    int32_t (*set_query)(gh_request* r, gh_str query);

    /* The buffered body (needs GH_PHASE_REQUEST_BODY / GH_PHASE_RESPONSE_BODY in the
     * descriptor, else returns 0). The bytes stay valid until the callback returns or the
     * body is replaced. body_set copies and fixes the framing (Content-Length). */
    int32_t (*body_get)(gh_request* r, int32_t which, gh_str* body);
    int32_t (*body_set)(gh_request* r, int32_t which, gh_str body);

    /* Prepares the response for GH_RESPOND (on_request): status 100-599, headers and body are
     * copied. Return GH_RESPOND from the callback afterwards. */
    int32_t (*respond)(gh_request* r, int32_t status, const gh_header* headers, size_t header_count,
                       gh_str body);

    /* The authenticated consumer of this request, set by an authentication plugin (id and
     * name are copied); plugin instances scoped to a consumer run only for its requests.
     * consumer_id returns an empty string when none is set. */
    int32_t (*set_consumer)(gh_request* r, gh_str id, gh_str name);
    gh_str (*consumer_id)(gh_request* r);

    /* Clocks. Any thread. */
    uint64_t (*monotonic_ns)(void);
    int64_t (*unix_ms)(void);

    /* Pausing (GH_FEATURE_PAUSE). In a phase callback, pause() returns a handle and the
     * callback then returns GH_PAUSE. From any thread, later, resume(handle) wakes the
     * request: the host calls the same phase callback of the same plugin again, with the
     * same *req_ctx, on the request's worker; keep your progress there. Call resume exactly
     * once per handle, even if the request ended meanwhile (then it does nothing); the handle
     * is invalid afterwards. resume() may run before the callback has even returned GH_PAUSE:
     * the wake-up is queued to the worker, which handles it after the callback. If the
     * callback returns anything but GH_PAUSE after pause(), the later resume does nothing.
     * pause() returns NULL when the request cannot pause now (outside on_request and
     * on_response, after the response head was sent, or a second time in one callback). A
     * request not resumed within the pause timeout ([plugins] pause_timeout_ms) fails with
     * 504. */
    gh_resumer* (*pause)(gh_request* r);
    void (*resume)(gh_resumer* resumer);

    /* Metrics (GH_FEATURE_METRICS), defined in instance_create, updated from any thread.
     * `name` must be a Prometheus metric name; the host adds labels plugin="<name>". */
    gh_metric* (*metric_define)(gh_instance_host* instance, int32_t kind, gh_str name, gh_str help);
    void (*metric_add)(gh_metric* metric, double delta); /* counters: delta >= 0 */
    void (*metric_set)(gh_metric* metric, double value); /* gauges */

    /* Shared state kept by the host (GH_FEATURE_SHARED_STATE): exact across workers, kept
     * across configuration reloads, namespaced per plugin name. Any thread.
     *
     * counter_add adds `delta` to the counter `key` in the fixed window of `window_ms`
     * (aligned to the unix epoch) and reports the counts; delta 0 just reads. window_ms 0, or
     * a key the host cannot track (its key cap is reached), returns 0. A counter is evicted
     * once even its `previous` window is over (two windows without a hit). */
    int32_t (*counter_add)(gh_instance_host* instance, gh_str key, uint64_t window_ms,
                           int64_t delta, gh_counter_result* result);
    /* state_get copies the value of `key` into buf (at most `capacity` bytes), sets *length
     * to its full length and *version to its version; returns 0 when there is no such key
     * (then *version = 0). state_cas stores `value` if the current version is `expected`
     * (0 = must not exist), sets *version to the new version and returns 1; else returns 0
     * and leaves the value alone (state_get tells the current version). `ttl_ms` (0 = none)
     * expires the key. Versions never repeat for the life of the process, also across
     * expiry, so a stale version can never match. */
    int32_t (*state_get)(gh_instance_host* instance, gh_str key, char* buf, size_t capacity,
                         size_t* length, uint64_t* version);
    int32_t (*state_cas)(gh_instance_host* instance, gh_str key, uint64_t expected, gh_str value,
                         uint64_t ttl_ms, uint64_t* version);

    /* ---- ABI 1.1 (GH_FEATURE_CONSUMERS) ---- */

    /* Finds the credential a request presents, in the configuration the request runs with.
     * GH_CREDENTIAL_KEY_AUTH: `lookup` is the API key as the client sent it (the host keeps
     * and compares only its SHA-256). GH_CREDENTIAL_JWT: `lookup` is the token's `kid`, or
     * its `iss` when it has no kid. GH_CREDENTIAL_BASIC_AUTH: `lookup` is the username (the
     * password is the plugin's to verify against credential->secret). On a match fills *consumer
     * and, when not NULL, *credential, and returns 1; returns 0 when nothing matches. Does not set
     * the request's consumer: call set_consumer once the request is authenticated. */
    int32_t (*credential_find)(gh_request* r, int32_t type, gh_str lookup, gh_consumer* consumer,
                               gh_credential* credential);
    /* The request's consumer (set_consumer), as configured: id, username, custom_id and
     * roles. Returns 0 when none is set or the id names no configured consumer. */
    int32_t (*consumer_get)(gh_request* r, gh_consumer* consumer);

    /* ---- ABI 1.2 (GH_FEATURE_VARS) ---- */

    /* Request variables: named values the plugins of one request hand to each other (an
     * authentication plugin tells an authorization plugin the token's roles, a log plugin
     * reads them), which, unlike headers, nothing the client sends can set. Any phase; they
     * live until the request ends. var_set copies (an empty value removes the name) and
     * returns 0 when the name is not [a-z0-9._-]{1,64}, the value is over 4096 bytes or the
     * request already has 32 names. var_get returns 1 and the value (valid until the callback
     * returns or the name is set again) or 0 when it is not set. Names other plugins are meant
     * to read are documented by the plugin that sets them; "auth.*" is the authentication
     * plugins' (docs/plugin-abi.md). */
    int32_t (*var_set)(gh_request* r, gh_str name, gh_str value);
    int32_t (*var_get)(gh_request* r, gh_str name, gh_str* value);

    /* (GH_FEATURE_REQUEST_INFO) The request's progress: the upstream target and its status or
     * failure, bytes and times, for logging and circuit breaking. Any phase; in on_log it is
     * final. Returns 1, or 0 when `info` is NULL or too small for struct_size. */
    int32_t (*request_info)(gh_request* r, gh_request_info* info);
    /* (GH_FEATURE_REQUEST_INFO) How many times the operator asked the gateway to reopen its
     * log files (SIGUSR1). A plugin writing its own files reopens them when this changes.
     * Any thread. */
    uint64_t (*reopen_generation)(gh_instance_host* instance);
    /* (GH_FEATURE_REQUEST_INFO) Registers, from instance_create, how the instance reports its
     * runtime state (a circuit breaker's states, say) as one JSON value, which the admin API
     * shows at GET /plugins/{id}/status. The host calls `status` on a control thread while
     * requests run (synchronize): it writes at most `capacity` bytes to `buf`, sets *length
     * to the full length and returns 1, or returns 0 when there is nothing to show; a longer
     * value is asked for again with a larger buffer. */
    void (*status_register)(gh_instance_host* instance,
                            int32_t (*status)(void* instance, char* buf, size_t capacity,
                                              size_t* length));
} gh_host_api;

/* ---------------------------------------------------------------------------------------
 * Plugin descriptor: returned by the entry point; must stay valid (static storage) until
 * the shared object is unloaded, which the host never does while an instance exists.
 */
typedef struct gh_plugin_descriptor {
    uint32_t struct_size;       /* sizeof(gh_plugin_descriptor) as the plugin was built */
    uint32_t abi_major;         /* GH_ABI_MAJOR the plugin was built against */
    uint32_t abi_minor;         /* the lowest host minor it needs */
    uint32_t phases;            /* GH_PHASE_* bits */
    uint64_t required_features; /* GH_FEATURE_* bits */
    const char* name;           /* NUL-terminated, [a-z0-9-]+, unique per gateway */
    const char* version;        /* NUL-terminated, free form (e.g. "1.2.0") */
    const char* description;    /* NUL-terminated, one line */
    const char* config_schema;  /* NUL-terminated JSON Schema (draft 7) of the config */
    int32_t default_priority;   /* higher runs earlier in on_request */
    uint32_t reserved;

    /* Creates an instance for one configuration (the JSON text, already validated against
     * config_schema; valid during the call). On success stores the instance in *instance
     * and returns 1. On failure writes a one-line reason (NUL-terminated, at most
     * error_capacity bytes) to `error` and returns 0: the configuration write is refused
     * with that reason. Called on a control thread, never on a worker. */
    int32_t (*instance_create)(const gh_host_api* host, gh_instance_host* instance_host,
                               gh_str config, void** instance, char* error, size_t error_capacity);
    /* Destroys an instance after its last request finished. Control thread. */
    void (*instance_destroy)(void* instance);

    /* Phase callbacks (NULL when the phase is not implemented). `req_ctx` points to one
     * pointer per plugin per request, initially NULL, for the plugin's own state; if it is
     * non-NULL when the request ends, on_done is called with it (always, even after an
     * error or a disconnect). Return one of GH_CONTINUE, GH_RESPOND, GH_PAUSE, GH_FAIL;
     * on_log's return value is ignored. */
    int32_t (*on_request)(void* instance, gh_request* r, void** req_ctx);
    int32_t (*on_response)(void* instance, gh_request* r, void** req_ctx);
    int32_t (*on_log)(void* instance, gh_request* r, void** req_ctx);
    void (*on_done)(void* instance, void* req_ctx);
} gh_plugin_descriptor;

/* The entry point every plugin exports. `host` is valid for the life of the process. */
typedef const gh_plugin_descriptor* (*gh_plugin_entry_fn)(const gh_host_api* host, uint32_t index);
#define GH_PLUGIN_ENTRY_SYMBOL "gatehouse_plugin_entry_v1"

GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v1(const gh_host_api* host,
                                                                uint32_t index);

#ifndef __cplusplus
/* Convenience for literals in C: GH_STR("x-header"). (C++: gatehouse::str in plugin.hpp.) */
#define GH_STR(literal) ((gh_str){(literal), sizeof(literal) - 1})
#endif

#ifdef __cplusplus
}
#endif

#endif /* GATEHOUSE_PLUGIN_H */
