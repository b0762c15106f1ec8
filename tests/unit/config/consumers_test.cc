#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

#include <string>

#include "config/codec.h"
#include "config/credentials.h"

namespace gatehouse::config {
namespace {

Poco::JSON::Object::Ptr parse(const std::string& text) {
    Poco::JSON::Parser p;
    return p.parse(text).extract<Poco::JSON::Object::Ptr>();
}

CredentialSpec credential(const std::string& text, FieldErrors* errorsOut = nullptr) {
    FieldErrors errors;
    CredentialSpec c = credentialFromJson(parse(text), "", errors);
    if (errorsOut)
        *errorsOut = errors;
    else
        EXPECT_TRUE(errors.empty()) << summarize(errors);
    return c;
}

const char* kRsaPublicKey = R"(-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo
4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u
+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyeh
kd3qqGElvW/VDL5AaWTg0nLVkjRo9z+40RQzuVaE8AkAFmxZzow3x+VJYKdjykkJ
0iT9wCS0DRTXu269V264Vf/3jvredZiKRkgwlL9xNAwxXFg0x/XFw005UWVRIkdg
cKWTjpBP2dPwVZ4WWC+9aGVd+Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbc
mwIDAQAB
-----END PUBLIC KEY-----
)";

TEST(Credentials, KeyAuthKeepsOnlyTheHashAndAHint) {
    const auto c = credential(R"({"type":"key-auth","key":"abcd-efgh-ijkl-mnop-1234"})");
    EXPECT_EQ(c.type, CredentialType::kKeyAuth);
    EXPECT_EQ(c.keyHash, sha256Hex("abcd-efgh-ijkl-mnop-1234"));
    EXPECT_EQ(c.keyHint, "abcd");
    EXPECT_FALSE(c.id.empty());
    const std::string stored = [&] {
        std::ostringstream out;
        toJson(c, SecretView::kStored)->stringify(out);
        return out.str();
    }();
    EXPECT_EQ(stored.find("efgh"), std::string::npos) << "the key itself is never stored";
    // The stored form reads back (an import of an export).
    const auto back = credential(stored);
    EXPECT_EQ(back, c);
}

TEST(Credentials, Sha256HexIsTheStandardDigest) {
    EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Credentials, GeneratedKeysAreLongAndDistinct) {
    const std::string a = generateApiKey(), b = generateApiKey();
    EXPECT_EQ(a.size(), 43u);
    EXPECT_NE(a, b);
    EXPECT_EQ(
        a.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        std::string::npos);
}

TEST(Credentials, PasswordsAreSaltedPbkdf2) {
    const std::string h1 = hashPassword("correct horse", 1000);
    const std::string h2 = hashPassword("correct horse", 1000);
    EXPECT_EQ(h1.rfind("$pbkdf2-sha256$i=1000$", 0), 0u) << h1;
    EXPECT_NE(h1, h2) << "a random salt per hash";
    EXPECT_TRUE(verifyPassword("correct horse", h1));
    EXPECT_FALSE(verifyPassword("correct horsf", h1));
    EXPECT_FALSE(verifyPassword("", h1));
    EXPECT_FALSE(verifyPassword("correct horse", "$pbkdf2-sha256$i=1000$bad"));
    EXPECT_FALSE(verifyPassword("correct horse", "plain"));
    EXPECT_TRUE(validPasswordHash(h1));
    EXPECT_FALSE(validPasswordHash("$pbkdf2-sha256$i=10$c2FsdHNhbHQ=$aGFzaA=="));  // too few
    const auto c = credential(R"({"type":"basic-auth","username":"bob","password":"long enough"})");
    EXPECT_TRUE(verifyPassword("long enough", c.passwordHash));
    EXPECT_EQ(c.passwordHash.find("long enough"), std::string::npos);
}

TEST(Credentials, JwtKeysArePinnedAndChecked) {
    auto hs = credential(
        R"({"type":"jwt","issuer":"https://idp","algorithm":"HS256","secret":"0123456789abcdef0123456789abcdef"})");
    EXPECT_EQ(hs.algorithm, "HS256");
    EXPECT_EQ(hs.secret, "0123456789abcdef0123456789abcdef");
    std::ostringstream api;
    toJson(hs, SecretView::kApi)->stringify(api);
    EXPECT_EQ(api.str().find("0123456789abcdef"), std::string::npos) << api.str();

    Poco::JSON::Object::Ptr rs = new Poco::JSON::Object;
    rs->set("type", "jwt");
    rs->set("kid", "k1");
    rs->set("algorithm", "RS256");
    rs->set("public_key", std::string(kRsaPublicKey));
    FieldErrors errors;
    const auto rsa = credentialFromJson(rs, "", errors);
    EXPECT_TRUE(errors.empty()) << summarize(errors);
    EXPECT_EQ(rsa.kid, "k1");

    struct Bad {
        const char* json;
        const char* field;
    } bad[] = {
        {R"({"type":"jwt","issuer":"i","algorithm":"none","secret":"0123456789abcdef0123456789abcdef"})",
         "algorithm"},
        {R"({"type":"jwt","issuer":"i","algorithm":"HS256","secret":"short"})", "secret"},
        {R"({"type":"jwt","issuer":"i","algorithm":"HS256"})", "secret"},
        {R"({"type":"jwt","algorithm":"HS256","secret":"0123456789abcdef0123456789abcdef"})",
         "issuer"},
        {R"({"type":"jwt","issuer":"i","algorithm":"RS256","public_key":"not a key"})",
         "public_key"},
        {R"({"type":"jwt","issuer":"i","algorithm":"RS256","secret":"0123456789abcdef0123456789abcdef"})",
         "secret"},
        {R"({"type":"key-auth","key":"short"})", "key"},
        {R"({"type":"key-auth"})", "key"},
        {R"({"type":"key-auth","key_hash":"ABC"})", "key_hash"},
        {R"({"type":"key-auth","key":"0123456789abcdef","issuer":"x"})", "issuer"},
        {R"({"type":"basic-auth","username":"a:b","password":"long enough"})", "username"},
        {R"({"type":"basic-auth","username":"a","password":"short"})", "password"},
        {R"({"type":"basic-auth","username":"a","password_hash":"plain"})", "password_hash"},
        {R"({"type":"oauth"})", "type"},
        {R"({"key":"0123456789abcdef"})", "type"},
        {R"({"type":"key-auth","key":"0123456789abcdef","id":"nope"})", "id"},
    };
    for (const auto& b : bad) {
        FieldErrors e;
        credential(b.json, &e);
        EXPECT_TRUE(e.count(b.field)) << b.json << " -> " << summarize(e);
    }
}

TEST(Consumers, ParseValidateAndRender) {
    FieldErrors errors;
    const auto c = consumerFromJson(
        parse(R"({"username":"alice","custom_id":"u-1","roles":["admin","dev"],"tags":["t"],
                  "credentials":[{"type":"key-auth","key":"0123456789abcdef"}]})"),
        "", errors);
    EXPECT_TRUE(errors.empty()) << summarize(errors);
    EXPECT_EQ(c.meta.name, "alice");
    EXPECT_EQ(c.roles, (std::vector<std::string>{"admin", "dev"}));
    ASSERT_EQ(c.credentials.size(), 1u);
    const auto view = toJson(c, SecretView::kApi);
    EXPECT_EQ(view->getValue<std::string>("username"), "alice");
    std::ostringstream out;
    view->stringify(out);
    EXPECT_EQ(out.str().find("key_hash"), std::string::npos);

    FieldErrors bad;
    consumerFromJson(parse(R"({"username":"","roles":["a,b",""]})"), "consumers[0]", bad);
    EXPECT_TRUE(bad.count("consumers[0].username")) << summarize(bad);
    EXPECT_TRUE(bad.count("consumers[0].roles[0]"));
    EXPECT_TRUE(bad.count("consumers[0].roles[1]"));
}

TEST(Consumers, DocumentRulesKeepCredentialsUnambiguous) {
    const std::string doc = R"({"consumers":[
        {"username":"a","credentials":[{"type":"key-auth","key":"same-key-0123456789"},
                                       {"type":"jwt","kid":"k","algorithm":"HS256","secret":"0123456789abcdef0123456789abcdef"}]},
        {"username":"b","credentials":[{"type":"key-auth","key":"same-key-0123456789"},
                                       {"type":"jwt","kid":"k","algorithm":"HS512","secret":"0123456789abcdef0123456789abcdef"},
                                       {"type":"basic-auth","username":"k","password":"long enough"}]},
        {"username":"a"}]})";
    try {
        documentFromJson(doc);
        FAIL() << "duplicates accepted";
    } catch (const ValidationError& e) {
        EXPECT_TRUE(e.fields.count("consumers[1].credentials[0].key")) << summarize(e.fields);
        EXPECT_TRUE(e.fields.count("consumers[1].credentials[1].kid")) << summarize(e.fields);
        EXPECT_FALSE(e.fields.count("consumers[1].credentials[2].username"))
            << "a basic-auth username is another namespace than a jwt kid";
        EXPECT_TRUE(e.fields.count("consumers[2].username")) << summarize(e.fields);
    }
}

TEST(Credentials, PublicKeyPemCheck) {
    EXPECT_EQ(checkPublicKeyPem(kRsaPublicKey), "");
    EXPECT_NE(checkPublicKeyPem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
              "");
    EXPECT_NE(checkPublicKeyPem(""), "");
    EXPECT_NE(checkPublicKeyPem(std::string(70000, 'A')), "");
}

}  // namespace
}  // namespace gatehouse::config
