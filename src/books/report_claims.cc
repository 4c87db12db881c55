// The reports on settlements, from the facts `books post` took in
// (claim_facts, claim_layer_facts): settlements and amounts per layer with
// the distribution of the reimbursement ratio of the policy-range cost, the
// zero self-pay cases, the top hospitals, the claim turnaround, and one
// settlement's layers.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <numeric>
#include <set>

#include "books/region.h"
#include "books/report_common.h"
#include "books/rules.h"
#include "books/sql.h"
#include "core/resident_id.h"

namespace huibao::books {

using store::Db;
using store::Stmt;

namespace {

// The reimbursement ratio (fund + hospital payments) / inscp_scp_amt, in
// buckets; index 0 is a claim without policy-range cost.
constexpr std::string_view kBuckets[] = {"no_policy_range", "<50%",   "50-60%",  "60-70%",
                                         "70-80%",          "80-90%", "90-100%", ">=100%"};
constexpr std::string_view kBucketSql =
    "CASE WHEN i <= 0 THEN 0 WHEN paid * 10 < i * 5 THEN 1 WHEN paid * 10 < i * 6 THEN 2 WHEN "
    "paid * 10 < i * 7 THEN 3 WHEN paid * 10 < i * 8 THEN 4 WHEN paid * 10 < i * 9 THEN 5 WHEN "
    "paid < i THEN 6 ELSE 7 END";

// The plan's reimbursement target as a fraction in lowest terms (90 % = 9/10),
// so the SQL compares small products exactly.
std::pair<int64_t, int64_t> target_fraction(const Plan& plan) {
  const int64_t ppm =
      plan.targets.has_reimbursement_ratio ? plan.targets.reimbursement_ratio.ppm : 900'000;
  const int64_t g = std::gcd(ppm, limits::kRateScale);
  return {ppm / g, limits::kRateScale / g};
}

std::string masked(std::string_view psn_no, bool unmasked) {
  if (unmasked || psn_no.size() != 18) return std::string(psn_no);
  char out[18];
  mask_resident_id(psn_no, out);
  return std::string(out, 18);
}

// num / den rounded half up to one decimal, "12.3" ("" when den is 0).
std::string decimal_1(int64_t num, int64_t den) {
  if (den == 0) return "";
  const int64_t tenths = (num * 20 + den) / (den * 2);
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10);
}

// The plan whose claims a row is, among the scope's.
const Plan* plan_in(const Scope& s, std::string_view plan_id) {
  for (const StoredPlan* p : s.year_plans) {
    if (p->plan_id == plan_id) return &p->plan;
  }
  return nullptr;
}

Status note_unposted(Db& db, ReportBuilder* r) {
  Result<int64_t> n = unposted_settlements(db);
  if (!n.ok()) return n.status();
  r->root()["scope"]["unposted_settlements"] = *n;
  if (*n > 0)
    r->root()["notes"].push_back(std::to_string(*n) +
                                 " stored settlements are not posted yet: run `huibao books post`");
  return Status::Ok();
}

}  // namespace

