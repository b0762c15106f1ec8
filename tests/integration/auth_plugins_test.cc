// Consumers, credentials and the key-auth and acl plugins through the real proxy: the
// first-party plugins loaded from the build, consumers and keys created through the admin
// API, requests from a raw client to a real upstream that echoes what it received.

#include <gtest/gtest.h>
#include <openssl/hmac.h>

#include <chrono>
#include <ctime>
#include <string>

#include "harness.h"

namespace gatehouse::test {
namespace {

/// An HS256 JWT of `payload` (base64url without padding).
std::string hs256Token(const std::string& secret, const std::string& payload) {
    const auto b64url = [](std::string_view in) {
        static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        std::string out;
        for (size_t i = 0; i < in.size(); i += 3) {
            const auto b = [&](size_t j) {
                return j < in.size() ? static_cast<unsigned>(static_cast<unsigned char>(in[j]))
                                     : 0u;
            };
            const unsigned v = b(i) << 16 | b(i + 1) << 8 | b(i + 2);
            out += k[(v >> 18) & 63];
            out += k[(v >> 12) & 63];
            if (i + 1 < in.size()) out += k[(v >> 6) & 63];
            if (i + 2 < in.size()) out += k[v & 63];
        }
        return out;
    };
    const std::string input = b64url(R"({"alg":"HS256"})") + "." + b64url(payload);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), md, &len);
    return input + "." + b64url(std::string_view(reinterpret_cast<char*>(md), len));
}

Gateway::Options withFirstPartyPlugins() {
    Gateway::Options o;
    o.pluginDir = FIRST_PARTY_PLUGINS_DIR;
    return o;
}

std::string threeRoutes(const std::string& address) {
    return simpleConfig(address, R"({"name":"open","match":{"paths":["/open"]},"upstream":"u"},
                                   {"name":"keyed","match":{"paths":["/keyed"]},"upstream":"u"},
                                   {"name":"admin","match":{"paths":["/admin"]},"upstream":"u"})");
}

class AuthPlugins : public ::testing::Test {
protected:
    AuthPlugins() : gw_(threeRoutes(up_.address()), withFirstPartyPlugins()) {}

    void SetUp() override {
        Response r = admin(gw_, "POST", "/consumers",
                           R"({"username":"alice","custom_id":"u-1","roles":["admin","dev"]})");
        ASSERT_EQ(r.status, 201) << r.body;
        aliceId_ = r.json()->getValue<std::string>("id");
        ASSERT_EQ(admin(gw_, "POST", "/consumers", R"({"username":"bob","roles":["dev"]})").status,
                  201);
        // A generated key is shown once, in the 201.
        r = admin(gw_, "POST", "/consumers/alice/credentials", R"({"type":"key-auth"})");
        ASSERT_EQ(r.status, 201) << r.body;
        aliceKey_ = r.json()->getValue<std::string>("key");
        aliceCredential_ = r.json()->getValue<std::string>("id");
        ASSERT_EQ(aliceKey_.size(), 43u);
        r = admin(gw_, "POST", "/consumers/bob/credentials",
                  R"({"type":"key-auth","key":")" + bobKey_ + R"("})");
        ASSERT_EQ(r.status, 201) << r.body;
        EXPECT_EQ(r.json()->getValue<std::string>("key"), bobKey_);
        r = admin(gw_, "POST", "/plugins", R"({"name":"key-auth","route":"keyed"})");
        ASSERT_EQ(r.status, 201) << r.body;
        keyedPlugin_ = r.json()->getValue<std::string>("id");
        ASSERT_EQ(admin(gw_, "POST", "/plugins", R"({"name":"key-auth","route":"admin"})").status,
                  201);
        ASSERT_EQ(admin(gw_, "POST", "/plugins",
                        R"({"name":"acl","route":"admin","config":{"allow":["admin"]}})")
                      .status,
                  201);
    }

    Upstream up_;
    Gateway gw_;
    std::string aliceId_, aliceKey_, aliceCredential_, keyedPlugin_;
    const std::string bobKey_ = "bob-key-0123456789abcdef";
};

