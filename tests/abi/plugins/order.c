/* Three plugins, order-a/b/c (priorities 300/200/100), each appending its letter (or the
 * configured "letter") to the request header X-Order in on_request and to the response
 * header X-Order-Response in on_response: the header values show the phase order. */
#include <stdlib.h>

#include "common.h"

static const gh_host_api* host;

typedef struct {
    char letter[8];
} instance_t;

static int32_t create_default(const char* dflt, gh_str config, void** out) {
    instance_t* i = calloc(1, sizeof *i);
    if (!json_string(config, "letter", i->letter, sizeof i->letter))
        snprintf(i->letter, sizeof i->letter, "%s", dflt);
    *out = i;
    return 1;
}
static int32_t create_a(const gh_host_api* h, gh_instance_host* ih, gh_str c, void** o, char* e,
                        size_t n) {
    (void)h, (void)ih, (void)e, (void)n;
    return create_default("a", c, o);
}
static int32_t create_b(const gh_host_api* h, gh_instance_host* ih, gh_str c, void** o, char* e,
                        size_t n) {
    (void)h, (void)ih, (void)e, (void)n;
    return create_default("b", c, o);
}
static int32_t create_c(const gh_host_api* h, gh_instance_host* ih, gh_str c, void** o, char* e,
                        size_t n) {
    (void)h, (void)ih, (void)e, (void)n;
    return create_default("c", c, o);
}
static void destroy(void* i) {
    free(i);
}

static void append(gh_request* r, int32_t which, const char* header, const char* letter) {
    gh_str old = {"", 0};
    host->header_get(r, which, cstr(header), 0, &old);
    char buf[256];
    snprintf(buf, sizeof buf, "%.*s%s", (int)old.len, old.ptr, letter);
    host->header_set(r, which, cstr(header), cstr(buf));
}

static int32_t on_request(void* inst, gh_request* r, void** ctx) {
    (void)ctx;
    append(r, GH_REQUEST, "X-Order", ((instance_t*)inst)->letter);
    return GH_CONTINUE;
}
static int32_t on_response(void* inst, gh_request* r, void** ctx) {
    (void)ctx;
    append(r, GH_RESPONSE, "X-Order-Response", ((instance_t*)inst)->letter);
    return GH_CONTINUE;
}

#define SCHEMA                                                                                \
    "{\"type\":\"object\",\"properties\":{\"letter\":{\"type\":\"string\",\"maxLength\":4}}," \
    "\"additionalProperties\":false}"
#define DESCRIPTOR(NAME, PRIO, CREATE)                                                             \
    {                                                                                              \
        sizeof(gh_plugin_descriptor), GH_ABI_MAJOR, GH_ABI_MINOR,                                  \
            GH_PHASE_REQUEST | GH_PHASE_RESPONSE, 0, NAME, "1.0.0", "appends a letter to X-Order", \
            SCHEMA, PRIO, 0, CREATE, destroy, on_request, on_response, NULL, NULL                  \
    }

static const gh_plugin_descriptor descriptors[] = {
    DESCRIPTOR("order-a", 300, create_a),
    DESCRIPTOR("order-b", 200, create_b),
    DESCRIPTOR("order-c", 100, create_c),
};

GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v1(const gh_host_api* h,
                                                                uint32_t index) {
    host = h;
    return index < sizeof descriptors / sizeof descriptors[0] ? &descriptors[index] : NULL;
}