Result<std::string> settlements_report(Db& db, const Scope& s) {
  ReportBuilder r("settlements",
                  "结算情况 Settlements, amounts per layer and reimbursement ratios");
  put_scope(s, &r);
  r.root()["notes"] = Json::array();
  if (Status st = note_unposted(db, &r); !st.ok()) return st;
  const int64_t year = s.year;

  struct Totals {
    int64_t settled = 0, reversed = 0, adjusted = 0, medical = 0, accident = 0;
    Fen medfee = 0, fulamt = 0, overlmt = 0, preselfpay = 0, inscp = 0, fund = 0, hosp = 0, psn = 0,
        insurer = 0;
    Fen medical_paid = 0;  // fund + hospital on medical claims: the ratio's numerator
    int64_t reached = 0, zero = 0, classified = 0;
    std::map<std::string, Fen> layers;
    std::array<int64_t, 8> buckets{};
    void add(const Totals& o) {
      settled += o.settled, reversed += o.reversed, adjusted += o.adjusted;
      medical += o.medical, accident += o.accident;
      medfee += o.medfee, fulamt += o.fulamt, overlmt += o.overlmt, preselfpay += o.preselfpay;
      inscp += o.inscp, fund += o.fund, hosp += o.hosp, psn += o.psn, insurer += o.insurer;
      medical_paid += o.medical_paid;
      reached += o.reached, zero += o.zero, classified += o.classified;
      for (const auto& [l, v] : o.layers) layers[l] += v;
      for (size_t b = 0; b < buckets.size(); ++b) buckets[b] += o.buckets[b];
    }
  };
  std::map<std::pair<std::string, std::string>, Totals> by;  // (plan_id, region)
  Status q =
      grouped_sums(db, "", {"plan_id", "region", "claim_kind"},
                   {"CASE WHEN kind = 'settle' THEN 1 ELSE 0 END",
                    "CASE WHEN kind = 'reversal' THEN 1 ELSE 0 END",
                    "CASE WHEN kind = 'adjustment' THEN 1 ELSE 0 END", "medfee_sumamt",
                    "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt",
                    "fund_pay_sumamt", "hosp_part_amt", "psn_part_amt", "insurer_pay_fen"},
                   "FROM claim_facts WHERE plan_year = ?", {year},
                   [&](const std::vector<std::string_view>& k, const int64_t* v) {
                     if (!s.plan_selected(k[0]) || !s.region_selected(k[1])) return;
                     Totals& t = by[{std::string(k[0]), std::string(k[1])}];
                     const int64_t n = v[0] - v[1];
                     t.settled += v[0];
                     t.reversed += v[1];
                     t.adjusted += v[2];
                     (k[2] == "accident" ? t.accident : t.medical) += n;
                     t.medfee += v[3];
                     t.fulamt += v[4];
                     t.overlmt += v[5];
                     t.preselfpay += v[6];
                     t.inscp += v[7];
                     t.fund += v[8];
                     t.hosp += v[9];
                     t.psn += v[10];
                     t.insurer += v[11];
                     if (k[2] == "medical") t.medical_paid += v[8] + v[9];
                   });
  if (!q.ok()) return q;
  q = grouped_sums(db, "", {"plan_id", "region", "layer"}, {"amount_fen"},
                   "FROM claim_layer_facts WHERE plan_year = ?", {year},
                   [&](const std::vector<std::string_view>& k, const int64_t* v) {
                     if (!s.plan_selected(k[0]) || !s.region_selected(k[1])) return;
                     by[{std::string(k[0]), std::string(k[1])}].layers[std::string(k[2])] += v[0];
                   });
  if (!q.ok()) return q;
  Json targets = Json::object();
  for (const StoredPlan* sp : s.year_plans) {
    const auto [num, den] = target_fraction(sp->plan);
    if (sp->plan.targets.has_reimbursement_ratio && !targets.contains("reimbursement_ratio"))
      targets["reimbursement_ratio"] = rate_to_string(sp->plan.targets.reimbursement_ratio);
    q = grouped_sums(
        db, kNetClaimsSql, {"region", kBucketSql},
        {"CASE WHEN i > 0 AND paid * ? >= i * ? THEN 1 ELSE 0 END",
         "CASE WHEN psn = 0 AND medfee > 0 THEN 1 ELSE 0 END", "1"},
        "FROM (SELECT region, inscp_scp_amt AS i, fund_pay_sumamt + hosp_part_amt AS paid, "
        "psn_part_amt AS psn, medfee_sumamt AS medfee FROM net WHERE claim_kind = 'medical' AND "
        "plan_id = ?) x",
        {year, year, den, num, std::string_view(sp->plan_id)},
        [&](const std::vector<std::string_view>& k, const int64_t* v) {
          if (!s.region_selected(k[0])) return;
          Totals& t = by[{sp->plan_id, std::string(k[0])}];
          const int bucket = std::atoi(std::string(k[1]).c_str());
          if (bucket >= 0 && bucket < 8) t.buckets[size_t(bucket)] += v[2];
          t.reached += v[0];
          t.zero += v[1];
          if (bucket > 0) t.classified += v[2];
        });
    if (!q.ok()) return q;
  }
  r.root()["targets"] = targets;

  // The layer columns: every layer of the plans in scope, in plan order.
  std::vector<std::pair<std::string, std::string>> layer_cols;  // id, name
  for (const StoredPlan* sp : s.year_plans) {
    for (const Layer& L : sp->plan.layers) {
      if (std::none_of(layer_cols.begin(), layer_cols.end(),
                       [&](const auto& c) { return c.first == L.id; }))
        layer_cols.emplace_back(L.id, L.name);
    }
    if (sp->plan.accident_product >= 0 &&
        std::none_of(layer_cols.begin(), layer_cols.end(),
                     [](const auto& c) { return c.first == "accident"; }))
      layer_cols.emplace_back("accident",
                              sp->plan.products[size_t(sp->plan.accident_product)].name);
  }
  std::vector<Column> cols = {{"plan_id", "方案 plan", ColType::kText},
                              {"region", "地区代码 region", ColType::kText},
                              {"region_name", "地区 region name", ColType::kText},
                              {"claims", "结算人次 claims", ColType::kInt},
                              {"medical", "医疗 medical", ColType::kInt},
                              {"accident", "意外 accident", ColType::kInt},
                              {"reversals", "冲正 reversals", ColType::kInt},
                              {"adjustments", "调整 adjustments", ColType::kInt},
                              {"medfee_sumamt", "总费用 total cost", ColType::kYuan},
                              {"fulamt_ownpay_amt", "目录外 out of catalogue", ColType::kYuan},
                              {"overlmt_selfpay", "超限价 above price limit", ColType::kYuan},
                              {"preselfpay_amt", "先行自付 first self-pay", ColType::kYuan},
                              {"inscp_scp_amt", "政策范围内 policy range", ColType::kYuan}};
  for (const auto& [id, name] : layer_cols)
    cols.push_back({"layer_" + id, name + " " + id, ColType::kYuan});
  for (Column c : std::vector<Column>{
           {"fund_pay_sumamt", "基金支付 funds paid", ColType::kYuan},
           {"hosp_part_amt", "医院减免 hospital part", ColType::kYuan},
           {"psn_part_amt", "个人负担 person pays", ColType::kYuan},
           {"insurer_pay", "商保赔付 insurers paid", ColType::kYuan},
           {"reimbursement_ratio", "政策范围内报销比 reimbursed / policy range", ColType::kPercent},
           {"reached_target", "达到目标人次 claims reaching the target", ColType::kInt},
           {"reached_share", "达标占比 share reaching it", ColType::kPercent},
           {"zero_self_pay", "零自付人次 zero self-pay claims", ColType::kInt}})
    cols.push_back(std::move(c));
  TableBuilder by_region = r.table("by_region", "结算汇总 Settlements by city", std::move(cols));
  TableBuilder layers = r.table("layers", "分层支付 Amounts per layer",
                                {{"plan_id", "方案 plan", ColType::kText},
                                 {"region", "地区代码 region", ColType::kText},
                                 {"region_name", "地区 region name", ColType::kText},
                                 {"layer", "层 layer", ColType::kText},
                                 {"layer_name", "名称 name", ColType::kText},
                                 {"payer", "支付方 payer", ColType::kText},
                                 {"amount", "金额 amount", ColType::kYuan}});
  TableBuilder histogram =
      r.table("ratio_histogram", "报销比分布 Reimbursement ratio of policy-range cost",
              {{"plan_id", "方案 plan", ColType::kText},
               {"region", "地区代码 region", ColType::kText},
               {"region_name", "地区 region name", ColType::kText},
               {"bucket", "区间 ratio", ColType::kText},
               {"claims", "人次 claims", ColType::kInt},
               {"share", "占比 share", ColType::kPercent}});

  auto write = [&](const std::string& plan_id, const std::string& region, const Totals& t) {
    const Plan* plan = plan_in(s, plan_id);
    by_region.text(plan_id).text(region).text(region_name(region));
    by_region.integer(t.medical + t.accident).integer(t.medical).integer(t.accident);
    by_region.integer(t.reversed).integer(t.adjusted);
    by_region.yuan(t.medfee).yuan(t.fulamt).yuan(t.overlmt).yuan(t.preselfpay).yuan(t.inscp);
    for (const auto& [id, name] : layer_cols) {
      auto it = t.layers.find(id);
      by_region.yuan(it == t.layers.end() ? 0 : it->second);
    }
    by_region.yuan(t.fund).yuan(t.hosp).yuan(t.psn).yuan(t.insurer);
    by_region.percent(t.medical_paid, t.inscp);
    by_region.integer(t.reached).percent(t.reached, t.classified).integer(t.zero).end_row();
    for (const auto& [id, name] : layer_cols) {
      auto it = t.layers.find(id);
      if (it == t.layers.end() || plan == nullptr) continue;
      layers.text(plan_id).text(region).text(region_name(region)).text(id).text(name);
      layers.text(layer_role(*plan, id)).yuan(it->second).end_row();
    }
    int64_t all = 0;
    for (int64_t b : t.buckets) all += b;
    for (size_t b = 0; b < t.buckets.size(); ++b) {
      histogram.text(plan_id).text(region).text(region_name(region)).text(kBuckets[b]);
      histogram.integer(t.buckets[b]).percent(t.buckets[b], all).end_row();
    }
  };
  for (const StoredPlan* sp : s.year_plans) {
    Totals province;
    for (const auto& [key, t] : by) {
      if (key.first != sp->plan_id) continue;
      province.add(t);
      write(key.first, key.second, t);
    }
    if (s.with_province()) write(sp->plan_id, std::string(kProvince), province);
  }
  return r.dump();
}

