// Tests of gatehouse::jwt (plugins/jwt-auth/jwt.h): RFC 7515 vectors, round trips with keys
// generated here, attacks, claims and JWK Sets.
#include "jwt.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <atomic>
#include <ctime>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace gatehouse::jwt {

// gtest prints Alg parameters by name (found by ADL, so outside the anonymous namespace).
void PrintTo(Alg alg, std::ostream* os) {
    *os << algName(alg);
}

namespace {

using PkeyPtr = std::shared_ptr<EVP_PKEY>;

// ---- RFC 7515 Appendix A -------------------------------------------------------------------

constexpr int64_t kRfcExp = 1300819380;
// The payload shared by A.1-A.3; header and payload carry "\r\n " inside the JSON.
const std::string kRfcPayloadSeg =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ";

const std::string kA1Token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9." + kRfcPayloadSeg +
                             ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const std::string kA1K =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";

const std::string kA2N =
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx"
    "HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs"
    "D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH"
    "SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV"
    "MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8"
    "NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
// The private exponent of the A.2 key: present in the RFC's JWK, must be ignored.
const std::string kA2D =
    "Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97I"
    "jlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0"
    "BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn"
    "439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYT"
    "CBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLh"
    "BOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ";
const std::string kA2Token = "eyJhbGciOiJSUzI1NiJ9." + kRfcPayloadSeg +
                             ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7"
                             "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4"
                             "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K"
                             "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv"
                             "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB"
                             "p0igcN_IoypGlUPQGe77Rw";

const std::string kA3X = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const std::string kA3Y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
const std::string kA3Token = "eyJhbGciOiJFUzI1NiJ9." + kRfcPayloadSeg +
                             ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSA"
                             "pmWQxfKTUJqPP3-Kg6NU1Q";

const std::string kA1Jwk = R"({"kty":"oct","alg":"HS256","k":")" + kA1K + R"("})";
const std::string kA2Jwk =
    R"({"kty":"RSA","n":")" + kA2N + R"(","e":"AQAB","d":")" + kA2D + R"("})";
const std::string kA3Jwk = R"({"kty":"EC","crv":"P-256","x":")" + kA3X + R"(","y":")" + kA3Y +
                           R"(","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"})";

// ---- helpers -------------------------------------------------------------------------------

Poco::JSON::Object::Ptr json(const std::string& text) {
    Poco::JSON::Parser parser;
    return parser.parse(text).extract<Poco::JSON::Object::Ptr>();
}

std::optional<Key> jwk(const std::string& text, std::string* error = nullptr) {
    return Key::fromJwk(*json(text), error);
}

const unsigned char* u8(const std::string& s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

PkeyPtr genRsa(std::size_t bits) {
    return PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits), EVP_PKEY_free);
}

PkeyPtr genEc(const char* curve) {
    return PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve), EVP_PKEY_free);
}

// Key pairs generated once for the whole binary (RSA generation is slow under ASan).
struct TestKeys {
    PkeyPtr rsa = genRsa(2048), rsaOther = genRsa(2048);
    PkeyPtr p256 = genEc("P-256"), p256Other = genEc("P-256");
    PkeyPtr p384 = genEc("P-384"), p384Other = genEc("P-384");
};
const TestKeys& testKeys() {
    static const TestKeys keys;
    return keys;
}

std::string bioString(BIO* bio) {
    char* data = nullptr;
    long len = BIO_ctrl(bio, BIO_CTRL_INFO, 0, &data);
    return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string();
}

std::string publicPemOf(EVP_PKEY* pkey) {
    BIO* bio = BIO_new(BIO_s_mem());
    EXPECT_EQ(PEM_write_bio_PUBKEY(bio, pkey), 1);
    std::string pem = bioString(bio);
    BIO_free_all(bio);
    return pem;
}

std::string privatePemOf(EVP_PKEY* pkey) {
    BIO* bio = BIO_new(BIO_s_mem());
    EXPECT_EQ(PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr), 1);
    std::string pem = bioString(bio);
    BIO_free_all(bio);
    return pem;
}

// A self-signed certificate for `pkey`, as PEM.
std::string certPemOf(EVP_PKEY* pkey) {
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, pkey);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, u8("gatehouse-test"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    EXPECT_GT(X509_sign(cert, pkey, EVP_sha256()), 0);
    BIO* bio = BIO_new(BIO_s_mem());
    EXPECT_EQ(PEM_write_bio_X509(bio, cert), 1);
    std::string pem = bioString(bio);
    BIO_free_all(bio);
    X509_free(cert);
    return pem;
}

const EVP_MD* mdOf(Alg alg) {
    switch (alg) {
        case Alg::HS384:
        case Alg::RS384:
        case Alg::ES384:
            return EVP_sha384();
        case Alg::HS512:
        case Alg::RS512:
            return EVP_sha512();
        default:
            return EVP_sha256();
    }
}

bool isHmac(Alg a) {
    return a == Alg::HS256 || a == Alg::HS384 || a == Alg::HS512;
}
bool isEc(Alg a) {
    return a == Alg::ES256 || a == Alg::ES384;
}

std::string hmacOf(Alg alg, const std::string& secret, const std::string& input) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(mdOf(alg), secret.data(), static_cast<int>(secret.size()), u8(input), input.size(), mac,
         &len);
    return std::string(reinterpret_cast<char*>(mac), len);
}

// EVP_DigestSign: PKCS#1 v1.5 for RSA, DER ECDSA-Sig-Value for EC.
std::string digestSign(EVP_PKEY* pkey, const EVP_MD* md, const std::string& input) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, md, nullptr, pkey), 1);
    std::size_t len = 0;
    EXPECT_EQ(EVP_DigestSign(ctx, nullptr, &len, u8(input), input.size()), 1);
    std::string sig(len, '\0');
    EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, u8(input),
                             input.size()),
              1);
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    return sig;
}

std::string derToRaw(const std::string& der, std::size_t n) {
    const unsigned char* p = u8(der);
    ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
    EXPECT_NE(sig, nullptr);
    const BIGNUM* r = nullptr;
    const BIGNUM* s = nullptr;
    ECDSA_SIG_get0(sig, &r, &s);
    std::string raw(2 * n, '\0');
    auto* out = reinterpret_cast<unsigned char*>(raw.data());
    EXPECT_EQ(BN_bn2binpad(r, out, static_cast<int>(n)), static_cast<int>(n));
    EXPECT_EQ(BN_bn2binpad(s, out + n, static_cast<int>(n)), static_cast<int>(n));
    ECDSA_SIG_free(sig);
    return raw;
}

// What signs test tokens: an HMAC secret or a private key.
struct Signer {
    Alg alg;
    std::string secret;
    PkeyPtr priv;
};

std::string signatureOf(const Signer& s, const std::string& input) {
    if (isHmac(s.alg)) return hmacOf(s.alg, s.secret, input);
    std::string der = digestSign(s.priv.get(), mdOf(s.alg), input);
    if (isEc(s.alg)) return derToRaw(der, s.alg == Alg::ES256 ? 32 : 48);
    return der;
}

std::string makeToken(const std::string& headerJson, const std::string& payloadJson,
                      const Signer& signer) {
    std::string input = base64urlEncode(headerJson) + "." + base64urlEncode(payloadJson);
    return input + "." + base64urlEncode(signatureOf(signer, input));
}

std::string headerFor(Alg alg, const std::string& extra = "") {
    return std::string(R"({"typ":"JWT","alg":")") + algName(alg) + "\"" + extra + "}";
}

const std::string kPayload = R"({"sub":"alice","admin":false,"exp":4102444800})";

