#include "books/rules.h"

namespace huibao::books {

Fen BookFigures::earned_premium() const {
  return add_checked(sub_checked(add_checked(premium_income, transfer_in), transfer_out),
                     carry_over_in);
}

std::string_view loss_band_name(LossBand b) {
  switch (b) {
    case LossBand::kNoPremium:
      return "no_premium";
    case LossBand::kBelowFloor:
      return "below_floor";
    case LossBand::kWithin:
      return "within";
    case LossBand::kAboveCeiling:
      return "above_ceiling";
  }
  return "";
}

bool ratio_below(__int128 num, __int128 den, Rate rate) {
  return num * limits::kRateScale < __int128(rate.ppm) * den;
}

bool ratio_above(__int128 num, __int128 den, Rate rate) {
  return num * limits::kRateScale > __int128(rate.ppm) * den;
}

YearEndOutcome year_end_outcome(const BookFigures& f, const FundRules& rules) {
  YearEndOutcome o;
  const Fen earned = f.earned_premium();
  if (earned <= 0) return o;
  o.band = LossBand::kWithin;
  if (rules.loss_ratio_floor.ppm > 0) {
    o.floor_claims = apply_rate_half_up(earned, rules.loss_ratio_floor);
    if (f.claims < o.floor_claims) {
      o.band = LossBand::kBelowFloor;
      o.shortfall = o.floor_claims - f.claims;
    }
  }
  if (rules.has_ceiling) {
    o.ceiling_claims = apply_rate_half_up(earned, rules.loss_ratio_ceiling);
    if (f.claims > o.ceiling_claims) {
      o.band = LossBand::kAboveCeiling;
      o.excess_loss = f.claims - o.ceiling_claims;
      o.government_share = apply_rate_half_up(o.excess_loss, rules.loss_share_government);
      o.insurer_share = o.excess_loss - o.government_share;
    }
  }
  if (rules.has_operating_cost_cap) {
    o.cost_cap_applies = true;
    o.cost_cap = apply_rate_half_up(earned, rules.operating_cost_cap);
    o.cost_over_cap = add_checked(f.operating_cost, f.platform_fee) > o.cost_cap;
  }
  return o;
}

std::string percent_half_up(__int128 num, __int128 den, int decimals) {
  if (den == 0) return "";
  if (den < 0) num = -num, den = -den;
  const bool negative = num < 0;
  if (negative) num = -num;
  __int128 scale = 100;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  const __int128 q = (num * scale * 2 + den) / (den * 2);  // half up
  __int128 unit = 1;
  for (int i = 0; i < decimals; ++i) unit *= 10;
  std::string s = std::to_string(int64_t(q / unit));
  if (decimals > 0) {
    std::string frac = std::to_string(int64_t(q % unit));
    s += "." + std::string(size_t(decimals) - frac.size(), '0') + frac;
  }
  if (negative && q != 0) s = "-" + s;
  return s + "%";
}

}  // namespace huibao::books
