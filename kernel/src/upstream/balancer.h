#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "config/model.h"
#include "http/message.h"
#include "upstream/target.h"

namespace gatehouse::upstream {

struct BalanceInput {
    std::string_view clientIp;
    const http::HeaderList* headers = nullptr;
};

/// Picks a target for a request. One instance per upstream per snapshot; per-worker state
/// lives in slots indexed by worker number, so picking takes no lock.
class Balancer {
public:
    virtual ~Balancer() = default;
    /// Index into the upstream's targets, or -1 when none is available.
    virtual int pick(const BalanceInput& in, unsigned worker) = 0;
};

std::unique_ptr<Balancer> makeBalancer(const config::UpstreamSpec& spec,
                                       const std::vector<std::shared_ptr<TargetState>>& targets,
                                       unsigned workers);

/// Whether a target may receive traffic (weight > 0 and its address resolved).
bool targetUsable(const TargetState& t, uint32_t weight);

}  // namespace gatehouse::upstream