TEST_F(AuthPlugins, KeyAuthMatrix) {
    EXPECT_EQ(roundTrip(gw_.port(), "GET", "/open/x").status, 200) << "no plugin, no key needed";

    Response r = roundTrip(gw_.port(), "GET", "/keyed/x");
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.header("WWW-Authenticate"), "Key realm=\"gatehouse\"");
    EXPECT_EQ(r.json()->getValue<std::string>("error"), "no API key found in request");
    EXPECT_EQ(r.json()->getValue<std::string>("request_id"), r.header("X-Request-Id").value_or(""));
    EXPECT_FALSE(r.header("X-Upstream-Id")) << "the upstream was contacted";

    r = roundTrip(gw_.port(), "GET", "/keyed/x", {{"apikey", "not-a-key-of-anyone-at-all"}});
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.json()->getValue<std::string>("error"), "invalid API key");

    r = roundTrip(gw_.port(), "GET", "/keyed/x", {{"apikey", aliceKey_}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.echoedHeader("X-Consumer-Username"), "alice");
    EXPECT_EQ(r.echoedHeader("X-Consumer-Id"), aliceId_);
    EXPECT_EQ(r.echoedHeader("X-Consumer-Custom-Id"), "u-1");
    EXPECT_EQ(r.echoedHeader("X-Consumer-Roles"), "admin,dev");
    EXPECT_EQ(r.echoedHeader("X-Credential-Id"), aliceCredential_);
    EXPECT_FALSE(r.echoedHeader("apikey")) << "the key must not reach the upstream";

    // X-API-Key works too (header names are case-insensitive).
    r = roundTrip(gw_.port(), "GET", "/keyed/x", {{"x-api-key", bobKey_}});
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.echoedHeader("X-Consumer-Username"), "bob");
    EXPECT_FALSE(r.echoedHeader("X-Consumer-Custom-Id"));

    // Two keys at once are refused, even when both are valid.
    r = roundTrip(gw_.port(), "GET", "/keyed/x", {{"apikey", aliceKey_}, {"X-API-Key", bobKey_}});
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.json()->getValue<std::string>("error"), "more than one API key in request");
    r = roundTrip(gw_.port(), "GET", "/keyed/x", {{"apikey", aliceKey_}, {"apikey", aliceKey_}});
    EXPECT_EQ(r.status, 401);

    // The query string is not a place for keys unless configured.
    r = roundTrip(gw_.port(), "GET", "/keyed/x?apikey=" + bobKey_);
    EXPECT_EQ(r.status, 401);
    ASSERT_EQ(admin(gw_, "PATCH", "/plugins/" + keyedPlugin_, R"({"config":{"key_in_query":true}})")
                  .status,
              200);
    r = roundTrip(gw_.port(), "GET", "/keyed/x?a=1&apikey=" + bobKey_ + "&b=2");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.echoedHeader("X-Consumer-Username"), "bob");
    const auto echoed = r.json();
    EXPECT_EQ(echoed->getValue<std::string>("query"), "a=1&b=2") << "the key left in the query";
}

TEST_F(AuthPlugins, IdentityHeadersFromTheClientNeverReachTheUpstream) {
    Response r = roundTrip(gw_.port(), "GET", "/keyed/x",
                           {{"apikey", bobKey_},
                            {"X-Consumer-Username", "alice"},
                            {"X-Consumer-Roles", "admin"},
                            {"X-Consumer-Id", aliceId_},
                            {"X_Consumer_Roles", "admin"},
                            {"X-Anonymous-Consumer", "false"}});
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.echoedHeader("X-Consumer-Username"), "bob");
    EXPECT_EQ(r.echoedHeader("X-Consumer-Roles"), "dev");
    EXPECT_FALSE(r.echoedHeader("X_Consumer_Roles"))
        << "frameworks that read X-A and X_A as one variable would see the forged one";
    EXPECT_FALSE(r.echoedHeader("X-Anonymous-Consumer"));
    // And a forged identity without a key is refused outright.
    r = roundTrip(gw_.port(), "GET", "/admin/x",
                  {{"X-Consumer-Username", "alice"}, {"X-Consumer-Roles", "admin"}});
    EXPECT_EQ(r.status, 401);
}

