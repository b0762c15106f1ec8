#pragma once

#include <ctime>
#include <string_view>

namespace gatehouse::proxy {

/// IMF-fixdate for the Date header, formatted at most once per second per worker.
class HttpDate {
public:
    std::string_view now() {
        const std::time_t t = std::time(nullptr);
        if (t != last_) {
            last_ = t;
            std::tm tm{};
            gmtime_r(&t, &tm);
            len_ = std::strftime(buf_, sizeof buf_, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        }
        return {buf_, len_};
    }

private:
    std::time_t last_ = 0;
    char buf_[40] = {};
    size_t len_ = 0;
};

}  // namespace gatehouse::proxy
