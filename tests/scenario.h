// Scenario files: a plan, a roll, claims and the expected results in one
// text file (tests/scenarios/*.test), run through the real batch pipeline.
//
//   # free text describing the case and its hand computation
//   plan: plans/shandong-2020-fupin.toml     (or an inline "== plan" section)
//   == persons
//   psn_no,psn_name,gend,brdy,admdvs,insutype,categories,preexisting
//   ...
//   == enrollments                           (optional)
//   == claims
//   {...one JSON record per line...}
//   == expected
//   {...one line per result; only the keys written are compared...}
#pragma once
#include <string>

namespace huibao::testing {

struct Scenario {
  std::string name;
  std::string plan_path;  // relative to the repository root
  std::string plan_inline;
  std::string persons, enrollments, claims, expected;
};

// Parses a scenario file; throws std::runtime_error naming the problem.
Scenario read_scenario(const std::string& path);

}  // namespace huibao::testing