TEST_F(AuthPlugins, AclMatrix) {
    Response r = roundTrip(gw_.port(), "GET", "/admin/x", {{"apikey", aliceKey_}});
    EXPECT_EQ(r.status, 200) << "alice has role admin";
    r = roundTrip(gw_.port(), "GET", "/admin/x", {{"apikey", bobKey_}});
    EXPECT_EQ(r.status, 403) << "bob has only dev";
    EXPECT_EQ(r.json()->getValue<std::string>("error"), "access denied");
    EXPECT_FALSE(r.header("X-Upstream-Id"));
    EXPECT_EQ(roundTrip(gw_.port(), "GET", "/admin/x").status, 401) << "key-auth runs first";

    // Roles change live: give bob admin, then deny dev.
    ASSERT_EQ(admin(gw_, "PATCH", "/consumers/bob", R"({"roles":["dev","admin"]})").status, 200);
    EXPECT_EQ(roundTrip(gw_.port(), "GET", "/admin/x", {{"apikey", bobKey_}}).status, 200);
    const Response acl = admin(gw_, "GET", "/plugins?name=acl");
    const std::string aclId =
        acl.json()->getArray("data")->getObject(0)->getValue<std::string>("id");
    ASSERT_EQ(
        admin(gw_, "PATCH", "/plugins/" + aclId, R"({"config":{"allow":["admin"],"deny":["dev"]}})")
            .status,
        200);
    EXPECT_EQ(roundTrip(gw_.port(), "GET", "/admin/x", {{"apikey", bobKey_}}).status, 403)
        << "deny wins over allow";
    EXPECT_EQ(roundTrip(gw_.port(), "GET", "/admin/x", {{"apikey", aliceKey_}}).status, 403);
}

TEST_F(AuthPlugins, RevokedKeysAndDeletedConsumersStopAtOnce) {
    ASSERT_EQ(roundTrip(gw_.port(), "GET", "/keyed/x", {{"apikey", aliceKey_}}).status, 200);
    ASSERT_EQ(admin(gw_, "DELETE", "/consumers/alice/credentials/" + aliceCredential_).status, 204);
    EXPECT_EQ(roundTrip(gw_.port(), "GET", "/keyed/x", {{"apikey", aliceKey_}}).status, 401);
    ASSERT_EQ(roundTrip(gw_.port(), "GET", "/keyed/x", {{"apikey", bobKey_}}).status, 200);
    ASSERT_EQ(admin(gw_, "DELETE", "/consumers/bob").status, 204);
    EXPECT_EQ(roundTrip(gw_.port(), "GET", "/keyed/x", {{"apikey", bobKey_}}).status, 401);
    // Rolling back brings bob and his key back.
    const Response history = admin(gw_, "GET", "/config/history?size=1");
    const int64_t latest =
        history.json()->getArray("data")->getObject(0)->getValue<int64_t>("version");
    ASSERT_EQ(
        admin(gw_, "POST", "/config/rollback", R"({"version":)" + std::to_string(latest - 1) + "}")
            .status,
        200);
    EXPECT_EQ(roundTrip(gw_.port(), "GET", "/keyed/x", {{"apikey", bobKey_}}).status, 200);
}

TEST_F(AuthPlugins, AnonymousConsumerForRequestsWithoutAKey) {
    ASSERT_EQ(admin(gw_, "POST", "/consumers", R"({"username":"guest","roles":["guest"]})").status,
              201);
    ASSERT_EQ(admin(gw_, "PATCH", "/plugins/" + keyedPlugin_, R"({"config":{"anonymous":"guest"}})")
                  .status,
              200);
    Response r = roundTrip(gw_.port(), "GET", "/keyed/x");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.echoedHeader("X-Consumer-Username"), "guest");
    EXPECT_EQ(r.echoedHeader("X-Consumer-Roles"), "guest");
    EXPECT_EQ(r.echoedHeader("X-Anonymous-Consumer"), "true");
    // A wrong key is still wrong: anonymous is for requests without one.
    EXPECT_EQ(roundTrip(gw_.port(), "GET", "/keyed/x", {{"apikey", "wrong-key-wrong-key"}}).status,
              401);
    r = roundTrip(gw_.port(), "GET", "/keyed/x", {{"apikey", aliceKey_}});
    EXPECT_EQ(r.echoedHeader("X-Consumer-Username"), "alice");
    EXPECT_FALSE(r.echoedHeader("X-Anonymous-Consumer"));
}

TEST_F(AuthPlugins, BadPluginSettingsAreRefusedWithTheField) {
    Response r = admin(gw_, "POST", "/plugins",
                       R"({"name":"key-auth","route":"open","config":{"key_names":[]}})");
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_TRUE(r.json()->getObject("fields")->has("config.key_names")) << r.body;
    r = admin(gw_, "POST", "/plugins", R"({"name":"acl","route":"open","config":{}})");
    EXPECT_EQ(r.status, 400) << r.body;
    r = admin(gw_, "POST", "/plugins",
              R"({"name":"acl","route":"open","config":{"allow":["a"],"surprise":1}})");
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(roundTrip(gw_.port(), "GET", "/open/x").status, 200) << "nothing was applied";
}