Result<std::string> zero_self_pay_report(Db& db, const Scope& s) {
  ReportBuilder r("zero_self_pay", "零自付 Claims that left no self-pay");
  put_scope(s, &r);
  r.root()["notes"] = Json::array();
  r.root()["notes"].push_back(
      "A settled medical claim, net of its adjustments and not reversed, whose psn_part_amt is "
      "0 while medfee_sumamt is positive (the 2020 plan: 杜绝个人零缴费或零自付).");
  if (Status st = note_unposted(db, &r); !st.ok()) return st;
  const std::string_view plan_id = s.query->plan_id, region = s.query->region;
  const std::string zero =
      " FROM net n WHERE n.claim_kind = 'medical' AND n.psn_part_amt = 0 AND n.medfee_sumamt > 0 "
      "AND (? = '' OR n.plan_id = ?) AND (? = '' OR n.region = ?) ";
  TableBuilder by_region = r.table("by_region", "零自付人次 Zero self-pay claims by city",
                                   {{"plan_id", "方案 plan", ColType::kText},
                                    {"region", "地区代码 region", ColType::kText},
                                    {"region_name", "地区 region name", ColType::kText},
                                    {"claims", "人次 claims", ColType::kInt},
                                    {"medfee_sumamt", "总费用 total cost", ColType::kYuan}});
  std::map<std::string, std::pair<int64_t, Fen>> province;
  int64_t total = 0;
  Status q = query_rows(
      db,
      std::string(kNetClaimsSql) + "SELECT n.plan_id, n.region, count(*), SUM(n.medfee_sumamt)" +
          zero + "GROUP BY n.plan_id, n.region ORDER BY 1, 2",
      {int64_t(s.year), int64_t(s.year), plan_id, plan_id, region, region}, [&](Stmt& st) {
        if (!s.plan_selected(st.column_text(0))) return;
        const std::string region_code(st.column_text(1));
        by_region.text(st.column_text(0)).text(region_code);
        by_region.text(region_name(region_code)).integer(st.column_int64(2));
        by_region.yuan(st.column_int64(3)).end_row();
        auto& p = province[std::string(st.column_text(0))];
        p.first += st.column_int64(2);
        p.second += st.column_int64(3);
        total += st.column_int64(2);
      });
  if (!q.ok()) return q;
  if (s.with_province()) {
    for (const auto& [plan, p] : province) {
      by_region.text(plan).text(kProvince).text(region_name(kProvince)).integer(p.first);
      by_region.yuan(p.second).end_row();
    }
  }
  r.root()["zero_self_pay_claims"] = total;
  TableBuilder cases = r.table("cases", "零自付明细 The claims",
                               {{"setl_id", "结算号 setl_id", ColType::kText},
                                {"psn_no", "身份证号 psn_no", ColType::kText},
                                {"plan_id", "方案 plan", ColType::kText},
                                {"region", "地区代码 region", ColType::kText},
                                {"fixmedins_code", "医疗机构 hospital", ColType::kText},
                                {"hosp_lv", "等级 level", ColType::kInt},
                                {"discharge_date", "出院日期 discharge", ColType::kText},
                                {"medfee_sumamt", "总费用 total cost", ColType::kYuan},
                                {"inscp_scp_amt", "政策范围内 policy range", ColType::kYuan},
                                {"fund_pay_sumamt", "基金支付 funds paid", ColType::kYuan},
                                {"hosp_part_amt", "医院减免 hospital part", ColType::kYuan}});
  q = query_rows(db,
                 std::string(kNetClaimsSql) +
                     "SELECT n.setl_id, s.psn_no, n.plan_id, n.region, n.fixmedins_code, "
                     "n.hosp_lv, n.event_date, n.medfee_sumamt, n.inscp_scp_amt, "
                     "n.fund_pay_sumamt, n.hosp_part_amt FROM net n JOIN settlements s ON "
                     "s.setl_id = n.setl_id WHERE n.claim_kind = 'medical' AND n.psn_part_amt = "
                     "0 AND n.medfee_sumamt > 0 AND (? = '' OR n.plan_id = ?) AND (? = '' OR "
                     "n.region = ?) ORDER BY n.region, n.setl_id LIMIT ?",
                 {int64_t(s.year), int64_t(s.year), plan_id, plan_id, region, region,
                  int64_t(std::max(0, s.query->rows_max))},
                 [&](Stmt& st) {
                   if (!s.plan_selected(st.column_text(2))) return;
                   s.read_person(st.column_text(1), st.column_text(0));
                   cases.text(st.column_text(0)).text(masked(st.column_text(1), s.query->unmasked));
                   cases.text(st.column_text(2)).text(st.column_text(3)).text(st.column_text(4));
                   cases.integer(st.column_int64(5)).text(st.column_text(6));
                   cases.yuan(st.column_int64(7)).yuan(st.column_int64(8));
                   cases.yuan(st.column_int64(9)).yuan(st.column_int64(10)).end_row();
                 });
  if (!q.ok()) return q;
  r.root()["listed"] = cases.rows();
  r.root()["masked"] = !s.query->unmasked;
  return r.dump();
}

