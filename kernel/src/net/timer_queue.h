#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

namespace gatehouse::net {

class TimerQueue;

/// A one-shot timer embedded in its owner (a connection keeps one for its current phase).
/// Re-arming to a later deadline is O(1): the heap keeps the earlier key and the timer is
/// re-filed when that key comes due. Idle and read timeouts move forward on every read, so
/// this keeps heap work off the hot path.
class Timer {
public:
    explicit Timer(std::function<void()> onExpire) : onExpire_(std::move(onExpire)) {}
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;
    ~Timer();

    bool armed() const { return queue_ != nullptr; }
    uint64_t deadline() const { return deadline_; }

private:
    friend class TimerQueue;
    static constexpr size_t kNotQueued = std::numeric_limits<size_t>::max();
    std::function<void()> onExpire_;
    TimerQueue* queue_ = nullptr;
    uint64_t deadline_ = 0;  // when it should fire
    uint64_t key_ = 0;       // its position in the heap; key_ <= deadline_
    size_t index_ = kNotQueued;
};

/// Binary min-heap of timers, confined to one event-loop thread.
class TimerQueue {
public:
    TimerQueue() = default;
    TimerQueue(const TimerQueue&) = delete;
    TimerQueue& operator=(const TimerQueue&) = delete;
    ~TimerQueue();

    void arm(Timer& t, uint64_t deadlineMs);
    void disarm(Timer& t);

    /// Milliseconds until the earliest key, -1 when empty (epoll_wait's "forever").
    int msUntilNext(uint64_t nowMs) const;

    /// Fires every timer whose deadline is <= now. Callbacks may arm or disarm any timer.
    void expire(uint64_t nowMs);

    size_t size() const { return heap_.size(); }

private:
    void siftUp(size_t i);
    void siftDown(size_t i);
    void place(size_t i, Timer* t) {
        heap_[i] = t;
        t->index_ = i;
    }
    void removeAt(size_t i);

    std::vector<Timer*> heap_;
};

}  // namespace gatehouse::net
