#pragma once

// Helpers the first-party authentication plugins share: the identity headers they own, the
// JSON error body the gateway uses, and query-string editing. Header-only, SDK types only.

#include <gatehouse/plugin.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::auth {

/// Headers that carry the authenticated identity upstream. A client must never be able to
/// set them: every auth plugin removes them before doing anything else.
inline constexpr std::string_view kIdentityHeaders[] = {
    "X-Consumer-Id",    "X-Consumer-Username", "X-Consumer-Custom-Id",
    "X-Consumer-Roles", "X-Credential-Id",     "X-Anonymous-Consumer"};

/// Removes `name` and its underscore spelling (X_Consumer_Id): some upstream frameworks
/// (CGI, PHP, Django) read both as the same variable, so a client copy with underscores
/// would pass for the gateway's header.
inline void removeBothSpellings(const Request& r, std::string_view name) {
    r.removeHeader(Message::Request, name);
    if (name.find('-') == std::string_view::npos) return;
    std::string underscored(name);
    for (char& c : underscored)
        if (c == '-') c = '_';
    r.removeHeader(Message::Request, underscored);
}

inline void stripIdentityHeaders(const Request& r) {
    for (std::string_view h : kIdentityHeaders)
        removeBothSpellings(r, h);
}

/// Request variables (ABI 1.2) the first-party authentication plugins set; unlike headers,
/// no client can set them, so authorization (acl) and logging read these.
inline constexpr std::string_view kVarMethod = "auth.method";        // who authenticated
inline constexpr std::string_view kVarAnonymous = "auth.anonymous";  // "true": let in anonymous
inline constexpr std::string_view kVarSubject = "auth.subject";      // a token's sub
inline constexpr std::string_view kVarRoles = "auth.roles";          // a token's roles, a,b,c

/// Whether an earlier authentication plugin of the route authenticated the request (not as
/// its anonymous consumer). Later ones then let it through untouched: a route with several
/// authentication plugins accepts any of their credentials.
inline bool authenticatedEarlier(const Request& r) {
    return r.var(kVarMethod).has_value() && !r.var(kVarAnonymous).has_value();
}

/// Starts an authentication: no identity the client sent, or that an earlier plugin gave
/// the request as its anonymous consumer, survives it.
inline void beginAuthentication(const Request& r) {
    stripIdentityHeaders(r);
    r.setVar(kVarMethod, "");
    r.setVar(kVarAnonymous, "");
}

/// Records a successful authentication by `method`.
inline void markAuthenticated(const Request& r, std::string_view method) {
    r.setVar(kVarMethod, method);
    r.setVar(kVarAnonymous, "");
}

/// Sets the identity headers from `c` (after a successful authentication).
inline void setIdentityHeaders(const Request& r, const Consumer& c, std::string_view credentialId) {
    r.setHeader(Message::Request, "X-Consumer-Id", c.id);
    r.setHeader(Message::Request, "X-Consumer-Username", c.username);
    if (!c.customId.empty()) r.setHeader(Message::Request, "X-Consumer-Custom-Id", c.customId);
    if (!c.roles.empty()) r.setHeader(Message::Request, "X-Consumer-Roles", c.roles);
    if (!credentialId.empty()) r.setHeader(Message::Request, "X-Credential-Id", credentialId);
}

/// Lets a request without credentials through as the configured anonymous consumer (a
/// username or id; when it names no configured consumer, only the name is passed on).
inline Action admitAnonymous(const Request& r, const std::string& anonymous,
                             std::string_view method) {
    r.setConsumer(anonymous, anonymous);
    if (const auto c = r.consumer())
        setIdentityHeaders(r, *c, "");
    else
        r.setHeader(Message::Request, "X-Consumer-Username", anonymous);
    r.setHeader(Message::Request, "X-Anonymous-Consumer", "true");
    r.setVar(kVarMethod, method);
    r.setVar(kVarAnonymous, "true");
    return Action::Continue;
}

inline void appendJsonString(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.push_back('"');
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(ch);
        } else if (c < 0x20) {
            out += "\\u00";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        } else {
            out.push_back(ch);
        }
    }
    out.push_back('"');
}

/// The gateway's error body: {"error":"...","status":N,"request_id":"..."}.
inline std::string errorBody(int status, std::string_view message, std::string_view requestId) {
    std::string body = "{\"error\":";
    appendJsonString(body, message);
    body += ",\"status\":" + std::to_string(status) + ",\"request_id\":";
    appendJsonString(body, requestId);
    body += "}";
    return body;
}

/// Answers the request with a JSON error (and `extra` headers); returns Action::Respond.
inline Action reject(const Request& r, int status, std::string_view message,
                     std::vector<std::pair<std::string, std::string>> extra = {}) {
    std::vector<std::pair<std::string_view, std::string_view>> headers;
    headers.emplace_back("Content-Type", "application/json");
    for (const auto& [k, v] : extra)
        headers.emplace_back(k, v);
    r.respond(status, errorBody(status, message, r.requestId()), headers);
    return Action::Respond;
}

/// Decodes %XX and '+' in a query-string component; false when malformed.
inline bool percentDecode(std::string_view in, std::string& out) {
    out.clear();
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '%') {
            if (i + 2 >= in.size()) return false;
            const int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            out.push_back(static_cast<char>(hi << 4 | lo));
            i += 2;
        } else if (in[i] == '+') {
            out.push_back(' ');
        } else {
            out.push_back(in[i]);
        }
    }
    return true;
}

/// The query parameters named `name` (decoded), and the query without them in `rest`.
inline std::vector<std::string> takeQueryParam(std::string_view query, std::string_view name,
                                               std::string* rest) {
    std::vector<std::string> values;
    rest->clear();
    while (!query.empty()) {
        const size_t amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        const size_t eq = pair.find('=');
        std::string key, value;
        const bool ok =
            percentDecode(pair.substr(0, eq), key) &&
            percentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), value);
        if (ok && key == name) {
            values.push_back(value);
        } else if (!pair.empty()) {
            if (!rest->empty()) rest->push_back('&');
            rest->append(pair);
        }
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return values;
}

}  // namespace gatehouse::auth
