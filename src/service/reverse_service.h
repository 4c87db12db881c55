// Reversal of a stored settlement (like the national 2305), in one
// transaction:
// - a 'reversal' row takes back what the settlement pays now (its own
//   amounts plus any adjustments to it), layer by layer;
// - the person's other settlements of that plan year are settled again from
//   a zero year state in claim order (admission, discharge, setl_id), and each
//   whose layers come out different gets an 'adjustment' row with the
//   difference (and its result as it now stands);
// - the person's year state is replaced by the result of that replay.
// A settlement is reversed at most once; the plan file must be the version
// the settlement was made under. Asked again with the same reversal id, the
// stored reversal is reported (replayed); a reversal id (or an adjustment id
// it derives, "<id>.N") that is already another row's setl_id is refused
// with kDuplicateSetlId.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/money.h"
#include "policy/plan.h"
#include "store/db.h"

namespace huibao {

struct Adjustment {
  std::string setl_id;         // the adjustment row
  std::string adjusts;         // the settlement it corrects
  std::string fixmedins_code;  // the institution of that settlement
  Fen fund_pay_delta = 0;      // funds' payment difference
  Fen hosp_part_delta = 0;     // hospital part difference
};

struct ReversalReport {
  std::string reversal_id;
  std::string psn_no;
  Fen fund_pay_reversed = 0;  // taken back from the funds
  Fen hosp_part_reversed = 0;
  std::vector<Adjustment> adjustments;
  size_t resettled = 0;   // the person's other settlements replayed
  bool replayed = false;  // this reversal was already stored: the stored report
};

Result<ReversalReport> reverse_settlement(store::Db& db, const Plan& plan,
                                          std::string_view plan_text, std::string_view setl_id,
                                          std::string_view reversal_id, std::string_view actor);

}  // namespace huibao
