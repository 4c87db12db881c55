// The basic-insurance population a bureau states officially, by city and
// year (table basic_population): the enrolment report's denominator where
// given, instead of counting the roll.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "store/db.h"

namespace huibao::books {

struct PopulationImport {
  int64_t rows = 0;
  std::vector<std::string> errors;  // "file:line: what is wrong", every bad row
};

// Reads a CSV with the header region,year,population[,source] (region a city
// code 'NNNN00'), all or nothing: any bad row and nothing is written
// (kRollInvalid, every bad row in out->errors). A city and year given again
// replaces the earlier figure.
Status import_population(store::Db& db, const std::string& path, PopulationImport* out);

}  // namespace huibao::books
