#pragma once

#include <Poco/Net/SocketAddress.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace gatehouse::upstream {

/// One upstream target (host:port) as the data plane sees it. Shared by every snapshot that
/// names the same upstream and address, so its counters survive config changes.
struct TargetState {
    uint64_t id = 0;         // process-unique; keys the per-worker connection pools
    std::string address;     // as configured
    std::string hostHeader;  // Host sent upstream unless the route preserves the client's
    Poco::Net::SocketAddress resolved;
    bool resolvedOk = false;
    std::string resolveError;
    std::atomic<int32_t> active{0};  // requests in flight on this target, all workers
};

/// Owns target identities across snapshots and resolves their names. Control thread only:
/// resolution may block on DNS, which a worker must never do.
class TargetRegistry {
public:
    /// The shared state for `address` of upstream `upstreamName`, resolved now.
    std::shared_ptr<TargetState> get(const std::string& upstreamName, const std::string& address);

private:
    std::mutex mutex_;
    uint64_t nextId_ = 1;
    std::unordered_map<std::string, std::weak_ptr<TargetState>> targets_;
};

/// Splits "host:port" ("[v6]:port"); false when malformed or the port is not 1-65535.
bool parseTargetAddress(const std::string& address, std::string* host, uint16_t* port);

}  // namespace gatehouse::upstream
