/* Plugins the loader must refuse (or, for the last, accept), each built from this file with
 * one REFUSE_* macro defined by CMake:
 *   REFUSE_MAJOR       descriptor says ABI major 2
 *   REFUSE_MINOR       needs host minor 99
 *   REFUSE_FEATURE     requires an unknown host feature
 *   REFUSE_SMALL       struct_size smaller than a 1.0 descriptor
 *   REFUSE_SCHEMA      config schema is not JSON
 *   REFUSE_V2_ENTRY    exports only gatehouse_plugin_entry_v2
 *   ACCEPT_FUTURE      a descriptor from a future minor: larger, with fields this host does
 *                      not know after the 1.0 ones (must load, and work) */
#include "common.h"

static const gh_host_api* host;

static int32_t on_request(void* p, gh_request* r, void** ctx) {
    (void)p, (void)ctx;
    host->header_set(r, GH_REQUEST, cstr("X-Future"), cstr("yes"));
    return GH_CONTINUE;
}

#ifdef ACCEPT_FUTURE
typedef struct {
    gh_plugin_descriptor v1;
    void* on_something_new; /* a field a later minor might append */
    uint64_t more_flags;
} future_descriptor;
static const future_descriptor future = {
    {sizeof(future_descriptor), GH_ABI_MAJOR, GH_ABI_MINOR, GH_PHASE_REQUEST, 0, "future-plugin",
     "9.0.0", "from the future", "{}", 0, 0, stateless_create, stateless_destroy, on_request, NULL,
     NULL, NULL},
    (void*)0,
    0xffffffffffffffffull};
#define THE_DESCRIPTOR (&future.v1)
#else
#if defined(REFUSE_MAJOR)
#define NAME "wrong-major"
#define MAJOR 2
#else
#define MAJOR GH_ABI_MAJOR
#endif
#if defined(REFUSE_MINOR)
#define NAME "too-new-minor"
#define MINOR 99
#else
#define MINOR GH_ABI_MINOR
#endif
#if defined(REFUSE_FEATURE)
#define NAME "missing-feature"
#define FEATURES (1ull << 40)
#else
#define FEATURES 0
#endif
#if defined(REFUSE_SMALL)
#define NAME "small-descriptor"
#define SIZE 16
#else
#define SIZE sizeof(gh_plugin_descriptor)
#endif
#if defined(REFUSE_SCHEMA)
#define NAME "bad-schema"
#define SCHEMA "{not json"
#else
#define SCHEMA "{}"
#endif
#if defined(REFUSE_V2_ENTRY)
#define NAME "v2-entry"
#endif
static const gh_plugin_descriptor descriptor = {
    SIZE,   MAJOR, MINOR, GH_PHASE_REQUEST, FEATURES,          NAME,       "1.0.0", "refused",
    SCHEMA, 0,     0,     stateless_create, stateless_destroy, on_request, NULL,    NULL,
    NULL};
#define THE_DESCRIPTOR (&descriptor)
#endif

#ifdef REFUSE_V2_ENTRY
GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v2(const gh_host_api* h,
                                                                uint32_t index);
GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v2(const gh_host_api* h,
                                                                uint32_t index) {
#else
GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v1(const gh_host_api* h,
                                                                uint32_t index) {
#endif
    host = h;
    return index == 0 ? THE_DESCRIPTOR : NULL;
}