// decode + verify, with the reason of whichever failed.
bool accepts(const std::string& compact, const Key& key, std::string* why = nullptr) {
    std::string err;
    auto token = decode(compact, &err);
    bool ok = token && verify(*token, key, &err);
    if (why) *why = err;
    return ok;
}

const std::string kSecret256 = std::string(32, 'k') + "-hs256-secret";

Signer hsSigner(Alg alg = Alg::HS256) {
    return Signer{alg, kSecret256, nullptr};
}
Key hsKey(Alg alg = Alg::HS256) {
    return *Key::hmac(alg, kSecret256);
}

Signer signerFor(Alg alg, bool other = false) {
    const TestKeys& k = testKeys();
    switch (alg) {
        case Alg::HS256:
        case Alg::HS384:
        case Alg::HS512:
            return Signer{alg, other ? std::string(64, 'o') : std::string(64, 's'), nullptr};
        case Alg::RS256:
        case Alg::RS384:
        case Alg::RS512:
            return Signer{alg, "", other ? k.rsaOther : k.rsa};
        case Alg::ES256:
            return Signer{alg, "", other ? k.p256Other : k.p256};
        case Alg::ES384:
            return Signer{alg, "", other ? k.p384Other : k.p384};
    }
    return Signer{alg, "", nullptr};
}

Key keyFor(const Signer& s) {
    std::string err;
    std::optional<Key> key = isHmac(s.alg)
                                 ? Key::hmac(s.alg, s.secret, "", &err)
                                 : Key::publicPem(s.alg, publicPemOf(s.priv.get()), "", &err);
    EXPECT_TRUE(key) << err;
    return *key;
}

// A JWK for the public half of a generated key.
std::string jwkOf(Alg alg, EVP_PKEY* pkey) {
    if (!isEc(alg)) {
        BIGNUM* n = nullptr;
        EXPECT_EQ(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n), 1);
        std::string nb(static_cast<std::size_t>(BN_num_bytes(n)), '\0');
        BN_bn2bin(n, reinterpret_cast<unsigned char*>(nb.data()));
        BN_free(n);
        return std::string(R"({"kty":"RSA","alg":")") + algName(alg) + R"(","n":")" +
               base64urlEncode(nb) + R"(","e":"AQAB"})";
    }
    unsigned char point[256];
    std::size_t len = 0;
    EXPECT_EQ(
        EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &len),
        1);
    std::size_t n = alg == Alg::ES256 ? 32 : 48;
    EXPECT_EQ(len, 1 + 2 * n);
    std::string raw(reinterpret_cast<char*>(point), len);
    return std::string(R"({"kty":"EC","crv":")") + (alg == Alg::ES256 ? "P-256" : "P-384") +
           R"(","x":")" + base64urlEncode(raw.substr(1, n)) + R"(","y":")" +
           base64urlEncode(raw.substr(1 + n, n)) + R"("})";
}

const std::vector<Alg> kAllAlgs = {Alg::HS256, Alg::HS384, Alg::HS512, Alg::RS256,
                                   Alg::RS384, Alg::RS512, Alg::ES256, Alg::ES384};

// Replaces segment `i` (0-2) of a compact token.
std::string withSegment(const std::string& compact, int i, const std::string& seg) {
    std::size_t d1 = compact.find('.');
    std::size_t d2 = compact.find('.', d1 + 1);
    std::string parts[3] = {compact.substr(0, d1), compact.substr(d1 + 1, d2 - d1 - 1),
                            compact.substr(d2 + 1)};
    parts[i] = seg;
    return parts[0] + "." + parts[1] + "." + parts[2];
}

std::string segment(const std::string& compact, int i) {
    std::size_t d1 = compact.find('.');
    std::size_t d2 = compact.find('.', d1 + 1);
    if (i == 0) return compact.substr(0, d1);
    if (i == 1) return compact.substr(d1 + 1, d2 - d1 - 1);
    return compact.substr(d2 + 1);
}

// ---- base64url, alg names ------------------------------------------------------------------

