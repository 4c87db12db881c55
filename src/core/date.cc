#include "core/date.h"

namespace huibao {
namespace {
// Howard Hinnant's days_from_civil / civil_from_days.
int32_t days_from_civil(int y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int>(doe) - 719468;
}

inline bool leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

inline int digit(char c) {
  return (c >= '0' && c <= '9') ? c - '0' : -1;
}

bool read_int(std::string_view s, size_t pos, size_t len, int* out) {
  int v = 0;
  for (size_t i = pos; i < pos + len; ++i) {
    int d = digit(s[i]);
    if (d < 0) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}
}  // namespace

bool is_real_date(int y, int m, int d) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1) return false;
  int dim = kDays[m - 1] + (m == 2 && leap(y) ? 1 : 0);
  return d <= dim;
}

Date date_from_ymd(int y, int m, int d) {
  return Date{days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d))};
}

void date_to_ymd(Date date, int* y, int* m, int* d) {
  int z = date.days + 719468;
  const int era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int yy = static_cast<int>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  *m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *y = yy + (*m <= 2);
}

bool parse_date(std::string_view s, Date* out) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  int y, m, d;
  if (!read_int(s, 0, 4, &y) || !read_int(s, 5, 2, &m) || !read_int(s, 8, 2, &d)) return false;
  if (!is_real_date(y, m, d)) return false;
  *out = date_from_ymd(y, m, d);
  return true;
}

bool parse_date_compact(std::string_view s, Date* out) {
  if (s.size() != 8) return false;
  int y, m, d;
  if (!read_int(s, 0, 4, &y) || !read_int(s, 4, 2, &m) || !read_int(s, 6, 2, &d)) return false;
  if (!is_real_date(y, m, d)) return false;
  *out = date_from_ymd(y, m, d);
  return true;
}

void format_date(Date date, char* b) {
  int y, m, d;
  date_to_ymd(date, &y, &m, &d);
  b[0] = static_cast<char>('0' + y / 1000 % 10);
  b[1] = static_cast<char>('0' + y / 100 % 10);
  b[2] = static_cast<char>('0' + y / 10 % 10);
  b[3] = static_cast<char>('0' + y % 10);
  b[4] = '-';
  b[5] = static_cast<char>('0' + m / 10);
  b[6] = static_cast<char>('0' + m % 10);
  b[7] = '-';
  b[8] = static_cast<char>('0' + d / 10);
  b[9] = static_cast<char>('0' + d % 10);
}

std::string date_to_string(Date date) {
  char b[10];
  format_date(date, b);
  return std::string(b, 10);
}

}  // namespace huibao
