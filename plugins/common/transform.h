#pragma once

// What request-transformer, response-transformer and cors share: config-time validation of header
// names and values, header and query-string edits, a PCRE2 wrapper with bounded matching, and
// JSON body edits on dotted paths. Header-only; SDK types, POCO JSON and PCRE2 only.

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <Poco/Dynamic/Var.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/ParseHandler.h>
#include <Poco/JSON/Parser.h>
#include <Poco/JSON/Stringifier.h>

#include <gatehouse/plugin.hpp>

#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth_common.h"

namespace gatehouse::transform {

/// The JSON Schema properties of the body edits both transformers' "-body" plugins take
/// (`,"body": ..., "max_body_bytes": ...`); `overLimit` says what happens to larger bodies.
inline std::string bodySchemaProperties(std::string_view overLimit) {
    return R"JSON(,
    "body": {"type": "object", "additionalProperties": false,
             "description": "Edits of a JSON object body on dotted paths (user.address.city)",
             "properties": {
               "remove": {"type": "array", "maxItems": 64, "uniqueItems": true,
                          "items": {"type": "string", "minLength": 1, "maxLength": 512}},
               "rename": {"type": "object", "maxProperties": 64,
                          "propertyNames": {"minLength": 1, "maxLength": 512},
                          "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 512}},
               "set": {"type": "object", "maxProperties": 64, "propertyNames": {"minLength": 1, "maxLength": 512},
                       "description": "path -> any JSON value; replaces or adds"},
               "add": {"type": "object", "maxProperties": 64, "propertyNames": {"minLength": 1, "maxLength": 512},
                       "description": "path -> any JSON value; only when absent"}}},
    "max_body_bytes": {"type": "integer", "minimum": 1, "maximum": 16777216, "default": 1048576,
                       "description": ")JSON" +
           std::string(overLimit) + R"JSON("})JSON";
}

/// A transformer's schema: its common properties, plus the body edits for its "-body"
/// plugin.
inline std::string schemaText(std::string_view common, std::string_view body) {
    return R"JSON({"type": "object", "additionalProperties": false, "properties": {)JSON" +
           std::string(common) + std::string(body) + "}}";
}

using gatehouse::Message;
using gatehouse::Request;

// ---------------------------------------------------------------------------------------
// Header names and values

inline bool isTchar(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return c != '\0' && std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

/// RFC 9110 token (field names, methods).
inline bool isToken(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!isTchar(c)) return false;
    return true;
}

/// RFC 9110 field value: no control characters but HTAB (so no CR, LF, NUL), no surrounding
/// whitespace (it would be stripped on the wire and break round trips).
inline bool isFieldValue(std::string_view s) {
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c < 0x20 && c != '\t') || c == 0x7F) return false;
    }
    return s.empty() ||
           (s.front() != ' ' && s.front() != '\t' && s.back() != ' ' && s.back() != '\t');
}

inline bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

/// Headers the gateway writes or strips itself: editing them from a plugin either does
/// nothing (the host refuses or overwrites them) or breaks the framing, so configs that name
/// them are refused rather than silently ignored.
inline bool gatewayOwned(std::string_view name, Message which) {
    static constexpr std::string_view kBoth[] = {"content-length",   "transfer-encoding",
                                                 "connection",       "keep-alive",
                                                 "proxy-connection", "te",
                                                 "trailer",          "upgrade"};
    static constexpr std::string_view kRequest[] = {"host",
                                                    "expect",
                                                    "x-request-id",
                                                    "x-forwarded-for",
                                                    "x-forwarded-host",
                                                    "x-forwarded-port",
                                                    "x-forwarded-proto"};
    for (std::string_view n : kBoth)
        if (iequals(n, name)) return true;
    if (which == Message::Request)
        for (std::string_view n : kRequest)
            if (iequals(n, name)) return true;
    return false;
}

inline void checkHeaderName(std::string_view name, Message which, std::string_view where) {
    if (!isToken(name) || name.size() > 256)
        throw std::runtime_error(std::string(where) + ": \"" + std::string(name) +
                                 "\" is not a valid header name (RFC 9110 token)");
    if (gatewayOwned(name, which))
        throw std::runtime_error(std::string(where) + ": header " + std::string(name) +
                                 " is managed by the gateway and cannot be changed");
}

