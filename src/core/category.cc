#include "core/category.h"

#include <array>

namespace huibao {
namespace {
constexpr std::array<std::string_view, kCategoryCount> kNames = {
    "poverty", "instant_aid",      "tekun", "dibao", "dibao_edge", "monitor", "severe_disability",
    "orphan",  "unsupported_child"};
}  // namespace

int category_index(std::string_view name) {
  for (int i = 0; i < kCategoryCount; ++i) {
    if (kNames[i] == name) return i;
  }
  return -1;
}

std::string_view category_name(int index) {
  return kNames[static_cast<size_t>(index)];
}

std::string_view category_vocabulary() {
  return "poverty, instant_aid, tekun, dibao, dibao_edge, monitor, severe_disability, orphan, "
         "unsupported_child";
}

}  // namespace huibao
