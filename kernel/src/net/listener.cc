#include "net/listener.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <Poco/Net/StreamSocketImpl.h>

#include <cerrno>

namespace gatehouse::net {

std::vector<Poco::Net::ServerSocket> openReusePortListeners(const Poco::Net::SocketAddress& addr,
                                                            unsigned count, int backlog) {
    std::vector<Poco::Net::ServerSocket> sockets;
    Poco::Net::SocketAddress bound = addr;
    if (addr.port() != 0) {
        // SO_REUSEPORT would let us share a port with another process that also set it (a
        // second gatehouse, or anything POCO-based): the kernel would split traffic between
        // us. An exclusive probe bind first turns "port in use" into a clear startup error.
        Poco::Net::ServerSocket probe;
        probe.bind(addr, /*reuseAddress=*/true, /*reusePort=*/false);
        probe.close();
    }
    for (unsigned i = 0; i < count; ++i) {
        Poco::Net::ServerSocket s;
        s.bind(bound, /*reuseAddress=*/true, /*reusePort=*/true);
        s.listen(backlog);
        s.setBlocking(false);
        if (i == 0) bound = s.address();  // resolves port 0 for the others
        sockets.push_back(std::move(s));
    }
    return sockets;
}

std::optional<Poco::Net::StreamSocket> acceptNonBlocking(const Poco::Net::ServerSocket& listener,
                                                         Poco::Net::SocketAddress* peer,
                                                         int* error) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    for (;;) {
        const int fd = ::accept4(listener.impl()->sockfd(), reinterpret_cast<sockaddr*>(&ss), &len,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            const int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (peer) *peer = Poco::Net::SocketAddress(reinterpret_cast<sockaddr*>(&ss), len);
            // StreamSocketImpl takes ownership of the fd; its blocking flag is only consulted
            // by POCO's own I/O calls, which the data plane does not use (net/socket_io.h).
            Poco::Net::StreamSocket socket(new Poco::Net::StreamSocketImpl(fd));
            if (error) *error = 0;
            return socket;
        }
        if (errno == EINTR) continue;
        if (error) *error = (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : errno;
        return std::nullopt;
    }
}

std::string addressText(const Poco::Net::SocketAddress& addr, bool withPort) {
    if (!withPort) return addr.host().toString();
    return addr.toString();
}

}  // namespace gatehouse::net
