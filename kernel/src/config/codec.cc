#include "config/codec.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/JSONException.h>
#include <Poco/JSON/Parser.h>
#include <Poco/UUIDGenerator.h>

#include <algorithm>
#include <limits>
#include <set>
#include <sstream>
#include <string_view>
#include <unordered_set>

#include "config/credentials.h"
#include "http/ascii.h"
#include "http/path.h"
#include "router/regex.h"
#include "router/route_table.h"
#include "upstream/target.h"

namespace gatehouse::config {
namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

bool isObject(const Poco::Dynamic::Var& v) {
    return v.type() == typeid(Object::Ptr);
}
bool isArray(const Poco::Dynamic::Var& v) {
    return v.type() == typeid(Array::Ptr);
}

/// Reads one JSON object field by field, recording errors under `path`.
class Reader {
public:
    Reader(const Object::Ptr& o, std::string path, FieldErrors& errors,
           std::initializer_list<const char*> allowed)
        : o_(o), path_(std::move(path)), errors_(errors) {
        std::set<std::string> ok(allowed.begin(), allowed.end());
        for (const auto& [k, v] : *o_)
            if (!ok.count(k)) error(k, "unknown field");
    }

    std::string at(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
    void error(const std::string& key, const std::string& msg) { errors_.emplace(at(key), msg); }
    bool has(const char* key) const { return o_->has(key) && !o_->get(key).isEmpty(); }

    std::optional<std::string> str(const char* key, bool required = false) {
        if (!has(key)) {
            if (required) error(key, "is required");
            return std::nullopt;
        }
        const auto v = o_->get(key);
        if (!v.isString()) {
            error(key, "must be a string");
            return std::nullopt;
        }
        return v.extract<std::string>();
    }

    std::optional<int64_t> integer(const char* key, int64_t min, int64_t max) {
        if (!has(key)) return std::nullopt;
        const auto v = o_->get(key);
        if (!v.isInteger()) {
            error(key, "must be an integer");
            return std::nullopt;
        }
        int64_t n = 0;
        try {
            n = v.convert<int64_t>();
        } catch (...) {
            error(key, "must be an integer");
            return std::nullopt;
        }
        if (n < min || n > max) {
            error(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
            return std::nullopt;
        }
        return n;
    }

    std::optional<bool> boolean(const char* key) {
        if (!has(key)) return std::nullopt;
        const auto v = o_->get(key);
        if (!v.isBoolean()) {
            error(key, "must be true or false");
            return std::nullopt;
        }
        return v.extract<bool>();
    }

    Object::Ptr object(const char* key) {
        if (!has(key)) return nullptr;
        const auto v = o_->get(key);
        if (!isObject(v)) {
            error(key, "must be an object");
            return nullptr;
        }
        return v.extract<Object::Ptr>();
    }

    Array::Ptr array(const char* key) {
        if (!has(key)) return nullptr;
        const auto v = o_->get(key);
        if (!isArray(v)) {
            error(key, "must be an array");
            return nullptr;
        }
        return v.extract<Array::Ptr>();
    }

    std::vector<std::string> strings(const char* key) {
        std::vector<std::string> out;
        Array::Ptr a = array(key);
        if (!a) return out;
        for (size_t i = 0; i < a->size(); ++i) {
            const auto v = a->get(static_cast<unsigned>(i));
            if (!v.isString()) {
                error(std::string(key) + "[" + std::to_string(i) + "]", "must be a string");
                continue;
            }
            out.push_back(v.extract<std::string>());
        }
        return out;
    }

private:
    Object::Ptr o_;
    std::string path_;
    FieldErrors& errors_;
};

void readMeta(Reader& r, EntityMeta& m, const char* nameKey = "name") {
    if (auto id = r.str("id")) {
        Poco::UUID parsed;
        if (!parsed.tryParse(*id))
            r.error("id", "must be a UUID");
        else
            m.id = parsed.toString();
    }
    if (m.id.empty() && !r.has("id")) {
        m.id = newUuid();
        m.generatedId = true;
    }
    if (auto name = r.str(nameKey, true)) {
        if (!isValidName(*name))
            r.error(nameKey,
                    "must be 1-128 characters of letters, digits, '.', '_', '~', '-', starting "
                    "with a letter or digit");
        m.name = *name;
    }
    m.tags = r.strings("tags");
    for (size_t i = 0; i < m.tags.size(); ++i)
        if (m.tags[i].empty() || m.tags[i].size() > 128)
            r.error("tags[" + std::to_string(i) + "]", "must be 1-128 characters");
    m.createdAt = r.integer("created_at", 0, std::numeric_limits<int32_t>::max() * 4ll).value_or(0);
    m.updatedAt = r.integer("updated_at", 0, std::numeric_limits<int32_t>::max() * 4ll).value_or(0);
}

Timeouts readTimeouts(const Object::Ptr& o, const std::string& path, FieldErrors& errors) {
    Timeouts t;
    if (!o) return t;
    Reader r(o, path, errors, {"connect_ms", "send_ms", "read_ms"});
    constexpr int64_t kDay = 86'400'000;
    if (auto v = r.integer("connect_ms", 1, kDay)) t.connectMs = static_cast<uint32_t>(*v);
    if (auto v = r.integer("send_ms", 1, kDay)) t.sendMs = static_cast<uint32_t>(*v);
    if (auto v = r.integer("read_ms", 1, kDay)) t.readMs = static_cast<uint32_t>(*v);
    return t;
}

void checkRegex(const std::string& pattern, const std::string& path, FieldErrors& errors) {
    std::string err;
    if (!router::Regex::compile(pattern, &err)) errors.emplace(path, err);
}

/// {"X-Beta": "1"} or {"X-Beta": ["1", "2"]} or {"X-Beta": []} (presence).
std::vector<FieldMatch> readFieldMatches(const Object::Ptr& o, const std::string& path,
                                         FieldErrors& errors, bool headerNames) {
    std::vector<FieldMatch> out;
    if (!o) return out;
    for (const auto& [name, v] : *o) {
        const std::string at = path + "." + name;
        FieldMatch m;
        m.name = name;
        if (name.empty() || (headerNames && !http::isToken(name))) {
            errors.emplace(at, "is not a valid name");
            continue;
        }
        if (v.isString()) {
            m.values.push_back(v.extract<std::string>());
        } else if (isArray(v)) {
            const auto a = v.extract<Array::Ptr>();
            for (size_t i = 0; i < a->size(); ++i) {
                const auto item = a->get(static_cast<unsigned>(i));
                if (!item.isString()) {
                    errors.emplace(at + "[" + std::to_string(i) + "]", "must be a string");
                    continue;
                }
                m.values.push_back(item.extract<std::string>());
            }
        } else {
            errors.emplace(at, "must be a string or an array of strings");
            continue;
        }
        for (size_t i = 0; i < m.values.size(); ++i)
            if (!m.values[i].empty() && m.values[i].front() == '~')
                checkRegex(m.values[i].substr(1), at + "[" + std::to_string(i) + "]", errors);
        out.push_back(std::move(m));
    }
    return out;
}

bool validHostPattern(const std::string& h) {
    std::string_view s = h;
    if (s.rfind("*.", 0) == 0) s.remove_prefix(2);
    if (s.empty() || s.size() > 253) return false;
    for (char c : s) {
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return false;
    }
    return s.front() != '.' && s.back() != '.';
}

Array::Ptr toArray(const std::vector<std::string>& v) {
    Array::Ptr a = new Array;
    for (const auto& s : v)
        a->add(s);
    return a;
}

Object::Ptr timeoutsJson(const Timeouts& t) {
    Object::Ptr o = new Object;
    if (t.connectMs) o->set("connect_ms", *t.connectMs);
    if (t.sendMs) o->set("send_ms", *t.sendMs);
    if (t.readMs) o->set("read_ms", *t.readMs);
    return o;
}

Object::Ptr fieldMatchesJson(const std::vector<FieldMatch>& ms) {
    Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
    for (const auto& m : ms)
        o->set(m.name, toArray(m.values));
    return o;
}

void metaJson(Object::Ptr& o, const EntityMeta& m) {
    o->set("id", m.id);
    o->set("name", m.name);
    o->set("tags", toArray(m.tags));
    o->set("created_at", m.createdAt);
    o->set("updated_at", m.updatedAt);
}

}  // namespace

std::string newUuid() {
    return Poco::UUIDGenerator::defaultGenerator().createRandom().toString();
}

bool isValidName(const std::string& name) {
    if (name.empty() || name.size() > 128) return false;
    for (size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        const bool alnum =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '~' && c != '-'))) return false;
    }
    return true;
}

