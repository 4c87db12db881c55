// The server's insides, shared by server.cc (setup, the request wrapper,
// operations endpoints), handlers_claims.cc (settlement, reversal, accident
// cases, the national envelope), handlers_admin.cc (person lookup,
// enrolment, plans, roll import) and handlers_reports.cc (the read-only
// reports, charts and book balances). Not a public header.
#pragma once
#include <httplib.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "books/reports.h"
#include "server/api_error.h"
#include "server/api_keys.h"
#include "server/config.h"
#include "server/db_pool.h"
#include "server/metrics.h"
#include "server/permissions.h"
#include "server/rate_limit.h"
#include "server/server.h"
#include "service/online_settle.h"

namespace huibao::server {

using Json = nlohmann::ordered_json;

// Every route, for metrics and logs (never the raw path: it may hold a psn_no).
enum RouteId : int {
  kHealthz,
  kReadyz,
  kMetricsRoute,
  kOpenApi,
  kPersonGet,
  kPresettle,
  kSettle,
  kSettlementGet,
  kReverse,
  kAccidentPost,
  kAccidentGet,
  kEnrolPost,
  kRenewPost,
  kCancelPost,
  kPlansGet,
  kDrugListsGet,
  kRollImport,
  kTransaction,
  kReportsList,
  kReportGet,
  kChartGet,
  kBalancesGet,
  kBooksCheckGet,
  kOther,  // unmatched, or refused before routing
  kRouteCount
};
const char* route_name(RouteId r);

// One request being handled.
struct Call {
  Call(const httplib::Request& r, httplib::Response& s, std::string id)
      : req(r), res(s), request_id(std::move(id)) {}
  const httplib::Request& req;
  httplib::Response& res;
  Principal who;
  std::string request_id;
  std::string error_code;  // the code answered, for the log
  // The upload route's body, read by its handler (nullptr elsewhere: the
  // body is in req.body); body_read once the handler has read it whole.
  const httplib::ContentReader* reader = nullptr;
  bool body_read = false;
  std::string actor() const { return "api:" + who.org_code + "/" + who.key_id; }
  bool masked() const { return masks_personal_data(who.role); }
};

// An operation's answer, shared by the REST routes and the envelope.
struct Out {
  int http = 200;
  std::string body;  // JSON when no error
  std::optional<ApiError> error;
  bool replayed = false;  // a settlement answered from the store
  static Out fail(ApiError e) {
    Out o;
    o.http = e.http;
    o.error = std::move(e);
    return o;
  }
};

struct PlanInfo {
  const OnlinePlan* plan;
  std::vector<std::pair<std::string, std::string>> layer_names;  // id, name
  std::string listing_json;                                      // GET /plans item
  std::string drug_lists_json;                                   // GET /plans/{id}/drug-lists
};

struct ApiServer::Impl {
  ServerConfig config;
  std::unique_ptr<OnlineSettler> settler;
  std::unique_ptr<DbPool> pool;
  // API keys are read on their own connection, so a request is never kept
  // waiting for its key behind reports or a roll import on `pool`.
  std::unique_ptr<DbPool> key_pool;
  std::unique_ptr<KeyCache> keys;
  std::unique_ptr<RateLimiter> limiter;
  // Failed authentications per client address (before any key lookup).
  std::unique_ptr<RateLimiter> auth_failures;
  std::unique_ptr<Metrics> metrics;
  std::map<std::string, PlanInfo, std::less<>> plans;
  std::string plans_json;  // GET /plans
  httplib::Server http;
  int bound_fd = -1;
  // A duplicate of the listening socket, shut down by stop(): it stops the
  // listener whether or not httplib has started listening yet. Closed by run().
  int stop_fd = -1;
  std::mutex stop_mu;
  int port = 0;
  // Route patterns and their methods, for 405 and its Allow header.
  struct RouteMethods {
    std::string pattern;
    std::regex re;
    std::string allow;  // "GET", "POST", ...
  };
  std::vector<RouteMethods> route_methods;
  std::atomic<bool> draining{false};
  std::atomic<bool> running{false};
  std::atomic<uint64_t> request_counter{0};
  std::mutex log_mu;

