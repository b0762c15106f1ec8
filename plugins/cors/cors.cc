// cors: Cross-Origin Resource Sharing (Fetch standard, "CORS protocol") at the gateway.
//
// Preflights (OPTIONS with Origin and Access-Control-Request-Method) are answered here with
// 204 and never reach the upstream: with the allow headers for an allowed origin, with none
// for any other (the browser then refuses the real request). Other requests go upstream as
// they are; their responses get Access-Control-Allow-Origin and friends in on_response, also
// when an earlier plugin answered (a 401 the page's script can read).
//
//   {"origins": ["https://app.example.com", "https://*.example.com"],
//    "origin_regexes": ["https://pr-[0-9]+\\.preview\\.example\\.net"],
//    "methods": ["GET", "POST"], "headers": ["Authorization", "Content-Type"],
//    "exposed_headers": ["X-Request-Id"], "credentials": true, "max_age": 600}

#include <Poco/JSON/Object.h>

#include <gatehouse/plugin.hpp>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

#include "transform.h"

namespace {

using gatehouse::Action;
using gatehouse::Message;
using gatehouse::Request;
namespace tf = gatehouse::transform;

constexpr const char* kSchema = R"JSON({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "origins": {"type": "array", "maxItems": 256, "uniqueItems": true,
                "items": {"type": "string", "minLength": 1, "maxLength": 512},
                "description": "Allowed origins: exact (https://app.example.com), a wildcard subdomain (https://*.example.com: any subdomain, not the domain itself) or * (any origin, without credentials)"},
    "origin_regexes": {"type": "array", "maxItems": 64, "uniqueItems": true,
                       "items": {"type": "string", "minLength": 1, "maxLength": 512},
                       "description": "PCRE2 patterns matched against the whole origin, case-insensitively"},
    "methods": {"type": "array", "minItems": 1, "maxItems": 32, "uniqueItems": true,
                "items": {"type": "string", "pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,32}$"},
                "default": ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"],
                "description": "Access-Control-Allow-Methods of preflight answers"},
    "headers": {"type": "array", "maxItems": 64, "uniqueItems": true,
                "items": {"type": "string", "pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$"},
                "description": "Access-Control-Allow-Headers of preflight answers; when absent, the headers the preflight asks for are allowed"},
    "exposed_headers": {"type": "array", "maxItems": 64, "uniqueItems": true,
                        "items": {"type": "string", "pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$"},
                        "description": "Access-Control-Expose-Headers of actual responses"},
    "credentials": {"type": "boolean", "default": false,
                    "description": "Send Access-Control-Allow-Credentials: true (not with origins *)"},
    "max_age": {"type": "integer", "minimum": 0, "maximum": 86400,
                "description": "Access-Control-Max-Age of preflight answers, in seconds; absent = not sent"},
    "private_network": {"type": "boolean", "default": false,
                        "description": "Answer Access-Control-Request-Private-Network preflights with Access-Control-Allow-Private-Network: true"}
  }
})JSON";

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items) {
        if (!out.empty()) out += ", ";
        out += i;
    }
    return out;
}

/// A serialized origin, lower-cased: scheme "://" host [":" port], nothing else.
struct Origin {
    std::string scheme, host, port;
};

bool isHostChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/// Parses `s` (already lower-cased) as an origin; hosts are DNS names, IPv4 or [IPv6].
std::optional<Origin> parseOrigin(std::string_view s) {
    const size_t sep = s.find("://");
    if (sep == std::string_view::npos || sep == 0) return std::nullopt;
    Origin o;
    o.scheme = std::string(s.substr(0, sep));
    if (!(o.scheme[0] >= 'a' && o.scheme[0] <= 'z')) return std::nullopt;
    for (char c : o.scheme)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))
            return std::nullopt;
    std::string_view rest = s.substr(sep + 3);
    if (!rest.empty() && rest.front() == '[') {
        const size_t close = rest.find(']');
        if (close == std::string_view::npos || close == 1) return std::nullopt;
        for (char c : rest.substr(1, close - 1))
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' || c == '.'))
                return std::nullopt;
        o.host = std::string(rest.substr(0, close + 1));
        rest.remove_prefix(close + 1);
    } else {
        const size_t colon = rest.find(':');
        o.host = std::string(rest.substr(0, colon));
        rest.remove_prefix(colon == std::string_view::npos ? rest.size() : colon);
        if (o.host.empty() || o.host.front() == '.' || o.host.back() == '.' ||
            o.host.find("..") != std::string::npos)
            return std::nullopt;
        for (char c : o.host)
            if (!isHostChar(c)) return std::nullopt;
    }
    if (!rest.empty()) {
        if (rest.front() != ':' || rest.size() < 2 || rest.size() > 6) return std::nullopt;
        o.port = std::string(rest.substr(1));
        if (o.port.find_first_not_of("0123456789") != std::string::npos ||
            std::stoul(o.port) > 65535)
            return std::nullopt;
    }
    return o;
}

