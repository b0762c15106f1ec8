#pragma once

#include <Poco/Net/IPAddress.h>

#include <optional>
#include <string>
#include <vector>

namespace gatehouse::net {

/// An address block ("10.0.0.0/8", "::1/128", or a single address).
class Cidr {
public:
    /// nullopt when malformed.
    static std::optional<Cidr> parse(const std::string& text);
    bool contains(const Poco::Net::IPAddress& addr) const;
    std::string toString() const;

private:
    Poco::Net::IPAddress base_;
    unsigned prefix_ = 0;
};

bool anyContains(const std::vector<Cidr>& blocks, const Poco::Net::IPAddress& addr);

}  // namespace gatehouse::net