Result<std::string> hospitals_report(Db& db, const Scope& s) {
  ReportBuilder r("hospitals", "定点医疗机构 Top hospitals by cost and by out-of-catalogue share");
  put_scope(s, &r);
  r.root()["notes"] = Json::array();
  r.root()["notes"].push_back(
      "Medical claims as they stand (net of adjustments, reversed ones left out); the "
      "out-of-catalogue share is fulamt_ownpay_amt / medfee_sumamt, ranked among hospitals "
      "with at least min_claims claims.");
  if (Status st = note_unposted(db, &r); !st.ok()) return st;
  r.root()["top"] = s.query->top;
  r.root()["min_claims"] = s.query->min_claims;
  struct Hospital {
    std::string code;
    int64_t lv = 0, claims = 0;
    Fen medfee = 0, fulamt = 0, inscp = 0, fund = 0, insurer = 0, psn = 0;
  };
  std::vector<Hospital> hs;
  const std::string_view plan_id = s.query->plan_id, region = s.query->region;
  std::map<std::string, Hospital> by_code;
  Status q = grouped_sums(
      db, kNetClaimsSql, {"fixmedins_code", "hosp_lv"},
      {"1", "medfee_sumamt", "fulamt_ownpay_amt", "inscp_scp_amt", "fund_pay_sumamt",
       "insurer_pay_fen", "psn_part_amt"},
      "FROM net WHERE claim_kind = 'medical' AND (? = '' OR plan_id = ?) AND (? = '' OR region = "
      "?)",
      {int64_t(s.year), int64_t(s.year), plan_id, plan_id, region, region},
      [&](const std::vector<std::string_view>& k, const int64_t* v) {
        Hospital& h = by_code[std::string(k[0])];
        h.code = std::string(k[0]);
        h.lv = std::max<int64_t>(h.lv, std::atoi(std::string(k[1]).c_str()));
        h.claims += v[0];
        h.medfee += v[1];
        h.fulamt += v[2];
        h.inscp += v[3];
        h.fund += v[4];
        h.insurer += v[5];
        h.psn += v[6];
      });
  if (!q.ok()) return q;
  for (auto& [code, h] : by_code) hs.push_back(h);
  const std::vector<Column> cols = {
      {"rank", "名次 rank", ColType::kInt},
      {"fixmedins_code", "医疗机构 hospital", ColType::kText},
      {"hosp_lv", "等级 level", ColType::kInt},
      {"claims", "人次 claims", ColType::kInt},
      {"medfee_sumamt", "总费用 total cost", ColType::kYuan},
      {"cost_per_claim", "次均费用 cost per claim", ColType::kYuan},
      {"fulamt_ownpay_amt", "目录外 out of catalogue", ColType::kYuan},
      {"out_of_catalogue_share", "目录外占比 out-of-catalogue share", ColType::kPercent},
      {"inscp_scp_amt", "政策范围内 policy range", ColType::kYuan},
      {"fund_pay_sumamt", "基金支付 funds paid", ColType::kYuan},
      {"insurer_pay", "商保赔付 insurers paid", ColType::kYuan},
      {"psn_part_amt", "个人负担 person pays", ColType::kYuan}};
  auto write = [&](TableBuilder& t, const std::vector<const Hospital*>& ranked) {
    int64_t rank = 0;
    for (const Hospital* h : ranked) {
      if (rank == s.query->top) break;
      t.integer(++rank).text(h->code).integer(h->lv).integer(h->claims).yuan(h->medfee);
      t.yuan(h->claims == 0 ? 0 : (2 * h->medfee + h->claims) / (2 * h->claims));
      t.yuan(h->fulamt).percent(h->fulamt, h->medfee).yuan(h->inscp).yuan(h->fund);
      t.yuan(h->insurer).yuan(h->psn).end_row();
    }
  };
  std::vector<const Hospital*> by_cost;
  for (const Hospital& h : hs) by_cost.push_back(&h);
  std::sort(by_cost.begin(), by_cost.end(), [](const Hospital* a, const Hospital* b) {
    return a->medfee != b->medfee ? a->medfee > b->medfee : a->code < b->code;
  });
  TableBuilder t1 = r.table("by_cost", "按费用 By total cost", cols);
  write(t1, by_cost);
  std::vector<const Hospital*> by_share;
  for (const Hospital& h : hs) {
    if (h.claims >= s.query->min_claims && h.medfee > 0) by_share.push_back(&h);
  }
  std::sort(by_share.begin(), by_share.end(), [](const Hospital* a, const Hospital* b) {
    const __int128 x = __int128(a->fulamt) * b->medfee, y = __int128(b->fulamt) * a->medfee;
    return x != y ? x > y : a->code < b->code;
  });
  TableBuilder t2 = r.table("by_out_of_catalogue", "按目录外占比 By out-of-catalogue share", cols);
  write(t2, by_share);
  r.root()["hospitals"] = hs.size();
  return r.dump();
}

