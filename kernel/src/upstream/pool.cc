#include "upstream/pool.h"

#include <algorithm>

namespace gatehouse::upstream {

ConnectionPool::~ConnectionPool() {
    closeAll();
}

std::unique_ptr<UpstreamConnection> ConnectionPool::acquire(const TargetState& target) {
    auto it = idle_.find(target.id);
    if (it == idle_.end() || it->second.empty()) return nullptr;
    std::unique_ptr<UpstreamConnection> c = std::move(it->second.back());
    it->second.pop_back();
    adjustIdle(-1);
    c->unpark();
    return c;
}

void ConnectionPool::release(std::unique_ptr<UpstreamConnection> c, const PoolLimits& limits) {
    auto& list = idle_[c->target().id];
    if (list.size() >= limits.maxIdlePerTarget) {
        discard(std::move(c));
        return;
    }
    c->parkIdle(this, loop_.nowMs() + limits.idleTimeoutMs);
    list.push_back(std::move(c));
    adjustIdle(1);
}

void ConnectionPool::drop(UpstreamConnection* c) {
    auto it = idle_.find(c->target().id);
    if (it == idle_.end()) return;
    auto& list = it->second;
    auto pos = std::find_if(list.begin(), list.end(), [c](const auto& p) { return p.get() == c; });
    if (pos == list.end()) return;
    std::unique_ptr<UpstreamConnection> owned = std::move(*pos);
    list.erase(pos);
    adjustIdle(-1);
    if (list.empty()) idle_.erase(it);
    discard(std::move(owned));
}

void ConnectionPool::discard(std::unique_ptr<UpstreamConnection> c) {
    c->close();
    loop_.destroyLater(std::move(c));
}

void ConnectionPool::closeAll() {
    auto idle = std::move(idle_);
    idle_.clear();
    idleGauge_.store(0, std::memory_order_relaxed);
    for (auto& [id, list] : idle)
        for (auto& c : list)
            discard(std::move(c));
}

size_t ConnectionPool::idleCount() const {
    size_t n = 0;
    for (const auto& [id, list] : idle_)
        n += list.size();
    return n;
}

}  // namespace gatehouse::upstream
