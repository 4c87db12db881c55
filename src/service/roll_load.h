// Builds the engine's in-memory Roll from the store, for settling against
// the stored roll: every person with their categories and the dates those
// are in force, and the plan's enrolments with the days they covered (a
// cancelled one up to its cancellation day).
#pragma once
#include "core/error.h"
#include "policy/plan.h"
#include "policy/roll.h"
#include "store/db.h"

namespace huibao {

// only_psn: load just that person (a reversal, a single settlement).
Status load_roll(store::Db& db, const Plan& plan, Roll* roll, std::string_view only_psn = {});

}  // namespace huibao
