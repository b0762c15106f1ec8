#include "plugins/shared_state.h"

#include "common/fnv.h"

namespace gatehouse::plugins {

SharedState::Shard& SharedState::shardFor(std::string_view key) {
    return shards_[fnvHash(key) % kShards];
}

void SharedState::sweep(Shard& s, uint64_t nowMs) {
    // A counter whose current window ended more than a window ago carries no information.
    std::erase_if(s.counters, [nowMs](const auto& kv) {
        const Counter& c = kv.second;
        return nowMs >= c.windowStart + 2 * c.windowMs;
    });
    std::erase_if(s.values, [nowMs](const auto& kv) {
        return kv.second.expiresAt && kv.second.expiresAt <= nowMs;
    });
}

std::optional<SharedState::CounterResult> SharedState::counterAdd(std::string_view key,
                                                                  uint64_t windowMs, int64_t delta,
                                                                  uint64_t nowMs) {
    if (windowMs == 0) return std::nullopt;
    Shard& s = shardFor(key);
    std::lock_guard lock(s.mutex);
    auto it = s.counters.find(key);
    if (it == s.counters.end()) {
        if (s.counters.size() >= maxKeysPerShard_) {
            sweep(s, nowMs);
            if (s.counters.size() >= maxKeysPerShard_) return std::nullopt;
        }
        it = s.counters.emplace(std::string(key), Counter{}).first;
    }
    Counter& c = it->second;
    const uint64_t start = nowMs - nowMs % windowMs;
    if (c.windowMs != windowMs) {
        c = Counter{windowMs, start, 0, 0};
    } else if (start != c.windowStart) {
        // Rolled over: the current window becomes "previous" only if it is the one just before.
        c.previous = (start - c.windowStart == windowMs) ? c.current : 0;
        c.current = 0;
        c.windowStart = start;
    }
    c.current += delta;
    return CounterResult{c.current, c.previous, c.windowStart};
}

std::optional<SharedState::Value> SharedState::get(std::string_view key, uint64_t nowMs) {
    Shard& s = shardFor(key);
    std::lock_guard lock(s.mutex);
    auto it = s.values.find(key);
    if (it == s.values.end()) return std::nullopt;
    if (it->second.expiresAt && it->second.expiresAt <= nowMs) {
        s.values.erase(it);
        return std::nullopt;
    }
    return Value{it->second.data, it->second.version};
}

std::optional<uint64_t> SharedState::compareAndSet(std::string_view key, uint64_t expected,
                                                   std::string_view value, uint64_t ttlMs,
                                                   uint64_t nowMs) {
    Shard& s = shardFor(key);
    std::lock_guard lock(s.mutex);
    auto it = s.values.find(key);
    if (it != s.values.end() && it->second.expiresAt && it->second.expiresAt <= nowMs) {
        s.values.erase(it);
        it = s.values.end();
    }
    const uint64_t current = it == s.values.end() ? 0 : it->second.version;
    if (current != expected) return std::nullopt;
    if (it == s.values.end()) {
        if (s.values.size() >= maxKeysPerShard_) {
            sweep(s, nowMs);
            if (s.values.size() >= maxKeysPerShard_) return std::nullopt;
        }
        it = s.values.emplace(std::string(key), Entry{}).first;
    }
    it->second.data.assign(value);
    it->second.version = s.nextVersion++;
    it->second.expiresAt = ttlMs ? nowMs + ttlMs : 0;
    return it->second.version;
}

size_t SharedState::size() const {
    size_t n = 0;
    for (auto& s : shards_) {
        std::lock_guard lock(const_cast<Shard&>(s).mutex);
        n += s.counters.size() + s.values.size();
    }
    return n;
}

}  // namespace gatehouse::plugins
