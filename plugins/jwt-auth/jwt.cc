#include "jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <Poco/Dynamic/Var.h>
#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/ParseHandler.h>
#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <exception>
#include <set>
#include <typeinfo>
#include <utility>

namespace gatehouse::jwt {
namespace {

// Deepest JSON nesting accepted in a header, payload or JWKS; real ones are 2-3 levels deep.
constexpr std::size_t kMaxJsonDepth = 32;
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 16384;  // OpenSSL's own verification limit

template <typename T, void (*F)(T*)>
struct Deleter {
    void operator()(T* p) const { F(p); }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;

std::shared_ptr<EVP_PKEY> sharePkey(EVP_PKEY* raw) {
    return std::shared_ptr<EVP_PKEY>(raw, EVP_PKEY_free);
}

// Our failures must not linger in the thread's error queue, where a later, unrelated OpenSSL
// call (TLS on the same worker) would misreport them, and stale errors must not become ours.
struct ErrQueueGuard {
    ErrQueueGuard() { ERR_clear_error(); }
    ~ErrQueueGuard() { ERR_clear_error(); }
    ErrQueueGuard(const ErrQueueGuard&) = delete;
    ErrQueueGuard& operator=(const ErrQueueGuard&) = delete;
};

bool fail(std::string* error, std::string reason) {
    if (error) *error = std::move(reason);
    return false;
}

template <typename T>
std::optional<T> failed(std::string* error, std::string reason) {
    fail(error, std::move(reason));
    return std::nullopt;
}

// `what`, plus OpenSSL's reason for the latest error when there is one.
std::string sslReason(std::string what) {
    unsigned long code = ERR_peek_last_error();
    if (code != 0) {
        std::array<char, 256> buf{};
        ERR_error_string_n(code, buf.data(), buf.size());
        what += " (";
        what += buf.data();
        what += ")";
    }
    return what;
}

enum class Family { Hmac, Rsa, Ec, Invalid };

struct AlgInfo {
    const char* name;
    Family family;
    int hashBits;
    std::size_t ecCoordBytes;  // ES*: size of R and of S
};

// Indexed by Alg.
constexpr std::array<AlgInfo, 8> kAlgs{{
    {"HS256", Family::Hmac, 256, 0},
    {"HS384", Family::Hmac, 384, 0},
    {"HS512", Family::Hmac, 512, 0},
    {"RS256", Family::Rsa, 256, 0},
    {"RS384", Family::Rsa, 384, 0},
    {"RS512", Family::Rsa, 512, 0},
    {"ES256", Family::Ec, 256, 32},
    {"ES384", Family::Ec, 384, 48},
}};

// What an out-of-range Alg value maps to: verifies nothing.
constexpr AlgInfo kInvalidAlg{"invalid", Family::Invalid, 256, 0};

const AlgInfo& info(Alg alg) {
    std::size_t i = static_cast<std::size_t>(alg);
    return i < kAlgs.size() ? kAlgs[i] : kInvalidAlg;
}

const EVP_MD* digestOf(Alg alg) {
    switch (info(alg).hashBits) {
        case 384:
            return EVP_sha384();
        case 512:
            return EVP_sha512();
        default:
            return EVP_sha256();
    }
}

const unsigned char* bytes(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

// Short printable form of an untrusted string for a reason message.
std::string printable(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 64)) {
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    if (s.size() > 64) out += "...";
    return out;
}

// ---- JSON ---------------------------------------------------------------------------------

// Poco keeps the last of duplicate members (allowed by RFC 7515 5.2), but a backend reading the
// forwarded claims with a first-wins parser would see a different token than we checked.
class StrictHandler : public Poco::JSON::ParseHandler {
public:
    void reset() override {
        ParseHandler::reset();
        members_.clear();
    }
    void startObject() override {
        ParseHandler::startObject();
        members_.emplace_back();
    }
    void endObject() override {
        ParseHandler::endObject();
        if (!members_.empty()) members_.pop_back();
    }
    void startArray() override {
        ParseHandler::startArray();
        members_.emplace_back();
    }
    void endArray() override {
        ParseHandler::endArray();
        if (!members_.empty()) members_.pop_back();
    }
    void key(const std::string& k) override {
        if (!members_.empty() && !members_.back().insert(k).second)
            throw Poco::JSON::JSONException("duplicate member");
        ParseHandler::key(k);
    }

private:
    std::vector<std::set<std::string>> members_;
};

// The JSON object in `text`, or null with a reason.
Poco::JSON::Object::Ptr parseObject(const std::string& text, std::string* why) {
    try {
        Poco::JSON::Parser parser(new StrictHandler);
        parser.setDepth(kMaxJsonDepth);
        parser.setAllowNullByte(false);  // "\u0000" would truncate a kid or claim in C APIs
        Poco::Dynamic::Var v = parser.parse(text);
        if (v.type() != typeid(Poco::JSON::Object::Ptr)) {
            *why = "not a JSON object";
            return nullptr;
        }
        auto obj = v.extract<Poco::JSON::Object::Ptr>();
        if (!obj) *why = "not a JSON object";
        return obj;
    } catch (const Poco::Exception& e) {
        *why = "invalid JSON";
        if (!e.message().empty()) *why += ": " + printable(e.message());
    } catch (const std::exception&) {
        *why = "invalid JSON";
    }
    return nullptr;
}

enum class Member { Absent, Ok, WrongType };

// Reads an optional string member; JSON null counts as the wrong type.
Member stringMember(const Poco::JSON::Object& obj, const std::string& name, std::string& out) {
    if (!obj.has(name)) return Member::Absent;
    Poco::Dynamic::Var v = obj.get(name);
    if (v.isEmpty() || !v.isString()) return Member::WrongType;
    out = v.convert<std::string>();
    return Member::Ok;
}

// ---- keys ---------------------------------------------------------------------------------

bool curveMatches(const std::string& group, Alg alg) {
    if (alg == Alg::ES256) return group == "prime256v1" || group == "P-256" || group == "secp256r1";
    if (alg == Alg::ES384) return group == "secp384r1" || group == "P-384";
    return false;
}

// Checks that `pkey` is a sound public key of the kind `alg` needs.
bool checkPublicKey(EVP_PKEY* pkey, Alg alg, std::string* error) {
    const AlgInfo& ai = info(alg);
    if (ai.family == Family::Rsa) {
        if (EVP_PKEY_is_a(pkey, "RSA") != 1)
            return fail(error, std::string(ai.name) + " needs an RSA key");
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits < kMinRsaBits)
            return fail(
                error, "RSA key has " + std::to_string(bits) + " bits; at least 2048 are required");
        if (bits > kMaxRsaBits) return fail(error, "RSA key is larger than 16384 bits");
        // e = 1 would make every "signature" equal to its padded message.
        BIGNUM* e = nullptr;
        if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1)
            return fail(error, sslReason("RSA key has no public exponent"));
        BnPtr eHolder(e);
        if (!BN_is_odd(e) || BN_is_one(e)) return fail(error, "RSA public exponent is invalid");
        return true;
    }
    if (ai.family == Family::Ec) {
        if (EVP_PKEY_is_a(pkey, "EC") != 1)
            return fail(error, std::string(ai.name) + " needs an EC key");
        std::array<char, 64> group{};
        std::size_t len = 0;
        if (EVP_PKEY_get_group_name(pkey, group.data(), group.size(), &len) != 1)
            return fail(error, "EC key has no named curve");
        if (!curveMatches(std::string(group.data(), std::min(len, group.size())), alg))
            return fail(error, std::string(ai.name) + " needs a " +
                                   (alg == Alg::ES256 ? "P-256" : "P-384") + " key");
        // Point on the curve, not at infinity, of the right order.
        PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
        if (!ctx || EVP_PKEY_public_check(ctx.get()) != 1)
            return fail(error, sslReason("EC public key is invalid"));
        return true;
    }
    if (ai.family == Family::Hmac)
        return fail(error, std::string(ai.name) + " keys are HMAC secrets, not public keys");
    return fail(error, "unsupported algorithm");
}

std::optional<Key> makePublicKey(Alg alg, EVP_PKEY* raw, std::string kid, std::string* error) {
    std::shared_ptr<EVP_PKEY> pkey = sharePkey(raw);
    if (!checkPublicKey(pkey.get(), alg, error)) return std::nullopt;
    Key key;
    key.alg = alg;
    key.kid = std::move(kid);
    key.pkey = std::move(pkey);
    return key;
}

// EVP_PKEY_fromdata with the parameters `push` adds (OpenSSL 3 API, no deprecated RSA/EC_KEY).
template <typename Push>
EVP_PKEY* pkeyFromData(const char* type, Push push, std::string* error) {
    ParamBldPtr bld(OSSL_PARAM_BLD_new());
    if (!bld || !push(bld.get())) {
        fail(error, sslReason("cannot build key parameters"));
        return nullptr;
    }
    ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    EVP_PKEY* out = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &out, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
        fail(error, sslReason(std::string("invalid ") + type + " key"));
        return nullptr;
    }
    return out;
}

