#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/fnv.h"
#include "config/model.h"
#include "http/message.h"
#include "router/regex.h"

namespace gatehouse::router {

/// What the router looks at. `path` is normalized, `host` lowercase without port.
struct RequestView {
    uint8_t method = 0;  // llhttp_method_t
    std::string_view path;
    std::string_view host;
    std::string_view query;
    const http::HeaderList* headers = nullptr;
};

enum class PathKind : uint8_t { kAny = 0, kRegex = 1, kPrefix = 2, kExact = 3 };

/// A header / query / cookie condition compiled from config::FieldMatch.
struct FieldMatcher {
    std::string name;  // headers: as given (compared case-insensitively)
    std::vector<std::string> exact;
    std::vector<std::unique_ptr<Regex>> regexes;
    bool anyValue = false;  // no values listed: presence is enough
};

struct CompiledRoute {
    const config::RouteSpec* spec = nullptr;
    uint32_t order = 0;        // position in the table: the last tie-breaker
    uint32_t destination = 0;  // opaque to the router (the snapshot's upstream index)
    int32_t priority = 0;
    uint32_t constraints = 0;  // how many non-path conditions: more specific wins ties
    uint64_t methodMask = 0;   // bit per llhttp method; 0 = any
    std::vector<std::string> exactHosts;
    std::vector<std::string> wildcardHosts;  // stored as ".example.com"
    std::vector<FieldMatcher> headers;
    std::vector<FieldMatcher> query;
    std::vector<FieldMatcher> cookies;
};

struct RouteMatch {
    const CompiledRoute* route = nullptr;
    PathKind kind = PathKind::kAny;
    uint32_t matchedLength = 0;    // prefix/exact: bytes of the path the pattern covered
    const Regex* regex = nullptr;  // regex: the pattern that matched
    explicit operator bool() const { return route != nullptr; }
};

/// The compiled route table of one snapshot. Read-only after build; match() is safe from any
/// number of workers, each with its own RegexScratch.
///
/// Order (DESIGN.md, issue #2): higher priority first; then exact before prefix before regex;
/// among prefixes the longest; then the route with more conditions (so an A/B route on
/// `X-Beta: 1` beats the general route for the same path); then table order.
///
/// Prefix and exact paths are found through a hash index probed once per '/' boundary of the
/// request path, so the cost grows with the path's length, not with the number of routes.
/// Prefixes match whole segments: "/api" matches "/api" and "/api/x", never "/apix".
class RouteTable {
public:
    /// `destinations[i]` is stored as routes[i].destination; the specs must outlive the
    /// table. Control threads only: a large build yields the CPU to the workers as it goes. Throws
    /// std::invalid_argument naming the field when a route cannot compile (validation normally
    /// catches that first).
    static std::shared_ptr<const RouteTable> build(
        const std::vector<const config::RouteSpec*>& routes,
        const std::vector<uint32_t>& destinations);

    RouteMatch match(const RequestView& req, RegexScratch& scratch) const;

    /// The path to send upstream for a match: strip_prefix / rewrite_path applied ($1-$9
    /// refer to regex captures).
    std::string upstreamPath(const RouteMatch& m, std::string_view path,
                             RegexScratch& scratch) const;

    size_t size() const { return routes_.size(); }

private:
    struct PathEntry {
        uint32_t route;
        PathKind kind;
        std::string_view text;         // prefix/exact text, inside the route's spec
        std::unique_ptr<Regex> regex;  // for kRegex
    };
    /// Prefix or exact texts by hash: one flat array grouped by bucket (two allocations per
    /// table, not one per path), probed once per '/' boundary of a request path.
    class PathIndex {
    public:
        void build(std::vector<std::pair<uint64_t, uint32_t>> items);  // (hash, entry)
        bool empty() const { return items_.empty(); }
        template <typename F>
        void forEach(uint64_t hash, F&& f) const {
            const size_t b = hash & mask_;
            for (uint32_t i = starts_[b]; i < starts_[b + 1]; ++i)
                if (items_[i].first == hash) f(items_[i].second);
        }

    private:
        uint64_t mask_ = 0;
        std::vector<uint32_t> starts_{0, 0};                // bucket b: [starts_[b], starts_[b+1])
        std::vector<std::pair<uint64_t, uint32_t>> items_;  // sorted by bucket
    };
    struct Rank {
        int32_t priority;
        uint8_t kind;
        uint32_t length;
        uint32_t constraints;
        uint32_t order;
        bool betterThan(const Rank& o) const;
    };

    Rank rankOf(const PathEntry& e) const;
    bool conditionsMatch(const CompiledRoute& r, const RequestView& req, RegexScratch& s) const;
    void consider(uint32_t entry, uint32_t matchedLength, const RequestView& req,
                  RegexScratch& scratch, RouteMatch* best, Rank* bestRank) const;

    std::vector<CompiledRoute> routes_;
    std::vector<PathEntry> entries_;
    PathIndex prefixIndex_;  // entries are verified by comparing text
    PathIndex exactIndex_;
    std::vector<uint32_t> regexEntries_;    // sorted best-first
    std::vector<uint32_t> anyPathEntries_;  // routes without paths
};

/// Parses an HTTP method name into llhttp's number; -1 when unknown.
int methodFromName(std::string_view name);

}  // namespace gatehouse::router
