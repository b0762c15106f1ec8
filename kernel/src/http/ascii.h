#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gatehouse::http {

inline char asciiLower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

inline bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (asciiLower(a[i]) != asciiLower(b[i])) return false;
    return true;
}

inline std::string toLower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        c = asciiLower(c);
    return out;
}

inline bool isOws(char c) {
    return c == ' ' || c == '\t';
}

inline std::string_view trimOws(std::string_view s) {
    while (!s.empty() && isOws(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && isOws(s.back()))
        s.remove_suffix(1);
    return s;
}

/// RFC 9110 tchar.
/// RFC 9110 tchar, as a table: header names are checked on every plugin header call.
inline constexpr auto kTokenChars = [] {
    std::array<bool, 256> t{};
    for (int c = '0'; c <= '9'; ++c)
        t[static_cast<size_t>(c)] = true;
    for (int c = 'a'; c <= 'z'; ++c)
        t[static_cast<size_t>(c)] = true;
    for (int c = 'A'; c <= 'Z'; ++c)
        t[static_cast<size_t>(c)] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~"))
        t[static_cast<unsigned char>(c)] = true;
    return t;
}();

inline bool isTokenChar(unsigned char c) {
    return kTokenChars[c];
}

inline bool isToken(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!isTokenChar(static_cast<unsigned char>(c))) return false;
    return true;
}

/// Calls f(element) for each comma-separated element of a list header, OWS-trimmed, empty
/// elements skipped (RFC 9110 5.6.1).
template <typename F>
void forEachListElement(std::string_view value, F&& f) {
    size_t start = 0;
    while (start <= value.size()) {
        size_t comma = value.find(',', start);
        if (comma == std::string_view::npos) comma = value.size();
        std::string_view item = trimOws(value.substr(start, comma - start));
        if (!item.empty()) f(item);
        start = comma + 1;
    }
}

/// Parses a non-negative decimal without sign or whitespace; false on overflow or junk.
inline bool parseDecimal(std::string_view s, uint64_t* out) {
    if (s.empty() || s.size() > 19) return false;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    *out = v;
    return true;
}

}  // namespace gatehouse::http
