/* "lifecycle": records its life in a file named by config "file", tagged by config "tag":
 * "create <tag>", "request <tag> <request id>", "log <tag> <status>", "done <tag>",
 * "destroy <tag>". Sets X-Lifecycle: <tag> on the request. A config with "reject": true is
 * refused by instance_create with a reason. */
#include <stdlib.h>

#include "common.h"

static const gh_host_api* host;

typedef struct {
    char file[512];
    char tag[64];
} instance_t;

static int32_t create(const gh_host_api* h, gh_instance_host* ih, gh_str config, void** out,
                      char* err, size_t cap) {
    (void)h, (void)ih;
    if (json_true(config, "reject")) {
        snprintf(err, cap, "lifecycle was told to refuse this configuration");
        return 0;
    }
    instance_t* i = calloc(1, sizeof *i);
    json_string(config, "file", i->file, sizeof i->file);
    json_string(config, "tag", i->tag, sizeof i->tag);
    char line[128];
    snprintf(line, sizeof line, "create %s", i->tag);
    append_line(i->file, line);
    *out = i;
    return 1;
}

static void destroy(void* p) {
    instance_t* i = p;
    char line[128];
    snprintf(line, sizeof line, "destroy %s", i->tag);
    append_line(i->file, line);
    free(i);
}

static int32_t on_request(void* p, gh_request* r, void** ctx) {
    instance_t* i = p;
    *ctx = i; /* non-NULL: on_done must come */
    gh_str id = host->request_id(r);
    char line[256];
    snprintf(line, sizeof line, "request %s %.*s", i->tag, (int)id.len, id.ptr);
    append_line(i->file, line);
    host->header_set(r, GH_REQUEST, cstr("X-Lifecycle"), cstr(i->tag));
    return GH_CONTINUE;
}

static int32_t on_log(void* p, gh_request* r, void** ctx) {
    (void)ctx;
    instance_t* i = p;
    char line[128];
    snprintf(line, sizeof line, "log %s %d", i->tag, (int)host->response_status(r));
    append_line(i->file, line);
    return GH_CONTINUE;
}

static void on_done(void* p, void* ctx) {
    instance_t* i = p;
    char line[128];
    snprintf(line, sizeof line, "done %s %s", i->tag, ctx == p ? "ok" : "wrong-ctx");
    append_line(i->file, line);
}

static const gh_plugin_descriptor descriptor = {
    sizeof(gh_plugin_descriptor),
    GH_ABI_MAJOR,
    GH_ABI_MINOR,
    GH_PHASE_REQUEST | GH_PHASE_LOG,
    0,
    "lifecycle",
    "1.0.0",
    "records its lifecycle in a file",
    "{\"type\":\"object\",\"properties\":{\"file\":{\"type\":\"string\"},\"tag\":{\"type\":"
    "\"string\"},"
    "\"reject\":{\"type\":\"boolean\"}},\"required\":[\"tag\"],\"additionalProperties\":false}",
    50,
    0,
    create,
    destroy,
    on_request,
    NULL,
    on_log,
    on_done};

GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v1(const gh_host_api* h,
                                                                uint32_t index) {
    host = h;
    return index == 0 ? &descriptor : NULL;
}
