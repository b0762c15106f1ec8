#pragma once

#include <string>
#include <string_view>

namespace gatehouse::http {

struct TargetParts {
    std::string_view path;       // raw, starts with '/'
    std::string_view query;      // without '?'
    std::string_view authority;  // absolute-form only
};

/// Splits an origin-form ("/p?q") or absolute-form ("http://host/p?q") request-target; a
/// fragment is dropped. Anything else (asterisk-form, authority-form) → false with a reason.
bool splitTarget(std::string_view target, TargetParts* out, const char** reason);

/// Normalizes a request path before routing and before any plugin sees it (DESIGN.md
/// "Paths"): %XX of unreserved characters decoded and other escapes upper-cased; an encoded
/// '/', '\' or NUL, a raw '\', or a malformed escape → false; dot segments removed (never
/// above the root); runs of '/' merged. Route matching, auth and the upstream all see this.
bool normalizePath(std::string_view raw, std::string* out, const char** reason);

/// Splits "host[:port]" (IPv6 in brackets); lowercases the host. false when malformed.
bool splitHostPort(std::string_view hostport, std::string* host, std::string_view* port);

}  // namespace gatehouse::http
