// The server's setup, the wrapper every route goes through (authentication,
// rate limit, permission, metrics, log) and the operations endpoints.
#include "server/server.h"

#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <utility>

#include "core/resident_id.h"
#include "server/server_internal.h"
#include "service/roll_service.h"
#include "store/migrate.h"

namespace huibao::server {

const char* route_name(RouteId r) {
  static constexpr const char* kNames[kRouteCount] = {
      "healthz",         "readyz",           "metrics",         "openapi",
      "person.get",      "presettlement",    "settlement",      "settlement.get",
      "reversal",        "accident.post",    "accident.get",    "enrolment.add",
      "enrolment.renew", "enrolment.cancel", "plans.get",       "drug_lists.get",
      "roll.import",     "transaction",      "reports.list",    "report.get",
      "chart.get",       "balances.get",     "books_check.get", "other"};
  return kNames[r];
}

// ---- JSON helpers ----

std::optional<ApiError> parse_object(std::string_view body,
                                     std::initializer_list<std::string_view> allowed,
                                     nlohmann::json* out) {
  return parse_object(body, std::span<const std::string_view>(allowed.begin(), allowed.size()), {},
                      out);
}

std::optional<ApiError> parse_object(std::string_view body,
                                     std::span<const std::string_view> allowed,
                                     std::span<const std::string_view> ignored,
                                     nlohmann::json* out) {
  if (body.empty()) {
    *out = nlohmann::json::object();
    return std::nullopt;
  }
  *out = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) return api_error(ApiCode::kBadJson, "the body is not valid JSON");
  if (!out->is_object()) return api_error(ApiCode::kWrongType, "the body must be a JSON object");
  std::vector<std::string> dropped;
  for (const auto& [key, value] : out->items()) {
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    if (std::find(ignored.begin(), ignored.end(), key) != ignored.end()) {
      if (value.is_structured())
        return api_error(ApiCode::kWrongType,
                         key + " must be a string or number (it is accepted, not used)");
      dropped.push_back(key);
      continue;
    }
    std::string list;
    for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    return api_error(ApiCode::kUnknownField,
                     "unknown field '" + clip_utf8(key, 64) + "': this endpoint takes " + list);
  }
  for (const std::string& key : dropped) out->erase(key);
  return std::nullopt;
}

std::optional<ApiError> get_string(const nlohmann::json& j, std::string_view key, bool required,
                                   std::string* out, size_t max_bytes) {
  out->clear();
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return api_error(ApiCode::kMissingField, std::string(key) + " is required");
    return std::nullopt;
  }
  if (!it->is_string())
    return api_error(ApiCode::kWrongType, std::string(key) + " must be a string");
  *out = it->get<std::string>();
  if (out->size() > max_bytes)
    return api_error(ApiCode::kInvalidValue,
                     std::string(key) + " is longer than " + std::to_string(max_bytes) + " bytes");
  if (required && out->empty())
    return api_error(ApiCode::kMissingField, std::string(key) + " must not be empty");
  return std::nullopt;
}

std::optional<ApiError> get_bool(const nlohmann::json& j, std::string_view key, bool* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean())
    return api_error(ApiCode::kWrongType, std::string(key) + " must be true or false");
  *out = it->get<bool>();
  return std::nullopt;
}

std::optional<ApiError> parse_day(std::string_view text, std::string_view name, Date* out) {
  if (text.empty()) {
    *out = today_local();
    return std::nullopt;
  }
  if (!parse_date(text, out))
    return api_error(ApiCode::kInvalidValue, std::string(name) + " must be a date YYYY-MM-DD");
  return std::nullopt;
}

std::optional<ApiError> check_psn_no(std::string_view psn_no) {
  if (psn_no.size() != 18 || !resident_id_checksum_ok(psn_no))
    return ApiError{400, "invalid_psn_no",
                    "psn_no must be an 18-character resident id with the right check character",
                    ""};
  return std::nullopt;
}

std::string masked_psn(std::string_view psn_no, bool masked) {
  if (!masked || psn_no.size() != 18) return std::string(psn_no);
  char out[18];
  mask_resident_id(psn_no, out);
  return std::string(out, 18);
}

// ---- the server ----

ApiServer::ApiServer() : impl_(std::make_unique<Impl>()) {}

ApiServer::~ApiServer() {
  stop();
  if (impl_->settler) impl_->settler->drain();
  if (impl_->stop_fd >= 0) ::close(impl_->stop_fd);
}

namespace {

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kIoError, "cannot read plan file '" + path + "'");
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

