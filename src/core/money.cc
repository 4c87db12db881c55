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
  const size_t int_begin = i;
  {
    // Fast path, the common shape: up to 16 integer digits and at most two decimals.
    size_t k = i;
    int64_t v = 0;
    for (; k < n && k - i < 16 && is_digit(s[k]); ++k) v = v * 10 + (s[k] - '0');
    int frac = 0;
    if (k < n && s[k] == '.') {
      for (++k; k < n && frac < 2 && is_digit(s[k]); ++k, ++frac) v = v * 10 + (s[k] - '0');
      if (frac == 0) return AmountSyntax::kBadSyntax;
    }
    if (k == n) {
      for (; frac < 2; ++frac) v *= 10;
      if (v > limits::kAmountFenMax) return AmountSyntax::kOutOfRange;
      *out = neg ? -v : v;
      return AmountSyntax::kOk;
    }
  }
  for (; i < n && is_digit(s[i]); ++i) {
  }
  const size_t int_end = i;
  size_t frac_begin = i, frac_end = i;
  if (i < n && s[i] == '.') {
    ++i;
    frac_begin = i;
    for (; i < n && is_digit(s[i]); ++i) {
    }
    frac_end = i;
    if (frac_begin == frac_end) return AmountSyntax::kBadSyntax;
  }
  int64_t exp = 0;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool eneg = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) eneg = s[i] == '-', ++i;
    if (i >= n || !is_digit(s[i])) return AmountSyntax::kBadSyntax;
    for (; i < n && is_digit(s[i]); ++i) {
      if (exp < 1'000'000'000) exp = exp * 10 + (s[i] - '0');  // saturates far out of range
    }
    if (eneg) exp = -exp;
  }
  if (i != n) return AmountSyntax::kBadSyntax;
  // The value is D * 10^e where D is the run of significant digits (leading
  // and trailing zeros stripped); only its length and the position of its
  // last digit decide exactness and range, however many digits were written.
  auto digit_at = [&](size_t k) {  // k-th digit of integer part then fraction
    size_t in_int = int_end - int_begin;
    return k < in_int ? s[int_begin + k] : s[frac_begin + (k - in_int)];
  };
  size_t total = (int_end - int_begin) + (frac_end - frac_begin);
  size_t first = 0, last = total;  // significant digits are [first, last)
  while (first < total && digit_at(first) == '0') ++first;
  if (first == total) {
    *out = 0;
    return AmountSyntax::kOk;
  }
  while (digit_at(last - 1) == '0') --last;
  // Exponent of D's last digit, in fen: fen = D * 10^shift.
  int64_t trailing = int64_t(total - last);
  int64_t shift = exp - int64_t(frac_end - frac_begin) + trailing + 2;
  if (shift < 0) return AmountSyntax::kNotExactFen;
  int64_t digits = int64_t(last - first) + shift;  // digits of the amount in fen
  if (digits > 19) return AmountSyntax::kOutOfRange;
  __int128 mant = 0;
  for (size_t k = first; k < last; ++k) mant = mant * 10 + (digit_at(k) - '0');
  for (int64_t k = 0; k < shift; ++k) mant *= 10;
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
  static constexpr char kPairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  // Work in unsigned to format INT64_MIN safely; write backwards.
  uint64_t v = fen < 0 ? 0 - static_cast<uint64_t>(fen) : static_cast<uint64_t>(fen);
  char tmp[24];
  char* const end = tmp + sizeof tmp;
  char* p = end - 2;
  std::memcpy(p, kPairs + 2 * (v % 100), 2);
  *--p = '.';
  uint64_t yuan = v / 100;
  while (yuan >= 100) {
    p -= 2;
    std::memcpy(p, kPairs + 2 * (yuan % 100), 2);
    yuan /= 100;
  }
  if (yuan >= 10) {
    p -= 2;
    std::memcpy(p, kPairs + 2 * yuan, 2);
  } else {
    *--p = static_cast<char>('0' + yuan);
  }
  if (fen < 0) *--p = '-';
  size_t n = size_t(end - p);
  std::memcpy(buf, p, n);
  return n;
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
