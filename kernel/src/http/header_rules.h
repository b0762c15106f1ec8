#pragma once

#include <string_view>

#include "http/message.h"

namespace gatehouse::http {

/// How the proxy treats a header field on its way through.
enum class HeaderClass {
    kForward,       // passes through
    kHopByHop,      // Connection, Keep-Alive, TE, Trailer, Upgrade, Proxy-Connection,
                    // Proxy-Authorization, Transfer-Encoding: never forwarded
    kFraming,       // Content-Length: the proxy writes its own
    kGatewayOwned,  // X-Forwarded-*, X-Request-Id, Host: set by the gateway after removal
};

HeaderClass classifyRequestHeader(std::string_view name);
HeaderClass classifyResponseHeader(std::string_view name);

/// True when `name` is listed in any Connection header of `headers` (those are hop-by-hop
/// too, RFC 9110 7.6.1).
bool namedInConnection(const HeaderList& headers, std::string_view name);

/// The tokens of a message's Connection headers, collected once: checking each header
/// against them is then O(tokens), not a rescan of every Connection header.
class ConnectionTokens {
public:
    explicit ConnectionTokens(const HeaderList& headers);
    bool contains(std::string_view name) const;
    bool empty() const { return count_ == 0; }

private:
    static constexpr size_t kMax = 16;  // more than this in one message: treated as all listed
    std::string_view tokens_[kMax];
    size_t count_ = 0;
    bool overflow_ = false;
};

/// True when some Connection header carries `token` (e.g. "close", "keep-alive").
bool connectionHas(const HeaderList& headers, std::string_view token);

}  // namespace gatehouse::http
