#include "net/event_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>

#include "net/clock.h"

namespace gatehouse::net {

/// Reads the eventfd so that the level-triggered registration quiets down.
class EventLoop::Waker final : public IoHandler {
public:
    explicit Waker(int fd) : fd_(fd) {}
    void onIo(uint32_t) override {
        uint64_t v;
        while (::read(fd_, &v, sizeof v) > 0) {
        }
    }

private:
    int fd_;
};

EventLoop::EventLoop() {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
    eventfd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (eventfd_ < 0) {
        ::close(epfd_);
        throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
    }
    waker_ = std::make_unique<Waker>(eventfd_);
    add(eventfd_, waker_.get(), EPOLLIN);
    nowMs_ = monotonicMs();
}

EventLoop::~EventLoop() {
    deferred_.clear();
    ::close(eventfd_);
    ::close(epfd_);
}

bool EventLoop::add(int fd, IoHandler* handler, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = handler;
    return ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void EventLoop::remove(int fd) {
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
}

uint64_t EventLoop::refreshNow() {
    return nowMs_ = monotonicMs();
}

void EventLoop::stop() {
    stopping_.store(true, std::memory_order_release);
    const uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(eventfd_, &one, sizeof one);
}

void EventLoop::post(std::function<void()> task) {
    {
        std::lock_guard lock(postedMutex_);
        posted_.push_back(std::move(task));
    }
    const uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(eventfd_, &one, sizeof one);
}

void EventLoop::destroyLater(std::unique_ptr<IoHandler> handler) {
    deferred_.push_back(std::move(handler));
}

void EventLoop::drainPosted() {
    {
        std::lock_guard lock(postedMutex_);
        if (posted_.empty()) return;
        running_.swap(posted_);
    }
    for (auto& task : running_) {
        try {
            task();
        } catch (const std::exception& e) {
            if (errorHook_) errorHook_(e.what());
        }
    }
    running_.clear();
}

void EventLoop::reapDeferred() {
    // Destructors may defer more handlers (a client closing its upstream): loop until quiet.
    while (!deferred_.empty()) {
        auto batch = std::move(deferred_);
        deferred_.clear();
        batch.clear();
    }
}

void EventLoop::run() {
    constexpr int kMaxEvents = 256;
    epoll_event events[kMaxEvents];
    while (!stopping_.load(std::memory_order_acquire)) {
        const int timeout = timers_.msUntilNext(nowMs_);
        const int n = ::epoll_wait(epfd_, events, kMaxEvents, timeout);
        refreshNow();
        if (n < 0 && errno != EINTR) {
            if (errorHook_) errorHook_(std::strerror(errno));
            continue;
        }
        for (int i = 0; i < n; ++i) {
            auto* handler = static_cast<IoHandler*>(events[i].data.ptr);
            try {
                handler->onIo(events[i].events);
            } catch (const std::exception& e) {
                if (errorHook_) errorHook_(e.what());
            } catch (...) {
                if (errorHook_) errorHook_("unknown exception in I/O handler");
            }
        }
        drainPosted();
        try {
            timers_.expire(nowMs_);
        } catch (const std::exception& e) {
            if (errorHook_) errorHook_(e.what());
        }
        reapDeferred();
    }
    drainPosted();
    reapDeferred();
}

}  // namespace gatehouse::net