Result<std::string> turnaround_report(Db& db, const Scope& s) {
  ReportBuilder r("turnaround", "理赔时效 Claim turnaround");
  put_scope(s, &r);
  r.root()["notes"] = Json::array();
  r.root()["notes"].push_back(
      "Days from discharge (accident date for an accident case) to the day the settlement was "
      "stored, over every settled claim; median and p90 by nearest rank.");
  if (Status st = note_unposted(db, &r); !st.ok()) return st;
  // (plan_id, region) -> days -> claims
  std::map<std::pair<std::string, std::string>, std::map<int64_t, int64_t>> by;
  Status q = grouped_sums(
      db, "", {"plan_id", "region", "turnaround_days"}, {"1"},
      "FROM claim_facts WHERE kind = 'settle' AND plan_year = ?", {int64_t(s.year)},
      [&](const std::vector<std::string_view>& k, const int64_t* v) {
        if (!s.plan_selected(k[0]) || !s.region_selected(k[1])) return;
        by[{std::string(k[0]), std::string(k[1])}][std::atoll(std::string(k[2]).c_str())] += v[0];
      });
  if (!q.ok()) return q;
  static constexpr int64_t kUpTo[] = {0, 3, 7, 15, 30, 90};
  TableBuilder t = r.table("by_region", "理赔时效 Turnaround by city",
                           {{"plan_id", "方案 plan", ColType::kText},
                            {"region", "地区代码 region", ColType::kText},
                            {"region_name", "地区 region name", ColType::kText},
                            {"claims", "人次 claims", ColType::kInt},
                            {"mean_days", "平均天数 mean days", ColType::kText},
                            {"median_days", "中位数 median days", ColType::kInt},
                            {"p90_days", "90分位 p90 days", ColType::kInt},
                            {"max_days", "最长 max days", ColType::kInt},
                            {"same_day", "当日 same day", ColType::kInt},
                            {"days_1_3", "1-3天", ColType::kInt},
                            {"days_4_7", "4-7天", ColType::kInt},
                            {"days_8_15", "8-15天", ColType::kInt},
                            {"days_16_30", "16-30天", ColType::kInt},
                            {"days_31_90", "31-90天", ColType::kInt},
                            {"days_over_90", ">90天", ColType::kInt},
                            {"within_30_days", "30天内占比 within 30 days", ColType::kPercent}});
  auto write = [&](const std::string& plan_id, const std::string& region,
                   const std::map<int64_t, int64_t>& days) {
    int64_t n = 0, sum = 0;
    for (const auto& [d, c] : days) n += c, sum += d * c;
    auto rank = [&](int64_t k) {  // the k-th smallest (1-based)
      int64_t seen = 0;
      for (const auto& [d, c] : days) {
        seen += c;
        if (seen >= k) return d;
      }
      return int64_t(0);
    };
    std::array<int64_t, 7> buckets{};
    for (const auto& [d, c] : days) {
      size_t b = 0;
      while (b < std::size(kUpTo) && d > kUpTo[b]) ++b;
      buckets[b] += c;
    }
    t.text(plan_id).text(region).text(region_name(region)).integer(n).text(decimal_1(sum, n));
    t.integer(rank((n + 1) / 2)).integer(rank((9 * n + 9) / 10));
    t.integer(days.empty() ? 0 : days.rbegin()->first);
    for (int64_t b : buckets) t.integer(b);
    int64_t within = 0;
    for (const auto& [d, c] : days) within += d <= 30 ? c : 0;
    t.percent(within, n).end_row();
  };
  for (const StoredPlan* sp : s.year_plans) {
    std::map<int64_t, int64_t> province;
    for (const auto& [key, days] : by) {
      if (key.first != sp->plan_id) continue;
      for (const auto& [d, c] : days) province[d] += c;
      write(key.first, key.second, days);
    }
    if (s.with_province()) write(sp->plan_id, std::string(kProvince), province);
  }
  return r.dump();
}

