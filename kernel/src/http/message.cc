#include "http/message.h"

#include <algorithm>
#include <cstring>

#include "http/ascii.h"

namespace gatehouse::http {

std::optional<std::string_view> HeaderList::get(std::string_view name) const {
    for (const auto& f : fields_)
        if (iequals(f.name, name)) return f.value;
    return std::nullopt;
}

size_t HeaderList::count(std::string_view name) const {
    size_t n = 0;
    for (const auto& f : fields_)
        if (iequals(f.name, name)) ++n;
    return n;
}

std::string_view HeaderList::keep(std::string_view s) {
    if (!owned_) owned_ = std::make_unique<std::deque<std::string>>();
    owned_->emplace_back(s);
    return owned_->back();
}

void HeaderList::add(std::string_view name, std::string_view value) {
    std::string_view n = keep(name);
    fields_.push_back({n, keep(value)});
}

void HeaderList::set(std::string_view name, std::string_view value) {
    remove(name);
    add(name, value);
}

size_t HeaderList::remove(std::string_view name) {
    const auto before = fields_.size();
    std::erase_if(fields_, [&](const HeaderField& f) { return iequals(f.name, name); });
    return before - fields_.size();
}

void RawBytes::assign(const char* p, size_t n) {
    if (n > capacity_ || !data_) {
        capacity_ = n < 512 ? 512 : n;
        data_ = std::make_unique_for_overwrite<char[]>(capacity_);
    }
    if (n) std::memcpy(data_.get(), p, n);
    size_ = n;
}

}  // namespace gatehouse::http
