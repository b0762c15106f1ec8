#include "net/cidr.h"

#include <arpa/inet.h>

#include <Poco/Exception.h>

#include <charconv>
#include <cstring>

namespace gatehouse::net {

std::optional<Cidr> Cidr::parse(const std::string& text) {
    const size_t slash = text.find('/');
    const std::string addr = text.substr(0, slash);
    Cidr c;
    // inet_pton, not IPAddress::tryParse: the latter uses inet_aton for IPv4, which reads
    // "010.0.0.0" as octal and accepts "10.1"; a typo in trusted_proxies must not silently
    // trust another network. inet_pton is also the one that parses "::".
    unsigned char raw[16];
    if (::inet_pton(AF_INET, addr.c_str(), raw) == 1)
        c.base_ = Poco::Net::IPAddress(raw, 4);
    else if (::inet_pton(AF_INET6, addr.c_str(), raw) == 1)
        c.base_ = Poco::Net::IPAddress(raw, 16);
    else
        return std::nullopt;
    const unsigned maxBits = c.base_.family() == Poco::Net::IPAddress::IPv4 ? 32 : 128;
    c.prefix_ = maxBits;
    if (slash != std::string::npos) {
        const char* first = text.data() + slash + 1;
        const char* last = text.data() + text.size();
        auto [ptr, ec] = std::from_chars(first, last, c.prefix_);
        if (ec != std::errc() || ptr != last || first == last || c.prefix_ > maxBits)
            return std::nullopt;
    }
    return c;
}

bool Cidr::contains(const Poco::Net::IPAddress& addr) const {
    Poco::Net::IPAddress a = addr;
    // An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d.
    if (a.family() == Poco::Net::IPAddress::IPv6 && base_.family() == Poco::Net::IPAddress::IPv4 &&
        a.isIPv4Mapped()) {
        const auto* raw = static_cast<const unsigned char*>(a.addr());
        a = Poco::Net::IPAddress(raw + 12, 4);
    }
    if (a.family() != base_.family()) return false;
    const auto* x = static_cast<const unsigned char*>(a.addr());
    const auto* y = static_cast<const unsigned char*>(base_.addr());
    unsigned bits = prefix_;
    for (unsigned i = 0; bits > 0; ++i) {
        const unsigned take = bits >= 8 ? 8 : bits;
        const auto mask = static_cast<unsigned char>(0xff << (8 - take));
        if ((x[i] & mask) != (y[i] & mask)) return false;
        bits -= take;
    }
    return true;
}

std::string Cidr::toString() const {
    return base_.toString() + "/" + std::to_string(prefix_);
}

bool anyContains(const std::vector<Cidr>& blocks, const Poco::Net::IPAddress& addr) {
    for (const auto& b : blocks)
        if (b.contains(addr)) return true;
    return false;
}

}  // namespace gatehouse::net