inline void checkHeaderValue(std::string_view name, std::string_view value,
                             std::string_view where) {
    if (!isFieldValue(value) || value.size() > 8192)
        throw std::runtime_error(std::string(where) + ": the value of " + std::string(name) +
                                 " has control characters, surrounding blanks or is too long");
}

// ---------------------------------------------------------------------------------------
// Config helpers (the config was validated against the schema; these only unpack it)

inline std::vector<std::string> stringList(const Poco::JSON::Object::Ptr& o, const char* key) {
    std::vector<std::string> out;
    if (!o) return out;
    const auto a = o->getArray(key);
    if (!a) return out;
    for (size_t i = 0; i < a->size(); ++i)
        out.push_back(a->getElement<std::string>(static_cast<unsigned>(i)));
    return out;
}

inline std::vector<std::pair<std::string, std::string>> stringMap(const Poco::JSON::Object::Ptr& o,
                                                                  const char* key) {
    std::vector<std::pair<std::string, std::string>> out;
    if (!o) return out;
    const auto m = o->getObject(key);
    if (!m) return out;
    for (const auto& name : m->getNames())  // JSON_PRESERVE_KEY_ORDER keeps config order
        out.emplace_back(name, m->getValue<std::string>(name));
    return out;
}

inline Poco::JSON::Object::Ptr parseObject(std::string_view json) {
    Poco::JSON::Parser parser(new Poco::JSON::ParseHandler(true));
    return parser.parse(std::string(json)).extract<Poco::JSON::Object::Ptr>();
}

// ---------------------------------------------------------------------------------------
// Header edits: remove, rename, set, add (only when absent), append — in that order.

struct HeaderOps {
    std::vector<std::string> remove;
    std::vector<std::pair<std::string, std::string>> rename, set, add, append;

    bool empty() const {
        return remove.empty() && rename.empty() && set.empty() && add.empty() && append.empty();
    }

    /// Reads {"remove": {"headers": [...]}, "rename": {"headers": {...}}, ...} of `config`.
    static HeaderOps fromConfig(const Poco::JSON::Object::Ptr& config, Message which) {
        HeaderOps ops;
        ops.remove = stringList(config->getObject("remove"), "headers");
        ops.rename = stringMap(config->getObject("rename"), "headers");
        ops.set = stringMap(config->getObject("set"), "headers");
        ops.add = stringMap(config->getObject("add"), "headers");
        ops.append = stringMap(config->getObject("append"), "headers");
        for (const auto& n : ops.remove)
            checkHeaderName(n, which, "remove.headers");
        for (const auto& [from, to] : ops.rename) {
            checkHeaderName(from, which, "rename.headers");
            checkHeaderName(to, which, "rename.headers");
        }
        const std::pair<const char*, const decltype(ops.set)*> valued[] = {
            {"set.headers", &ops.set}, {"add.headers", &ops.add}, {"append.headers", &ops.append}};
        for (const auto& [where, list] : valued)
            for (const auto& [n, v] : *list) {
                checkHeaderName(n, which, where);
                checkHeaderValue(n, v, where);
            }
        return ops;
    }

    void apply(const Request& r, Message which) const {
        for (const auto& n : remove)
            r.removeHeader(which, n);
        for (const auto& [from, to] : rename) {
            // Copy first: header views die with the next change.
            std::vector<std::string> values;
            for (size_t nth = 0;; ++nth) {
                const auto v = r.header(which, from, nth);
                if (!v) break;
                values.emplace_back(*v);
            }
            if (values.empty() || iequals(from, to)) continue;
            r.removeHeader(which, from);
            r.removeHeader(which, to);  // the renamed header replaces one of the new name
            for (const auto& v : values)
                r.addHeader(which, to, v);
        }
        for (const auto& [n, v] : set)
            r.setHeader(which, n, v);
        for (const auto& [n, v] : add)
            if (!r.header(which, n)) r.addHeader(which, n, v);
        for (const auto& [n, v] : append)
            r.addHeader(which, n, v);
    }
};

