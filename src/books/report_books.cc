// The reports from the books: the loss ratio of every product, region and
// year against the plan's [fund] rules, the multi-year evaluation, the trial
// balance, and the reconciliation of the books with the facts.
#include <map>
#include <set>
#include <tuple>

#include "books/accounts.h"
#include "books/ops.h"
#include "books/region.h"
#include "books/report_common.h"
#include "books/rules.h"
#include "books/sql.h"

namespace huibao::books {

using store::Db;
using store::Stmt;

namespace {

using BookKey = std::pair<std::string, std::string>;  // (product, region)

BookFigures sum(const BookFigures& a, const BookFigures& b) {
  BookFigures s;
  s.premium_income = a.premium_income + b.premium_income;
  s.transfer_in = a.transfer_in + b.transfer_in;
  s.transfer_out = a.transfer_out + b.transfer_out;
  s.carry_over_in = a.carry_over_in + b.carry_over_in;
  s.claims = a.claims + b.claims;
  s.operating_cost = a.operating_cost + b.operating_cost;
  s.platform_fee = a.platform_fee + b.platform_fee;
  return s;
}

// What a book's rows say beyond its figures: premium by payer, claims by
// layer, the bank and payables, and what year-end runs posted.
struct BookDetail {
  BookFigures figures;
  std::map<std::string, Fen> by_payer, by_layer;
  Fen bank = 0, claims_payable = 0, surplus_payable = 0, loss_share_receivable = 0;
  Fen year_end_shortfall = 0, year_end_government = 0;
  void add(const BookDetail& o) {
    figures = sum(figures, o.figures);
    for (const auto& [k, v] : o.by_payer) by_payer[k] += v;
    for (const auto& [k, v] : o.by_layer) by_layer[k] += v;
    bank += o.bank, claims_payable += o.claims_payable, surplus_payable += o.surplus_payable;
    loss_share_receivable += o.loss_share_receivable;
    year_end_shortfall += o.year_end_shortfall, year_end_government += o.year_end_government;
  }
};

// The books of one year the scope selects, by (product, region).
Result<std::map<BookKey, BookDetail>> book_details(Db& db, const Scope& s, int year) {
  std::vector<BalanceRow> rows;
  if (Status st = book_balances(db, {year, s.query->product, s.query->region}, &rows); !st.ok())
    return st;
  std::map<BookKey, BookDetail> out;
  for (const BalanceRow& r : rows) {
    BookDetail& d = out[{r.product, r.region}];
    const std::string_view name = std::string_view(r.account).substr(0, r.account.find(':'));
    const std::string detail(account_detail(r.account));
    const Fen b = r.balance();
    if (name == account::kPremiumIncome) d.by_payer[detail] += b;
    if (name == account::kClaimsExpense) d.by_layer[detail] += b;
    if (name == account::kBank) d.bank += b;
    if (name == account::kClaimsPayable) d.claims_payable += b;
    if (name == account::kSurplusPayable) d.surplus_payable += b;
    if (name == account::kLossShareReceivable) d.loss_share_receivable += b;
  }
  for (auto& [key, d] : out) d.figures = figures_of(rows, key.first, key.second, year);
  Status q = query_rows(
      db,
      "SELECT l.product, l.region, l.account, SUM(l.debit_fen) - SUM(l.credit_fen) FROM "
      "journal_lines l JOIN journal_entries e ON e.id = l.entry_id WHERE e.kind = 'year_end' "
      "AND l.year = ? AND l.account IN ('carry_over_out', 'surplus_returned', "
      "'loss_share_receivable') GROUP BY 1, 2, 3",
      {int64_t(year)}, [&](Stmt& st) {
        auto it = out.find({std::string(st.column_text(0)), std::string(st.column_text(1))});
        if (it == out.end()) return;
        (st.column_text(2) == "loss_share_receivable" ? it->second.year_end_government
                                                      : it->second.year_end_shortfall) +=
            st.column_int64(3);
      });
  if (!q.ok()) return q;
  return out;
}

}  // namespace

Result<std::string> loss_ratio_report(Db& db, const Scope& s) {
  ReportBuilder r("loss_ratio", "赔付率 Loss ratio per product, region and year");
  put_scope(s, &r);
  r.root()["notes"] = Json::array();
  r.root()["notes"].push_back(
      "loss ratio = claims / earned premium, from the books; earned premium = premium income "
      "net of refunds + premiums transferred in - out + last year's surplus carried in; claims "
      "are the layers the insurer pays, net of reversals and adjustments.");
  Result<std::map<BookKey, BookDetail>> books = book_details(db, s, s.year);
  if (!books.ok()) return books.status();
  Json floors = Json::object(), ceilings = Json::object(), products = Json::object();
  std::vector<Column> cols = {{"plan_id", "方案 plan", ColType::kText},
                              {"product", "险种 product", ColType::kText},
                              {"region", "地区代码 region", ColType::kText},
                              {"region_name", "地区 region name", ColType::kText},
                              {"year", "年度 year", ColType::kInt},
                              {"premium_income", "保费收入 premium income", ColType::kYuan}};
  for (int k = 0; k < kPayerKindCount; ++k) {
    const std::string name(payer_kind_name(PayerKind(k)));
    cols.push_back({"premium_" + name, "其中 " + name, ColType::kYuan});
  }
  for (Column c :
       std::vector<Column>{{"transfer_in", "调入 transferred in", ColType::kYuan},
                           {"transfer_out", "调出 transferred out", ColType::kYuan},
                           {"carry_over_in", "上年结余转入 carried in", ColType::kYuan},
                           {"earned_premium", "可用保费 earned premium", ColType::kYuan},
                           {"claims", "赔款 claims", ColType::kYuan},
                           {"loss_ratio", "赔付率 loss ratio", ColType::kPercent},
                           {"floor", "下限 floor", ColType::kText},
                           {"band", "区间 band", ColType::kText},
                           {"shortfall", "结余(低于下限) shortfall", ColType::kYuan},
                           {"surplus_rule", "结余处理 surplus rule", ColType::kText},
                           {"ceiling", "上限 ceiling", ColType::kText},
                           {"government_share", "政府分担 government share", ColType::kYuan},
                           {"insurer_share", "承保机构分担 insurer share", ColType::kYuan},
                           {"year_end_posted", "年终已入账 year end posted", ColType::kYuan},
                           {"operating_cost", "运营费用 operating cost", ColType::kYuan},
                           {"platform_fee", "平台服务费 platform fee", ColType::kYuan},
                           {"cost_ratio", "费用率 cost ratio", ColType::kPercent},
                           {"cost_over_cap", "费用超限 cost over cap", ColType::kText},
                           {"bank", "资金专户余额 bank", ColType::kYuan},
                           {"claims_payable", "应付赔款 claims payable", ColType::kYuan}})
    cols.push_back(std::move(c));
  TableBuilder t = r.table("by_region", "赔付率 Loss ratio by product and city", std::move(cols));
  TableBuilder layers = r.table("claims_by_layer", "赔款分层 Claims by layer",
                                {{"product", "险种 product", ColType::kText},
                                 {"region", "地区代码 region", ColType::kText},
                                 {"region_name", "地区 region name", ColType::kText},
                                 {"layer", "层 layer", ColType::kText},
                                 {"claims", "赔款 claims", ColType::kYuan}});
  auto write = [&](const StoredPlan* sp, const std::string& product, const std::string& region,
                   const BookDetail& d) {
    const FundRules& rules = sp->plan.fund;
    const YearEndOutcome o = year_end_outcome(d.figures, rules);
    const BookFigures& f = d.figures;
    t.text(sp->plan_id).text(product).text(region).text(region_name(region)).integer(s.year);
    t.yuan(f.premium_income);
    for (int k = 0; k < kPayerKindCount; ++k) {
      auto it = d.by_payer.find(std::string(payer_kind_name(PayerKind(k))));
      t.yuan(it == d.by_payer.end() ? 0 : it->second);
    }
    t.yuan(f.transfer_in).yuan(f.transfer_out).yuan(f.carry_over_in).yuan(f.earned_premium());
    t.yuan(f.claims).percent(f.claims, f.earned_premium());
    t.text(rules.loss_ratio_floor.ppm > 0 ? rate_to_string(rules.loss_ratio_floor) : "");
    t.text(loss_band_name(o.band)).yuan(o.shortfall);
    t.text(!rules.declared || rules.loss_ratio_floor.ppm == 0 ? ""
           : rules.surplus == SurplusRule::kCarryOver         ? "carry_over"
                                                              : "return");
    t.text(rules.has_ceiling ? rate_to_string(rules.loss_ratio_ceiling) : "");
    t.yuan(o.government_share).yuan(o.insurer_share);
    t.yuan(d.year_end_shortfall + d.year_end_government);
    t.yuan(f.operating_cost).yuan(f.platform_fee);
    t.percent(__int128(f.operating_cost) + f.platform_fee, f.earned_premium());
    t.text(o.cost_cap_applies ? (o.cost_over_cap ? "yes" : "no") : "");
    t.yuan(d.bank).yuan(d.claims_payable).end_row();
    for (const auto& [layer, amount] : d.by_layer) {
      layers.text(product).text(region).text(region_name(region)).text(layer).yuan(amount);
      layers.end_row();
    }
  };
  for (const StoredPlan* sp : s.year_plans) {
    for (const Product& prod : sp->plan.products) {
      if (!s.product_selected(prod.id)) continue;
      products[prod.id] = prod.name;
      if (sp->plan.fund.loss_ratio_floor.ppm > 0)
        floors[prod.id] = rate_to_string(sp->plan.fund.loss_ratio_floor);
      if (sp->plan.fund.has_ceiling)
        ceilings[prod.id] = rate_to_string(sp->plan.fund.loss_ratio_ceiling);
      BookDetail province;
      bool any = false;
      for (const auto& [key, d] : *books) {
        if (key.first != prod.id || !sp->plan.in_region(key.second)) continue;
        any = true;
        province.add(d);
        write(sp, key.first, key.second, d);
      }
      if (any && s.with_province()) write(sp, prod.id, std::string(kProvince), province);
    }
  }
  r.root()["products"] = products;
  r.root()["floors"] = floors;
  r.root()["ceilings"] = ceilings;
  return r.dump();
}

Result<std::string> evaluation_report(Db& db, const Scope& s) {
  ReportBuilder r("evaluation", "周期评估 Evaluation over consecutive plan years");
  put_scope(s, &r);
  r.root()["notes"] = Json::array();
  r.root()["notes"].push_back(
      "The loss ratio of each product and city over the plan's evaluation cycle ([fund] "
      "evaluation_years, e.g. 3 for the 2024 notice's 以3年为周期进行评估), ending with the "
      "report's year: the cycle's claims over its earned premium, against the floor.");
  TableBuilder t = r.table("cycle", "周期 The cycle",
                           {{"plan_id", "方案 plan", ColType::kText},
                            {"product", "险种 product", ColType::kText},
                            {"region", "地区代码 region", ColType::kText},
                            {"region_name", "地区 region name", ColType::kText},
                            {"from_year", "起 from", ColType::kInt},
                            {"to_year", "止 to", ColType::kInt},
                            {"years_with_books", "有账年数 years with books", ColType::kInt},
                            {"earned_premium", "可用保费 earned premium", ColType::kYuan},
                            {"claims", "赔款 claims", ColType::kYuan},
                            {"loss_ratio", "周期赔付率 cycle loss ratio", ColType::kPercent},
                            {"floor", "下限 floor", ColType::kText},
                            {"meets_floor", "达标 meets floor", ColType::kText},
                            {"years_meeting_floor", "达标年数 years meeting it", ColType::kInt}});
  TableBuilder y = r.table("years", "各年 Each year of the cycle",
                           {{"product", "险种 product", ColType::kText},
                            {"region", "地区代码 region", ColType::kText},
                            {"region_name", "地区 region name", ColType::kText},
                            {"year", "年度 year", ColType::kInt},
                            {"earned_premium", "可用保费 earned premium", ColType::kYuan},
                            {"claims", "赔款 claims", ColType::kYuan},
                            {"loss_ratio", "赔付率 loss ratio", ColType::kPercent}});
  for (const StoredPlan* sp : s.year_plans) {
    const FundRules& rules = sp->plan.fund;
    const int n = rules.evaluation_years;
    std::map<int, std::map<BookKey, BookDetail>> years;
    for (int year = s.year - n + 1; year <= s.year; ++year) {
      Result<std::map<BookKey, BookDetail>> b = book_details(db, s, year);
      if (!b.ok()) return b.status();
      years[year] = std::move(*b);
    }
    for (const Product& prod : sp->plan.products) {
      if (!s.product_selected(prod.id)) continue;
      std::set<std::string> regions;
      for (const auto& [year, books] : years) {
        for (const auto& [key, d] : books) {
          if (key.first == prod.id && sp->plan.in_region(key.second)) regions.insert(key.second);
        }
      }
      if (regions.empty()) continue;
      auto write = [&](const std::string& region, const std::map<int, BookFigures>& by_year) {
        BookFigures total;
        int with_books = 0, meeting = 0;
        for (const auto& [year, f] : by_year) {
          ++with_books;
          total = sum(total, f);
          const bool meets = f.earned_premium() > 0 &&
                             !ratio_below(f.claims, f.earned_premium(), rules.loss_ratio_floor);
          meeting += meets ? 1 : 0;
          y.text(prod.id).text(region).text(region_name(region)).integer(year);
          y.yuan(f.earned_premium()).yuan(f.claims).percent(f.claims, f.earned_premium());
          y.end_row();
        }
        const Fen earned = total.earned_premium();
        t.text(sp->plan_id).text(prod.id).text(region).text(region_name(region));
        t.integer(s.year - n + 1).integer(s.year).integer(with_books).yuan(earned);
        t.yuan(total.claims).percent(total.claims, earned);
        t.text(rules.loss_ratio_floor.ppm > 0 ? rate_to_string(rules.loss_ratio_floor) : "");
        if (rules.loss_ratio_floor.ppm == 0 || earned <= 0) {
          t.null();
        } else {
          t.text(ratio_below(total.claims, earned, rules.loss_ratio_floor) ? "no" : "yes");
        }
        t.integer(meeting).end_row();
      };
      std::map<int, BookFigures> province;
      for (const std::string& region : regions) {
        std::map<int, BookFigures> by_year;
        for (const auto& [year, books] : years) {
          auto it = books.find({prod.id, region});
          if (it == books.end()) continue;
          by_year[year] = it->second.figures;
          province[year] = sum(province[year], it->second.figures);
        }
        write(region, by_year);
      }
      if (s.with_province()) write(std::string(kProvince), province);
    }
  }
  return r.dump();
}

Result<std::string> books_report(Db& db, const Scope& s) {
  ReportBuilder r("books", "专账 Trial balance of every book");
  put_scope(s, &r);
  std::vector<BalanceRow> rows;
  if (Status st = book_balances(db, {s.year, s.query->product, s.query->region}, &rows); !st.ok())
    return st;
  TableBuilder t = r.table("accounts", "科目余额 Accounts",
                           {{"product", "险种 product", ColType::kText},
                            {"region", "地区代码 region", ColType::kText},
                            {"year", "年度 year", ColType::kInt},
                            {"account", "科目 account", ColType::kText},
                            {"title", "名称 title", ColType::kText},
                            {"debit", "借方 debit", ColType::kYuan},
                            {"credit", "贷方 credit", ColType::kYuan},
                            {"balance", "余额 balance", ColType::kYuan}});
  std::map<std::tuple<std::string, std::string, int>, std::pair<Fen, Fen>> totals;
  for (const BalanceRow& b : rows) {
    const AccountInfo* a = account_info(b.account);
    t.text(b.product).text(b.region).integer(b.year).text(b.account);
    t.text(a == nullptr ? "" : a->title).yuan(b.debit).yuan(b.credit).yuan(b.balance()).end_row();
    auto& tot = totals[{b.product, b.region, b.year}];
    tot.first += b.debit;
    tot.second += b.credit;
  }
  TableBuilder bk = r.table("books", "账套 Books",
                            {{"product", "险种 product", ColType::kText},
                             {"region", "地区代码 region", ColType::kText},
                             {"region_name", "地区 region name", ColType::kText},
                             {"year", "年度 year", ColType::kInt},
                             {"debits", "借方合计 debits", ColType::kYuan},
                             {"credits", "贷方合计 credits", ColType::kYuan},
                             {"balanced", "平衡 balanced", ColType::kText}});
  for (const auto& [key, tot] : totals) {
    const auto& [product, region, year] = key;
    bk.text(product).text(region).text(region_name(region)).integer(year).yuan(tot.first);
    bk.yuan(tot.second).text(tot.first == tot.second ? "yes" : "no").end_row();
  }
  return r.dump();
}

Result<std::string> reconcile_report(Db& db, const Scope& s) {
  ReportBuilder r("reconcile", "对账 Books against settlements, premiums and enrolments");
  put_scope(s, &r);
  const int64_t year = s.year;
  Result<int64_t> unposted = unposted_settlements(db);
  if (!unposted.ok()) return unposted.status();
  r.root()["scope"]["unposted_settlements"] = *unposted;
  TableBuilder checks = r.table("checks", "对账 The figures compared",
                                {{"check", "核对项 check", ColType::kText},
                                 {"product", "险种 product", ColType::kText},
                                 {"region", "地区代码 region", ColType::kText},
                                 {"item", "项目 item", ColType::kText},
                                 {"books", "账面 books", ColType::kYuan},
                                 {"facts", "业务数据 facts", ColType::kYuan},
                                 {"difference", "差额 difference", ColType::kYuan},
                                 {"status", "结果 status", ColType::kText}});
  std::map<std::string, std::pair<int64_t, int64_t>> tally;  // check -> (rows, differing)
  int64_t differing = 0;
  std::vector<std::string> warnings;
  auto compare = [&](std::string_view check, std::string_view product, std::string_view region,
                     std::string_view item, Fen books, Fen facts, std::string_view otherwise) {
    const bool same = books == facts;
    checks.text(check).text(product).text(region).text(item).yuan(books).yuan(facts);
    checks.yuan(books - facts).text(same ? "ok" : otherwise).end_row();
    auto& t = tally[std::string(check)];
    ++t.first;
    if (!same) {
      ++t.second;
      if (otherwise == "differs") ++differing;
    }
  };

  // 1. Claims by layer: books against the posted settlements' layers.
  std::map<std::tuple<std::string, std::string, std::string>, std::pair<Fen, Fen>> layers;
  Status q = grouped_sums(
      db, "", {"product", "region", "account"}, {"debit_fen - credit_fen"},
      "FROM journal_lines WHERE year = ? AND account LIKE 'claims_expense:%'", {year},
      [&](const std::vector<std::string_view>& k, const int64_t* v) {
        if (!s.product_selected(k[0]) || !s.region_selected(k[1])) return;
        layers[{std::string(k[0]), std::string(k[1]), std::string(account_detail(k[2]))}].first +=
            v[0];
      });
  if (!q.ok()) return q;
  // The insurers' layers of the year's plans (ids are [a-z0-9_], safe to inline).
  std::set<std::string> insurer_layers;
  for (const StoredPlan* sp : s.plans.of_year(int(year))) {
    for (const Layer& L : sp->plan.layers) {
      if (!claims_product(sp->plan, L.id).empty()) insurer_layers.insert(L.id);
    }
    if (sp->plan.accident_product >= 0) insurer_layers.insert("accident");
  }
  std::string in_list;
  for (const std::string& l : insurer_layers) in_list += (in_list.empty() ? "'" : ", '") + l + "'";
  if (!in_list.empty()) {
    q = grouped_sums(
        db, "", {"plan_id", "region", "layer"}, {"amount_fen"},
        "FROM claim_layer_facts WHERE plan_year = ? AND layer IN (" + in_list + ")", {year},
        [&](const std::vector<std::string_view>& k, const int64_t* v) {
          const StoredPlan* sp = s.plans.latest(k[0]);
          if (sp == nullptr || !s.region_selected(k[1])) return;
          const std::string_view product = claims_product(sp->plan, k[2]);
          if (product.empty() || !s.product_selected(product)) return;
          layers[{std::string(product), std::string(k[1]), std::string(k[2])}].second += v[0];
        });
    if (!q.ok()) return q;
  }
  for (const auto& [key, v] : layers) {
    const auto& [product, region, layer] = key;
    compare("claims_by_layer", product, region, layer, v.first, v.second, "differs");
  }

  // 2. Premiums by payer: books, premiums rows, enrolments' payer splits.
  struct Prem {
    Fen book_credit = 0, book_debit = 0, charged = 0, refunded = 0, split = 0;
  };
  std::map<std::pair<std::string, std::string>, Prem> prem;  // (product, payer)
  std::map<std::pair<std::string, std::string>, std::pair<Fen, Fen>> prem_region;  // books, facts
  q = grouped_sums(db, "", {"product", "region", "account"}, {"credit_fen", "debit_fen"},
                   "FROM journal_lines WHERE year = ? AND account LIKE 'premium_income:%'", {year},
                   [&](const std::vector<std::string_view>& k, const int64_t* v) {
                     if (!s.product_selected(k[0])) return;
                     Prem& p = prem[{std::string(k[0]), std::string(account_detail(k[2]))}];
                     p.book_credit += v[0];
                     p.book_debit += v[1];
                     prem_region[{std::string(k[0]), std::string(k[1])}].first += v[0] - v[1];
                   });
  if (!q.ok()) return q;
  const std::string year_plans =
      " JOIN (SELECT DISTINCT plan_id FROM plan_versions WHERE year = ?) v ON v.plan_id = "
      "e.plan_id ";
  q = grouped_sums(
      db, "", {"e.product", "substr(p.admdvs, 1, 4) || '00'", "pr.payer_kind"},
      {"CASE WHEN pr.kind = 'charge' THEN pr.amount_fen ELSE 0 END",
       "CASE WHEN pr.kind = 'refund' THEN pr.amount_fen ELSE 0 END"},
      "FROM premiums pr JOIN enrollments e ON e.id = pr.enrollment_id JOIN persons p ON p.psn_no "
      "= e.psn_no" +
          year_plans,
      {year}, [&](const std::vector<std::string_view>& k, const int64_t* v) {
        if (!s.product_selected(k[0])) return;
        Prem& p = prem[{std::string(k[0]), std::string(k[2])}];
        p.charged += v[0];
        p.refunded += v[1];
        prem_region[{std::string(k[0]), std::string(k[1])}].second += v[0] - v[1];
      });
  if (!q.ok()) return q;
  q = grouped_sums(
      db, "", {"e.product", "ep.payer_kind"}, {"ep.amount_fen"},
      "FROM enrollment_payers ep JOIN enrollments e ON e.id = ep.enrollment_id" + year_plans,
      {year}, [&](const std::vector<std::string_view>& k, const int64_t* v) {
        if (!s.product_selected(k[0])) return;
        prem[{std::string(k[0]), std::string(k[1])}].split += v[0];
      });
  if (!q.ok()) return q;
  for (const auto& [key, p] : prem) {
    const auto& [product, payer] = key;
    compare("premiums_charged", product, kProvince, payer, p.book_credit, p.charged, "differs");
    compare("premiums_refunded", product, kProvince, payer, p.book_debit, p.refunded, "differs");
    compare("premiums_vs_payer_splits", product, kProvince, payer, p.book_credit, p.split,
            "differs");
  }
  // By region: the facts by the person's city now; a person who moved city
  // since the premium was posted shows here (a warning, not a difference).
  for (const auto& [key, v] : prem_region) {
    if (!s.region_selected(key.second)) continue;
    compare("premiums_by_region", key.first, key.second, "net premium", v.first, v.second, "moved");
  }

  // 3. The posted facts against the settlements they came from.
  struct Sums {
    int64_t n = 0;
    Fen medfee = 0, fund = 0, hosp = 0, psn = 0;
  };
  std::map<std::string, std::pair<Sums, Sums>> setl;  // plan_id -> (facts, settlements)
  for (const bool facts : {true, false}) {
    q = grouped_sums(
        db, "", {"plan_id"},
        {"1", "medfee_sumamt", "fund_pay_sumamt", "hosp_part_amt", "psn_part_amt"},
        facts ? "FROM claim_facts WHERE plan_year = ?" : "FROM settlements WHERE plan_year = ?",
        {year}, [&](const std::vector<std::string_view>& k, const int64_t* v) {
          auto& pair = setl[std::string(k[0])];
          Sums& x = facts ? pair.first : pair.second;
          x = {v[0], v[1], v[2], v[3], v[4]};
        });
    if (!q.ok()) return q;
  }
  const std::string_view pending = *unposted > 0 ? "pending" : "differs";
  for (const auto& [plan_id, v] : setl) {
    if (!s.plan_selected(plan_id)) continue;
    const auto& [f, st] = v;
    compare("facts_vs_settlements", plan_id, kProvince, "medfee_sumamt", f.medfee, st.medfee,
            pending);
    compare("facts_vs_settlements", plan_id, kProvince, "fund_pay_sumamt", f.fund, st.fund,
            pending);
    compare("facts_vs_settlements", plan_id, kProvince, "hosp_part_amt", f.hosp, st.hosp, pending);
    compare("facts_vs_settlements", plan_id, kProvince, "psn_part_amt", f.psn, st.psn, pending);
  }
  std::map<std::string, std::pair<Fen, Fen>> layer_totals;  // every year: facts, settlements
  for (const bool facts : {true, false}) {
    q = grouped_sums(db, "", {"layer"}, {"amount_fen"},
                     facts ? "FROM claim_layer_facts" : "FROM settlement_layers", {},
                     [&](const std::vector<std::string_view>& k, const int64_t* v) {
                       auto& pair = layer_totals[std::string(k[0])];
                       (facts ? pair.first : pair.second) = v[0];
                     });
    if (!q.ok()) return q;
  }
  for (const auto& [layer, v] : layer_totals)
    compare("layer_facts_vs_settlement_layers", "", "", layer, v.first, v.second, pending);

  // 4. The journal itself.
  BooksCheck bc;
  if (Status st = check_journal(db, &bc); !st.ok()) return st;
  TableBuilder summary = r.table("summary", "结论 Summary",
                                 {{"check", "核对项 check", ColType::kText},
                                  {"rows", "行数 rows", ColType::kInt},
                                  {"not_ok", "不一致 not ok", ColType::kInt},
                                  {"status", "结果 status", ColType::kText}});
  for (const auto& [check, t] : tally) {
    const bool warn_only =
        check == "premiums_by_region" ||
        ((check == "facts_vs_settlements" || check == "layer_facts_vs_settlement_layers") &&
         *unposted > 0);
    summary.text(check).integer(t.first).integer(t.second);
    summary.text(t.second == 0 ? "ok" : warn_only ? "warning" : "differs").end_row();
    if (t.second > 0 && warn_only) warnings.push_back(check);
  }
  summary.text("entries_balanced").integer(bc.entries).integer(int64_t(bc.unbalanced.size()));
  summary.text(bc.unbalanced.empty() ? "ok" : "differs").end_row();
  summary.text("payables_not_overpaid").integer(bc.lines).integer(int64_t(bc.overpaid.size()));
  summary.text(bc.overpaid.empty() ? "ok" : "differs").end_row();
  differing += int64_t(bc.unbalanced.size() + bc.overpaid.size());
  r.root()["status"] = differing == 0 ? "ok" : "differs";
  r.root()["warnings"] = warnings;
  r.root()["problems"] = Json::array();
  for (const std::string& u : bc.unbalanced) r.root()["problems"].push_back(u);
  for (const std::string& u : bc.overpaid) r.root()["problems"].push_back(u);
  return r.dump();
}

}  // namespace huibao::books