// A base64url member of a JWK, decoded; nullopt with a reason when absent or malformed.
std::optional<std::string> jwkBytes(const Poco::JSON::Object& jwk, const char* name,
                                    std::string* error) {
    std::string text;
    if (stringMember(jwk, name, text) != Member::Ok)
        return failed<std::string>(error, std::string("JWK \"") + name + "\" missing");
    std::optional<std::string> raw = base64urlDecode(text);
    if (!raw || raw->empty())
        return failed<std::string>(error, std::string("JWK \"") + name + "\" is not base64url");
    return raw;
}

std::optional<Key> rsaFromJwk(const Poco::JSON::Object& jwk, Alg alg, std::string kid,
                              std::string* error) {
    auto n = jwkBytes(jwk, "n", error);
    if (!n) return std::nullopt;
    auto e = jwkBytes(jwk, "e", error);
    if (!e) return std::nullopt;
    if (n->size() > static_cast<std::size_t>(kMaxRsaBits / 8 + 1) || e->size() > 64)
        return failed<Key>(error, "RSA key is too large");
    BnPtr bn(BN_bin2bn(bytes(*n), static_cast<int>(n->size()), nullptr));
    BnPtr be(BN_bin2bn(bytes(*e), static_cast<int>(e->size()), nullptr));
    if (!bn || !be) return failed<Key>(error, sslReason("cannot read RSA key"));
    EVP_PKEY* raw = pkeyFromData(
        "RSA",
        [&](OSSL_PARAM_BLD* bld) {
            return OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn.get()) == 1 &&
                   OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be.get()) == 1;
        },
        error);
    if (!raw) return std::nullopt;
    return makePublicKey(alg, raw, std::move(kid), error);
}

