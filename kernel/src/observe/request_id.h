#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace gatehouse::observe {

/// Random UUIDv4 request ids from a per-worker xoshiro256** generator seeded from the OS:
/// no lock, no syscall per request.
class RequestIdGenerator {
public:
    RequestIdGenerator() {
        std::random_device rd;
        for (auto& w : s_)
            w = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    }

    /// Writes 36 characters into `out`.
    void next(char* out) {
        uint64_t a = step(), b = step();
        a = (a & 0xffffffffffff0fffull) | 0x0000000000004000ull;  // version 4
        b = (b & 0x3fffffffffffffffull) | 0x8000000000000000ull;  // variant 10
        static constexpr char kHex[] = "0123456789abcdef";
        int pos = 0;
        for (int i = 0; i < 16; ++i) {
            if (i == 4 || i == 6 || i == 8 || i == 10) out[pos++] = '-';
            const uint64_t word = i < 8 ? a : b;
            const auto byte = static_cast<unsigned>((word >> (8 * (7 - (i % 8)))) & 0xff);
            out[pos++] = kHex[byte >> 4];
            out[pos++] = kHex[byte & 15];
        }
    }

    std::string next() {
        std::string s(36, '\0');
        next(s.data());
        return s;
    }

    /// 64 random bits (trace and span ids).
    uint64_t random() { return step(); }

private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    uint64_t step() {
        const uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }
    uint64_t s_[4];
};

}  // namespace gatehouse::observe