TEST(JwtBase64url, EncodesRfc4648VectorsWithoutPadding) {
    EXPECT_EQ(base64urlEncode(""), "");
    EXPECT_EQ(base64urlEncode("f"), "Zg");
    EXPECT_EQ(base64urlEncode("fo"), "Zm8");
    EXPECT_EQ(base64urlEncode("foo"), "Zm9v");
    EXPECT_EQ(base64urlEncode("foob"), "Zm9vYg");
    EXPECT_EQ(base64urlEncode("fooba"), "Zm9vYmE");
    EXPECT_EQ(base64urlEncode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(base64urlEncode(std::string("\xfb\xff\xbf", 3)), "-_-_");  // URL-safe alphabet
}

TEST(JwtBase64url, RoundTripsEveryByteAndLength) {
    std::string all;
    for (int i = 0; i < 256; ++i)
        all.push_back(static_cast<char>(i));
    for (std::size_t len = 0; len <= all.size(); ++len) {
        std::string in = all.substr(all.size() - len);
        auto out = base64urlDecode(base64urlEncode(in));
        ASSERT_TRUE(out) << len;
        EXPECT_EQ(*out, in);
    }
}

TEST(JwtBase64url, DecodeIsStrict) {
    EXPECT_EQ(base64urlDecode("Zm9vYg").value_or("?"), "foob");
    EXPECT_EQ(base64urlDecode("").value_or("?"), "");
    for (const char* bad :
         {"Zg==", "Zg=", "Zm9v=", "Zm+v", "Zm/v", "Zm9 v", "Zm9v\n", " Zm9v", "Zm9v\r", "Z",
          "Zm9vY", "Zh", "Zm9", "Zm9vYh", "Zm.v", "Zm9v\xc3\xa9"}) {
        // "Zh" and "Zm9" carry non-zero unused bits ("Zg"/"Zm8" are the canonical forms).
        EXPECT_FALSE(base64urlDecode(bad)) << bad;
    }
    EXPECT_TRUE(base64urlDecode("Zm8"));
    EXPECT_FALSE(base64urlDecode(std::string("Zm\0v", 4)));
}

TEST(JwtAlg, ParsesExactNamesOnly) {
    for (Alg a : kAllAlgs) {
        ASSERT_TRUE(parseAlg(algName(a)));
        EXPECT_EQ(*parseAlg(algName(a)), a);
    }
    EXPECT_STREQ(algName(Alg::ES384), "ES384");
    for (const char* bad : {"none", "None", "NONE", "hs256", "Hs256", "HS256 ", " HS256", "HS",
                            "ES512", "PS256", "EdDSA", ""}) {
        EXPECT_FALSE(parseAlg(bad)) << bad;
    }
    EXPECT_FALSE(parseAlg(std::string_view("HS256\0", 6)));
}

// ---- RFC 7515 Appendix A -------------------------------------------------------------------

TEST(JwtRfc7515, A1Hs256VerifiesWithThePublishedKey) {
    // The exact header/payload octets of the RFC, CRLFs included.
    EXPECT_EQ(base64urlDecode(segment(kA1Token, 0)).value_or(""),
              "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}");
    EXPECT_EQ(base64urlDecode(kRfcPayloadSeg).value_or(""),
              "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}");
    std::string err;
    auto token = decode(kA1Token, &err);
    ASSERT_TRUE(token) << err;
    EXPECT_EQ(token->alg, "HS256");
    EXPECT_FALSE(token->kid);
    EXPECT_EQ(token->header->getValue<std::string>("typ"), "JWT");
    EXPECT_EQ(token->payload->getValue<std::string>("iss"), "joe");
    EXPECT_TRUE(token->payload->getValue<bool>("http://example.com/is_root"));
    EXPECT_EQ(token->signingInput, kA1Token.substr(0, kA1Token.rfind('.')));
    EXPECT_EQ(token->signature.size(), 32u);

    auto key = jwk(kA1Jwk, &err);
    ASSERT_TRUE(key) << err;
    EXPECT_EQ(key->alg, Alg::HS256);
    ASSERT_EQ(key->secret.size(), 64u);  // the octets listed in A.1.1
    EXPECT_EQ(static_cast<unsigned char>(key->secret[0]), 3);
    EXPECT_EQ(static_cast<unsigned char>(key->secret[63]), 163);
    EXPECT_TRUE(verify(*token, *key, &err)) << err;

    auto viaHmac = Key::hmac(Alg::HS256, *base64urlDecode(kA1K));
    ASSERT_TRUE(viaHmac);
    EXPECT_TRUE(verify(*token, *viaHmac, &err)) << err;
}

TEST(JwtRfc7515, A2Rs256VerifiesWithThePublishedKey) {
    std::string err;
    auto token = decode(kA2Token, &err);
    ASSERT_TRUE(token) << err;
    EXPECT_EQ(token->alg, "RS256");
    EXPECT_EQ(token->signature.size(), 256u);
    auto key = jwk(kA2Jwk, &err);  // no "alg": RSA defaults to RS256
    ASSERT_TRUE(key) << err;
    EXPECT_EQ(key->alg, Alg::RS256);
    EXPECT_EQ(EVP_PKEY_get_bits(key->pkey.get()), 2048);
    EXPECT_TRUE(verify(*token, *key, &err)) << err;
    // "d" was ignored: the key holds no private part.
    BIGNUM* d = nullptr;
    EXPECT_NE(EVP_PKEY_get_bn_param(key->pkey.get(), OSSL_PKEY_PARAM_RSA_D, &d), 1);
    BN_free(d);
    ERR_clear_error();
}

TEST(JwtRfc7515, A3Es256VerifiesWithThePublishedKey) {
    std::string err;
    auto token = decode(kA3Token, &err);
    ASSERT_TRUE(token) << err;
    EXPECT_EQ(token->alg, "ES256");
    EXPECT_EQ(token->signature.size(), 64u);
    auto key = jwk(kA3Jwk, &err);  // no "alg": P-256 means ES256
    ASSERT_TRUE(key) << err;
    EXPECT_EQ(key->alg, Alg::ES256);
    EXPECT_TRUE(verify(*token, *key, &err)) << err;
}

TEST(JwtRfc7515, RfcTokensFailEachOthersKeys) {
    auto a1 = decode(kA1Token), a2 = decode(kA2Token), a3 = decode(kA3Token);
    auto k1 = jwk(kA1Jwk), k2 = jwk(kA2Jwk), k3 = jwk(kA3Jwk);
    ASSERT_TRUE(a1 && a2 && a3 && k1 && k2 && k3);
    EXPECT_FALSE(verify(*a1, *k2));
    EXPECT_FALSE(verify(*a1, *k3));
    EXPECT_FALSE(verify(*a2, *k1));
    EXPECT_FALSE(verify(*a2, *k3));
    EXPECT_FALSE(verify(*a3, *k1));
    EXPECT_FALSE(verify(*a3, *k2));
}

TEST(JwtRfc7515, ClaimsExpiredIn2011) {
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    ClaimRules rules;
    for (const std::string* compact : {&kA1Token, &kA2Token, &kA3Token}) {
        auto token = decode(*compact);
        ASSERT_TRUE(token);
        EXPECT_EQ(checkClaims(*token, now, rules), "token expired");
        EXPECT_EQ(checkClaims(*token, kRfcExp - 3600, rules), "");
        // The boundary: expired once exp <= now - skew.
        EXPECT_EQ(checkClaims(*token, kRfcExp + 59, rules), "");
        EXPECT_EQ(checkClaims(*token, kRfcExp + 60, rules), "token expired");
        rules.issuers = {"joe"};
        EXPECT_EQ(checkClaims(*token, kRfcExp - 1, rules), "");
        rules.issuers.clear();
    }
}

// ---- round trips with generated keys ---------------------------------------------------------

class JwtRoundTrip : public ::testing::TestWithParam<Alg> {};

TEST_P(JwtRoundTrip, SignedTokenVerifiesAndOtherKeyFails) {
    const Alg alg = GetParam();
    Signer signer = signerFor(alg);
    Key key = keyFor(signer);
    Key otherKey = keyFor(signerFor(alg, /*other=*/true));
    std::string compact = makeToken(headerFor(alg, R"(,"kid":"k1")"), kPayload, signer);

    std::string err;
    auto token = decode(compact, &err);
    ASSERT_TRUE(token) << err;
    EXPECT_EQ(token->kid.value_or(""), "k1");
    EXPECT_TRUE(verify(*token, key, &err)) << algName(alg) << ": " << err;
    EXPECT_EQ(checkClaims(*token, 1700000000, ClaimRules{}), "");

    EXPECT_FALSE(verify(*token, otherKey, &err)) << algName(alg);
    EXPECT_FALSE(err.empty());
    EXPECT_EQ(ERR_peek_error(), 0u) << "OpenSSL error queue not cleared";

    // A copy shares the key and outlives the original.
    std::optional<Key> copy;
    {
        Key tmp = keyFor(signer);
        copy = tmp;
    }
    EXPECT_TRUE(verify(*token, *copy, &err)) << err;
}

TEST_P(JwtRoundTrip, JwkOfGeneratedKeyVerifies) {
    const Alg alg = GetParam();
    Signer signer = signerFor(alg);
    std::string text = isHmac(alg) ? std::string(R"({"kty":"oct","alg":")") + algName(alg) +
                                         R"(","k":")" + base64urlEncode(signer.secret) + R"("})"
                                   : jwkOf(alg, signer.priv.get());
    std::string err;
    auto key = jwk(text, &err);
    ASSERT_TRUE(key) << text << ": " << err;
    EXPECT_EQ(key->alg, alg);
    EXPECT_TRUE(accepts(makeToken(headerFor(alg), kPayload, signer), *key, &err)) << err;
    EXPECT_FALSE(accepts(makeToken(headerFor(alg), kPayload, signerFor(alg, true)), *key));
}

TEST_P(JwtRoundTrip, EveryOneCharacterChangeIsRefused) {
    const Alg alg = GetParam();
    Signer signer = signerFor(alg);
    Key key = keyFor(signer);
    const std::string compact = makeToken(headerFor(alg), kPayload, signer);
    ASSERT_TRUE(accepts(compact, key));
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (std::size_t i = 0; i < compact.size(); ++i) {
        if (compact[i] == '.') continue;
        std::string changed = compact;
        // The "next" alphabet character: always a different, still-base64url character.
        changed[i] = alphabet[(alphabet.find(compact[i]) + 1) % alphabet.size()];
        std::string why;
        EXPECT_FALSE(accepts(changed, key, &why)) << algName(alg) << " position " << i;
        EXPECT_FALSE(why.empty());
    }
}

INSTANTIATE_TEST_SUITE_P(AllAlgorithms, JwtRoundTrip, ::testing::ValuesIn(kAllAlgs),
                         [](const ::testing::TestParamInfo<Alg>& param) {
                             return std::string(algName(param.param));
                         });

TEST(JwtKeys, CertificatePemGivesItsPublicKey) {
    const TestKeys& k = testKeys();
    std::string err;
    auto rs = Key::publicPem(Alg::RS256, certPemOf(k.rsa.get()), "cert-rsa", &err);
    ASSERT_TRUE(rs) << err;
    EXPECT_EQ(rs->kid, "cert-rsa");
    EXPECT_TRUE(accepts(makeToken(headerFor(Alg::RS256), kPayload, signerFor(Alg::RS256)), *rs));
    auto es = Key::publicPem(Alg::ES256, certPemOf(k.p256.get()), "", &err);
    ASSERT_TRUE(es) << err;
    EXPECT_TRUE(accepts(makeToken(headerFor(Alg::ES256), kPayload, signerFor(Alg::ES256)), *es));
}

