/* Plugins that do things wrong, to show the gateway survives them:
 *   garbage-action  on_request returns 42 (not an action)             → 500, logged
 *   fail-action     on_request returns GH_FAIL                        → 500, logged
 *   respond-nothing on_request returns GH_RESPOND without respond()   → 500, logged
 *   teapot          responds 418 with a body and a header when the request has X-Brew */
#include <stdlib.h>

#include "common.h"

static const gh_host_api* host;

static int32_t garbage(void* p, gh_request* r, void** ctx) {
    (void)p, (void)r, (void)ctx;
    return 42;
}
static int32_t fail(void* p, gh_request* r, void** ctx) {
    (void)p, (void)r, (void)ctx;
    return GH_FAIL;
}
static int32_t respond_nothing(void* p, gh_request* r, void** ctx) {
    (void)p, (void)r, (void)ctx;
    return GH_RESPOND;
}
static int32_t teapot(void* p, gh_request* r, void** ctx) {
    (void)p, (void)ctx;
    gh_str v;
    if (!host->header_get(r, GH_REQUEST, cstr("X-Brew"), 0, &v)) return GH_CONTINUE;
    gh_header h[] = {{cstr("X-Teapot"), cstr("yes")}, {cstr("Content-Type"), cstr("text/plain")}};
    host->respond(r, 418, h, 2, cstr("short and stout"));
    return GH_RESPOND;
}

#define D(NAME, FN)                                                                            \
    {                                                                                          \
        sizeof(gh_plugin_descriptor), GH_ABI_MAJOR, GH_ABI_MINOR, GH_PHASE_REQUEST, 0, NAME,   \
            "1.0.0", "misbehaves", "{}", 10, 0, stateless_create, stateless_destroy, FN, NULL, \
            NULL, NULL                                                                         \
    }

static const gh_plugin_descriptor descriptors[] = {
    D("garbage-action", garbage),
    D("fail-action", fail),
    D("respond-nothing", respond_nothing),
    D("teapot", teapot),
};

GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v1(const gh_host_api* h,
                                                                uint32_t index) {
    host = h;
    return index < sizeof descriptors / sizeof descriptors[0] ? &descriptors[index] : NULL;
}
