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
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "policy/plan.h"
#include "policy/roll.h"
#include "settle/engine.h"

namespace huibao {

struct BatchOptions {
  std::string claims_path;
  std::string out_path;
  bool explain = true;
  int threads = 0;        // 0: one per core
  bool progress = false;  // progress lines on stderr
  bool keep_raw = false;  // keep each settleable input line (BatchJob::raw_line)
};

struct BatchSummary {
  uint64_t records = 0;
  uint64_t settled = 0;
  uint64_t replayed = 0;  // answered with a stored result (BatchJob::replay), not in the totals
  uint64_t settled_accident = 0;
  std::array<uint64_t, 16> rejected{};  // by Code
  std::vector<__int128> layer_total;    // by plan layer
  __int128 accident_total = 0;
  __int128 medfee_sumamt = 0, inscp_scp_amt = 0;
  __int128 fund_pay_sumamt = 0, hosp_part_amt = 0, psn_part_amt = 0;
};

Status run_settle_batch(const Plan& plan, const Roll& roll, const BatchOptions& options,
                        BatchSummary* summary);

// The same job in its phases, for callers that settle against stored state
// (the service layer): they may answer some records from the store, start
// persons from stored year states, and keep what was settled.
class BatchJob {
 public:
  BatchJob(const Plan& plan, const Roll& roll, const BatchOptions& options);
  ~BatchJob();

  // 1. Reads the claims file and applies checks 1-8.
  Status parse();
  size_t size() const;  // records
  bool settleable(uint32_t i) const;
  std::string_view setl_id(uint32_t i) const;
  std::string_view raw_line(uint32_t i) const;  // options.keep_raw; settleable records
  uint32_t person(uint32_t i) const;            // settleable records
  // Answers record i with a stored result line instead of settling it.
  void replay(uint32_t i, std::string line);
  // Rejects a settleable record i (e.g. a stored setl_id with other content).
  void reject(uint32_t i, Code code, std::string message);

  // 2. Settles every settleable record; initial(person), when given, is the
  // person's year state before their first claim here (it is also asked
  // again when explanations are written; it must be thread-safe).
  using InitialState = std::function<YearState(uint32_t person)>;
  void settle(InitialState initial = {});
  // After settle(): each person with claims settled here, in person order,
  // with those records in claim order (a given_exceeds_base one included:
  // check code()) and the year state after them.
  void for_each_person(
      const std::function<void(uint32_t person, const uint32_t* records, size_t count,
                               const YearState& final_state)>& f) const;
  Code code(uint32_t i) const;
  Fen pay(uint32_t i, size_t layer) const;  // accident: layer 0
  // The record's result line (no explanation, no newline), as written.
  std::string result_line(uint32_t i) const;
  bool accident(uint32_t i) const;
  // medfee_sumamt and inscp_scp_amt as the result states them (an accident:
  // its medical amount for a medical outcome, else 0; and 0).
  Fen medfee_sumamt(uint32_t i) const;
  Fen inscp_scp_amt(uint32_t i) const;  // accident: [0] medical, [1] disaster
  Date begndate(uint32_t i) const;
  int med_type(uint32_t i) const;
  // An accident record's case: outcome, disability grade (0 unless a
  // disability), cause, and the disaster insurance's payment.
  AccidentOutcome outcome(uint32_t i) const;
  int disability_grade(uint32_t i) const;
  std::string_view cause(uint32_t i) const;
  Fen disaster_paid(uint32_t i) const;
  std::string_view fixmedins_code(uint32_t i) const;  // medical, with keep_raw
  Date enddate(uint32_t i) const;

  // 3. Writes results.jsonl in input order and fills the summary.
  Status write(BatchSummary* summary);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The end-of-run report: records, settled, rejected by code, total per layer,
// and the overall reimbursement ratio of the policy-range cost.
std::string format_summary(const Plan& plan, const BatchSummary& s);

// Exact "12,345.67"-free decimal for 128-bit fen totals ("123456.78").
std::string fen128_to_string(__int128 fen);

}  // namespace huibao