std::optional<Key> ecFromJwk(const Poco::JSON::Object& jwk, Alg alg, std::string kid,
                             std::string* error) {
    std::size_t coord = info(alg).ecCoordBytes;
    auto x = jwkBytes(jwk, "x", error);
    if (!x) return std::nullopt;
    auto y = jwkBytes(jwk, "y", error);
    if (!y) return std::nullopt;
    // RFC 7518 6.2.1.2: full-length coordinates, leading zeros kept.
    if (x->size() != coord || y->size() != coord)
        return failed<Key>(error, "EC coordinates have the wrong length for the curve");
    std::string point = "\x04" + *x + *y;  // uncompressed SEC1 point
    const char* group = alg == Alg::ES256 ? "prime256v1" : "secp384r1";
    EVP_PKEY* raw = pkeyFromData(
        "EC",
        [&](OSSL_PARAM_BLD* bld) {
            return OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ==
                       1 &&
                   OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                                    point.size()) == 1;
        },
        error);
    if (!raw) return std::nullopt;
    return makePublicKey(alg, raw, std::move(kid), error);
}

std::optional<Key> fromJwkImpl(const Poco::JSON::Object& jwk, std::string* error) {
    std::string kty, kid, use, algText, crv;
    if (stringMember(jwk, "kty", kty) != Member::Ok)
        return failed<Key>(error, "JWK \"kty\" missing");
    if (stringMember(jwk, "kid", kid) == Member::WrongType)
        return failed<Key>(error, "JWK \"kid\" is not a string");
    Member useM = stringMember(jwk, "use", use);
    if (useM == Member::WrongType || (useM == Member::Ok && use != "sig"))
        return failed<Key>(error, "JWK \"use\" is not \"sig\"");
    if (jwk.has("key_ops")) {
        Poco::JSON::Array::Ptr ops = jwk.getArray("key_ops");
        bool canVerify = false;
        if (ops) {
            for (std::size_t i = 0; i < ops->size(); ++i) {
                Poco::Dynamic::Var op = ops->get(static_cast<unsigned>(i));
                if (op.isString() && op.convert<std::string>() == "verify") canVerify = true;
            }
        }
        if (!canVerify) return failed<Key>(error, "JWK \"key_ops\" lacks \"verify\"");
    }
    std::optional<Alg> alg;
    Member algM = stringMember(jwk, "alg", algText);
    if (algM == Member::WrongType) return failed<Key>(error, "JWK \"alg\" is not a string");
    if (algM == Member::Ok) {
        alg = parseAlg(algText);
        if (!alg) return failed<Key>(error, "JWK alg \"" + printable(algText) + "\" unsupported");
    }

    if (kty == "oct") {
        if (!alg) return failed<Key>(error, "oct JWK without \"alg\" (an HMAC key must name it)");
        auto k = jwkBytes(jwk, "k", error);
        if (!k) return std::nullopt;
        return Key::hmac(*alg, std::move(*k), std::move(kid), error);
    }
    if (kty == "RSA") {
        if (!alg) alg = Alg::RS256;
        if (info(*alg).family != Family::Rsa)
            return failed<Key>(error,
                               std::string("alg ") + algName(*alg) + " does not fit kty RSA");
        return rsaFromJwk(jwk, *alg, std::move(kid), error);
    }
    if (kty == "EC") {
        if (stringMember(jwk, "crv", crv) != Member::Ok)
            return failed<Key>(error, "EC JWK \"crv\" missing");
        Alg curveAlg;
        if (crv == "P-256") {
            curveAlg = Alg::ES256;
        } else if (crv == "P-384") {
            curveAlg = Alg::ES384;
        } else {
            return failed<Key>(error, "EC curve \"" + printable(crv) + "\" unsupported");
        }
        if (alg && *alg != curveAlg)
            return failed<Key>(error,
                               std::string("alg ") + algName(*alg) + " does not fit crv " + crv);
        return ecFromJwk(jwk, curveAlg, std::move(kid), error);
    }
    return failed<Key>(error, "kty \"" + printable(kty) + "\" unsupported");
}

