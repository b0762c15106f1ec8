#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace gatehouse::net {

/// A contiguous byte buffer with a read position and a write position. Unlike std::string it
/// never zero-fills on growth, and consume() is O(1): the unread part is moved to the front
/// only when room is needed (compact), so offsets into unread data stay valid until then.
class ByteBuffer {
public:
    ByteBuffer() = default;
    explicit ByteBuffer(size_t capacity) { reserve(capacity); }
    ByteBuffer(ByteBuffer&&) noexcept = default;
    ByteBuffer& operator=(ByteBuffer&&) noexcept = default;
    ByteBuffer(const ByteBuffer&) = delete;
    ByteBuffer& operator=(const ByteBuffer&) = delete;

    const char* data() const { return data_.get() + begin_; }
    char* data() { return data_.get() + begin_; }
    size_t size() const { return end_ - begin_; }
    bool empty() const { return end_ == begin_; }
    size_t capacity() const { return capacity_; }
    std::string_view view() const { return {data(), size()}; }

    /// Base of the storage; offsets of unread data relative to it are stable until compact().
    const char* base() const { return data_.get(); }
    size_t readOffset() const { return begin_; }

    /// Makes room for at least n bytes after the write position and returns it.
    char* prepare(size_t n) {
        if (capacity_ - end_ < n) grow(n);
        return data_.get() + end_;
    }
    void commit(size_t n) { end_ += n; }
    size_t writable() const { return capacity_ - end_; }

    void append(const char* p, size_t n) {
        std::memcpy(prepare(n), p, n);
        end_ += n;
    }
    void append(std::string_view s) { append(s.data(), s.size()); }

    void consume(size_t n) {
        begin_ += n;
        if (begin_ == end_) begin_ = end_ = 0;
    }
    void clear() { begin_ = end_ = 0; }

    /// Moves unread bytes to the front. Invalidates offsets relative to base().
    void compact() {
        if (begin_ == 0) return;
        const size_t n = size();
        if (n) std::memmove(data_.get(), data_.get() + begin_, n);
        begin_ = 0;
        end_ = n;
    }

    void reserve(size_t cap) {
        if (cap <= capacity_) return;
        auto fresh = std::make_unique_for_overwrite<char[]>(cap);
        const size_t n = size();
        if (n) std::memcpy(fresh.get(), data(), n);
        data_ = std::move(fresh);
        capacity_ = cap;
        begin_ = 0;
        end_ = n;
    }

    /// Frees the storage of an empty buffer.
    void release() {
        if (!empty()) return;
        data_.reset();
        capacity_ = begin_ = end_ = 0;
    }
    /// Between requests: an empty buffer keeps storage up to `keep` bytes (so a keep-alive
    /// connection does not allocate per request) and gives back what a large body grew.
    void trim(size_t keep) {
        if (empty() && capacity_ > keep) release();
    }

private:
    void grow(size_t n) {
        // Reuse the consumed front before allocating.
        if (capacity_ - size() >= n) {
            compact();
            return;
        }
        size_t cap = capacity_ ? capacity_ : 4096;
        while (cap - size() < n)
            cap *= 2;
        reserve(cap);
    }

    std::unique_ptr<char[]> data_;
    size_t capacity_ = 0;
    size_t begin_ = 0;
    size_t end_ = 0;
};

}  // namespace gatehouse::net
