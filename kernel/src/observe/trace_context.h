#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace gatehouse::observe {

namespace detail {
/// "000102...ff": the two hex digits of every byte value.
struct HexPairs {
    char pairs[512];
    constexpr HexPairs() : pairs() {
        constexpr char kHex[] = "0123456789abcdef";
        for (int i = 0; i < 256; ++i) {
            pairs[2 * i] = kHex[i >> 4];
            pairs[2 * i + 1] = kHex[i & 15];
        }
    }
};
inline constexpr HexPairs kHexPairs{};
}  // namespace detail

/// W3C Trace Context (https://www.w3.org/TR/trace-context/) for one request: the trace it
/// belongs to, the caller's span (the parent), and the gateway's own span, which is what the
/// upstream receives as its parent.
struct TraceContext {
    uint8_t traceId[16] = {};
    uint8_t parentSpanId[8] = {};
    uint8_t spanId[8] = {};
    uint8_t flags = 0;  // bit 0: sampled
    bool hasParent = false;

    bool sampled() const { return flags & 1; }

    /// Reads a `traceparent` value. Version 00 must be exactly 55 characters; a later version
    /// is read by its first four fields (forward compatibility). Lowercase hex only; an
    /// all-zero trace or span id is invalid. On success sets traceId, parentSpanId, flags.
    bool parseTraceparent(std::string_view v) {
        if (v.size() < 55) return false;
        uint8_t version;
        if (!hexBytes(v.substr(0, 2), &version, 1) || version == 0xff || v[2] != '-') return false;
        if (version == 0 && v.size() != 55) return false;
        if (version != 0 && v.size() > 55 && v[55] != '-') return false;
        if (v[35] != '-' || v[52] != '-') return false;
        uint8_t trace[16], parent[8], fl;
        if (!hexBytes(v.substr(3, 32), trace, 16) || !hexBytes(v.substr(36, 16), parent, 8) ||
            !hexBytes(v.substr(53, 2), &fl, 1))
            return false;
        if (allZero(trace, 16) || allZero(parent, 8)) return false;
        std::memcpy(traceId, trace, 16);
        std::memcpy(parentSpanId, parent, 8);
        flags = fl & 1;  // other flag bits are not ours to forward as set
        hasParent = true;
        return true;
    }

    /// `00-<trace id>-<span id>-<flags>` with the gateway's span as the parent: 55 chars.
    void formatTraceparent(char* out) const {
        std::memcpy(out, "00-", 3);
        toHex(traceId, 16, out + 3);
        out[35] = '-';
        toHex(spanId, 8, out + 36);
        out[52] = '-';
        toHex(&flags, 1, out + 53);
    }
    static constexpr size_t kTraceparentLength = 55;

    /// Stores 8 random bytes of an id (their order does not matter: they are random).
    static void storeId(uint8_t* out, uint64_t v) { std::memcpy(out, &v, 8); }

    /// Lowercase hex, two table bytes per input byte (this runs for every proxied request).
    static void toHex(const uint8_t* in, size_t n, char* out) {
        for (size_t i = 0; i < n; ++i)
            std::memcpy(out + 2 * i, detail::kHexPairs.pairs + 2 * in[i], 2);
    }

private:
    static bool allZero(const uint8_t* p, size_t n) {
        for (size_t i = 0; i < n; ++i)
            if (p[i]) return false;
        return true;
    }
    static int nibble(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;  // uppercase is invalid in traceparent
    }
    static bool hexBytes(std::string_view s, uint8_t* out, size_t n) {
        if (s.size() != 2 * n) return false;
        for (size_t i = 0; i < n; ++i) {
            const int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
            if (hi < 0 || lo < 0) return false;
            out[i] = static_cast<uint8_t>(hi << 4 | lo);
        }
        return true;
    }
};

}  // namespace gatehouse::observe
