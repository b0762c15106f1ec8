#include "http/header_rules.h"

#include "http/ascii.h"

namespace gatehouse::http {
namespace {

bool isHopByHop(std::string_view n) {
    switch (n.size()) {
        case 2:
            return iequals(n, "te");
        case 7:
            return iequals(n, "trailer") || iequals(n, "upgrade");
        case 10:
            return iequals(n, "connection") || iequals(n, "keep-alive");
        case 16:
            return iequals(n, "proxy-connection");
        case 17:
            return iequals(n, "transfer-encoding");
        case 19:
            return iequals(n, "proxy-authorization");
        default:
            return false;
    }
}

}  // namespace

HeaderClass classifyRequestHeader(std::string_view n) {
    if (isHopByHop(n)) return HeaderClass::kHopByHop;
    switch (n.size()) {
        case 4:
            if (iequals(n, "host")) return HeaderClass::kGatewayOwned;
            break;
        case 6:
            // Expect is answered by the gateway itself (it sends 100 Continue).
            if (iequals(n, "expect")) return HeaderClass::kHopByHop;
            break;
        case 12:
            if (iequals(n, "x-request-id")) return HeaderClass::kGatewayOwned;
            break;
        case 14:
            if (iequals(n, "content-length")) return HeaderClass::kFraming;
            break;
        case 15:
            if (iequals(n, "x-forwarded-for")) return HeaderClass::kGatewayOwned;
            break;
        case 16:
            if (iequals(n, "x-forwarded-host") || iequals(n, "x-forwarded-port"))
                return HeaderClass::kGatewayOwned;
            break;
        case 17:
            if (iequals(n, "x-forwarded-proto")) return HeaderClass::kGatewayOwned;
            break;
        default:
            break;
    }
    return HeaderClass::kForward;
}

HeaderClass classifyResponseHeader(std::string_view n) {
    if (isHopByHop(n)) return HeaderClass::kHopByHop;
    if (n.size() == 14 && iequals(n, "content-length")) return HeaderClass::kFraming;
    if (n.size() == 12 && iequals(n, "x-request-id")) return HeaderClass::kGatewayOwned;
    return HeaderClass::kForward;
}

bool namedInConnection(const HeaderList& headers, std::string_view name) {
    bool found = false;
    for (const auto& f : headers.fields()) {
        if (found || !iequals(f.name, "connection")) continue;
        forEachListElement(f.value, [&](std::string_view item) {
            if (iequals(item, name)) found = true;
        });
    }
    return found;
}

ConnectionTokens::ConnectionTokens(const HeaderList& headers) {
    for (const auto& f : headers.fields()) {
        if (f.name.size() != 10 || !iequals(f.name, "connection")) continue;
        forEachListElement(f.value, [&](std::string_view item) {
            if (count_ < kMax)
                tokens_[count_++] = item;
            else
                overflow_ = true;
        });
    }
}

bool ConnectionTokens::contains(std::string_view name) const {
    // A flood of Connection tokens is an attack or a bug: forward none of the named headers
    // rather than scanning without bound.
    if (overflow_) return true;
    for (size_t i = 0; i < count_; ++i)
        if (iequals(tokens_[i], name)) return true;
    return false;
}

bool connectionHas(const HeaderList& headers, std::string_view token) {
    return namedInConnection(headers, token);
}

}  // namespace gatehouse::http
