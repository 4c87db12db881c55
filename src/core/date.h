// Calendar dates as a day count since 1970-01-01 (proleptic Gregorian).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace huibao {

struct Date {
  int32_t days = 0;
  friend auto operator<=>(Date, Date) = default;
};

Date date_from_ymd(int y, int m, int d);  // caller guarantees a real date
void date_to_ymd(Date date, int* y, int* m, int* d);
bool is_real_date(int y, int m, int d);

// Strict "YYYY-MM-DD" with a real calendar date; false otherwise.
bool parse_date(std::string_view text, Date* out);
// Strict "YYYYMMDD" (the form embedded in resident ids).
bool parse_date_compact(std::string_view text, Date* out);
std::string date_to_string(Date date);
void format_date(Date date, char* buf10);

}  // namespace huibao
