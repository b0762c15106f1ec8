#include "admin/admin_token.h"

#include <sys/random.h>

#include <Poco/Base64Encoder.h>
#include <Poco/DigestEngine.h>
#include <Poco/SHA2Engine.h>

#include <sstream>
#include <stdexcept>

namespace gatehouse::admin {
namespace {

constexpr const char* kMetaKey = "admin_token_sha256";

std::string randomToken() {
    unsigned char bytes[32];
    size_t got = 0;
    while (got < sizeof bytes) {
        const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
        if (n < 0) throw std::runtime_error("getrandom failed");
        got += static_cast<size_t>(n);
    }
    std::ostringstream out;
    Poco::Base64Encoder enc(out, Poco::BASE64_URL_ENCODING | Poco::BASE64_NO_PADDING);
    enc.rdbuf()->setLineLength(0);
    enc.write(reinterpret_cast<const char*>(bytes), sizeof bytes);
    enc.close();
    return "gha_" + out.str();
}

}  // namespace

std::string AdminToken::hash(std::string_view token) {
    Poco::SHA2Engine sha(Poco::SHA2Engine::SHA_256);
    sha.update(token.data(), static_cast<unsigned>(token.size()));
    return Poco::DigestEngine::digestToHex(sha.digest());
}

std::string AdminToken::rotate() {
    const std::string token = randomToken();
    store_.setMeta(kMetaKey, hash(token));
    return token;
}

std::string AdminToken::ensure() {
    if (store_.meta(kMetaKey)) return "";
    return rotate();
}

bool AdminToken::verify(std::string_view presented) const {
    const auto stored = store_.meta(kMetaKey);
    if (!stored || presented.empty()) return false;
    const std::string h = hash(presented);
    if (h.size() != stored->size()) return false;
    unsigned char diff = 0;  // no early exit: timing says nothing about the prefix
    for (size_t i = 0; i < h.size(); ++i)
        diff |= static_cast<unsigned char>(h[i] ^ (*stored)[i]);
    return diff == 0;
}

}  // namespace gatehouse::admin
