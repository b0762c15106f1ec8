#include "http/path.h"

#include "http/ascii.h"

namespace gatehouse::http {
namespace {

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool isUnreserved(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

}  // namespace

bool splitTarget(std::string_view target, TargetParts* out, const char** reason) {
    *out = {};
    if (target.empty()) {
        *reason = "empty request target";
        return false;
    }
    if (target.front() != '/') {
        // absolute-form: scheme "://" authority path-abempty [ "?" query ]
        const size_t sep = target.find("://");
        if (sep == std::string_view::npos ||
            !(iequals(target.substr(0, sep), "http") || iequals(target.substr(0, sep), "https"))) {
            *reason = target == "*" ? "asterisk-form request target is not supported"
                                    : "request target must be origin-form or absolute-form";
            return false;
        }
        target.remove_prefix(sep + 3);
        const size_t end = target.find_first_of("/?#");
        out->authority = target.substr(0, end);
        if (out->authority.empty() || out->authority.find('@') != std::string_view::npos) {
            *reason = "invalid authority in request target";
            return false;
        }
        target = end == std::string_view::npos ? std::string_view() : target.substr(end);
        if (target.empty() || target.front() != '/') {
            // "http://host" or "http://host?q" means path "/"
            static constexpr std::string_view kRoot = "/";
            const std::string_view rest = target;
            out->path = kRoot;
            if (!rest.empty() && rest.front() == '?') {
                const size_t hash = rest.find('#');
                out->query = rest.substr(1, hash == std::string_view::npos ? hash : hash - 1);
            }
            return true;
        }
    }
    const size_t hash = target.find('#');
    if (hash != std::string_view::npos) target = target.substr(0, hash);
    const size_t q = target.find('?');
    out->path = target.substr(0, q);
    if (q != std::string_view::npos) out->query = target.substr(q + 1);
    return true;
}

bool normalizePath(std::string_view raw, std::string* out, const char** reason) {
    // Pass 1: decode escapes of unreserved characters into `decoded`.
    std::string decoded;
    decoded.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
        const char c = raw[i];
        if (c == '%') {
            if (i + 2 >= raw.size()) {
                *reason = "malformed percent-encoding in path";
                return false;
            }
            const int hi = hexValue(raw[i + 1]);
            const int lo = hexValue(raw[i + 2]);
            if (hi < 0 || lo < 0) {
                *reason = "malformed percent-encoding in path";
                return false;
            }
            const auto byte = static_cast<unsigned char>(hi * 16 + lo);
            if (byte == '/' || byte == '\\' || byte == 0) {
                *reason = "encoded '/', '\\' or NUL in path";
                return false;
            }
            if (isUnreserved(byte)) {
                decoded.push_back(static_cast<char>(byte));
            } else {
                static constexpr char kHex[] = "0123456789ABCDEF";
                decoded.push_back('%');
                decoded.push_back(kHex[byte >> 4]);
                decoded.push_back(kHex[byte & 15]);
            }
            i += 2;
            continue;
        }
        if (c == '\\' || c == '\0') {
            *reason = "'\\' or NUL in path";
            return false;
        }
        decoded.push_back(c);
    }

    // Pass 2: segments; "." dropped, ".." pops, empty segments (from "//") merged.
    out->clear();
    out->reserve(decoded.size() + 1);
    out->push_back('/');
    size_t i = 0;
    const size_t n = decoded.size();
    bool trailingSlash = false;
    while (i < n) {
        while (i < n && decoded[i] == '/')
            ++i;
        if (i >= n) {
            trailingSlash = true;
            break;
        }
        size_t j = decoded.find('/', i);
        if (j == std::string::npos) j = n;
        const std::string_view seg(decoded.data() + i, j - i);
        trailingSlash = false;
        if (seg == ".") {
            trailingSlash = true;
        } else if (seg == "..") {
            // Remove the last segment of out (never above "/").
            if (out->size() > 1) {
                if (out->back() == '/') out->pop_back();
                const size_t slash = out->rfind('/');
                out->resize(slash + 1);
            }
            trailingSlash = true;
        } else {
            if (out->back() != '/') out->push_back('/');
            out->append(seg);
        }
        i = j;
    }
    if (trailingSlash && out->back() != '/') out->push_back('/');
    return true;
}

bool splitHostPort(std::string_view hostport, std::string* host, std::string_view* port) {
    std::string_view h = hostport;
    *port = {};
    if (h.empty()) return false;
    if (h.front() == '[') {
        const size_t close = h.find(']');
        if (close == std::string_view::npos) return false;
        std::string_view rest = h.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return false;
            *port = rest.substr(1);
        }
        h = h.substr(0, close + 1);
    } else {
        const size_t colon = h.rfind(':');
        if (colon != std::string_view::npos) {
            *port = h.substr(colon + 1);
            h = h.substr(0, colon);
        }
    }
    if (h.empty()) return false;
    for (char c : *port)
        if (c < '0' || c > '9') return false;
    for (char c : h) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= ' ' || u == 0x7f || c == '/' || c == '?' || c == '#' || c == '@') return false;
    }
    *host = toLower(h);
    return true;
}

}  // namespace gatehouse::http
