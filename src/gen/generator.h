// Synthetic, realistic data for a plan: a Shandong roll (valid ids, city
// codes, insurance types, hardship categories with dates), enrolments for the
// plan's voluntary products, and a claim stream with a long tail of amounts so
// that caps and every segment are reached, special-drug items, accident cases
// and a small share of invalid records of every kind. Deterministic per seed.
#pragma once
#include <cstdint>
#include <string>

#include "core/error.h"
#include "policy/plan.h"

namespace huibao {

struct GenOptions {
  uint64_t persons = 1000;
  uint64_t claims = 5000;
  uint64_t seed = 1;
  std::string dir;
  int invalid_per_10k = 50;  // share of deliberately invalid claim records
};

struct GenStats {
  uint64_t persons = 0, enrollments = 0, claims = 0, invalid = 0, accident = 0;
};

Status generate(const Plan& plan, const GenOptions& options, GenStats* stats);

}  // namespace huibao