// ---- verification -------------------------------------------------------------------------

bool verifyHmac(const Token& token, const Key& key, std::string* error) {
    if (key.secret.empty()) return fail(error, "key has no HMAC secret");
    if (key.secret.size() > static_cast<std::size_t>(INT_MAX))
        return fail(error, "HMAC secret too long");
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned int macLen = 0;
    if (HMAC(digestOf(key.alg), key.secret.data(), static_cast<int>(key.secret.size()),
             bytes(token.signingInput), token.signingInput.size(), mac.data(), &macLen) == nullptr)
        return fail(error, sslReason("HMAC failed"));
    bool ok = token.signature.size() == macLen &&
              CRYPTO_memcmp(mac.data(), token.signature.data(), macLen) == 0;
    OPENSSL_cleanse(mac.data(), mac.size());  // the valid tag for attacker-chosen input
    return ok || fail(error, "signature mismatch");
}

bool digestVerify(const Key& key, const unsigned char* sig, std::size_t sigLen, const Token& token,
                  std::string* error) {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx) return fail(error, sslReason("out of memory"));
    EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
    if (EVP_DigestVerifyInit(ctx.get(), &pctx, digestOf(key.alg), nullptr, key.pkey.get()) != 1)
        return fail(error, sslReason("cannot start verification"));
    if (info(key.alg).family == Family::Rsa &&
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
        return fail(error, sslReason("cannot select PKCS#1 v1.5 padding"));
    int rc = EVP_DigestVerify(ctx.get(), sig, sigLen, bytes(token.signingInput),
                              token.signingInput.size());
    if (rc == 1) return true;
    return fail(error, rc == 0 ? std::string("signature mismatch")
                               : sslReason("signature verification error"));
}

