#include "config/shared_list.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace gatehouse::config {
namespace {

struct Item {
    std::string name;
    int value = 0;
    bool operator==(const Item&) const = default;
};

TEST(SharedList, CopiesShareEveryEntity) {
    SharedList<Item> a{{"x", 1}, {"y", 2}};
    const SharedList<Item> b = a;
    ASSERT_EQ(b.size(), 2u);
    EXPECT_TRUE(a.sameAt(0, b, 0));
    EXPECT_TRUE(a.sameAt(1, b, 1));
    EXPECT_FALSE(a.sameAt(0, b, 1));
    EXPECT_EQ(&a[1], &b[1]) << "a copy points at the same objects";
}

TEST(SharedList, EditCopiesOnlyTheEditedEntityAndOnlyWhenShared) {
    SharedList<Item> a{{"x", 1}, {"y", 2}};
    const SharedList<Item> b = a;
    const Item* before = &a[0];
    a.edit(0).value = 10;
    EXPECT_EQ(a[0].value, 10);
    EXPECT_EQ(b[0].value, 1) << "the other list never sees the edit";
    EXPECT_NE(&a[0], before);
    EXPECT_FALSE(a.sameAt(0, b, 0));
    EXPECT_TRUE(a.sameAt(1, b, 1)) << "the untouched entity stays shared";

    const Item* own = &a[0];
    a.edit(0).value = 11;  // no longer shared: edited in place
    EXPECT_EQ(&a[0], own);
    EXPECT_EQ(a[0].value, 11);
}

TEST(SharedList, ReplaceEraseInsertAndSortMovePointersNotEntities) {
    SharedList<Item> a{{"c", 3}, {"a", 1}, {"b", 2}};
    const SharedList<Item> original = a;
    a.sortBy([](const Item& l, const Item& r) { return l.name < r.name; });
    EXPECT_EQ(a[0].name, "a");
    EXPECT_EQ(a[2].name, "c");
    EXPECT_EQ(&a[0], &original[1]);
    EXPECT_EQ(original[0].name, "c") << "sorting one list leaves its copies in their order";

    a.replace(1, {"b", 20});
    EXPECT_EQ(original[2].value, 2);
    a.erase(a.begin());
    a.insert(a.begin() + 1, {"bb", 5});
    a.eraseIf([](const Item& i) { return i.name == "c"; });
    ASSERT_EQ(a.size(), 2u);
    EXPECT_EQ(a[0], (Item{"b", 20}));
    EXPECT_EQ(a[1], (Item{"bb", 5}));
    EXPECT_EQ(original.size(), 3u);
}

TEST(SharedList, IteratesInOrderWithStandardAlgorithms) {
    SharedList<Item> a{{"x", 1}, {"y", 2}, {"z", 3}};
    const auto it = std::find_if(a.begin(), a.end(), [](const Item& i) { return i.value == 2; });
    ASSERT_NE(it, a.end());
    EXPECT_EQ(it->name, "y");
    EXPECT_EQ(it - a.begin(), 1);
    int sum = 0;
    for (const auto& i : a)
        sum += i.value;
    EXPECT_EQ(sum, 6);
    EXPECT_EQ(a, (SharedList<Item>{{"x", 1}, {"y", 2}, {"z", 3}}));
    EXPECT_FALSE(a == (SharedList<Item>{{"x", 1}}));
}

}  // namespace
}  // namespace gatehouse::config
