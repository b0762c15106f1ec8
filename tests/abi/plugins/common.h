/* Small helpers shared by the test plugins (plain C99, like a third party's plugin). */
#ifndef GH_TEST_PLUGIN_COMMON_H
#define GH_TEST_PLUGIN_COMMON_H

#include <gatehouse/plugin.h>
#include <stdio.h>
#include <string.h>

/* Finds "key":"value" in a flat JSON object (test configs only: no escapes in values). */
static inline int json_string(gh_str json, const char* key, char* out, size_t cap) {
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char* end = json.ptr + json.len;
    size_t plen = strlen(pattern);
    for (const char* p = json.ptr; p + plen <= end; ++p) {
        if (memcmp(p, pattern, plen) != 0) continue;
        p += plen;
        size_t n = 0;
        while (p < end && *p != '"' && n + 1 < cap)
            out[n++] = *p++;
        out[n] = '\0';
        return 1;
    }
    if (cap) out[0] = '\0';
    return 0;
}

/* Finds "key":<integer> in a flat JSON object. */
static inline long json_int(gh_str json, const char* key, long fallback) {
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char* end = json.ptr + json.len;
    size_t plen = strlen(pattern);
    for (const char* p = json.ptr; p + plen <= end; ++p) {
        if (memcmp(p, pattern, plen) != 0) continue;
        p += plen;
        long v = 0;
        int neg = 0, any = 0;
        if (p < end && *p == '-') {
            neg = 1;
            ++p;
        }
        while (p < end && *p >= '0' && *p <= '9') {
            v = v * 10 + (*p++ - '0');
            any = 1;
        }
        return any ? (neg ? -v : v) : fallback;
    }
    return fallback;
}

static inline int json_true(gh_str json, const char* key) {
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\":true", key);
    const char* end = json.ptr + json.len;
    size_t plen = strlen(pattern);
    for (const char* p = json.ptr; p + plen <= end; ++p)
        if (memcmp(p, pattern, plen) == 0) return 1;
    return 0;
}

static inline gh_str cstr(const char* s) {
    gh_str r = {s, strlen(s)};
    return r;
}

/* create/destroy for plugins that keep no per-instance state. */
static inline int32_t stateless_create(const gh_host_api* h, gh_instance_host* ih, gh_str config,
                                       void** out, char* err, size_t err_len) {
    (void)h, (void)ih, (void)config, (void)err, (void)err_len;
    *out = NULL;
    return 1;
}
static inline void stateless_destroy(void* instance) {
    (void)instance;
}

/* Appends a line to a file (test observation channel). */
static inline void append_line(const char* path, const char* line) {
    if (!path || !path[0]) return;
    FILE* f = fopen(path, "a");
    if (!f) return;
    fprintf(f, "%s\n", line);
    fclose(f);
}

#endif
