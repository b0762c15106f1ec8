// circuit-breaker's state machine, deterministic: the built circuit-breaker.so loaded the way
// the gateway loads it (dlopen + entry symbol) and driven through the SDK's fake host, whose
// clock the tests move. What the integration tests cannot do cheaply: time passing exactly,
// probes that never report, and every kind of upstream outcome.

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <gatehouse/plugin.hpp>
#include <gatehouse/testing/fake_host.hpp>

#include <memory>
#include <string>

namespace {

using gatehouse::testing::FakeHost;
using gatehouse::testing::FakeRequest;

class Breaker : public ::testing::Test {
protected:
    void SetUp() override {
        lib_ = dlopen(FIRST_PARTY_PLUGINS_DIR "/circuit-breaker.so", RTLD_NOW | RTLD_LOCAL);
        ASSERT_NE(lib_, nullptr) << dlerror();
        auto entry = reinterpret_cast<gh_plugin_entry_fn>(dlsym(lib_, GH_PLUGIN_ENTRY_SYMBOL));
        ASSERT_NE(entry, nullptr);
        const auto loaded = host_.load(entry);
        ASSERT_EQ(loaded.size(), 1u);
        ASSERT_TRUE(loaded[0].error.empty()) << loaded[0].error;
        d_ = loaded[0].descriptor;
        FakeHost::setTime(1'800'000'000'000);  // a fixed wall clock the tests move
    }
    void TearDown() override {
        pending_.clear();  // requests end (on_done) before their instance goes
        if (instance_) host_.destroy(*d_, instance_);
        FakeHost::useRealTime();
        EXPECT_TRUE(host_.violations().empty());
        // The object stays loaded: the fake host's records point into it.
    }
    void create(const std::string& config) {
        const FakeHost::Created c = host_.create(*d_, config);
        ASSERT_TRUE(c.ok) << c.error;
        instance_ = c.instance;
    }

    /// One request: on_request, and when it went upstream, on_log with `status` (or, with
    /// `error`, the gateway's failure kind). Returns the status the client got.
    int request(int status, int error = GH_UPSTREAM_OK, bool report = true) {
        auto r = std::make_unique<FakeRequest>();
        r->routeName = "orders";
        const int32_t action = host_.runRequest(*d_, instance_, *r);
        if (action == GH_RESPOND) {
            last_ = *r->responded;
            host_.runLog(*d_, instance_, *r);
            return r->responded->status;
        }
        EXPECT_EQ(action, GH_CONTINUE);
        r->info.upstreamStatus = status;
        r->info.upstreamError = error;
        r->info.upstreamAddress = "10.0.0.1:80";
        if (report) host_.runLog(*d_, instance_, *r);
        if (!report) pending_.push_back(std::move(r));  // ends (on_done) with the fixture
        return error == GH_UPSTREAM_OK ? status : 502;
    }
    std::string status() { return host_.status(instance_).value_or("(none)"); }

