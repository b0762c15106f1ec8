#pragma once

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <memory>
#include <utility>
#include <vector>

namespace gatehouse::config {

/// A list of entities that configuration documents share: copying a list copies pointers,
/// and an entity is copied only when one document edits it. A write that changes one route
/// of 10,000 therefore copies one route, and the snapshot it replaces keeps pointing at the
/// same, never-modified specs (the route table points into them).
///
/// Reading is by const reference only; changing an entity takes an explicit edit(i), so a
/// read through a non-const document can never copy an entity by accident. A list is a value:
/// one thread changes it at a time, and a published document is const, so its entities are
/// never edited in place (edit() copies anything another list still holds).
template <typename T>
class SharedList {
    using Items = std::vector<std::shared_ptr<const T>>;

public:
    class const_iterator {
    public:
        using iterator_category = std::random_access_iterator_tag;
        using value_type = T;
        using difference_type = std::ptrdiff_t;
        using pointer = const T*;
        using reference = const T&;

        const_iterator() = default;
        explicit const_iterator(typename Items::const_iterator it) : it_(it) {}

        reference operator*() const { return **it_; }
        pointer operator->() const { return it_->get(); }
        reference operator[](difference_type n) const { return *it_[n]; }
        const_iterator& operator++() { return ++it_, *this; }
        const_iterator operator++(int) { return const_iterator(it_++); }
        const_iterator& operator--() { return --it_, *this; }
        const_iterator operator--(int) { return const_iterator(it_--); }
        const_iterator& operator+=(difference_type n) { return it_ += n, *this; }
        const_iterator& operator-=(difference_type n) { return it_ -= n, *this; }
        friend const_iterator operator+(const_iterator a, difference_type n) { return a += n; }
        friend const_iterator operator+(difference_type n, const_iterator a) { return a += n; }
        friend const_iterator operator-(const_iterator a, difference_type n) { return a -= n; }
        friend difference_type operator-(const const_iterator& a, const const_iterator& b) {
            return a.it_ - b.it_;
        }
        friend bool operator==(const const_iterator& a, const const_iterator& b) = default;
        friend auto operator<=>(const const_iterator& a, const const_iterator& b) = default;

    private:
        friend class SharedList;
        typename Items::const_iterator it_;
    };
    using iterator = const_iterator;
    using value_type = T;
    using size_type = std::size_t;

    SharedList() = default;
    SharedList(std::initializer_list<T> items) {
        for (const auto& t : items)
            push_back(t);
    }

    size_t size() const { return items_.size(); }
    bool empty() const { return items_.empty(); }
    const_iterator begin() const { return const_iterator(items_.begin()); }
    const_iterator end() const { return const_iterator(items_.end()); }
    const T& operator[](size_t i) const { return *items_[i]; }

    /// The entity at `i`, copied first if another list shares it.
    T& edit(size_t i) {
        if (items_[i].use_count() != 1) items_[i] = std::make_shared<T>(*items_[i]);
        // Every element was created non-const by this class; only sharing makes it read-only.
        return const_cast<T&>(*items_[i]);
    }

    /// True when both lists hold the very same entity object: equal without comparing.
    bool sameAt(size_t i, const SharedList& other, size_t j) const {
        return items_[i] == other.items_[j];
    }

    const T& at(size_t i) const { return *items_.at(i); }
    void push_back(T t) { items_.push_back(std::make_shared<T>(std::move(t))); }
    void pop_back() { items_.pop_back(); }
    const_iterator insert(const_iterator at, T t) {
        return const_iterator(items_.insert(at.it_, std::make_shared<T>(std::move(t))));
    }
    void swapAt(size_t i, size_t j) { std::swap(items_[i], items_[j]); }
    void clear() { items_.clear(); }
    const_iterator erase(const_iterator it) { return const_iterator(items_.erase(it.it_)); }
    void replace(size_t i, T t) { items_[i] = std::make_shared<T>(std::move(t)); }
    template <typename Pred>
    void eraseIf(Pred pred) {
        std::erase_if(items_, [&](const auto& p) { return pred(*p); });
    }

    /// Stable sort by `less` over the entities (moves pointers, never entities).
    template <typename Less>
    void sortBy(Less less) {
        std::stable_sort(items_.begin(), items_.end(),
                         [&](const auto& a, const auto& b) { return less(*a, *b); });
    }

    friend bool operator==(const SharedList& a, const SharedList& b) {
        return std::equal(a.begin(), a.end(), b.begin(), b.end());
    }

private:
    Items items_;
};

}  // namespace gatehouse::config
