// The SDK as a product: install it to a temporary prefix, build the example plugin out of
// tree against that prefix (no gatehouse source tree involved), load the result into the real
// gateway and see it work through the proxy.

#include <gtest/gtest.h>

#include <filesystem>

#include "harness.h"

namespace gatehouse::test {
namespace {

TEST(SdkExample, BuiltOutOfTreeAgainstAnInstalledSdkAndLoadedByTheGateway) {
    TempDir work;
    const std::string source = GATEHOUSE_SOURCE_DIR;
    std::string out;

    // 1. Install the SDK alone (headers, CMake package, pkg-config file) to a prefix.
    ASSERT_EQ(runCommand({CMAKE_COMMAND_PATH, "-S", source + "/plugin-sdk", "-B",
                          work.file("sdk-build"), "-DGATEHOUSE_PLUGIN_SDK_TESTS=OFF"},
                         &out),
              0)
        << out;
    ASSERT_EQ(runCommand({CMAKE_COMMAND_PATH, "--install", work.file("sdk-build"), "--prefix",
                          work.file("sdk")},
                         &out),
              0)
        << out;
    ASSERT_TRUE(std::filesystem::exists(work.file("sdk/include/gatehouse/plugin.h")));

    // 2. Build the example against the installed prefix only.
    ASSERT_EQ(runCommand({CMAKE_COMMAND_PATH, "-S", source + "/plugin-sdk/examples/add-header",
                          "-B", work.file("ex-build"), "-DCMAKE_PREFIX_PATH=" + work.file("sdk"),
                          "-DCMAKE_BUILD_TYPE=Release"},
                         &out),
              0)
        << out;
    ASSERT_EQ(runCommand({CMAKE_COMMAND_PATH, "--build", work.file("ex-build")}, &out), 0) << out;
    std::string built;
    for (const auto& e : std::filesystem::recursive_directory_iterator(work.file("ex-build")))
        if (e.path().filename() == "add-header.so") built = e.path().string();
    ASSERT_FALSE(built.empty()) << "add-header.so was not built";
    std::filesystem::create_directories(work.file("plugins"));
    std::filesystem::copy_file(built, work.file("plugins/add-header.so"));

    // 3. The real gateway loads it, and it works through the proxy.
    Upstream up;
    Gateway::Options o;
    o.pluginDir = work.file("plugins");
    Gateway gw(simpleConfig(up.address()), o);
    EXPECT_TRUE(gw.waitForLog("\"plugin_loaded\",\"plugin\":\"add-header\""));
    const Response available = admin(gw, "GET", "/plugins/available");
    EXPECT_NE(available.body.find("\"name\":\"add-header\""), std::string::npos) << available.body;

    const Response created =
        admin(gw, "POST", "/plugins",
              R"({"name":"add-header","route":"r","config":{"name":"X-Added","value":"yes"}})");
    ASSERT_EQ(created.status, 201) << created.body;
    const Response r = roundTrip(gw.port(), "GET", "/hello");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.echoedHeader("x-added"), "yes");

    // Its schema is enforced by the gateway, and its own validation reaches the client.
    const Response badSchema =
        admin(gw, "POST", "/plugins", R"({"name":"add-header","config":{"value":"v"}})");
    EXPECT_EQ(badSchema.status, 400) << badSchema.body;
    EXPECT_NE(badSchema.body.find("config"), std::string::npos) << badSchema.body;
    const Response badName =
        admin(gw, "POST", "/plugins",
              R"({"name":"add-header","config":{"name":"Bad Name","value":"v"}})");
    EXPECT_EQ(badName.status, 400) << badName.body;
}

}  // namespace
}  // namespace gatehouse::test