std::string plan_listing(const Plan& p) {
  Json j;
  j["plan_id"] = p.id;
  j["name"] = p.name;
  j["year"] = p.year();
  j["period_begin"] = date_to_string(p.period_begin);
  j["period_end"] = date_to_string(p.period_end);
  j["region_admdvs"] = p.region_admdvs;
  Json layers = Json::array();
  for (const Layer& l : p.layers) {
    layers.push_back({{"id", l.id},
                      {"name", l.name},
                      {"payer", l.payer == Payer::kHospital ? "hospital" : "fund"}});
  }
  j["layers"] = std::move(layers);
  Json products = Json::array();
  for (const Product& pr : p.products) {
    products.push_back({{"product", pr.id},
                        {"name", pr.name},
                        {"kind", pr.accident ? "accident" : "medical"},
                        {"premium", fen_to_string(pr.premium)},
                        {"automatic", pr.auto_enroll != 0}});
  }
  j["products"] = std::move(products);
  Json lists = Json::array();
  for (const DrugList& d : p.drug_lists) lists.push_back(d.id);
  j["drug_lists"] = std::move(lists);
  return j.dump();
}

std::string drug_lists_json(const Plan& p) {
  Json out = Json::array();
  for (const DrugList& d : p.drug_lists) {
    std::vector<std::string> codes;
    for (const auto& [code, spans] : d.codes) codes.push_back(code);
    std::sort(codes.begin(), codes.end());
    Json items = Json::array();
    for (const std::string& code : codes) {
      for (const DrugList::Span& s : d.codes.at(code)) {
        items.push_back({{"code", code},
                         {"effective_from", date_to_string(s.from)},
                         {"effective_to", s.to == kOpenEnd ? "" : date_to_string(s.to)}});
      }
    }
    out.push_back({{"id", d.id}, {"items", std::move(items)}});
  }
  Json j;
  j["plan_id"] = p.id;
  j["drug_lists"] = std::move(out);
  return j.dump();
}

}  // namespace

Status ApiServer::Impl::load_plans() {
  std::vector<OnlinePlan> loaded;
  for (const std::string& file : config.plan_files) {
    Result<std::string> text = read_text_file(file);
    if (!text.ok()) return text.status();
    Result<Plan> plan = load_plan(file);
    if (!plan.ok()) return plan.status();
    for (const OnlinePlan& other : loaded) {
      if (other.plan.id == plan->id)
        return Status(Code::kPlanInvalid, "plan " + plan->id + " is given twice");
    }
    loaded.push_back(OnlinePlan{std::move(*text), std::move(*plan)});
  }
  OnlineOptions o;
  o.url = config.store_url;
  o.max_group = size_t(config.max_group);
  o.readers = std::max(2, config.readers);
  o.actor = "api";
  o.before_sync = config.before_sync;
  if (config.checkpoint_bytes > 0) o.checkpoint_bytes = config.checkpoint_bytes;
  if (config.wal_restart_bytes > 0) o.log_restart_bytes = config.wal_restart_bytes;
  o.before_checkpoint = config.before_checkpoint;
  Result<std::unique_ptr<OnlineSettler>> s = OnlineSettler::open(o, std::move(loaded));
  if (!s.ok()) return s.status();
  settler = std::move(*s);
  Json all = Json::array();
  for (const OnlinePlan& p : settler->plans()) {
    PlanInfo info;
    info.plan = &p;
    for (const Layer& l : p.plan.layers) info.layer_names.emplace_back(l.id, l.name);
    info.listing_json = plan_listing(p.plan);
    info.drug_lists_json = drug_lists_json(p.plan);
    all.push_back(Json::parse(info.listing_json));
    plans.emplace(p.plan.id, std::move(info));
  }
  Json j;
  j["plans"] = std::move(all);
  plans_json = j.dump();
  return Status::Ok();
}

const PlanInfo* ApiServer::Impl::plan_info(std::string_view plan_id) const {
  auto it = plans.find(plan_id);
  return it == plans.end() ? nullptr : &it->second;
}

