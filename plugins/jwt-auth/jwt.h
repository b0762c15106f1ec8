// gatehouse::jwt - the verification core of the jwt-auth plugin: decodes a JWS compact
// serialization (a JWT), checks its signature against a configured key and checks its
// time/issuer/audience claims. Verification only: no signing, no JWE, no JWS JSON serialization.
//
// Security rules (each one closes a known JWT attack):
//  - The algorithm is pinned by the Key, never chosen by the token: verify() refuses a token
//    whose "alg" is not exactly the key's algorithm. So "none" never verifies, and an HS256
//    token cannot be checked against an RSA key's PEM used as an HMAC secret (alg confusion).
//  - decode() refuses "none" in any case, "crit" (we implement no extensions), duplicate JSON
//    members and anything that is not strict base64url (no padding, '+', '/', whitespace or
//    non-zero trailing bits), so one token has exactly one accepted encoding.
//  - HMAC tags are compared in constant time (CRYPTO_memcmp).
//  - ES256/ES384 signatures must be the fixed-size R||S of RFC 7518, never DER.
//  - Hostile input never throws: failures are nullopt/false/a reason string. The OpenSSL error
//    queue of the calling thread is cleared on entry and exit of every function here.
//
// Thread-safety: a Key is immutable once built (its EVP_PKEY is only read), so one Key, or one
// vector of them, may be shared by any number of threads calling verify() at once. A Token holds
// Poco JSON objects: treat it as owned by one request.
#pragma once

#include <openssl/types.h>

#include <Poco/JSON/Object.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::jwt {

enum class Alg { HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384 };

// Exact, case-sensitive JWA names; "none" and anything unsupported give nullopt.
std::optional<Alg> parseAlg(std::string_view name);
const char* algName(Alg alg);

// Largest compact token decode() accepts by default (header + payload + signature, with dots).
inline constexpr std::size_t kMaxTokenBytes = 16 * 1024;

// A verification key, pinned to one algorithm. Build it with the factories, which validate it;
// copies share the underlying EVP_PKEY.
struct Key {
    Alg alg = Alg::HS256;
    std::string kid;                 // "" when the key has no kid
    std::string secret;              // HS*: the HMAC key bytes
    std::shared_ptr<EVP_PKEY> pkey;  // RS*/ES*: the public key (EVP_PKEY_free deleter)

    // HS* only. Refuses an empty secret, nothing more: RFC 7518 3.2 requires a secret at least
    // as long as the hash output (32/48/64 bytes), which the plugin's config validation should
    // enforce or warn about; a shorter one is accepted here so existing deployments still load.
    static std::optional<Key> hmac(Alg alg, std::string secret, std::string kid = "",
                                   std::string* error = nullptr);
    // RS* (RSA >= 2048 bits), ES256 (P-256), ES384 (P-384). `pem` is a SubjectPublicKeyInfo
    // ("-----BEGIN PUBLIC KEY-----") or an X.509 certificate, whose public key is used (its
    // validity dates and issuer are not checked). Private keys and HS* algorithms are refused.
    static std::optional<Key> publicPem(Alg alg, std::string_view pem, std::string kid = "",
                                        std::string* error = nullptr);
    // One JWK (RFC 7517): kty "oct" (k), "RSA" (n, e), "EC" (crv P-256/P-384, x, y). The
    // algorithm is the JWK's "alg"; without one, EC derives it from the curve, RSA defaults to
    // RS256 and oct is refused. Refused too: "use" other than "sig", "key_ops" without
    // "verify", an "alg" that does not fit the key. Private members (d, p, q, ...) are ignored.
    static std::optional<Key> fromJwk(const Poco::JSON::Object& jwk, std::string* error = nullptr);
};

// A JWK Set ({"keys": [...]}). Returns the usable keys in document order (several keys may
// share a kid; the caller picks by kid and alg). Each entry that is not usable is left out with
// a one-line reason appended to `skipped`. `error` is set when the document itself is not a JWK
// Set (not JSON, no "keys" array); the result is then empty.
std::vector<Key> parseJwks(std::string_view json, std::vector<std::string>* skipped = nullptr,
                           std::string* error = nullptr);

// A decoded, NOT yet verified token.
struct Token {
    Poco::JSON::Object::Ptr header;
    Poco::JSON::Object::Ptr payload;
    std::string alg;                 // the header's "alg", verbatim
    std::optional<std::string> kid;  // the header's "kid", verbatim (attacker-controlled!)
    std::string signingInput;        // the exact "header.payload" bytes that were signed
    std::string signature;           // the decoded signature bytes
};

// Splits and decodes a compact JWS; checks only its form, not its signature or claims.
std::optional<Token> decode(std::string_view compact, std::string* error = nullptr,
                            std::size_t maxBytes = kMaxTokenBytes);

// True when `token` is signed by `key` with the key's algorithm.
bool verify(const Token& token, const Key& key, std::string* error = nullptr);

struct ClaimRules {
    bool requireExp = true;
    int64_t clockSkewS = 60;             // leeway for exp and nbf; negative counts as 0
    std::vector<std::string> issuers;    // when non-empty, "iss" must be one of these
    std::vector<std::string> audiences;  // when non-empty, "aud" must contain one of these
};

// "" when the payload's claims pass at `nowUnixS`, else a short reason. exp/nbf/iat must be
// JSON numbers when present; a token is expired when exp <= now - skew and not yet valid when
// nbf > now + skew. Call it only on a verified token.
std::string checkClaims(const Token& token, int64_t nowUnixS, const ClaimRules& rules);

// Base64url without padding (RFC 7515 2). decode is strict: only [A-Za-z0-9_-], no '=', no
// whitespace, a length that is not 1 mod 4 and zero unused trailing bits.
std::optional<std::string> base64urlDecode(std::string_view in);
std::string base64urlEncode(std::string_view in);

}  // namespace gatehouse::jwt
