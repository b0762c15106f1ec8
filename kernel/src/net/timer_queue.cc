#include "net/timer_queue.h"

namespace gatehouse::net {

Timer::~Timer() {
    if (queue_) queue_->disarm(*this);
}

TimerQueue::~TimerQueue() {
    for (Timer* t : heap_) {
        t->queue_ = nullptr;
        t->index_ = Timer::kNotQueued;
    }
}

void TimerQueue::arm(Timer& t, uint64_t deadlineMs) {
    if (t.queue_ == this) {
        t.deadline_ = deadlineMs;
        if (deadlineMs >= t.key_) return;  // lazy: re-filed when the old key comes due
        t.key_ = deadlineMs;
        siftUp(t.index_);
        return;
    }
    t.queue_ = this;
    t.deadline_ = t.key_ = deadlineMs;
    heap_.push_back(&t);
    t.index_ = heap_.size() - 1;
    siftUp(t.index_);
}

void TimerQueue::disarm(Timer& t) {
    if (t.queue_ != this) return;
    removeAt(t.index_);
    t.queue_ = nullptr;
    t.index_ = Timer::kNotQueued;
}

int TimerQueue::msUntilNext(uint64_t nowMs) const {
    if (heap_.empty()) return -1;
    const uint64_t key = heap_.front()->key_;
    if (key <= nowMs) return 0;
    const uint64_t d = key - nowMs;
    return d > 60'000 ? 60'000 : static_cast<int>(d);
}

void TimerQueue::expire(uint64_t nowMs) {
    while (!heap_.empty() && heap_.front()->key_ <= nowMs) {
        Timer* t = heap_.front();
        if (t->deadline_ > nowMs) {  // pushed back since it was filed: re-file at its deadline
            t->key_ = t->deadline_;
            siftDown(0);
            continue;
        }
        removeAt(0);
        t->queue_ = nullptr;
        t->index_ = Timer::kNotQueued;
        t->onExpire_();  // may destroy the owner of t; t is not touched afterwards
    }
}

void TimerQueue::removeAt(size_t i) {
    Timer* last = heap_.back();
    heap_.pop_back();
    if (i == heap_.size()) return;
    place(i, last);
    siftUp(i);
    siftDown(last->index_);
}

void TimerQueue::siftUp(size_t i) {
    Timer* t = heap_[i];
    while (i > 0) {
        const size_t parent = (i - 1) / 2;
        if (heap_[parent]->key_ <= t->key_) break;
        place(i, heap_[parent]);
        i = parent;
    }
    place(i, t);
}

void TimerQueue::siftDown(size_t i) {
    Timer* t = heap_[i];
    const size_t n = heap_.size();
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && heap_[child + 1]->key_ < heap_[child]->key_) ++child;
        if (heap_[child]->key_ >= t->key_) break;
        place(i, heap_[child]);
        i = child;
    }
    place(i, t);
}

}  // namespace gatehouse::net
