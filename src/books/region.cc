#include "books/region.h"

namespace huibao::books {
namespace {

bool digits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return !s.empty();
}

struct Named {
  std::string_view code, name;
};
// GB/T 2260 prefecture-level divisions of Shandong (3712 Laiwu was merged into
// Jinan in 2019; older rolls still carry its codes).
constexpr Named kNames[] = {
    {"370000", "山东省"}, {"370100", "济南市"}, {"370200", "青岛市"}, {"370300", "淄博市"},
    {"370400", "枣庄市"}, {"370500", "东营市"}, {"370600", "烟台市"}, {"370700", "潍坊市"},
    {"370800", "济宁市"}, {"370900", "泰安市"}, {"371000", "威海市"}, {"371100", "日照市"},
    {"371200", "莱芜市"}, {"371300", "临沂市"}, {"371400", "德州市"}, {"371500", "聊城市"},
    {"371600", "滨州市"}, {"371700", "菏泽市"},
};

}  // namespace

std::string city_of(std::string_view admdvs) {
  if (admdvs.size() != 6 || !digits(admdvs)) return "";
  return std::string(admdvs.substr(0, 4)) + "00";
}

std::string province_of(std::string_view admdvs) {
  if (admdvs.size() != 6 || !digits(admdvs)) return "";
  return std::string(admdvs.substr(0, 2)) + "0000";
}

bool is_city_code(std::string_view region) {
  return region.size() == 6 && digits(region) && region.substr(4) == "00" &&
         region.substr(2, 2) != "00";
}

std::string_view region_name(std::string_view region) {
  for (const Named& n : kNames) {
    if (n.code == region) return n.name;
  }
  return "";
}

}  // namespace huibao::books
