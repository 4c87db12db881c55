// The year-end rules of a book, without the store: the figures a book's
// balances give, what the plan's [fund] rules make of them (FundRules), and
// exact ratios. Every rounding is named: half up to the fen.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "core/money.h"
#include "policy/plan.h"

namespace huibao::books {

// One book's year, from its balances (accounts.h).
struct BookFigures {
  Fen premium_income = 0;  // net of refunds, every payer
  Fen transfer_in = 0, transfer_out = 0;
  Fen carry_over_in = 0;  // last year's surplus, used as premium subsidy
  Fen claims = 0;         // net of reversals and adjustments, every insurer layer
  Fen operating_cost = 0, platform_fee = 0;

  // What the year had to pay claims with.
  Fen earned_premium() const;
};

enum class LossBand : uint8_t {
  kNoPremium,     // nothing earned: no ratio, no adjustment
  kBelowFloor,    // claims < floor x earned premium
  kWithin,        // between the floor and the ceiling (or no rule applies)
  kAboveCeiling,  // claims > ceiling x earned premium
};
std::string_view loss_band_name(LossBand b);

struct YearEndOutcome {
  LossBand band = LossBand::kNoPremium;
  Fen floor_claims = 0;  // round_half_up(floor x earned premium)
  Fen shortfall = 0;     // floor_claims - claims, below the floor: carried over or returned
  Fen ceiling_claims = 0;
  Fen excess_loss = 0;       // claims - ceiling_claims, above the ceiling
  Fen government_share = 0;  // round_half_up(share x excess_loss)
  Fen insurer_share = 0;     // the rest of the excess
  bool cost_cap_applies = false;
  Fen cost_cap = 0;            // round_half_up(cap x earned premium)
  bool cost_over_cap = false;  // operating cost + platform fees above it
};

YearEndOutcome year_end_outcome(const BookFigures& f, const FundRules& rules);

// num / den as a percentage rounded half up to `decimals` places ("81.25%");
// "" when den is 0. Exact: integer arithmetic only.
std::string percent_half_up(__int128 num, __int128 den, int decimals = 2);
// num / den < rate, exactly (den > 0).
bool ratio_below(__int128 num, __int128 den, Rate rate);
bool ratio_above(__int128 num, __int128 den, Rate rate);

}  // namespace huibao::books
