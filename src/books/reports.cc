// The report catalog, the scope of a query, and dispatch.
#include "books/reports.h"

#include "books/region.h"
#include "books/report_common.h"
#include "books/sql.h"

namespace huibao::books {

using store::Db;
using store::Stmt;
using store::Tx;

namespace {

constexpr ReportInfo kCatalog[] = {
    {ReportKind::kEnrolment, "enrolment", "参保情况 Enrolment by city, payer and hardship group",
     "bureau,insurer", "enrolment_rate"},
    {ReportKind::kSettlements, "settlements",
     "结算情况 Settlements, amounts per layer and reimbursement ratios", "bureau,insurer",
     "reimbursement"},
    {ReportKind::kZeroSelfPay, "zero-self-pay", "零自付 Claims that left no self-pay",
     "bureau,insurer", ""},
    {ReportKind::kLossRatio, "loss-ratio", "赔付率 Loss ratio per product, region and year",
     "bureau,insurer", "loss_ratio"},
    {ReportKind::kEvaluation, "evaluation", "周期评估 Evaluation over consecutive plan years",
     "bureau,insurer", ""},
    {ReportKind::kHospitals, "hospitals",
     "定点医疗机构 Top hospitals by cost and by out-of-catalogue share", "bureau,insurer", ""},
    {ReportKind::kTurnaround, "turnaround", "理赔时效 Claim turnaround", "bureau,insurer", ""},
    {ReportKind::kBooks, "books", "专账 Trial balance of every book", "bureau,insurer", ""},
    {ReportKind::kReconcile, "reconcile", "对账 Books against settlements, premiums and enrolments",
     "bureau,insurer", ""},
    {ReportKind::kSettlement, "settlement", "单笔结算 One settlement's layers", "bureau,insurer",
     "waterfall"},
};

}  // namespace

std::span<const ReportInfo> report_catalog() {
  return kCatalog;
}

const ReportInfo* report_info(std::string_view name) {
  for (const ReportInfo& r : kCatalog) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

bool chart_of(std::string_view report_name, ChartKind* out) {
  const ReportInfo* r = report_info(report_name);
  if (r == nullptr || r->chart.empty()) return false;
  if (r->chart == "loss_ratio") *out = ChartKind::kLossRatio;
  if (r->chart == "enrolment_rate") *out = ChartKind::kEnrolmentRate;
  if (r->chart == "reimbursement") *out = ChartKind::kReimbursement;
  if (r->chart == "waterfall") *out = ChartKind::kWaterfall;
  return true;
}

bool Scope::plan_selected(std::string_view plan_id) const {
  for (const StoredPlan* p : year_plans) {
    if (p->plan_id == plan_id) return true;
  }
  return false;
}

bool Scope::product_selected(std::string_view product) const {
  return query->product.empty() || query->product == product;
}

bool Scope::region_selected(std::string_view region) const {
  return query->region.empty() || query->region == region;
}

const StoredPlan* Scope::plan_of_product(std::string_view product) const {
  for (const StoredPlan* p : year_plans) {
    if (p->plan.find_product(product) >= 0) return p;
  }
  return nullptr;
}

Result<Scope> resolve_scope(Db& db, const ReportQuery& q, ReportTrace* trace) {
  Scope s;
  s.query = &q;
  s.trace = trace;
  auto bad = [&](std::string_view param, std::string message) {
    trace->bad_param = std::string(param);
    return Status(Code::kPlanInvalid, std::move(message));
  };
  Result<StoredPlans> plans = StoredPlans::load(db);
  if (!plans.ok()) return plans.status();
  s.plans = std::move(*plans);
  if (!q.region.empty() && !is_city_code(q.region))
    return bad("region", "region '" + q.region + "' must be a city code such as 370200");
  s.year = q.year != 0 ? q.year : s.plans.latest_year();
  for (const StoredPlan* p : s.plans.of_year(s.year)) {
    if (q.plan_id.empty() || p->plan_id == q.plan_id) s.year_plans.push_back(p);
  }
  if (!q.plan_id.empty() && s.year_plans.empty())
    return bad("plan_id", "no stored plan '" + q.plan_id + "' for " + std::to_string(s.year) +
                              " (settle or enrol under it first)");
  if (!q.product.empty() && s.plan_of_product(q.product) == nullptr)
    return bad("product",
               "no stored plan of " + std::to_string(s.year) + " has product '" + q.product + "'");
  return s;
}

void put_scope(const Scope& s, ReportBuilder* r) {
  Json& scope = r->root()["scope"];
  scope["year"] = s.year;
  scope["plan_id"] = s.query->plan_id.empty() ? Json(nullptr) : Json(s.query->plan_id);
  scope["product"] = s.query->product.empty() ? Json(nullptr) : Json(s.query->product);
  scope["region"] = s.query->region.empty() ? Json(nullptr) : Json(s.query->region);
  scope["plans"] = Json::array();
  for (const StoredPlan* p : s.year_plans)
    scope["plans"].push_back({{"plan_id", p->plan_id}, {"version", p->version}});
}

Result<int64_t> unposted_settlements(Db& db) {
  int64_t n = 0;
  Status q = query_rows(db,
                        "SELECT (SELECT count(*) FROM settlements) - (SELECT count(*) FROM "
                        "claim_facts)",
                        {}, [&](Stmt& st) { n = st.column_int64(0); });
  if (!q.ok()) return q;
  return n;
}

// corr is MATERIALIZED: a handful of rows, computed once (PostgreSQL would
// otherwise inline it and, without statistics on fresh facts, may rescan it for
// every claim).
const std::string_view kNetClaimsSql =
    "WITH corr AS MATERIALIZED (SELECT claim_setl_id, SUM(medfee_sumamt) AS medfee, "
    "SUM(fulamt_ownpay_amt) "
    "AS fulamt, SUM(inscp_scp_amt) AS inscp, SUM(fund_pay_sumamt) AS fund, SUM(hosp_part_amt) "
    "AS hosp, SUM(psn_part_amt) AS psn, SUM(insurer_pay_fen) AS insurer, MAX(CASE WHEN kind = "
    "'reversal' THEN 1 ELSE 0 END) AS reversed FROM claim_facts WHERE kind <> 'settle' AND "
    "plan_year = ? GROUP BY claim_setl_id), net AS (SELECT f.setl_id, f.plan_id, f.region, "
    "f.claim_kind, f.fixmedins_code, f.hosp_lv, f.event_date, f.medfee_sumamt + "
    "COALESCE(c.medfee, 0) AS medfee_sumamt, f.fulamt_ownpay_amt + COALESCE(c.fulamt, 0) AS "
    "fulamt_ownpay_amt, f.inscp_scp_amt + COALESCE(c.inscp, 0) AS inscp_scp_amt, "
    "f.fund_pay_sumamt + COALESCE(c.fund, 0) AS fund_pay_sumamt, f.hosp_part_amt + "
    "COALESCE(c.hosp, 0) AS hosp_part_amt, f.psn_part_amt + COALESCE(c.psn, 0) AS psn_part_amt, "
    "f.insurer_pay_fen + COALESCE(c.insurer, 0) AS insurer_pay_fen FROM claim_facts f LEFT JOIN "
    "corr c ON c.claim_setl_id = f.setl_id WHERE f.kind = 'settle' AND f.plan_year = ? AND "
    "COALESCE(c.reversed, 0) = 0) ";

std::string layer_role(const Plan& plan, std::string_view layer) {
  const std::string_view product = claims_product(plan, layer);
  if (!product.empty()) return "insurer:" + std::string(product);
  const int l = plan.find_layer(layer);
  return l >= 0 && plan.layers[size_t(l)].payer == Payer::kHospital ? "hospital" : "fund";
}

Result<std::string> report_json(Db& db, ReportKind kind, const ReportQuery& query,
                                ReportTrace* trace) {
  ReportTrace own;
  if (trace == nullptr) trace = &own;
  *trace = ReportTrace{};
  // A read transaction: every table of the report from one snapshot.
  Tx tx(db, store::TxMode::kRead);
  if (!tx.ok()) return tx.status();
  if (db.dialect().engine == store::Engine::kPostgres) {
    if (Status s = db.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"); !s.ok())
      return s;
  }
  Result<Scope> scope = resolve_scope(db, query, trace);
  if (!scope.ok()) return scope.status();
  Result<std::string> out = Status(Code::kPlanInvalid, "unknown report");
  switch (kind) {
    case ReportKind::kEnrolment:
      out = enrolment_report(db, *scope);
      break;
    case ReportKind::kSettlements:
      out = settlements_report(db, *scope);
      break;
    case ReportKind::kZeroSelfPay:
      out = zero_self_pay_report(db, *scope);
      break;
    case ReportKind::kLossRatio:
      out = loss_ratio_report(db, *scope);
      break;
    case ReportKind::kEvaluation:
      out = evaluation_report(db, *scope);
      break;
    case ReportKind::kHospitals:
      out = hospitals_report(db, *scope);
      break;
    case ReportKind::kTurnaround:
      out = turnaround_report(db, *scope);
      break;
    case ReportKind::kBooks:
      out = books_report(db, *scope);
      break;
    case ReportKind::kReconcile:
      out = reconcile_report(db, *scope);
      break;
    case ReportKind::kSettlement:
      out = settlement_report(db, *scope);
      break;
  }
  if (!out.ok()) return out.status();
  if (Status s = tx.commit(); !s.ok()) return s;
  return out;
}

}  // namespace huibao::books