TEST(JwtKeys, PublicPemRefusesWrongKindsOfKeys) {
    const TestKeys& k = testKeys();
    const std::string rsaPem = publicPemOf(k.rsa.get());
    const std::string p256Pem = publicPemOf(k.p256.get());
    const std::string p384Pem = publicPemOf(k.p384.get());
    struct Case {
        Alg alg;
        std::string pem;
        const char* what;
    };
    std::vector<Case> cases = {
        {Alg::RS256, p256Pem, "EC key for RS256"},
        {Alg::RS512, p384Pem, "EC key for RS512"},
        {Alg::ES256, rsaPem, "RSA key for ES256"},
        {Alg::ES256, p384Pem, "P-384 key for ES256"},
        {Alg::ES384, p256Pem, "P-256 key for ES384"},
        {Alg::RS256, publicPemOf(genRsa(1024).get()), "RSA-1024"},
        {Alg::HS256, rsaPem, "HS256 from a PEM"},
        {Alg::RS256, privatePemOf(k.rsa.get()), "private key PEM"},
        {Alg::RS256, "", "empty"},
        {Alg::RS256, "not a pem", "garbage"},
        {Alg::RS256, rsaPem.substr(0, rsaPem.size() / 2), "truncated"},
        {Alg::RS256, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "bad body"},
        {Alg::RS256, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "bad cert"},
    };
    for (const Case& c : cases) {
        std::string err;
        EXPECT_FALSE(Key::publicPem(c.alg, c.pem, "", &err)) << c.what;
        EXPECT_FALSE(err.empty()) << c.what;
        EXPECT_EQ(err.find('\n'), std::string::npos) << c.what << ": " << err;
        EXPECT_EQ(ERR_peek_error(), 0u) << c.what;
    }
    std::string err;
    EXPECT_TRUE(Key::publicPem(Alg::RS384, rsaPem, "", &err)) << err;
    EXPECT_TRUE(Key::publicPem(Alg::ES384, p384Pem, "", &err)) << err;
}

TEST(JwtKeys, HmacFactoryRefusesEmptySecretAndNonHmacAlgs) {
    std::string err;
    EXPECT_FALSE(Key::hmac(Alg::HS256, "", "", &err));
    EXPECT_EQ(err, "HMAC secret is empty");
    EXPECT_FALSE(Key::hmac(Alg::RS256, "secret", "", &err));
    EXPECT_FALSE(Key::hmac(Alg::ES256, "secret", "", &err));
    auto key = Key::hmac(Alg::HS512, "s", "kid-1", &err);  // short, but allowed (documented)
    ASSERT_TRUE(key);
    EXPECT_EQ(key->kid, "kid-1");
    EXPECT_EQ(key->alg, Alg::HS512);
}

TEST(JwtKeys, FromJwkRefusesBadKeys) {
    const std::string a3Jwk = kA3Jwk;
    std::string mutatedY = kA3Y;
    mutatedY[5] = mutatedY[5] == 'A' ? 'B' : 'A';  // no longer on the curve
    struct Case {
        std::string json;
        const char* what;
    };
    std::vector<Case> cases = {
        {R"({"kty":"oct","k":")" + kA1K + R"("})", "oct without alg"},
        {R"({"kty":"oct","alg":"RS256","k":")" + kA1K + R"("})", "oct with RS256"},
        {R"({"kty":"oct","alg":"HS256","k":""})", "empty k"},
        {R"({"kty":"oct","alg":"HS256","k":"a+b/"})", "k not base64url"},
        {R"({"kty":"oct","alg":"none","k":")" + kA1K + R"("})", "alg none"},
        {R"({"kty":"RSA","alg":"ES256","n":")" + kA2N + R"(","e":"AQAB"})", "RSA with ES256"},
        {R"({"kty":"RSA","n":")" + kA2N + R"("})", "RSA without e"},
        {R"({"kty":"RSA","n":")" + kA2N + R"(","e":"AQ"})", "RSA with e = 1"},
        {R"({"kty":"RSA","n":"AQAB","e":"AQAB"})", "tiny RSA modulus"},
        {jwkOf(Alg::RS256, genRsa(1024).get()), "RSA-1024"},
        {R"({"kty":"EC","crv":"P-256","alg":"ES384","x":")" + kA3X + R"(","y":")" + kA3Y + R"("})",
         "ES384 on P-256"},
        {R"({"kty":"EC","crv":"P-521","x":")" + kA3X + R"(","y":")" + kA3Y + R"("})", "P-521"},
        {R"({"kty":"EC","x":")" + kA3X + R"(","y":")" + kA3Y + R"("})", "no crv"},
        {R"({"kty":"EC","crv":"P-256","x":")" + kA3X + R"(","y":")" + mutatedY + R"("})",
         "point off the curve"},
        {R"({"kty":"EC","crv":"P-256","x":")" + kA3X.substr(0, 40) + R"(","y":")" + kA3Y + R"("})",
         "short x"},
        {R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})",
         "OKP"},
        {R"({"n":")" + kA2N + R"(","e":"AQAB"})", "no kty"},
        {R"({"kty":7})", "kty number"},
        {R"({"kty":"RSA","kid":5,"n":")" + kA2N + R"(","e":"AQAB"})", "kid number"},
        {R"({"kty":"RSA","use":"enc","n":")" + kA2N + R"(","e":"AQAB"})", "use enc"},
        {R"({"kty":"RSA","key_ops":["encrypt"],"n":")" + kA2N + R"(","e":"AQAB"})",
         "key_ops without verify"},
        {R"({"kty":"RSA","alg":5,"n":")" + kA2N + R"(","e":"AQAB"})", "alg number"},
    };
    for (const Case& c : cases) {
        std::string err;
        EXPECT_FALSE(jwk(c.json, &err)) << c.what;
        EXPECT_FALSE(err.empty()) << c.what;
        EXPECT_EQ(ERR_peek_error(), 0u) << c.what;
    }
    std::string err;
    auto ok = jwk(R"({"kty":"RSA","use":"sig","key_ops":["verify"],"kid":"r","alg":"RS512","n":")" +
                      kA2N + R"(","e":"AQAB"})",
                  &err);
    ASSERT_TRUE(ok) << err;
    EXPECT_EQ(ok->alg, Alg::RS512);
    EXPECT_EQ(ok->kid, "r");
    EXPECT_TRUE(jwk(a3Jwk, &err)) << err;
}

// ---- attacks -------------------------------------------------------------------------------

