// How a settlement's layers and its answer sit in its settlements row
// (migration 0005). The one place that writes and reads settlements.layers
// and knows when result_json may be NULL.
//
// settlements.layers is a JSON object of what each layer paid, in fen, e.g.
// {"basic":1630767,"extra":0}. Two kinds of row:
//   - a settle row whose answer is the plain result (no explanation): its
//     result_json is NULL and layers lists every layer of its plan version
//     in plan order, zeros too (an accident: {"accident":<paid>}); the answer
//     is derived from the row (stored_result) byte for byte as it was given;
//   - every other row (an explained answer, a reversal, an adjustment, a row
//     from before 0005): result_json is stored and layers lists the layers
//     that paid (reversal and adjustment rows: the differences), any order.
// The settlement_layers view unpacks the column into (setl_id, layer,
// amount_fen) rows, the non-zero amounts only.
#pragma once
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/money.h"
#include "policy/plan.h"
#include "store/db.h"

namespace huibao {

// Writes the layers column of settle rows of one plan.
class LayersEncoder {
 public:
  explicit LayersEncoder(const Plan& plan);
  // Every layer of the plan with its pay (plan.layers.size() values), into
  // *out (replaced; its capacity is kept).
  void medical(const Fen* pay, std::string* out) const;
  // An accident claim's one layer.
  static void accident(Fen paid, std::string* out);

 private:
  std::vector<std::string> keys_;  // `"hifp":`, with a leading comma after the first
};

// The layers column of a reversal or adjustment: the non-zero amounts.
std::string layers_column(const std::map<std::string, Fen>& amounts);

// Reads a layers column into (layer, fen) pairs in the order written.
Status parse_layers_column(std::string_view text, std::vector<std::pair<std::string, Fen>>* out);

// The columns stored_result reads, in this order, for a query that names
// the settlements row `s`.
inline constexpr std::string_view kStoredResultColumns =
    "s.result_json, s.setl_id, s.psn_no, s.claim_kind, s.medfee_sumamt, s.inscp_scp_amt, "
    "s.fund_pay_sumamt, s.hosp_part_amt, s.layers";
inline constexpr int kStoredResultColumnCount = 9;

// The answer stored for the settlement in the current row of st, whose
// kStoredResultColumns begin at column first: result_json, or where that is
// NULL the plain result line (no newline) the row determines.
Result<std::string> stored_result(const store::Stmt& st, int first);

}  // namespace huibao