bool verifyRsa(const Token& token, const Key& key, std::string* error) {
    int size = EVP_PKEY_get_size(key.pkey.get());
    if (size <= 0 || token.signature.size() != static_cast<std::size_t>(size))
        return fail(error, "RSA signature has the wrong length");
    return digestVerify(key, bytes(token.signature), token.signature.size(), token, error);
}

bool verifyEcdsa(const Token& token, const Key& key, std::string* error) {
    // JWS carries R||S (RFC 7518 3.4); OpenSSL wants a DER ECDSA-Sig-Value. Accepting DER too
    // would give one signature two encodings.
    std::size_t n = info(key.alg).ecCoordBytes;
    if (token.signature.size() != 2 * n)
        return fail(error, "ECDSA signature must be R||S of " + std::to_string(2 * n) + " bytes");
    const unsigned char* p = bytes(token.signature);
    BnPtr r(BN_bin2bn(p, static_cast<int>(n), nullptr));
    BnPtr s(BN_bin2bn(p + n, static_cast<int>(n), nullptr));
    EcdsaSigPtr sig(ECDSA_SIG_new());
    if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1)
        return fail(error, sslReason("cannot build ECDSA signature"));
    r.release();  // now owned by sig
    s.release();
    int derLen = i2d_ECDSA_SIG(sig.get(), nullptr);
    if (derLen <= 0) return fail(error, sslReason("cannot encode ECDSA signature"));
    std::vector<unsigned char> der(static_cast<std::size_t>(derLen));
    unsigned char* out = der.data();
    if (i2d_ECDSA_SIG(sig.get(), &out) != derLen)
        return fail(error, sslReason("cannot encode ECDSA signature"));
    return digestVerify(key, der.data(), der.size(), token, error);
}

bool verifyImpl(const Token& token, const Key& key, std::string* error) {
    const AlgInfo& ai = info(key.alg);
    if (token.alg != ai.name)
        return fail(error, std::string("alg mismatch (key is ") + ai.name + ")");
    if (token.signature.empty()) return fail(error, "signature missing");
    if (token.signingInput.empty()) return fail(error, "signing input missing");
    switch (ai.family) {
        case Family::Hmac:
            return verifyHmac(token, key, error);
        case Family::Rsa:
            if (!key.pkey) return fail(error, "key has no public key");
            return verifyRsa(token, key, error);
        case Family::Ec:
            if (!key.pkey) return fail(error, "key has no public key");
            return verifyEcdsa(token, key, error);
        case Family::Invalid:
            break;
    }
    return fail(error, "unsupported algorithm");
}

// ---- decoding and claims ------------------------------------------------------------------

bool iequalsNone(std::string_view s) {
    if (s.size() != 4) return false;
    static constexpr std::string_view kNone = "none";
    for (std::size_t i = 0; i < 4; ++i) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != kNone[i]) return false;
    }
    return true;
}

