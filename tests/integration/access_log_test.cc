// access-log through the real proxy: json, combined and template lines written by the
// plugin's writer thread to a file, reopened on SIGUSR1, and lines that cannot be written
// counted instead of waited for.

#include <gtest/gtest.h>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <csignal>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"

namespace gatehouse::test {
namespace {

std::vector<std::string> readLines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);)
        out.push_back(line);
    return out;
}

class AccessLog : public ::testing::Test {
protected:
    AccessLog() : gw_(simpleConfig(up_.address()), options()) {}
    static Gateway::Options options() {
        Gateway::Options o;
        o.pluginDir = FIRST_PARTY_PLUGINS_DIR;
        return o;
    }
    void addLog(const std::string& config) {
        const Response r = admin(gw_, "POST", "/plugins",
                                 R"({"name":"access-log","route":"r","config":)" + config + "}");
        ASSERT_EQ(r.status, 201) << r.body;
    }
    /// Waits until `path` has `n` lines (the writer flushes every flush_interval_ms).
    std::vector<std::string> waitLines(const std::string& path, size_t n) {
        std::vector<std::string> lines;
        eventually([&] { return (lines = readLines(path)).size() >= n; });
        return lines;
    }

    TempDir dir_;
    Upstream up_;
    Gateway gw_;
};

TEST_F(AccessLog, JsonLinesCarryTheRequestTheUpstreamAndTheTimings) {
    const std::string file = dir_.file("access.log");
    addLog(R"({"format":"json","path":")" + file + R"(","flush_interval_ms":20})");
    ASSERT_EQ(
        roundTrip(gw_.port(), "GET", "/hello?x=1", {{"User-Agent", "curl/8 \"quoted\""}}).status,
        200);
    const auto lines = waitLines(file, 1);
    ASSERT_EQ(lines.size(), 1u);
    Poco::JSON::Parser parser;
    const auto o = parser.parse(lines[0]).extract<Poco::JSON::Object::Ptr>();
    EXPECT_EQ(o->getValue<std::string>("method"), "GET");
    EXPECT_EQ(o->getValue<std::string>("path"), "/hello");
    EXPECT_EQ(o->getValue<int>("status"), 200);
    EXPECT_EQ(o->getValue<int>("upstream_status"), 200);
    EXPECT_EQ(o->getValue<std::string>("route"), "r");
    EXPECT_EQ(o->getValue<std::string>("upstream"), up_.address());
    EXPECT_EQ(o->getValue<std::string>("client_ip"), "127.0.0.1");
    EXPECT_EQ(o->getValue<std::string>("user_agent"), "curl/8 \"quoted\"");
    EXPECT_EQ(o->getValue<std::string>("request_id").size(), 36u);
    EXPECT_GT(o->getValue<int64_t>("bytes_in"), 20);
    EXPECT_GT(o->getValue<int64_t>("bytes_out"), 50);
    const double total = o->getValue<double>("total_ms"),
                 upstream = o->getValue<double>("upstream_ms"),
                 gateway = o->getValue<double>("gateway_ms");
    EXPECT_GE(total, upstream);
    EXPECT_NEAR(total, upstream + gateway, 0.002);
    EXPECT_EQ(o->getValue<std::string>("time").size(), 24u) << "2026-11-28T10:00:00.000Z";

    // A failed upstream: no upstream status or time, the gateway's 502.
    Upstream gone("gone");
    const std::string goneAddress = gone.address();
    gone.stop();
    ASSERT_EQ(
        admin(gw_, "PATCH", "/upstreams/u", R"({"targets":[{"address":")" + goneAddress + R"("}]})")
            .status,
        200);
    ASSERT_EQ(roundTrip(gw_.port(), "GET", "/x").status, 502);
    const auto after = waitLines(file, 2);
    ASSERT_EQ(after.size(), 2u);
    const auto failed = parser.parse(after[1]).extract<Poco::JSON::Object::Ptr>();
    EXPECT_EQ(failed->getValue<int>("status"), 502);
    EXPECT_EQ(failed->getValue<int>("upstream_status"), 0);
    EXPECT_TRUE(failed->get("upstream_ms").isEmpty());
    EXPECT_EQ(failed->getValue<std::string>("upstream"), goneAddress);
}

