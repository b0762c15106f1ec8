// jwt-auth through the real proxy: tokens signed at test time with keys generated at test
// time (OpenSSL), consumer credentials through the admin API, a JWK Set served by a real
// upstream process that the test rotates and stops, and the attacks a JWT validator must
// refuse: each answered 401, never 500, and never forwarded.

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <Poco/JSON/Object.h>

#include <ctime>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "harness.h"

namespace gatehouse::test {
namespace {

std::string b64url(std::string_view in) {
    static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    for (size_t i = 0; i < in.size(); i += 3) {
        const auto b = [&](size_t j) {
            return j < in.size() ? static_cast<unsigned>(static_cast<unsigned char>(in[j])) : 0u;
        };
        const unsigned v = b(i) << 16 | b(i + 1) << 8 | b(i + 2);
        out += k[(v >> 18) & 63];
        out += k[(v >> 12) & 63];
        if (i + 1 < in.size()) out += k[(v >> 6) & 63];
        if (i + 2 < in.size()) out += k[v & 63];
    }
    return out;
}

std::string hmacSha256(const std::string& key, const std::string& data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
    return std::string(reinterpret_cast<char*>(md), len);
}

struct RsaKey {
    std::shared_ptr<EVP_PKEY> pkey{EVP_RSA_gen(2048), EVP_PKEY_free};

    std::string sign(const std::string& data) const {
        std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                    EVP_MD_CTX_free);
        size_t len = 0;
        EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey.get());
        EVP_DigestSign(ctx.get(), nullptr, &len,
                       reinterpret_cast<const unsigned char*>(data.data()), data.size());
        std::string sig(len, '\0');
        EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(data.data()), data.size());
        sig.resize(len);
        return sig;
    }
    std::string publicPem() const {
        std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
        PEM_write_bio_PUBKEY(bio.get(), pkey.get());
        char* data = nullptr;
        const long n = BIO_get_mem_data(bio.get(), &data);
        return std::string(data, static_cast<size_t>(n));
    }
    std::string jwk(const std::string& kid) const {
        auto param = [&](const char* name) {
            BIGNUM* bn = nullptr;
            EVP_PKEY_get_bn_param(pkey.get(), name, &bn);
            std::string bytes(static_cast<size_t>(BN_num_bytes(bn)), '\0');
            BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
            BN_free(bn);
            return b64url(bytes);
        };
        return R"({"kty":"RSA","use":"sig","alg":"RS256","kid":")" + kid + R"(","n":")" +
               param(OSSL_PKEY_PARAM_RSA_N) + R"(","e":")" + param(OSSL_PKEY_PARAM_RSA_E) + R"("})";
    }
};

std::string token(const std::string& header, const std::string& payload,
                  const std::function<std::string(const std::string&)>& sign) {
    const std::string input = b64url(header) + "." + b64url(payload);
    return input + "." + b64url(sign(input));
}

int64_t now() {
    return static_cast<int64_t>(std::time(nullptr));
}

std::string claims(const std::string& extra = "", int64_t expIn = 600,
                   const std::string& role = "admin") {
    return R"({"iss":"https://idp.example","sub":"user-42","aud":"orders","role":")" + role +
           R"(","exp":)" + std::to_string(now() + expIn) + extra + "}";
}

const std::string kSecret = "a-shared-secret-of-at-least-32-bytes!!";

class JwtAuth : public ::testing::Test {
protected:
    JwtAuth() : gw_(config(), options()) {}

    static Gateway::Options options() {
        Gateway::Options o;
        o.pluginDir = FIRST_PARTY_PLUGINS_DIR;
        return o;
    }
    std::string config() {
        return simpleConfig(up_.address(),
                            R"({"name":"api","match":{"paths":["/api"]},"upstream":"u"},
                               {"name":"jwks","match":{"paths":["/jwks"]},"upstream":"u"},
                               {"name":"admin","match":{"paths":["/admin"]},"upstream":"u"})");
    }