UpstreamSpec upstreamFromJson(const Object::Ptr& o, const std::string& path, FieldErrors& errors) {
    UpstreamSpec u;
    Reader r(o, path, errors,
             {"id", "name", "tags", "created_at", "updated_at", "algorithm", "hash_on", "hash_key",
              "targets", "timeouts"});
    readMeta(r, u.meta);
    if (auto a = r.str("algorithm")) {
        if (*a == "round-robin")
            u.algorithm = Algorithm::kRoundRobin;
        else if (*a == "least-connections")
            u.algorithm = Algorithm::kLeastConnections;
        else if (*a == "consistent-hash")
            u.algorithm = Algorithm::kConsistentHash;
        else
            r.error("algorithm", "must be one of round-robin, least-connections, consistent-hash");
    }
    if (auto h = r.str("hash_on")) {
        if (u.algorithm != Algorithm::kConsistentHash)
            r.error("hash_on", "only applies to algorithm consistent-hash");
        if (*h == "ip")
            u.hashOn = HashOn::kIp;
        else if (*h == "header")
            u.hashOn = HashOn::kHeader;
        else if (*h == "cookie")
            u.hashOn = HashOn::kCookie;
        else
            r.error("hash_on", "must be one of ip, header, cookie");
    }
    if (auto k = r.str("hash_key")) u.hashKey = *k;
    if (u.hashOn != HashOn::kIp && u.hashKey.empty())
        r.error("hash_key", "is required when hash_on is header or cookie");
    if (u.hashOn == HashOn::kHeader && !u.hashKey.empty() && !http::isToken(u.hashKey))
        r.error("hash_key", "is not a valid header name");

    if (Array::Ptr targets = r.array("targets")) {
        std::set<std::string> seen;
        for (size_t i = 0; i < targets->size(); ++i) {
            const std::string at = r.at("targets[" + std::to_string(i) + "]");
            const auto v = targets->get(static_cast<unsigned>(i));
            if (!isObject(v)) {
                errors.emplace(at, "must be an object");
                continue;
            }
            Reader tr(v.extract<Object::Ptr>(), at, errors, {"address", "weight"});
            TargetSpec t;
            if (auto addr = tr.str("address", true)) {
                std::string host;
                uint16_t port = 0;
                if (!upstream::parseTargetAddress(*addr, &host, &port))
                    tr.error("address", "must be host:port with a port of 1-65535");
                else if (!seen.insert(*addr).second)
                    tr.error("address", "is listed twice");
                t.address = *addr;
            }
            if (auto w = tr.integer("weight", 0, 65535)) t.weight = static_cast<uint32_t>(*w);
            u.targets.push_back(std::move(t));
        }
    }
    u.timeouts = readTimeouts(r.object("timeouts"), r.at("timeouts"), errors);
    return u;
}

