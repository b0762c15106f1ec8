#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/shared_list.h"

namespace gatehouse::config {

/// The configuration entities of DESIGN.md as plain, validated data. JSON ↔ model lives in
/// config/codec.h; the store persists documents; the snapshot builder compiles them.

struct Timeouts {
    std::optional<uint32_t> connectMs;
    std::optional<uint32_t> sendMs;
    std::optional<uint32_t> readMs;
    bool empty() const { return !connectMs && !sendMs && !readMs; }
    bool operator==(const Timeouts&) const = default;
};

struct TargetSpec {
    std::string address;    // host:port
    uint32_t weight = 100;  // 0-65535; 0 takes the target out of rotation
    bool operator==(const TargetSpec&) const = default;
};

enum class Algorithm { kRoundRobin, kLeastConnections, kConsistentHash };
enum class HashOn { kIp, kHeader, kCookie };

struct EntityMeta {
    std::string id;  // UUID
    std::string name;
    std::vector<std::string> tags;
    int64_t createdAt = 0;  // unix seconds
    int64_t updatedAt = 0;
    bool generatedId = false;  // no id in the input: an import may adopt the stored one

    /// Same identity and content; timestamps and generatedId are bookkeeping, not content.
    bool operator==(const EntityMeta& o) const {
        return id == o.id && name == o.name && tags == o.tags;
    }
};

struct UpstreamSpec {
    EntityMeta meta;
    Algorithm algorithm = Algorithm::kRoundRobin;
    HashOn hashOn = HashOn::kIp;
    std::string hashKey;  // header or cookie name for HashOn::kHeader / kCookie
    std::vector<TargetSpec> targets;
    Timeouts timeouts;

    bool operator==(const UpstreamSpec&) const = default;
};

/// One header / query parameter / cookie condition: the field must be present with one of
/// `values` (exact; a value starting with '~' is a regex). An empty list means "present".
struct FieldMatch {
    std::string name;
    std::vector<std::string> values;
    bool operator==(const FieldMatch&) const = default;
};

struct RouteSpec {
    EntityMeta meta;
    int32_t priority = 0;
    bool enabled = true;
    // match
    std::vector<std::string> paths;  // "/prefix", "=/exact", "~regex"
    std::vector<std::string> methods;
    std::vector<std::string> hosts;  // "api.example.com" or "*.example.com"
    std::vector<FieldMatch> headers;
    std::vector<FieldMatch> query;
    std::vector<FieldMatch> cookies;
    // destination
    std::string upstream;  // upstream name
    bool stripPrefix = false;
    std::string rewritePath;
    bool preserveHost = false;
    Timeouts timeouts;
    /// Order in the table (the last matching tie-breaker). Kept by the store, not part of
    /// the JSON form: a document's route order is its array order.
    int64_t position = 0;

    bool operator==(const RouteSpec&) const = default;
};

/// A plugin instance: which plugin (meta.name is the plugin's name, not unique), where it
/// applies (no route = every route; a consumer = only that consumer's requests), and its
/// configuration, validated against the plugin's JSON Schema when the snapshot is built.
struct PluginSpec {
    EntityMeta meta;
    std::string route;          // route name; empty = global
    std::string consumer;       // consumer id or username; empty = everyone
    std::string config = "{}";  // JSON object, canonical (as stringified)
    bool enabled = true;
    std::optional<int32_t> priority;  // overrides the plugin's default priority

    bool operator==(const PluginSpec&) const = default;
};

enum class CredentialType { kKeyAuth, kJwt, kBasicAuth };

/// One way a consumer proves who it is. Only what verification needs is kept: a key-auth
/// key as its SHA-256, a basic-auth password under PBKDF2; a JWT HMAC secret must be kept
/// as is (it verifies signatures), and is never returned by the admin API.
struct CredentialSpec {
    std::string id;  // UUID
    CredentialType type = CredentialType::kKeyAuth;
    int64_t createdAt = 0;
    std::vector<std::string> tags;
    // key-auth
    std::string keyHash;  // lower-case hex SHA-256 of the key
    std::string keyHint;  // the key's first 4 characters, to tell keys apart in listings
    // jwt: found by `kid` when the token names one, else by `iss`
    std::string issuer;
    std::string kid;
    std::string algorithm;  // HS256 HS384 HS512 RS256 RS384 RS512 ES256 ES384
    std::string secret;     // HS*
    std::string publicKey;  // RS* / ES*: PEM
    // basic-auth
    std::string username;
    std::string passwordHash;  // $pbkdf2-sha256$i=<iterations>$<salt b64>$<hash b64>

    bool operator==(const CredentialSpec&) const = default;
};

/// Someone who calls the APIs behind the gateway (meta.name is the username).
struct ConsumerSpec {
    EntityMeta meta;
    std::string customId;  // the id in the operator's own user system
    std::vector<std::string> roles;
    std::vector<CredentialSpec> credentials;

    bool operator==(const ConsumerSpec&) const = default;
};

struct ConfigDocument {
    // Shared with the documents this one was copied from: see SharedList.
    SharedList<UpstreamSpec> upstreams;
    SharedList<RouteSpec> routes;  // in table order
    SharedList<PluginSpec> plugins;
    SharedList<ConsumerSpec> consumers;  // by username
};

inline const char* credentialTypeName(CredentialType t) {
    switch (t) {
        case CredentialType::kKeyAuth:
            return "key-auth";
        case CredentialType::kJwt:
            return "jwt";
        case CredentialType::kBasicAuth:
            return "basic-auth";
    }
    return "key-auth";
}

/// Plugin names: [a-z0-9-]+, at most 64 characters.
inline bool isValidPluginName(const std::string& name) {
    if (name.empty() || name.size() > 64) return false;
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    return true;
}

enum class EntityKind { kUpstream, kRoute, kPlugin, kConsumer };

inline const char* entityName(EntityKind k) {
    switch (k) {
        case EntityKind::kUpstream:
            return "upstream";
        case EntityKind::kRoute:
            return "route";
        case EntityKind::kPlugin:
            return "plugin";
        case EntityKind::kConsumer:
            return "consumer";
    }
    return "entity";
}

}  // namespace gatehouse::config
