#include "core/resident_id.h"

namespace huibao {
namespace {
constexpr int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
constexpr char kCheck[] = "10X98765432";
inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
}  // namespace

char resident_id_check_char(std::string_view first17) {
  int sum = 0;
  for (int i = 0; i < 17; ++i) sum += (first17[i] - '0') * kWeights[i];
  return kCheck[sum % 11];
}

bool resident_id_checksum_ok(std::string_view id) {
  if (id.size() != 18) return false;
  for (int i = 0; i < 17; ++i) {
    if (!is_digit(id[i])) return false;
  }
  char last = id[17];
  if (!is_digit(last) && last != 'X') return false;
  return resident_id_check_char(id) == last;
}

bool resident_id_birth_date(std::string_view id, Date* out) {
  if (id.size() != 18) return false;
  return parse_date_compact(id.substr(6, 8), out);
}

char resident_id_gender(std::string_view id) {
  return ((id[16] - '0') % 2 == 1) ? 'M' : 'F';
}

bool is_shandong_admdvs(std::string_view c) {
  if (c.size() != 6) return false;
  for (char ch : c) {
    if (!is_digit(ch)) return false;
  }
  if (c[0] != '3' || c[1] != '7') return false;
  int city = (c[2] - '0') * 10 + (c[3] - '0');
  return city >= 1 && city <= 17;
}

void mask_resident_id(std::string_view id, char* out) {
  for (size_t i = 0; i < 18; ++i) {
    char c = i < id.size() ? id[i] : '*';
    out[i] = (i < 4 || i >= 14) ? c : '*';
  }
}

}  // namespace huibao
