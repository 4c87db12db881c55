// The query parameters of the reports and of the book balances, defined once
// for both front ends: the CLI (`huibao report NAME --year 2024 --plan-id ...`,
// `huibao books balances`) and the HTTP API (`GET /api/v1/reports/NAME?year=
// 2024&plan_id=...`, `/api/v1/books/balances`). One name each (the API's
// snake_case; the CLI's flag is the same with '-' for '_'), one check, one
// message, and the table of which report takes which parameter. A value that
// names nothing stored (a plan, product or settlement) is found out by the
// report itself (ReportTrace::bad_param).
#pragma once
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "books/ops.h"
#include "books/reports.h"

namespace huibao::books {

enum class QueryParam : uint8_t {
  kYear,       // plan year, 1900..2999 (reports: the latest stored when absent)
  kPlanId,     // a plan id
  kProduct,    // a product id
  kRegion,     // a city code NNNN00
  kTop,        // hospitals: how many of each ranking, 1..1000
  kMinClaims,  // hospitals: fewest claims to be ranked by out-of-catalogue share
  kLimit,      // zero self-pay: cases listed, 0..100000 (all are counted)
  kSetlId,     // settlement: which one
};

struct QueryParamInfo {
  QueryParam param;
  std::string_view name;  // the API's name; the CLI's flag is cli_flag(name)
  std::string_view help;
};

// Every parameter, in the order the CLI lists them.
std::span<const QueryParamInfo> query_params();
// By API name (nullptr when there is none of that name).
const QueryParamInfo* query_param(std::string_view name);
const QueryParamInfo& query_param(QueryParam p);
// "plan_id" -> "--plan-id".
std::string cli_flag(std::string_view name);

// Whether a report takes the parameter (every report takes year, plan_id,
// product and region; top and min_claims are the hospitals', limit zero
// self-pay's, setl_id the settlement's).
bool report_takes(ReportKind kind, QueryParam p);
// Every report takes year, plan_id, product and region (`report all`).
bool every_report_takes(QueryParam p);
// The balances take year, product and region.
bool balances_take(QueryParam p);

// A refused value: which parameter, and what to fix (without the name).
struct QueryParamError {
  QueryParam param;
  std::string message;
};

// Checks one value and sets it in q; an empty value leaves q as it is.
std::optional<QueryParamError> set_query_param(ReportQuery* q, QueryParam p,
                                               std::string_view value);
// The balances' filter from a checked query (year 0 there means every year).
BalanceFilter balance_filter(const ReportQuery& q, bool year_given);

}  // namespace huibao::books
