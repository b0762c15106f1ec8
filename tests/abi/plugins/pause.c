/* "pauser": on_request pauses and resumes from another thread after config "delay_ms"; on
 * the second call it sets X-Paused: <ms waited> and continues. With "phase":"response" it
 * pauses in on_response instead and sets X-Paused on the response. A delay longer than the
 * gateway's pause timeout shows the 504 (the late resume must be harmless). */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "common.h"

static const gh_host_api* host;

typedef struct {
    long delay_ms;
    int in_response;
} instance_t;

typedef struct {
    int resumed; /* 0: not paused yet, 1: paused, waiting */
    uint64_t started_ns;
} request_t;

typedef struct {
    gh_resumer* resumer;
    long delay_ms;
} job_t;

static void* wake_later(void* arg) {
    job_t* job = arg;
    struct timespec ts = {job->delay_ms / 1000, (job->delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    host->resume(job->resumer); /* from another thread, exactly once */
    free(job);
    return NULL;
}

static int32_t create(const gh_host_api* h, gh_instance_host* ih, gh_str config, void** out,
                      char* e, size_t n) {
    (void)h, (void)ih, (void)e, (void)n;
    instance_t* i = calloc(1, sizeof *i);
    i->delay_ms = json_int(config, "delay_ms", 100);
    char phase[16];
    json_string(config, "phase", phase, sizeof phase);
    i->in_response = strcmp(phase, "response") == 0;
    *out = i;
    return 1;
}
static void destroy(void* p) {
    free(p);
}

static int32_t step(instance_t* i, gh_request* r, void** ctx, int32_t which) {
    request_t* st = *ctx;
    if (!st) {
        st = calloc(1, sizeof *st);
        *ctx = st;
    }
    if (st->resumed == 0) {
        gh_resumer* res = host->pause(r);
        if (!res) return GH_FAIL;
        st->resumed = 1;
        st->started_ns = host->monotonic_ns();
        job_t* job = malloc(sizeof *job);
        job->resumer = res;
        job->delay_ms = i->delay_ms;
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_create(&t, &attr, wake_later, job);
        pthread_attr_destroy(&attr);
        return GH_PAUSE;
    }
    char waited[32];
    snprintf(waited, sizeof waited, "%llu",
             (unsigned long long)((host->monotonic_ns() - st->started_ns) / 1000000u));
    host->header_set(r, which, cstr("X-Paused"), cstr(waited));
    return GH_CONTINUE;
}

static int32_t on_request(void* p, gh_request* r, void** ctx) {
    instance_t* i = p;
    return i->in_response ? GH_CONTINUE : step(i, r, ctx, GH_REQUEST);
}
static int32_t on_response(void* p, gh_request* r, void** ctx) {
    instance_t* i = p;
    return i->in_response ? step(i, r, ctx, GH_RESPONSE) : GH_CONTINUE;
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
    GH_FEATURE_PAUSE,
    "pauser",
    "1.0.0",
    "pauses and resumes from another thread",
    "{\"type\":\"object\",\"properties\":{\"delay_ms\":{\"type\":\"integer\",\"minimum\":0},"
    "\"phase\":{\"enum\":[\"request\",\"response\"]}},\"additionalProperties\":false}",
    20,
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