    void SetUp() override {
        ASSERT_EQ(
            admin(gw_, "POST", "/consumers", R"({"username":"idp-app","roles":["svc"]})").status,
            201);
        Response r = admin(gw_, "POST", "/consumers/idp-app/credentials",
                           R"({"type":"jwt","issuer":"https://idp.example","algorithm":"HS256",)"
                           R"("secret":")" +
                               kSecret + R"("})");
        ASSERT_EQ(r.status, 201) << r.body;
        Poco::JSON::Object::Ptr rs = new Poco::JSON::Object;
        rs->set("type", "jwt");
        rs->set("kid", "rsa-1");
        rs->set("algorithm", "RS256");
        rs->set("public_key", rsa_.publicPem());
        std::ostringstream body;
        rs->stringify(body);
        r = admin(gw_, "POST", "/consumers/idp-app/credentials", body.str());
        ASSERT_EQ(r.status, 201) << r.body;
        r = admin(gw_, "POST", "/plugins",
                  R"({"name":"jwt-auth","route":"api","config":{"issuers":["https://idp.example"],
                      "audiences":["orders"],
                      "claims_to_headers":{"sub":"X-User-Id","role":"X-User-Role"}}})");
        ASSERT_EQ(r.status, 201) << r.body;
    }

    std::string hs256(const std::string& payload,
                      const std::string& header = R"({"alg":"HS256","typ":"JWT"})") {
        return token(header, payload,
                     [](const std::string& in) { return hmacSha256(kSecret, in); });
    }
    Response get(const std::string& path, const std::string& bearer,
                 std::vector<std::pair<std::string, std::string>> extra = {}) {
        extra.emplace_back("Authorization", "Bearer " + bearer);
        return roundTrip(gw_.port(), "GET", path, extra);
    }

    Upstream up_;
    RsaKey rsa_;
    Gateway gw_;
};

TEST_F(JwtAuth, AConsumerTokenIdentifiesTheConsumerButItsClaimsAreItsOwnWord) {
    // A consumer signs its own tokens: they say who the consumer is, and nothing else is
    // taken from them (else any consumer could sign itself any sub or role).
    Response r = get("/api/x", hs256(claims()),
                     {{"X-User-Id", "forged"}, {"X-User-Role", "root"}, {"X_User_Role", "root"}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.echoedHeader("X-Consumer-Username"), "idp-app");
    EXPECT_FALSE(r.echoedHeader("X-User-Id")) << "the client's copy was removed, none set";
    EXPECT_FALSE(r.echoedHeader("X-User-Role"));
    EXPECT_FALSE(r.echoedHeader("X_User_Role")) << "the underscore spelling too";
    // Where every consumer credential holds a trusted issuer's key, the operator says so.
    ASSERT_EQ(admin(gw_, "POST", "/plugins",
                    R"({"name":"jwt-auth","route":"admin","config":{"trust_consumer_claims":true,
                        "claims_to_headers":{"sub":"X-User-Id","role":"X-User-Role"}}})")
                  .status,
              201);
    r = get("/admin/x", hs256(claims()), {{"X-User-Id", "forged"}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.echoedHeader("X-User-Id"), "user-42") << "the client's copy was replaced";
    EXPECT_EQ(r.echoedHeader("X-User-Role"), "admin");
    // RS256 through the consumer's public key, found by kid.
    const std::string rs = token(R"({"alg":"RS256","kid":"rsa-1"})", claims(),
                                 [&](const std::string& in) { return rsa_.sign(in); });
    EXPECT_EQ(get("/api/x", rs).status, 200);
    // Without a token: 401 with a plain Bearer challenge; nothing forwarded.
    const Response none = roundTrip(gw_.port(), "GET", "/api/x");
    EXPECT_EQ(none.status, 401);
    EXPECT_EQ(none.header("WWW-Authenticate"), "Bearer realm=\"gatehouse\"");
    EXPECT_FALSE(none.header("X-Upstream-Id"));
}

