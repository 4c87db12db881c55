// How a settlement's layers and its answer sit in its settlements row
// (migration 0005). The one place that writes and reads settlements.layers
// and knows when result_json may be NULL.
//
// settlements.layers is a JSON object of what the layers that paid paid, in
// fen, in plan order: e.g. {"basic":1630767}; a layer that paid nothing is
// left out ({} when none paid). An accident claim's layer is "accident".
// Reversal and adjustment rows list the differences they make.
//
// result_json is NULL for a settle row whose answer is the plain result (no
// explanation): the answer is derived from the row and its plan version's
// layer list (stored_result) byte for byte as it was given. Every other row
// (an explained answer, a reversal, an adjustment) stores its answer.
//
// The settlement_layers view unpacks the column into (setl_id, layer,
// amount_fen) rows.
#pragma once
#include <map>
#include <mutex>
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
  // The layers of the plan that paid (pay: plan.layers.size() values), into
  // *out (replaced; its capacity is kept).
  void medical(const Fen* pay, std::string* out) const;
  // An accident claim's one layer.
  static void accident(Fen paid, std::string* out);

 private:
  std::vector<std::string> keys_;  // `"basic":`
};

// The layers column of a reversal or adjustment: the non-zero amounts.
std::string layers_column(const std::map<std::string, Fen>& amounts);

// Reads a layers column into (layer, fen) pairs in the order written.
Status parse_layers_column(std::string_view text, std::vector<std::pair<std::string, Fen>>* out);

// The layer ids of a stored plan version in plan order, read from its TOML
// text in plan_versions (empty when there is no such version or its text
// cannot be read).
Result<std::vector<std::string>> plan_layer_order(store::Db& db, std::string_view plan_id,
                                                  int64_t version);

// The layer ids of stored plan versions, read once per version (a version's
// text never changes). Safe to share between threads.
class PlanLayers {
 public:
  Result<const std::vector<std::string>*> of(store::Db& db, std::string_view plan_id,
                                             int64_t version);

 private:
  std::mutex mu_;
  std::map<std::pair<std::string, int64_t>, std::vector<std::string>> known_;
};

// The columns stored_result reads, in this order, for a query that names
// the settlements row `s`.
inline constexpr std::string_view kStoredResultColumns =
    "s.result_json, s.setl_id, s.psn_no, s.claim_kind, s.medfee_sumamt, s.inscp_scp_amt, "
    "s.fund_pay_sumamt, s.hosp_part_amt, s.layers, s.plan_id, s.plan_version";

// The answer stored for the settlement in the current row of st (a query on
// db), whose kStoredResultColumns begin at column first: result_json, or
// where that is NULL the plain result line (no newline) the row determines.
Result<std::string> stored_result(store::Db& db, const store::Stmt& st, int first,
                                  PlanLayers* plans);

}  // namespace huibao
