/* plugin.h must compile as strict ISO C (C99 and later) with every warning an error. */
#include "gatehouse/plugin.h"

static int32_t on_request(void* instance, gh_request* r, void** req_ctx) {
    (void)instance;
    (void)r;
    (void)req_ctx;
    return GH_CONTINUE;
}

/* Every field of the descriptor, in order, as a C99 initializer. */
static const gh_plugin_descriptor descriptor = {sizeof(gh_plugin_descriptor),
                                                GH_ABI_MAJOR,
                                                GH_ABI_MINOR,
                                                GH_PHASE_REQUEST,
                                                GH_FEATURE_METRICS,
                                                "compile-c",
                                                "0",
                                                "header check",
                                                "{}",
                                                0,
                                                0,
                                                NULL,
                                                NULL,
                                                on_request,
                                                NULL,
                                                NULL,
                                                NULL};

const gh_plugin_descriptor* gatehouse_plugin_entry_v1(const gh_host_api* host, uint32_t index) {
    gh_str s = GH_STR("x-literal");
    (void)host;
    (void)s;
    return index == 0 ? &descriptor : NULL;
}