TEST_F(JwtAuth, AttacksAreRefusedWith401) {
    const std::string good = hs256(claims());
    const std::string header = good.substr(0, good.find('.'));
    const std::string payload =
        good.substr(good.find('.') + 1, good.rfind('.') - good.find('.') - 1);
    const std::string signature = good.substr(good.rfind('.') + 1);
    const std::string rsaPem = rsa_.publicPem();
    struct Case {
        const char* what;
        std::string token;
    } cases[] = {
        {"alg none", b64url(R"({"alg":"none"})") + "." + payload + "."},
        {"alg None", b64url(R"({"alg":"None"})") + "." + payload + "." + signature},
        {"alg NONE", b64url(R"({"alg":"NONE","kid":"rsa-1"})") + "." + payload + "."},
        {"HS256 signed with the RS256 public key",
         token(R"({"alg":"HS256","kid":"rsa-1"})", claims(),
               [&](const std::string& in) { return hmacSha256(rsaPem, in); })},
        {"wrong secret", token(R"({"alg":"HS256"})", claims(),
                               [](const std::string& in) {
                                   return hmacSha256("another-secret-another-secret-x", in);
                               })},
        {"stripped signature", header + "." + payload + "."},
        {"altered payload", header + "." + b64url(claims("", 600, "root")) + "." + signature},
        {"altered header",
         b64url(R"({"alg":"HS256","typ":"JWS"})") + "." + payload + "." + signature},
        {"altered signature",
         header + "." + payload + "." + (signature[0] == 'A' ? "B" : "A") + signature.substr(1)},
        {"extra segment", good + ".AAAA"},
        {"two segments", header + "." + payload},
        {"expired", hs256(claims("", -3600))},
        {"no exp", hs256(R"({"iss":"https://idp.example","aud":"orders"})")},
        {"nbf in the future", hs256(claims(R"(,"nbf":)" + std::to_string(now() + 3600)))},
        {"wrong issuer", hs256(R"({"iss":"https://evil.example","aud":"orders","exp":)" +
                               std::to_string(now() + 600) + "}")},
        {"wrong audience", hs256(R"({"iss":"https://idp.example","aud":"billing","exp":)" +
                                 std::to_string(now() + 600) + "}")},
        {"kid path traversal",
         hs256(claims(), R"({"alg":"HS256","kid":"../../../../etc/passwd"})")},
        {"kid sql", hs256(claims(), R"({"alg":"HS256","kid":"' OR 1=1 --"})")},
        {"not base64url", "eyJ!!!.eyJ.sig"},
        {"garbage", "not-a-token-at-all"},
    };
    for (const auto& c : cases) {
        const Response r = get("/api/x", c.token);
        EXPECT_EQ(r.status, 401) << c.what << ": " << r.body;
        EXPECT_FALSE(r.header("X-Upstream-Id")) << c.what << " reached the upstream";
        EXPECT_NE(r.header("WWW-Authenticate").value_or("").find("error=\"invalid_token\""),
                  std::string::npos)
            << c.what;
    }
    // Two tokens in one request.
    const Response two =
        roundTrip(gw_.port(), "GET", "/api/x",
                  {{"Authorization", "Bearer " + good}, {"Authorization", "Bearer " + good}});
    EXPECT_EQ(two.status, 401);
    // And the good one still passes: none of the above broke anything.
    EXPECT_EQ(get("/api/x", good).status, 200);
}

TEST_F(JwtAuth, JwksRotationCachingAndAnEndpointThatGoesDown) {
    Upstream idp("idp");
    RsaKey k1, k2;
    const auto put = [&](const std::string& keys) {
        Connection c(idp.port());
        c.send(makeRequest("PUT", "/blob/jwks", {{"Content-Type", "application/json"}},
                           R"({"keys":[)" + keys + "]}"));
        return c.read().status;
    };
    ASSERT_EQ(put(k1.jwk("k1")), 204);
    // Keys fetched over plain HTTP could be swapped on the way: refused unless the operator
    // says the network is trusted (as this test's loopback is).
    Response p = admin(gw_, "POST", "/plugins",
                       R"({"name":"jwt-auth","route":"jwks","config":{"jwks_uri":"http://)" +
                           idp.address() + R"(/blob/jwks"}})");
    EXPECT_EQ(p.status, 400);
    EXPECT_NE(p.body.find("https"), std::string::npos) << p.body;
    p = admin(gw_, "POST", "/plugins",
              R"({"name":"jwt-auth","route":"jwks","config":{"jwks_uri":"http://)" + idp.address() +
                  R"(/blob/jwks","allow_insecure_jwks_uri":true,"jwks_min_refetch_s":1,
                     "claims_to_headers":{"sub":"X-User-Id"}}})");
    ASSERT_EQ(p.status, 201) << p.body;
    const auto signed_ = [](const RsaKey& k, const std::string& kid) {
        return token(R"({"alg":"RS256","kid":")" + kid + R"("})", claims(),
                     [&](const std::string& in) { return k.sign(in); });
    };
    EXPECT_TRUE(eventually([&] { return get("/jwks/x", signed_(k1, "k1")).status == 200; }))
        << get("/jwks/x", signed_(k1, "k1")).body << gw_.log();
    const Response ok = get("/jwks/x", signed_(k1, "k1"), {{"X-User-Id", "forged"}});
    EXPECT_FALSE(ok.echoedHeader("X-Consumer-Username")) << "JWKS keys belong to no consumer";
    EXPECT_EQ(ok.echoedHeader("X-User-Id"), "user-42") << "the issuer vouches for its claims";

    // The issuer rotates in k2: the first token with the new kid waits for a refetch.
    ASSERT_EQ(put(k1.jwk("k1") + "," + k2.jwk("k2")), 204);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // past jwks_min_refetch_s
    EXPECT_EQ(get("/jwks/x", signed_(k2, "k2")).status, 200);
    // A kid nobody published: refused (a refetch at most once a second, never a hang).
    EXPECT_EQ(get("/jwks/x", signed_(k2, "k3")).status, 401);
    // A key signed by k2 but claiming k1's kid is refused.
    EXPECT_EQ(get("/jwks/x", signed_(k2, "k1")).status, 401);

    // The endpoint goes down: cached keys keep verifying; unknown kids are refused quickly.
    idp.stop();
    EXPECT_EQ(get("/jwks/x", signed_(k1, "k1")).status, 200);
    EXPECT_EQ(get("/jwks/x", signed_(k2, "k2")).status, 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    const auto before = std::chrono::steady_clock::now();
    EXPECT_EQ(get("/jwks/x", signed_(k1, "k9")).status, 401);
    EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(5));
    EXPECT_TRUE(gw_.waitForLog("jwks_uri"));
}