// ---------------------------------------------------------------------------------------
// Query strings: parameters are compared by their decoded names; parameters no edit touches
// keep their exact bytes, new ones are percent-encoded.

using gatehouse::auth::percentDecode;  // the one the auth plugins use for query keys

inline std::string percentEncode(std::string_view in) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (char ch : in) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out.push_back(ch);
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
    return out;
}

class Query {
public:
    explicit Query(std::string_view raw) {
        while (!raw.empty()) {
            const size_t amp = raw.find('&');
            const std::string_view part = raw.substr(0, amp);
            if (!part.empty()) {
                Param p;
                p.raw = std::string(part);
                const size_t eq = part.find('=');
                if (!percentDecode(part.substr(0, eq), p.name)) p.name = part.substr(0, eq);
                params_.push_back(std::move(p));
            }
            if (amp == std::string_view::npos) break;
            raw.remove_prefix(amp + 1);
        }
    }

    bool has(std::string_view name) const {
        for (const auto& p : params_)
            if (p.name == name) return true;
        return false;
    }
    void remove(std::string_view name) {
        std::vector<Param> kept;
        for (auto& p : params_)
            if (p.name != name) kept.push_back(std::move(p));
        params_ = std::move(kept);
    }
    void rename(std::string_view from, std::string_view to) {
        if (from == to || !has(from)) return;
        remove(to);
        for (auto& p : params_) {
            if (p.name != from) continue;
            const size_t eq = p.raw.find('=');
            p.raw = percentEncode(to) + (eq == std::string::npos ? "" : p.raw.substr(eq));
            p.name = std::string(to);
        }
    }
    /// Replaces the first parameter of that name in place (dropping the others), else appends.
    void set(std::string_view name, std::string_view value) {
        bool done = false;
        std::vector<Param> kept;
        for (auto& p : params_) {
            if (p.name != name) {
                kept.push_back(std::move(p));
            } else if (!done) {
                p.raw = percentEncode(name) + "=" + percentEncode(value);
                kept.push_back(std::move(p));
                done = true;
            }
        }
        params_ = std::move(kept);
        if (!done) append(name, value);
    }
    void append(std::string_view name, std::string_view value) {
        params_.push_back(
            Param{percentEncode(name) + "=" + percentEncode(value), std::string(name)});
    }
    std::string str() const {
        std::string out;
        for (const auto& p : params_) {
            if (!out.empty()) out.push_back('&');
            out += p.raw;
        }
        return out;
    }

private:
    struct Param {
        std::string raw;   // as sent: name[=value], still encoded
        std::string name;  // decoded
    };
    std::vector<Param> params_;
};

struct QueryOps {
    std::vector<std::string> remove;
    std::vector<std::pair<std::string, std::string>> rename, set, add, append;

    bool empty() const {
        return remove.empty() && rename.empty() && set.empty() && add.empty() && append.empty();
    }

    static QueryOps fromConfig(const Poco::JSON::Object::Ptr& config) {
        QueryOps ops;
        ops.remove = stringList(config->getObject("remove"), "query");
        ops.rename = stringMap(config->getObject("rename"), "query");
        ops.set = stringMap(config->getObject("set"), "query");
        ops.add = stringMap(config->getObject("add"), "query");
        ops.append = stringMap(config->getObject("append"), "query");
        return ops;
    }

    /// The edited query, or nothing when no edit applied.
    std::optional<std::string> apply(std::string_view raw) const {
        Query q(raw);
        for (const auto& n : remove)
            q.remove(n);
        for (const auto& [from, to] : rename)
            q.rename(from, to);
        for (const auto& [n, v] : set)
            q.set(n, v);
        for (const auto& [n, v] : add)
            if (!q.has(n)) q.append(n, v);
        for (const auto& [n, v] : append)
            q.append(n, v);
        std::string out = q.str();
        if (out == raw) return std::nullopt;
        return out;
    }
};

// ---------------------------------------------------------------------------------------
// PCRE2: compiled once per instance, matched with per-thread scratch whose limits make a
// pathological pattern fail instead of burning a worker (the kernel's route regexes do the
// same). The instance is shared by all workers; the scratch never is.

