/*
 * add-header: an example gatehouse plugin in plain C99.
 *
 * Sets one header, replacing any header of the same name, either on the request before it
 * goes upstream (to = "request", the default) or on the response before it goes to the
 * client (to = "response"):
 *
 *   {"name": "X-Served-By", "value": "gatehouse", "to": "response"}
 *
 * It shows the whole ABI life cycle: one exported entry point returning a static
 * descriptor, an instance created from the JSON config (parsed here without any JSON
 * library, and rejected with a one-line reason when it is wrong), read-only instance data
 * shared by every worker thread, and phase callbacks that only use the host function table.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatehouse/plugin.h"

#define ADD_HEADER_SCHEMA                                                                        \
    "{\"type\":\"object\",\"required\":[\"name\",\"value\"],\"properties\":{\"name\":{\"type\":" \
    "\"string\",\"minLength\":1},\"value\":{\"type\":\"string\"},\"to\":{\"enum\":[\"request\"," \
    "\"response\"],\"default\":\"request\"}},\"additionalProperties\":false}"

/* One instance per configuration. Never written after instance_create, so every worker may
 * read it at once without locking. */
typedef struct add_header {
    const gh_host_api* host;
    const gh_instance_host* instance_host;
    char* name;
    size_t name_len;
    char* value;
    size_t value_len;
    int32_t to; /* GH_REQUEST or GH_RESPONSE */
} add_header;

/* ---------------------------------------------------------------------------------------
 * A small JSON reader for this config: one flat object whose values are strings.
 */

typedef struct text {
    char* data; /* malloc'ed; may contain NUL bytes (from \u0000) */
    size_t len;
    int present;
} text;

typedef struct parser {
    const char* p;
    const char* end;
    char* error;
    size_t error_capacity;
} parser;

/* Writes "config.<field>: <message>" (or "config: <message>") as the one-line reason. */
static int fail(parser* ps, const char* field, const char* message) {
    if (ps->error != NULL && ps->error_capacity > 0) {
        if (field != NULL) {
            snprintf(ps->error, ps->error_capacity, "config.%s: %s", field, message);
        } else {
            snprintf(ps->error, ps->error_capacity, "config: %s", message);
        }
    }
    return 0;
}

static void skip_ws(parser* ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ++ps->p;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads a JSON string at ps->p (which must be at its opening quote) into *out. `field`
 * names it in error messages (NULL for object keys). */
static int parse_string(parser* ps, const char* field, text* out) {
    size_t capacity;
    char* data;
    size_t len = 0;

    if (ps->p >= ps->end || *ps->p != '"') return fail(ps, field, "must be a string");
    ++ps->p;
    /* The decoded string is never longer than what is left of the input. */
    capacity = (size_t)(ps->end - ps->p) + 1;
    data = (char*)malloc(capacity);
    if (data == NULL) return fail(ps, field, "out of memory");

    for (;;) {
        unsigned char c;
        if (ps->p >= ps->end) {
            free(data);
            return fail(ps, field, "unterminated string");
        }
        c = (unsigned char)*ps->p++;
        if (c == '"') break;
        if (c < 0x20) {
            free(data);
            return fail(ps, field, "control character in a string (escape it)");
        }
        if (c == '\\') {
            char e;
            if (ps->p >= ps->end) {
                free(data);
                return fail(ps, field, "unterminated string");
            }
            e = *ps->p++;
            switch (e) {
                case '"':
                case '\\':
                case '/':
                    c = (unsigned char)e;
                    break;
                case 'b':
                    c = '\b';
                    break;
                case 'f':
                    c = '\f';
                    break;
                case 'n':
                    c = '\n';
                    break;
                case 'r':
                    c = '\r';
                    break;
                case 't':
                    c = '\t';
                    break;
                case 'u': {
                    unsigned code = 0;
                    int i;
                    if (ps->end - ps->p < 4) {
                        free(data);
                        return fail(ps, field, "truncated \\u escape");
                    }
                    for (i = 0; i < 4; ++i) {
                        int d = hex_digit(ps->p[i]);
                        if (d < 0) {
                            free(data);
                            return fail(ps, field, "invalid \\u escape");
                        }
                        code = code * 16u + (unsigned)d;
                    }
                    ps->p += 4;
                    if (code > 0x7Fu) {
                        free(data);
                        return fail(
                            ps, field,
                            "\\u escapes beyond ASCII are not supported (write the UTF-8 bytes)");
                    }
                    c = (unsigned char)code;
                    break;
                }
                default:
                    free(data);
                    return fail(ps, field, "invalid escape sequence");
            }
        }
        data[len++] = (char)c;
    }
    data[len] = '\0';
    out->data = data;
    out->len = len;
    out->present = 1;
    return 1;
}

static int text_is(const text* t, const char* literal) {
    size_t n = strlen(literal);
    return t->len == n && memcmp(t->data, literal, n) == 0;
}

static void text_free(text* t) {
    free(t->data);
    t->data = NULL;
    t->len = 0;
    t->present = 0;
}

/* RFC 9110 token: what a header name may be. */
static int is_token(const char* s, size_t len) {
    size_t i;
    if (len == 0) return 0;
    for (i = 0; i < len; ++i) {
        unsigned char c = (unsigned char)s[i];
        int alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alnum && (c == 0 || strchr("!#$%&'*+-.^_`|~", c) == NULL)) return 0;
    }
    return 1;
}

