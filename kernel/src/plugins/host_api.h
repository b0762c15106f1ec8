#pragma once

#include <gatehouse/plugin.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/message.h"
#include "observe/event_log.h"
#include "observe/metrics.h"
#include "plugins/shared_state.h"

namespace gatehouse::plugins {

/// Limits on request variables (var_set in plugin.h).
inline constexpr size_t kMaxVarName = 64;
inline constexpr size_t kMaxVarValue = 4096;
inline constexpr size_t kMaxVars = 32;

/// A configured consumer as the plugin ABI shows it (views into the request's snapshot).
struct ConsumerView {
    std::string_view id;
    std::string_view username;
    std::string_view customId;
    std::string_view roles;  // comma-separated
};

/// gh_request_info as the proxy reports it.
struct RequestInfoView {
    int upstreamStatus = 0;
    int upstreamError = 0;  // GH_UPSTREAM_*
    std::string_view upstreamAddress;
    uint64_t bytesIn = 0;
    uint64_t bytesOut = 0;
    int64_t startUnixUs = 0;
    int64_t totalUs = 0;
    int64_t upstreamUs = -1;
};

/// A configured credential as the plugin ABI shows it.
struct CredentialView {
    int type = 0;  // GH_CREDENTIAL_*
    std::string_view id;
    std::string_view algorithm;
    std::string_view secret;
    std::string_view publicKey;
    std::string_view issuer;
    std::string_view kid;
};

/// One request as plugins see it. The proxy implements it for each exchange; the host
/// functions of the C ABI translate to these calls. Worker thread only.
class RequestAccess {
public:
    virtual std::string_view method() = 0;
    virtual std::string_view path() = 0;
    virtual std::string_view query() = 0;
    virtual std::string_view host() = 0;
    virtual std::string_view scheme() = 0;
    virtual std::string_view clientAddress() = 0;
    virtual std::string_view routeName() = 0;
    virtual std::string_view requestId() = 0;
    virtual int status() = 0;
    virtual bool setStatus(int status) = 0;
    /// The headers a plugin may read (and, in the right phase, change); nullptr when that
    /// message does not exist yet.
    virtual http::HeaderList* headers(int which, bool forWriting) = 0;
    virtual bool setPath(std::string_view path) = 0;
    virtual bool setQuery(std::string_view query) = 0;
    /// The buffered body; nullptr when it is not buffered for this plugin.
    virtual std::string* body(int which, bool forWriting) = 0;
    virtual bool respond(int status, std::vector<std::pair<std::string, std::string>> headers,
                         std::string body) = 0;
    virtual bool setConsumer(std::string_view id, std::string_view name) = 0;
    virtual std::string_view consumerId() = 0;
    /// A handle whose resume wakes this request; nullptr when pausing is not possible now.
    virtual gh_resumer* pause() = 0;
    /// The credential of `type` a request presents (see credential_find in plugin.h).
    virtual bool findCredential(int type, std::string_view lookup, ConsumerView* consumer,
                                CredentialView* credential) = 0;
    /// The consumer set_consumer named, as configured.
    virtual bool currentConsumer(ConsumerView* consumer) = 0;
    /// Request variables (var_set/var_get; the name is already checked). An empty value
    /// removes the name; false when the request holds kMaxVars names already.
    virtual bool setVar(std::string_view name, std::string_view value) = 0;
    virtual const std::string* var(std::string_view name) = 0;
    virtual RequestInfoView requestInfo() = 0;

protected:
    ~RequestAccess() = default;
};

/// What every plugin instance reaches through its gh_instance_host: owned by the gateway,
/// outlives every instance.
struct PluginServices {
    observe::EventLog* log = nullptr;
    SharedState* state = nullptr;
    observe::MetricRegistry* metrics = nullptr;
    const std::atomic<uint64_t>* reopenGeneration = nullptr;  // bumped on SIGUSR1
};

/// The process's host function table (static storage, immutable).
const gh_host_api* hostApi();

}  // namespace gatehouse::plugins

/// The ABI's opaque request handle: the proxy embeds one per exchange.
struct gh_request {
    gatehouse::plugins::RequestAccess* access = nullptr;
};

/// The ABI's opaque per-instance handle.
struct gh_instance_host {
    gatehouse::plugins::PluginServices* services = nullptr;
    std::string plugin;  // the plugin's name: log attribution, metric label, state namespace
    std::vector<std::shared_ptr<gatehouse::observe::MetricRegistry::Metric>> metrics;
    // status_register (ABI 1.2): how the instance reports its state; set in instance_create.
    int32_t (*status)(void* instance, char* buf, size_t capacity, size_t* length) = nullptr;
};

/// The ABI's opaque resumer: wakes the paused request (posts to its worker) once.
struct gh_resumer {
    std::function<void()> wake;
};

// gh_metric stays incomplete: a gh_metric* is a MetricRegistry::Metric* in disguise, owned by
// the instance's gh_instance_host.
