// The batch `settle` job: claims.jsonl in, results.jsonl out (DOMAIN.md §6).
// Three phases, each spread over the available cores:
//   1. stream the claims file in blocks and parse/check every line (checks 1-7);
//   2. mark duplicate setl_ids in input order, group claims by person, order
//      each person's claims by (begndate, enddate, setl_id) and settle them;
//   3. write one result per input record, in input order.
// Memory holds one compact record per claim, never the file itself.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "policy/plan.h"
#include "policy/roll.h"

namespace huibao {

struct BatchOptions {
  std::string claims_path;
  std::string out_path;
  bool explain = true;
  int threads = 0;        // 0: one per core
  bool progress = false;  // progress lines on stderr
};

struct BatchSummary {
  uint64_t records = 0;
  uint64_t settled = 0;
  uint64_t settled_accident = 0;
  std::array<uint64_t, 16> rejected{};  // by Code
  std::vector<__int128> layer_total;    // by plan layer
  __int128 accident_total = 0;
  __int128 medfee_sumamt = 0, inscp_scp_amt = 0;
  __int128 fund_pay_sumamt = 0, hosp_part_amt = 0, psn_part_amt = 0;
};

Status run_settle_batch(const Plan& plan, const Roll& roll, const BatchOptions& options,
                        BatchSummary* summary);

// The end-of-run report: records, settled, rejected by code, total per layer,
// and the overall reimbursement ratio of the policy-range cost.
std::string format_summary(const Plan& plan, const BatchSummary& s);

// Exact "12,345.67"-free decimal for 128-bit fen totals ("123456.78").
std::string fen128_to_string(__int128 fen);

}  // namespace huibao