TEST(JwtAttacks, AlgNoneNeverPasses) {
    auto k1 = jwk(kA1Jwk);
    auto k2 = jwk(kA2Jwk);
    ASSERT_TRUE(k1 && k2);
    for (const char* none : {"none", "None", "NONE", "nOnE"}) {
        std::string header = std::string(R"({"alg":")") + none + R"("})";
        std::string unsignedToken = base64urlEncode(header) + "." + kRfcPayloadSeg + ".";
        std::string err;
        EXPECT_FALSE(decode(unsignedToken, &err)) << none;
        EXPECT_FALSE(decode(unsignedToken + "c2lnbmF0dXJl", &err)) << none;
        EXPECT_EQ(err, "alg none is not accepted");
        // Even a hand-made Token that skipped decode() cannot verify.
        Token token;
        token.header = json(header);
        token.payload = json(R"({"sub":"x"})");
        token.alg = none;
        token.signingInput = base64urlEncode(header) + "." + kRfcPayloadSeg;
        for (const std::string& sig : {std::string(), std::string("x"), std::string(32, '\0')}) {
            token.signature = sig;
            EXPECT_FALSE(verify(token, *k1, &err)) << none;
            EXPECT_FALSE(verify(token, *k2, &err)) << none;
        }
    }
}

TEST(JwtAttacks, HmacWithTheRsaPublicKeyAsSecretIsRefused) {
    const std::string pem = publicPemOf(testKeys().rsa.get());
    auto rsKey = Key::publicPem(Alg::RS256, pem);
    ASSERT_TRUE(rsKey);
    // The classic forgery: HS256 keyed with the PEM the server uses as its RSA key.
    std::string forged =
        makeToken(headerFor(Alg::HS256), kPayload, Signer{Alg::HS256, pem, nullptr});
    std::string err;
    auto token = decode(forged, &err);
    ASSERT_TRUE(token) << err;
    EXPECT_FALSE(verify(*token, *rsKey, &err));
    EXPECT_EQ(err, "alg mismatch (key is RS256)");
    // Same MAC under an "RS256" header: the alg matches but the RSA check fails.
    std::string relabeled =
        makeToken(headerFor(Alg::RS256), kPayload, Signer{Alg::HS256, pem, nullptr});
    EXPECT_FALSE(accepts(relabeled, *rsKey));
    // And a PEM can never be loaded as an HS256 "public key".
    EXPECT_FALSE(Key::publicPem(Alg::HS256, pem));
}

TEST(JwtAttacks, AlgMustMatchTheKeyExactly) {
    std::string err;
    // HS256 token, HS512 key with the same secret.
    EXPECT_FALSE(
        accepts(makeToken(headerFor(Alg::HS256), kPayload, hsSigner()), hsKey(Alg::HS512), &err));
    EXPECT_EQ(err, "alg mismatch (key is HS512)");
    // RS256 token against an RS384 key of the same RSA key pair.
    Key rs384 = keyFor(signerFor(Alg::RS384));
    EXPECT_FALSE(accepts(makeToken(headerFor(Alg::RS256), kPayload, signerFor(Alg::RS256)), rs384));
    // Case variants of a valid name.
    std::string lower = makeToken(R"({"alg":"hs256"})", kPayload, hsSigner());
    EXPECT_FALSE(accepts(lower, hsKey()));
}

TEST(JwtAttacks, TamperedPartsFail) {
    const Key key = hsKey();
    const std::string good = makeToken(headerFor(Alg::HS256), kPayload, hsSigner());
    ASSERT_TRUE(accepts(good, key));
    std::string err;
    // Payload changed to well-formed JSON, original signature kept.
    std::string escalated =
        withSegment(good, 1, base64urlEncode(R"({"sub":"alice","admin":true,"exp":4102444800})"));
    EXPECT_FALSE(accepts(escalated, key, &err));
    EXPECT_EQ(err, "signature mismatch");
    // Header changed (kid added), signature kept.
    EXPECT_FALSE(accepts(
        withSegment(good, 0, base64urlEncode(headerFor(Alg::HS256, R"(,"kid":"x")"))), key));
    // One signature byte flipped.
    std::string sig = *base64urlDecode(segment(good, 2));
    sig[7] = static_cast<char>(sig[7] ^ 0x01);
    EXPECT_FALSE(accepts(withSegment(good, 2, base64urlEncode(sig)), key, &err));
    // Truncated / extended MAC.
    EXPECT_FALSE(accepts(withSegment(good, 2, base64urlEncode(sig.substr(0, 16))), key, &err));
    EXPECT_FALSE(accepts(withSegment(good, 2, base64urlEncode(sig + "x")), key, &err));
}

TEST(JwtAttacks, MalformedCompactFormsFailToDecode) {
    const std::string good = makeToken(headerFor(Alg::HS256), kPayload, hsSigner());
    const std::string h = segment(good, 0), p = segment(good, 1), s = segment(good, 2);
    ASSERT_TRUE(decode(good));
    std::string sigPlus = s;
    sigPlus[3] = '+';
    std::string sigSlash = s;
    sigSlash[3] = '/';
    std::vector<std::pair<std::string, const char*>> cases = {
        {"", "empty string"},
        {".", "one dot"},
        {"..", "two dots"},
        {h + "." + p + ".", "stripped signature"},
        {h + "." + p, "two segments"},
        {good + ".AAAA", "four segments"},
        {good + ".", "trailing dot"},
        {"." + p + "." + s, "empty header"},
        {h + ".." + s, "empty payload"},
        {h + "." + p + "." + s + "=", "padding in signature"},
        {h + "=." + p + "." + s, "padding in header"},
        {h + "." + p + "==." + s, "padding in payload"},
        {h + "." + p + "." + sigPlus, "'+' in signature"},
        {h + "." + p + "." + sigSlash, "'/' in signature"},
        {h + ".\n" + p + "." + s, "newline"},
        {h + "." + p + " ." + s, "space"},
        {" " + good, "leading space"},
        {good + "\n", "trailing newline"},
        {"Bearer " + good, "scheme prefix"},
    };
    for (const auto& [compact, what] : cases) {
        std::string err;
        EXPECT_FALSE(decode(compact, &err)) << what;
        EXPECT_FALSE(err.empty()) << what;
        EXPECT_FALSE(accepts(compact, hsKey())) << what;
    }
}

TEST(JwtAttacks, MalformedHeadersAndPayloadsFailToDecode) {
    const std::string payloadOk = kPayload;
    const std::string hs = R"({"alg":"HS256"})";
    std::string deep(2000, '[');
    deep += std::string(2000, ']');
    struct Case {
        std::string header, payload;
        const char* reason;  // expected start of decode()'s reason
    };
    std::vector<Case> cases = {
        {"not json", payloadOk, "header: invalid JSON"},
        {R"(["alg","HS256"])", payloadOk, "header: not a JSON object"},
        {R"("HS256")", payloadOk, "header: invalid JSON"},
        {"null", payloadOk, "header: invalid JSON"},
        {"42", payloadOk, "header: invalid JSON"},
        {R"({"typ":"JWT"})", payloadOk, "header alg missing or not a string"},
        {R"({"alg":256})", payloadOk, "header alg missing or not a string"},
        {R"({"alg":null})", payloadOk, "header alg missing or not a string"},
        {R"({"alg":["HS256"]})", payloadOk, "header alg missing or not a string"},
        {R"({"alg":"HS256","crit":["exp"],"exp":1})", payloadOk, "crit header is not supported"},
        {R"({"alg":"HS256","crit":[]})", payloadOk, "crit header is not supported"},
        {R"({"alg":"HS256","alg":"HS256"})", payloadOk, "header: invalid JSON: duplicate member"},
        {R"({"alg":"HS256","kid":7})", payloadOk, "header kid is not a string"},
        {R"({"alg":"HS256","kid":"a\u0000b"})", payloadOk, "header: invalid JSON"},
        {std::string("{\"alg\":\"HS256\",\"kid\":\"a\0b\"}", 25), payloadOk,
         "header: invalid JSON"},
        {R"({"alg":"HS256"} x)", payloadOk, "header: invalid JSON"},
        {R"({"alg":"HS256"}{})", payloadOk, "header: invalid JSON"},
        {R"({"alg":"HS256",})", payloadOk, "header: invalid JSON"},
        {R"({'alg':'HS256'})", payloadOk, "header: invalid JSON"},
        {hs, "not json", "payload: invalid JSON"},
        {hs, R"(["sub"])", "payload: not a JSON object"},
        {hs, R"("claims")", "payload: invalid JSON"},
        {hs, "", "payload: invalid JSON"},
        {hs, R"({"sub":"a","sub":"b"})", "payload: invalid JSON: duplicate member"},
        {hs, R"({"a":{"b":1,"b":2}})", "payload: invalid JSON: duplicate member"},
        {hs, R"({"a":)" + deep + "}", "payload: invalid JSON: Maximum depth exceeded"},
        {hs, "{\"s\":\"\xff\xfe\"}", "payload: invalid JSON"},  // not UTF-8
        {hs, R"({"exp":1e999})", "payload: invalid JSON"},
    };
    for (const Case& c : cases) {
        // Correctly signed: only decode's own checks can refuse these.
        std::string compact = makeToken(c.header, c.payload, hsSigner());
        std::string err;
        EXPECT_FALSE(decode(compact, &err)) << c.reason;
        EXPECT_EQ(err.rfind(c.reason, 0), 0u) << c.header << " | " << c.payload << " -> " << err;
    }
    // Same member names in sibling objects are not duplicates.
    std::string err;
    EXPECT_TRUE(decode(
        makeToken(hs, R"({"a":{"x":1},"b":{"x":2},"c":[{"x":1},{"x":2}]})", hsSigner()), &err))
        << err;
    // Whitespace and CRLF inside the JSON are fine (RFC 7515 A.1 has them).
    EXPECT_TRUE(
        accepts(makeToken("{\r\n \"alg\" : \"HS256\"\t}", "{ }", hsSigner()), hsKey(), &err))
        << err;
}

TEST(JwtAttacks, EcdsaSignatureMustBeRawRAndS) {
    for (Alg alg : {Alg::ES256, Alg::ES384}) {
        Signer signer = signerFor(alg);
        Key key = keyFor(signer);
        const std::size_t n = alg == Alg::ES256 ? 32 : 48;
        std::string input = base64urlEncode(headerFor(alg)) + "." + base64urlEncode(kPayload);
        std::string der = digestSign(signer.priv.get(), mdOf(alg), input);
        std::string raw = derToRaw(der, n);
        std::string err;
        ASSERT_TRUE(accepts(input + "." + base64urlEncode(raw), key, &err)) << err;
        // The same signature DER-encoded, as OpenSSL produces it: refused.
        EXPECT_FALSE(accepts(input + "." + base64urlEncode(der), key, &err));
        EXPECT_NE(err.find("R||S"), std::string::npos) << err;
        EXPECT_FALSE(accepts(input + "." + base64urlEncode(raw.substr(0, 2 * n - 1)), key));
        EXPECT_FALSE(accepts(input + "." + base64urlEncode(raw + '\0'), key));
        EXPECT_FALSE(accepts(input + "." + base64urlEncode(std::string(2 * n, '\0')), key));
        EXPECT_FALSE(accepts(input + "." + base64urlEncode(std::string(2 * n, '\xff')), key));
        // R and S swapped.
        EXPECT_FALSE(accepts(input + "." + base64urlEncode(raw.substr(n) + raw.substr(0, n)), key));
        EXPECT_EQ(ERR_peek_error(), 0u);
    }
    // The explicit lengths the brief names, for ES256.
    Key key = keyFor(signerFor(Alg::ES256));
    auto token = decode(makeToken(headerFor(Alg::ES256), kPayload, signerFor(Alg::ES256)));
    ASSERT_TRUE(token);
    for (std::size_t len : {63u, 65u}) {
        Token bad = *token;
        bad.signature.resize(len, '\x01');
        std::string err;
        EXPECT_FALSE(verify(bad, key, &err)) << len;
        EXPECT_EQ(err, "ECDSA signature must be R||S of 64 bytes");
    }
}

TEST(JwtAttacks, RsaSignatureOfWrongLengthFails) {
    Key key = keyFor(signerFor(Alg::RS256));
    auto token = decode(makeToken(headerFor(Alg::RS256), kPayload, signerFor(Alg::RS256)));
    ASSERT_TRUE(token);
    for (std::size_t len : {1u, 255u, 257u, 512u}) {
        Token bad = *token;
        bad.signature.resize(len, '\x01');
        EXPECT_FALSE(verify(bad, key)) << len;
    }
    Token leadingZero = *token;
    leadingZero.signature.insert(0, 1, '\0');
    EXPECT_FALSE(verify(leadingZero, key));
}

TEST(JwtAttacks, SizeLimit) {
    std::string bigPayload = R"({"exp":4102444800,"pad":")" + std::string(13000, 'x') + "\"}";
    std::string compact = makeToken(headerFor(Alg::HS256), bigPayload, hsSigner());
    ASSERT_GT(compact.size(), kMaxTokenBytes);
    std::string err;
    EXPECT_FALSE(decode(compact, &err));
    EXPECT_EQ(err, "token is too large");
    // The limit is a parameter: the same token passes with a larger one.
    auto token = decode(compact, &err, 64 * 1024);
    ASSERT_TRUE(token) << err;
    EXPECT_TRUE(verify(*token, hsKey(), &err)) << err;
    EXPECT_FALSE(decode(makeToken(headerFor(Alg::HS256), kPayload, hsSigner()), &err, 20));
    EXPECT_FALSE(decode(std::string(1 << 20, 'A'), &err));
}