TEST_F(AccessLog, CombinedAndTemplateFormats) {
    const std::string combined = dir_.file("combined.log"), custom = dir_.file("custom.log");
    addLog(R"({"format":"combined","path":")" + combined + R"(","flush_interval_ms":20})");
    ASSERT_EQ(roundTrip(gw_.port(), "GET", "/a/b?q=1",
                        {{"User-Agent", "agent"}, {"Referer", "http://ref.example/"}})
                  .status,
              200);
    const auto lines = waitLines(combined, 1);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].rfind("127.0.0.1 - - [", 0), 0u) << lines[0];
    EXPECT_NE(lines[0].find("] \"GET /a/b?q=1 HTTP/1.1\" 200 "), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find(" \"http://ref.example/\" \"agent\""), std::string::npos) << lines[0];

    const Response list = admin(gw_, "GET", "/plugins");
    const std::string id = list.json()->getArray("data")->getObject(0)->getValue<std::string>("id");
    ASSERT_EQ(
        admin(
            gw_, "PATCH", "/plugins/" + id,
            R"({"config":{"format":"template","path":")" + custom +
                R"(","flush_interval_ms":20,)"
                R"("template":"$method $path $status $http_x_team [$consumer] $upstream_status"}})")
            .status,
        200);
    ASSERT_EQ(
        roundTrip(gw_.port(), "POST", "/t", {{"X-Team", "a\"b"}, {"Content-Length", "0"}}).status,
        200);
    const auto t = waitLines(custom, 1);
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0], "POST /t 200 a\\x22b [-] 200");
    // Unknown variables are refused with the name.
    const Response bad = admin(gw_, "PATCH", "/plugins/" + id,
                               R"({"config":{"format":"template","template":"$nope"}})");
    EXPECT_EQ(bad.status, 400);
    EXPECT_NE(bad.body.find("$nope"), std::string::npos) << bad.body;
}

TEST_F(AccessLog, Sigusr1ReopensTheFileAfterRotation) {
    const std::string file = dir_.file("access.log");
    addLog(R"({"format":"template","template":"$path","path":")" + file +
           R"(","flush_interval_ms":20})");
    ASSERT_EQ(roundTrip(gw_.port(), "GET", "/before").status, 200);
    ASSERT_EQ(waitLines(file, 1).size(), 1u);
    ASSERT_EQ(std::rename(file.c_str(), (file + ".1").c_str()), 0);
    gw_.process().signal(SIGUSR1);
    // The writer reopens at its next flush; requests meanwhile may land in either file.
    ASSERT_TRUE(eventually([&] {
        roundTrip(gw_.port(), "GET", "/after");
        return !readLines(file).empty();
    }));
    EXPECT_EQ(readLines(file + ".1")[0], "/before");
    EXPECT_EQ(readLines(file).back(), "/after");
}

TEST_F(AccessLog, RequestsAnEarlierPluginAnsweredAreLoggedToo) {
    const std::string file = dir_.file("access.log");
    addLog(R"({"format":"template","template":"$status $path","path":")" + file +
           R"(","flush_interval_ms":20})");
    ASSERT_EQ(admin(gw_, "POST", "/plugins", R"({"name":"key-auth","route":"r"})").status, 201);
    ASSERT_EQ(roundTrip(gw_.port(), "GET", "/no-key").status, 401);
    const auto lines = waitLines(file, 1);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0], "401 /no-key") << "refused at priority 1250, logged at priority 0";
}

TEST_F(AccessLog, LinesThatCannotBeWrittenAreCountedNotWaitedFor) {
    addLog(R"({"format":"json","path":"/dev/full","flush_interval_ms":20})");
    for (int i = 0; i < 5; ++i)
        ASSERT_EQ(roundTrip(gw_.port(), "GET", "/x").status, 200)
            << "logging never fails a request";
    EXPECT_TRUE(eventually([&] {
        const Response m = admin(gw_, "GET", "/metrics");
        return m.body.find("access_log_dropped_lines_total{plugin=\"access-log\"} 5") !=
               std::string::npos;
    })) << admin(gw_, "GET", "/metrics").body;
    EXPECT_TRUE(gw_.waitForLog("dropped 5 lines"));
}

}  // namespace
}  // namespace gatehouse::test
