#include "upstream/target.h"

#include <Poco/Exception.h>

#include <charconv>

namespace gatehouse::upstream {

bool parseTargetAddress(const std::string& address, std::string* host, uint16_t* port) {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 >= address.size()) return false;
    std::string h = address.substr(0, colon);
    if (h.front() == '[') {
        if (h.back() != ']' || h.size() < 3) return false;
        h = h.substr(1, h.size() - 2);
    } else if (h.find(':') != std::string::npos) {
        return false;  // bare IPv6 needs brackets
    }
    unsigned p = 0;
    const char* first = address.data() + colon + 1;
    const char* last = address.data() + address.size();
    auto [ptr, ec] = std::from_chars(first, last, p);
    if (ec != std::errc() || ptr != last || p == 0 || p > 65535) return false;
    for (char c : h) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= ' ' || u >= 0x7f || c == '/' || c == '@' || c == '?' || c == '#') return false;
    }
    *host = h;
    *port = static_cast<uint16_t>(p);
    return true;
}

std::shared_ptr<TargetState> TargetRegistry::get(const std::string& upstreamName,
                                                 const std::string& address) {
    std::lock_guard lock(mutex_);
    const std::string key = upstreamName + '\n' + address;
    if (auto existing = targets_[key].lock()) return existing;

    auto t = std::make_shared<TargetState>();
    t->id = nextId_++;
    t->address = address;
    std::string host;
    uint16_t port = 0;
    if (!parseTargetAddress(address, &host, &port)) {
        t->resolveError = "malformed address";
    } else {
        t->hostHeader = port == 80 ? (address.front() == '[' ? "[" + host + "]" : host) : address;
        try {
            t->resolved = Poco::Net::SocketAddress(host, port);
            t->resolvedOk = true;
        } catch (const Poco::Exception& e) {
            t->resolveError = e.displayText();
        }
    }
    targets_[key] = t;
    // Forget entries whose targets are gone so the map does not grow with config churn.
    std::erase_if(targets_, [](const auto& kv) { return kv.second.expired(); });
    return t;
}

}  // namespace gatehouse::upstream