class Regex {
public:
    Regex(std::string_view pattern, uint32_t options) {
        int code = 0;
        PCRE2_SIZE offset = 0;
        code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                              options | PCRE2_NEVER_BACKSLASH_C, &code, &offset, nullptr);
        if (code_ == nullptr) {
            PCRE2_UCHAR buf[256];
            pcre2_get_error_message(code, buf, sizeof buf);
            throw std::runtime_error("invalid regex \"" + std::string(pattern) + "\" at offset " +
                                     std::to_string(offset) + ": " +
                                     reinterpret_cast<const char*>(buf));
        }
        pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);  // else the interpreter, with limits
        pcre2_pattern_info(code_, PCRE2_INFO_CAPTURECOUNT, &captures_);
        if (captures_ > 30) {
            pcre2_code_free(code_);
            throw std::runtime_error("regex \"" + std::string(pattern) +
                                     "\" has more than 30 capture groups");
        }
    }
    ~Regex() { pcre2_code_free(code_); }
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    uint32_t captureCount() const { return captures_; }
    /// The number of the group called `name`, or -1.
    int groupNumber(const std::string& name) const {
        const int n =
            pcre2_substring_number_from_name(code_, reinterpret_cast<PCRE2_SPTR>(name.c_str()));
        return n > 0 ? n : -1;
    }

    /// 1 on a match, 0 on none, -1 when the match limits were hit (treat as an error).
    int match(std::string_view subject) const {
        Scratch& s = scratch();
        const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(subject.data()),
                                   subject.size(), 0, 0, s.data, s.context);
        if (rc >= 0) return 1;
        return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
    }

    /// `subject` with its first match replaced by `replacement` ($1, ${1}, ${name}, $$), or
    /// nothing when there is no match. Throws when the match limits were hit.
    std::optional<std::string> substitute(std::string_view subject,
                                          std::string_view replacement) const {
        Scratch& s = scratch();
        std::string out(subject.size() + replacement.size() + 64, '\0');
        for (int attempt = 0; attempt < 2; ++attempt) {
            PCRE2_SIZE length = out.size();
            const int rc = pcre2_substitute(
                code_, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0,
                PCRE2_SUBSTITUTE_OVERFLOW_LENGTH, s.data, s.context,
                reinterpret_cast<PCRE2_SPTR>(replacement.data()), replacement.size(),
                reinterpret_cast<PCRE2_UCHAR*>(out.data()), &length);
            if (rc == 0) return std::nullopt;
            if (rc > 0) {
                out.resize(length);
                return out;
            }
            if (rc != PCRE2_ERROR_NOMEMORY) break;
            out.assign(length + 1, '\0');  // length is what it needs: once more with room
        }
        throw std::runtime_error("path rewrite failed (regex match limit reached)");
    }

private:
    struct Scratch {
        Scratch() {
            data = pcre2_match_data_create(32, nullptr);
            context = pcre2_match_context_create(nullptr);
            jitStack = pcre2_jit_stack_create(32 * 1024, 512 * 1024, nullptr);
            if (data == nullptr || context == nullptr || jitStack == nullptr) {
                release();
                throw std::bad_alloc();
            }
            pcre2_jit_stack_assign(context, nullptr, jitStack);
            pcre2_set_match_limit(context, 100000);
            pcre2_set_depth_limit(context, 1000);
        }
        ~Scratch() { release(); }
        Scratch(const Scratch&) = delete;
        Scratch& operator=(const Scratch&) = delete;
        void release() {
            if (jitStack != nullptr) pcre2_jit_stack_free(jitStack);
            if (context != nullptr) pcre2_match_context_free(context);
            if (data != nullptr) pcre2_match_data_free(data);
            jitStack = nullptr;
            context = nullptr;
            data = nullptr;
        }
        pcre2_match_data* data = nullptr;
        pcre2_match_context* context = nullptr;
        pcre2_jit_stack* jitStack = nullptr;
    };
    static Scratch& scratch() {
        thread_local Scratch s;
        return s;
    }

    pcre2_code* code_ = nullptr;
    uint32_t captures_ = 0;
};