TEST_F(JwtAuth, AclOnAnIssuersRoleClaimNeverOnWhatAClientOrAConsumerSays) {
    // An issuer's public key, static in the configuration (no secret in it).
    RsaKey issuer;
    ASSERT_EQ(admin(gw_, "POST", "/plugins",
                    R"({"name":"jwt-auth","route":"admin","config":{"roles_claim":"role",
                        "claims_to_headers":{"role":"X-User-Role"},
                        "jwks":{"keys":[)" +
                        issuer.jwk("issuer-1") + "]}}}")
                  .status,
              201);
    ASSERT_EQ(admin(gw_, "POST", "/plugins",
                    R"({"name":"acl","route":"admin","config":{"allow":["admin"]}})")
                  .status,
              201);
    const auto issued = [&](const std::string& roleJson) {
        return token(R"({"alg":"RS256","kid":"issuer-1"})",
                     R"({"sub":"user-7","role":)" + roleJson + R"(,"exp":)" +
                         std::to_string(now() + 600) + "}",
                     [&](const std::string& in) { return issuer.sign(in); });
    };
    EXPECT_EQ(get("/admin/x", issued(R"("admin")")).status, 200);
    EXPECT_EQ(get("/admin/x", issued(R"("user admin")")).status, 200) << "space-separated";
    EXPECT_EQ(get("/admin/x", issued(R"(["user","admin"])")).status, 200) << "an array";
    EXPECT_EQ(get("/admin/x", issued(R"("user")")).status, 403);
    EXPECT_EQ(get("/admin/x", issued(R"(["user,admin"])")).status, 403)
        << "a role with a comma is not two roles";
    EXPECT_EQ(get("/admin/x", issued(R"(["x"])"), {{"X-User-Role", "admin"}}).status, 403)
        << "a client's role header counts for nothing";
    // A consumer's own token claiming role admin: its consumer's roles (svc) decide.
    EXPECT_EQ(get("/admin/x", hs256(claims())).status, 403);
    // No token, only headers: not even authenticated.
    EXPECT_EQ(roundTrip(gw_.port(), "GET", "/admin/x",
                        {{"X-User-Role", "admin"}, {"X-Consumer-Roles", "admin"}})
                  .status,
              401);
    // acl 1.0's roles_header still loads (stored configurations keep working) but is ignored.
    ASSERT_EQ(admin(gw_, "POST", "/plugins",
                    R"({"name":"acl","route":"jwks","config":{"allow":["admin"],
                        "roles_header":"X-User-Role"}})")
                  .status,
              201);
    EXPECT_TRUE(gw_.waitForLog("roles_header is ignored"));
    EXPECT_EQ(roundTrip(gw_.port(), "GET", "/jwks/x", {{"X-User-Role", "admin"}}).status, 401);
    // HMAC secrets do not go into a configuration every admin reader sees.
    const Response oct = admin(
        gw_, "POST", "/plugins",
        R"({"name":"jwt-auth","route":"jwks","config":{"jwks":{"keys":[{"kty":"oct",)"
        R"("kid":"s","alg":"HS256","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}]}}})");
    EXPECT_EQ(oct.status, 400);
    EXPECT_NE(oct.body.find("consumer jwt credentials"), std::string::npos) << oct.body;
}