std::optional<Token> decodeImpl(std::string_view compact, std::string* error,
                                std::size_t maxBytes) {
    if (compact.empty()) return failed<Token>(error, "token is empty");
    if (compact.size() > maxBytes) return failed<Token>(error, "token is too large");
    std::size_t d1 = compact.find('.');
    std::size_t d2 = d1 == std::string_view::npos ? d1 : compact.find('.', d1 + 1);
    if (d2 == std::string_view::npos || compact.find('.', d2 + 1) != std::string_view::npos)
        return failed<Token>(error, "token must have three dot-separated segments");
    std::string_view headerSeg = compact.substr(0, d1);
    std::string_view payloadSeg = compact.substr(d1 + 1, d2 - d1 - 1);
    std::string_view sigSeg = compact.substr(d2 + 1);
    if (sigSeg.empty()) return failed<Token>(error, "signature missing");

    auto headerJson = base64urlDecode(headerSeg);
    if (!headerJson) return failed<Token>(error, "header is not base64url");
    auto payloadJson = base64urlDecode(payloadSeg);
    if (!payloadJson) return failed<Token>(error, "payload is not base64url");
    auto signature = base64urlDecode(sigSeg);
    if (!signature) return failed<Token>(error, "signature is not base64url");

    Token token;
    std::string why;
    token.header = parseObject(*headerJson, &why);
    if (!token.header) return failed<Token>(error, "header: " + why);
    token.payload = parseObject(*payloadJson, &why);
    if (!token.payload) return failed<Token>(error, "payload: " + why);

    if (stringMember(*token.header, "alg", token.alg) != Member::Ok)
        return failed<Token>(error, "header alg missing or not a string");
    if (iequalsNone(token.alg)) return failed<Token>(error, "alg none is not accepted");
    if (token.header->has("crit")) return failed<Token>(error, "crit header is not supported");
    std::string kid;
    Member kidM = stringMember(*token.header, "kid", kid);
    if (kidM == Member::WrongType) return failed<Token>(error, "header kid is not a string");
    if (kidM == Member::Ok) token.kid = std::move(kid);

    token.signingInput.assign(compact.substr(0, d2));
    token.signature = std::move(*signature);
    return token;
}

// Reads a NumericDate claim: nullopt when absent; a reason in `why` when not a finite number.
std::optional<double> numericClaim(const Poco::JSON::Object& payload, const std::string& name,
                                   std::string& why) {
    if (!payload.has(name)) return std::nullopt;
    Poco::Dynamic::Var v = payload.get(name);
    // Poco counts booleans as numeric.
    if (v.isEmpty() || v.isBoolean() || v.isString() || !v.isNumeric()) {
        why = name + " is not a number";
        return std::nullopt;
    }
    double d = 0;
    if (v.isInteger()) {
        d = v.isSigned() ? static_cast<double>(v.convert<Poco::Int64>())
                         : static_cast<double>(v.convert<Poco::UInt64>());
    } else {
        d = v.convert<double>();
    }
    if (!std::isfinite(d)) {
        why = name + " is not a finite number";
        return std::nullopt;
    }
    return d;
}

bool contains(const std::vector<std::string>& list, const std::string& s) {
    return std::find(list.begin(), list.end(), s) != list.end();
}

