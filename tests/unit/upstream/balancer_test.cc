#include "upstream/balancer.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gatehouse::upstream {
namespace {

using Targets = std::vector<std::shared_ptr<TargetState>>;

std::shared_ptr<TargetState> makeTarget(uint64_t id, const std::string& address) {
    auto t = std::make_shared<TargetState>();
    t->id = id;
    t->address = address;
    t->resolvedOk = true;
    return t;
}

/// An upstream spec and matching target states: "10.0.0.<i+1>:80" with the given weights.
struct Pool {
    config::UpstreamSpec spec;
    Targets targets;

    Pool(config::Algorithm algorithm, const std::vector<uint32_t>& weights) {
        spec.meta.name = "up";
        spec.algorithm = algorithm;
        for (size_t i = 0; i < weights.size(); ++i) {
            const std::string address = "10.0.0." + std::to_string(i + 1) + ":80";
            spec.targets.push_back({address, weights[i]});
            targets.push_back(makeTarget(i + 1, address));
        }
    }
    std::unique_ptr<Balancer> make(unsigned workers = 1) const {
        return makeBalancer(spec, targets, workers);
    }
};

BalanceInput fromIp(const std::string& ip) {
    BalanceInput in;
    in.clientIp = ip;
    return in;
}

TEST(RoundRobin, SmoothSequenceForFiveOneOne) {
    Pool p(config::Algorithm::kRoundRobin, {5, 1, 1});
    auto b = p.make();
    std::vector<int> picks;
    for (int i = 0; i < 7; ++i)
        picks.push_back(b->pick({}, 0));
    EXPECT_EQ(picks, (std::vector<int>{0, 0, 1, 0, 2, 0, 0}));
    // The cycle repeats exactly.
    std::vector<int> again;
    for (int i = 0; i < 7; ++i)
        again.push_back(b->pick({}, 0));
    EXPECT_EQ(again, picks);
}

TEST(RoundRobin, ExactProportionsOverManyPicks) {
    Pool p(config::Algorithm::kRoundRobin, {5, 3, 2});
    auto b = p.make();
    std::vector<int> counts(3, 0);
    for (int i = 0; i < 10000; ++i)
        ++counts[static_cast<size_t>(b->pick({}, 0))];
    EXPECT_EQ(counts, (std::vector<int>{5000, 3000, 2000}));
}

TEST(RoundRobin, EqualWeightsAlternate) {
    Pool p(config::Algorithm::kRoundRobin, {100, 100, 100});
    auto b = p.make();
    std::vector<int> picks;
    for (int i = 0; i < 6; ++i)
        picks.push_back(b->pick({}, 0));
    EXPECT_EQ(picks, (std::vector<int>{0, 1, 2, 0, 1, 2}));
}

TEST(RoundRobin, WeightZeroIsNeverPicked) {
    Pool p(config::Algorithm::kRoundRobin, {0, 1, 2});
    auto b = p.make();
    std::vector<int> counts(3, 0);
    for (int i = 0; i < 300; ++i)
        ++counts[static_cast<size_t>(b->pick({}, 0))];
    EXPECT_EQ(counts, (std::vector<int>{0, 100, 200}));
}

TEST(RoundRobin, UnresolvedTargetIsNeverPicked) {
    Pool p(config::Algorithm::kRoundRobin, {1, 1});
    p.targets[0]->resolvedOk = false;
    auto b = p.make();
    for (int i = 0; i < 10; ++i)
        EXPECT_EQ(b->pick({}, 0), 1);
}

TEST(RoundRobin, NothingUsableGivesMinusOne) {
    Pool zero(config::Algorithm::kRoundRobin, {0, 0});
    EXPECT_EQ(zero.make()->pick({}, 0), -1);
    Pool empty(config::Algorithm::kRoundRobin, {});
    EXPECT_EQ(empty.make()->pick({}, 0), -1);
}

TEST(RoundRobin, EachWorkerHasItsOwnSmoothSequence) {
    Pool p(config::Algorithm::kRoundRobin, {5, 1, 1});
    auto b = p.make(2);
    EXPECT_EQ(b->pick({}, 0), 0);
    EXPECT_EQ(b->pick({}, 0), 0);
    EXPECT_EQ(b->pick({}, 0), 1);
    // Worker 1 starts its own sequence from the beginning.
    std::vector<int> w1;
    for (int i = 0; i < 7; ++i)
        w1.push_back(b->pick({}, 1));
    EXPECT_EQ(w1, (std::vector<int>{0, 0, 1, 0, 2, 0, 0}));
    EXPECT_EQ(b->pick({}, 0), 0);
    EXPECT_EQ(b->pick({}, 0), 2);
}

TEST(LeastConnections, PicksFewestActive) {
    Pool p(config::Algorithm::kLeastConnections, {100, 100, 100});
    p.targets[0]->active = 5;
    p.targets[1]->active = 2;
    p.targets[2]->active = 7;
    auto b = p.make();
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(b->pick({}, 0), 1);
    p.targets[1]->active = 9;
    EXPECT_EQ(b->pick({}, 0), 0);
}

TEST(LeastConnections, ActiveIsRelativeToWeight) {
    Pool p(config::Algorithm::kLeastConnections, {100, 300});
    p.targets[0]->active = 2;  // 2/100
    p.targets[1]->active = 5;  // 5/300: fewer per unit of weight
    auto b = p.make();
    EXPECT_EQ(b->pick({}, 0), 1);
    p.targets[1]->active = 7;  // 7/300 > 2/100
    EXPECT_EQ(b->pick({}, 0), 0);
}

TEST(LeastConnections, IdleTargetsShareTheFirstRequests) {
    Pool p(config::Algorithm::kLeastConnections, {1, 1, 1});
    auto b = p.make();
    std::map<int, int> seen;
    for (int i = 0; i < 3; ++i)
        ++seen[b->pick({}, 0)];
    EXPECT_EQ(seen.size(), 3u) << "ties must rotate instead of always picking target 0";
}

TEST(LeastConnections, SkipsWeightZeroAndUnresolved) {
    Pool p(config::Algorithm::kLeastConnections, {0, 1, 1});
    p.targets[1]->resolvedOk = false;
    p.targets[2]->active = 50;
    auto b = p.make();
    for (int i = 0; i < 6; ++i)
        EXPECT_EQ(b->pick({}, 0), 2);
    p.targets[2]->resolvedOk = false;
    EXPECT_EQ(b->pick({}, 0), -1);
}

TEST(ConsistentHash, SameKeySameTarget) {
    Pool p(config::Algorithm::kConsistentHash, {100, 100, 100, 100});
    auto b = p.make();
    for (int k = 0; k < 50; ++k) {
        const std::string ip = "192.168.1." + std::to_string(k);
        const int first = b->pick(fromIp(ip), 0);
        ASSERT_GE(first, 0);
        for (unsigned w = 0; w < 3; ++w)
            EXPECT_EQ(b->pick(fromIp(ip), w), first) << ip;
    }
}

TEST(ConsistentHash, DifferentKeysSpreadAcrossTargets) {
    Pool p(config::Algorithm::kConsistentHash, {100, 100, 100, 100});
    auto b = p.make();
    std::vector<int> counts(4, 0);
    const int keys = 4000;
    for (int k = 0; k < keys; ++k)
        ++counts[static_cast<size_t>(
            b->pick(fromIp("10.1." + std::to_string(k / 256) + "." + std::to_string(k % 256)), 0))];
    for (int c : counts) {
        EXPECT_GT(c, keys / 8) << "a target gets far less than its share";
        EXPECT_LT(c, keys / 2) << "a target gets far more than its share";
    }
}

TEST(ConsistentHash, RemovingATargetMovesOnlyItsKeys) {
    Pool four(config::Algorithm::kConsistentHash, {100, 100, 100, 100});
    Pool three(config::Algorithm::kConsistentHash, {100, 100, 100});
    // three = four without its second target (10.0.0.2:80).
    three.spec.targets = {four.spec.targets[0], four.spec.targets[2], four.spec.targets[3]};
    three.targets = {four.targets[0], four.targets[2], four.targets[3]};
    auto b4 = four.make();
    auto b3 = three.make();
    const std::string removed = four.spec.targets[1].address;
    int moved = 0, onRemoved = 0;
    for (int k = 0; k < 3000; ++k) {
        const std::string key = "client-" + std::to_string(k);
        const std::string before =
            four.spec.targets[static_cast<size_t>(b4->pick(fromIp(key), 0))].address;
        const std::string after =
            three.spec.targets[static_cast<size_t>(b3->pick(fromIp(key), 0))].address;
        ASSERT_NE(after, removed);
        if (before == removed) {
            ++onRemoved;
        } else if (before != after) {
            ++moved;
        }
    }
    EXPECT_EQ(moved, 0) << "keys whose target stayed must not move";
    EXPECT_GT(onRemoved, 0) << "some keys were on the removed target";
}

TEST(ConsistentHash, UnusableTargetMovesOnlyItsKeys) {
    Pool p(config::Algorithm::kConsistentHash, {100, 100, 100});
    auto b = p.make();
    std::vector<int> before;
    for (int k = 0; k < 1000; ++k)
        before.push_back(b->pick(fromIp("k" + std::to_string(k)), 0));
    p.targets[0]->resolvedOk = false;
    for (int k = 0; k < 1000; ++k) {
        const int now = b->pick(fromIp("k" + std::to_string(k)), 0);
        EXPECT_NE(now, 0);
        if (before[static_cast<size_t>(k)] != 0) {
            EXPECT_EQ(now, before[static_cast<size_t>(k)]) << k;
        }
    }
}

TEST(ConsistentHash, KeysFollowWeights) {
    Pool p(config::Algorithm::kConsistentHash, {300, 100});
    auto b = p.make();
    std::vector<int> counts(2, 0);
    for (int k = 0; k < 4000; ++k)
        ++counts[static_cast<size_t>(b->pick(fromIp("w" + std::to_string(k)), 0))];
    EXPECT_GT(counts[0], 2 * counts[1]) << counts[0] << " vs " << counts[1];
    EXPECT_GT(counts[1], 4000 / 10);
}

TEST(ConsistentHash, WeightZeroIsNeverPicked) {
    Pool p(config::Algorithm::kConsistentHash, {100, 0, 100});
    auto b = p.make();
    for (int k = 0; k < 500; ++k)
        EXPECT_NE(b->pick(fromIp(std::to_string(k)), 0), 1);
}

TEST(ConsistentHash, HashOnHeaderUsesTheHeaderValue) {
    Pool byHeader(config::Algorithm::kConsistentHash, {100, 100, 100, 100});
    byHeader.spec.hashOn = config::HashOn::kHeader;
    byHeader.spec.hashKey = "X-User";
    Pool byIp(config::Algorithm::kConsistentHash, {100, 100, 100, 100});
    byIp.targets = byHeader.targets;
    auto h = byHeader.make();
    auto ip = byIp.make();

    std::map<int, int> spread;
    for (int u = 0; u < 200; ++u) {
        const std::string user = "user-" + std::to_string(u);
        http::HeaderList headers;
        headers.add("x-user", user);  // header names are case-insensitive
        BalanceInput in;
        in.headers = &headers;
        in.clientIp = "1.1.1.1";
        const int a = h->pick(in, 0);
        in.clientIp = "2.2.2.2";
        EXPECT_EQ(h->pick(in, 0), a) << "the client address must not matter";
        // The key is the header value: same ring position as an ip-hash of that text.
        EXPECT_EQ(a, ip->pick(fromIp(user), 0)) << user;
        ++spread[a];
    }
    EXPECT_EQ(spread.size(), 4u);
}

TEST(ConsistentHash, HashOnHeaderFallsBackToIpWhenAbsent) {
    Pool byHeader(config::Algorithm::kConsistentHash, {100, 100, 100});
    byHeader.spec.hashOn = config::HashOn::kHeader;
    byHeader.spec.hashKey = "X-User";
    Pool byIp(config::Algorithm::kConsistentHash, {100, 100, 100});
    byIp.targets = byHeader.targets;
    auto h = byHeader.make();
    auto ip = byIp.make();
    http::HeaderList other;
    other.add("X-Other", "v");
    for (int k = 0; k < 100; ++k) {
        const std::string addr = "172.16.0." + std::to_string(k);
        BalanceInput in;
        in.clientIp = addr;
        in.headers = &other;
        EXPECT_EQ(h->pick(in, 0), ip->pick(fromIp(addr), 0)) << addr;
        in.headers = nullptr;
        EXPECT_EQ(h->pick(in, 0), ip->pick(fromIp(addr), 0)) << addr;
    }
}

TEST(ConsistentHash, HashOnCookieUsesTheCookieValueAndFallsBack) {
    Pool byCookie(config::Algorithm::kConsistentHash, {100, 100, 100});
    byCookie.spec.hashOn = config::HashOn::kCookie;
    byCookie.spec.hashKey = "uid";
    Pool byIp(config::Algorithm::kConsistentHash, {100, 100, 100});
    byIp.targets = byCookie.targets;
    auto c = byCookie.make();
    auto ip = byIp.make();
    for (int k = 0; k < 100; ++k) {
        const std::string uid = "u" + std::to_string(k);
        http::HeaderList headers;
        headers.add("Cookie", "theme=dark; uid=" + uid + "; x=1");
        BalanceInput in;
        in.clientIp = "9.9.9.9";
        in.headers = &headers;
        EXPECT_EQ(c->pick(in, 0), ip->pick(fromIp(uid), 0)) << uid;

        http::HeaderList noUid;
        noUid.add("Cookie", "theme=dark; xuid=" + uid);
        in.headers = &noUid;
        const std::string clientIp = "10.9.9." + std::to_string(k);
        in.clientIp = clientIp;
        EXPECT_EQ(c->pick(in, 0), ip->pick(fromIp(clientIp), 0)) << "fallback to ip";
    }
}

TEST(ConsistentHash, NoTargetsGivesMinusOne) {
    Pool empty(config::Algorithm::kConsistentHash, {});
    EXPECT_EQ(empty.make()->pick(fromIp("1.2.3.4"), 0), -1);
    Pool zero(config::Algorithm::kConsistentHash, {0, 0});
    EXPECT_EQ(zero.make()->pick(fromIp("1.2.3.4"), 0), -1);
}

TEST(TargetUsable, NeedsWeightAndResolution) {
    TargetState t;
    t.resolvedOk = true;
    EXPECT_TRUE(targetUsable(t, 1));
    EXPECT_FALSE(targetUsable(t, 0));
    t.resolvedOk = false;
    EXPECT_FALSE(targetUsable(t, 1));
}

}  // namespace
}  // namespace gatehouse::upstream
