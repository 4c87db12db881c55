// The read-only supervision reports, their charts and the books' balances,
// for the bureau and the insurers (issue 5). Reports are src/books's, made
// exactly as `huibao report` makes them, with the same parameters and checks
// (books/report_query.h); the answer is JSON by default, CSV (one table) or
// XLSX by format= or the Accept header, and a chart is SVG. Persons in a
// report (zero self-pay cases, one settlement) are masked as the role's
// masking says, and each person shown is written to the audit log before
// the answer goes out. Posting, payments, costs, transfers, carry-over and
// the year end stay in the CLI.
#include <map>
#include <set>
#include <string>

#include "books/ops.h"
#include "books/report_model.h"
#include "books/report_query.h"
#include "server/server_internal.h"
#include "service/audit.h"

namespace huibao::server {
namespace {

const char* kJson = "application/json; charset=utf-8";
const char* kCsv = "text/csv; charset=utf-8";
const char* kXlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const char* kSvg = "image/svg+xml; charset=utf-8";

enum class Format : uint8_t { kJson, kCsv, kXlsx };

// format= wins; else the first type of the Accept header that is made here;
// else JSON.
std::optional<ApiError> choose_format(const httplib::Request& req, Format* out) {
  *out = Format::kJson;
  if (req.has_param("format")) {
    const std::string f = req.get_param_value("format");
    if (f == "json") return std::nullopt;
    if (f == "csv") {
      *out = Format::kCsv;
      return std::nullopt;
    }
    if (f == "xlsx") {
      *out = Format::kXlsx;
      return std::nullopt;
    }
    return param_error(ApiCode::kInvalidValue, "format",
                       "'" + f.substr(0, 40) + "' is not json, csv or xlsx");
  }
  const std::string accept = req.get_header_value("Accept");
  size_t at = 0;
  while (at < accept.size()) {
    size_t end = accept.find(',', at);
    if (end == std::string::npos) end = accept.size();
    std::string_view type(accept.data() + at, end - at);
    type = type.substr(0, type.find(';'));
    while (!type.empty() && type.front() == ' ') type.remove_prefix(1);
    while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
    if (type == "application/json") return std::nullopt;
    if (type == "text/csv") {
      *out = Format::kCsv;
      return std::nullopt;
    }
    if (type == kXlsx) {
      *out = Format::kXlsx;
      return std::nullopt;
    }
    at = end + 1;
  }
  return std::nullopt;
}

// The query string as a report query: each parameter once, only those the
// endpoint takes (`takes`, or its own `extra` such as format), each checked
// as the CLI checks it.
template <class Takes>
std::optional<ApiError> read_query(const httplib::Request& req, Takes takes,
                                   std::initializer_list<std::string_view> extra,
                                   books::ReportQuery* q, bool* year_given) {
  for (const auto& [name, value] : req.params) {
    if (req.get_param_value_count(name.c_str()) > 1)
      return param_error(ApiCode::kInvalidValue, name.substr(0, 40), "is given more than once");
    if (std::find(extra.begin(), extra.end(), name) != extra.end()) continue;
    const books::QueryParamInfo* p = books::query_param(name);
    if (p == nullptr || !takes(p->param)) {
      std::string list;
      for (const books::QueryParamInfo& i : books::query_params()) {
        if (takes(i.param)) list += (list.empty() ? "" : ", ") + std::string(i.name);
      }
      for (std::string_view e : extra) list += ", " + std::string(e);
      return param_error(ApiCode::kUnknownParameter, name.substr(0, 40),
                         "not a parameter of this endpoint; it takes " + list);
    }
    if (auto e = books::set_query_param(q, p->param, value))
      return param_error(ApiCode::kInvalidValue, p->name, e->message);
    if (p->param == books::QueryParam::kYear) *year_given = true;
  }
  return std::nullopt;
}

// The catalogue's roles for a report ("bureau,insurer") name the role.
bool role_reads(const books::ReportInfo& info, Role role) {
  std::string_view roles = info.roles;
  while (!roles.empty()) {
    const size_t comma = roles.find(',');
    if (roles.substr(0, comma) == role_name(role)) return true;
    if (comma == std::string_view::npos) break;
    roles.remove_prefix(comma + 1);
  }
  return false;
}

const books::ReportInfo* report_of_chart(std::string_view chart) {
  for (const books::ReportInfo& r : books::report_catalog()) {
    if (!chart.empty() && r.chart == chart) return &r;
  }
  return nullptr;
}

// The year a report is of (its scope), for file names.
std::string year_of(const std::string& report_json) {
  const Json j = Json::parse(report_json, nullptr, false);
  if (j.is_object() && j.contains("scope") && j["scope"].contains("year") &&
      j["scope"]["year"].is_number_integer())
    return std::to_string(j["scope"]["year"].get<int64_t>());
  return "report";
}

std::string attachment(const std::string& file) {
  return "attachment; filename=\"" + file + "\"";
}

}  // namespace

// The report on a pooled connection, masked for the caller's role.
std::optional<ApiError> ApiServer::Impl::run_report(Call& c, const books::ReportInfo& info,
                                                    const books::ReportQuery& query,
                                                    std::string* json, books::ReportTrace* trace) {
  books::ReportQuery q = query;
  q.unmasked = !c.masked();
  Result<std::string> made = Status::Ok();
  {
    Result<DbPool::Lease> lease = pool->acquire();
    if (!lease.ok()) return status_error(lease.status());
    DbPool::Lease& db = *lease;
    made = books::report_json(*db, info.kind, q, trace);
  }
  if (!made.ok()) {
    const Status& s = made.status();
    if (s.code() == Code::kPlanInvalid) {
      if (trace->bad_param.empty()) return api_error(ApiCode::kNotFound, s.message());
      return param_error(ApiCode::kInvalidValue, trace->bad_param, s.message());
    }
    log("error", "report failed",
        {{"error", s.to_string()}, {"report", info.name}, {"request_id", c.request_id}});
    return status_error(s);
  }
  *json = std::move(*made);
  return std::nullopt;
}

// One audit row per person the answer shows (with the settlements shown),
// in one transaction, before the answer goes out.
std::optional<ApiError> ApiServer::Impl::audit_report_read(Call& c, std::string_view what,
                                                           const books::ReportTrace& trace) {
  if (trace.persons.empty()) return std::nullopt;
  std::map<std::string_view, std::vector<std::string_view>> shown;
  for (const books::ReportTrace::PersonRow& p : trace.persons) shown[p.psn_no].push_back(p.setl_id);
  Result<DbPool::Lease> lease = pool->acquire();
  if (!lease.ok()) return status_error(lease.status());
  DbPool::Lease& db = *lease;
  store::Tx tx(*db);
  Status s = tx.status();
  for (const auto& [psn_no, setl_ids] : shown) {
    if (!s.ok()) break;
    s = append_audit(
        *db, c.actor(), "report.read", psn_no,
        Json({{"report", what}, {"setl_ids", setl_ids}, {"masked", c.masked()}}).dump());
  }
  if (s.ok()) s = tx.commit();
  if (s.ok()) return std::nullopt;
  log("error", "audit write failed", {{"error", s.to_string()}, {"request_id", c.request_id}});
  return status_error(s);
}

void ApiServer::Impl::h_reports(Call& c) {
  if (!c.req.params.empty())
    return reply_error(c, param_error(ApiCode::kUnknownParameter, c.req.params.begin()->first,
                                      "the catalogue takes no parameters"));
  Json list = Json::array();
  for (const books::ReportInfo& r : books::report_catalog()) {
    if (!role_reads(r, c.who.role)) continue;
    Json params = Json::array();
    for (const books::QueryParamInfo& p : books::query_params()) {
      if (books::report_takes(r.kind, p.param)) params.push_back(p.name);
    }
    list.push_back({{"name", r.name},
                    {"title", r.title},
                    {"path", "/api/v1/reports/" + std::string(r.name)},
                    {"formats", {"json", "csv", "xlsx"}},
                    {"params", std::move(params)},
                    {"chart", r.chart.empty() ? Json() : Json(r.chart)},
                    {"chart_path",
                     r.chart.empty() ? Json() : Json("/api/v1/charts/" + std::string(r.chart))}});
  }
  c.res.set_content(Json({{"reports", std::move(list)}}).dump(), kJson);
}

void ApiServer::Impl::h_report(Call& c) {
  const std::string name = c.req.matches[1].str();
  const books::ReportInfo* info = books::report_info(name);
  if (info == nullptr)
    return reply_error(
        c, param_error(ApiCode::kUnknownReport, "name",
                       "no report '" + name.substr(0, 40) + "'; GET /api/v1/reports lists them"));
  if (!role_reads(*info, c.who.role))
    return reply_error(c, api_error(ApiCode::kForbidden, "a " + std::string(role_name(c.who.role)) +
                                                             " key may not read this report"));
  Format format;
  if (auto e = choose_format(c.req, &format)) return reply_error(c, *e);
  books::ReportQuery q;
  bool year_given = false;
  const books::ReportKind kind = info->kind;
  if (auto e = read_query(
          c.req, [kind](books::QueryParam p) { return books::report_takes(kind, p); },
          {"format", "table"}, &q, &year_given))
    return reply_error(c, *e);
  const std::string table = c.req.get_param_value("table");
  if (c.req.has_param("table") && format != Format::kCsv)
    return reply_error(c, param_error(ApiCode::kInvalidValue, "table",
                                      "chooses the table of a CSV answer (format=csv) only"));
  std::string json;
  books::ReportTrace trace;
  if (auto e = run_report(c, *info, q, &json, &trace)) return reply_error(c, *e);
  const std::string stem = std::string(info->name) + "-" + year_of(json);
  std::string body, type;
  switch (format) {
    case Format::kJson:
      body = std::move(json);
      type = kJson;
      break;
    case Format::kCsv: {
      if (c.req.has_param("table")) {
        Result<std::vector<std::string>> names = books::report_table_names(json);
        if (!names.ok()) return reply_error(c, status_error(names.status()));
        if (std::find(names->begin(), names->end(), table) == names->end()) {
          std::string list;
          for (const std::string& n : *names) list += (list.empty() ? "" : ", ") + n;
          return reply_error(c, param_error(ApiCode::kInvalidValue, "table",
                                            "'" + table.substr(0, 40) +
                                                "' is not a table of this report: " + list));
        }
      }
      Result<std::string> csv = books::report_table_csv(json, table);
      if (!csv.ok()) return reply_error(c, status_error(csv.status()));
      body = std::move(*csv);
      type = kCsv;
      c.res.set_header("Content-Disposition",
                       attachment(stem + (table.empty() ? "" : "." + table) + ".csv"));
      break;
    }
    case Format::kXlsx: {
      Result<std::string> xlsx = books::report_xlsx_bytes(json);
      if (!xlsx.ok()) {
        log("error", "xlsx failed",
            {{"error", xlsx.status().to_string()}, {"request_id", c.request_id}});
        return reply_error(c, status_error(xlsx.status()));
      }
      body = std::move(*xlsx);
      type = kXlsx;
      c.res.set_header("Content-Disposition", attachment(stem + ".xlsx"));
      break;
    }
  }
  if (auto e = audit_report_read(c, info->name, trace)) {
    c.res.headers.erase("Content-Disposition");
    return reply_error(c, *e);
  }
  c.res.set_content(body, type.c_str());
}

void ApiServer::Impl::h_chart(Call& c) {
  const std::string name = c.req.matches[1].str();
  const books::ReportInfo* info = report_of_chart(name);
  books::ChartKind chart;
  if (info == nullptr || !books::chart_of(info->name, &chart))
    return reply_error(c, param_error(ApiCode::kUnknownReport, "name",
                                      "no chart '" + name.substr(0, 40) +
                                          "'; GET /api/v1/reports names each report's chart"));
  if (!role_reads(*info, c.who.role))
    return reply_error(c, api_error(ApiCode::kForbidden, "a " + std::string(role_name(c.who.role)) +
                                                             " key may not read this chart"));
  books::ReportQuery q;
  bool year_given = false;
  const books::ReportKind kind = info->kind;
  if (auto e = read_query(
          c.req, [kind](books::QueryParam p) { return books::report_takes(kind, p); }, {}, &q,
          &year_given))
    return reply_error(c, *e);
  std::string json;
  books::ReportTrace trace;
  if (auto e = run_report(c, *info, q, &json, &trace)) return reply_error(c, *e);
  Result<std::string> svg = books::chart_svg(chart, json, q.product);
  if (!svg.ok()) {
    log("error", "chart failed",
        {{"error", svg.status().to_string()}, {"request_id", c.request_id}});
    return reply_error(c, status_error(svg.status()));
  }
  if (auto e = audit_report_read(c, name, trace)) return reply_error(c, *e);
  c.res.set_header("Content-Disposition",
                   "inline; filename=\"" + name + "-" + year_of(json) + ".svg\"");
  c.res.set_content(*svg, kSvg);
}

void ApiServer::Impl::h_balances(Call& c) {
  books::ReportQuery q;
  bool year_given = false;
  if (auto e = read_query(c.req, books::balances_take, {}, &q, &year_given))
    return reply_error(c, *e);
  const books::BalanceFilter f = books::balance_filter(q, year_given);
  std::vector<books::BalanceRow> rows;
  Status s;
  {
    Result<DbPool::Lease> lease = pool->acquire();
    if (!lease.ok()) return reply_error(c, status_error(lease.status()));
    DbPool::Lease& db = *lease;
    s = books::book_balances(*db, f, &rows);
  }
  if (!s.ok()) {
    log("error", "balances failed", {{"error", s.to_string()}, {"request_id", c.request_id}});
    return reply_error(c, status_error(s));
  }
  Json out = Json::array();
  for (const books::BalanceRow& r : rows) {
    out.push_back({{"product", r.product},
                   {"region", r.region},
                   {"year", r.year},
                   {"account", r.account},
                   {"debit", fen_to_string(r.debit)},
                   {"credit", fen_to_string(r.credit)},
                   {"balance", fen_to_string(r.balance())}});
  }
  Json j;
  j["filter"] = {{"year", f.year == 0 ? Json() : Json(f.year)},
                 {"product", f.product.empty() ? Json() : Json(f.product)},
                 {"region", f.region.empty() ? Json() : Json(f.region)}};
  j["balances"] = std::move(out);
  c.res.set_content(j.dump(), kJson);
}

void ApiServer::Impl::h_books_check(Call& c) {
  if (!c.req.params.empty())
    return reply_error(c, param_error(ApiCode::kUnknownParameter, c.req.params.begin()->first,
                                      "the check takes no parameters"));
  books::BooksCheck r;
  Status s;
  {
    Result<DbPool::Lease> lease = pool->acquire();
    if (!lease.ok()) return reply_error(c, status_error(lease.status()));
    DbPool::Lease& db = *lease;
    s = books::check_books(*db, &r);
  }
  if (!s.ok()) {
    log("error", "books check failed", {{"error", s.to_string()}, {"request_id", c.request_id}});
    return reply_error(c, status_error(s));
  }
  Json j;
  j["ok"] = r.ok();
  j["entries"] = r.entries;
  j["lines"] = r.lines;
  j["unbalanced"] = r.unbalanced;
  j["overpaid"] = r.overpaid;
  c.res.set_content(j.dump(), kJson);
}

}  // namespace huibao::server
