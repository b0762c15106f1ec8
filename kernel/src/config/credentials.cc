#include "config/credentials.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

namespace gatehouse::config {
namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(const unsigned char* p, size_t n, bool url) {
    std::string out;
    for (size_t i = 0; i < n; i += 3) {
        const uint32_t v = static_cast<uint32_t>(p[i]) << 16 |
                           (i + 1 < n ? static_cast<uint32_t>(p[i + 1]) << 8 : 0) |
                           (i + 2 < n ? p[i + 2] : 0);
        const size_t chars = i + 2 < n ? 4 : i + 1 < n ? 3 : 2;
        for (size_t k = 0; k < 4; ++k) {
            if (k < chars) {
                char c = kB64[(v >> (18 - 6 * k)) & 63];
                if (url && c == '+') c = '-';
                if (url && c == '/') c = '_';
                out.push_back(c);
            } else if (!url) {
                out.push_back('=');
            }
        }
    }
    return out;
}

std::optional<std::vector<unsigned char>> unbase64(std::string_view s) {
    std::vector<unsigned char> out;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : s) {
        if (c == '=') break;
        const char* at = std::char_traits<char>::find(kB64, 64, c);
        if (!at) return std::nullopt;
        acc = acc << 6 | static_cast<uint32_t>(at - kB64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<unsigned char>(acc >> bits));
        }
    }
    return out;
}

void randomBytes(unsigned char* p, size_t n) {
    if (RAND_bytes(p, static_cast<int>(n)) != 1) throw std::runtime_error("RAND_bytes failed");
}

struct Phc {
    unsigned iterations = 0;
    std::vector<unsigned char> salt;
    std::vector<unsigned char> hash;
};

std::optional<Phc> parsePhc(const std::string& phc) {
    constexpr std::string_view kPrefix = "$pbkdf2-sha256$i=";
    if (phc.rfind(kPrefix, 0) != 0) return std::nullopt;
    const size_t d1 = phc.find('$', kPrefix.size());
    if (d1 == std::string::npos) return std::nullopt;
    const size_t d2 = phc.find('$', d1 + 1);
    if (d2 == std::string::npos) return std::nullopt;
    Phc p;
    const std::string iters = phc.substr(kPrefix.size(), d1 - kPrefix.size());
    if (iters.empty() || iters.size() > 9 ||
        iters.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    p.iterations = static_cast<unsigned>(std::stoul(iters));
    auto salt = unbase64(std::string_view(phc).substr(d1 + 1, d2 - d1 - 1));
    auto hash = unbase64(std::string_view(phc).substr(d2 + 1));
    if (!salt || !hash || salt->size() < 8 || hash->size() != 32 || p.iterations < 1000)
        return std::nullopt;
    p.salt = std::move(*salt);
    p.hash = std::move(*hash);
    return p;
}

}  // namespace

std::string sha256Hex(std::string_view data) {
    // Fetched once: OpenSSL 3 looks the implementation up on every EVP_sha256() use, which
    // costs more than hashing an API key (this runs per key-auth request).
    static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), md, &len, kSha256 ? kSha256 : EVP_sha256(),
                   nullptr) != 1)
        throw std::runtime_error("SHA-256 failed");
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(2 * len, '0');
    for (unsigned i = 0; i < len; ++i) {
        out[2 * i] = kHex[md[i] >> 4];
        out[2 * i + 1] = kHex[md[i] & 15];
    }
    return out;
}

std::string generateApiKey() {
    unsigned char raw[32];
    randomBytes(raw, sizeof raw);
    return base64(raw, sizeof raw, true);
}

std::string hashPassword(std::string_view password, unsigned iterations) {
    unsigned char salt[16], hash[32];
    randomBytes(salt, sizeof salt);
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt, sizeof salt,
                          static_cast<int>(iterations), EVP_sha256(), sizeof hash, hash) != 1)
        throw std::runtime_error("PBKDF2 failed");
    return "$pbkdf2-sha256$i=" + std::to_string(iterations) + "$" +
           base64(salt, sizeof salt, false) + "$" + base64(hash, sizeof hash, false);
}

bool verifyPassword(std::string_view password, const std::string& phc) {
    const auto p = parsePhc(phc);
    if (!p) return false;
    unsigned char hash[32];
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), p->salt.data(),
                          static_cast<int>(p->salt.size()), static_cast<int>(p->iterations),
                          EVP_sha256(), sizeof hash, hash) != 1)
        return false;
    return CRYPTO_memcmp(hash, p->hash.data(), sizeof hash) == 0;
}

bool validPasswordHash(const std::string& phc) {
    return parsePhc(phc).has_value();
}

std::string checkPublicKeyPem(const std::string& pem) {
    if (pem.size() > 64 * 1024) return "is larger than 64 KiB";
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    if (!bio) return "cannot be read";
    if (EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr)) {
        EVP_PKEY_free(key);
        return {};
    }
    BIO_reset(bio.get());
    if (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
        X509_free(cert);
        return {};
    }
    ERR_clear_error();  // the failed reads left their reasons; nobody else should see them
    return "is not a PEM public key (-----BEGIN PUBLIC KEY-----) or certificate";
}

}  // namespace gatehouse::config
