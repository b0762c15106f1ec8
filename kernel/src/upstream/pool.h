#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "net/event_loop.h"
#include "upstream/connection.h"

namespace gatehouse::upstream {

struct PoolLimits {
    uint32_t maxIdlePerTarget = 64;
    uint32_t idleTimeoutMs = 30000;
};

/// A worker's idle keep-alive connections, per target, most recently used first. Worker
/// thread only. An idle connection that the upstream closes or that idles out is dropped.
class ConnectionPool {
public:
    explicit ConnectionPool(net::EventLoop& loop) : loop_(loop) {}
    ConnectionPool(const ConnectionPool&) = delete;
    ConnectionPool& operator=(const ConnectionPool&) = delete;
    ~ConnectionPool();

    /// An idle connection to `target`, or nullptr.
    std::unique_ptr<UpstreamConnection> acquire(const TargetState& target);
    /// Keeps `c` for reuse, or closes it when the target's idle list is full.
    void release(std::unique_ptr<UpstreamConnection> c, const PoolLimits& limits);
    /// Closes and forgets an idle connection (called by the connection itself).
    void drop(UpstreamConnection* c);
    /// Closes every idle connection (drain).
    void closeAll();
    /// Closes a connection that nobody will use again, safely during event dispatch.
    void discard(std::unique_ptr<UpstreamConnection> c);

    size_t idleCount() const;
    /// The same count, readable from any thread (metrics).
    int64_t idleGauge() const { return idleGauge_.load(std::memory_order_relaxed); }

private:
    net::EventLoop& loop_;
    std::unordered_map<uint64_t, std::vector<std::unique_ptr<UpstreamConnection>>> idle_;
    std::atomic<int64_t> idleGauge_{0};  // written by the owning worker only
    void adjustIdle(int64_t d) {
        idleGauge_.store(idleGauge_.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
    }
};

}  // namespace gatehouse::upstream