Result<std::unique_ptr<ApiServer>> ApiServer::create(const ServerConfig& config) {
  if (Status s = config.validate(); !s.ok()) return s;
  std::unique_ptr<ApiServer> server(new ApiServer());
  Impl& m = *server->impl_;
  m.config = config;
  const std::chrono::milliseconds wait(config.pool_wait_ms);
  Result<std::unique_ptr<DbPool>> pool = DbPool::open(config.store_url, config.readers, wait);
  if (!pool.ok()) return pool.status();
  m.pool = std::move(*pool);
  Result<std::unique_ptr<DbPool>> key_pool = DbPool::open(config.store_url, 1, wait);
  if (!key_pool.ok()) return key_pool.status();
  m.key_pool = std::move(*key_pool);
  if (Status s = m.load_plans(); !s.ok()) return s;
  // A handler may read a settlement committed but not yet synced: it
  // answers once that commit is durable.
  OnlineSettler* settler = m.settler.get();
  m.pool->on_release([settler] { (void)settler->await_durable(); });
  DbPool* p = m.key_pool.get();
  m.keys = std::make_unique<KeyCache>(
      [p](std::string_view key_id) -> Result<std::optional<StoredKey>> {
        Result<DbPool::Lease> db = p->acquire();
        if (!db.ok()) return db.status();
        return load_api_key(**db, key_id);
      },
      std::chrono::milliseconds(config.key_cache_ms));
  m.limiter = std::make_unique<RateLimiter>(config.rate_per_key, config.burst_per_key);
  m.auth_failures =
      std::make_unique<RateLimiter>(config.auth_failure_rate_per_address,
                                    config.auth_failure_burst_per_address, kAuthAddressesMax);
  std::vector<std::string> names;
  for (int r = 0; r < kRouteCount; ++r) names.push_back(route_name(RouteId(r)));
  m.metrics = std::make_unique<Metrics>(std::move(names));
  m.routes();
  return server;
}

Result<int> ApiServer::bind() {
  Impl& m = *impl_;
  const int threads = m.config.threads;
  m.http.new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
  m.http.set_keep_alive_max_count(size_t(1) << 30);
  m.http.set_keep_alive_timeout(m.config.keep_alive_seconds);
  m.http.set_read_timeout(10);
  m.http.set_write_timeout(10);
  m.http.set_tcp_nodelay(true);
  m.http.set_payload_max_length(std::max(m.config.max_body_bytes, m.config.max_upload_bytes));
  m.http.set_socket_options([&m](int fd) {
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    m.bound_fd = fd;
  });
  if (m.config.port == 0) {
    m.port = m.http.bind_to_any_port(m.config.listen);
    if (m.port <= 0)
      return Status(Code::kIoError, "cannot bind " + m.config.listen + " on any port");
  } else {
    if (!m.http.bind_to_port(m.config.listen, m.config.port))
      return Status(Code::kIoError, "cannot bind " + m.config.listen + ":" +
                                        std::to_string(m.config.port) +
                                        " (in use, or not an address of this machine)");
    m.port = m.config.port;
  }
  // httplib listens with a backlog of 5; 64 clients connecting at once would
  // see dropped SYNs (a second's retry). Linux lets listen() raise it.
  if (m.bound_fd >= 0) {
    ::listen(m.bound_fd, 1024);
    std::lock_guard lock(m.stop_mu);
    m.stop_fd = ::dup(m.bound_fd);
  }
  return m.port;
}

Status ApiServer::run() {
  Impl& m = *impl_;
  m.running = true;
  Json f;
  f["listen"] = m.config.listen;
  f["port"] = m.port;
  f["threads"] = m.config.threads;
  f["plans"] = Json::array();
  for (const auto& [id, info] : m.plans) f["plans"].push_back(id);
  m.log("info", "serving", f);
  const bool ok = m.http.listen_after_bind();
  {
    std::lock_guard lock(m.stop_mu);
    if (m.stop_fd >= 0) ::close(m.stop_fd);
    m.stop_fd = -1;
  }
  // listen_after_bind returns once the pool's threads have finished their
  // connections; then what the settler has queued is committed.
  m.settler->drain();
  m.running = false;
  m.log("info", "stopped", Json::object());
  if (!ok && !m.draining) return Status(Code::kIoError, "the HTTP listener failed");
  return Status::Ok();
}

void ApiServer::stop() {
  Impl& m = *impl_;
  if (m.draining.exchange(true)) return;
  m.log("info", "shutting down: no new connections; finishing requests in flight", Json::object());
  m.http.stop();
  // httplib's stop() does nothing until its listener runs, so a stop before
  // or while run() starts would be lost. Shutting the listening socket down
  // (through a descriptor of our own, never one httplib may have closed and
  // the system reused) ends the accept loop now or as soon as it starts.
  // After httplib's own stop(), so the two never both close its socket.
  std::lock_guard lock(m.stop_mu);
  if (m.stop_fd >= 0) ::shutdown(m.stop_fd, SHUT_RDWR);
}

bool ApiServer::running() const {
  return impl_->running && impl_->http.is_running();
}

int ApiServer::port() const {
  return impl_->port;
}

Metrics& ApiServer::metrics() {
  return *impl_->metrics;
}

// ---- logging and answers ----