Result<std::string> settlement_report(Db& db, const Scope& s) {
  ReportBuilder r("settlement", "单笔结算 One settlement's layers");
  put_scope(s, &r);
  std::string setl_id = s.query->setl_id;
  if (setl_id.empty()) {
    // The settlement of the year whose insurers paid most.
    Status q = query_rows(
        db,
        "SELECT setl_id FROM claim_facts WHERE kind = 'settle' AND plan_year = ? "
        "AND claim_kind = 'medical' AND (? = '' OR plan_id = ?) ORDER BY "
        "insurer_pay_fen DESC, medfee_sumamt DESC, setl_id LIMIT 1",
        {int64_t(s.year), std::string_view(s.query->plan_id), std::string_view(s.query->plan_id)},
        [&](Stmt& st) { setl_id = std::string(st.column_text(0)); });
    if (!q.ok()) return q;
    if (setl_id.empty())
      return Status(Code::kPlanInvalid, "no posted settlement in " + std::to_string(s.year) +
                                            " (run `huibao books post`, or give --setl-id)");
  }
  Json setl;
  std::string plan_id;
  int version = 0;
  Status q = query_rows(
      db,
      "SELECT setl_id, kind, COALESCE(ref_setl_id, ''), psn_no, plan_id, plan_version, "
      "plan_year, claim_kind, COALESCE(med_type, ''), COALESCE(fixmedins_code, ''), "
      "admission_date, COALESCE(discharge_date, ''), medfee_sumamt, inscp_scp_amt, "
      "fund_pay_sumamt, hosp_part_amt, psn_part_amt, created_at FROM settlements WHERE setl_id "
      "= ?",
      {std::string_view(setl_id)}, [&](Stmt& st) {
        setl["setl_id"] = std::string(st.column_text(0));
        setl["kind"] = std::string(st.column_text(1));
        setl["ref_setl_id"] = std::string(st.column_text(2));
        setl["psn_no"] = masked(st.column_text(3), s.query->unmasked);
        s.read_person(st.column_text(3), st.column_text(0));
        plan_id = std::string(st.column_text(4));
        version = int(st.column_int64(5));
        setl["plan_id"] = plan_id;
        setl["plan_version"] = version;
        setl["plan_year"] = st.column_int64(6);
        setl["claim_kind"] = std::string(st.column_text(7));
        setl["med_type"] = std::string(st.column_text(8));
        setl["fixmedins_code"] = std::string(st.column_text(9));
        setl["admission_date"] = std::string(st.column_text(10));
        setl["discharge_date"] = std::string(st.column_text(11));
        setl["medfee_sumamt"] = fen_to_string(st.column_int64(12));
        setl["inscp_scp_amt"] = fen_to_string(st.column_int64(13));
        setl["fund_pay_sumamt"] = fen_to_string(st.column_int64(14));
        setl["hosp_part_amt"] = fen_to_string(st.column_int64(15));
        setl["psn_part_amt"] = fen_to_string(st.column_int64(16));
        setl["created_at"] = std::string(st.column_text(17));
      });
  if (!q.ok()) return q;
  if (setl.is_null()) {
    s.trace->bad_param = "setl_id";
    return Status(Code::kPlanInvalid, "no settlement '" + setl_id + "' is stored");
  }
  const Plan* plan = s.plans.version(plan_id, version);
  if (plan == nullptr)
    return Status(Code::kStoreError, "settlement " + setl_id + " names a plan version not stored");
  std::map<std::string, Fen> paid;
  q = query_rows(db, "SELECT layer, amount_fen FROM settlement_layers WHERE setl_id = ?",
                 {std::string_view(setl_id)},
                 [&](Stmt& st) { paid[std::string(st.column_text(0))] = st.column_int64(1); });
  if (!q.ok()) return q;
  r.root()["settlement"] = setl;
  Fen medfee = 0;
  parse_decimal_string_fen(setl["medfee_sumamt"].get<std::string>(), &medfee);
  TableBuilder t = r.table("layers", "分层支付 The layers in plan order",
                           {{"order", "顺序 order", ColType::kInt},
                            {"layer", "层 layer", ColType::kText},
                            {"layer_name", "名称 name", ColType::kText},
                            {"payer", "支付方 payer", ColType::kText},
                            {"amount", "金额 amount", ColType::kYuan},
                            {"remaining", "剩余 left to pay", ColType::kYuan}});
  Fen left = medfee;
  int64_t order = 0;
  auto row = [&](std::string_view id, std::string_view name) {
    auto it = paid.find(std::string(id));
    const Fen amount = it == paid.end() ? 0 : it->second;
    left -= amount;
    t.integer(++order).text(id).text(name).text(layer_role(*plan, id)).yuan(amount).yuan(left);
    t.end_row();
  };
  if (setl["claim_kind"] == "accident") {
    row("accident", plan->accident_product >= 0
                        ? plan->products[size_t(plan->accident_product)].name
                        : std::string("accident"));
  } else {
    for (const Layer& L : plan->layers) row(L.id, L.name);
  }
  TableBuilder c = r.table("corrections", "冲正与调整 Reversals and adjustments of it",
                           {{"setl_id", "结算号 setl_id", ColType::kText},
                            {"kind", "类型 kind", ColType::kText},
                            {"fund_pay_sumamt", "基金支付 funds paid", ColType::kYuan},
                            {"hosp_part_amt", "医院减免 hospital part", ColType::kYuan},
                            {"psn_part_amt", "个人负担 person pays", ColType::kYuan},
                            {"created_at", "时间 when", ColType::kText}});
  q = query_rows(db,
                 "SELECT setl_id, kind, fund_pay_sumamt, hosp_part_amt, psn_part_amt, created_at "
                 "FROM settlements WHERE ref_setl_id = ? ORDER BY created_at, setl_id",
                 {std::string_view(setl_id)}, [&](Stmt& st) {
                   c.text(st.column_text(0)).text(st.column_text(1)).yuan(st.column_int64(2));
                   c.yuan(st.column_int64(3)).yuan(st.column_int64(4)).text(st.column_text(5));
                   c.end_row();
                 });
  if (!q.ok()) return q;
  return r.dump();
}

}  // namespace huibao::books