TEST(JwtAttacks, HostileKidIsReturnedVerbatim) {
    Key unrelated = *Key::hmac(Alg::HS256, "some other secret", "prod-key");
    for (const char* hostile : {"../../etc/passwd", "' OR 1=1 --"}) {
        // Signed with a key the server does not have; neither needs JSON escaping.
        const std::string kid = hostile;
        std::string header = R"({"alg":"HS256","kid":")" + kid + R"("})";
        std::string compact = makeToken(header, kPayload, Signer{Alg::HS256, "attacker", nullptr});
        std::string err;
        auto token = decode(compact, &err);
        ASSERT_TRUE(token) << err;
        ASSERT_TRUE(token->kid);
        EXPECT_EQ(*token->kid, kid);
        EXPECT_FALSE(verify(*token, unrelated, &err));
        EXPECT_EQ(err, "signature mismatch");
        EXPECT_FALSE(verify(*token, keyFor(signerFor(Alg::RS256)), &err));
        EXPECT_FALSE(err.empty());
    }
}

TEST(JwtAttacks, RandomMutationsNeverCrashOrVerify) {
    const std::vector<Alg> algs = {Alg::HS256, Alg::RS256, Alg::ES256};
    std::mt19937 rng(7515);
    for (Alg alg : algs) {
        Signer signer = signerFor(alg);
        Key key = keyFor(signer);
        const std::string good = makeToken(headerFor(alg), kPayload, signer);
        for (int iter = 0; iter < 1500; ++iter) {
            std::string m = good;
            int edits = 1 + static_cast<int>(rng() % 3);
            for (int e = 0; e < edits; ++e) {
                std::size_t pos = rng() % (m.size() + 1);
                char c = static_cast<char>(rng() % 256);
                switch (rng() % 3) {
                    case 0:
                        if (pos < m.size()) m[pos] = c;
                        break;
                    case 1:
                        m.insert(pos, 1, c);
                        break;
                    default:
                        if (pos < m.size()) m.erase(pos, 1);
                        break;
                }
            }
            std::string err;
            bool ok = accepts(m, key, &err);
            EXPECT_EQ(ok, m == good) << algName(alg) << " iteration " << iter;
        }
        EXPECT_EQ(ERR_peek_error(), 0u);
    }
}

