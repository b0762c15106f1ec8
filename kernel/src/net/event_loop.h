#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "net/timer_queue.h"

namespace gatehouse::net {

/// Something with a file descriptor registered in an EventLoop.
class IoHandler {
public:
    virtual ~IoHandler() = default;
    /// `events` is the epoll mask (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP).
    virtual void onIo(uint32_t events) = 0;
};

/// One thread's event loop: epoll, a timer heap, and a thread-safe task queue.
///
/// Why epoll and not Poco::Net::PollSet (DESIGN.md asks this to be justified): PollSet in
/// POCO 1.11 only watches Poco Sockets, so a worker could not be woken from another thread
/// (eventfd) for config publishes, drain and plugin resumes; its poll() builds a std::map and
/// takes a mutex on every call; it is level-triggered only. Connections stay
/// Poco::Net::StreamSocket objects; only readiness comes from here.
///
/// Connections are registered edge-triggered once (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET) and
/// never modified afterwards: no epoll_ctl per request. Handlers track readiness themselves.
class EventLoop {
public:
    EventLoop();
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    static constexpr uint32_t kEdgeTriggered = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;

    /// Returns false (and leaves errno) when epoll_ctl refuses the fd.
    bool add(int fd, IoHandler* handler, uint32_t events);
    void remove(int fd);

    /// Runs until stop(). Exceptions thrown by handlers are caught per event and reported
    /// through the error hook so that one bad connection never ends the loop.
    void run();
    /// Thread-safe.
    void stop();

    /// Thread-safe: runs `task` on the loop thread at its next iteration.
    void post(std::function<void()> task);

    /// Destroys `handler` after the current batch of events, so that a pending event for it
    /// in the same batch never reaches freed memory. Loop thread only.
    void destroyLater(std::unique_ptr<IoHandler> handler);

    TimerQueue& timers() { return timers_; }
    /// The time cached at the start of this iteration.
    uint64_t nowMs() const { return nowMs_; }
    uint64_t refreshNow();

    /// Called with a description when a handler throws.
    void setErrorHook(std::function<void(const char*)> hook) { errorHook_ = std::move(hook); }

private:
    class Waker;
    void drainPosted();
    void reapDeferred();

    int epfd_ = -1;
    int eventfd_ = -1;
    std::unique_ptr<Waker> waker_;
    TimerQueue timers_;
    uint64_t nowMs_ = 0;
    std::atomic<bool> stopping_{false};

    std::mutex postedMutex_;
    std::vector<std::function<void()>> posted_;
    std::vector<std::function<void()>> running_;

    std::vector<std::unique_ptr<IoHandler>> deferred_;
    std::function<void(const char*)> errorHook_;
};

}  // namespace gatehouse::net