/* RFC 9110 field value: no control characters but HTAB (so no CR, LF or NUL). */
static int is_field_value(const char* s, size_t len) {
    size_t i;
    for (i = 0; i < len; ++i) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7F) return 0;
    }
    return 1;
}

static int iequals(const char* s, size_t len, const char* literal) {
    size_t i, n = strlen(literal);
    if (len != n) return 0;
    for (i = 0; i < n; ++i) {
        char a = s[i], b = literal[i];
        if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z') b = (char)(b - 'A' + 'a');
        if (a != b) return 0;
    }
    return 1;
}

/* Parses and checks the config; on success fills name, value and to of *out. */
static int parse_config(gh_str config, add_header* out, char* error, size_t error_capacity) {
    parser ps;
    text name = {NULL, 0, 0}, value = {NULL, 0, 0}, to = {NULL, 0, 0};
    int ok = 0;

    ps.p = config.ptr;
    ps.end = config.ptr + config.len;
    ps.error = error;
    ps.error_capacity = error_capacity;

    if (config.ptr == NULL) return fail(&ps, NULL, "missing");
    skip_ws(&ps);
    if (ps.p >= ps.end || *ps.p != '{') return fail(&ps, NULL, "must be a JSON object");
    ++ps.p;
    skip_ws(&ps);
    if (ps.p < ps.end && *ps.p == '}') {
        ++ps.p;
    } else {
        for (;;) {
            text key = {NULL, 0, 0};
            text* slot;
            const char* field;
            skip_ws(&ps);
            if (ps.p >= ps.end || *ps.p != '"') {
                fail(&ps, NULL, "expected a field name");
                goto done;
            }
            if (!parse_string(&ps, NULL, &key)) goto done;
            if (text_is(&key, "name")) {
                slot = &name;
                field = "name";
            } else if (text_is(&key, "value")) {
                slot = &value;
                field = "value";
            } else if (text_is(&key, "to")) {
                slot = &to;
                field = "to";
            } else {
                /* Name the field in the reason, but only as printable ASCII and briefly. */
                char message[96];
                char shown[33];
                size_t i, n = 0;
                for (i = 0; i < key.len && n < sizeof shown - 1; ++i) {
                    unsigned char c = (unsigned char)key.data[i];
                    shown[n++] = (c >= 0x20 && c < 0x7F && c != '"') ? (char)c : '?';
                }
                shown[n] = '\0';
                snprintf(message, sizeof message,
                         "unknown field \"%s%s\" (allowed: name, value, to)", shown,
                         key.len > n ? "..." : "");
                text_free(&key);
                fail(&ps, NULL, message);
                goto done;
            }
            text_free(&key);
            if (slot->present) {
                fail(&ps, field, "given twice");
                goto done;
            }
            skip_ws(&ps);
            if (ps.p >= ps.end || *ps.p != ':') {
                fail(&ps, NULL, "expected ':' after a field name");
                goto done;
            }
            ++ps.p;
            skip_ws(&ps);
            if (!parse_string(&ps, field, slot)) goto done;
            skip_ws(&ps);
            if (ps.p < ps.end && *ps.p == ',') {
                ++ps.p;
                continue;
            }
            if (ps.p < ps.end && *ps.p == '}') {
                ++ps.p;
                break;
            }
            fail(&ps, NULL, "expected ',' or '}'");
            goto done;
        }
    }
    skip_ws(&ps);
    if (ps.p != ps.end) {
        fail(&ps, NULL, "unexpected text after the object");
        goto done;
    }

    if (!name.present) {
        fail(&ps, "name", "required");
        goto done;
    }
    if (!value.present) {
        fail(&ps, "value", "required");
        goto done;
    }
    if (!is_token(name.data, name.len)) {
        fail(&ps, "name", "not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)");
        goto done;
    }
    if (iequals(name.data, name.len, "content-length") ||
        iequals(name.data, name.len, "transfer-encoding")) {
        fail(&ps, "name", "message framing headers are managed by the gateway");
        goto done;
    }
    if (!is_field_value(value.data, value.len)) {
        fail(&ps, "value", "control characters are not allowed in a header value");
        goto done;
    }
    if (!to.present || text_is(&to, "request")) {
        out->to = GH_REQUEST;
    } else if (text_is(&to, "response")) {
        out->to = GH_RESPONSE;
    } else {
        fail(&ps, "to", "must be \"request\" or \"response\"");
        goto done;
    }

    out->name = name.data;
    out->name_len = name.len;
    out->value = value.data;
    out->value_len = value.len;
    name.data = NULL; /* now owned by *out */
    value.data = NULL;
    ok = 1;

done:
    text_free(&name);
    text_free(&value);
    text_free(&to);
    return ok;
}

