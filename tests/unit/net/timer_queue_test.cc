#include "net/timer_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace gatehouse::net {
namespace {

/// Timers that record the order they fire in.
class TimerQueueTest : public ::testing::Test {
protected:
    std::unique_ptr<Timer> makeTimer(const std::string& name) {
        return std::make_unique<Timer>([this, name] { fired.push_back(name); });
    }

    TimerQueue queue;
    std::vector<std::string> fired;
};

TEST_F(TimerQueueTest, FiresAtDeadlineInOrder) {
    auto a = makeTimer("a"), b = makeTimer("b"), c = makeTimer("c");
    queue.arm(*b, 200);
    queue.arm(*a, 100);
    queue.arm(*c, 300);
    EXPECT_TRUE(a->armed());
    EXPECT_EQ(queue.size(), 3u);
    EXPECT_EQ(queue.msUntilNext(40), 60);

    queue.expire(99);
    EXPECT_TRUE(fired.empty());
    queue.expire(100);
    EXPECT_EQ(fired, (std::vector<std::string>{"a"}));
    EXPECT_FALSE(a->armed());
    queue.expire(1000);
    EXPECT_EQ(fired, (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(queue.size(), 0u);
    EXPECT_EQ(queue.msUntilNext(1000), -1);
}

TEST_F(TimerQueueTest, MsUntilNextIsZeroWhenDueAndCapped) {
    auto a = makeTimer("a");
    queue.arm(*a, 100);
    EXPECT_EQ(queue.msUntilNext(100), 0);
    EXPECT_EQ(queue.msUntilNext(500), 0);
    queue.arm(*a, 50);
    EXPECT_EQ(queue.msUntilNext(0), 50);
    auto far = makeTimer("far");
    TimerQueue other;
    other.arm(*far, 10'000'000);
    EXPECT_EQ(other.msUntilNext(0), 60'000);
}

TEST_F(TimerQueueTest, DisarmPreventsFiring) {
    auto a = makeTimer("a"), b = makeTimer("b");
    queue.arm(*a, 100);
    queue.arm(*b, 100);
    queue.disarm(*a);
    EXPECT_FALSE(a->armed());
    EXPECT_EQ(queue.size(), 1u);
    queue.expire(200);
    EXPECT_EQ(fired, (std::vector<std::string>{"b"}));
    queue.disarm(*a);  // disarming twice is harmless
    EXPECT_EQ(queue.size(), 0u);
}

TEST_F(TimerQueueTest, RearmLaterIsLazyButFiresAtTheNewDeadline) {
    auto a = makeTimer("a");
    queue.arm(*a, 100);
    queue.arm(*a, 500);
    EXPECT_EQ(a->deadline(), 500u);
    EXPECT_EQ(queue.size(), 1u);
    // The heap may wake at the old key, but nothing fires then.
    const int wait = queue.msUntilNext(0);
    EXPECT_GE(wait, 100);
    EXPECT_LE(wait, 500);
    queue.expire(100);
    EXPECT_TRUE(fired.empty());
    EXPECT_TRUE(a->armed());
    EXPECT_EQ(queue.msUntilNext(100), 400) << "re-filed at its real deadline";
    queue.expire(499);
    EXPECT_TRUE(fired.empty());
    queue.expire(500);
    EXPECT_EQ(fired, (std::vector<std::string>{"a"}));
}

TEST_F(TimerQueueTest, RepeatedRearmLaterFiresOnlyOnceAtTheLastDeadline) {
    auto a = makeTimer("a"), b = makeTimer("b");
    queue.arm(*b, 250);
    queue.arm(*a, 100);
    for (uint64_t t = 110; t <= 400; t += 10)
        queue.arm(*a, t);
    for (uint64_t now = 0; now < 400; now += 5)
        queue.expire(now);
    EXPECT_EQ(fired, (std::vector<std::string>{"b"}));
    queue.expire(400);
    EXPECT_EQ(fired, (std::vector<std::string>{"b", "a"}));
}

TEST_F(TimerQueueTest, RearmEarlierFiresEarlier) {
    auto a = makeTimer("a"), b = makeTimer("b");
    queue.arm(*a, 500);
    queue.arm(*b, 300);
    queue.arm(*a, 100);
    EXPECT_EQ(queue.msUntilNext(0), 100);
    queue.expire(100);
    EXPECT_EQ(fired, (std::vector<std::string>{"a"}));
    queue.expire(300);
    EXPECT_EQ(fired, (std::vector<std::string>{"a", "b"}));
}

TEST_F(TimerQueueTest, RearmAfterLazyPushBackThenEarlierAgain) {
    auto a = makeTimer("a");
    queue.arm(*a, 100);
    queue.arm(*a, 1000);  // lazy: key stays 100
    queue.arm(*a, 400);   // still later than the key: deadline becomes 400
    queue.expire(100);
    EXPECT_TRUE(fired.empty());
    queue.expire(399);
    EXPECT_TRUE(fired.empty());
    queue.expire(400);
    EXPECT_EQ(fired, (std::vector<std::string>{"a"}));
}

TEST_F(TimerQueueTest, CallbacksMayArmOtherTimers) {
    auto b = makeTimer("b");
    auto c = makeTimer("c");
    Timer a([&] {
        fired.push_back("a");
        queue.arm(*b, 150);  // later than now: not in this expire
        queue.arm(*c, 90);   // already due: fires in this same expire
    });
    queue.arm(a, 100);
    queue.expire(100);
    EXPECT_EQ(fired, (std::vector<std::string>{"a", "c"}));
    EXPECT_TRUE(b->armed());
    queue.expire(150);
    EXPECT_EQ(fired, (std::vector<std::string>{"a", "c", "b"}));
}

TEST_F(TimerQueueTest, CallbackMayRearmItself) {
    int count = 0;
    Timer* self = nullptr;
    Timer t([&] {
        ++count;
        if (count < 3) queue.arm(*self, 100u * static_cast<uint64_t>(count + 1));
    });
    self = &t;
    queue.arm(t, 100);
    queue.expire(1000);
    EXPECT_EQ(count, 3);
    EXPECT_FALSE(t.armed());
}

TEST_F(TimerQueueTest, CallbackMayDisarmAnotherDueTimer) {
    auto b = makeTimer("b");
    Timer a([&] {
        fired.push_back("a");
        queue.disarm(*b);
    });
    queue.arm(a, 100);
    queue.arm(*b, 100);
    // a's key equals b's; make a first by arming it earlier.
    queue.arm(a, 50);
    queue.expire(200);
    EXPECT_EQ(fired, (std::vector<std::string>{"a"}));
    EXPECT_FALSE(b->armed());
}

TEST_F(TimerQueueTest, CallbackMayDestroyItsOwnTimer) {
    std::unique_ptr<Timer> self;
    self = std::make_unique<Timer>([&] {
        fired.push_back("self");
        self.reset();
    });
    auto after = makeTimer("after");
    queue.arm(*self, 10);
    queue.arm(*after, 10);
    queue.expire(10);
    EXPECT_EQ(self, nullptr);
    EXPECT_EQ(fired.size(), 2u);
    EXPECT_EQ(queue.size(), 0u);
}

TEST_F(TimerQueueTest, DestroyingAnArmedTimerRemovesIt) {
    auto keep = makeTimer("keep");
    queue.arm(*keep, 300);
    {
        auto gone = makeTimer("gone");
        queue.arm(*gone, 100);
        auto gone2 = makeTimer("gone2");
        queue.arm(*gone2, 200);
        EXPECT_EQ(queue.size(), 3u);
    }
    EXPECT_EQ(queue.size(), 1u);
    EXPECT_EQ(queue.msUntilNext(0), 300);
    queue.expire(1000);
    EXPECT_EQ(fired, (std::vector<std::string>{"keep"}));
}

TEST_F(TimerQueueTest, DestroyingTheQueueDisarmsItsTimers) {
    auto a = makeTimer("a");
    {
        TimerQueue shortLived;
        shortLived.arm(*a, 100);
        EXPECT_TRUE(a->armed());
    }
    EXPECT_FALSE(a->armed());
    queue.arm(*a, 5);  // usable with another queue afterwards
    queue.expire(5);
    EXPECT_EQ(fired, (std::vector<std::string>{"a"}));
}

TEST_F(TimerQueueTest, RandomOperationsMatchAReferenceModel) {
    constexpr size_t kTimers = 64;
    std::vector<std::unique_ptr<Timer>> timers;
    std::vector<int> firedIds;
    for (size_t i = 0; i < kTimers; ++i)
        timers.push_back(
            std::make_unique<Timer>([&firedIds, i] { firedIds.push_back(static_cast<int>(i)); }));
    std::vector<int64_t> model(kTimers, -1);  // deadline when armed, -1 otherwise
    uint64_t rng = 12345;
    auto next = [&rng](uint64_t n) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        return (rng >> 33) % n;
    };
    uint64_t now = 0;
    for (int step = 0; step < 20000; ++step) {
        const size_t i = next(kTimers);
        switch (next(4)) {
            case 0:
            case 1: {
                const uint64_t deadline = now + next(200);
                queue.arm(*timers[i], deadline);
                model[i] = static_cast<int64_t>(deadline);
                break;
            }
            case 2:
                queue.disarm(*timers[i]);
                model[i] = -1;
                break;
            default: {
                now += next(50);
                firedIds.clear();
                queue.expire(now);
                std::vector<int> expected;
                for (size_t k = 0; k < kTimers; ++k) {
                    if (model[k] >= 0 && static_cast<uint64_t>(model[k]) <= now) {
                        expected.push_back(static_cast<int>(k));
                        model[k] = -1;
                    }
                }
                std::sort(firedIds.begin(), firedIds.end());
                ASSERT_EQ(firedIds, expected) << "step " << step << " now " << now;
                break;
            }
        }
        size_t armed = 0;
        for (size_t k = 0; k < kTimers; ++k) {
            ASSERT_EQ(timers[k]->armed(), model[k] >= 0) << "timer " << k << " step " << step;
            if (model[k] >= 0) ++armed;
        }
        ASSERT_EQ(queue.size(), armed);
    }
}

}  // namespace
}  // namespace gatehouse::net
