#pragma once

#include <string>
#include <string_view>

#include "config/store.h"

namespace gatehouse::admin {

/// The admin API's bearer token. Only its SHA-256 is stored (meta key admin_token_sha256);
/// the token itself is shown once, when it is made.
class AdminToken {
public:
    explicit AdminToken(config::Store& store) : store_(store) {}

    /// Makes and stores a new token (replacing any previous one) and returns it.
    std::string rotate();
    /// Makes one if none exists; returns it then, else "".
    std::string ensure();
    /// Constant-time check of a presented token against the stored hash.
    bool verify(std::string_view presented) const;

    static std::string hash(std::string_view token);

private:
    config::Store& store_;
};

}  // namespace gatehouse::admin
