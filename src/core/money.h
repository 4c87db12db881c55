// Money is an integer count of fen (0.01 yuan). Rates are exact integers in
// parts per million. Every rounding is named and rounds half up; no binary
// floating point ever touches an amount.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "core/limits.h"

namespace huibao {

using Fen = int64_t;

// A rate in parts per million (90 % == 900'000). Always 0..kRateScale in plans.
struct Rate {
  int64_t ppm = 0;
  friend bool operator==(Rate, Rate) = default;
};

// round_half_up(fen * rate). fen must be >= 0.
Fen apply_rate_half_up(Fen fen, Rate rate);

// Half-up rounding of a value expressed in fen * ppm (used for exact
// piecewise-linear sums that are rounded once).
Fen round_fen_ppm_half_up(__int128 fen_ppm);

// Overflow-checked arithmetic: an overflow is a programmer error (inputs are
// bounded by limits::kAmountFenMax), so it asserts.
Fen add_checked(Fen a, Fen b);
Fen sub_checked(Fen a, Fen b);

enum class AmountSyntax : unsigned char { kOk, kBadSyntax, kNotExactFen, kOutOfRange };

// Parses a JSON number token ("12.340", "1e2", "-5") exactly into fen.
AmountSyntax parse_json_number_fen(std::string_view token, Fen* out);
// Parses the string form -?digits[.d[d]] into fen.
AmountSyntax parse_decimal_string_fen(std::string_view text, Fen* out);

// Writes fen as yuan with exactly two decimals ("1234.50", "-0.05").
// Returns the number of chars written; buf needs 24 bytes.
size_t format_fen(Fen fen, char* buf);
std::string fen_to_string(Fen fen);

// Parses a percentage such as "90%", "62.5%" or "0.0125%" exactly into ppm.
bool parse_percent(std::string_view text, Rate* out);
std::string rate_to_string(Rate rate);  // "62.5%"

}  // namespace huibao