/// Checks a pcre2_substitute replacement against `re` at config time: every $n / ${n} /
/// ${name} must name a group of the pattern, and a lone '$' must be written '$$'.
inline void checkReplacement(const Regex& re, std::string_view tpl) {
    for (size_t i = 0; i < tpl.size(); ++i) {
        if (tpl[i] != '$') continue;
        if (i + 1 >= tpl.size())
            throw std::runtime_error("path.replace: a '$' at the end (write $$ for a dollar)");
        const char c = tpl[i + 1];
        if (c == '$') {
            ++i;
            continue;
        }
        std::string ref;
        if (c == '{') {
            const size_t close = tpl.find('}', i + 2);
            if (close == std::string_view::npos)
                throw std::runtime_error("path.replace: unterminated ${");
            ref = std::string(tpl.substr(i + 2, close - i - 2));
            i = close;
        } else if (c >= '0' && c <= '9') {
            size_t j = i + 1;
            while (j < tpl.size() && tpl[j] >= '0' && tpl[j] <= '9')
                ++j;
            ref = std::string(tpl.substr(i + 1, j - i - 1));
            i = j - 1;
        } else {
            throw std::runtime_error(
                "path.replace: '$' must be followed by a group number, "
                "{name} or '$'");
        }
        if (ref.empty()) throw std::runtime_error("path.replace: empty group reference");
        const bool numeric = ref.find_first_not_of("0123456789") == std::string::npos;
        if (numeric ? (ref.size() > 2 || std::stoul(ref) > re.captureCount())
                    : re.groupNumber(ref) < 0)
            throw std::runtime_error("path.replace: $" + ref + " names no group of path.match");
    }
}

/// A path is safe to send upstream: starts with '/', no controls, blanks, '?', '#' or '\'.
inline bool isUpstreamPath(std::string_view p) {
    if (p.empty() || p.front() != '/' || p.size() > 8192) return false;
    for (char ch : p) {
        const auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c == 0x7F || c == '?' || c == '#' || c == '\\') return false;
    }
    return true;
}

// ---------------------------------------------------------------------------------------
// JSON bodies

/// application/json or application/<anything>+json, parameters ignored.
inline bool isJsonContentType(std::optional<std::string_view> ct) {
    if (!ct) return false;
    std::string_view t = ct->substr(0, ct->find(';'));
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t'))
        t.remove_suffix(1);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t'))
        t.remove_prefix(1);
    const std::string_view app = "application/";
    if (t.size() <= app.size() || !iequals(t.substr(0, app.size()), app)) return false;
    const std::string_view sub = t.substr(app.size());
    return iequals(sub, "json") || (sub.size() > 5 && iequals(sub.substr(sub.size() - 5), "+json"));
}

/// Content-Encoding other than identity: the bytes are not JSON text.
inline bool isEncoded(std::optional<std::string_view> ce) {
    return ce && !ce->empty() && !iequals(*ce, "identity");
}

using JsonPath = std::vector<std::string>;

inline constexpr size_t kMaxPathSegments = 16;
// Parse depth: POCO's parser enforces it iteratively; serializing and freeing the tree recurse
// (bounded by this plus kMaxPathSegments), so a hostile body cannot exhaust the stack.
inline constexpr size_t kMaxJsonDepth = 64;

inline JsonPath parsePath(std::string_view s, std::string_view where) {
    JsonPath out;
    while (true) {
        const size_t dot = s.find('.');
        const std::string_view seg = s.substr(0, dot);
        if (seg.empty())
            throw std::runtime_error(std::string(where) + ": \"" + std::string(s) +
                                     "\" has an empty segment (use a.b.c)");
        out.emplace_back(seg);
        if (dot == std::string_view::npos) break;
        s.remove_prefix(dot + 1);
    }
    if (out.size() > kMaxPathSegments)
        throw std::runtime_error(std::string(where) + ": paths have at most " +
                                 std::to_string(kMaxPathSegments) + " segments");
    return out;
}

class JsonOps {
public:
    enum class Result { Unchanged, Changed, NotObject, TooLarge, Invalid };

    bool empty() const {
        return remove_.empty() && rename_.empty() && set_.empty() && add_.empty();
    }
    size_t maxBytes() const { return maxBytes_; }