std::string checkClaimsImpl(const Token& token, int64_t now, const ClaimRules& rules) {
    if (!token.payload) return "token has no payload";
    const Poco::JSON::Object& p = *token.payload;
    const double skew = static_cast<double>(std::max<int64_t>(0, rules.clockSkewS));
    const double nowD = static_cast<double>(now);
    std::string why;

    std::optional<double> exp = numericClaim(p, "exp", why);
    if (!why.empty()) return why;
    if (!exp) {
        if (rules.requireExp) return "exp missing";
    } else if (*exp <= nowD - skew) {
        return "token expired";
    }
    std::optional<double> nbf = numericClaim(p, "nbf", why);
    if (!why.empty()) return why;
    if (nbf && *nbf > nowD + skew) return "token not yet valid";
    numericClaim(p, "iat", why);
    if (!why.empty()) return why;

    if (!rules.issuers.empty()) {
        std::string iss;
        Member m = stringMember(p, "iss", iss);
        if (m == Member::Absent) return "iss missing";
        if (m == Member::WrongType) return "iss is not a string";
        if (!contains(rules.issuers, iss)) return "issuer not allowed";
    }
    if (!rules.audiences.empty()) {
        if (!p.has("aud")) return "aud missing";
        Poco::Dynamic::Var aud = p.get("aud");
        if (!aud.isEmpty() && aud.isString()) {
            if (!contains(rules.audiences, aud.convert<std::string>()))
                return "audience not allowed";
        } else if (aud.type() == typeid(Poco::JSON::Array::Ptr)) {
            auto arr = aud.extract<Poco::JSON::Array::Ptr>();
            bool match = false;
            for (std::size_t i = 0; arr && i < arr->size(); ++i) {
                Poco::Dynamic::Var a = arr->get(static_cast<unsigned>(i));
                if (a.isEmpty() || !a.isString()) return "aud is not a string or array of strings";
                if (contains(rules.audiences, a.convert<std::string>())) match = true;
            }
            if (!match) return "audience not allowed";
        } else {
            return "aud is not a string or array of strings";
        }
    }
    return "";
}

int b64Value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

}  // namespace

// ---- public API ---------------------------------------------------------------------------

std::optional<Alg> parseAlg(std::string_view name) {
    for (std::size_t i = 0; i < kAlgs.size(); ++i) {
        if (name == kAlgs[i].name) return static_cast<Alg>(i);
    }
    return std::nullopt;
}

const char* algName(Alg alg) {
    return info(alg).name;
}

std::optional<Key> Key::hmac(Alg alg, std::string secret, std::string kid, std::string* error) {
    if (info(alg).family != Family::Hmac)
        return failed<Key>(error, std::string(algName(alg)) + " is not an HMAC algorithm");
    if (secret.empty()) return failed<Key>(error, "HMAC secret is empty");
    Key key;
    key.alg = alg;
    key.kid = std::move(kid);
    key.secret = std::move(secret);
    return key;
}

std::optional<Key> Key::publicPem(Alg alg, std::string_view pem, std::string kid,
                                  std::string* error) {
    ErrQueueGuard guard;
    try {
        if (info(alg).family == Family::Hmac)
            return failed<Key>(
                error, std::string(algName(alg)) + " keys are HMAC secrets, not public keys");
        if (pem.size() > static_cast<std::size_t>(INT_MAX))
            return failed<Key>(error, "PEM too large");
        BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
        if (!bio) return failed<Key>(error, sslReason("out of memory"));
        // Never prompt on a terminal for a passphrase.
        pem_password_cb* noPassword = [](char*, int, int, void*) { return 0; };
        EVP_PKEY* raw = nullptr;
        if (pem.find("-----BEGIN CERTIFICATE-----") != std::string_view::npos) {
            X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, noPassword, nullptr));
            if (!cert) return failed<Key>(error, sslReason("cannot read the certificate PEM"));
            raw = X509_get_pubkey(cert.get());  // a new reference
        } else if (pem.find("-----BEGIN PUBLIC KEY-----") != std::string_view::npos) {
            raw = PEM_read_bio_PUBKEY(bio.get(), nullptr, noPassword, nullptr);
        } else {
            return failed<Key>(error, "expected a PUBLIC KEY or CERTIFICATE PEM");
        }
        if (!raw) return failed<Key>(error, sslReason("cannot read the public key"));
        return makePublicKey(alg, raw, std::move(kid), error);
    } catch (const std::exception& e) {
        return failed<Key>(error, std::string("cannot load key: ") + e.what());
    }
}

std::optional<Key> Key::fromJwk(const Poco::JSON::Object& jwk, std::string* error) {
    ErrQueueGuard guard;
    try {
        return fromJwkImpl(jwk, error);
    } catch (const Poco::Exception& e) {
        return failed<Key>(error, "invalid JWK: " + e.displayText());
    } catch (const std::exception& e) {
        return failed<Key>(error, std::string("invalid JWK: ") + e.what());
    }
}