void ApiServer::Impl::log(std::string_view level, std::string_view msg, const Json& fields) {
  Json j;
  j["ts"] = store::utc_timestamp_now();
  j["level"] = level;
  j["msg"] = msg;
  for (const auto& [k, v] : fields.items()) j[k] = v;
  const std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard lock(log_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void ApiServer::Impl::reply(Call& c, const Out& o) {
  if (o.error) return reply_error(c, *o.error);
  c.res.status = o.http;
  c.res.set_content(o.body, "application/json; charset=utf-8");
}

void ApiServer::Impl::reply_error(Call& c, const ApiError& e) {
  c.error_code = e.code;
  c.res.status = e.http;
  c.res.set_content(error_body(e), "application/json; charset=utf-8");
}

std::optional<ApiError> ApiServer::Impl::authorize(const Call& c, Action a) const {
  if (permission(c.who.role, a) == Scope::kDeny)
    return api_error(ApiCode::kForbidden, "a " + std::string(role_name(c.who.role)) +
                                              " key may not " + std::string(action_name(a)));
  return std::nullopt;
}

std::optional<ApiError> ApiServer::Impl::require_json(const Call& c) const {
  const std::string type = c.req.get_header_value("Content-Type");
  if (type.empty() || type.rfind("application/json", 0) == 0) return std::nullopt;
  return api_error(ApiCode::kUnsupportedMediaType,
                   "send the body as Content-Type: application/json");
}

namespace {

std::string request_id_of(const httplib::Request& req, uint64_t n) {
  std::string id = req.get_header_value("X-Request-Id");
  const bool usable =
      !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
      });
  if (usable) return id;
  char buf[32];
  std::snprintf(buf, sizeof buf, "hb-%llx", (unsigned long long)n);
  return buf;
}

// The principal the pre-routing check authenticated, for the handler of the
// same request: httplib runs both on one thread, pre-routing first, and the
// pre-routing check resets it for every request.
struct Authenticated {
  bool set = false;
  Principal who;
};
thread_local Authenticated t_authenticated;

bool authenticated_path(const std::string& path) {
  return path.rfind("/api/v1/", 0) == 0 || path.rfind("/fsi/", 0) == 0;
}

// A request after whose headers a body follows (one httplib would read).
bool has_body(const httplib::Request& req) {
  const std::string len = req.get_header_value("Content-Length");
  return req.has_header("Transfer-Encoding") || (!len.empty() && len != "0");
}

// A declared Content-Length above what the path takes (unparseable counts
// as above); *limit is that path's limit.
bool declared_too_large(const httplib::Request& req, const ServerConfig& config, size_t* limit) {
  const bool upload = req.path == "/api/v1/roll/imports";
  *limit = upload ? config.max_upload_bytes : config.max_body_bytes;
  const std::string len = req.get_header_value("Content-Length");
  if (len.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(len.c_str(), &end, 10);
  return !(errno == 0 && end != nullptr && end != len.c_str() && *end == '\0' && n <= *limit);
}

std::string bearer_token(const httplib::Request& req) {
  std::string h = req.get_header_value("Authorization");
  if (h.size() > 7 && (h.rfind("Bearer ", 0) == 0 || h.rfind("bearer ", 0) == 0))
    return h.substr(7);
  return req.get_header_value("X-Api-Key");
}

std::string seconds_text(double s) {
  return std::to_string(int64_t(s) + 1);
}

}  // namespace

// The answer in res (status, body, Content-Type) goes out, then the
// connection is closed. httplib (0.11) closes a connection only when the client asks or its
// keep-alive count runs out, whatever the answer's Connection header says;
// but a content provider that returns false makes the write fail, which ends
// the connection's loop (shutdown and close). So the body goes out whole
// through a provider that then returns false, after a "Connection: close"
// header that tells the client why. What follows on the connection (an
// unread body) is never answered as requests, so a body cannot smuggle
// requests in.
void close_after_answer(httplib::Response& res) {
  res.set_header("Connection", "close");
  std::string type = res.get_header_value("Content-Type");
  if (type.empty()) type = "application/json; charset=utf-8";
  res.headers.erase("Content-Type");
  auto body = std::make_shared<const std::string>(std::move(res.body));
  res.body.clear();
  HB_ASSERT(!body->empty());  // an empty body would never reach the provider
  res.set_content_provider(
      body->size(), type, [body](size_t offset, size_t length, httplib::DataSink& sink) {
        if (offset < body->size())
          sink.write(body->data() + offset, std::min(length, body->size() - offset));
        return false;
      });
}

void answer_and_close(httplib::Response& res, const ApiError& e) {
  res.status = e.http;
  res.set_content(error_body(e), "application/json; charset=utf-8");
  close_after_answer(res);
}

std::optional<ApiError> ApiServer::Impl::check_before_body(const httplib::Request& req,
                                                           bool take_token, Principal* who,
                                                           std::string* retry_after) {
  // httplib would decompress a gzip, deflate or br body without a bound on
  // what it grows to.
  for (size_t i = 0; i < req.get_header_value_count("Content-Encoding"); ++i) {
    const std::string enc = req.get_header_value("Content-Encoding", i);
    if (enc.empty() || strcasecmp(enc.c_str(), "identity") == 0) continue;
    return api_error(ApiCode::kUnsupportedEncoding,
                     "send the body without Content-Encoding (identity); compressed bodies are "
                     "not taken");
  }
  // httplib (0.11) applies its payload limit to a declared Content-Length
  // only: a chunked body, or one without a length, it reads to the end
  // whatever its size. Bodies must declare their length.
  const bool reads_body =
      req.method == "POST" || req.method == "PUT" || req.method == "PATCH" || req.method == "PRI";
  if (req.has_header("Transfer-Encoding") || (reads_body && !req.has_header("Content-Length")))
    return api_error(ApiCode::kLengthRequired,
                     "send the body with a Content-Length (Transfer-Encoding, chunked, is not "
                     "taken)");
  if (!reads_body && req.method != "DELETE" && has_body(req))
    return api_error(ApiCode::kBadRequest, req.method + " takes no body");
  size_t limit = 0;
  if (declared_too_large(req, config, &limit))
    return api_error(ApiCode::kPayloadTooLarge,
                     "the body is larger than " + std::to_string(limit) + " bytes");
  if (!authenticated_path(req.path)) return std::nullopt;

  // The key. A client address with too many failures is answered from the
  // key cache only: its unknown keys cost no lookup.
  const std::string& address = req.remote_addr;
  double retry_s = 0;
  const bool may_load = auth_failures->peek(address, &retry_s);
  auto failed = [&](std::string message) {
    double ignored = 0;
    (void)auth_failures->admit(address, &ignored);
    if (!may_load) {
      *retry_after = seconds_text(retry_s);
      return api_error(ApiCode::kRateLimited,
                       "too many requests with bad API keys from this address; retry after " +
                           *retry_after + " s");
    }
    return api_error(ApiCode::kUnauthorized, std::move(message));
  };
  const std::string token = bearer_token(req);
  if (token.empty()) return failed("send your API key: Authorization: Bearer hb_...");
  Result<KeyCache::Verdict> v = keys->authenticate(token, who, may_load);
  if (!v.ok()) {
    log("error", "api key lookup failed", {{"error", v.status().to_string()}});
    return status_error(v.status());
  }
  switch (*v) {
    case KeyCache::Verdict::kOk:
      break;
    case KeyCache::Verdict::kRevoked:
      return failed("this API key was revoked");
    default:
      return failed("unknown or malformed API key");
  }
  if (!(take_token ? limiter->admit(who->key_id, &retry_s)
                   : limiter->peek(who->key_id, &retry_s))) {
    *retry_after = seconds_text(retry_s);
    return api_error(ApiCode::kRateLimited,
                     "too many requests for this key; retry after " + *retry_after + " s");
  }
  return std::nullopt;
}

void ApiServer::Impl::refuse_before_body(const httplib::Request& req, httplib::Response& res,
                                         const ApiError& e, const std::string& retry_after) {
  const std::string request_id = request_id_of(req, ++request_counter);
  res.set_header("X-Request-Id", request_id);
  if (e.http == 401) res.set_header("WWW-Authenticate", "Bearer");
  if (!retry_after.empty()) res.set_header("Retry-After", retry_after);
  // The body was not read: close after the answer, unless there is none.
  // A POST without a length (411) may have sent one all the same: what
  // follows would otherwise wait to be read as the next request.
  if (has_body(req) || req.has_header("Content-Encoding") || e.http == 411) {
    answer_and_close(res, e);
  } else {
    res.status = e.http;
    res.set_content(error_body(e), "application/json; charset=utf-8");
  }
  metrics->observe(kOther, e.http, 0);
  access_log(req, e.http, 0, Principal{}, request_id, kOther, e.code);
}

void ApiServer::Impl::access_log(const httplib::Request& req, int status, double seconds,
                                 const Principal& who, std::string_view request_id, RouteId route,
                                 std::string_view code) noexcept {
  if (!config.access_log || route == kHealthz || route == kMetricsRoute) return;
  try {
    char line[512];
    std::snprintf(
        line, sizeof line,
        "{\"ts\":\"%s\",\"level\":\"info\",\"msg\":\"request\",\"request_id\":\"%s\","
        "\"method\":\"%s\",\"route\":\"%s\",\"status\":%d,\"ms\":%.3f,\"key_id\":"
        "\"%s\",\"role\":\"%s\",\"org\":%s,\"code\":\"%s\"}\n",
        store::utc_timestamp_now().c_str(), std::string(request_id).c_str(),
        req.method.size() < 10 ? req.method.c_str() : "?", route_name(route), status, seconds * 1e3,
        who.key_id.c_str(), who.key_id.empty() ? "" : std::string(role_name(who.role)).c_str(),
        Json(who.org_code).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str(),
        std::string(code).c_str());
    std::lock_guard lock(log_mu);
    std::fputs(line, stderr);
  } catch (...) {
    // A log line is not worth a failed answer.
  }
}

void ApiServer::Impl::finish(const Call& c, RouteId route,
                             std::chrono::steady_clock::time_point t0) noexcept {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  metrics->observe(route, c.res.status, seconds);
  metrics->in_flight(-1);
  access_log(c.req, c.res.status, seconds, c.who, c.request_id, route, c.error_code);
}

void ApiServer::Impl::serve(RouteId route, bool authenticated, Action action,
                            const httplib::Request& req, httplib::Response& res,
                            const httplib::ContentReader* reader,
                            const std::function<void(Call&)>& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  metrics->in_flight(1);
  Call c(req, res, request_id_of(req, ++request_counter));
  c.reader = reader;
  // However the handler ends (an answer, or an exception), the request is
  // counted out, measured and logged.
  struct Finish {
    Impl& m;
    const Call& c;
    RouteId route;
    std::chrono::steady_clock::time_point t0;
    ~Finish() { m.finish(c, route, t0); }
  } finish_guard{*this, c, route, t0};
  const Authenticated auth = std::exchange(t_authenticated, Authenticated{});
  try {
    res.set_header("X-Request-Id", c.request_id);
    [&] {
      if (authenticated) {
        // The key was checked before the body was read (check_before_body).
        if (!auth.set)
          return reply_error(c, api_error(ApiCode::kUnauthorized, "send your API key"));
        c.who = auth.who;
        if (auto e = authorize(c, action)) return reply_error(c, *e);
      }
      if (draining && route != kHealthz && route != kReadyz && route != kMetricsRoute)
        res.set_header("Connection", "close");
      fn(c);
      // After a failed sync nothing read from the store is known to be on
      // disk: no answer from it goes out (readyz tells the operator).
      if (authenticated && res.status < 500) {
        if (Status d = settler->sync_failure(); !d.ok()) {
          log("error", "answer withheld", {{"error", d.to_string()}, {"request_id", c.request_id}});
          reply_error(c, status_error(d));
        }
      }
    }();
    if (res.status == -1) res.status = 200;
  } catch (const std::exception& ex) {
    log("error", "handler failed", {{"error", ex.what()}, {"request_id", c.request_id}});
    c.error_code = "internal_error";
    answer_and_close(res, api_error(ApiCode::kInternal, "the server failed; the error is logged"));
  } catch (...) {
    log("error", "handler failed", {{"error", "unknown exception"}, {"request_id", c.request_id}});
    c.error_code = "internal_error";
    answer_and_close(res, api_error(ApiCode::kInternal, "the server failed; the error is logged"));
  }
  // A route that reads its own body and did not: the body is still on the
  // connection. A small one is read and dropped; a large one closes it.
  if (reader != nullptr && !c.body_read && has_body(req) && !res.content_provider_) {
    const int status = res.status;
    const std::string len = req.get_header_value("Content-Length");
    bool drained = false;
    if (std::strtoull(len.c_str(), nullptr, 10) <= config.max_body_bytes) {
      auto drop = [](const char*, size_t) { return true; };
      drained = req.is_multipart_form_data()
                    ? (*reader)([](const httplib::MultipartFormData&) { return true; }, drop)
                    : (*reader)(drop);
    }
    res.status = status;  // a failed read sets it
    if (!drained) close_after_answer(res);
  }
}

httplib::Server::Handler ApiServer::Impl::wrap(RouteId route, bool authenticated, Action action,
                                               std::function<void(Call&)> fn) {
  return [this, route, authenticated, action, fn = std::move(fn)](const httplib::Request& req,
                                                                  httplib::Response& res) {
    serve(route, authenticated, action, req, res, nullptr, fn);
  };
}

httplib::Server::HandlerWithContentReader ApiServer::Impl::wrap_reader(
    RouteId route, Action action, std::function<void(Call&)> fn) {
  return
      [this, route, action, fn = std::move(fn)](const httplib::Request& req, httplib::Response& res,
                                                const httplib::ContentReader& reader) {
        serve(route, true, action, req, res, &reader, fn);
      };
}

void ApiServer::Impl::h_readyz(Call& c) {
  Json checks;
  bool ready = true;
  if (draining) {
    ready = false;
    checks["server"] = "shutting down";
  }
  if (Result<DbPool::Lease> db = pool->acquire(); !db.ok()) {
    ready = false;
    checks["store"] = "every connection busy: " + db.status().to_string();
  } else {
    Result<int> v = store::schema_version(**db);
    const int want = store::embedded_migrations().back().version;
    if (!v.ok()) {
      ready = false;
      checks["store"] = "unreachable: " + v.status().to_string();
    } else if (*v != want) {
      ready = false;
      checks["store"] =
          "schema version " + std::to_string(*v) + ", this build needs " + std::to_string(want);
    } else {
      checks["store"] = "ok, schema version " + std::to_string(*v);
    }
  }
  if (Status s = settler->sync_failure(); !s.ok()) {
    ready = false;
    checks["durability"] = s.to_string();
  }
  // Still ready (every answer is durable), but the WAL grows until a
  // checkpoint succeeds: the operator should know.
  if (Status s = settler->checkpoint_failure(); !s.ok())
    checks["checkpoint"] = "failing, the WAL grows: " + s.to_string();
  if (settler->plans().empty()) {
    ready = false;
    checks["plans"] = "none loaded";
  } else {
    checks["plans"] = std::to_string(settler->plans().size()) + " loaded";
  }
  Json j;
  j["ready"] = ready;
  j["checks"] = std::move(checks);
  c.res.status = ready ? 200 : 503;
  if (!ready) c.error_code = "not_ready";
  c.res.set_content(j.dump(), "application/json; charset=utf-8");
}

void ApiServer::Impl::routes() {
  constexpr Action kNone = Action::kPlanRead;  // unused for unauthenticated routes
  auto& s = http;
  // Each pattern's methods, for 405 and Allow.
  auto allow = [this](const std::string& pattern, const char* method) {
    for (RouteMethods& r : route_methods) {
      if (r.pattern == pattern) {
        r.allow += std::string(", ") + method;
        return;
      }
    }
    route_methods.push_back({pattern, std::regex(pattern), method});
  };
  auto get = [&](const std::string& pattern, httplib::Server::Handler h) {
    s.Get(pattern, std::move(h));
    allow(pattern, "GET");
  };
  auto post = [&](const std::string& pattern, httplib::Server::Handler h) {
    s.Post(pattern, std::move(h));
    allow(pattern, "POST");
  };
  get("/healthz", wrap(kHealthz, false, kNone, [](Call& c) {
        c.res.set_content("{\"status\":\"ok\"}", "application/json; charset=utf-8");
      }));
  get("/readyz", wrap(kReadyz, false, kNone, [this](Call& c) { h_readyz(c); }));
  get("/metrics", wrap(kMetricsRoute, false, kNone, [this](Call& c) {
        c.res.set_content(metrics->render(), "text/plain; version=0.0.4; charset=utf-8");
      }));
  get("/openapi.json", wrap(kOpenApi, false, kNone, [](Call& c) {
        c.res.set_content(std::string(openapi_json()), "application/json; charset=utf-8");
      }));

  const std::string v1 = "/api/v1";
  get(v1 + "/persons/([^/]+)",
      wrap(kPersonGet, true, Action::kPersonRead, [this](Call& c) { h_person(c); }));
  post(v1 + "/presettlements",
       wrap(kPresettle, true, Action::kPresettle, [this](Call& c) { h_presettle(c); }));
  post(v1 + "/settlements", wrap(kSettle, true, Action::kSettle, [this](Call& c) { h_settle(c); }));
  get(v1 + "/settlements/([^/]+)", wrap(kSettlementGet, true, Action::kSettlementRead,
                                        [this](Call& c) { h_settlement_get(c); }));
  post(v1 + "/settlements/([^/]+)/reversal",
       wrap(kReverse, true, Action::kReverse, [this](Call& c) { h_reverse(c); }));
  post(v1 + "/accident-cases",
       wrap(kAccidentPost, true, Action::kAccidentSubmit, [this](Call& c) { h_accident_post(c); }));
  get(v1 + "/accident-cases/([^/]+)",
      wrap(kAccidentGet, true, Action::kAccidentRead, [this](Call& c) { h_accident_get(c); }));
  post(v1 + "/enrollments",
       wrap(kEnrolPost, true, Action::kEnrol, [this](Call& c) { h_enrol(c); }));
  post(v1 + "/enrollments/renewals",
       wrap(kRenewPost, true, Action::kRenew, [this](Call& c) { h_renew(c); }));
  post(v1 + "/enrollments/cancellations",
       wrap(kCancelPost, true, Action::kCancel, [this](Call& c) { h_cancel(c); }));
  get(v1 + "/plans", wrap(kPlansGet, true, Action::kPlanRead, [this](Call& c) { h_plans(c); }));
  get(v1 + "/plans/([^/]+)/drug-lists",
      wrap(kDrugListsGet, true, Action::kPlanRead, [this](Call& c) { h_drug_lists(c); }));
  // The upload streams its body to files (Call::reader) instead of memory.
  s.Post(v1 + "/roll/imports",
         wrap_reader(kRollImport, Action::kRollImport, [this](Call& c) { h_roll_import(c); }));
  allow(v1 + "/roll/imports", "POST");
  get(v1 + "/reports",
      wrap(kReportsList, true, Action::kReportRead, [this](Call& c) { h_reports(c); }));
  get(v1 + "/reports/([^/]+)",
      wrap(kReportGet, true, Action::kReportRead, [this](Call& c) { h_report(c); }));
  get(v1 + "/charts/([^/]+)",
      wrap(kChartGet, true, Action::kReportRead, [this](Call& c) { h_chart(c); }));
  get(v1 + "/books/balances",
      wrap(kBalancesGet, true, Action::kReportRead, [this](Call& c) { h_balances(c); }));
  get(v1 + "/books/check",
      wrap(kBooksCheckGet, true, Action::kReportRead, [this](Call& c) { h_books_check(c); }));
  // The national envelope: this path, and the national platform's own, so a
  // hospital system changes only the host it calls.
  auto tx = wrap(kTransaction, true, Action::kPlanRead, [this](Call& c) { h_transaction(c); });
  post(v1 + "/transactions", tx);
  post("/fsi/api/rsfComIfsService/callService", tx);

  // Refusals on the headers alone, before any body is read
  // (check_before_body). With "Expect: 100-continue" the client is told
  // before it sends the body; the rate token is taken by the pre-routing
  // check that follows a 100.
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    t_authenticated = Authenticated{};
    Principal who;
    std::string retry_after;
    std::optional<ApiError> e = check_before_body(req, true, &who, &retry_after);
    if (!e) {
      t_authenticated = Authenticated{true, std::move(who)};
      return httplib::Server::HandlerResponse::Unhandled;
    }
    refuse_before_body(req, res, *e, retry_after);
    return httplib::Server::HandlerResponse::Handled;
  });
  s.set_expect_100_continue_handler([this](const httplib::Request& req, httplib::Response& res) {
    Principal who;
    std::string retry_after;
    std::optional<ApiError> e = check_before_body(req, false, &who, &retry_after);
    if (!e) return 100;
    refuse_before_body(req, res, *e, retry_after);
    return e->http;
  });
  // Whatever httplib answers itself (no route, a bad request line) gets the
  // same JSON error shape.
  s.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req,
                                                                  httplib::Response& res) {
    if (!res.body.empty() || res.content_provider_)
      return httplib::Server::HandlerResponse::Unhandled;  // answered already
    ApiError e;
    switch (res.status) {
      case 404: {
        // A path of a route, with a method the route does not take: 405.
        std::string methods;
        for (const RouteMethods& r : route_methods) {
          if (std::regex_match(req.path, r.re)) methods += (methods.empty() ? "" : ", ") + r.allow;
        }
        if (!methods.empty()) {
          e = api_error(ApiCode::kMethodNotAllowed,
                        req.method + " is not accepted here (" + methods + "); see /openapi.json");
          res.set_header("Allow", methods);
        } else {
          e = api_error(ApiCode::kNotFound, "no such endpoint; see /openapi.json");
        }
        res.status = e.http;
        metrics->observe(kOther, e.http, 0);
        break;
      }
      case 413:
        // httplib refused a declared Content-Length over its payload limit
        // (check_before_body refuses it first): the body is unread.
        metrics->observe(kOther, 413, 0);
        answer_and_close(res, api_error(ApiCode::kPayloadTooLarge, "the body is too large"));
        return httplib::Server::HandlerResponse::Handled;
      default:
        e = res.status >= 500
                ? api_error(ApiCode::kInternal, "the server failed; the error is logged")
                : api_error(ApiCode::kBadRequest, "the request could not be read as HTTP/1.1");
        e.http = res.status;
        metrics->observe(kOther, res.status, 0);
        break;
    }
    res.set_content(error_body(e), "application/json; charset=utf-8");
    return httplib::Server::HandlerResponse::Handled;
  }));
  // Handlers catch their own exceptions (serve); this is for httplib's and
  // the checks before routing.
  s.set_exception_handler([this](const httplib::Request&, httplib::Response& res,
                                 std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& ex) {
      what = ex.what();
    } catch (...) {
    }
    log("error", "handler failed", {{"error", what}});
    metrics->observe(kOther, 500, 0);
    answer_and_close(res, api_error(ApiCode::kInternal, "the server failed; the error is logged"));
  });
}

}  // namespace huibao::server
