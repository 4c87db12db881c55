#include "core/money.h"

#include <cstdio>
#include <cstring>

#include "core/error.h"

namespace huibao {

Fen round_fen_ppm_half_up(__int128 fen_ppm) {
  HB_ASSERT(fen_ppm >= 0);
  return static_cast<Fen>((fen_ppm + limits::kRateScale / 2) / limits::kRateScale);
}

Fen apply_rate_half_up(Fen fen, Rate rate) {
  HB_ASSERT(fen >= 0 && rate.ppm >= 0);
  return round_fen_ppm_half_up(static_cast<__int128>(fen) * rate.ppm);
}

Fen add_checked(Fen a, Fen b) {
  Fen r;
  HB_ASSERT(!__builtin_add_overflow(a, b, &r));
  return r;
}

Fen sub_checked(Fen a, Fen b) {
  Fen r;
  HB_ASSERT(!__builtin_sub_overflow(a, b, &r));
  return r;
}

namespace {
inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Accumulates a digit into an int128 mantissa, saturating far above any legal
// amount so that huge inputs are reported as out of range, not wrapped.
constexpr __int128 kSaturate = static_cast<__int128>(1) << 100;
inline void push_digit(__int128* m, char c) {
  if (*m < kSaturate) *m = *m * 10 + (c - '0');
}
}  // namespace

AmountSyntax parse_json_number_fen(std::string_view s, Fen* out) {
  size_t i = 0, n = s.size();
  bool neg = false;
  if (i < n && s[i] == '-') neg = true, ++i;
  if (i >= n || !is_digit(s[i])) return AmountSyntax::kBadSyntax;
  // Integer part: JSON forbids leading zeros ("01").
  if (s[i] == '0' && i + 1 < n && is_digit(s[i + 1])) return AmountSyntax::kBadSyntax;
  __int128 mant = 0;
  int64_t scale = 0;  // value = mant * 10^-scale
  bool nonzero_tail = false;
  for (; i < n && is_digit(s[i]); ++i) push_digit(&mant, s[i]);
  if (i < n && s[i] == '.') {
    ++i;
    if (i >= n || !is_digit(s[i])) return AmountSyntax::kBadSyntax;
    for (; i < n && is_digit(s[i]); ++i) {
      // Keep up to 40 fractional digits exactly; beyond that only note nonzeros.
      if (scale < 40) {
        push_digit(&mant, s[i]);
        ++scale;
      } else if (s[i] != '0') {
        nonzero_tail = true;
      }
    }
  }
  int64_t exp = 0;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool eneg = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) eneg = s[i] == '-', ++i;
    if (i >= n || !is_digit(s[i])) return AmountSyntax::kBadSyntax;
    for (; i < n && is_digit(s[i]); ++i) {
      if (exp < 100000) exp = exp * 10 + (s[i] - '0');
    }
    if (eneg) exp = -exp;
  }
  if (i != n) return AmountSyntax::kBadSyntax;
  if (nonzero_tail) return AmountSyntax::kNotExactFen;
  if (mant == 0) {
    *out = 0;
    return AmountSyntax::kOk;
  }
  // fen = mant * 10^(exp - scale + 2); strip trailing zeros to stay exact.
  int64_t shift = exp - scale + 2;
  while (shift < 0 && mant % 10 == 0) mant /= 10, ++shift;
  if (shift < 0) return AmountSyntax::kNotExactFen;
  if (shift > 20) return AmountSyntax::kOutOfRange;
  for (int64_t k = 0; k < shift; ++k) {
    mant *= 10;
    if (mant > limits::kAmountFenMax) return AmountSyntax::kOutOfRange;
  }
  if (mant > limits::kAmountFenMax) return AmountSyntax::kOutOfRange;
  *out = neg ? -static_cast<Fen>(mant) : static_cast<Fen>(mant);
  return AmountSyntax::kOk;
}

AmountSyntax parse_decimal_string_fen(std::string_view s, Fen* out) {
  size_t i = 0, n = s.size();
  bool neg = false;
  if (i < n && s[i] == '-') neg = true, ++i;
  if (i >= n || !is_digit(s[i])) return AmountSyntax::kBadSyntax;
  __int128 mant = 0;
  for (; i < n && is_digit(s[i]); ++i) push_digit(&mant, s[i]);
  int frac = 0;
  if (i < n && s[i] == '.') {
    ++i;
    if (i >= n || !is_digit(s[i])) return AmountSyntax::kBadSyntax;
    for (; i < n && is_digit(s[i]); ++i) {
      if (frac == 2) return AmountSyntax::kBadSyntax;
      push_digit(&mant, s[i]);
      ++frac;
    }
  }
  if (i != n) return AmountSyntax::kBadSyntax;
  for (; frac < 2; ++frac) mant *= 10;
  if (mant > limits::kAmountFenMax) return AmountSyntax::kOutOfRange;
  *out = neg ? -static_cast<Fen>(mant) : static_cast<Fen>(mant);
  return AmountSyntax::kOk;
}

size_t format_fen(Fen fen, char* buf) {
  char tmp[24];
  size_t len = 0;
  // Work in unsigned to format INT64_MIN safely.
  uint64_t v = fen < 0 ? 0 - static_cast<uint64_t>(fen) : static_cast<uint64_t>(fen);
  tmp[len++] = static_cast<char>('0' + v % 10);
  v /= 10;
  tmp[len++] = static_cast<char>('0' + v % 10);
  v /= 10;
  tmp[len++] = '.';
  do {
    tmp[len++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  size_t o = 0;
  if (fen < 0) buf[o++] = '-';
  while (len > 0) buf[o++] = tmp[--len];
  return o;
}

std::string fen_to_string(Fen fen) {
  char buf[24];
  return std::string(buf, format_fen(fen, buf));
}

bool parse_percent(std::string_view s, Rate* out) {
  if (s.empty() || s.back() != '%') return false;
  s.remove_suffix(1);
  size_t i = 0, n = s.size();
  if (n == 0 || !is_digit(s[0])) return false;
  int64_t whole = 0;
  for (; i < n && is_digit(s[i]); ++i) {
    whole = whole * 10 + (s[i] - '0');
    if (whole > 100) return false;
  }
  int64_t frac = 0;
  int digits = 0;
  if (i < n && s[i] == '.') {
    ++i;
    if (i >= n) return false;
    for (; i < n && is_digit(s[i]); ++i) {
      if (digits == 4) return false;  // finer than 1 ppm
      frac = frac * 10 + (s[i] - '0');
      ++digits;
    }
  }
  if (i != n) return false;
  for (; digits < 4; ++digits) frac *= 10;
  int64_t ppm = whole * 10'000 + frac;
  if (ppm > limits::kRateScale) return false;
  out->ppm = ppm;
  return true;
}

std::string rate_to_string(Rate r) {
  std::string s = std::to_string(r.ppm / 10'000);
  int64_t frac = r.ppm % 10'000;
  if (frac != 0) {
    char buf[8];
    std::snprintf(buf, sizeof buf, ".%04lld", static_cast<long long>(frac));
    std::string f(buf);
    while (f.back() == '0') f.pop_back();
    s += f;
  }
  return s + "%";
}

}  // namespace huibao
