// The plans as the store keeps them (plan_versions: the TOML text of every
// version settled or enrolled under), loaded as outlines (plan_load.h: all
// but the files they name), and what the books read of them: whose claims a
// layer's payments are, and which plan's rules govern a book.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "policy/plan.h"
#include "store/db.h"

namespace huibao::books {

struct StoredPlan {
  std::string plan_id;
  int version = 0;
  int year = 0;
  Plan plan;
};

class StoredPlans {
 public:
  // Every version in the store; kStoreError when a stored text no longer loads.
  static Result<StoredPlans> load(store::Db& db);

  const Plan* version(std::string_view plan_id, int version) const;
  const StoredPlan* latest(std::string_view plan_id) const;
  // The latest version of every plan of that year, by plan id.
  std::vector<const StoredPlan*> of_year(int year) const;
  // The latest plan of that year that has the product and whose region holds
  // the city; null when none.
  const StoredPlan* for_book(std::string_view product, std::string_view region, int year) const;
  // The highest plan year stored (0 when no plan is).
  int latest_year() const;
  const std::vector<StoredPlan>& all() const { return plans_; }

 private:
  std::vector<StoredPlan> plans_;  // by plan id, then version
};

// The product whose claims a layer's payments are: the product gating the
// layer (its `product` condition); "" for another fund's layer (basic
// insurance, critical illness, assistance, the hospital). The id "accident"
// is the plan's accident product's.
std::string_view claims_product(const Plan& plan, std::string_view layer);

}  // namespace huibao::books
