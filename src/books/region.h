// Regions of the books and reports: a city is the 6-digit division code of
// its prefecture ('370200' Qingdao), the first four digits of a person's
// admdvs followed by '00'; the province is the first two followed by '0000'
// ('370000'), all its cities together.
#pragma once
#include <string>
#include <string_view>

namespace huibao::books {

// "370203" -> "370200"; "" when admdvs is not six digits.
std::string city_of(std::string_view admdvs);
// "370203" -> "370000".
std::string province_of(std::string_view admdvs);
// True for a 6-digit code ending in "00" whose prefecture part is not "00".
bool is_city_code(std::string_view region);
// The name of a Shandong city or of the province ("青岛市", "山东省"); "" when unknown.
std::string_view region_name(std::string_view region);

}  // namespace huibao::books