/// Whether every comma-separated element of `list` is a token (Access-Control-Request-Headers).
bool isTokenList(std::string_view list) {
    bool any = false;
    while (!list.empty()) {
        const size_t comma = list.find(',');
        std::string_view item = list.substr(0, comma);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
            item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t'))
            item.remove_suffix(1);
        if (!item.empty()) {
            if (!tf::isToken(item)) return false;
            any = true;
        }
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return any;
}

class Cors final : public gatehouse::Plugin {
public:
    Cors(const gh_host_api* host, gh_instance_host* instance, std::string_view config)
        : Plugin(host, instance) {
        const auto o = tf::parseObject(config);
        for (const auto& entry : tf::stringList(o, "origins"))
            addOrigin(entry);
        for (const auto& pattern : tf::stringList(o, "origin_regexes"))
            regexes_.push_back(std::make_unique<tf::Regex>(
                pattern, PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_CASELESS));
        if (!anyOrigin_ && exact_.empty() && wildcards_.empty() && regexes_.empty())
            throw std::runtime_error("configure origins or origin_regexes: no origin is allowed");

        credentials_ = o->optValue<bool>("credentials", false);
        if (anyOrigin_ && credentials_)
            throw std::runtime_error(
                "origins \"*\" cannot be combined with credentials: list the origins allowed "
                "to send credentials");
        methods_ = o->has("methods") ? join(tf::stringList(o, "methods"))
                                     : std::string("GET, HEAD, PUT, PATCH, POST, DELETE");
        if (o->has("headers")) allowHeaders_ = join(tf::stringList(o, "headers"));
        exposeHeaders_ = join(tf::stringList(o, "exposed_headers"));
        if (o->has("max_age") && !o->get("max_age").isEmpty())
            maxAge_ = std::to_string(o->getValue<int>("max_age"));
        privateNetwork_ = o->optValue<bool>("private_network", false);
    }

    Action onRequest(Request& r, void**) override {
        if (!isPreflight(r)) return Action::Continue;
        const auto allowed = allowOrigin(r);
        std::vector<std::pair<std::string, std::string>> headers;
        std::string vary = anyOrigin_ ? "" : "Origin";
        if (allowed) {
            headers.emplace_back("Access-Control-Allow-Origin", *allowed);
            if (credentials_) headers.emplace_back("Access-Control-Allow-Credentials", "true");
            headers.emplace_back("Access-Control-Allow-Methods", methods_);
            if (allowHeaders_) {
                if (!allowHeaders_->empty())
                    headers.emplace_back("Access-Control-Allow-Headers", *allowHeaders_);
            } else {
                // Allow what the preflight asks for: the answer depends on the request.
                vary += vary.empty() ? "" : ", ";
                vary += "Access-Control-Request-Headers";
                std::string requested;
                for (size_t nth = 0;; ++nth) {
                    const auto v = r.requestHeader("Access-Control-Request-Headers", nth);
                    if (!v) break;
                    if (!v->empty()) requested += (requested.empty() ? "" : ", ") + std::string(*v);
                }
                if (isTokenList(requested))
                    headers.emplace_back("Access-Control-Allow-Headers", requested);
            }
            if (!maxAge_.empty()) headers.emplace_back("Access-Control-Max-Age", maxAge_);
            const auto pna = r.requestHeader("Access-Control-Request-Private-Network");
            if (privateNetwork_ && pna && tf::iequals(*pna, "true"))
                headers.emplace_back("Access-Control-Allow-Private-Network", "true");
        }
        if (!vary.empty()) headers.emplace_back("Vary", vary);
        // A disallowed origin gets an empty 204 too (like Kong): the browser stops at the
        // missing Access-Control-Allow-Origin, and the upstream never sees the preflight.
        r.respond(204, {}, headers);
        return Action::Respond;
    }

    Action onResponse(Request& r, void**) override {
        if (isPreflight(r)) return Action::Continue;  // answered in on_request
        if (!anyOrigin_) appendVary(r);  // also without Origin: caches must not mix them
        const auto allowed = allowOrigin(r);
        if (!allowed) return Action::Continue;
        r.setHeader(Message::Response, "Access-Control-Allow-Origin", *allowed);
        if (credentials_)
            r.setHeader(Message::Response, "Access-Control-Allow-Credentials", "true");
        if (!exposeHeaders_.empty())
            r.setHeader(Message::Response, "Access-Control-Expose-Headers", exposeHeaders_);
        return Action::Continue;
    }

private:
    static bool isPreflight(const Request& r) {
        return r.method() == "OPTIONS" && r.requestHeader("Origin") &&
               r.requestHeader("Access-Control-Request-Method");
    }

    void addOrigin(const std::string& entry) {
        if (entry == "*") {
            anyOrigin_ = true;
            return;
        }
        const std::string l = lower(entry);
        if (l == "null")
            throw std::runtime_error(
                "origin \"null\" is what every sandboxed iframe and file:// page sends: allowing "
                "it allows all of them");
        const size_t star = l.find('*');
        if (star == std::string::npos) {
            if (!parseOrigin(l))
                throw std::runtime_error("origin \"" + entry +
                                         "\" is not scheme://host[:port] (no path, no slash)");
            exact_.insert(l);
            return;
        }
        // scheme://*.rest[:port]: the wildcard stands for one or more whole labels.
        const size_t sep = l.find("://");
        const auto parsed =
            sep != std::string::npos && star == sep + 3 && l.compare(star, 2, "*.") == 0
                ? parseOrigin(l.substr(0, star) + l.substr(star + 2))
                : std::nullopt;
        if (!parsed || parsed->host.front() == '[' || parsed->host.find('.') == std::string::npos)
            throw std::runtime_error("origin \"" + entry +
                                     "\": a wildcard must be scheme://*.domain.tld[:port]");
        wildcards_.push_back({parsed->scheme, "." + parsed->host, parsed->port});
    }

    /// The Access-Control-Allow-Origin for this request's origin, or nothing.
    std::optional<std::string> allowOrigin(const Request& r) const {
        const auto origin = r.requestHeader("Origin");
        if (!origin || r.requestHeader("Origin", 1)) return std::nullopt;  // none, or ambiguous
        if (anyOrigin_) return std::string("*");
        const std::string l = lower(*origin);
        const auto parsed = parseOrigin(l);  // "null" and junk stop here
        if (!parsed) return std::nullopt;
        if (exact_.count(l) != 0) return std::string(*origin);
        for (const auto& w : wildcards_) {
            if (parsed->scheme == w.scheme && parsed->port == w.port &&
                parsed->host.size() > w.suffix.size() &&
                parsed->host.compare(parsed->host.size() - w.suffix.size(), w.suffix.size(),
                                     w.suffix) == 0)
                return std::string(*origin);
        }
        for (const auto& re : regexes_)
            if (re->match(*origin) == 1) return std::string(*origin);
        return std::nullopt;
    }

    /// Adds "Origin" to the response's Vary unless it is there (or Vary is *).
    static void appendVary(const Request& r) {
        std::string joined;
        for (size_t nth = 0;; ++nth) {
            const auto v = r.responseHeader("Vary", nth);
            if (!v) break;
            std::string_view rest = *v;
            while (!rest.empty()) {
                const size_t comma = rest.find(',');
                std::string_view item = rest.substr(0, comma);
                while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
                    item.remove_prefix(1);
                while (!item.empty() && (item.back() == ' ' || item.back() == '\t'))
                    item.remove_suffix(1);
                if (item == "*" || tf::iequals(item, "Origin")) return;
                if (comma == std::string_view::npos) break;
                rest.remove_prefix(comma + 1);
            }
            if (!v->empty()) joined += (joined.empty() ? "" : ", ") + std::string(*v);
        }
        r.setHeader(Message::Response, "Vary", joined.empty() ? "Origin" : joined + ", Origin");
    }

    struct Wildcard {
        std::string scheme, suffix, port;  // suffix: ".example.com"
    };

    bool anyOrigin_ = false;
    std::unordered_set<std::string> exact_;
    std::vector<Wildcard> wildcards_;
    std::vector<std::unique_ptr<tf::Regex>> regexes_;
    bool credentials_ = false;
    std::string methods_;
    std::optional<std::string> allowHeaders_;  // nothing: reflect the request's
    std::string exposeHeaders_;
    std::string maxAge_;
    bool privateNetwork_ = false;
};

}  // namespace

GATEHOUSE_PLUGINS(gatehouse::describe<Cors>("cors", "1.0.0",
                                            "Answers CORS preflights and adds CORS headers to "
                                            "responses for allowed origins",
                                            kSchema, 2000, GH_PHASE_REQUEST | GH_PHASE_RESPONSE, 0,
                                            0))
