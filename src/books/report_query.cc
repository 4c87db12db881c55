#include "books/report_query.h"

#include <charconv>

#include "books/region.h"

namespace huibao::books {
namespace {

constexpr QueryParamInfo kParams[] = {
    {QueryParam::kYear, "year", "plan year (default: the latest stored)"},
    {QueryParam::kPlanId, "plan_id", "only this plan"},
    {QueryParam::kProduct, "product", "only this product"},
    {QueryParam::kRegion, "region",
     "only this city (code NNNN00); default: every city and the province"},
    {QueryParam::kTop, "top", "hospitals in each ranking (1 to 1000, default 20)"},
    {QueryParam::kMinClaims, "min_claims",
     "fewest claims to be ranked by out-of-catalogue share (default 30)"},
    {QueryParam::kLimit, "limit", "cases listed, 0 to 100000 (all are counted; default 1000)"},
    {QueryParam::kSetlId, "setl_id",
     "the settlement (default: the year's settlement whose insurers paid most)"},
};

// A whole decimal integer within [lo, hi].
bool int_in(std::string_view v, int lo, int hi, int* out) {
  if (v.empty() || v.size() > 10) return false;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
  }
  int n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n < lo || n > hi) return false;
  *out = n;
  return true;
}

// A plan or product id: 1 to 64 of [A-Za-z0-9_.-].
bool id_like(std::string_view v) {
  if (v.empty() || v.size() > 64) return false;
  for (char c : v) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// A setl_id: 1 to 64 bytes, no spaces or control characters.
bool setl_id_like(std::string_view v) {
  if (v.empty() || v.size() > 64) return false;
  for (char c : v) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return false;
  }
  return true;
}

QueryParamError refuse(QueryParam p, std::string_view value, std::string_view what) {
  std::string shown(value.substr(0, 40));
  return QueryParamError{p, "'" + shown + "' " + std::string(what)};
}

}  // namespace

std::span<const QueryParamInfo> query_params() {
  return kParams;
}

const QueryParamInfo* query_param(std::string_view name) {
  for (const QueryParamInfo& p : kParams) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const QueryParamInfo& query_param(QueryParam p) {
  for (const QueryParamInfo& i : kParams) {
    if (i.param == p) return i;
  }
  return kParams[0];  // unreachable: every parameter is in the table
}

std::string cli_flag(std::string_view name) {
  std::string out = "--";
  for (char c : name) out += c == '_' ? '-' : c;
  return out;
}

bool report_takes(ReportKind kind, QueryParam p) {
  if (every_report_takes(p)) return true;
  switch (p) {
    case QueryParam::kYear:
    case QueryParam::kPlanId:
    case QueryParam::kProduct:
    case QueryParam::kRegion:
      return true;
    case QueryParam::kTop:
    case QueryParam::kMinClaims:
      return kind == ReportKind::kHospitals;
    case QueryParam::kLimit:
      return kind == ReportKind::kZeroSelfPay;
    case QueryParam::kSetlId:
      return kind == ReportKind::kSettlement;
  }
  return false;
}

bool every_report_takes(QueryParam p) {
  return p == QueryParam::kYear || p == QueryParam::kPlanId || p == QueryParam::kProduct ||
         p == QueryParam::kRegion;
}

bool balances_take(QueryParam p) {
  return p == QueryParam::kYear || p == QueryParam::kProduct || p == QueryParam::kRegion;
}

std::optional<QueryParamError> set_query_param(ReportQuery* q, QueryParam p,
                                               std::string_view value) {
  if (value.empty()) return std::nullopt;
  switch (p) {
    case QueryParam::kYear:
      if (!int_in(value, 1900, 2999, &q->year))
        return refuse(p, value, "is not a plan year such as 2024");
      break;
    case QueryParam::kPlanId:
      if (!id_like(value))
        return refuse(p, value, "is not a plan id (1 to 64 letters, digits, '_', '.', '-')");
      q->plan_id = std::string(value);
      break;
    case QueryParam::kProduct:
      if (!id_like(value))
        return refuse(p, value, "is not a product id (1 to 64 letters, digits, '_', '.', '-')");
      q->product = std::string(value);
      break;
    case QueryParam::kRegion:
      if (!is_city_code(value))
        return refuse(p, value, "is not a city code such as 370200 (NNNN00)");
      q->region = std::string(value);
      break;
    case QueryParam::kTop:
      if (!int_in(value, 1, 1000, &q->top)) return refuse(p, value, "must be 1 to 1000");
      break;
    case QueryParam::kMinClaims:
      if (!int_in(value, 0, 1000000000, &q->min_claims))
        return refuse(p, value, "must be a count, 0 or more");
      break;
    case QueryParam::kLimit:
      if (!int_in(value, 0, 100000, &q->rows_max)) return refuse(p, value, "must be 0 to 100000");
      break;
    case QueryParam::kSetlId:
      if (!setl_id_like(value))
        return refuse(p, value, "is not a setl_id (1 to 64 bytes, no spaces)");
      q->setl_id = std::string(value);
      break;
  }
  return std::nullopt;
}

BalanceFilter balance_filter(const ReportQuery& q, bool year_given) {
  BalanceFilter f;
  f.year = year_given ? q.year : 0;
  f.product = q.product;
  f.region = q.region;
  return f;
}

}  // namespace huibao::books
