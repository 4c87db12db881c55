#include "core/error.h"

#include <array>
#include <cstdio>
#include <cstdlib>

namespace huibao {
namespace {
constexpr std::array<std::string_view, kCodeCount> kNames = {
    "ok",
    "malformed_record",
    "invalid_psn_no",
    "unknown_person",
    "invalid_dates",
    "outside_plan_year",
    "negative_amount",
    "amounts_inconsistent",
    "duplicate_setl_id",
    "given_exceeds_base",
    "plan_invalid",
    "roll_invalid",
    "io_error",
    "limit_exceeded",
    "store_error",
    "store_constraint",
    "store_busy",
    "store_schema",
    "not_found",
    "unavailable",
};
}  // namespace

std::string_view code_name(Code c) {
  return kNames[static_cast<size_t>(c)];
}

bool code_from_name(std::string_view name, Code* out) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) {
      *out = static_cast<Code>(i);
      return true;
    }
  }
  return false;
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  std::string s(code_name(code_));
  s += ": ";
  s += message_;
  return s;
}

void assert_fail(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "huibao: assertion failed: %s (%s:%d)\n", expr, file, line);
  std::abort();
}

}  // namespace huibao