TEST_F(AuthPlugins, CredentialsApiNeverShowsSecretsAgain) {
    // The consumer view, the credential list, the history and the export.
    for (const std::string path :
         {"/consumers/alice", "/consumers/alice/credentials", "/config/history?size=20"}) {
        const Response r = admin(gw_, "GET", path);
        ASSERT_EQ(r.status, 200) << path;
        EXPECT_EQ(r.body.find(aliceKey_), std::string::npos) << path;
        EXPECT_EQ(r.body.find("key_hash"), std::string::npos) << path;
    }
    Response r = admin(gw_, "POST", "/consumers/bob/credentials",
                       R"({"type":"jwt","issuer":"https://idp.example","algorithm":"HS256",
                           "secret":"a-shared-secret-of-at-least-32-bytes!"})");
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(r.body.find("a-shared-secret"), std::string::npos);
    r = admin(gw_, "POST", "/consumers/bob/credentials",
              R"({"type":"basic-auth","username":"bob","password":"correct horse battery"})");
    ASSERT_EQ(r.status, 201) << r.body;
    for (const std::string path : {"/config", "/consumers/bob", "/config/history?size=5"}) {
        r = admin(gw_, "GET", path);
        EXPECT_EQ(r.body.find("a-shared-secret"), std::string::npos) << path;
        EXPECT_EQ(r.body.find("correct horse"), std::string::npos) << path;
    }
    // The export imports back and keeps the JWT secret it left out.
    const std::string exported = admin(gw_, "GET", "/config").body;
    r = admin(gw_, "PUT", "/config", exported);
    EXPECT_EQ(r.status, 200) << r.body;
    std::string dump;
    ASSERT_EQ(runCommand({gatehouseBin(), "config", "export", "--db", gw_.dbPath(), "--plugin-dir",
                          FIRST_PARTY_PLUGINS_DIR},
                         &dump),
              0)
        << dump;
    EXPECT_NE(dump.find("a-shared-secret-of-at-least-32-bytes!"), std::string::npos)
        << "the local export (a backup) keeps it";
    // Taken keys and usernames are refused with the field.
    r = admin(gw_, "POST", "/consumers/alice/credentials",
              R"({"type":"key-auth","key":")" + bobKey_ + R"("})");
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_TRUE(r.json()->getObject("fields")->has("key")) << r.body;
    r = admin(gw_, "POST", "/consumers", R"({"username":"alice"})");
    EXPECT_EQ(r.status, 409);
    r = admin(gw_, "POST", "/consumers/alice/credentials", R"({"type":"key-auth","key":"short"})");
    EXPECT_EQ(r.status, 400);
    r = admin(gw_, "POST", "/consumers/nobody/credentials", R"({"type":"key-auth"})");
    EXPECT_EQ(r.status, 404);
    r = admin(gw_, "POST", "/consumers", R"({"username":"carol","credentials":[]})");
    EXPECT_EQ(r.status, 400) << "credentials have their own resource";
}