    FakeHost host_;
    void* lib_ = nullptr;
    const gh_plugin_descriptor* d_ = nullptr;
    void* instance_ = nullptr;
    gatehouse::testing::Response last_;
    std::vector<std::unique_ptr<FakeRequest>> pending_;
};

TEST_F(Breaker, ConsecutiveFailuresOpenThenAProbeCloses) {
    create(R"({"consecutive_failures":2,"open_s":10})");
    EXPECT_EQ(request(500), 500);
    EXPECT_EQ(request(200), 200) << "a success resets the run";
    EXPECT_EQ(request(503), 503);
    EXPECT_EQ(request(504), 504);
    EXPECT_EQ(request(200), 503) << "open";
    EXPECT_EQ(FakeRequest::find(last_.headers, "Retry-After"), "10");
    EXPECT_NE(status().find("\"state\":\"open\""), std::string::npos) << status();
    FakeHost::advanceTime(4'000);
    EXPECT_EQ(request(200), 503);
    EXPECT_EQ(FakeRequest::find(last_.headers, "Retry-After"), "6");
    FakeHost::advanceTime(6'000);
    EXPECT_EQ(request(200), 200) << "the probe";
    EXPECT_NE(status().find("\"state\":\"closed\""), std::string::npos) << status();
    EXPECT_EQ(request(200), 200);
}

TEST_F(Breaker, AFailedProbeReopensAndOnlyKProbesGoThrough) {
    create(R"({"consecutive_failures":1,"open_s":5,"half_open_probes":2})");
    EXPECT_EQ(request(500), 500);
    FakeHost::advanceTime(5'000);
    // Two probes out (not reported yet): a third request is refused.
    EXPECT_EQ(request(200, GH_UPSTREAM_OK, false), 200);
    EXPECT_EQ(request(200, GH_UPSTREAM_OK, false), 200);
    EXPECT_EQ(request(200), 503);
    EXPECT_NE(status().find("\"state\":\"half_open\""), std::string::npos) << status();
    // Those probes never report (their clients left): after open_s new probes may go.
    FakeHost::advanceTime(5'000);
    EXPECT_EQ(request(500), 500) << "a fresh probe, which fails";
    EXPECT_EQ(request(200), 503) << "open again";
}

TEST_F(Breaker, FailureRatioOverASlidingWindow) {
    create(
        R"({"consecutive_failures":0,"failure_ratio":0.5,"window_s":10,"min_requests":4,"open_s":30})");
    EXPECT_EQ(request(200), 200);
    EXPECT_EQ(request(500), 500);
    EXPECT_EQ(request(200), 200);
    EXPECT_EQ(request(500), 500) << "4 requests, 2 failures: opens";
    EXPECT_EQ(request(200), 503);
}

TEST_F(Breaker, OnlyWhatTheUpstreamDidCounts) {
    create(R"({"consecutive_failures":2,"count_connect_errors":false,"failure_statuses":[500]})");
    EXPECT_EQ(request(0, GH_UPSTREAM_CONNECT_FAILED), 502);
    EXPECT_EQ(request(0, GH_UPSTREAM_CONNECT_FAILED), 502);
    EXPECT_EQ(request(0, GH_UPSTREAM_NO_TARGET), 502);
    EXPECT_EQ(request(0), 0) << "never reached the upstream";
    EXPECT_EQ(request(503), 503) << "not a configured failure status";
    EXPECT_EQ(request(200), 200) << "still closed after all of that";
    EXPECT_EQ(request(0, GH_UPSTREAM_TIMEOUT), 502);
    EXPECT_EQ(request(0, GH_UPSTREAM_BROKEN), 502);
    EXPECT_EQ(request(200), 503) << "a timeout and a broken response are failures";
}

TEST_F(Breaker, PerTargetNamesOpenTargetsForTheBalancer) {
    create(R"({"consecutive_failures":1,"open_s":5,"per_target":true})");
    EXPECT_EQ(request(500), 500);
    FakeRequest r;
    r.routeName = "orders";
    EXPECT_EQ(host_.runRequest(*d_, instance_, r), GH_CONTINUE) << "per target never answers";
    EXPECT_EQ(r.vars["upstream.avoid"], "10.0.0.1:80");
    FakeHost::advanceTime(5'000);
    FakeRequest later;
    later.routeName = "orders";
    EXPECT_EQ(host_.runRequest(*d_, instance_, later), GH_CONTINUE);
    EXPECT_EQ(later.vars.count("upstream.avoid"), 0u) << "after open_s the target is tried";
}

TEST_F(Breaker, ConfigurationsThatCouldNeverOpenAreRefused) {
    const FakeHost::Created c = host_.create(*d_, R"({"consecutive_failures":0})");
    EXPECT_FALSE(c.ok);
    EXPECT_NE(c.error.find("nothing would open the breaker"), std::string::npos) << c.error;
}

}  // namespace
