// The national/Shandong vocabulary of person categories (DOMAIN.md §2).
// Plans refer to categories by these names; a person's categories are a bit set.
#pragma once
#include <cstdint>
#include <string_view>
#include "core/limits.h"

namespace huibao {

using CategoryMask = uint32_t;

inline constexpr int kCategoryCount = 9;
static_assert(limits::kCategoriesPerPersonMax == kCategoryCount);

// Returns the category's bit index, or -1 when the name is not in the vocabulary.
int category_index(std::string_view name);
std::string_view category_name(int index);
// "poverty, instant_aid, ..." for error messages.
std::string_view category_vocabulary();

}  // namespace huibao
