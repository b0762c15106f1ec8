#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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

struct ConfigDocument {
    std::vector<UpstreamSpec> upstreams;
    std::vector<RouteSpec> routes;  // in table order
};

enum class EntityKind { kUpstream, kRoute };

inline const char* entityName(EntityKind k) {
    return k == EntityKind::kUpstream ? "upstream" : "route";
}

}  // namespace gatehouse::config
