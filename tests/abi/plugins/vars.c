/* "vars": request variables (ABI 1.2) against the host's rules. on_request checks that a new
 * request starts with none (also on a kept-alive connection), that bad names, long values
 * and a 33rd name are refused, that set/get/remove round-trip, and reports the results in
 * the response header X-Vars from on_response, reading a variable set in on_request (they
 * live for the whole request). */
#include "common.h"

static const gh_host_api* host;

static int32_t set(gh_request* r, const char* name, const char* value) {
    return host->var_set(r, cstr(name), cstr(value));
}

static int32_t on_request(void* p, gh_request* r, void** ctx) {
    (void)p, (void)ctx;
    static char big[4098];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char name[80];
    gh_str v;
    int fresh = !host->var_get(r, cstr("t.0"), &v);
    int bad = set(r, "Upper", "x") + set(r, "sp ace", "x") + set(r, "", "x");
    memset(name, 'a', 65);
    name[65] = '\0';
    int long_name = set(r, name, "x");
    int big_value = set(r, "t.big", big);
    big[4096] = '\0';
    int max_value = set(r, "t.max", big); /* exactly 4096 bytes: accepted */
    set(r, "t.max", "");
    int count = 0;
    for (int i = 0; i < 40; ++i) {
        snprintf(name, sizeof name, "t.%d", i);
        char value[16];
        snprintf(value, sizeof value, "value-%d", i);
        count += set(r, name, value);
    }
    int got = host->var_get(r, cstr("t.5"), &v) && v.len == 7 && memcmp(v.ptr, "value-5", 7) == 0;
    int removed = set(r, "t.5", "") && !host->var_get(r, cstr("t.5"), &v);
    int refill = set(r, "t.new", "again");
    char report[200];
    snprintf(report, sizeof report,
             "fresh=%d bad=%d long=%d big=%d max=%d count=%d got=%d removed=%d refill=%d", fresh,
             bad, long_name, big_value, max_value, count, got, removed, refill);
    set(r, "t.new", ""); /* room for the report */
    set(r, "t.report", report);
    return GH_CONTINUE;
}

static int32_t on_response(void* p, gh_request* r, void** ctx) {
    (void)p, (void)ctx;
    gh_str report;
    if (host->var_get(r, cstr("t.report"), &report))
        host->header_set(r, GH_RESPONSE, cstr("X-Vars"), report);
    return GH_CONTINUE;
}

static const gh_plugin_descriptor descriptor = {sizeof(gh_plugin_descriptor),
                                                GH_ABI_MAJOR,
                                                2,
                                                GH_PHASE_REQUEST | GH_PHASE_RESPONSE,
                                                GH_FEATURE_VARS,
                                                "vars",
                                                "1.0.0",
                                                "exercises request variables",
                                                "{}",
                                                500,
                                                0,
                                                stateless_create,
                                                stateless_destroy,
                                                on_request,
                                                on_response,
                                                NULL,
                                                NULL};

GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v1(const gh_host_api* h,
                                                                uint32_t index) {
    host = h;
    return index == 0 ? &descriptor : NULL;
}