std::vector<Key> parseJwks(std::string_view json, std::vector<std::string>* skipped,
                           std::string* error) {
    ErrQueueGuard guard;
    std::vector<Key> keys;
    try {
        std::string why;
        Poco::JSON::Object::Ptr doc = parseObject(std::string(json), &why);
        if (!doc) {
            fail(error, "JWKS: " + why);
            return keys;
        }
        Poco::JSON::Array::Ptr arr = doc->getArray("keys");
        if (!arr) {
            fail(error, "JWKS has no \"keys\" array");
            return keys;
        }
        for (std::size_t i = 0; i < arr->size(); ++i) {
            Poco::Dynamic::Var v = arr->get(static_cast<unsigned>(i));
            std::string where = "key #" + std::to_string(i);
            if (v.type() != typeid(Poco::JSON::Object::Ptr) ||
                !v.extract<Poco::JSON::Object::Ptr>()) {
                if (skipped) skipped->push_back(where + ": not a JSON object");
                continue;
            }
            const Poco::JSON::Object& jwk = *v.extract<Poco::JSON::Object::Ptr>();
            std::string kid;
            if (stringMember(jwk, "kid", kid) == Member::Ok)
                where += " (kid \"" + printable(kid) + "\")";
            std::string reason;
            std::optional<Key> key = Key::fromJwk(jwk, &reason);  // never throws
            if (key) {
                keys.push_back(std::move(*key));
            } else if (skipped) {
                skipped->push_back(where + ": " + reason);
            }
        }
    } catch (const Poco::Exception& e) {
        keys.clear();
        fail(error, "JWKS: " + e.displayText());
    } catch (const std::exception& e) {
        keys.clear();
        fail(error, std::string("JWKS: ") + e.what());
    }
    return keys;
}

std::optional<Token> decode(std::string_view compact, std::string* error, std::size_t maxBytes) {
    try {
        return decodeImpl(compact, error, maxBytes);
    } catch (const Poco::Exception&) {
        return failed<Token>(error, "malformed token");
    } catch (const std::exception&) {
        return failed<Token>(error, "malformed token");
    }
}

bool verify(const Token& token, const Key& key, std::string* error) {
    ErrQueueGuard guard;
    try {
        return verifyImpl(token, key, error);
    } catch (const std::exception& e) {
        return fail(error, std::string("verification failed: ") + e.what());
    }
}

std::string checkClaims(const Token& token, int64_t nowUnixS, const ClaimRules& rules) {
    try {
        return checkClaimsImpl(token, nowUnixS, rules);
    } catch (const Poco::Exception&) {
        return "claims are malformed";
    } catch (const std::exception&) {
        return "claims are malformed";
    }
}

std::optional<std::string> base64urlDecode(std::string_view in) {
    if (in.size() % 4 == 1) return std::nullopt;  // no whole byte in a lone 6-bit group
    std::string out;
    out.reserve(in.size() / 4 * 3 + 2);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char ch : in) {
        int v = b64Value(static_cast<unsigned char>(ch));
        if (v < 0) return std::nullopt;
        acc = ((acc << 6) | static_cast<std::uint32_t>(v)) & 0xFFFFFFu;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFFu));
        }
    }
    // The 2 or 4 unused low bits must be zero, else "Zg" and "Zh" would both decode to "f".
    if ((acc & ((1u << bits) - 1u)) != 0) return std::nullopt;
    return out;
}

std::string base64urlEncode(std::string_view in) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    const unsigned char* p = bytes(in);
    for (; i + 3 <= in.size(); i += 3) {
        std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8) | p[i + 2];
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += kAlphabet[v & 63];
    }
    std::size_t rest = in.size() - i;
    if (rest == 1) {
        std::uint32_t v = std::uint32_t{p[i]} << 16;
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
    } else if (rest == 2) {
        std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
    }
    return out;
}

}  // namespace gatehouse::jwt
