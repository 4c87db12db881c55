// The supervision reports, for the CLI (`huibao report ...`) and the HTTP API
// (read-only endpoints for the bureau and insurer roles). Each report is a
// function of the store returning the report as JSON text (report_model.h
// describes the shape), with writers for CSV, XLSX and SVG charts. Reports
// only read: one read transaction each, nothing written.
//
// They come from the books (journal_lines) and from the settlements as
// `huibao books post` took them in (claim_facts, claim_layer_facts), and
// reconcile with each other to the fen: `reconcile` compares the books'
// claims per layer with the settlements', the books' premiums with the
// premiums and the enrolments' payer splits, and the facts with the
// settlements they came from. A report on settlements not yet posted says
// so (scope.unposted_settlements).
//
// Regions: a city is its 6-digit code 'NNNN00'; the province row
// ('370000') is every city together, computed from the cities' figures.
#pragma once
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "store/db.h"

namespace huibao::books {

enum class ReportKind : uint8_t {
  kEnrolment,    // enrolment count and rate by city and province, by payer, by hardship group
  kSettlements,  // settlements, amounts per layer, reimbursement-ratio distribution
  kZeroSelfPay,  // the claims that left the person nothing to pay
  kLossRatio,    // loss ratio per product, region and year, against the plan's floor
  kEvaluation,   // the plan's multi-year evaluation (e.g. 3 consecutive years)
  kHospitals,    // top hospitals by cost and by out-of-catalogue share
  kTurnaround,   // days from discharge (or accident) to settlement
  kBooks,        // trial balance of every book
  kReconcile,    // books against settlements, premiums and enrolments
  kSettlement,   // one settlement's layers (the waterfall chart's data)
};

struct ReportInfo {
  ReportKind kind;
  std::string_view name;  // CLI name and API path segment: /reports/<name>
  std::string_view title;
  std::string_view roles;  // who may read it through the API: "bureau,insurer"
  std::string_view chart;  // the chart it renders ("" for none)
};

// Every report, in the order `report all` writes them.
std::span<const ReportInfo> report_catalog();
const ReportInfo* report_info(std::string_view name);

struct ReportQuery {
  int year = 0;           // plan year; 0: the latest stored
  std::string plan_id;    // "": every plan of the year
  std::string product;    // "": every product
  std::string region;     // "": every city and the province; else a city code 'NNNN00'
  int top = 20;           // hospitals: how many of each ranking
  int min_claims = 30;    // hospitals: fewest claims to be ranked by out-of-catalogue share
  int rows_max = 1000;    // zero self-pay: cases listed (all are counted)
  std::string setl_id;    // settlement: which ("" : the one whose insurers paid most)
  bool unmasked = false;  // zero self-pay, settlement: resident ids in full (the CLI's
                          // --unmasked; the API's roles that see ids)
};

// What a report tells its caller besides the JSON: which query parameter
// named nothing stored, and whose personal data the report holds (for the
// audit log: every read of personal data is written there).
struct ReportTrace {
  std::string bad_param;  // on kPlanInvalid: "plan_id", "product", "region" or "setl_id";
                          // "" when the query was fine but there is nothing to report
  struct PersonRow {
    std::string psn_no;  // in full, also when the report masks it
    std::string setl_id;
  };
  std::vector<PersonRow> persons;  // in report order
};

// The report as JSON text (report_query.h checks the query's values).
// kPlanInvalid for a query that names nothing stored (an unknown plan,
// product or setl_id; trace->bad_param says which), or a settlement report
// of a year without settlements; store codes otherwise.
Result<std::string> report_json(store::Db& db, ReportKind kind, const ReportQuery& query,
                                ReportTrace* trace = nullptr);

enum class ChartKind : uint8_t {
  kLossRatio,      // loss ratio by city against the plan's floor (80 %)
  kEnrolmentRate,  // enrolment rate by city against the target (30 %)
  kReimbursement,  // histogram of reimbursement ratios against the target (90 %)
  kWaterfall,      // one settlement's layers, from the cost to what the person pays
};

// The chart a report renders, from that report's JSON (so a chart's numbers
// are the report's): kLossRatio from loss_ratio, kEnrolmentRate from
// enrolment, kReimbursement from settlements, kWaterfall from settlement.
// product picks the product of a per-product chart ("": the first).
Result<std::string> chart_svg(ChartKind kind, std::string_view report_json,
                              std::string_view product = "");
bool chart_of(std::string_view report_name, ChartKind* out);

}  // namespace huibao::books