    /// Reads {"remove": [...], "rename": {...}, "set": {...}, "add": {...}} (the config's
    /// "body" object, may be null) and the size limit.
    static JsonOps fromConfig(const Poco::JSON::Object::Ptr& body, size_t maxBytes) {
        JsonOps ops;
        ops.maxBytes_ = maxBytes;
        if (!body) return ops;
        for (const auto& p : stringList(body, "remove"))
            ops.remove_.push_back(parsePath(p, "body.remove"));
        for (const auto& [from, to] : stringMap(body, "rename"))
            ops.rename_.emplace_back(parsePath(from, "body.rename"), parsePath(to, "body.rename"));
        for (const auto& [key, list] : {std::pair{"set", &ops.set_}, std::pair{"add", &ops.add_}}) {
            const auto m = body->getObject(key);
            if (!m) continue;
            for (const auto& name : m->getNames()) {
                // Kept as JSON text and parsed per request: a parsed object would be shared
                // (and mutated by later edits) across workers.
                std::ostringstream text;
                Poco::JSON::Stringifier::condense(m->get(name), text, Poco::JSON_WRAP_STRINGS);
                list->emplace_back(parsePath(name, std::string("body.") + key), text.str());
            }
        }
        return ops;
    }

    Result apply(std::string_view body, std::string* out) const {
        if (body.size() > maxBytes_) return Result::TooLarge;
        Poco::JSON::Object::Ptr root;
        try {
            Poco::JSON::Parser parser(new Poco::JSON::ParseHandler(true));
            parser.setDepth(kMaxJsonDepth);
            const Poco::Dynamic::Var v = parser.parse(std::string(body));
            if (v.type() != typeid(Poco::JSON::Object::Ptr)) return Result::NotObject;
            root = v.extract<Poco::JSON::Object::Ptr>();
        } catch (const std::exception&) {
            return Result::Invalid;
        }
        bool changed = false;
        for (const auto& p : remove_) {
            if (auto parent = walk(root, p, false); parent && parent->has(p.back())) {
                parent->remove(p.back());
                changed = true;
            }
        }
        for (const auto& [from, to] : rename_) {
            auto src = walk(root, from, false);
            if (!src || !src->has(from.back()) || from == to) continue;
            const Poco::Dynamic::Var value = src->get(from.back());
            auto dst = walk(root, to, true);
            if (!dst) continue;  // something on the way is not an object: leave it
            src->remove(from.back());
            dst->set(to.back(), value);
            changed = true;
        }
        for (const auto& [p, json] : set_)
            if (auto parent = walk(root, p, true)) {
                parent->set(p.back(), parseValue(json));
                changed = true;
            }
        for (const auto& [p, json] : add_)
            if (auto parent = walk(root, p, true); parent && !parent->has(p.back())) {
                parent->set(p.back(), parseValue(json));
                changed = true;
            }
        if (!changed) return Result::Unchanged;
        std::ostringstream text;
        Poco::JSON::Stringifier::condense(root, text, Poco::JSON_WRAP_STRINGS);
        *out = text.str();
        return Result::Changed;
    }

private:
    /// The object holding the last segment of `p`, creating missing objects on the way when
    /// `create`; null when a segment on the way is not an object.
    static Poco::JSON::Object::Ptr walk(Poco::JSON::Object::Ptr o, const JsonPath& p, bool create) {
        for (size_t i = 0; i + 1 < p.size(); ++i) {
            if (!o->has(p[i])) {
                if (!create) return nullptr;
                Poco::JSON::Object::Ptr child =
                    new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
                o->set(p[i], child);
                o = child;
                continue;
            }
            o = o->getObject(p[i]);
            if (!o) return nullptr;
        }
        return o;
    }

    static Poco::Dynamic::Var parseValue(const std::string& json) {
        // POCO parses only objects and arrays at the top: wrap scalars (and everything else).
        Poco::JSON::Parser parser(new Poco::JSON::ParseHandler(true));
        return parser.parse("[" + json + "]").extract<Poco::JSON::Array::Ptr>()->get(0);
    }

    std::vector<JsonPath> remove_;
    std::vector<std::pair<JsonPath, JsonPath>> rename_;
    std::vector<std::pair<JsonPath, std::string>> set_, add_;
    size_t maxBytes_ = 1 << 20;
};

}  // namespace gatehouse::transform
