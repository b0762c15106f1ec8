#pragma once

#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>

#include <optional>
#include <string>
#include <vector>

namespace gatehouse::net {

/// Opens `count` listening sockets on one address with SO_REUSEPORT, one per worker, so the
/// kernel spreads new connections across workers with no shared accept lock. Port 0 binds
/// the first socket to a free port and the others to the same one. Throws on failure with a
/// one-line reason (the caller reports it and exits).
std::vector<Poco::Net::ServerSocket> openReusePortListeners(const Poco::Net::SocketAddress& addr,
                                                            unsigned count, int backlog);

/// Accepts one pending connection without throwing: nullopt when the queue is empty or on a
/// transient error (EMFILE, ECONNABORTED...). The socket comes back non-blocking, with
/// TCP_NODELAY set.
std::optional<Poco::Net::StreamSocket> acceptNonBlocking(const Poco::Net::ServerSocket& listener,
                                                         Poco::Net::SocketAddress* peer,
                                                         int* error);

/// "ip:port" for logs and X-Forwarded-For ("ip" only with withPort=false).
std::string addressText(const Poco::Net::SocketAddress& addr, bool withPort = true);

}  // namespace gatehouse::net
