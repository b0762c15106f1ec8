/* "fake-auth": takes the consumer from the request header X-Consumer (id = name = value),
 * as an authentication plugin would after checking a credential. Priority 1000: it runs
 * before the order-* plugins, so consumer-scoped instances of those can be tested. */
#include "common.h"

static const gh_host_api* host;

static int32_t on_request(void* p, gh_request* r, void** ctx) {
    (void)p, (void)ctx;
    gh_str who;
    if (host->header_get(r, GH_REQUEST, cstr("X-Consumer"), 0, &who))
        host->set_consumer(r, who, who);
    return GH_CONTINUE;
}

static const gh_plugin_descriptor descriptor = {sizeof(gh_plugin_descriptor),
                                                GH_ABI_MAJOR,
                                                GH_ABI_MINOR,
                                                GH_PHASE_REQUEST,
                                                0,
                                                "fake-auth",
                                                "1.0.0",
                                                "sets the consumer from X-Consumer",
                                                "{}",
                                                1000,
                                                0,
                                                stateless_create,
                                                stateless_destroy,
                                                on_request,
                                                NULL,
                                                NULL,
                                                NULL};

GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v1(const gh_host_api* h,
                                                                uint32_t index) {
    host = h;
    return index == 0 ? &descriptor : NULL;
}
