#include "books/plans.h"

#include <algorithm>

namespace huibao::books {

using store::Db;
using store::Stmt;

Result<StoredPlans> StoredPlans::load(Db& db) {
  StoredPlans out;
  Result<Stmt*> st = db.prepare(
      "SELECT plan_id, version, year, toml FROM plan_versions ORDER BY plan_id, version");
  if (!st.ok()) return st.status();
  for (;;) {
    Result<bool> row = (*st)->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    StoredPlan p;
    p.plan_id = std::string((*st)->column_text(0));
    p.version = int((*st)->column_int64(1));
    p.year = int((*st)->column_int64(2));
    const std::string source = "plan " + p.plan_id + " version " + std::to_string(p.version);
    Result<Plan> plan = load_plan_outline((*st)->column_text(3), source);
    if (!plan.ok())
      return Status(Code::kStoreError,
                    "the stored " + source + " no longer loads: " + plan.status().message());
    p.plan = std::move(*plan);
    out.plans_.push_back(std::move(p));
  }
  return out;
}

const Plan* StoredPlans::version(std::string_view plan_id, int version) const {
  for (const StoredPlan& p : plans_) {
    if (p.plan_id == plan_id && p.version == version) return &p.plan;
  }
  return nullptr;
}

const StoredPlan* StoredPlans::latest(std::string_view plan_id) const {
  const StoredPlan* best = nullptr;
  for (const StoredPlan& p : plans_) {
    if (p.plan_id == plan_id && (best == nullptr || p.version > best->version)) best = &p;
  }
  return best;
}

std::vector<const StoredPlan*> StoredPlans::of_year(int year) const {
  std::vector<const StoredPlan*> out;
  for (const StoredPlan& p : plans_) {
    if (p.year != year) continue;
    if (!out.empty() && out.back()->plan_id == p.plan_id) {
      out.back() = &p;  // a later version of the same plan
    } else {
      out.push_back(&p);
    }
  }
  return out;
}

const StoredPlan* StoredPlans::for_book(std::string_view product, std::string_view region,
                                        int year) const {
  for (const StoredPlan* p : of_year(year)) {
    if (p->plan.find_product(product) >= 0 && p->plan.in_region(region)) return p;
  }
  return nullptr;
}

int StoredPlans::latest_year() const {
  int y = 0;
  for (const StoredPlan& p : plans_) y = std::max(y, p.year);
  return y;
}

std::string_view claims_product(const Plan& plan, std::string_view layer) {
  if (layer == "accident") {
    return plan.accident_product >= 0
               ? std::string_view(plan.products[size_t(plan.accident_product)].id)
               : std::string_view();
  }
  const int l = plan.find_layer(layer);
  if (l < 0) return "";
  const int p = plan.layers[size_t(l)].applies.product;
  return p >= 0 ? std::string_view(plan.products[size_t(p)].id) : std::string_view();
}

}  // namespace huibao::books