RouteSpec routeFromJson(const Object::Ptr& o, const std::string& path, FieldErrors& errors) {
    RouteSpec rt;
    Reader r(o, path, errors,
             {"id", "name", "tags", "created_at", "updated_at", "priority", "enabled", "match",
              "upstream", "strip_prefix", "rewrite_path", "preserve_host", "timeouts"});
    readMeta(r, rt.meta);
    if (auto p = r.integer("priority", -1'000'000, 1'000'000))
        rt.priority = static_cast<int32_t>(*p);
    if (auto e = r.boolean("enabled")) rt.enabled = *e;

    if (Object::Ptr m = r.object("match")) {
        const std::string mp = r.at("match");
        Reader mr(m, mp, errors, {"paths", "methods", "hosts", "headers", "query", "cookies"});
        rt.paths = mr.strings("paths");
        for (size_t i = 0; i < rt.paths.size(); ++i) {
            const std::string at = mp + ".paths[" + std::to_string(i) + "]";
            const std::string& p = rt.paths[i];
            if (!p.empty() && p.front() == '~') {
                checkRegex(p.substr(1), at, errors);
            } else {
                const std::string_view text =
                    (!p.empty() && p.front() == '=') ? std::string_view(p).substr(1) : p;
                std::string normalized;
                const char* why = "";
                if (text.empty() || text.front() != '/')
                    errors.emplace(at, "must start with / (or =/ for exact, ~ for a regex)");
                else if (text.find_first_of("?#") != std::string_view::npos)
                    errors.emplace(at, "must not contain '?' or '#'");
                else if (!http::normalizePath(text, &normalized, &why))
                    errors.emplace(at, why);
                else if (normalized != text)
                    errors.emplace(
                        at, "must be normalized (requests are matched after normalization), e.g. " +
                                normalized);
            }
        }
        rt.methods = mr.strings("methods");
        for (size_t i = 0; i < rt.methods.size(); ++i)
            if (router::methodFromName(rt.methods[i]) < 0)
                errors.emplace(mp + ".methods[" + std::to_string(i) + "]",
                               "is not an HTTP method (use upper case)");
        rt.hosts = mr.strings("hosts");
        for (size_t i = 0; i < rt.hosts.size(); ++i)
            if (!validHostPattern(rt.hosts[i]))
                errors.emplace(mp + ".hosts[" + std::to_string(i) + "]",
                               "must be a host name or *.domain wildcard, without port");
        rt.headers = readFieldMatches(mr.object("headers"), mp + ".headers", errors, true);
        rt.query = readFieldMatches(mr.object("query"), mp + ".query", errors, false);
        rt.cookies = readFieldMatches(mr.object("cookies"), mp + ".cookies", errors, false);
    }
    if (auto u = r.str("upstream", true)) rt.upstream = *u;
    if (auto s = r.boolean("strip_prefix")) rt.stripPrefix = *s;
    if (auto p = r.str("rewrite_path")) {
        if (p->empty() || p->front() != '/')
            r.error("rewrite_path", "must start with /");
        else if (p->find_first_of("?# ") != std::string::npos)
            r.error("rewrite_path", "must not contain '?', '#' or spaces");
        rt.rewritePath = *p;
    }
    if (rt.stripPrefix && !rt.rewritePath.empty())
        r.error("strip_prefix", "cannot be combined with rewrite_path");
    if (auto ph = r.boolean("preserve_host")) rt.preserveHost = *ph;
    rt.timeouts = readTimeouts(r.object("timeouts"), r.at("timeouts"), errors);
    return rt;
}

