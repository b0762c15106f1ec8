#pragma once

#include <Poco/Net/HTTPServer.h>

#include <memory>
#include <string>

#include "admin/admin_api.h"

namespace gatehouse::admin {

struct AdminSettings {
    std::string listen = "127.0.0.1:8001";  // "off" disables the admin listener
    size_t maxBodyBytes = 16u << 20;        // PUT /config of a large configuration fits
    unsigned threads = 4;
};

/// Carries AdminApi over Poco::Net::HTTPServer (thread per connection is fine for an admin
/// API; DESIGN.md keeps HTTPServer off the proxy path only). Runs on its own threads, never
/// on a worker.
class AdminServer {
public:
    AdminServer(const AdminSettings& settings, const AdminApi& api);
    ~AdminServer();
    AdminServer(const AdminServer&) = delete;
    AdminServer& operator=(const AdminServer&) = delete;

    /// Binds and starts; throws (with the reason) when the address cannot be bound.
    void start();
    void stop();
    std::string address() const { return bound_; }
    /// True when bound to something other than a loopback address.
    bool exposed() const { return exposed_; }

private:
    AdminSettings settings_;
    const AdminApi& api_;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
    std::string bound_;
    bool exposed_ = false;
};

}  // namespace gatehouse::admin