TEST(JwtAttacks, HandMadeKeysWithoutMaterialFailCleanly) {
    auto token = decode(makeToken(headerFor(Alg::RS256), kPayload, signerFor(Alg::RS256)));
    ASSERT_TRUE(token);
    Key empty;
    empty.alg = Alg::RS256;
    std::string err;
    EXPECT_FALSE(verify(*token, empty, &err));
    EXPECT_EQ(err, "key has no public key");
    auto hs = decode(makeToken(headerFor(Alg::HS256), kPayload, hsSigner()));
    ASSERT_TRUE(hs);
    Key noSecret;  // HS256, empty secret
    EXPECT_FALSE(verify(*hs, noSecret, &err));
    EXPECT_EQ(err, "key has no HMAC secret");
    // An out-of-range Alg verifies nothing, even a token claiming its name.
    Key bogus = hsKey();
    bogus.alg = static_cast<Alg>(42);
    EXPECT_STREQ(algName(bogus.alg), "invalid");
    EXPECT_FALSE(parseAlg("invalid"));
    Token claimsInvalid = *hs;
    claimsInvalid.alg = "invalid";
    EXPECT_FALSE(verify(claimsInvalid, bogus, &err));
    EXPECT_FALSE(verify(*hs, bogus, &err));
    EXPECT_FALSE(Key::publicPem(bogus.alg, publicPemOf(testKeys().rsa.get())));
    Token blank;
    EXPECT_FALSE(verify(blank, hsKey(), &err));
    EXPECT_EQ(checkClaims(blank, 0, ClaimRules{}), "token has no payload");
}

// ---- claims --------------------------------------------------------------------------------

constexpr int64_t kNow = 1700000000;

Token claimsToken(const std::string& payload) {
    std::string err;
    auto token = decode(makeToken(headerFor(Alg::HS256), payload, hsSigner()), &err);
    EXPECT_TRUE(token) << payload << ": " << err;
    return token ? *token : Token{};
}

std::string claims(const std::string& payload, const ClaimRules& rules = ClaimRules{},
                   int64_t now = kNow) {
    return checkClaims(claimsToken(payload), now, rules);
}

std::string at(const char* name, int64_t t) {
    return "\"" + std::string(name) + "\":" + std::to_string(t);
}

TEST(JwtClaims, ExpRequiredUnlessDisabled) {
    EXPECT_EQ(claims(R"({"sub":"a"})"), "exp missing");
    ClaimRules lax;
    lax.requireExp = false;
    EXPECT_EQ(claims(R"({"sub":"a"})", lax), "");
    // Even when not required, a present exp is enforced.
    EXPECT_EQ(claims("{" + at("exp", kNow - 3600) + "}", lax), "token expired");
}

TEST(JwtClaims, TimeClaimsMustBeNumbers) {
    EXPECT_EQ(claims(R"({"exp":"1700003600"})"), "exp is not a number");
    EXPECT_EQ(claims(R"({"exp":true})"), "exp is not a number");
    EXPECT_EQ(claims(R"({"exp":null})"), "exp is not a number");
    EXPECT_EQ(claims(R"({"exp":[1700003600]})"), "exp is not a number");
    EXPECT_EQ(claims(R"({"exp":{"t":1}})"), "exp is not a number");
    EXPECT_EQ(claims("{" + at("exp", kNow + 60) + R"(,"nbf":"0"})"), "nbf is not a number");
    EXPECT_EQ(claims("{" + at("exp", kNow + 60) + R"(,"iat":false})"), "iat is not a number");
    EXPECT_EQ(claims("{" + at("exp", kNow + 60) + R"(,"iat":1699999999.5})"), "");
    // Floats are NumericDates too.
    EXPECT_EQ(claims(R"({"exp":1700000100.25})"), "");
    EXPECT_EQ(claims(R"({"exp":1699999900.75})"), "token expired");
    EXPECT_EQ(claims(R"({"exp":1.7e9})", ClaimRules{}, 1700000061), "token expired");
    EXPECT_EQ(claims(R"({"exp":18446744073709551615})"), "");  // far future, unsigned
    EXPECT_EQ(claims(R"({"exp":-5})"), "token expired");
}

TEST(JwtClaims, ExpWithinSkewPasses) {
    EXPECT_EQ(claims("{" + at("exp", kNow + 1) + "}"), "");
    EXPECT_EQ(claims("{" + at("exp", kNow - 30) + "}"), "");  // just past, within 60 s
    EXPECT_EQ(claims("{" + at("exp", kNow - 59) + "}"), "");
    EXPECT_EQ(claims("{" + at("exp", kNow - 60) + "}"), "token expired");
    EXPECT_EQ(claims("{" + at("exp", kNow - 61) + "}"), "token expired");
    ClaimRules strict;
    strict.clockSkewS = 0;
    EXPECT_EQ(claims("{" + at("exp", kNow) + "}", strict), "token expired");
    EXPECT_EQ(claims("{" + at("exp", kNow + 1) + "}", strict), "");
    ClaimRules negative;
    negative.clockSkewS = -100;  // counts as 0
    EXPECT_EQ(claims("{" + at("exp", kNow + 50) + "}", negative), "");
    EXPECT_EQ(claims("{" + at("exp", kNow) + "}", negative), "token expired");
}

TEST(JwtClaims, NotBefore) {
    const std::string exp = at("exp", kNow + 3600) + ",";
    EXPECT_EQ(claims("{" + exp + at("nbf", kNow + 61) + "}"), "token not yet valid");
    EXPECT_EQ(claims("{" + exp + at("nbf", kNow + 3000) + "}"), "token not yet valid");
    EXPECT_EQ(claims("{" + exp + at("nbf", kNow + 60) + "}"), "");  // within skew
    EXPECT_EQ(claims("{" + exp + at("nbf", kNow + 10) + "}"), "");
    EXPECT_EQ(claims("{" + exp + at("nbf", kNow - 10) + "}"), "");
    ClaimRules strict;
    strict.clockSkewS = 0;
    EXPECT_EQ(claims("{" + exp + at("nbf", kNow + 1) + "}", strict), "token not yet valid");
    EXPECT_EQ(claims("{" + exp + at("nbf", kNow) + "}", strict), "");
}