TEST_F(JwtAuth, ACredentialBoundToAnIssuerSignsOnlyThatIssuersTokens) {
    const std::string secret = "another-secret-of-at-least-32-bytes!!";
    ASSERT_EQ(admin(gw_, "POST", "/consumers/idp-app/credentials",
                    R"({"type":"jwt","kid":"bound","issuer":"https://idp.example",)"
                    R"("algorithm":"HS256","secret":")" +
                        secret + R"("})")
                  .status,
              201);
    ASSERT_EQ(admin(gw_, "POST", "/plugins", R"({"name":"jwt-auth","route":"admin"})").status, 201);
    const auto signedAs = [&](const std::string& iss) {
        return token(R"({"alg":"HS256","kid":"bound"})",
                     R"({"iss":")" + iss + R"(","exp":)" + std::to_string(now() + 600) + "}",
                     [&](const std::string& in) { return hmacSha256(secret, in); });
    };
    EXPECT_EQ(get("/admin/x", signedAs("https://idp.example")).status, 200);
    const Response other = get("/admin/x", signedAs("https://other.example"));
    EXPECT_EQ(other.status, 401);
    EXPECT_NE(other.body.find("issuer"), std::string::npos) << other.body;
}

TEST_F(JwtAuth, RememberedTokensStillFollowRevocationAndExpiry) {
    ASSERT_EQ(admin(gw_, "POST", "/plugins",
                    R"({"name":"jwt-auth","route":"admin","config":{"clock_skew_s":0}})")
                  .status,
              201);
    // Expiry: a token good for two more seconds, used (and remembered), then too late.
    const std::string shortLived = hs256(claims("", 2));
    ASSERT_EQ(get("/admin/x", shortLived).status, 200);
    ASSERT_EQ(get("/admin/x", shortLived).status, 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(3100));
    const Response late = get("/admin/x", shortLived);
    EXPECT_EQ(late.status, 401);
    EXPECT_NE(late.body.find("expired"), std::string::npos) << late.body;

    // Revocation: the credential goes, the remembered token with it.
    const std::string token = hs256(claims());
    ASSERT_EQ(get("/admin/x", token).status, 200);
    const Response again = get("/admin/x", token);
    ASSERT_EQ(again.status, 200);
    EXPECT_EQ(again.echoedHeader("X-Consumer-Username"), "idp-app") << "the consumer, from memory";
    const Response creds = admin(gw_, "GET", "/consumers/idp-app/credentials");
    const auto list = creds.json()->getArray("data");
    for (size_t i = 0; i < list->size(); ++i) {
        const auto c = list->getObject(static_cast<unsigned>(i));
        if (c->optValue<std::string>("algorithm", "") != "HS256") continue;
        const Response deleted = admin(
            gw_, "DELETE", "/consumers/idp-app/credentials/" + c->getValue<std::string>("id"));
        ASSERT_EQ(deleted.status, 204);
    }
    EXPECT_EQ(get("/admin/x", token).status, 401);
}

}  // namespace
}  // namespace gatehouse::test