/* ---------------------------------------------------------------------------------------
 * ABI callbacks.
 */

static int32_t add_header_create(const gh_host_api* host, gh_instance_host* instance_host,
                                 gh_str config, void** instance, char* error,
                                 size_t error_capacity) {
    add_header* ah;
    /* Every function used here exists since ABI 1.0; a plugin needing a later one checks
     * host->struct_size the same way before calling it. */
    if (host == NULL ||
        host->struct_size < offsetof(gh_host_api, header_set) + sizeof host->header_set) {
        if (error != NULL && error_capacity > 0)
            snprintf(error, error_capacity, "host function table too small");
        return 0;
    }
    ah = (add_header*)calloc(1, sizeof *ah);
    if (ah == NULL) {
        if (error != NULL && error_capacity > 0) snprintf(error, error_capacity, "out of memory");
        return 0;
    }
    if (!parse_config(config, ah, error, error_capacity)) {
        free(ah);
        return 0;
    }
    ah->host = host;
    ah->instance_host = instance_host;
    *instance = ah;
    return 1;
}

static void add_header_destroy(void* instance) {
    add_header* ah = (add_header*)instance;
    if (ah == NULL) return;
    free(ah->name);
    free(ah->value);
    free(ah);
}

static int32_t apply(const add_header* ah, gh_request* r, int32_t which) {
    gh_str name, value;
    if (ah->to != which) return GH_CONTINUE;
    name.ptr = ah->name;
    name.len = ah->name_len;
    value.ptr = ah->value;
    value.len = ah->value_len;
    if (!ah->host->header_set(r, which, name, value)) {
        /* Only fails on a host bug or a misconfigured phase: fail closed, say why. */
        ah->host->log(ah->instance_host, GH_LOG_ERROR,
                      GH_STR("header_set refused the configured header"));
        return GH_FAIL;
    }
    return GH_CONTINUE;
}

static int32_t add_header_on_request(void* instance, gh_request* r, void** req_ctx) {
    (void)req_ctx;
    return apply((const add_header*)instance, r, GH_REQUEST);
}

static int32_t add_header_on_response(void* instance, gh_request* r, void** req_ctx) {
    (void)req_ctx;
    return apply((const add_header*)instance, r, GH_RESPONSE);
}

static const gh_plugin_descriptor add_header_descriptor = {
    .struct_size = sizeof(gh_plugin_descriptor),
    .abi_major = GH_ABI_MAJOR,
    .abi_minor = 0, /* uses nothing newer than ABI 1.0 */
    .phases = GH_PHASE_REQUEST | GH_PHASE_RESPONSE,
    .required_features = 0,
    .name = "add-header",
    .version = "1.0.0",
    .description =
        "Sets a header on the request sent upstream or on the response sent to the client",
    .config_schema = ADD_HEADER_SCHEMA,
    .default_priority = 0,
    .instance_create = add_header_create,
    .instance_destroy = add_header_destroy,
    .on_request = add_header_on_request,
    .on_response = add_header_on_response,
    .on_log = NULL,
    .on_done = NULL, /* never leaves anything in *req_ctx */
};

GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v1(const gh_host_api* host,
                                                                uint32_t index) {
    (void)host;
    return index == 0 ? &add_header_descriptor : NULL;
}
