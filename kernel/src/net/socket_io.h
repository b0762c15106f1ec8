#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstddef>

namespace gatehouse::net {

/// Non-blocking I/O on the fd of a Poco socket. The hot path uses these rather than
/// Poco::Net::StreamSocket::receiveBytes/sendBytes because POCO reports a reset peer by
/// throwing, and exceptions must not cross an event-loop iteration (DESIGN.md conventions).
struct IoResult {
    enum Kind { kData, kEof, kWouldBlock, kError };
    Kind kind;
    size_t bytes;  // for kData
    int error;     // errno for kError

    static IoResult data(size_t n) { return {kData, n, 0}; }
};

inline IoResult readSome(int fd, char* buf, size_t len) {
    for (;;) {
        const ssize_t n = ::recv(fd, buf, len, 0);
        if (n > 0) return IoResult::data(static_cast<size_t>(n));
        if (n == 0) return {IoResult::kEof, 0, 0};
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return {IoResult::kWouldBlock, 0, 0};
        return {IoResult::kError, 0, errno};
    }
}

inline IoResult writeSome(int fd, const char* buf, size_t len) {
    for (;;) {
        const ssize_t n = ::send(fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0) return IoResult::data(static_cast<size_t>(n));
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return {IoResult::kWouldBlock, 0, 0};
        return {IoResult::kError, 0, errno};
    }
}

}  // namespace gatehouse::net