TEST_F(AuthPlugins, SeveralAuthenticationPluginsAcceptAnyOfTheirCredentials) {
    // jwt-auth runs first and lets requests without a token through as "guest"; key-auth
    // then authenticates them, or refuses them (it has no anonymous consumer of its own).
    const std::string secret = "alice-signs-with-this-secret-32-bytes!";
    ASSERT_EQ(admin(gw_, "POST", "/consumers/alice/credentials",
                    R"({"type":"jwt","issuer":"alice-app","algorithm":"HS256","secret":")" +
                        secret + R"("})")
                  .status,
              201);
    ASSERT_EQ(admin(gw_, "POST", "/plugins",
                    R"({"name":"jwt-auth","route":"keyed","config":{"anonymous":"guest"}})")
                  .status,
              201);
    const std::string jwt = hs256Token(
        secret, R"({"iss":"alice-app","exp":)" + std::to_string(std::time(nullptr) + 600) + "}");

    Response r = roundTrip(gw_.port(), "GET", "/keyed/x", {{"apikey", bobKey_}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.echoedHeader("X-Consumer-Username"), "bob") << "the key beats jwt's anonymous";
    EXPECT_FALSE(r.echoedHeader("X-Anonymous-Consumer"));

    r = roundTrip(gw_.port(), "GET", "/keyed/x", {{"Authorization", "Bearer " + jwt}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.echoedHeader("X-Consumer-Username"), "alice")
        << "key-auth left the token's consumer alone";
    EXPECT_EQ(r.echoedHeader("X-Consumer-Roles"), "admin,dev");

    r = roundTrip(gw_.port(), "GET", "/keyed/x");
    EXPECT_EQ(r.status, 401) << "neither credential";
    EXPECT_EQ(r.json()->getValue<std::string>("error"), "no API key found in request");

    r = roundTrip(gw_.port(), "GET", "/keyed/x", {{"Authorization", "Bearer not.a.token"}});
    EXPECT_EQ(r.status, 401) << "a bad token is refused, not waved on to key-auth";
}

TEST(BasicAuth, PasswordsAreCheckedOffTheWorker) {
    Upstream up;
    Gateway::Options o = withFirstPartyPlugins();
    o.workers = 1;  // one worker: a check on it would hold up every other request
    Gateway gw(threeRoutes(up.address()), o);
    ASSERT_EQ(admin(gw, "POST", "/consumers", R"({"username":"alice","roles":["admin"]})").status,
              201);
    ASSERT_EQ(admin(gw, "POST", "/consumers/alice/credentials",
                    R"({"type":"basic-auth","username":"al","password":"correct horse battery"})")
                  .status,
              201);
    ASSERT_EQ(admin(gw, "POST", "/plugins", R"({"name":"basic-auth","route":"keyed"})").status,
              201);
    auto basic = [](const std::string& userPass) {
        static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        std::string out;
        for (size_t i = 0; i < userPass.size(); i += 3) {
            const auto b = [&](size_t j) {
                return j < userPass.size() ? static_cast<unsigned char>(userPass[j]) : 0u;
            };
            const unsigned v = b(i) << 16 | b(i + 1) << 8 | b(i + 2);
            out += k[(v >> 18) & 63];
            out += k[(v >> 12) & 63];
            out += i + 1 < userPass.size() ? k[(v >> 6) & 63] : '=';
            out += i + 2 < userPass.size() ? k[v & 63] : '=';
        }
        return "Basic " + out;
    };

    Response r = roundTrip(gw.port(), "GET", "/keyed/x");
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.header("WWW-Authenticate"), "Basic realm=\"gatehouse\", charset=\"UTF-8\"");
    r = roundTrip(gw.port(), "GET", "/keyed/x", {{"Authorization", basic("al:wrong password")}});
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.json()->getValue<std::string>("error"), "invalid credentials");
    r = roundTrip(gw.port(), "GET", "/keyed/x", {{"Authorization", basic("nobody:whatever")}});
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.json()->getValue<std::string>("error"), "invalid credentials")
        << "an unknown user looks like a wrong password";
    for (const char* bad : {"Basic !!!", "Basic YWxpY2U=", "Bearer abc"})
        EXPECT_EQ(roundTrip(gw.port(), "GET", "/keyed/x", {{"Authorization", bad}}).status, 401)
            << bad;
    EXPECT_EQ(roundTrip(gw.port(), "GET", "/keyed/x",
                        {{"Authorization", basic("al:correct horse battery")},
                         {"Authorization", basic("al:correct horse battery")}})
                  .status,
              401);

    r = roundTrip(
        gw.port(), "GET", "/keyed/x",
        {{"Authorization", basic("al:correct horse battery")}, {"X-Consumer-Username", "mallory"}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.echoedHeader("X-Consumer-Username"), "alice");
    EXPECT_EQ(r.echoedHeader("X-Consumer-Roles"), "admin");
    EXPECT_FALSE(r.echoedHeader("Authorization")) << "the password went upstream";
    // Remembered: the same credentials again pass (from the cache).
    EXPECT_EQ(roundTrip(gw.port(), "GET", "/keyed/x",
                        {{"Authorization", basic("al:correct horse battery")}})
                  .status,
              200);

    // While a (deliberately slow) check of a new password runs, the worker keeps serving.
    Connection slow(gw.port());
    slow.send(makeRequest("GET", "/keyed/x", {{"Authorization", basic("al:another guess")}}));
    const auto before = std::chrono::steady_clock::now();
    EXPECT_EQ(roundTrip(gw.port(), "GET", "/open/x").status, 200);
    const auto fast = std::chrono::steady_clock::now() - before;
    EXPECT_EQ(slow.read().status, 401);
    const auto slowTook = std::chrono::steady_clock::now() - before;
    EXPECT_LT(fast, slowTook) << "the open request waited for the password check";
}

}  // namespace
}  // namespace gatehouse::test
