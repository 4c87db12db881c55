// Parses one claims.jsonl line into a Record and applies the rejection checks
// 1-7 of DOMAIN.md §6 in their order (duplicates and given_exceeds_base are
// decided later, in input and settlement order). Not thread-safe; use one
// parser per thread.
#pragma once
#include <memory>
#include <string_view>

#include "batch/record.h"
#include "policy/plan.h"
#include "policy/roll.h"

namespace huibao {

class ClaimParser {
 public:
  ClaimParser(const Plan& plan, const Roll& roll);
  ~ClaimParser();

  // Parses every line of lines (each ends with LF or CR LF, the last may
  // not; blank lines are skipped) and appends one record per line to out,
  // settleable or already rejected. lines must be followed by at least
  // kPadding readable bytes (any content).
  void parse_lines(std::string_view lines, RecordSet* out);
  // One line, the same way.
  void parse(std::string_view line, RecordSet* out);

  static constexpr size_t kPadding = 64;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace huibao
