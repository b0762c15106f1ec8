/* "counter": counts requests in the host's shared state (fixed window of config
 * "window_ms") and reports X-Hits: <count in this window> on the response; also keeps a
 * compare-and-set value "last" with the last request id, reported as X-Last-Version. Shared
 * across workers and kept across configuration reloads by the host. Defines the metric
 * gatehouse_test_counter_requests_total. */
#include <stdlib.h>

#include "common.h"

static const gh_host_api* host;

typedef struct {
    gh_instance_host* ih;
    long window_ms;
    gh_metric* requests;
} instance_t;

typedef struct {
    long long hits;
    unsigned long long version;
} request_t;

static int32_t create(const gh_host_api* h, gh_instance_host* ih, gh_str config, void** out,
                      char* e, size_t n) {
    (void)h, (void)e, (void)n;
    instance_t* i = calloc(1, sizeof *i);
    i->ih = ih;
    i->window_ms = json_int(config, "window_ms", 60000);
    i->requests =
        host->metric_define(ih, GH_METRIC_COUNTER, cstr("gatehouse_test_counter_requests_total"),
                            cstr("Requests the counter test plugin saw."));
    *out = i;
    return 1;
}
static void destroy(void* p) {
    free(p);
}

static int32_t on_request(void* p, gh_request* r, void** ctx) {
    instance_t* i = p;
    request_t* st = calloc(1, sizeof *st);
    *ctx = st;
    gh_counter_result res;
    res.struct_size = sizeof res;
    if (!host->counter_add(i->ih, cstr("hits"), (uint64_t)i->window_ms, 1, &res)) return GH_FAIL;
    st->hits = res.count;
    /* compare-and-set loop: store the request id under "last" */
    gh_str id = host->request_id(r);
    for (int tries = 0; tries < 100; ++tries) {
        char buf[64];
        size_t len = 0;
        uint64_t version = 0;
        host->state_get(i->ih, cstr("last"), buf, sizeof buf, &len, &version);
        uint64_t fresh = 0;
        if (host->state_cas(i->ih, cstr("last"), version, id, 0, &fresh)) {
            st->version = fresh;
            break;
        }
    }
    if (i->requests) host->metric_add(i->requests, 1);
    return GH_CONTINUE;
}

static int32_t on_response(void* p, gh_request* r, void** ctx) {
    (void)p;
    request_t* st = *ctx;
    char v[32];
    snprintf(v, sizeof v, "%lld", st->hits);
    host->header_set(r, GH_RESPONSE, cstr("X-Hits"), cstr(v));
    snprintf(v, sizeof v, "%llu", st->version);
    host->header_set(r, GH_RESPONSE, cstr("X-Last-Version"), cstr(v));
    return GH_CONTINUE;
}

static void on_done(void* p, void* ctx) {
    (void)p;
    free(ctx);
}

static const gh_plugin_descriptor descriptor = {
    sizeof(gh_plugin_descriptor),
    GH_ABI_MAJOR,
    GH_ABI_MINOR,
    GH_PHASE_REQUEST | GH_PHASE_RESPONSE,
    GH_FEATURE_SHARED_STATE | GH_FEATURE_METRICS,
    "counter",
    "1.0.0",
    "counts requests in shared state",
    "{\"type\":\"object\",\"properties\":{\"window_ms\":{\"type\":\"integer\",\"minimum\":1}},"
    "\"additionalProperties\":false}",
    40,
    0,
    create,
    destroy,
    on_request,
    on_response,
    NULL,
    on_done};

GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v1(const gh_host_api* h,
                                                                uint32_t index) {
    host = h;
    return index == 0 ? &descriptor : NULL;
}
