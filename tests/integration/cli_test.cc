// The command line: config import/export/validate, dry runs, one-line reasons.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "harness.h"

namespace gatehouse::test {
namespace {

class Cli : public ::testing::Test {
protected:
    TempDir dir_;
    std::string db() const { return dir_.file("g.db"); }
    int gh(std::vector<std::string> args, std::string* out) {
        args.insert(args.begin(), gatehouseBin());
        args.push_back("--db");
        args.push_back(db());
        return runCommand(args, out);
    }
    std::string write(const std::string& name, const std::string& json) {
        writeFile(dir_.file(name), json);
        return dir_.file(name);
    }
};

TEST_F(Cli, ImportExportRoundTrip) {
    const std::string cfg =
        simpleConfig("127.0.0.1:9", R"({"name":"r","match":{"paths":["/a","=/b"],)"
                                    R"("methods":["GET"]},"upstream":"u","strip_prefix":true})");
    std::string out;
    ASSERT_EQ(gh({"config", "import", write("in.json", cfg)}, &out), 0) << out;
    EXPECT_NE(out.find("version 1"), std::string::npos) << out;
    ASSERT_EQ(gh({"config", "export", dir_.file("out.json")}, &out), 0) << out;
    const std::string exported = readFile(dir_.file("out.json"));
    EXPECT_NE(exported.find("\"strip_prefix\": true"), std::string::npos) << exported;
    // Re-importing the export changes nothing and keeps ids.
    ASSERT_EQ(gh({"config", "import", dir_.file("out.json"), "--dry-run"}, &out), 0) << out;
    EXPECT_NE(out.find("0 change(s)"), std::string::npos) << out;
    // The database is private to its owner.
    struct stat st {};
    ASSERT_EQ(::stat(db().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(Cli, DryRunWritesNothing) {
    std::string out;
    ASSERT_EQ(
        gh({"config", "import", write("a.json", simpleConfig("127.0.0.1:9")), "--dry-run"}, &out),
        0);
    EXPECT_NE(out.find("+ route r"), std::string::npos) << out;
    ASSERT_EQ(gh({"config", "export"}, &out), 0);
    EXPECT_EQ(out.find("\"name\": \"r\""), std::string::npos) << out;
    ASSERT_EQ(gh({"validate"}, &out), 0);
    EXPECT_NE(out.find("version 0"), std::string::npos) << out;
}

TEST_F(Cli, InvalidConfigIsRejectedNamingTheFieldAndNothingIsWritten) {
    std::string out;
    ASSERT_EQ(gh({"config", "import", write("ok.json", simpleConfig("127.0.0.1:9"))}, &out), 0);
    const std::string bad =
        R"({"upstreams":[{"name":"u","targets":[{"address":"nohost"}]}],)"
        R"("routes":[{"name":"r","match":{"paths":["api"]},"upstream":"missing","colour":1}]})";
    EXPECT_EQ(gh({"config", "import", write("bad.json", bad)}, &out), 1);
    EXPECT_NE(out.find("upstreams[0].targets[0].address"), std::string::npos) << out;
    EXPECT_NE(out.find("routes[0].match.paths[0]: must start with /"), std::string::npos) << out;
    EXPECT_NE(out.find("routes[0].upstream"), std::string::npos) << out;
    EXPECT_NE(out.find("routes[0].colour: unknown field"), std::string::npos) << out;
    ASSERT_EQ(gh({"validate"}, &out), 0);
    EXPECT_NE(out.find("version 1"), std::string::npos) << out;  // still the good one
}

TEST_F(Cli, BadRegexAndNotJson) {
    std::string out;
    EXPECT_EQ(gh({"config", "import",
                  write("re.json",
                        simpleConfig(
                            "127.0.0.1:9",
                            R"({"name":"r","match":{"paths":["~^/(unclosed"]},"upstream":"u"})"))},
                 &out),
              1);
    EXPECT_NE(out.find("routes[0].match.paths[0]: invalid regex"), std::string::npos) << out;
    EXPECT_EQ(gh({"config", "import", write("nj.json", "{not json")}, &out), 1);
    EXPECT_NE(out.find("invalid JSON"), std::string::npos) << out;
}

TEST_F(Cli, BadIniGivesAOneLineReason) {
    std::string out;
    const std::string ini = dir_.file("g.conf");
    writeFile(ini, "[proxy]\nworkers = many\n");
    EXPECT_NE(runCommand({gatehouseBin(), "validate", "--config", ini}, &out), 0);
    EXPECT_NE(out.find("proxy.workers: expected a number"), std::string::npos) << out;
    writeFile(ini, "[proxy]\nlisten_on = 1\n");
    EXPECT_NE(runCommand({gatehouseBin(), "run", "--config", ini}, &out), 0);
    EXPECT_NE(out.find("unknown setting 'proxy.listen_on'"), std::string::npos) << out;
}

TEST_F(Cli, RunFailsCleanlyWhenThePortIsTaken) {
    Upstream up;  // its port is in use
    std::string out;
    EXPECT_EQ(runCommand({gatehouseBin(), "run", "--db", db(), "--listen", up.address()}, &out), 1);
    EXPECT_NE(out.find("cannot listen on"), std::string::npos) << out;
}

TEST_F(Cli, VersionAndUsage) {
    std::string out;
    EXPECT_EQ(runCommand({gatehouseBin(), "version"}, &out), 0);
    EXPECT_EQ(out.rfind("gatehouse ", 0), 0u);
    EXPECT_EQ(runCommand({gatehouseBin(), "frobnicate"}, &out), 2);
    EXPECT_NE(out.find("unknown command"), std::string::npos);
}

TEST_F(Cli, DefaultConfigIsAFileTheGatewayAccepts) {
    std::string ini;
    ASSERT_EQ(runCommand({gatehouseBin(), "default-config"}, &ini), 0);
    EXPECT_NE(ini.find("[proxy]"), std::string::npos) << ini;
    const std::string file = dir_.file("gatehouse.conf");
    writeFile(file, ini);
    // As the package's ExecStartPre runs it (with a database of the test's own).
    std::string out;
    EXPECT_EQ(runCommand({gatehouseBin(), "validate", "-c", file, "--db", db()}, &out), 0) << out;
    EXPECT_NE(out.find("configuration OK: " + file), std::string::npos) << out;
}

}  // namespace
}  // namespace gatehouse::test
