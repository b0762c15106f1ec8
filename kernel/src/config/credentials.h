#pragma once

#include <string>
#include <string_view>

namespace gatehouse::config {

/// Lower-case hex SHA-256 of `data` (how key-auth keys are stored and looked up).
std::string sha256Hex(std::string_view data);

/// A new API key: 32 random bytes from the OS, base64url (43 characters).
std::string generateApiKey();

inline constexpr unsigned kPasswordIterations = 210000;  // OWASP 2023 for PBKDF2-SHA256

/// PBKDF2-HMAC-SHA256 with a random 16-byte salt, as
/// "$pbkdf2-sha256$i=<iterations>$<salt b64>$<hash b64>" (the PHC string format).
std::string hashPassword(std::string_view password, unsigned iterations = kPasswordIterations);
/// Constant-time check of `password` against a hashPassword() string; false when malformed.
bool verifyPassword(std::string_view password, const std::string& phc);
/// Whether `phc` is a hash hashPassword() could have made (import of stored hashes).
bool validPasswordHash(const std::string& phc);

/// Whether `pem` holds a public key (SubjectPublicKeyInfo) or a certificate; "" when it does,
/// else the reason.
std::string checkPublicKeyPem(const std::string& pem);

}  // namespace gatehouse::config
