#include "upstream/balancer.h"

#include <algorithm>

#include "common/fnv.h"
#include "http/ascii.h"

namespace gatehouse::upstream {
namespace {

struct alignas(64) WorkerSlot {
    std::vector<int64_t> current;  // smooth WRR running weights
    uint32_t cursor = 0;           // least-connections tie rotation
};

/// nginx's smooth weighted round-robin: spreads a 5:1:1 split as a,a,b,a,c,a,a rather than
/// a,a,a,a,a,b,c. Per worker; each worker's sequence is smooth and their union keeps weights.
class SmoothWeightedRoundRobin final : public Balancer {
public:
    SmoothWeightedRoundRobin(std::vector<std::shared_ptr<TargetState>> targets,
                             std::vector<uint32_t> weights, unsigned workers)
        : targets_(std::move(targets)),
          weights_(std::move(weights)),
          slots_(workers ? workers : 1) {
        for (auto& s : slots_)
            s.current.assign(targets_.size(), 0);
    }

    int pick(const BalanceInput&, unsigned worker) override {
        WorkerSlot& slot = slots_[worker % slots_.size()];
        int best = -1;
        int64_t total = 0;
        for (size_t i = 0; i < targets_.size(); ++i) {
            if (!targetUsable(*targets_[i], weights_[i])) continue;
            slot.current[i] += weights_[i];
            total += weights_[i];
            if (best < 0 || slot.current[i] > slot.current[static_cast<size_t>(best)])
                best = static_cast<int>(i);
        }
        if (best >= 0) slot.current[static_cast<size_t>(best)] -= total;
        return best;
    }

private:
    std::vector<std::shared_ptr<TargetState>> targets_;
    std::vector<uint32_t> weights_;
    std::vector<WorkerSlot> slots_;
};

/// Fewest in-flight requests relative to weight, counted across all workers; ties rotate so
/// that idle targets share the first requests instead of all going to target 0.
class LeastConnections final : public Balancer {
public:
    LeastConnections(std::vector<std::shared_ptr<TargetState>> targets,
                     std::vector<uint32_t> weights, unsigned workers)
        : targets_(std::move(targets)),
          weights_(std::move(weights)),
          slots_(workers ? workers : 1) {}

    int pick(const BalanceInput&, unsigned worker) override {
        const size_t n = targets_.size();
        if (n == 0) return -1;
        WorkerSlot& slot = slots_[worker % slots_.size()];
        const size_t start = slot.cursor++ % n;
        int best = -1;
        int64_t bestActive = 0;
        uint32_t bestWeight = 1;
        for (size_t k = 0; k < n; ++k) {
            const size_t i = (start + k) % n;
            if (!targetUsable(*targets_[i], weights_[i])) continue;
            const int64_t active = targets_[i]->active.load(std::memory_order_relaxed);
            // active/weight < bestActive/bestWeight, without division
            if (best < 0 || active * bestWeight < bestActive * weights_[i]) {
                best = static_cast<int>(i);
                bestActive = active;
                bestWeight = weights_[i];
            }
        }
        return best;
    }

private:
    std::vector<std::shared_ptr<TargetState>> targets_;
    std::vector<uint32_t> weights_;
    std::vector<WorkerSlot> slots_;
};

/// A hash ring with points per target in proportion to weight (~160 per target on average):
/// adding or removing one target moves only about 1/n of the keys.
class ConsistentHash final : public Balancer {
public:
    ConsistentHash(const config::UpstreamSpec& spec,
                   std::vector<std::shared_ptr<TargetState>> targets, std::vector<uint32_t> weights)
        : hashOn_(spec.hashOn),
          key_(spec.hashKey),
          targets_(std::move(targets)),
          weights_(std::move(weights)) {
        uint64_t totalWeight = 0;
        for (uint32_t w : weights_)
            totalWeight += w;
        if (totalWeight == 0) return;
        const uint64_t budget = 160 * targets_.size();
        for (size_t i = 0; i < targets_.size(); ++i) {
            if (weights_[i] == 0) continue;
            const uint64_t points = std::max<uint64_t>(1, budget * weights_[i] / totalWeight);
            for (uint64_t p = 0; p < points; ++p) {
                const std::string label = targets_[i]->address + '#' + std::to_string(p);
                ring_.push_back({mix(fnvHash(label)), static_cast<uint32_t>(i)});
            }
        }
        std::sort(ring_.begin(), ring_.end(),
                  [](const Point& a, const Point& b) { return a.hash < b.hash; });
    }

    int pick(const BalanceInput& in, unsigned) override {
        if (ring_.empty()) return -1;
        const uint64_t h = mix(fnvHash(keyOf(in)));
        auto it = std::lower_bound(ring_.begin(), ring_.end(), h,
                                   [](const Point& p, uint64_t v) { return p.hash < v; });
        // Walk clockwise past unusable targets.
        for (size_t k = 0; k < ring_.size(); ++k, ++it) {
            if (it == ring_.end()) it = ring_.begin();
            if (targetUsable(*targets_[it->target], weights_[it->target]))
                return static_cast<int>(it->target);
        }
        return -1;
    }

private:
    struct Point {
        uint64_t hash;
        uint32_t target;
    };
    static uint64_t mix(uint64_t x) {  // finalizer: spreads FNV's low-entropy high bits
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 33;
        return x;
    }
    std::string_view keyOf(const BalanceInput& in) const {
        if (hashOn_ == config::HashOn::kHeader && in.headers) {
            if (auto v = in.headers->get(key_)) return *v;
        } else if (hashOn_ == config::HashOn::kCookie && in.headers) {
            for (const auto& f : in.headers->fields()) {
                if (!http::iequals(f.name, "cookie")) continue;
                std::string_view c = f.value;
                while (!c.empty()) {
                    const size_t semi = c.find(';');
                    std::string_view pair = http::trimOws(c.substr(0, semi));
                    c = semi == std::string_view::npos ? std::string_view() : c.substr(semi + 1);
                    const size_t eq = pair.find('=');
                    if (eq != std::string_view::npos && pair.substr(0, eq) == key_)
                        return pair.substr(eq + 1);
                }
            }
        }
        return in.clientIp;  // hash_on ip, or the header/cookie is absent
    }

    config::HashOn hashOn_;
    std::string key_;
    std::vector<std::shared_ptr<TargetState>> targets_;
    std::vector<uint32_t> weights_;
    std::vector<Point> ring_;
};

}  // namespace

bool targetUsable(const TargetState& t, uint32_t weight) {
    return weight > 0 && t.resolvedOk;
}

std::unique_ptr<Balancer> makeBalancer(const config::UpstreamSpec& spec,
                                       const std::vector<std::shared_ptr<TargetState>>& targets,
                                       unsigned workers) {
    std::vector<uint32_t> weights;
    for (const auto& t : spec.targets)
        weights.push_back(t.weight);
    switch (spec.algorithm) {
        case config::Algorithm::kLeastConnections:
            return std::make_unique<LeastConnections>(targets, std::move(weights), workers);
        case config::Algorithm::kConsistentHash:
            return std::make_unique<ConsistentHash>(spec, targets, std::move(weights));
        case config::Algorithm::kRoundRobin:
            break;
    }
    return std::make_unique<SmoothWeightedRoundRobin>(targets, std::move(weights), workers);
}

}  // namespace gatehouse::upstream
