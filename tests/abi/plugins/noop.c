/* noop-1 .. noop-5: every phase, doing nothing. bench/ measures the cost of a chain of five
 * against none. */
#include "common.h"

static int32_t pass(void* p, gh_request* r, void** ctx) {
    (void)p, (void)r, (void)ctx;
    return GH_CONTINUE;
}

#define D(NAME)                                                                                    \
    {                                                                                              \
        sizeof(gh_plugin_descriptor), GH_ABI_MAJOR, GH_ABI_MINOR,                                  \
            GH_PHASE_REQUEST | GH_PHASE_RESPONSE | GH_PHASE_LOG, 0, NAME, "1.0.0", "does nothing", \
            "{}", 0, 0, stateless_create, stateless_destroy, pass, pass, pass, NULL                \
    }

static const gh_plugin_descriptor descriptors[] = {D("noop-1"), D("noop-2"), D("noop-3"),
                                                   D("noop-4"), D("noop-5")};

GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v1(const gh_host_api* h,
                                                                uint32_t index) {
    (void)h;
    return index < sizeof descriptors / sizeof descriptors[0] ? &descriptors[index] : NULL;
}