PluginSpec pluginFromJson(const Object::Ptr& o, const std::string& path, FieldErrors& errors) {
    PluginSpec p;
    Reader r(o, path, errors,
             {"id", "name", "tags", "created_at", "updated_at", "route", "consumer", "config",
              "enabled", "priority"});
    readMeta(r, p.meta);
    if (!p.meta.name.empty() && !isValidPluginName(p.meta.name))
        r.error("name", "is not a plugin name ([a-z0-9-]+)");
    if (auto route = r.str("route")) {
        if (route->empty()) r.error("route", "must be a route name (omit it for a global plugin)");
        p.route = *route;
    }
    if (auto consumer = r.str("consumer")) {
        if (consumer->empty())
            r.error("consumer", "must be a consumer id or username (omit it for everyone)");
        p.consumer = *consumer;
    }
    if (Object::Ptr config = r.object("config")) {
        std::ostringstream out;
        config->stringify(out);
        p.config = out.str();
    }
    if (auto e = r.boolean("enabled")) p.enabled = *e;
    if (auto pr = r.integer("priority", -1'000'000, 1'000'000))
        p.priority = static_cast<int32_t>(*pr);
    return p;
}

namespace {

bool isHex64(const std::string& s) {
    return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

bool visibleAscii(const std::string& s) {
    for (char c : s)
        if (c <= ' ' || c > '~') return false;
    return true;
}

constexpr const char* kJwtAlgorithms[] = {"HS256", "HS384", "HS512", "RS256",
                                          "RS384", "RS512", "ES256", "ES384"};

}  // namespace

CredentialSpec credentialFromJson(const Object::Ptr& o, const std::string& path,
                                  FieldErrors& errors) {
    CredentialSpec c;
    Reader r(o, path, errors,
             {"id", "type", "created_at", "tags", "key", "key_hash", "key_hint", "issuer", "kid",
              "algorithm", "secret", "public_key", "username", "password", "password_hash"});
    if (auto id = r.str("id")) {
        Poco::UUID parsed;
        if (!parsed.tryParse(*id))
            r.error("id", "must be a UUID");
        else
            c.id = parsed.toString();
    }
    if (c.id.empty()) c.id = newUuid();
    c.createdAt = r.integer("created_at", 0, std::numeric_limits<int32_t>::max() * 4ll).value_or(0);
    c.tags = r.strings("tags");
    const std::string type = r.str("type", true).value_or("");
    // Fields that belong to another credential type are refused, not ignored.
    auto onlyFor = [&](std::initializer_list<const char*> keys, const char* what) {
        for (const char* k : keys)
            if (r.has(k)) r.error(k, std::string("only applies to ") + what + " credentials");
    };
    if (type == "key-auth") {
        c.type = CredentialType::kKeyAuth;
        onlyFor({"issuer", "kid", "algorithm", "secret", "public_key"}, "jwt");
        onlyFor({"username", "password", "password_hash"}, "basic-auth");
        if (auto key = r.str("key")) {
            if (key->size() < 16 || key->size() > 256 || !visibleAscii(*key))
                r.error("key", "must be 16-256 visible ASCII characters");
            c.keyHash = sha256Hex(*key);
            c.keyHint = key->substr(0, 4);
            if (r.has("key_hash")) r.error("key_hash", "give key or key_hash, not both");
        } else if (auto hash = r.str("key_hash")) {
            if (!isHex64(*hash)) r.error("key_hash", "must be 64 lower-case hex digits (SHA-256)");
            c.keyHash = *hash;
            c.keyHint = r.str("key_hint").value_or("");
            if (c.keyHint.size() > 8 || !visibleAscii(c.keyHint))
                r.error("key_hint", "must be at most 8 visible characters");
        } else {
            r.error("key", "is required (or key_hash)");
        }
    } else if (type == "jwt") {
        c.type = CredentialType::kJwt;
        onlyFor({"key", "key_hash", "key_hint"}, "key-auth");
        onlyFor({"username", "password", "password_hash"}, "basic-auth");
        c.issuer = r.str("issuer").value_or("");
        c.kid = r.str("kid").value_or("");
        if (c.issuer.empty() && c.kid.empty())
            r.error("issuer", "issuer or kid is required (how a token finds this credential)");
        if (c.issuer.size() > 512) r.error("issuer", "must be at most 512 characters");
        if (c.kid.size() > 256) r.error("kid", "must be at most 256 characters");
        c.algorithm = r.str("algorithm", true).value_or("");
        const bool known = std::find(std::begin(kJwtAlgorithms), std::end(kJwtAlgorithms),
                                     c.algorithm) != std::end(kJwtAlgorithms);
        if (!c.algorithm.empty() && !known)
            r.error("algorithm",
                    "must be one of HS256, HS384, HS512, RS256, RS384, RS512, "
                    "ES256, ES384");
        const bool hmac = c.algorithm.rfind("HS", 0) == 0;
        if (hmac) {
            // Exports leave the secret out: a credential with an id may come back without
            // it and keep the stored one (the configuration service puts it back).
            c.secret = r.str("secret").value_or("");
            if (!r.has("secret") && !r.has("id")) r.error("secret", "is required");
            if (r.has("secret") && c.secret.size() < 32)
                r.error("secret", "must be at least 32 bytes for HMAC");
            if (r.has("public_key")) r.error("public_key", "HS* algorithms use a secret");
        } else if (known) {
            c.publicKey = r.str("public_key", true).value_or("");
            if (!c.publicKey.empty())
                if (const std::string why = checkPublicKeyPem(c.publicKey); !why.empty())
                    r.error("public_key", why);
            if (r.has("secret")) r.error("secret", "RS* and ES* algorithms use a public_key");
        }
    } else if (type == "basic-auth") {
        c.type = CredentialType::kBasicAuth;
        onlyFor({"key", "key_hash", "key_hint"}, "key-auth");
        onlyFor({"issuer", "kid", "algorithm", "secret", "public_key"}, "jwt");
        c.username = r.str("username", true).value_or("");
        if (r.has("username") && (c.username.empty() || c.username.size() > 128 ||
                                  c.username.find(':') != std::string::npos))
            r.error("username", "must be 1-128 characters without ':'");
        if (auto pw = r.str("password")) {
            if (pw->size() < 8 || pw->size() > 1024)
                r.error("password", "must be 8-1024 characters");
            else
                c.passwordHash = hashPassword(*pw);
            if (r.has("password_hash"))
                r.error("password_hash", "give password or password_hash, not both");
        } else if (auto h = r.str("password_hash")) {
            if (!validPasswordHash(*h))
                r.error("password_hash", "must be a $pbkdf2-sha256$i=...$salt$hash string");
            c.passwordHash = *h;
        } else {
            r.error("password", "is required (or password_hash)");
        }
    } else if (!type.empty()) {
        r.error("type", "must be key-auth, jwt or basic-auth");
    }
    return c;
}

ConsumerSpec consumerFromJson(const Object::Ptr& o, const std::string& path, FieldErrors& errors) {
    ConsumerSpec c;
    Reader r(o, path, errors,
             {"id", "username", "tags", "created_at", "updated_at", "custom_id", "roles",
              "credentials"});
    readMeta(r, c.meta, "username");
    c.customId = r.str("custom_id").value_or("");
    if (c.customId.size() > 256 || !visibleAscii(c.customId))
        r.error("custom_id", "must be at most 256 visible characters");
    c.roles = r.strings("roles");
    for (size_t i = 0; i < c.roles.size(); ++i)
        if (c.roles[i].empty() || c.roles[i].size() > 64 || !visibleAscii(c.roles[i]) ||
            c.roles[i].find(',') != std::string::npos)
            r.error("roles[" + std::to_string(i) + "]",
                    "must be 1-64 visible characters without ','");
    if (Array::Ptr creds = r.array("credentials")) {
        for (size_t i = 0; i < creds->size(); ++i) {
            const std::string at = r.at("credentials[" + std::to_string(i) + "]");
            const auto v = creds->get(static_cast<unsigned>(i));
            if (!isObject(v)) {
                errors.emplace(at, "must be an object");
                continue;
            }
            c.credentials.push_back(credentialFromJson(v.extract<Object::Ptr>(), at, errors));
        }
    }
    return c;
}

namespace {

std::string fieldAt(const char* list, size_t index, const char* field) {
    return std::string(list) + "[" + std::to_string(index) + "]." + field;
}

}  // namespace

void validateDocument(const ConfigDocument& doc, FieldErrors& errors) {
    // Hash sets of views into the document: no copies, and error paths are only built for
    // errors.
    std::unordered_set<std::string_view> ids, upstreamNames, routeNames;
    ids.reserve(doc.upstreams.size() + doc.routes.size() + doc.plugins.size());
    upstreamNames.reserve(doc.upstreams.size());
    routeNames.reserve(doc.routes.size());
    for (size_t i = 0; i < doc.upstreams.size(); ++i) {
        const auto& u = doc.upstreams[i];
        if (!u.meta.name.empty() && !upstreamNames.insert(u.meta.name).second)
            errors.emplace(fieldAt("upstreams", i, "name"), "is already used by another upstream");
        if (!ids.insert(u.meta.id).second)
            errors.emplace(fieldAt("upstreams", i, "id"), "is already used");
    }
    for (size_t i = 0; i < doc.routes.size(); ++i) {
        const auto& r = doc.routes[i];
        if (!r.meta.name.empty() && !routeNames.insert(r.meta.name).second)
            errors.emplace(fieldAt("routes", i, "name"), "is already used by another route");
        if (!ids.insert(r.meta.id).second)
            errors.emplace(fieldAt("routes", i, "id"), "is already used");
        if (!r.upstream.empty() && !upstreamNames.count(r.upstream))
            errors.emplace(fieldAt("routes", i, "upstream"),
                           "no upstream named '" + r.upstream + "'");
    }
    std::unordered_set<std::string_view> usernames;
    std::unordered_set<std::string> credentialKeys;  // type prefix + what a request presents
    for (size_t i = 0; i < doc.consumers.size(); ++i) {
        const auto& c = doc.consumers[i];
        if (!c.meta.name.empty() && !usernames.insert(c.meta.name).second)
            errors.emplace(fieldAt("consumers", i, "username"),
                           "is already used by another consumer");
        if (!ids.insert(c.meta.id).second)
            errors.emplace(fieldAt("consumers", i, "id"), "is already used");
        for (size_t j = 0; j < c.credentials.size(); ++j) {
            const auto& cr = c.credentials[j];
            const std::string at =
                "consumers[" + std::to_string(i) + "].credentials[" + std::to_string(j) + "]";
            if (!ids.insert(cr.id).second) errors.emplace(at + ".id", "is already used");
            // What a request presents must name one credential only.
            auto unique = [&](const std::string& key, const char* field, const char* what) {
                if (!key.empty() &&
                    !credentialKeys.insert(std::string(credentialTypeName(cr.type)) + ":" + key)
                         .second)
                    errors.emplace(at + "." + field,
                                   std::string("another credential has this ") + what);
            };
            switch (cr.type) {
                case CredentialType::kKeyAuth:
                    unique(cr.keyHash, "key", "key");
                    break;
                case CredentialType::kJwt:
                    // (An HS* secret may still be missing here: an import adopts the stored
                    // one afterwards; the snapshot build refuses what is still missing.)
                    if (!cr.kid.empty())
                        unique(cr.kid, "kid", "kid");
                    else
                        unique(cr.issuer, "issuer", "issuer (and no kid)");
                    break;
                case CredentialType::kBasicAuth:
                    unique(cr.username, "username", "username");
                    break;
            }
        }
    }
    std::set<std::string> scopes;  // plugins are few
    for (size_t i = 0; i < doc.plugins.size(); ++i) {
        const auto& p = doc.plugins[i];
        if (!ids.insert(p.meta.id).second)
            errors.emplace(fieldAt("plugins", i, "id"), "is already used");
        if (!p.route.empty() && !routeNames.count(p.route))
            errors.emplace(fieldAt("plugins", i, "route"), "no route named '" + p.route + "'");
        if (!scopes.insert(p.meta.name + '\n' + p.route + '\n' + p.consumer).second)
            errors.emplace(
                fieldAt("plugins", i, "name"),
                "plugin '" + p.meta.name + "' is already configured for this route and consumer");
    }
}

ConfigDocument documentFromJson(const std::string& text) {
    FieldErrors errors;
    Poco::Dynamic::Var parsed;
    try {
        Poco::JSON::Parser parser;
        parsed = parser.parse(text);
    } catch (const Poco::Exception& e) {
        throw ValidationError("invalid JSON: " + e.message(), {});
    }
    if (!isObject(parsed)) throw ValidationError("configuration must be a JSON object", {});
    const auto root = parsed.extract<Object::Ptr>();
    ConfigDocument doc;
    Reader r(root, "", errors, {"upstreams", "routes", "plugins", "consumers", "format_version"});
    if (Array::Ptr ups = r.array("upstreams")) {
        for (size_t i = 0; i < ups->size(); ++i) {
            const std::string at = "upstreams[" + std::to_string(i) + "]";
            const auto v = ups->get(static_cast<unsigned>(i));
            if (!isObject(v)) {
                errors.emplace(at, "must be an object");
                continue;
            }
            doc.upstreams.push_back(upstreamFromJson(v.extract<Object::Ptr>(), at, errors));
        }
    }
    if (Array::Ptr routes = r.array("routes")) {
        for (size_t i = 0; i < routes->size(); ++i) {
            const std::string at = "routes[" + std::to_string(i) + "]";
            const auto v = routes->get(static_cast<unsigned>(i));
            if (!isObject(v)) {
                errors.emplace(at, "must be an object");
                continue;
            }
            doc.routes.push_back(routeFromJson(v.extract<Object::Ptr>(), at, errors));
        }
    }
    if (Array::Ptr plugins = r.array("plugins")) {
        for (size_t i = 0; i < plugins->size(); ++i) {
            const std::string at = "plugins[" + std::to_string(i) + "]";
            const auto v = plugins->get(static_cast<unsigned>(i));
            if (!isObject(v)) {
                errors.emplace(at, "must be an object");
                continue;
            }
            doc.plugins.push_back(pluginFromJson(v.extract<Object::Ptr>(), at, errors));
        }
    }
    if (Array::Ptr consumers = r.array("consumers")) {
        for (size_t i = 0; i < consumers->size(); ++i) {
            const std::string at = "consumers[" + std::to_string(i) + "]";
            const auto v = consumers->get(static_cast<unsigned>(i));
            if (!isObject(v)) {
                errors.emplace(at, "must be an object");
                continue;
            }
            doc.consumers.push_back(consumerFromJson(v.extract<Object::Ptr>(), at, errors));
        }
    }
    validateDocument(doc, errors);
    if (!errors.empty()) throw ValidationError("invalid configuration", std::move(errors));
    return doc;
}

Object::Ptr toJson(const UpstreamSpec& u) {
    Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
    metaJson(o, u.meta);
    switch (u.algorithm) {
        case Algorithm::kRoundRobin:
            o->set("algorithm", "round-robin");
            break;
        case Algorithm::kLeastConnections:
            o->set("algorithm", "least-connections");
            break;
        case Algorithm::kConsistentHash:
            o->set("algorithm", "consistent-hash");
            o->set("hash_on", u.hashOn == HashOn::kIp       ? "ip"
                              : u.hashOn == HashOn::kHeader ? "header"
                                                            : "cookie");
            if (!u.hashKey.empty()) o->set("hash_key", u.hashKey);
            break;
    }
    Array::Ptr targets = new Array;
    for (const auto& t : u.targets) {
        Object::Ptr to = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
        to->set("address", t.address);
        to->set("weight", t.weight);
        targets->add(to);
    }
    o->set("targets", targets);
    if (!u.timeouts.empty()) o->set("timeouts", timeoutsJson(u.timeouts));
    return o;
}

Object::Ptr toJson(const RouteSpec& r) {
    Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
    metaJson(o, r.meta);
    o->set("priority", r.priority);
    o->set("enabled", r.enabled);
    Object::Ptr m = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
    if (!r.paths.empty()) m->set("paths", toArray(r.paths));
    if (!r.methods.empty()) m->set("methods", toArray(r.methods));
    if (!r.hosts.empty()) m->set("hosts", toArray(r.hosts));
    if (!r.headers.empty()) m->set("headers", fieldMatchesJson(r.headers));
    if (!r.query.empty()) m->set("query", fieldMatchesJson(r.query));
    if (!r.cookies.empty()) m->set("cookies", fieldMatchesJson(r.cookies));
    o->set("match", m);
    o->set("upstream", r.upstream);
    o->set("strip_prefix", r.stripPrefix);
    if (!r.rewritePath.empty()) o->set("rewrite_path", r.rewritePath);
    o->set("preserve_host", r.preserveHost);
    if (!r.timeouts.empty()) o->set("timeouts", timeoutsJson(r.timeouts));
    return o;
}

Object::Ptr toJson(const PluginSpec& p) {
    Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
    metaJson(o, p.meta);
    o->set("route", p.route.empty() ? Poco::Dynamic::Var() : Poco::Dynamic::Var(p.route));
    o->set("consumer", p.consumer.empty() ? Poco::Dynamic::Var() : Poco::Dynamic::Var(p.consumer));
    Poco::JSON::Parser parser;
    o->set("config", parser.parse(p.config));
    o->set("enabled", p.enabled);
    if (p.priority) o->set("priority", *p.priority);
    return o;
}

Object::Ptr toJson(const CredentialSpec& c, SecretView secrets) {
    Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
    o->set("id", c.id);
    o->set("type", credentialTypeName(c.type));
    if (c.createdAt) o->set("created_at", c.createdAt);
    if (!c.tags.empty()) o->set("tags", toArray(c.tags));
    const bool stored = secrets == SecretView::kStored;
    switch (c.type) {
        case CredentialType::kKeyAuth:
            if (stored) o->set("key_hash", c.keyHash);
            o->set("key_hint", c.keyHint);
            break;
        case CredentialType::kJwt:
            if (!c.issuer.empty()) o->set("issuer", c.issuer);
            if (!c.kid.empty()) o->set("kid", c.kid);
            o->set("algorithm", c.algorithm);
            if (stored && !c.secret.empty()) o->set("secret", c.secret);
            if (!c.publicKey.empty()) o->set("public_key", c.publicKey);
            break;
        case CredentialType::kBasicAuth:
            o->set("username", c.username);
            if (stored) o->set("password_hash", c.passwordHash);
            break;
    }
    return o;
}

Object::Ptr toJson(const ConsumerSpec& c, SecretView secrets) {
    Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
    o->set("id", c.meta.id);
    o->set("username", c.meta.name);
    if (!c.meta.tags.empty()) o->set("tags", toArray(c.meta.tags));
    if (c.meta.createdAt) o->set("created_at", c.meta.createdAt);
    if (c.meta.updatedAt) o->set("updated_at", c.meta.updatedAt);
    if (!c.customId.empty()) o->set("custom_id", c.customId);
    o->set("roles", toArray(c.roles));
    Array::Ptr creds = new Array;
    for (const auto& cr : c.credentials)
        creds->add(toJson(cr, secrets));
    o->set("credentials", creds);
    return o;
}

Object::Ptr toJson(const ConfigDocument& d) {
    Object::Ptr o = new Object(Poco::JSON_PRESERVE_KEY_ORDER);
    o->set("format_version", 1);
    Array::Ptr ups = new Array;
    for (const auto& u : d.upstreams)
        ups->add(toJson(u));
    Array::Ptr routes = new Array;
    for (const auto& r : d.routes)
        routes->add(toJson(r));
    Array::Ptr plugins = new Array;
    for (const auto& p : d.plugins)
        plugins->add(toJson(p));
    o->set("upstreams", ups);
    o->set("routes", routes);
    o->set("plugins", plugins);
    Array::Ptr consumers = new Array;
    for (const auto& c : d.consumers)
        consumers->add(toJson(c, SecretView::kStored));
    o->set("consumers", consumers);
    return o;
}

std::string toJsonText(const ConfigDocument& d) {
    std::ostringstream out;
    toJson(d)->stringify(out, 2);
    out << '\n';
    return out.str();
}

std::string summarize(const FieldErrors& errors) {
    std::string out;
    for (const auto& [k, v] : errors) {
        if (!out.empty()) out += "; ";
        out += k + ": " + v;
    }
    return out;
}

}  // namespace gatehouse::config