TEST(JwtClaims, IssuerAllowList) {
    const std::string exp = at("exp", kNow + 3600);
    ClaimRules rules;
    EXPECT_EQ(claims("{" + exp + R"(,"iss":"anyone"})", rules), "");  // no list: not checked
    rules.issuers = {"https://idp.example", "https://other.example"};
    EXPECT_EQ(claims("{" + exp + R"(,"iss":"https://other.example"})", rules), "");
    EXPECT_EQ(claims("{" + exp + R"(,"iss":"https://evil.example"})", rules), "issuer not allowed");
    EXPECT_EQ(claims("{" + exp + R"(,"iss":"https://idp.example/"})", rules), "issuer not allowed");
    EXPECT_EQ(claims("{" + exp + R"(,"iss":"HTTPS://IDP.EXAMPLE"})", rules), "issuer not allowed");
    EXPECT_EQ(claims("{" + exp + "}", rules), "iss missing");
    EXPECT_EQ(claims("{" + exp + R"(,"iss":["https://idp.example"]})", rules),
              "iss is not a string");
    EXPECT_EQ(claims("{" + exp + R"(,"iss":null})", rules), "iss is not a string");
}

TEST(JwtClaims, AudienceStringOrArray) {
    const std::string exp = at("exp", kNow + 3600);
    ClaimRules rules;
    EXPECT_EQ(claims("{" + exp + R"(,"aud":7})", rules), "");  // no list: not checked
    rules.audiences = {"api", "admin"};
    EXPECT_EQ(claims("{" + exp + R"(,"aud":"api"})", rules), "");
    EXPECT_EQ(claims("{" + exp + R"(,"aud":"web"})", rules), "audience not allowed");
    EXPECT_EQ(claims("{" + exp + R"(,"aud":["web","admin"]})", rules), "");
    EXPECT_EQ(claims("{" + exp + R"(,"aud":["web","mobile"]})", rules), "audience not allowed");
    EXPECT_EQ(claims("{" + exp + R"(,"aud":[]})", rules), "audience not allowed");
    EXPECT_EQ(claims("{" + exp + "}", rules), "aud missing");
    EXPECT_EQ(claims("{" + exp + R"(,"aud":7})", rules), "aud is not a string or array of strings");
    EXPECT_EQ(claims("{" + exp + R"(,"aud":["api",7]})", rules),
              "aud is not a string or array of strings");
    EXPECT_EQ(claims("{" + exp + R"(,"aud":null})", rules),
              "aud is not a string or array of strings");
    EXPECT_EQ(claims("{" + exp + R"(,"aud":{"api":true}})", rules),
              "aud is not a string or array of strings");
}

TEST(JwtClaims, AllRulesTogether) {
    ClaimRules rules;
    rules.issuers = {"idp"};
    rules.audiences = {"api"};
    const std::string good = "{" + at("exp", kNow + 600) + "," + at("nbf", kNow - 5) + "," +
                             at("iat", kNow - 5) + R"(,"iss":"idp","aud":["api"]})";
    EXPECT_EQ(claims(good, rules), "");
    EXPECT_EQ(claims(good, rules, kNow + 600), "");  // within the 60 s skew
    EXPECT_EQ(claims(good, rules, kNow + 660), "token expired");
    EXPECT_EQ(claims(good, rules, kNow - 100), "token not yet valid");
}

// ---- JWK Sets ------------------------------------------------------------------------------

TEST(JwtJwks, PicksUsableKeysAndReportsTheRest) {
    const std::string doc = R"({"keys":[
        {"kty":"RSA","kid":"rsa-1","use":"sig","n":")" +
                            kA2N + R"(","e":"AQAB"},
        {"kty":"EC","kid":"ec-1","crv":"P-256","x":")" +
                            kA3X + R"(","y":")" + kA3Y + R"("},
        {"kty":"oct","kid":"hmac-1","alg":"HS256","k":")" +
                            kA1K + R"("},
        {"kty":"RSA","kid":"enc-1","use":"enc","n":")" +
                            kA2N + R"(","e":"AQAB"},
        {"kty":"OKP","kid":"ed-1","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        "garbage", 42, null, [1,2], {},
        {"kty":"oct","kid":"hmac-no-alg","k":")" +
                            kA1K + R"("},
        {"kty":"RSA","kid":"\u0007bell","alg":"ES256","n":")" +
                            kA2N + R"(","e":"AQAB"}
    ]})";
    std::vector<std::string> skipped;
    std::string err;
    std::vector<Key> keys = parseJwks(doc, &skipped, &err);
    EXPECT_TRUE(err.empty()) << err;
    ASSERT_EQ(keys.size(), 3u);
    EXPECT_EQ(keys[0].kid, "rsa-1");
    EXPECT_EQ(keys[0].alg, Alg::RS256);
    EXPECT_EQ(keys[1].kid, "ec-1");
    EXPECT_EQ(keys[1].alg, Alg::ES256);
    EXPECT_EQ(keys[2].kid, "hmac-1");
    EXPECT_EQ(keys[2].alg, Alg::HS256);
    ASSERT_EQ(skipped.size(), 9u);
    auto mentions = [&](const std::string& needle) {
        for (const auto& s : skipped)
            if (s.find(needle) != std::string::npos) return true;
        return false;
    };
    EXPECT_TRUE(mentions(R"(key #3 (kid "enc-1"): JWK "use" is not "sig")"));
    EXPECT_TRUE(mentions(R"(key #4 (kid "ed-1"): kty "OKP" unsupported)"));
    EXPECT_TRUE(mentions("key #5: not a JSON object"));
    EXPECT_TRUE(mentions("key #8: not a JSON object"));
    EXPECT_TRUE(mentions(R"(key #9: JWK "kty" missing)"));
    EXPECT_TRUE(mentions("hmac-no-alg"));
    EXPECT_TRUE(mentions(R"((kid "?bell"))"));  // control characters are not echoed
    for (const auto& s : skipped)
        EXPECT_EQ(s.find('\n'), std::string::npos) << s;

    // The RFC tokens verify with the keys from the set.
    auto a1 = decode(kA1Token), a2 = decode(kA2Token), a3 = decode(kA3Token);
    ASSERT_TRUE(a1 && a2 && a3);
    EXPECT_TRUE(verify(*a2, keys[0]));
    EXPECT_TRUE(verify(*a3, keys[1]));
    EXPECT_TRUE(verify(*a1, keys[2]));
    EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(JwtJwks, NotAJwkSet) {
    for (const char* doc : {"not json", "", "[]", R"({"keys":{}})", R"({"keys":"x"})",
                            R"({"nokeys":[]})", R"({"keys":[]} trailing)", "null"}) {
        std::vector<std::string> skipped;
        std::string err;
        EXPECT_TRUE(parseJwks(doc, &skipped, &err).empty()) << doc;
        EXPECT_FALSE(err.empty()) << doc;
    }
    std::string err;
    EXPECT_TRUE(parseJwks(R"({"keys":[]})", nullptr, &err).empty());
    EXPECT_TRUE(err.empty()) << err;
    // Null out-params are fine.
    EXPECT_EQ(parseJwks(R"({"keys":[{"kty":"EC","crv":"P-256","x":")" + kA3X + R"(","y":")" + kA3Y +
                        R"("}, 5]})")
                  .size(),
              1u);
}

// ---- concurrency and error queue -----------------------------------------------------------

TEST(JwtConcurrency, SharedKeysVerifyFromManyThreads) {
    struct Case {
        Key key;
        Token good, bad;
    };
    std::vector<Case> cases;
    for (Alg alg : {Alg::HS256, Alg::RS256, Alg::ES256, Alg::ES384}) {
        Signer signer = signerFor(alg);
        auto good = decode(makeToken(headerFor(alg), kPayload, signer));
        auto bad = decode(makeToken(headerFor(alg), kPayload, signerFor(alg, true)));
        ASSERT_TRUE(good && bad);
        cases.push_back(Case{keyFor(signer), *good, *bad});
    }
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&cases, &wrong] {
            for (int i = 0; i < 50; ++i) {
                for (const Case& c : cases) {
                    std::string err;
                    if (!verify(c.good, c.key, &err)) ++wrong;
                    if (verify(c.bad, c.key, &err)) ++wrong;
                    if (ERR_peek_error() != 0) ++wrong;
                }
            }
        });
    }
    for (auto& th : threads)
        th.join();
    EXPECT_EQ(wrong.load(), 0);
}

TEST(JwtErrorQueue, StaleErrorsAreClearedAndNoneAreLeft) {
    Key key = keyFor(signerFor(Alg::RS256));
    auto token = decode(makeToken(headerFor(Alg::RS256), kPayload, signerFor(Alg::RS256)));
    ASSERT_TRUE(token);
    ERR_raise(ERR_LIB_USER, 1);  // someone else's stale error
    std::string err;
    EXPECT_TRUE(verify(*token, key, &err)) << err;
    EXPECT_EQ(ERR_peek_error(), 0u);
    Token bad = *token;
    bad.signature[0] = static_cast<char>(bad.signature[0] ^ 0x80);
    EXPECT_FALSE(verify(bad, key, &err));
    EXPECT_EQ(ERR_peek_error(), 0u);
    EXPECT_FALSE(
        Key::publicPem(Alg::RS256, "-----BEGIN PUBLIC KEY-----\nAA\n-----END PUBLIC KEY-----"));
    EXPECT_EQ(ERR_peek_error(), 0u);
}

}  // namespace
}  // namespace gatehouse::jwt
