/* "shout": reads whole bodies. on_request upper-cases the request body; on_response
 * appends config "suffix" (default "!") to the response body. The host must fix the framing
 * (Content-Length) after both. */
#include <ctype.h>
#include <stdlib.h>

#include "common.h"

static const gh_host_api* host;

typedef struct {
    char suffix[32];
} instance_t;

static int32_t create(const gh_host_api* h, gh_instance_host* ih, gh_str config, void** out,
                      char* e, size_t n) {
    (void)h, (void)ih, (void)e, (void)n;
    instance_t* i = calloc(1, sizeof *i);
    if (!json_string(config, "suffix", i->suffix, sizeof i->suffix))
        snprintf(i->suffix, sizeof i->suffix, "!");
    *out = i;
    return 1;
}
static void destroy(void* p) {
    free(p);
}

static int32_t on_request(void* p, gh_request* r, void** ctx) {
    (void)p, (void)ctx;
    gh_str b;
    if (!host->body_get(r, GH_REQUEST, &b)) return GH_CONTINUE; /* no body */
    char* up = malloc(b.len + 1);
    for (size_t k = 0; k < b.len; ++k)
        up[k] = (char)toupper((unsigned char)b.ptr[k]);
    gh_str nb = {up, b.len};
    int ok = host->body_set(r, GH_REQUEST, nb);
    free(up);
    return ok ? GH_CONTINUE : GH_FAIL;
}

static int32_t on_response(void* p, gh_request* r, void** ctx) {
    (void)ctx;
    instance_t* i = p;
    gh_str b;
    if (!host->body_get(r, GH_RESPONSE, &b)) return GH_FAIL;
    size_t sl = strlen(i->suffix);
    char* out = malloc(b.len + sl);
    memcpy(out, b.ptr, b.len);
    memcpy(out + b.len, i->suffix, sl);
    gh_str nb = {out, b.len + sl};
    int ok = host->body_set(r, GH_RESPONSE, nb);
    free(out);
    return ok ? GH_CONTINUE : GH_FAIL;
}

static const gh_plugin_descriptor descriptor = {
    sizeof(gh_plugin_descriptor),
    GH_ABI_MAJOR,
    GH_ABI_MINOR,
    GH_PHASE_REQUEST | GH_PHASE_REQUEST_BODY | GH_PHASE_RESPONSE | GH_PHASE_RESPONSE_BODY,
    GH_FEATURE_BODY,
    "shout",
    "1.0.0",
    "upper-cases request bodies, suffixes response bodies",
    "{\"type\":\"object\",\"properties\":{\"suffix\":{\"type\":\"string\",\"maxLength\":16}},"
    "\"additionalProperties\":false}",
    30,
    0,
    create,
    destroy,
    on_request,
    on_response,
    NULL,
    NULL};

GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v1(const gh_host_api* h,
                                                                uint32_t index) {
    host = h;
    return index == 0 ? &descriptor : NULL;
}
