#include "router/route_table.h"

#include <llhttp.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "common/yield.h"
#include "http/ascii.h"

namespace gatehouse::router {
namespace {

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/// Decodes application/x-www-form-urlencoded text ('+' is a space); bad escapes stay as-is.
std::string formDecode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out.push_back(' ');
        } else if (s[i] == '%' && i + 2 < s.size() && hexValue(s[i + 1]) >= 0 &&
                   hexValue(s[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hexValue(s[i + 1]) * 16 + hexValue(s[i + 2])));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

bool valueMatches(const FieldMatcher& m, std::string_view value, bool caseInsensitive,
                  RegexScratch& scratch) {
    if (m.anyValue) return true;
    for (const auto& e : m.exact)
        if (caseInsensitive ? http::iequals(e, value) : e == value) return true;
    for (const auto& re : m.regexes)
        if (re->match(value, scratch)) return true;
    return false;
}

template <typename Where>
FieldMatcher compileField(const config::FieldMatch& f, const Where& where, const char* field) {
    FieldMatcher m;
    m.name = f.name;
    m.anyValue = f.values.empty();
    for (const auto& v : f.values) {
        if (!v.empty() && v.front() == '~') {
            std::string err;
            auto re = Regex::compile(std::string_view(v).substr(1), &err);
            if (!re) throw std::invalid_argument(where() + field + ": " + err);
            m.regexes.push_back(std::move(re));
        } else {
            m.exact.push_back(v);
        }
    }
    return m;
}

}  // namespace

int methodFromName(std::string_view name) {
    // From llhttp's own table: llhttp_method_name() aborts on numbers it does not define.
#define GATEHOUSE_METHOD(num, ident, text) \
    if (name == #text) return num;
    HTTP_METHOD_MAP(GATEHOUSE_METHOD)
#undef GATEHOUSE_METHOD
    return -1;
}

bool RouteTable::Rank::betterThan(const Rank& o) const {
    if (priority != o.priority) return priority > o.priority;
    if (kind != o.kind) return kind > o.kind;
    if (length != o.length) return length > o.length;
    if (constraints != o.constraints) return constraints > o.constraints;
    return order < o.order;
}

void RouteTable::PathIndex::build(std::vector<std::pair<uint64_t, uint32_t>> items) {
    size_t buckets = 1;
    while (buckets < items.size())
        buckets <<= 1;
    mask_ = buckets - 1;
    starts_.assign(buckets + 1, 0);
    for (const auto& it : items)
        ++starts_[(it.first & mask_) + 1];
    for (size_t b = 0; b < buckets; ++b)
        starts_[b + 1] += starts_[b];
    items_.resize(items.size());
    std::vector<uint32_t> next(starts_.begin(), starts_.end() - 1);
    for (const auto& it : items)  // counting sort keeps insertion order within a bucket
        items_[next[it.first & mask_]++] = it;
}

std::shared_ptr<const RouteTable> RouteTable::build(
    const std::vector<const config::RouteSpec*>& routes,
    const std::vector<uint32_t>& destinations) {
    auto table = std::make_shared<RouteTable>();
    table->routes_.reserve(routes.size());
    table->entries_.reserve(routes.size());
    std::vector<std::pair<uint64_t, uint32_t>> prefixes, exacts;
    prefixes.reserve(routes.size());
    for (size_t i = 0; i < routes.size(); ++i) {
        if ((i & 255) == 255) yieldToDataPlane();  // built on control threads only
        const config::RouteSpec& spec = *routes[i];
        // Built only for an error: most routes never need it.
        auto where = [&spec] { return "routes[" + spec.meta.name + "]"; };
        CompiledRoute r;
        r.spec = &spec;
        r.order = static_cast<uint32_t>(i);
        r.destination = i < destinations.size() ? destinations[i] : 0;
        r.priority = spec.priority;
        for (const auto& m : spec.methods) {
            const int id = methodFromName(m);
            if (id < 0)
                throw std::invalid_argument(where() + ".match.methods: unknown method " + m);
            r.methodMask |= 1ull << id;
        }
        for (const auto& h : spec.hosts) {
            std::string host = http::toLower(h);
            if (host.rfind("*.", 0) == 0)
                r.wildcardHosts.push_back(host.substr(1));
            else
                r.exactHosts.push_back(std::move(host));
        }
        for (const auto& f : spec.headers)
            r.headers.push_back(compileField(f, where, ".match.headers"));
        for (const auto& f : spec.query)
            r.query.push_back(compileField(f, where, ".match.query"));
        for (const auto& f : spec.cookies)
            r.cookies.push_back(compileField(f, where, ".match.cookies"));
        r.constraints =
            static_cast<uint32_t>((r.methodMask ? 1 : 0) + (spec.hosts.empty() ? 0 : 1) +
                                  r.headers.size() + r.query.size() + r.cookies.size());
        table->routes_.push_back(std::move(r));

        const auto route = static_cast<uint32_t>(i);
        if (spec.paths.empty()) {
            table->anyPathEntries_.push_back(static_cast<uint32_t>(table->entries_.size()));
            table->entries_.push_back({route, PathKind::kAny, {}, nullptr});
            continue;
        }
        for (const auto& p : spec.paths) {
            const auto idx = static_cast<uint32_t>(table->entries_.size());
            const std::string_view text = p;
            if (!text.empty() && text.front() == '=') {
                exacts.emplace_back(fnvHash(text.substr(1)), idx);
                table->entries_.push_back({route, PathKind::kExact, text.substr(1), nullptr});
            } else if (!text.empty() && text.front() == '~') {
                std::string err;
                auto re = Regex::compile(text.substr(1), &err);
                if (!re) throw std::invalid_argument(where() + ".match.paths: " + err);
                table->regexEntries_.push_back(idx);
                table->entries_.push_back({route, PathKind::kRegex, {}, std::move(re)});
            } else {
                prefixes.emplace_back(fnvHash(text), idx);
                table->entries_.push_back({route, PathKind::kPrefix, text, nullptr});
            }
        }
    }
    auto& t = *table;
    t.prefixIndex_.build(std::move(prefixes));
    t.exactIndex_.build(std::move(exacts));
    std::sort(t.regexEntries_.begin(), t.regexEntries_.end(), [&t](uint32_t a, uint32_t b) {
        return t.rankOf(t.entries_[a]).betterThan(t.rankOf(t.entries_[b]));
    });
    return table;
}

RouteTable::Rank RouteTable::rankOf(const PathEntry& e) const {
    const CompiledRoute& r = routes_[e.route];
    // A route without paths ranks as the prefix "/": it matches every path like "/" does, and
    // its other conditions then decide (a header-only A/B route beats a "/" catch-all).
    if (e.kind == PathKind::kAny)
        return {r.priority, static_cast<uint8_t>(PathKind::kPrefix), 1, r.constraints, r.order};
    return {r.priority, static_cast<uint8_t>(e.kind), static_cast<uint32_t>(e.text.size()),
            r.constraints, r.order};
}

bool RouteTable::conditionsMatch(const CompiledRoute& r, const RequestView& req,
                                 RegexScratch& scratch) const {
    if (r.methodMask && (req.method >= 64 || !(r.methodMask & (1ull << req.method)))) return false;
    if (!r.exactHosts.empty() || !r.wildcardHosts.empty()) {
        bool ok =
            std::find(r.exactHosts.begin(), r.exactHosts.end(), req.host) != r.exactHosts.end();
        for (size_t i = 0; !ok && i < r.wildcardHosts.size(); ++i) {
            const std::string& suffix = r.wildcardHosts[i];
            ok = req.host.size() > suffix.size() && req.host.ends_with(suffix);
        }
        if (!ok) return false;
    }
    for (const auto& m : r.headers) {
        bool ok = false;
        for (const auto& f : req.headers->fields()) {
            if (http::iequals(f.name, m.name) && valueMatches(m, f.value, true, scratch)) {
                ok = true;
                break;
            }
        }
        if (!ok) return false;
    }
    for (const auto& m : r.query) {
        bool ok = false;
        std::string_view q = req.query;
        while (!ok && !q.empty()) {
            size_t amp = q.find('&');
            std::string_view pair = q.substr(0, amp);
            q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
            const size_t eq = pair.find('=');
            std::string_view key = pair.substr(0, eq);
            std::string_view val =
                eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
            if (formDecode(key) == m.name) ok = valueMatches(m, formDecode(val), false, scratch);
        }
        if (!ok) return false;
    }
    for (const auto& m : r.cookies) {
        bool ok = false;
        for (const auto& f : req.headers->fields()) {
            if (ok || !http::iequals(f.name, "cookie")) continue;
            std::string_view c = f.value;
            while (!ok && !c.empty()) {
                size_t semi = c.find(';');
                std::string_view pair = http::trimOws(c.substr(0, semi));
                c = semi == std::string_view::npos ? std::string_view() : c.substr(semi + 1);
                const size_t eq = pair.find('=');
                if (eq == std::string_view::npos || pair.substr(0, eq) != m.name) continue;
                std::string_view val = pair.substr(eq + 1);
                if (val.size() >= 2 && val.front() == '"' && val.back() == '"')
                    val = val.substr(1, val.size() - 2);
                ok = valueMatches(m, val, false, scratch);
            }
        }
        if (!ok) return false;
    }
    return true;
}

void RouteTable::consider(uint32_t entry, uint32_t matchedLength, const RequestView& req,
                          RegexScratch& scratch, RouteMatch* best, Rank* bestRank) const {
    const PathEntry& e = entries_[entry];
    Rank rank = rankOf(e);
    if (e.kind != PathKind::kAny) rank.length = matchedLength;
    if (best->route && !rank.betterThan(*bestRank)) return;
    const CompiledRoute& r = routes_[e.route];
    if (!conditionsMatch(r, req, scratch)) return;
    best->route = &r;
    best->kind = e.kind;
    best->matchedLength = matchedLength;
    best->regex = e.regex.get();
    *bestRank = rank;
}

RouteMatch RouteTable::match(const RequestView& req, RegexScratch& scratch) const {
    RouteMatch best;
    Rank bestRank{};
    const std::string_view path = req.path;
    const size_t n = path.size();

    auto probe = [&](const PathIndex& index, uint64_t h, size_t len) {
        index.forEach(h, [&](uint32_t idx) {
            const std::string_view text = entries_[idx].text;
            if (text.size() == len && std::memcmp(text.data(), path.data(), len) == 0)
                consider(idx, static_cast<uint32_t>(len), req, scratch, &best, &bestRank);
        });
    };

    if (!exactIndex_.empty()) probe(exactIndex_, fnvHash(path), n);
    if (!prefixIndex_.empty()) {
        uint64_t h = fnvStart();
        for (size_t i = 0; i < n; ++i) {
            if (path[i] == '/') {
                if (i > 0) probe(prefixIndex_, h, i);  // "/api" for "/api/..."
                h = fnvStep(h, '/');
                probe(prefixIndex_, h, i + 1);  // "/api/" for "/api/..."
            } else {
                h = fnvStep(h, path[i]);
            }
        }
        if (n > 0 && path[n - 1] != '/') probe(prefixIndex_, h, n);
    }
    for (uint32_t idx : anyPathEntries_)
        consider(idx, 0, req, scratch, &best, &bestRank);
    for (uint32_t idx : regexEntries_) {
        const PathEntry& e = entries_[idx];
        if (best.route && !rankOf(e).betterThan(bestRank)) break;  // sorted: none better follows
        if (!conditionsMatch(routes_[e.route], req, scratch)) continue;
        if (!e.regex->match(path, scratch)) continue;
        best.route = &routes_[e.route];
        best.kind = PathKind::kRegex;
        best.matchedLength = 0;
        best.regex = e.regex.get();
        break;
    }
    return best;
}

std::string RouteTable::upstreamPath(const RouteMatch& m, std::string_view path,
                                     RegexScratch& scratch) const {
    const config::RouteSpec& spec = *m.route->spec;
    if (!spec.rewritePath.empty()) {
        const std::string& rw = spec.rewritePath;
        if (m.kind == PathKind::kRegex) {
            if (rw.find('$') == std::string::npos || !m.regex->match(path, scratch)) return rw;
            const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(scratch.data());
            const uint32_t pairs = pcre2_get_ovector_count(scratch.data());
            std::string out;
            for (size_t i = 0; i < rw.size(); ++i) {
                if (rw[i] == '$' && i + 1 < rw.size() && rw[i + 1] >= '0' && rw[i + 1] <= '9') {
                    const uint32_t g = static_cast<uint32_t>(rw[i + 1] - '0');
                    if (g < pairs && ov[2 * g] != PCRE2_UNSET)
                        out.append(path.substr(ov[2 * g], ov[2 * g + 1] - ov[2 * g]));
                    ++i;
                } else {
                    out.push_back(rw[i]);
                }
            }
            return out.empty() || out.front() != '/' ? "/" + out : out;
        }
        if (m.kind == PathKind::kExact) return rw;
        std::string_view rest = path.substr(m.matchedLength);
        std::string out = rw;
        if (!rest.empty()) {
            if (out.back() == '/' && rest.front() == '/') rest.remove_prefix(1);
            if (out.back() != '/' && rest.front() != '/') out.push_back('/');
            out.append(rest);
        }
        return out;
    }
    if (spec.stripPrefix) {
        std::string_view rest;
        if (m.kind == PathKind::kPrefix) {
            rest = path.substr(m.matchedLength);
        } else if (m.kind == PathKind::kRegex) {
            if (m.regex->match(path, scratch)) {
                const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(scratch.data());
                rest = ov[0] == 0 ? path.substr(ov[1]) : path;
            } else {
                rest = path;
            }
        } else if (m.kind == PathKind::kAny) {
            rest = path;
        }
        if (rest.empty()) return "/";
        if (rest.front() != '/') return "/" + std::string(rest);
        return std::string(rest);
    }
    return std::string(path);
}

}  // namespace gatehouse::router
