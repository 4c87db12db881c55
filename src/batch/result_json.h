// Writes one results.jsonl line (DOMAIN.md §6) with a hand-rolled appender:
// amounts as strings with exactly two decimals, layers in plan order.
#pragma once
#include <string>
#include <vector>

#include "batch/record.h"

namespace huibao {

struct ResultView {
  const Plan* plan = nullptr;
  const Record* record = nullptr;
  Code error = Code::kOk;    // kOk: settled
  std::string message;       // when rejected
  const Fen* pay = nullptr;  // per plan layer (accident: [0])
  const std::vector<std::string>* explain = nullptr;
};

void append_result_json(const ResultView& v, std::string* out);

// Appends s as a JSON string literal, escaping quotes, backslashes and controls.
void append_json_string(std::string_view s, std::string* out);

}  // namespace huibao
