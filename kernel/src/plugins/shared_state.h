#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace gatehouse::plugins {

/// Counters and compare-and-set values that plugins share across workers and across
/// configuration reloads (rate limits, breaker state). Owned by the gateway process, not by
/// a snapshot. Sharded by key hash so that workers rarely contend on one lock.
class SharedState {
public:
    struct CounterResult {
        int64_t count = 0;     // in the current window, after the add
        int64_t previous = 0;  // in the window before it
        uint64_t windowStartMs = 0;
    };
    struct Value {
        std::string data;
        uint64_t version = 0;
    };

    /// `maxKeys` caps tracked keys per kind (counters, values); beyond it, expired keys are
    /// swept and, if still full, new keys are refused (counter_add reports failure).
    explicit SharedState(size_t maxKeys = 1'000'000) : maxKeysPerShard_(maxKeys / kShards + 1) {}

    /// Adds to the fixed window of `windowMs` containing `nowMs`. nullopt when the key
    /// cannot be tracked (cap reached).
    std::optional<CounterResult> counterAdd(std::string_view key, uint64_t windowMs, int64_t delta,
                                            uint64_t nowMs);

    std::optional<Value> get(std::string_view key, uint64_t nowMs);
    /// Stores `value` if the current version is `expected` (0 = absent); the new version, or
    /// nullopt on a mismatch.
    std::optional<uint64_t> compareAndSet(std::string_view key, uint64_t expected,
                                          std::string_view value, uint64_t ttlMs, uint64_t nowMs);

    size_t size() const;

private:
    static constexpr size_t kShards = 64;
    struct Counter {
        uint64_t windowMs = 0;
        uint64_t windowStart = 0;
        int64_t current = 0;
        int64_t previous = 0;
    };
    struct Entry {
        std::string data;
        uint64_t version = 0;
        uint64_t expiresAt = 0;  // 0 = never
    };
    struct KeyHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    struct alignas(64) Shard {
        std::mutex mutex;
        // Transparent: lookups by string_view allocate nothing (a rate limiter does one per
        // request).
        std::unordered_map<std::string, Counter, KeyHash, std::equal_to<>> counters;
        std::unordered_map<std::string, Entry, KeyHash, std::equal_to<>> values;
        uint64_t nextVersion = 1;
    };
    Shard& shardFor(std::string_view key);
    void sweep(Shard& s, uint64_t nowMs);

    size_t maxKeysPerShard_;
    std::array<Shard, kShards> shards_;
};

}  // namespace gatehouse::plugins
