#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::http {

struct HeaderField {
    std::string_view name;
    std::string_view value;
};

/// Header fields in arrival order. Names and values are views into storage the owning
/// message keeps alive: the copied wire bytes, or strings added later (kept in a deque, whose
/// elements never move). Lookup is a linear case-insensitive scan: requests carry ~10-20
/// fields, where a scan beats hashing.
class HeaderList {
public:
    const std::vector<HeaderField>& fields() const { return fields_; }
    size_t size() const { return fields_.size(); }

    std::optional<std::string_view> get(std::string_view name) const;
    size_t count(std::string_view name) const;

    /// Appends a field that refers to storage the owner already keeps (wire bytes).
    void addView(std::string_view name, std::string_view value) {
        fields_.push_back({name, value});
    }
    /// Copies name and value.
    void add(std::string_view name, std::string_view value);
    /// Removes every field with that name, then adds one.
    void set(std::string_view name, std::string_view value);
    size_t remove(std::string_view name);
    void clear() {
        fields_.clear();
        if (owned_) owned_->clear();
    }

private:
    std::string_view keep(std::string_view s);

    std::vector<HeaderField> fields_;
    // Created on first use: a default-constructed std::deque allocates (libstdc++), and most
    // messages never get a header added after parsing.
    std::unique_ptr<std::deque<std::string>> owned_;
};

/// Bytes copied from the wire, kept at a stable address (views point into them).
class RawBytes {
public:
    /// Copies; reuses the storage when it is large enough (messages of a connection are
    /// about the same size, so this allocates once per connection, not per request).
    void assign(const char* p, size_t n);
    std::string_view view(uint32_t off, uint32_t len) const { return {data_.get() + off, len}; }
    size_t size() const { return size_; }

private:
    std::unique_ptr<char[]> data_;
    size_t size_ = 0;
    size_t capacity_ = 0;
};

enum class Framing : uint8_t {
    kNone,      // no body
    kLength,    // Content-Length
    kChunked,   // Transfer-Encoding: chunked
    kUntilEof,  // responses only: body ends when the connection closes
};

struct RequestHead {
    RawBytes raw;
    HeaderList headers;
    uint8_t method = 0;  // llhttp_method_t
    std::string_view methodName;
    std::string_view target;  // request-target as received
    std::string path;         // normalized (http/path.h); what routing, plugins and upstream see
    std::string_view query;   // without '?', may be empty
    std::string host;         // lowercase, port stripped
    std::string_view hostHeader;  // as received (or the authority of an absolute-form target)
    uint8_t versionMajor = 1;
    uint8_t versionMinor = 1;
    Framing framing = Framing::kNone;
    uint64_t contentLength = 0;
    bool keepAlive = true;
    bool expectContinue = false;

    bool hasBody() const {
        return framing == Framing::kChunked || (framing == Framing::kLength && contentLength > 0);
    }
};

struct ResponseHead {
    RawBytes raw;
    HeaderList headers;
    int status = 0;
    std::string_view reason;
    uint8_t versionMajor = 1;
    uint8_t versionMinor = 1;
    Framing framing = Framing::kNone;
    uint64_t contentLength = 0;
    bool keepAlive = true;
};

}  // namespace gatehouse::http
