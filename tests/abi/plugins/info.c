/* "info": request_info and reopen_generation (ABI 1.2), reported in response headers from
 * on_response: X-Info "status=<upstream status> error=<GH_UPSTREAM_*> address=<target>
 * in=<bytes_in > 0> start=<start_unix_us plausible> upstream=<upstream_us >= 0>" and
 * X-Info-Reopen: <reopen_generation>. */
#include "common.h"

#include <stdlib.h>

static const gh_host_api* host;

typedef struct {
    gh_instance_host* ih;
} info_instance;

static int32_t create(const gh_host_api* h, gh_instance_host* ih, gh_str config, void** out,
                      char* error, size_t cap) {
    (void)h, (void)config, (void)error, (void)cap;
    info_instance* i = malloc(sizeof *i);
    if (!i) return 0;
    i->ih = ih;
    *out = i;
    return 1;
}

static void destroy(void* p) {
    free(p);
}

static int32_t on_response(void* p, gh_request* r, void** ctx) {
    (void)ctx;
    info_instance* self = p;
    gh_request_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    if (!host->request_info(r, &info)) return GH_FAIL;
    gh_request_info tiny; /* a caller from a future with a 4-byte struct: refused cleanly */
    memset(&tiny, 0, sizeof tiny);
    tiny.struct_size = 2;
    const int refused = host->request_info(r, &tiny) == 0;
    const int64_t now_us = host->unix_ms() * 1000;
    const int start_ok =
        info.start_unix_us > now_us - 60000000 && info.start_unix_us <= now_us + 1000;
    char text[400];
    snprintf(text, sizeof text,
             "status=%d error=%d address=%.*s in=%d start=%d upstream=%d refused=%d",
             (int)info.upstream_status, (int)info.upstream_error, (int)info.upstream_address.len,
             info.upstream_address.ptr ? info.upstream_address.ptr : "", info.bytes_in > 0,
             start_ok, info.upstream_us >= 0, refused);
    host->header_set(r, GH_RESPONSE, cstr("X-Info"), cstr(text));
    char gen[32];
    snprintf(gen, sizeof gen, "%llu", (unsigned long long)host->reopen_generation(self->ih));
    host->header_set(r, GH_RESPONSE, cstr("X-Info-Reopen"), cstr(gen));
    return GH_CONTINUE;
}

static const gh_plugin_descriptor descriptor = {sizeof(gh_plugin_descriptor),
                                                GH_ABI_MAJOR,
                                                2,
                                                GH_PHASE_RESPONSE,
                                                GH_FEATURE_REQUEST_INFO,
                                                "info",
                                                "1.0.0",
                                                "reports request_info in response headers",
                                                "{}",
                                                500,
                                                0,
                                                create,
                                                destroy,
                                                NULL,
                                                on_response,
                                                NULL,
                                                NULL};

GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v1(const gh_host_api* h,
                                                                uint32_t index) {
    host = h;
    return index == 0 ? &descriptor : NULL;
}