  // Setup.
  Status load_plans();
  void routes();
  httplib::Server::Handler wrap(RouteId route, bool authenticated, Action action,
                                std::function<void(Call&)> fn);
  // The same for a route that reads its body itself (Call::reader).
  httplib::Server::HandlerWithContentReader wrap_reader(RouteId route, Action action,
                                                        std::function<void(Call&)> fn);
  void serve(RouteId route, bool authenticated, Action action, const httplib::Request& req,
             httplib::Response& res, const httplib::ContentReader* reader,
             const std::function<void(Call&)>& fn);
  // The end of every request (metrics, in-flight count, access log); noexcept.
  void finish(const Call& c, RouteId route, std::chrono::steady_clock::time_point t0) noexcept;
  void access_log(const httplib::Request& req, int status, double seconds, const Principal& who,
                  std::string_view request_id, RouteId route, std::string_view code) noexcept;
  // What is refused on the request line and headers alone, before the body is
  // read: a Content-Encoding (415), Transfer-Encoding or a body without
  // Content-Length (411), a declared body over the route's limit (413), a
  // missing or bad key on /api/v1 (401), too many failed keys from the
  // address or requests for the key (429). take_token: spend the key's rate
  // token (the pre-routing check; the 100-continue check only looks).
  std::optional<ApiError> check_before_body(const httplib::Request& req, bool take_token,
                                            Principal* who, std::string* retry_after);
  void refuse_before_body(const httplib::Request& req, httplib::Response& res, const ApiError& e,
                          const std::string& retry_after);

  // Logging: one JSON object per line on stderr.
  void log(std::string_view level, std::string_view msg, const Json& fields);

  // Answers.
  void reply(Call& c, const Out& o);
  void reply_error(Call& c, const ApiError& e);
  std::optional<ApiError> authorize(const Call& c, Action a) const;
  std::optional<ApiError> require_json(const Call& c) const;
  const PlanInfo* plan_info(std::string_view plan_id) const;

  // Operations (handlers_claims.cc).
  // national_ignored: the envelope's national fields accepted and not used.
  Out op_settle(Call& c, std::string_view claim, std::string_view plan_id, bool explain,
                bool commit, Action action,
                std::span<const std::string_view> national_ignored = {});
  Out op_reverse(Call& c, std::string_view setl_id, std::string_view reversal_id);
  Out op_settlement_get(Call& c, std::string_view setl_id, bool accident);
  void h_presettle(Call& c);
  void h_settle(Call& c);
  void h_settlement_get(Call& c);
  void h_reverse(Call& c);
  void h_accident_post(Call& c);
  void h_accident_get(Call& c);
  void h_transaction(Call& c);
  // The settlement answer: setlinfo, setldetail, explain.
  std::string settlement_output(const OnlineOutcome& o, bool masked);

  // Operations (handlers_admin.cc).
  Out op_person(Call& c, std::string_view psn_no, std::string_view on, std::string_view plan_id);
  void h_person(Call& c);
  void h_enrol(Call& c);
  void h_renew(Call& c);
  void h_cancel(Call& c);
  void h_plans(Call& c);
  void h_drug_lists(Call& c);
  void h_roll_import(Call& c);
  void h_readyz(Call& c);

  // The read-only reports, charts and books (handlers_reports.cc).
  void h_reports(Call& c);
  void h_report(Call& c);
  void h_chart(Call& c);
  void h_balances(Call& c);
  void h_books_check(Call& c);
  // A report on a pooled connection, masked for the caller's role; the
  // answer when it cannot be made (a parameter naming nothing stored: 400
  // with the parameter; nothing to report: 404).
  std::optional<ApiError> run_report(Call& c, const books::ReportInfo& info,
                                     const books::ReportQuery& q, std::string* json,
                                     books::ReportTrace* trace);
  // The audit rows of the persons a report shows (report.read, one per
  // person), written before the answer goes out.
  std::optional<ApiError> audit_report_read(Call& c, std::string_view what,
                                            const books::ReportTrace& trace);
};

// An answer after which the connection is closed: the request's body (or
// the rest of it) was not read and must not be taken for the next request.
void answer_and_close(httplib::Response& res, const ApiError& e);
// The same for the answer already in res.
void close_after_answer(httplib::Response& res);

// JSON body helpers for the small endpoints (enrolment and the like): the
// body must be an object whose keys are all in `allowed`.
std::optional<ApiError> parse_object(std::string_view body,
                                     std::initializer_list<std::string_view> allowed,
                                     nlohmann::json* out);
// The same, also accepting the keys of `ignored` (the envelope's national
// fields), whose values must be JSON scalars and are dropped from *out.
std::optional<ApiError> parse_object(std::string_view body,
                                     std::span<const std::string_view> allowed,
                                     std::span<const std::string_view> ignored,
                                     nlohmann::json* out);
// A string member: required or optional ("" when absent or null).
std::optional<ApiError> get_string(const nlohmann::json& j, std::string_view key, bool required,
                                   std::string* out, size_t max_bytes = 256);
std::optional<ApiError> get_bool(const nlohmann::json& j, std::string_view key, bool* out);
// A YYYY-MM-DD day; "" gives today (local calendar day).
std::optional<ApiError> parse_day(std::string_view text, std::string_view name, Date* out);
std::optional<ApiError> check_psn_no(std::string_view psn_no);
std::string masked_psn(std::string_view psn_no, bool masked);

}  // namespace huibao::server
