// The enrolment report: enrolled persons and the rate against the
// basic-insurance population by city and for the province (the 2024 notice's
// 30 % target), the payers of the premiums, and the hardship groups.
#include <map>
#include <set>

#include "books/region.h"
#include "books/report_common.h"
#include "books/rules.h"
#include "books/sql.h"
#include "core/category.h"
#include "core/date.h"

namespace huibao::books {

using store::Db;
using store::Stmt;

namespace {

// The plan year's enrolments: those in a plan of that year.
constexpr std::string_view kYearPlans =
    " e.plan_id IN (SELECT plan_id FROM plan_versions WHERE year = ?) ";
constexpr std::string_view kCity = "substr(p.admdvs, 1, 4) || '00'";

struct Population {
  int64_t count = 0;
  std::string source;  // "roll" or the bureau's source
};

using Key = std::pair<std::string, std::string>;  // (plan_id, product)

}  // namespace

Result<std::string> enrolment_report(Db& db, const Scope& s) {
  ReportBuilder r("enrolment", "参保情况 Enrolment by city, payer and hardship group");
  put_scope(s, &r);
  const int64_t year = s.year;
  // The year's bounds for categories in force: the selected plans' period.
  std::string first_day = std::to_string(year) + "-01-01",
              last_day = std::to_string(year) + "-12-31";
  if (!s.year_plans.empty()) {
    first_day = date_to_string(s.year_plans.front()->plan.period_begin);
    last_day = date_to_string(s.year_plans.front()->plan.period_end);
  }

  // The basic-insurance population: the roll's active 310/390 persons by city,
  // unless a bureau gave the figure.
  std::map<std::string, Population> population;
  Status q =
      grouped_sums(db, "", {kCity}, {"1"},
                   "FROM persons p WHERE p.status = 'active' AND p.insutype IN ('310', '390')", {},
                   [&](const std::vector<std::string_view>& k, const int64_t* v) {
                     population[std::string(k[0])] = {v[0], "roll"};
                   });
  if (!q.ok()) return q;
  q = query_rows(db, "SELECT region, population, source FROM basic_population WHERE year = ?",
                 {year}, [&](Stmt& st) {
                   population[std::string(st.column_text(0))] = {
                       st.column_int64(1), "official: " + std::string(st.column_text(2))};
                 });
  if (!q.ok()) return q;

  std::map<Key, std::map<std::string, int64_t>> enrolled;  // -> region -> persons
  // Persons enrolled (each once, whatever their enrolments).
  q = grouped_sums(db, "", {"e.plan_id", "e.product", kCity, "e.psn_no"}, {"1"},
                   "FROM enrollments e JOIN persons p ON p.psn_no = e.psn_no WHERE" +
                       std::string(kYearPlans) + "AND e.status <> 'cancelled'",
                   {year}, [&](const std::vector<std::string_view>& k, const int64_t*) {
                     ++enrolled[{std::string(k[0]), std::string(k[1])}][std::string(k[2])];
                   });
  if (!q.ok()) return q;

  struct PayerFigures {
    int64_t enrolments = 0;
    Fen split = 0, charged = 0, refunded = 0;
  };
  // (plan, product) -> region -> payer_kind -> figures
  std::map<Key, std::map<std::string, std::map<std::string, PayerFigures>>> payers;
  q = grouped_sums(
      db, "", {"e.plan_id", "e.product", kCity, "ep.payer_kind"}, {"1", "ep.amount_fen"},
      "FROM enrollment_payers ep JOIN enrollments e ON e.id = ep.enrollment_id JOIN "
      "persons p ON p.psn_no = e.psn_no WHERE" +
          std::string(kYearPlans) + "AND e.status <> 'cancelled'",
      {year}, [&](const std::vector<std::string_view>& k, const int64_t* v) {
        PayerFigures& f =
            payers[{std::string(k[0]), std::string(k[1])}][std::string(k[2])][std::string(k[3])];
        f.enrolments = v[0];
        f.split = v[1];
      });
  if (!q.ok()) return q;
  q = grouped_sums(
      db, "", {"e.plan_id", "e.product", kCity, "pr.payer_kind"},
      {"CASE WHEN pr.kind = 'charge' THEN pr.amount_fen ELSE 0 END",
       "CASE WHEN pr.kind = 'refund' THEN pr.amount_fen ELSE 0 END"},
      "FROM premiums pr JOIN enrollments e ON e.id = pr.enrollment_id JOIN persons p "
      "ON p.psn_no = e.psn_no WHERE" +
          std::string(kYearPlans),
      {year}, [&](const std::vector<std::string_view>& k, const int64_t* v) {
        PayerFigures& f =
            payers[{std::string(k[0]), std::string(k[1])}][std::string(k[2])][std::string(k[3])];
        f.charged = v[0];
        f.refunded = v[1];
      });
  if (!q.ok()) return q;

  // Hardship groups: persons holding a category on some day of the year.
  const std::string in_force = " c.from_date <= ? AND (c.to_date IS NULL OR c.to_date >= ?) ";
  std::map<std::string, std::map<std::string, int64_t>> group_population;  // region -> category
  q = query_rows(
      db,
      "SELECT " + std::string(kCity) +
          ", c.category, count(DISTINCT c.psn_no) FROM person_categories c JOIN persons "
          "p ON p.psn_no = c.psn_no WHERE p.status = 'active' AND p.insutype IN "
          "('310', '390') AND" +
          in_force + "GROUP BY 1, 2",
      {std::string_view(last_day), std::string_view(first_day)}, [&](Stmt& st) {
        group_population[std::string(st.column_text(0))][std::string(st.column_text(1))] =
            st.column_int64(2);
      });
  if (!q.ok()) return q;
  // Enrolled persons of each group, from the enrolments (most hold no category).
  std::map<Key, std::map<std::string, std::map<std::string, int64_t>>> group_enrolled;
  q = grouped_sums(
      db, "", {"e.plan_id", "e.product", kCity, "c.category", "c.psn_no"}, {"1"},
      "FROM enrollments e CROSS JOIN person_categories c JOIN persons p ON p.psn_no = c.psn_no "
      "WHERE c.psn_no = e.psn_no AND" +
          std::string(kYearPlans) + "AND e.status <> 'cancelled' AND" + in_force,
      {year, std::string_view(last_day), std::string_view(first_day)},
      [&](const std::vector<std::string_view>& k, const int64_t*) {
        ++group_enrolled[{std::string(k[0]), std::string(k[1])}][std::string(k[2])]
                        [std::string(k[3])];
      });
  if (!q.ok()) return q;

  // Targets of the selected plans.
  Json targets = Json::object();
  for (const StoredPlan* p : s.year_plans) {
    if (p->plan.targets.has_enrolment_rate && !targets.contains("enrolment_rate"))
      targets["enrolment_rate"] = rate_to_string(p->plan.targets.enrolment_rate);
  }
  r.root()["targets"] = targets;
  Json products = Json::object();
  for (const StoredPlan* p : s.year_plans) {
    for (const Product& prod : p->plan.products) products[prod.id] = prod.name;
  }
  r.root()["products"] = products;

  TableBuilder by_region =
      r.table("by_region", "参保率 Enrolment rate by city",
              {{"plan_id", "方案 plan", ColType::kText},
               {"product", "险种 product", ColType::kText},
               {"region", "地区代码 region", ColType::kText},
               {"region_name", "地区 region name", ColType::kText},
               {"population", "基本医保参保人数 basic-insurance population", ColType::kInt},
               {"population_source", "人数来源 source", ColType::kText},
               {"enrolled", "投保人数 enrolled", ColType::kInt},
               {"rate", "投保率 rate", ColType::kPercent},
               {"target", "目标 target", ColType::kText},
               {"meets_target", "达标 meets target", ColType::kText}});
  TableBuilder by_payer = r.table("by_payer", "缴费渠道 Premiums by payer",
                                  {{"plan_id", "方案 plan", ColType::kText},
                                   {"product", "险种 product", ColType::kText},
                                   {"region", "地区代码 region", ColType::kText},
                                   {"region_name", "地区 region name", ColType::kText},
                                   {"payer_kind", "缴费渠道 payer", ColType::kText},
                                   {"enrolments", "投保人次 enrolments paid for", ColType::kInt},
                                   {"split", "分担额 payer split (in force)", ColType::kYuan},
                                   {"charged", "已缴 charged", ColType::kYuan},
                                   {"refunded", "已退 refunded", ColType::kYuan},
                                   {"net", "净保费 net", ColType::kYuan}});
  TableBuilder by_group = r.table("by_group", "困难群体 Hardship groups",
                                  {{"plan_id", "方案 plan", ColType::kText},
                                   {"product", "险种 product", ColType::kText},
                                   {"region", "地区代码 region", ColType::kText},
                                   {"region_name", "地区 region name", ColType::kText},
                                   {"category", "群体 group", ColType::kText},
                                   {"population", "人数 persons", ColType::kInt},
                                   {"enrolled", "投保人数 enrolled", ColType::kInt},
                                   {"rate", "投保率 rate", ColType::kPercent}});

  for (const StoredPlan* sp : s.year_plans) {
    const Plan& plan = sp->plan;
    for (const Product& prod : plan.products) {
      if (!s.product_selected(prod.id)) continue;
      const Key key{sp->plan_id, prod.id};
      const auto& enr = enrolled[key];
      // The cities of the plan's region with people or enrolments.
      std::set<std::string> cities;
      for (const auto& [region, pop] : population) {
        if (is_city_code(region) && plan.in_region(region)) cities.insert(region);
      }
      for (const auto& [region, n] : enr) cities.insert(region);
      const std::string target = plan.targets.has_enrolment_rate
                                     ? rate_to_string(plan.targets.enrolment_rate)
                                     : std::string();
      auto region_row = [&](const std::string& region, const Population& pop, int64_t n) {
        by_region.text(sp->plan_id).text(prod.id).text(region).text(region_name(region));
        by_region.integer(pop.count).text(pop.source).integer(n).percent(n, pop.count);
        by_region.text(target);
        if (target.empty() || pop.count == 0) {
          by_region.null();
        } else {
          by_region.text(ratio_below(n, pop.count, plan.targets.enrolment_rate) ? "no" : "yes");
        }
        by_region.end_row();
      };
      Population province{0, "roll"};
      int64_t province_enrolled = 0;
      for (const std::string& region : cities) {
        const Population pop = population.count(region) ? population[region] : Population{};
        const auto it = enr.find(region);
        const int64_t n = it == enr.end() ? 0 : it->second;
        province.count += pop.count;
        if (pop.source != "roll") province.source = "roll and official figures";
        province_enrolled += n;
        if (s.region_selected(region)) region_row(region, pop, n);
      }
      if (s.with_province()) region_row(std::string(kProvince), province, province_enrolled);

      // Payers.
      std::map<std::string, PayerFigures> province_payers;
      auto payer_row = [&](const std::string& region, const std::string& kind,
                           const PayerFigures& f) {
        by_payer.text(sp->plan_id).text(prod.id).text(region).text(region_name(region)).text(kind);
        by_payer.integer(f.enrolments).yuan(f.split).yuan(f.charged).yuan(f.refunded);
        by_payer.yuan(f.charged - f.refunded).end_row();
      };
      for (const auto& [region, kinds] : payers[key]) {
        for (const auto& [kind, f] : kinds) {
          PayerFigures& t = province_payers[kind];
          t.enrolments += f.enrolments;
          t.split += f.split;
          t.charged += f.charged;
          t.refunded += f.refunded;
          if (s.region_selected(region)) payer_row(region, kind, f);
        }
      }
      if (s.with_province()) {
        for (const auto& [kind, f] : province_payers) payer_row(std::string(kProvince), kind, f);
      }

      // Hardship groups.
      std::map<std::string, std::pair<int64_t, int64_t>> province_groups;
      auto group_row = [&](const std::string& region, std::string_view category, int64_t pop,
                           int64_t n) {
        by_group.text(sp->plan_id).text(prod.id).text(region).text(region_name(region));
        by_group.text(category).integer(pop).integer(n).percent(n, pop).end_row();
      };
      auto& genr = group_enrolled[key];
      for (const std::string& region : cities) {
        for (int c = 0; c < kCategoryCount; ++c) {
          const std::string cat(category_name(c));
          const int64_t pop = group_population[region][cat];
          const int64_t n = genr[region][cat];
          if (pop == 0 && n == 0) continue;
          province_groups[cat].first += pop;
          province_groups[cat].second += n;
          if (s.region_selected(region)) group_row(region, cat, pop, n);
        }
      }
      if (s.with_province()) {
        for (int c = 0; c < kCategoryCount; ++c) {
          const std::string cat(category_name(c));
          auto it = province_groups.find(cat);
          if (it != province_groups.end())
            group_row(std::string(kProvince), cat, it->second.first, it->second.second);
        }
      }
    }
  }
  return r.dump();
}

}  // namespace huibao::books
