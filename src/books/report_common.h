// What the report functions share (reports_*.cc): the resolved scope of a
// query, the stored plans, and the rows of claims as they stand after their
// reversals and adjustments.
#pragma once
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "books/plans.h"
#include "books/report_model.h"
#include "books/reports.h"
#include "store/db.h"

namespace huibao::books {

inline constexpr std::string_view kProvince = "370000";

struct Scope {
  const ReportQuery* query = nullptr;
  ReportTrace* trace = nullptr;  // never null inside the report functions
  StoredPlans plans;
  int year = 0;
  std::vector<const StoredPlan*> year_plans;  // the plans of the year the query selects

  bool plan_selected(std::string_view plan_id) const;
  bool product_selected(std::string_view product) const;
  bool region_selected(std::string_view region) const;
  // Province rows are written when no single city is asked for.
  bool with_province() const { return query->region.empty(); }
  // The plan of the year (selected) that has the product.
  const StoredPlan* plan_of_product(std::string_view product) const;
  // Notes a person whose data the report holds.
  void read_person(std::string_view psn_no, std::string_view setl_id) const {
    trace->persons.push_back({std::string(psn_no), std::string(setl_id)});
  }
};

// Resolves the query: the year (latest when 0), the plans, the filters. A
// query naming nothing stored is kPlanInvalid, with trace->bad_param set.
Result<Scope> resolve_scope(store::Db& db, const ReportQuery& q, ReportTrace* trace);
// Writes the scope into the report root.
void put_scope(const Scope& s, ReportBuilder* r);

// Settlements stored but not yet taken in by `books post`.
Result<int64_t> unposted_settlements(store::Db& db);

// The SQL of the claims of a plan year as they stand: one row per settled
// claim not reversed, its amounts net of its adjustments. Columns: setl_id,
// plan_id, region, claim_kind, fixmedins_code, hosp_lv, event_date,
// medfee_sumamt, fulamt_ownpay_amt, inscp_scp_amt, fund_pay_sumamt,
// hosp_part_amt, psn_part_amt, insurer_pay_fen. Binds: the year, twice.
extern const std::string_view kNetClaimsSql;

// The layer's role in the books: "insurer:<product>", "fund" or "hospital".
std::string layer_role(const Plan& plan, std::string_view layer);

// The report functions (reports.cc dispatches).
Result<std::string> enrolment_report(store::Db& db, const Scope& s);
Result<std::string> settlements_report(store::Db& db, const Scope& s);
Result<std::string> zero_self_pay_report(store::Db& db, const Scope& s);
Result<std::string> hospitals_report(store::Db& db, const Scope& s);
Result<std::string> turnaround_report(store::Db& db, const Scope& s);
Result<std::string> settlement_report(store::Db& db, const Scope& s);
Result<std::string> loss_ratio_report(store::Db& db, const Scope& s);
Result<std::string> evaluation_report(store::Db& db, const Scope& s);
Result<std::string> books_report(store::Db& db, const Scope& s);
Result<std::string> reconcile_report(store::Db& db, const Scope& s);

}  // namespace huibao::books
