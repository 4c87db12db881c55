// The HTTP API end to end over real HTTP (huibao serve in-process on an
// ephemeral loopback port, httplib::Client), against SQLite and PostgreSQL:
// every endpoint, the permission table cell by cell, the hostile-request
// corpus (tests/api/hostile.test: each answered with its 4xx and stable code,
// each changing nothing), replay and conflict, concurrent settlements for one
// person from many connections (accumulators equal the sum of what is
// stored), graceful shutdown with requests in flight, the read-only reports,
// charts and book balances (equal to what src/books makes for the same
// store), the national envelope's national-only fields, the connection
// closed after an unread over-large body, and the configuration, rate
// limiter and metrics.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "books/ops.h"
#include "books/post.h"
#include "books/report_model.h"
#include "books/reports.h"
#include "core/resident_id.h"
#include "server/api_error.h"
#include "server/api_keys.h"
#include "server/config.h"
#include "server/db_pool.h"
#include "server/metrics.h"
#include "server/permissions.h"
#include "server/rate_limit.h"
#include "server/server.h"
#include "service/settle_service.h"
#include "store_fixture.h"
#include "test_files.h"

namespace huibao::server {
namespace {

using nlohmann::json;
using store::Engine;
using store::query_int;
using testing_files::slurp;

const std::string kSource = HUIBAO_SOURCE_DIR;
const std::string kPlanA = "shandong-2020-fupin";
const std::string kPlanB = "shandong-2024-huiminbao";

// The persons of tests/api/persons.csv.
const std::string kP1 = "370102198001011237";  // resident, Jinan
const std::string kP2 = "370102197505051238";  // employee
const std::string kP3 = "371501195001151232";  // poverty (plan A: automatic cover, accident)
const std::string kP4 = "370203199003031238";  // dibao from 2023-05-01
const std::string kUnknown = "370102199901011237";

std::string claim(const std::string& setl_id, const std::string& psn, const std::string& hospital,
                  const std::string& begndate = "2024-03-01", const std::string& inscp = "8000.00",
                  const std::string& med_type = "21") {
  // medfee = 1000 own + 500 over limit + 500 first self-pay + inscp
  json j;
  j["setl_id"] = setl_id;
  j["psn_no"] = psn;
  j["med_type"] = med_type;
  j["hosp_lv"] = 2;
  j["fixmedins_code"] = hospital;
  j["begndate"] = begndate;
  j["enddate"] = begndate;
  Fen in = 0;
  EXPECT_EQ(parse_decimal_string_fen(inscp, &in), AmountSyntax::kOk);
  j["medfee_sumamt"] = fen_to_string(in + 2000'00);
  j["fulamt_ownpay_amt"] = "1000.00";
  j["overlmt_selfpay"] = "500.00";
  j["preselfpay_amt"] = "500.00";
  j["inscp_scp_amt"] = inscp;
  return j.dump();
}

std::string accident(const std::string& setl_id, const std::string& psn) {
  return json({{"setl_id", setl_id},
               {"psn_no", psn},
               {"accident_date", "2020-06-01"},
               {"cause", "fall"},
               {"outcome", "medical"},
               {"medical_amount", "1200.00"},
               {"disaster_paid", "0"}})
      .dump();
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

class ApiTest : public store::EngineTest {
 protected:
  void SetUp() override {
    store::EngineTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    db_ = open();
    ASSERT_NE(db_, nullptr);
    auto key = [&](const char* org, Role role) {
      Result<CreatedKey> k = create_api_key(*db_, org, role, "test", "tester");
      EXPECT_TRUE(k.ok()) << k.status().to_string();
      return k.ok() ? k->token : std::string();
    };
    bureau_ = key("B37", Role::kBureau);
    insurer_ = key("I01", Role::kInsurer);
    h1_ = key("H001", Role::kHospital);
    h2_ = key("H002", Role::kHospital);
    pharmacy_ = key("P001", Role::kPharmacy);
    service_ = key("S01", Role::kServicePoint);
    role_keys_ = {{Role::kBureau, bureau_},
                  {Role::kInsurer, insurer_},
                  {Role::kHospital, h1_},
                  {Role::kPharmacy, pharmacy_},
                  {Role::kServicePoint, service_}};
    start_server();
    if (HasFatalFailure()) return;
    // The roll goes in through the API: the bureau's upload.
    httplib::Result r = client(bureau_).Post("/api/v1/roll/imports?as_of=2020-01-01",
                                             slurp(kSource + "/tests/api/persons.csv"), "text/csv");
    ASSERT_TRUE(r) << "no answer";
    ASSERT_EQ(r->status, 200) << r->body;
  }

  void TearDown() override {
    stop_server();
    db_.reset();
    store::EngineTest::TearDown();
  }

  ServerConfig config() const {
    ServerConfig c;
    c.listen = "127.0.0.1";
    c.port = 0;
    c.threads = 48;
    c.readers = 3;
    c.key_cache_ms = 200;
    c.access_log = false;
    c.store_url = url_;
    c.plan_files = {kSource + "/plans/" + kPlanA + ".toml", kSource + "/plans/" + kPlanB + ".toml"};
    return c;
  }

  void start_server(const ServerConfig& c) {
    Result<std::unique_ptr<ApiServer>> s = ApiServer::create(c);
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    server_ = std::move(*s);
    Result<int> port = server_->bind();
    ASSERT_TRUE(port.ok()) << port.status().to_string();
    port_ = *port;
    thread_ = std::thread([this] { run_status_ = server_->run(); });
    for (int i = 0; i < 200 && !server_->running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_TRUE(server_->running());
  }
  void start_server() { start_server(config()); }

  void stop_server() {
    if (!server_) return;
    server_->stop();
    if (thread_.joinable()) thread_.join();
    EXPECT_TRUE(run_status_.ok()) << run_status_.to_string();
    server_.reset();
  }

  httplib::Client client(const std::string& key) const {
    httplib::Client c("127.0.0.1", port_);
    c.set_keep_alive(true);
    c.set_read_timeout(30);
    if (!key.empty()) c.set_default_headers({{"Authorization", "Bearer " + key}});
    return c;
  }

  struct Answer {
    int status = 0;
    json body;
    std::string raw;
  };
  Answer call(const std::string& key, const std::string& method, const std::string& path,
              const std::string& body = "") {
    httplib::Client c = client(key);
    httplib::Result r = method == "GET"      ? c.Get(path)
                        : method == "DELETE" ? c.Delete(path)
                                             : c.Post(path, body, "application/json");
    Answer a;
    if (!r) {
      ADD_FAILURE() << method << " " << path << ": no answer (" << httplib::to_string(r.error())
                    << ")";
      return a;
    }
    a.status = r->status;
    a.raw = r->body;
    a.body = json::parse(r->body, nullptr, false);
    return a;
  }
  Answer post(const std::string& key, const std::string& path, const std::string& body) {
    return call(key, "POST", path, body);
  }
  Answer get(const std::string& key, const std::string& path) { return call(key, "GET", path); }

  int64_t count(const std::string& sql) { return query_int(*db_, sql); }

  // What a refused request must leave as it was.
  std::string fingerprint() {
    std::string out;
    for (const char* t : {"settlements", "settlement_layers", "accumulators", "accident_cases",
                          "enrollments", "premiums", "persons", "api_keys"})
      out += std::string(t) + "=" +
             std::to_string(count(std::string("SELECT count(*) FROM ") + t)) + " ";
    out +=
        "versions=" + std::to_string(count("SELECT coalesce(sum(version), 0) FROM accumulators"));
    return out;
  }

  // Each year state equals the sum of the person's stored settlements, layer
  // by layer (DOMAIN.md: accumulators are never double-counted).
  void expect_states_match_stored(const std::string& psn) {
    Result<store::Stmt*> st =
        db_->prepare("SELECT plan_id, year, state, settlements FROM accumulators WHERE psn_no = ?");
    ASSERT_TRUE(st.ok());
    (*st)->bind_text(1, psn);
    std::vector<std::tuple<std::string, int64_t, std::string, int64_t>> rows;
    while (true) {
      Result<bool> row = (*st)->step();
      ASSERT_TRUE(row.ok());
      if (!*row) break;
      rows.emplace_back(std::string((*st)->column_text(0)), (*st)->column_int64(1),
                        std::string((*st)->column_text(2)), (*st)->column_int64(3));
    }
    (*st)->reset();
    ASSERT_FALSE(rows.empty());
    for (const auto& [plan, year, state, n] : rows) {
      const std::string where = "WHERE s.psn_no = '" + psn + "' AND s.plan_id = '" + plan +
                                "' AND s.plan_year = " + std::to_string(year);
      // The settlements in force (not reversed) ...
      EXPECT_EQ(n, count("SELECT count(*) FROM settlements s " + where +
                         " AND s.kind = 'settle' AND NOT EXISTS (SELECT 1 FROM settlements v "
                         "WHERE v.ref_setl_id = s.setl_id AND v.kind = 'reversal')"));
      // ... and each layer's payments, with reversals and adjustments (stored
      // as differences), add up to what the year state says was paid.
      json j = json::parse(state);
      for (const auto& [key, value] : j.items()) {
        if (key.rfind("paid.", 0) != 0) continue;
        const std::string layer = key.substr(5);
        EXPECT_EQ(value.get<int64_t>(),
                  count("SELECT coalesce(sum(l.amount_fen), 0) FROM settlement_layers l JOIN "
                        "settlements s ON s.setl_id = l.setl_id " +
                        where + " AND l.layer = '" + layer + "'"))
            << psn << " " << key;
      }
    }
  }

  std::unique_ptr<store::Db> db_;
  std::unique_ptr<ApiServer> server_;
  std::thread thread_;
  Status run_status_;
  int port_ = 0;
  std::string bureau_, insurer_, h1_, h2_, pharmacy_, service_;
  std::map<Role, std::string> role_keys_;
};

// ---- operations ----

TEST_P(ApiTest, HealthReadinessOpenApiAndMetrics) {
  Answer h = get("", "/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body["status"], "ok");
  Answer r = get("", "/readyz");
  EXPECT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["ready"], true);

  // The OpenAPI document is served, parses, and documents every route.
  Answer o = get("", "/openapi.json");
  ASSERT_EQ(o.status, 200);
  ASSERT_TRUE(o.body.is_object()) << "openapi.json does not parse";
  EXPECT_EQ(o.body["openapi"].get<std::string>().substr(0, 2), "3.");
  for (const char* path : {"/healthz",
                           "/readyz",
                           "/metrics",
                           "/openapi.json",
                           "/api/v1/persons/{psn_no}",
                           "/api/v1/presettlements",
                           "/api/v1/settlements",
                           "/api/v1/settlements/{setl_id}",
                           "/api/v1/settlements/{setl_id}/reversal",
                           "/api/v1/accident-cases",
                           "/api/v1/accident-cases/{setl_id}",
                           "/api/v1/enrollments",
                           "/api/v1/enrollments/renewals",
                           "/api/v1/enrollments/cancellations",
                           "/api/v1/plans",
                           "/api/v1/plans/{plan_id}/drug-lists",
                           "/api/v1/roll/imports",
                           "/api/v1/transactions",
                           "/api/v1/reports",
                           "/api/v1/reports/{name}",
                           "/api/v1/charts/{name}",
                           "/api/v1/books/balances",
                           "/api/v1/books/check"})
    EXPECT_TRUE(o.body["paths"].contains(path)) << path << " is not documented";

  post(h1_, "/api/v1/settlements", claim("M-1", kP1, "H001"));
  post(h1_, "/api/v1/settlements", claim("M-1", kP1, "H001"));
  post(h1_, "/api/v1/settlements", claim("M-2", kUnknown, "H001"));
  httplib::Client c = client("");
  httplib::Result m = c.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_NE(m->get_header_value("Content-Type").find("text/plain"), std::string::npos);
  const std::string& text = m->body;
  EXPECT_NE(text.find("huibao_http_requests_total{route=\"settlement\",code=\"200\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find("huibao_http_request_duration_seconds_bucket{route=\"settlement\",le=\"+Inf\"} 3"),
      std::string::npos);
  EXPECT_NE(text.find("huibao_settlements_total{outcome=\"settled\"} 1"), std::string::npos);
  EXPECT_NE(text.find("huibao_settlements_total{outcome=\"replayed\"} 1"), std::string::npos);
  EXPECT_NE(text.find("huibao_settlements_total{outcome=\"unknown_person\"} 1"), std::string::npos);
  EXPECT_NE(text.find("# TYPE huibao_http_request_duration_seconds histogram"), std::string::npos);
}

// ---- settlement ----

TEST_P(ApiTest, AHospitalSettlesAClaimWithTheFullBreakdown) {
  const std::string body = claim("S-1", kP1, "H001");
  Answer pre = post(h1_, "/api/v1/presettlements", body);
  ASSERT_EQ(pre.status, 200) << pre.raw;
  EXPECT_EQ(count("SELECT count(*) FROM settlements"), 0) << "a presettlement writes nothing";
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'settlement.presettle'"), 1);
  // A refused presettlement showed nothing of the person: no audit row.
  EXPECT_EQ(post(h1_, "/api/v1/presettlements", claim("S-0", kUnknown, "H001")).status, 404);
  EXPECT_EQ(post(h1_, "/api/v1/presettlements", claim("S-0", kP1, "H001", "2019-03-01")).status,
            422);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'settlement.presettle'"), 1);

  Answer s = post(h1_, "/api/v1/settlements", body);
  ASSERT_EQ(s.status, 200) << s.raw;
  EXPECT_EQ(s.body["setl_id"], "S-1");
  EXPECT_EQ(s.body["plan_id"], kPlanB);
  EXPECT_EQ(s.body["replayed"], false);
  const json& info = s.body["setlinfo"];
  EXPECT_EQ(info["status"], "settled");
  EXPECT_EQ(info["medfee_sumamt"], "10000.00");
  EXPECT_EQ(info, pre.body["setlinfo"]) << "the presettlement computed what the settlement stored";
  ASSERT_TRUE(s.body["setldetail"].is_array());
  ASSERT_FALSE(s.body["setldetail"].empty());
  EXPECT_EQ(s.body["setldetail"][0]["fund_pay_type"], "hifp");
  EXPECT_FALSE(s.body["setldetail"][0]["fund_pay_type_name"].get<std::string>().empty());
  // hifp: (8000 - 500 deductible) x 75 % at a level-2 hospital.
  EXPECT_EQ(s.body["setldetail"][0]["fund_payamt"], "5625.00");
  ASSERT_TRUE(s.body["explain"].is_array());
  EXPECT_FALSE(s.body["explain"].empty());
  EXPECT_EQ(count("SELECT count(*) FROM settlements WHERE setl_id = 'S-1' AND fixmedins_code = "
                  "'H001'"),
            1);
  // Without the explanation.
  Answer quiet = post(h1_, "/api/v1/settlements?explain=false", claim("S-2", kP1, "H001"));
  ASSERT_EQ(quiet.status, 200) << quiet.raw;
  EXPECT_TRUE(quiet.body["explain"].empty());
  expect_states_match_stored(kP1);
}

TEST_P(ApiTest, ARetryIsAnsweredAsFirstAndAConflictChangesNothing) {
  const std::string body = claim("R-1", kP1, "H001");
  Answer first = post(h1_, "/api/v1/settlements", body);
  ASSERT_EQ(first.status, 200) << first.raw;
  const std::string before = fingerprint();
  Answer again = post(h1_, "/api/v1/settlements", body);
  ASSERT_EQ(again.status, 200) << again.raw;
  EXPECT_EQ(again.body["replayed"], true);
  EXPECT_EQ(again.body["setlinfo"], first.body["setlinfo"]);
  // The same claim through the national envelope is the same claim.
  Answer env = post(h1_, "/fsi/api/rsfComIfsService/callService",
                    "{\"infno\":\"2304\",\"msgid\":\"M-R1\",\"input\":{\"data\":" + body + "}}");
  ASSERT_EQ(env.status, 200);
  EXPECT_EQ(env.body["infcode"], 0) << env.raw;
  EXPECT_EQ(env.body["output"]["replayed"], true);
  EXPECT_EQ(env.body["output"]["setlinfo"], first.body["setlinfo"]);
  // The same setl_id with other content: refused, nothing changes.
  Answer conflict =
      post(h1_, "/api/v1/settlements", claim("R-1", kP1, "H001", "2024-03-01", "9000.00"));
  EXPECT_EQ(conflict.status, 409) << conflict.raw;
  EXPECT_EQ(conflict.body["code"], "duplicate_setl_id");
  EXPECT_FALSE(conflict.body["message"].get<std::string>().empty());
  EXPECT_EQ(fingerprint(), before);
}

TEST_P(ApiTest, ReversalByTheSettlingHospitalOnly) {
  // Large enough that the year's later claims pay more once V-1 is gone
  // (annual deductibles and segments), one of them at another hospital.
  ASSERT_EQ(
      post(h1_, "/api/v1/settlements", claim("V-1", kP1, "H001", "2024-03-01", "30000.00")).status,
      200);
  ASSERT_EQ(
      post(h1_, "/api/v1/settlements", claim("V-2", kP1, "H001", "2024-04-01", "30000.00")).status,
      200);
  ASSERT_EQ(
      post(h2_, "/api/v1/settlements", claim("V-3", kP1, "H002", "2024-05-01", "30000.00")).status,
      200);
  const std::string before = fingerprint();
  Answer other = post(h2_, "/api/v1/settlements/V-1/reversal", "{}");
  EXPECT_EQ(other.status, 403) << other.raw;
  EXPECT_EQ(other.body["code"], "forbidden");
  for (const std::string& k : {bureau_, insurer_, service_})
    EXPECT_EQ(post(k, "/api/v1/settlements/V-1/reversal", "{}").status, 403);
  EXPECT_EQ(fingerprint(), before);

  Answer rev = post(h1_, "/api/v1/settlements/V-1/reversal", "{\"reversal_id\":\"V-1-R\"}");
  ASSERT_EQ(rev.status, 200) << rev.raw;
  EXPECT_EQ(rev.body["reversal_id"], "V-1-R");
  EXPECT_EQ(rev.body["resettled"], 2);
  EXPECT_EQ(rev.body["replayed"], false);
  EXPECT_NE(rev.body["fund_pay_reversed"], "0.00");
  // A hospital sees the person masked, and only its own settlements'
  // adjustments (H002's V-3 only as a count).
  const std::string shown_psn = rev.body["psn_no"];
  EXPECT_NE(shown_psn, kP1);
  EXPECT_NE(shown_psn.find('*'), std::string::npos) << shown_psn;
  for (const auto& a : rev.body["adjustments"]) EXPECT_EQ(a["adjusts"], "V-2") << rev.raw;
  EXPECT_EQ(rev.body["adjustments_elsewhere"], 1) << rev.raw;
  EXPECT_EQ(
      int64_t(rev.body["adjustments"].size()) + rev.body["adjustments_elsewhere"].get<int64_t>(),
      count("SELECT count(*) FROM settlements WHERE kind = 'adjustment'"));
  // Asked again (a retry after a lost answer): the same answer, nothing new.
  {
    const std::string stored = fingerprint();
    Answer retry = post(h1_, "/api/v1/settlements/V-1/reversal", "{\"reversal_id\":\"V-1-R\"}");
    ASSERT_EQ(retry.status, 200) << retry.raw;
    EXPECT_EQ(retry.body["replayed"], true);
    for (const char* k : {"fund_pay_reversed", "hosp_part_reversed", "resettled", "psn_no",
                          "adjustments", "adjustments_elsewhere"})
      EXPECT_EQ(retry.body[k], rev.body[k]) << k;
    EXPECT_EQ(fingerprint(), stored);
  }
  // A reversal id that is another settlement's setl_id: 409, nothing written.
  {
    const std::string stored = fingerprint();
    Answer clash = post(h1_, "/api/v1/settlements/V-2/reversal", "{\"reversal_id\":\"V-3\"}");
    EXPECT_EQ(clash.status, 409) << clash.raw;
    EXPECT_EQ(clash.body["code"], "duplicate_setl_id");
    EXPECT_EQ(fingerprint(), stored);
  }
  Answer shown = get(h1_, "/api/v1/settlements/V-1");
  ASSERT_EQ(shown.status, 200) << shown.raw;
  EXPECT_EQ(shown.body["reversed"], true);
  const std::string after = fingerprint();
  Answer twice = post(h1_, "/api/v1/settlements/V-1/reversal", "{\"reversal_id\":\"V-1-R2\"}");
  EXPECT_GE(twice.status, 400);
  EXPECT_LT(twice.status, 500) << twice.raw;
  EXPECT_EQ(fingerprint(), after);
  // A reversed settlement cannot be settled again under its setl_id.
  Answer resend = post(h1_, "/api/v1/settlements", claim("V-1", kP1, "H001"));
  EXPECT_EQ(resend.status, 409);
  expect_states_match_stored(kP1);
}

TEST_P(ApiTest, StoredSettlementsAreSeenByTheirHospitalAndSupervisors) {
  ASSERT_EQ(post(h1_, "/api/v1/settlements", claim("G-1", kP1, "H001")).status, 200);
  const int64_t audits = count("SELECT count(*) FROM audit_log WHERE action = 'settlement.read'");
  Answer own = get(h1_, "/api/v1/settlements/G-1");
  ASSERT_EQ(own.status, 200) << own.raw;
  EXPECT_NE(own.body["psn_no"], kP1) << "masked for a hospital";
  EXPECT_EQ(own.body["psn_no"].get<std::string>().substr(0, 4), "3701");
  EXPECT_NE(own.body["setlinfo"]["psn_no"], kP1);
  Answer bureau = get(bureau_, "/api/v1/settlements/G-1");
  ASSERT_EQ(bureau.status, 200);
  EXPECT_EQ(bureau.body["psn_no"], kP1) << "the bureau sees ids";
  EXPECT_EQ(get(insurer_, "/api/v1/settlements/G-1").status, 200);
  EXPECT_EQ(get(h2_, "/api/v1/settlements/G-1").status, 403);
  EXPECT_EQ(get(service_, "/api/v1/settlements/G-1").status, 403);
  EXPECT_EQ(get(bureau_, "/api/v1/settlements/NOPE").status, 404);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'settlement.read'"), audits + 3)
      << "every read of personal data is audited";
}

TEST_P(ApiTest, ThePharmacySettlesPharmacyPurchasesOnly) {
  Answer inpatient = post(pharmacy_, "/api/v1/settlements", claim("F-1", kP1, "P001"));
  EXPECT_EQ(inpatient.status, 403) << inpatient.raw;
  Answer drug = post(pharmacy_, "/api/v1/settlements",
                     claim("F-2", kP1, "P001", "2024-05-01", "300.00", "41"));
  EXPECT_EQ(drug.status, 200) << drug.raw;
}

// ---- the national envelope ----

TEST_P(ApiTest, TheNationalEnvelopeAnswers1101And2303To2305) {
  auto env = [&](const std::string& infno, const std::string& data) {
    Answer a = post(h1_, "/api/v1/transactions",
                    "{\"infno\":\"" + infno +
                        "\",\"msgid\":\"H001202403010001\",\"mdtrtarea_admvs\":\"370100\","
                        "\"opter\":\"desk-7\",\"input\":{\"data\":" +
                        data + "}}");
    EXPECT_EQ(a.status, 200) << a.raw;
    EXPECT_EQ(a.body["inf_refmsgid"], "H001202403010001");
    return a;
  };
  Answer info =
      env("1101", "{\"mdtrt_cert_type\":\"02\",\"certno\":\"" + kP1 + "\",\"on\":\"2024-03-01\"}");
  EXPECT_EQ(info.body["infcode"], 0) << info.raw;
  EXPECT_EQ(info.body["output"]["baseinfo"]["psn_name"], "张*");
  EXPECT_FALSE(info.body["output"]["benefits"].empty());
  const std::string body = claim("E-1", kP1, "H001");
  Answer pre = env("2303", body);
  EXPECT_EQ(pre.body["infcode"], 0) << pre.raw;
  EXPECT_EQ(count("SELECT count(*) FROM settlements"), 0);
  Answer set = env("2304", body);
  EXPECT_EQ(set.body["infcode"], 0) << set.raw;
  EXPECT_EQ(set.body["err_msg"], "");
  EXPECT_EQ(set.body["output"]["setlinfo"], pre.body["output"]["setlinfo"]);
  EXPECT_EQ(count("SELECT count(*) FROM settlements"), 1);
  Answer bad = env("2304", claim("E-2", kUnknown, "H001"));
  EXPECT_EQ(bad.body["infcode"], -1);
  EXPECT_EQ(bad.body["err_code"], "unknown_person");
  EXPECT_FALSE(bad.body["err_msg"].get<std::string>().empty());
  Answer rev = env("2305", "{\"setl_id\":\"E-1\",\"psn_no\":\"" + kP1 + "\"}");
  EXPECT_EQ(rev.body["infcode"], 0) << rev.raw;
  EXPECT_EQ(rev.body["output"]["reversal_id"], "E-1-R");
  // infno as a JSON number, with the whitespace a pretty-printer leaves after it.
  for (const char* gap : {" ", "\n", "\r\n\t "}) {
    Answer n = post(h1_, "/api/v1/transactions",
                    std::string("{\"infno\":1101") + gap +
                        ",\"msgid\":\"M\",\"input\":{\"data\":{\"psn_no\":\"" + kP1 + "\"}}}");
    EXPECT_EQ(n.body["infcode"], 0) << n.raw;
  }
}

// ---- accident cases ----

TEST_P(ApiTest, AServicePointReportsAnAccidentCase) {
  Answer a = post(service_, "/api/v1/accident-cases", accident("A-1", kP3));
  ASSERT_EQ(a.status, 201) << a.raw;
  EXPECT_EQ(a.body["plan_id"], kPlanA);
  EXPECT_EQ(a.body["setlinfo"]["status"], "settled");
  EXPECT_EQ(a.body["setldetail"][0]["fund_pay_type"], "accident");
  EXPECT_EQ(
      count("SELECT count(*) FROM accident_cases WHERE setl_id = 'A-1' AND psn_no = '" + kP3 + "'"),
      1);
  // The same report again is the same case, answered 200 as a replay.
  Answer again = post(service_, "/api/v1/accident-cases", accident("A-1", kP3));
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body["replayed"], true);
  EXPECT_EQ(count("SELECT count(*) FROM accident_cases"), 1);
  // "kind": null is no kind: an accident case (not a field given twice).
  json nulled = json::parse(accident("A-N", kP3));
  nulled["kind"] = nullptr;
  Answer null_kind = post(service_, "/api/v1/accident-cases", nulled.dump());
  EXPECT_EQ(null_kind.status, 201) << null_kind.raw;
  EXPECT_EQ(count("SELECT count(*) FROM accident_cases"), 2);
  Answer seen = get(insurer_, "/api/v1/accident-cases/A-1");
  ASSERT_EQ(seen.status, 200) << seen.raw;
  EXPECT_NE(seen.body["psn_no"], kP3) << "masked for an insurer";
  EXPECT_EQ(get(service_, "/api/v1/accident-cases/A-1").body["psn_no"], kP3);
  EXPECT_EQ(get(h1_, "/api/v1/accident-cases/A-1").status, 403);
  EXPECT_EQ(post(h1_, "/api/v1/accident-cases", accident("A-2", kP3)).status, 403);
  // A medical settlement is not an accident case.
  ASSERT_EQ(post(h1_, "/api/v1/settlements", claim("A-M", kP1, "H001")).status, 200);
  EXPECT_EQ(get(service_, "/api/v1/accident-cases/A-M").status, 404);
  // A medical claim is not an accident case either.
  Answer medical = post(service_, "/api/v1/accident-cases", claim("A-3", kP1, "H001"));
  EXPECT_EQ(medical.status, 400) << medical.raw;
  EXPECT_EQ(medical.body["code"], "malformed_record");
}

// ---- person lookup ----

TEST_P(ApiTest, PersonLookupShowsCoverageAndBenefitsMaskedByRole) {
  ASSERT_EQ(post(h1_, "/api/v1/settlements", claim("P-1", kP1, "H001")).status, 200);
  const int64_t audits = count("SELECT count(*) FROM audit_log WHERE action = 'person.show'");
  Answer h = get(h1_, "/api/v1/persons/" + kP1 + "?on=2024-06-01");
  ASSERT_EQ(h.status, 200) << h.raw;
  EXPECT_EQ(h.body["masked"], true);
  EXPECT_EQ(h.body["baseinfo"]["psn_name"], "张*");
  EXPECT_NE(h.body["baseinfo"]["psn_no"], kP1);
  EXPECT_EQ(h.body["baseinfo"]["brdy"], "1980");
  EXPECT_EQ(h.raw.find(kP1), std::string::npos) << "no unmasked id anywhere in the answer";
  ASSERT_EQ(h.body["benefits"].size(), 1u);
  const json& plan = h.body["benefits"][0];
  EXPECT_EQ(plan["plan_id"], kPlanB);
  bool hifp_seen = false;
  for (const json& l : plan["layers"]) {
    if (l["layer"] == "hifp") {
      hifp_seen = true;
      EXPECT_EQ(l["paid"], "5625.00");
    }
  }
  EXPECT_TRUE(hifp_seen);
  Answer b = get(bureau_, "/api/v1/persons/" + kP1 + "?on=2024-06-01");
  ASSERT_EQ(b.status, 200);
  EXPECT_EQ(b.body["baseinfo"]["psn_no"], kP1);
  EXPECT_EQ(b.body["baseinfo"]["psn_name"], "张三");
  Answer sp = get(service_, "/api/v1/persons/" + kP3 + "?on=2020-06-01");
  ASSERT_EQ(sp.status, 200);
  EXPECT_EQ(sp.body["idetinfo"][0]["psn_idet_type"], "poverty");
  EXPECT_EQ(get(insurer_, "/api/v1/persons/" + kP1).body["masked"], true);
  EXPECT_EQ(get(pharmacy_, "/api/v1/persons/" + kP1).status, 200);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'person.show'"), audits + 5);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'person.show' AND actor = "
                  "'api:H001/" +
                  h1_.substr(3, 16) + "'"),
            1)
      << "the audit row names the organisation and key";
}

// ---- enrolment ----

TEST_P(ApiTest, EnrolmentAndCancellationThroughAServicePoint) {
  const std::string body = json({{"plan_id", kPlanB},
                                 {"psn_no", kP1},
                                 {"paid_on", "2024-03-10"},
                                 {"payers", {{{"kind", "cash"}, {"amount", "99.00"}}}}})
                               .dump();
  std::string before = fingerprint();
  Answer short_paid = post(service_, "/api/v1/enrollments", replace_all(body, "99.00", "98.00"));
  EXPECT_EQ(short_paid.status, 422) << short_paid.raw;
  EXPECT_EQ(short_paid.body["code"], "payers_do_not_sum");
  EXPECT_EQ(fingerprint(), before);
  EXPECT_EQ(post(service_, "/api/v1/enrollments", replace_all(body, "\"paid_on\"", "\"paidon\""))
                .body["code"],
            "unknown_field");
  EXPECT_EQ(post(h1_, "/api/v1/enrollments", body).status, 403);
  // Amounts are strings: a JSON number would pass through a double.
  Answer number = post(service_, "/api/v1/enrollments", replace_all(body, "\"99.00\"", "99.00"));
  EXPECT_EQ(number.status, 400) << number.raw;
  EXPECT_EQ(number.body["code"], "wrong_type");
  EXPECT_NE(number.body["message"].get<std::string>().find("amount"), std::string::npos);
  EXPECT_EQ(fingerprint(), before);

  Answer e = post(service_, "/api/v1/enrollments", body);
  ASSERT_EQ(e.status, 201) << e.raw;
  EXPECT_EQ(e.body["product"], "hmb");
  EXPECT_EQ(e.body["begin_date"], "2024-03-11");
  EXPECT_EQ(e.body["psn_no"], kP1) << "a service point sees ids";
  Answer twice = post(insurer_, "/api/v1/enrollments", body);
  EXPECT_EQ(twice.status, 422);
  EXPECT_EQ(twice.body["code"], "already_enrolled");
  // The person's coverage shows the enrolment.
  Answer p = get(bureau_, "/api/v1/persons/" + kP1 + "?on=2024-06-01");
  ASSERT_EQ(p.body["insuinfo"].size(), 1u);
  EXPECT_EQ(p.body["insuinfo"][0]["product"], "hmb");

  Answer c = post(service_, "/api/v1/enrollments/cancellations",
                  json({{"plan_id", kPlanB}, {"psn_no", kP1}, {"on", "2024-03-10"}}).dump());
  ASSERT_EQ(c.status, 200) << c.raw;
  EXPECT_EQ(c.body["before_cover"], true);
  EXPECT_EQ(c.body["refunded"], "99.00");
  // Renewal is the insurer's, between consecutive plan years.
  Answer r = post(insurer_, "/api/v1/enrollments/renewals",
                  json({{"from_plan_id", kPlanA}, {"to_plan_id", kPlanB}}).dump());
  EXPECT_EQ(r.status, 422) << r.raw;
  EXPECT_EQ(post(service_, "/api/v1/enrollments/renewals", "{}").status, 403);
  EXPECT_EQ(post(insurer_, "/api/v1/enrollments/renewals",
                 json({{"from_plan_id", "x"}, {"to_plan_id", kPlanB}}).dump())
                .status,
            404);
}

// ---- plans and roll ----

TEST_P(ApiTest, PlansAndDrugListsForEveryRole) {
  for (const auto& [role, key] : role_keys_) {
    Answer p = get(key, "/api/v1/plans");
    ASSERT_EQ(p.status, 200) << role_name(role);
    ASSERT_EQ(p.body["plans"].size(), 2u);
  }
  Answer d = get(h1_, "/api/v1/plans/" + kPlanB + "/drug-lists");
  ASSERT_EQ(d.status, 200) << d.raw;
  ASSERT_EQ(d.body["drug_lists"].size(), 1u);
  EXPECT_EQ(d.body["drug_lists"][0]["items"].size(), 5u);
  bool removed_mid_year = false;
  for (const json& item : d.body["drug_lists"][0]["items"]) {
    if (item["code"] == "XL01XXA003A001010100003") {
      removed_mid_year = true;
      EXPECT_EQ(item["effective_to"], "2024-06-30");
    }
  }
  EXPECT_TRUE(removed_mid_year);
  EXPECT_EQ(get(h1_, "/api/v1/plans/nowhere/drug-lists").status, 404);
}

TEST_P(ApiTest, RollUploadsAreTheBureausAndAllOrNothing) {
  const std::string persons = slurp(kSource + "/tests/api/persons.csv");
  for (const std::string& k : {insurer_, h1_, pharmacy_, service_}) {
    httplib::Result r = client(k).Post("/api/v1/roll/imports", persons, "text/csv");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
  }
  const std::string before = fingerprint();
  const int64_t history = count("SELECT count(*) FROM person_history");
  std::string bad = persons + "37010219800101123X,坏,1,1980-01-01,370102,390,,0\n";
  httplib::Result r =
      client(bureau_).Post("/api/v1/roll/imports?as_of=2024-01-01", bad, "text/csv");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["code"], "roll_invalid");
  EXPECT_EQ(j["error_count"], 1);
  EXPECT_EQ(j["errors"][0]["line"], 7);
  EXPECT_EQ(fingerprint(), before);
  EXPECT_EQ(count("SELECT count(*) FROM person_history"), history);
  // A dry run of a change reports it and writes nothing; multipart works too.
  std::string changed = replace_all(persons, "370102,390,,0", "370103,390,,0");
  httplib::MultipartFormDataItems parts = {{"persons", changed, "persons.csv", "text/csv"}};
  r = client(bureau_).Post("/api/v1/roll/imports?as_of=2024-01-01&dry_run=true", parts);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  j = json::parse(r->body);
  EXPECT_EQ(j["dry_run"], true);
  EXPECT_EQ(j["committed"], false);
  EXPECT_EQ(j["persons"]["changed"], 1);
  EXPECT_EQ(count("SELECT count(*) FROM person_history"), history);
  r = client(bureau_).Post("/api/v1/roll/imports?as_of=2024-01-01", "a,b\n1,2\n",
                           "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
}

// ---- authentication and the permission table ----

TEST_P(ApiTest, KeysAreRequiredAndRevocationTakesEffect) {
  const std::string before = fingerprint();
  for (const std::string& k :
       {std::string(), std::string("hb_nonsense"), "hb_0123456789abcdef_" + std::string(64, '0'),
        h1_.substr(0, h1_.size() - 1) + (h1_.back() == '0' ? "1" : "0")}) {
    Answer a = post(k, "/api/v1/settlements", claim("K-1", kP1, "H001"));
    EXPECT_EQ(a.status, 401) << k;
    EXPECT_EQ(a.body["code"], "unauthorized");
    httplib::Result r = client(k).Get("/api/v1/plans");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer");
  }
  httplib::Client c = client("");
  c.set_default_headers({{"X-Api-Key", h1_}});
  httplib::Result r = c.Get("/api/v1/plans");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << "X-Api-Key works too";
  EXPECT_EQ(fingerprint(), before);

  std::string key_id(h2_.substr(3, 16));
  bool found = false;
  ASSERT_TRUE(revoke_api_key(*db_, key_id, "tester", &found).ok());
  ASSERT_TRUE(found);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the cache's 200 ms
  Answer revoked = get(h2_, "/api/v1/plans");
  EXPECT_EQ(revoked.status, 401);
  EXPECT_EQ(revoked.body["message"], "this API key was revoked");
}

// One request per action, sent with every role's key: a cell of the table
// that denies is answered 403 forbidden and changes nothing; a cell that
// allows is never 401 or 403.
TEST_P(ApiTest, EveryCellOfThePermissionTable) {
  ASSERT_EQ(post(h1_, "/api/v1/settlements", claim("T-0", kP1, "H001")).status, 200);
  ASSERT_EQ(post(service_, "/api/v1/accident-cases", accident("T-A", kP3)).status, 201);
  struct Probe {
    Action action;
    std::string method, path, body;
  };
  int n = 0;
  auto probes = [&](Role role) {
    // Claims name the caller's own organisation, so "own" cells allow.
    const std::string org = role == Role::kPharmacy ? "P001" : "H001";
    const std::string med = role == Role::kPharmacy ? "41" : "21";
    const std::string id = "T-" + std::to_string(++n);
    return std::vector<Probe>{
        {Action::kPersonRead, "GET", "/api/v1/persons/" + kP1 + "?on=2024-06-01", ""},
        {Action::kPresettle, "POST", "/api/v1/presettlements",
         claim(id + "p", kP1, org, "2024-05-01", "100.00", med)},
        {Action::kSettle, "POST", "/api/v1/settlements",
         claim(id + "s", kP1, org, "2024-05-01", "100.00", med)},
        {Action::kReverse, "POST", "/api/v1/settlements/NO-SUCH/reversal", "{}"},
        {Action::kSettlementRead, "GET", "/api/v1/settlements/NO-SUCH", ""},
        {Action::kAccidentSubmit, "POST", "/api/v1/accident-cases", accident(id + "a", kP3)},
        {Action::kAccidentRead, "GET", "/api/v1/accident-cases/T-A", ""},
        {Action::kEnrol, "POST", "/api/v1/enrollments",
         json({{"plan_id", kPlanB},
               {"psn_no", kP4},
               {"paid_on", "2024-03-10"},
               {"payers", json::array()}})
             .dump()},
        {Action::kRenew, "POST", "/api/v1/enrollments/renewals",
         json({{"from_plan_id", kPlanA}, {"to_plan_id", kPlanB}}).dump()},
        {Action::kCancel, "POST", "/api/v1/enrollments/cancellations",
         json({{"plan_id", kPlanB}, {"psn_no", kP2}}).dump()},
        {Action::kPlanRead, "GET", "/api/v1/plans", ""},
        {Action::kRollImport, "POST", "/api/v1/roll/imports?dry_run=true", ""},
        {Action::kReportRead, "GET", "/api/v1/reports/loss-ratio", ""},
    };
  };
  const std::string persons = slurp(kSource + "/tests/api/persons.csv");
  std::set<Action> seen;
  for (const auto& [role, key] : role_keys_) {
    for (const Probe& p : probes(role)) {
      seen.insert(p.action);
      const bool allowed = permission(role, p.action) != Scope::kDeny;
      const std::string before = fingerprint();
      int status = 0;
      std::string raw;
      if (p.action == Action::kRollImport) {
        httplib::Result r = client(key).Post(p.path, persons, "text/csv");
        ASSERT_TRUE(r);
        status = r->status;
        raw = r->body;
      } else {
        Answer a = call(key, p.method, p.path, p.body);
        status = a.status;
        raw = a.raw;
      }
      const std::string cell =
          std::string(role_name(role)) + " " + std::string(action_name(p.action));
      if (allowed) {
        EXPECT_NE(status, 403) << cell << ": " << raw;
        EXPECT_NE(status, 401) << cell;
      } else {
        EXPECT_EQ(status, 403) << cell << ": " << raw;
        EXPECT_NE(raw.find("\"code\":\"forbidden\""), std::string::npos) << cell;
        EXPECT_EQ(fingerprint(), before) << cell;
      }
    }
  }
  EXPECT_EQ(int(seen.size()), kActionCount) << "every action probed";
}

// ---- hostile requests (tests/api/hostile.test) ----

struct HostileCase {
  std::string name, method, path, body, code;
  int status = 0;
  int line = 0;
};

std::vector<HostileCase> hostile_cases() {
  std::vector<HostileCase> out;
  const std::vector<std::string> lines =
      testing_files::lines_of(slurp(kSource + "/tests/api/hostile.test"));
  HostileCase* c = nullptr;
  bool in_body = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (l.rfind("=== ", 0) == 0) {
      out.push_back({});
      c = &out.back();
      c->name = l.substr(4);
      c->line = int(i + 1);
      in_body = false;
    } else if (c == nullptr || (!in_body && (l.empty() || l[0] == '#'))) {
      continue;
    } else if (in_body) {
      c->body += (c->body.empty() ? "" : "\n") + l;
    } else if (l == "---") {
      in_body = true;
    } else if (l.rfind("expect ", 0) == 0) {
      const size_t sp = l.find(' ', 7);
      c->status = std::stoi(l.substr(7, sp - 7));
      c->code = l.substr(sp + 1);
    } else {
      const size_t sp = l.find(' ');
      c->method = l.substr(0, sp);
      c->path = l.substr(sp + 1);
    }
  }
  return out;
}

TEST_P(ApiTest, HostileRequestsGetTheirCodeAndChangeNothing) {
  ASSERT_EQ(post(h1_, "/api/v1/settlements", claim("Z-0", kP1, "H001")).status, 200);
  const std::vector<HostileCase> cases = hostile_cases();
  ASSERT_GE(cases.size(), 40u);
  const std::string before = fingerprint();
  for (HostileCase c : cases) {
    for (auto [from, to] : std::initializer_list<std::pair<const char*, std::string>>{
             {"{P1}", kP1}, {"{P2}", kP2}, {"{P3}", kP3}, {"{UNKNOWN}", kUnknown}}) {
      c.body = replace_all(c.body, from, to);
      c.path = replace_all(c.path, from, to);
    }
    Answer a = call(h1_, c.method, c.path, c.body);
    const std::string where = "hostile.test:" + std::to_string(c.line) + " (" + c.name + ")";
    EXPECT_EQ(a.status, c.status) << where << ": " << a.raw;
    ASSERT_TRUE(a.body.is_object()) << where << ": not JSON: " << a.raw;
    const json& code = a.body.contains("infcode") ? a.body["err_code"] : a.body["code"];
    EXPECT_EQ(code, c.code) << where << ": " << a.raw;
    if (a.body.contains("infcode")) {
      EXPECT_EQ(a.body["infcode"], -1) << where;
    } else {
      EXPECT_FALSE(a.body["message"].get<std::string>().empty()) << where;
    }
    EXPECT_EQ(fingerprint(), before) << where;
  }
}

TEST_P(ApiTest, OversizedAndMistypedBodies) {
  const std::string before = fingerprint();
  httplib::Client c = client(h1_);
  std::string huge(2 << 20, ' ');
  huge[0] = '{';
  huge.back() = '}';
  httplib::Result r = c.Post("/api/v1/settlements", huge, "application/json");
  // The body is not read: the server answers 413 and closes the connection
  // (AnUnreadOverLargeBodyClosesItsConnection), so a client still writing
  // 2 MiB may see the connection closed before it reads the answer.
  if (r) {
    EXPECT_EQ(r->status, 413);
    EXPECT_NE(r->body.find("payload_too_large"), std::string::npos);
  } else {
    EXPECT_EQ(r.error(), httplib::Error::Write) << httplib::to_string(r.error());
  }
  httplib::Client c2 = client(h1_);
  r = c2.Post("/api/v1/settlements", claim("O-1", kP1, "H001"), "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
  EXPECT_NE(r->body.find("unsupported_media_type"), std::string::npos);
  EXPECT_EQ(fingerprint(), before);
}

TEST_P(ApiTest, AFailedSyncWithholdsAnswersAndReadinessSaysWhy) {
  stop_server();
  ServerConfig c = config();
  c.before_sync = [] { return Status(Code::kIoError, "injected: the disk went away"); };
  start_server(c);
  Answer s = post(h1_, "/api/v1/settlements", claim("F-1", kP1, "H001"));
  if (GetParam() == Engine::kPostgres) {
    // Each PostgreSQL commit syncs itself: no deferred sync to fail.
    EXPECT_EQ(s.status, 200) << s.raw;
    EXPECT_EQ(get("", "/readyz").status, 200);
    return;
  }
  EXPECT_EQ(s.status, 500) << s.raw;
  EXPECT_EQ(s.body["code"], "store_error") << s.raw;
  // Every authenticated answer is withheld, even one from memory.
  Answer plans = get(h1_, "/api/v1/plans");
  EXPECT_EQ(plans.status, 500) << plans.raw;
  EXPECT_EQ(plans.body["code"], "store_error") << plans.raw;
  Answer r = get("", "/readyz");
  EXPECT_EQ(r.status, 503) << r.raw;
  EXPECT_NE(r.raw.find("not known to be on disk"), std::string::npos) << r.raw;
}

TEST_P(ApiTest, AFailingCheckpointKeepsTheServerReadyAndReadinessNamesIt) {
  stop_server();
  ServerConfig c = config();
  c.checkpoint_bytes = 1;  // a checkpoint after every group
  auto failing = std::make_shared<std::atomic<bool>>(true);
  c.before_checkpoint = [failing] {
    return failing->load() ? Status(Code::kIoError, "injected: the database file is read-only")
                           : Status::Ok();
  };
  start_server(c);
  // /readyz until pred holds for it (the checkpoint thread runs after the
  // group is answered), or 10 s.
  auto readyz_until = [&](auto pred) {
    Answer r;
    for (int i = 0; i < 200; ++i) {
      r = get("", "/readyz");
      if (pred(r)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return r;
  };
  auto names_checkpoint = [](const Answer& r) {
    return r.body.is_object() && r.body["checks"].contains("checkpoint");
  };
  Answer s = post(h1_, "/api/v1/settlements", claim("K-1", kP1, "H001"));
  EXPECT_EQ(s.status, 200) << s.raw;
  if (GetParam() == Engine::kPostgres) {  // no WAL of ours to copy
    Answer r = get("", "/readyz");
    EXPECT_EQ(r.status, 200) << r.raw;
    EXPECT_FALSE(names_checkpoint(r)) << r.raw;
    return;
  }
  Answer r = readyz_until(names_checkpoint);
  // Every answer is still durable: ready, with the failure named.
  EXPECT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["ready"], true) << r.raw;
  ASSERT_TRUE(names_checkpoint(r)) << r.raw;
  EXPECT_NE(r.body["checks"]["checkpoint"].get<std::string>().find("the WAL grows"),
            std::string::npos)
      << r.raw;
  EXPECT_NE(r.raw.find("injected: the database file is read-only"), std::string::npos) << r.raw;
  // Settlements go on meanwhile; once a checkpoint succeeds the check goes.
  EXPECT_EQ(post(h1_, "/api/v1/settlements", claim("K-2", kP2, "H001")).status, 200);
  failing->store(false);
  EXPECT_EQ(post(h1_, "/api/v1/settlements", claim("K-3", kP1, "H001", "2024-04-01")).status, 200);
  r = readyz_until([&](const Answer& a) { return !names_checkpoint(a); });
  EXPECT_EQ(r.status, 200) << r.raw;
  EXPECT_FALSE(names_checkpoint(r)) << r.raw;
}

TEST_P(ApiTest, ARateLimitPerKey) {
  stop_server();
  ServerConfig c = config();
  c.rate_per_key = 1;
  c.burst_per_key = 3;
  start_server(c);
  int ok = 0, limited = 0;
  for (int i = 0; i < 6; ++i) {
    httplib::Client cl = client(h1_);
    httplib::Result r = cl.Get("/api/v1/plans");
    ASSERT_TRUE(r);
    if (r->status == 200) ++ok;
    if (r->status == 429) {
      ++limited;
      EXPECT_FALSE(r->get_header_value("Retry-After").empty());
      EXPECT_NE(r->body.find("rate_limited"), std::string::npos);
    }
  }
  EXPECT_EQ(ok, 3);
  EXPECT_EQ(limited, 3);
  // Another key has its own bucket.
  EXPECT_EQ(get(h2_, "/api/v1/plans").status, 200);
}

// ---- concurrency ----

TEST_P(ApiTest, ConcurrentSettlementsForOnePersonAreNeverDoubleCounted) {
  // 40 claims of one person, each sent twice, from 16 connections at once;
  // the settlement fills deductible, cap and cumulative layers in turn.
  constexpr int kClaims = 40, kConnections = 16;
  std::vector<std::string> bodies;
  for (int i = 0; i < kClaims; ++i) {
    char day[16];
    std::snprintf(day, sizeof day, "2024-%02d-%02d", 1 + i % 12, 1 + i % 28);
    bodies.push_back(
        claim("C-" + std::to_string(i), kP4, "H001", day, std::to_string(3000 + 977 * i) + ".00"));
  }
  std::atomic<int> next{0}, settled{0}, replayed{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kConnections; ++t) {
    threads.emplace_back([&] {
      httplib::Client c = client(h1_);
      for (int i; (i = next++) < 2 * kClaims;) {
        httplib::Result r =
            c.Post("/api/v1/settlements", bodies[size_t(i % kClaims)], "application/json");
        if (!r || r->status != 200) {
          ++other;
          continue;
        }
        json j = json::parse(r->body);
        ++(j["replayed"].get<bool>() ? replayed : settled);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(settled.load(), kClaims);
  EXPECT_EQ(replayed.load(), kClaims);
  EXPECT_EQ(count("SELECT count(*) FROM settlements WHERE psn_no = '" + kP4 + "'"), kClaims);
  expect_states_match_stored(kP4);
}

TEST_P(ApiTest, ShutdownFinishesTheRequestsInFlight) {
  // Clients keep settling while the server is told to stop: every claim
  // answered 200 is stored, and nothing is stored that was not answered.
  constexpr int kConnections = 12;
  std::atomic<int> next{0}, answered{0};
  std::atomic<bool> go{true};
  std::vector<std::thread> threads;
  for (int t = 0; t < kConnections; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client c = client(h1_);
      while (go) {
        const int i = next++;
        const std::string& psn = (t % 2) ? kP1 : kP2;
        httplib::Result r =
            c.Post("/api/v1/settlements",
                   claim("D-" + std::to_string(i), psn, "H001", "2024-05-01", "100.00"),
                   "application/json");
        if (!r) return;  // refused: the listener is closed
        if (r->status == 200) ++answered;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  server_->stop();
  if (thread_.joinable()) thread_.join();
  go = false;
  for (std::thread& t : threads) t.join();
  EXPECT_TRUE(run_status_.ok()) << run_status_.to_string();
  server_.reset();
  EXPECT_GT(answered.load(), 0);
  EXPECT_EQ(count("SELECT count(*) FROM settlements"), answered.load());
  expect_states_match_stored(kP1);
  expect_states_match_stored(kP2);
}

INSTANTIATE_TEST_SUITE_P(Engines, ApiTest, ::testing::Values(Engine::kSqlite, Engine::kPostgres),
                         [](const auto& i) { return store::engine_name(i.param); });

// ---- reports, charts and books (read-only; the bureau and insurers) ----

// A small city in the books: kP1 (Jinan) enrolled in hmb and settled, kP4
// (Qingdao) settled twice, once with nothing left to pay; then `books post`.
class ApiReportsTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    const std::string enrol = json({{"plan_id", kPlanB},
                                    {"psn_no", kP1},
                                    {"paid_on", "2024-03-10"},
                                    {"payers", {{{"kind", "cash"}, {"amount", "99.00"}}}}})
                                  .dump();
    ASSERT_EQ(post(service_, "/api/v1/enrollments", enrol).status, 201);
    ASSERT_EQ(post(h1_, "/api/v1/settlements", claim("RP-1", kP1, "H001", "2024-04-01")).status,
              200);
    ASSERT_EQ(post(h2_, "/api/v1/settlements", claim("RP-2", kP4, "H002", "2024-05-01")).status,
              200);
    json zero = json::parse(claim("RP-Z", kP4, "H002", "2024-06-01", "3000.00"));
    zero["medfee_sumamt"] = "3000.00";
    zero["fulamt_ownpay_amt"] = zero["overlmt_selfpay"] = zero["preselfpay_amt"] = "0.00";
    zero["given"] = {{"hifp_pay", "3000.00"}};
    Answer z = post(h2_, "/api/v1/settlements", zero.dump());
    ASSERT_EQ(z.status, 200) << z.raw;
    ASSERT_EQ(z.body["setlinfo"]["psn_part_amt"], "0.00");
    books::PostReport r;
    ASSERT_TRUE(books::post_books(*db_, {"test"}, &r).ok());
  }

  // The report as src/books makes it for the same store, without its time.
  json direct(books::ReportKind kind, bool unmasked, books::ReportQuery q = {}) {
    q.unmasked = unmasked;
    Result<std::string> j = books::report_json(*db_, kind, q);
    EXPECT_TRUE(j.ok()) << j.status().to_string();
    json out = j.ok() ? json::parse(*j) : json();
    out.erase("generated_at");
    return out;
  }
  static json timeless(json j) {
    j.erase("generated_at");
    return j;
  }
  static const json* row(const json& report, const std::string& table,
                         const std::map<std::string, std::string>& where) {
    for (const json& t : report["tables"]) {
      if (t["name"] != table) continue;
      for (const json& r : t["rows"]) {
        bool ok = true;
        for (const auto& [k, v] : where) ok = ok && r.contains(k) && r[k] == v;
        if (ok) return &r;
      }
    }
    return nullptr;
  }
  int64_t audits(const std::string& action) {
    return count("SELECT count(*) FROM audit_log WHERE action = '" + action + "'");
  }
};

TEST_P(ApiReportsTest, EveryReportIsWhatTheBooksLibraryMakesMaskedByRole) {
  Answer cat = get(insurer_, "/api/v1/reports");
  ASSERT_EQ(cat.status, 200) << cat.raw;
  ASSERT_EQ(cat.body["reports"].size(), books::report_catalog().size());
  for (const books::ReportInfo& info : books::report_catalog()) {
    const std::string path = "/api/v1/reports/" + std::string(info.name);
    Answer b = get(bureau_, path);
    ASSERT_EQ(b.status, 200) << info.name << ": " << b.raw;
    EXPECT_EQ(timeless(b.body), direct(info.kind, true)) << info.name;
    Answer i = get(insurer_, path);
    ASSERT_EQ(i.status, 200) << info.name << ": " << i.raw;
    EXPECT_EQ(timeless(i.body), direct(info.kind, false)) << info.name;
    EXPECT_EQ(i.raw.find(kP4), std::string::npos) << info.name << ": an insurer sees ids masked";
  }
  // The figures themselves: three claims of 10,000 + 10,000 + 3,000.
  Answer s = get(bureau_, "/api/v1/reports/settlements?year=2024");
  const json* province = row(s.body, "by_region", {{"region", "370000"}});
  ASSERT_NE(province, nullptr) << s.raw;
  EXPECT_EQ((*province)["medfee_sumamt"], "23000.00");
  Answer l = get(insurer_, "/api/v1/reports/loss-ratio?product=hmb&region=370100");
  ASSERT_EQ(l.status, 200) << l.raw;
  const json* jinan = row(l.body, "by_region", {{"product", "hmb"}, {"region", "370100"}});
  ASSERT_NE(jinan, nullptr) << l.raw;
  EXPECT_EQ((*jinan)["premium_income"], "99.00");
  EXPECT_EQ(row(l.body, "by_region", {{"region", "370000"}}), nullptr) << "one city asked";
  // Zero self-pay lists RP-Z: the bureau sees the id, the insurer a mask.
  char masked[18];
  mask_resident_id(kP4, masked);
  Answer zb = get(bureau_, "/api/v1/reports/zero-self-pay");
  EXPECT_EQ(zb.body["zero_self_pay_claims"], 1);
  const json* zc = row(zb.body, "cases", {{"setl_id", "RP-Z"}});
  ASSERT_NE(zc, nullptr) << zb.raw;
  EXPECT_EQ((*zc)["psn_no"], kP4);
  EXPECT_EQ((*zc)["medfee_sumamt"], "3000.00");
  Answer zi = get(insurer_, "/api/v1/reports/zero-self-pay?limit=5");
  EXPECT_EQ(zi.body["masked"], true);
  ASSERT_NE(row(zi.body, "cases", {{"setl_id", "RP-Z"}}), nullptr);
  EXPECT_EQ((*row(zi.body, "cases", {{"setl_id", "RP-Z"}}))["psn_no"], std::string(masked, 18));
}

TEST_P(ApiReportsTest, EveryReadOfPersonsIsAudited) {
  const int64_t before = audits("report.read");
  ASSERT_EQ(get(bureau_, "/api/v1/reports/loss-ratio").status, 200);
  EXPECT_EQ(audits("report.read"), before) << "no person in a loss ratio";
  ASSERT_EQ(get(insurer_, "/api/v1/reports/zero-self-pay").status, 200);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'report.read' AND psn_no = '" +
                  kP4 + "' AND actor = 'api:I01/" + insurer_.substr(3, 16) + "'"),
            1);
  EXPECT_EQ(audits("report.read"), before + 1);
  ASSERT_EQ(get(bureau_, "/api/v1/reports/settlement?setl_id=RP-1&format=csv").status, 200);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'report.read' AND psn_no = '" +
                  kP1 + "'"),
            1);
  ASSERT_EQ(get(insurer_, "/api/v1/charts/waterfall?setl_id=RP-2").status, 200);
  EXPECT_EQ(audits("report.read"), before + 3);
  // A refused read writes nothing.
  EXPECT_EQ(get(insurer_, "/api/v1/reports/zero-self-pay?format=csv&table=nope").status, 400);
  EXPECT_EQ(get(h1_, "/api/v1/reports/zero-self-pay").status, 403);
  EXPECT_EQ(audits("report.read"), before + 3);
}

TEST_P(ApiReportsTest, CsvXlsxAndSvgWithTheirTypes) {
  httplib::Client c = client(insurer_);
  // CSV by format= and by Accept: the first table, exactly the library's.
  const std::string want =
      *books::report_table_csv(*books::report_json(*db_, books::ReportKind::kLossRatio, {}), "");
  httplib::Result r = c.Get("/api/v1/reports/loss-ratio?format=csv");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/csv; charset=utf-8");
  EXPECT_EQ(r->get_header_value("Content-Disposition"),
            "attachment; filename=\"loss-ratio-2024.csv\"");
  EXPECT_EQ(r->body, want);
  r = c.Get("/api/v1/reports/loss-ratio", {{"Accept", "text/html;q=0.9, text/csv"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/csv; charset=utf-8");
  EXPECT_EQ(r->body, want);
  r = c.Get("/api/v1/reports/settlements?format=csv&table=layers");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Disposition"),
            "attachment; filename=\"settlements-2024.layers.csv\"");
  EXPECT_EQ(r->body.rfind("plan_id,", 0), 0u) << r->body.substr(0, 80);
  // XLSX: a zip.
  for (const auto& [path, headers] : std::vector<std::pair<std::string, httplib::Headers>>{
           {"/api/v1/reports/enrolment?format=xlsx", {}},
           {"/api/v1/reports/enrolment",
            {{"Accept", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}}}}) {
    r = c.Get(path, headers);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"),
              "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    EXPECT_EQ(r->get_header_value("Content-Disposition"),
              "attachment; filename=\"enrolment-2024.xlsx\"");
    ASSERT_GT(r->body.size(), 100u);
    EXPECT_EQ(r->body.substr(0, 2), "PK");
  }
  // JSON by default, also for an Accept that names nothing made here.
  r = c.Get("/api/v1/reports/books", {{"Accept", "text/html"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json; charset=utf-8");
  // SVG charts, drawn from the same report.
  for (const char* chart : {"loss_ratio", "enrolment_rate", "reimbursement", "waterfall"}) {
    r = c.Get(std::string("/api/v1/charts/") + chart);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << chart << ": " << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "image/svg+xml; charset=utf-8");
    EXPECT_EQ(r->body.rfind("<svg", 0), 0u) << chart;
  }
  r = c.Get("/api/v1/charts/loss_ratio?product=hmb");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body,
            *books::chart_svg(books::ChartKind::kLossRatio,
                              *books::report_json(*db_, books::ReportKind::kLossRatio, {}), "hmb"));
  EXPECT_EQ(count("SELECT count(*) FROM journal_entries") > 0, true);
}

TEST_P(ApiReportsTest, BalancesAndTheCheckAreTheBooks) {
  books::BalanceFilter f;
  f.year = 2024;
  std::vector<books::BalanceRow> want;
  ASSERT_TRUE(books::book_balances(*db_, f, &want).ok());
  ASSERT_FALSE(want.empty());
  Answer a = get(bureau_, "/api/v1/books/balances?year=2024");
  ASSERT_EQ(a.status, 200) << a.raw;
  ASSERT_EQ(a.body["balances"].size(), want.size());
  Fen premium = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const json& got = a.body["balances"][i];
    EXPECT_EQ(got["product"], want[i].product);
    EXPECT_EQ(got["region"], want[i].region);
    EXPECT_EQ(got["account"], want[i].account);
    EXPECT_EQ(got["debit"], fen_to_string(want[i].debit));
    EXPECT_EQ(got["credit"], fen_to_string(want[i].credit));
    EXPECT_EQ(got["balance"], fen_to_string(want[i].balance()));
    if (want[i].account.rfind("premium_income", 0) == 0) premium += want[i].credit;
  }
  EXPECT_EQ(premium, 99'00) << "kP1's premium is in the books";
  Answer jinan = get(insurer_, "/api/v1/books/balances?region=370100&product=hmb");
  ASSERT_EQ(jinan.status, 200);
  for (const json& r : jinan.body["balances"]) EXPECT_EQ(r["region"], "370100");
  Answer check = get(insurer_, "/api/v1/books/check");
  ASSERT_EQ(check.status, 200) << check.raw;
  EXPECT_EQ(check.body["ok"], true);
  EXPECT_GT(check.body["entries"].get<int64_t>(), 0);
}

TEST_P(ApiReportsTest, OnlyTheBureauAndInsurersReadThem) {
  const std::string before = fingerprint();
  const int64_t audit_rows = count("SELECT count(*) FROM audit_log");
  for (const std::string& key : {h1_, pharmacy_, service_}) {
    for (const char* path :
         {"/api/v1/reports", "/api/v1/reports/loss-ratio", "/api/v1/reports/zero-self-pay",
          "/api/v1/reports/nope", "/api/v1/charts/loss_ratio", "/api/v1/books/balances",
          "/api/v1/books/check"}) {
      Answer a = get(key, path);
      EXPECT_EQ(a.status, 403) << path << ": " << a.raw;
      EXPECT_EQ(a.body["code"], "forbidden") << path;
    }
  }
  EXPECT_EQ(fingerprint(), before);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log"), audit_rows);
}

TEST_P(ApiReportsTest, BadParametersAreNamed) {
  struct Bad {
    std::string path, code, param;
  };
  for (const Bad& b : std::vector<Bad>{
           {"/api/v1/reports/nope", "unknown_report", "name"},
           {"/api/v1/charts/nope", "unknown_report", "name"},
           {"/api/v1/reports/loss-ratio?year=20x4", "invalid_value", "year"},
           {"/api/v1/reports/loss-ratio?year=24", "invalid_value", "year"},
           {"/api/v1/reports/loss-ratio?year=2024&year=2020", "invalid_value", "year"},
           {"/api/v1/reports/loss-ratio?region=3702", "invalid_value", "region"},
           {"/api/v1/reports/loss-ratio?region=370203", "invalid_value", "region"},
           {"/api/v1/reports/loss-ratio?format=pdf", "invalid_value", "format"},
           {"/api/v1/reports/loss-ratio?format=json&table=by_region", "invalid_value", "table"},
           {"/api/v1/reports/loss-ratio?format=csv&table=nope", "invalid_value", "table"},
           {"/api/v1/reports/loss-ratio?yaer=2024", "unknown_parameter", "yaer"},
           {"/api/v1/reports/loss-ratio?top=5", "unknown_parameter", "top"},
           {"/api/v1/reports/hospitals?top=0", "invalid_value", "top"},
           {"/api/v1/reports/zero-self-pay?limit=-1", "invalid_value", "limit"},
           {"/api/v1/reports/loss-ratio?plan_id=nope", "invalid_value", "plan_id"},
           {"/api/v1/reports/loss-ratio?product=nope", "invalid_value", "product"},
           {"/api/v1/reports/settlement?setl_id=NOPE", "invalid_value", "setl_id"},
           {"/api/v1/charts/loss_ratio?format=csv", "unknown_parameter", "format"},
           {"/api/v1/books/balances?year=x", "invalid_value", "year"},
           {"/api/v1/books/balances?plan_id=x", "unknown_parameter", "plan_id"},
           {"/api/v1/reports?year=2024", "unknown_parameter", "year"},
       }) {
    Answer a = get(bureau_, b.path);
    EXPECT_EQ(a.status, 400) << b.path << ": " << a.raw;
    EXPECT_EQ(a.body["code"], b.code) << b.path << ": " << a.raw;
    EXPECT_EQ(a.body["param"], b.param) << b.path << ": " << a.raw;
  }
  // A year without settlements has no settlement to show.
  Answer none = get(bureau_, "/api/v1/reports/settlement?year=2020");
  EXPECT_EQ(none.status, 404) << none.raw;
  // A year without anything is an empty report, not an error.
  EXPECT_EQ(get(bureau_, "/api/v1/reports/loss-ratio?year=2019").status, 200);
}

INSTANTIATE_TEST_SUITE_P(Engines, ApiReportsTest,
                         ::testing::Values(Engine::kSqlite, Engine::kPostgres),
                         [](const auto& i) { return store::engine_name(i.param); });

// ---- the national envelope's national-only fields ----

TEST_P(ApiTest, TheEnvelopeAcceptsTheNationalFieldsItDoesNotUse) {
  auto env = [&](const std::string& infno, const std::string& data) {
    Answer a =
        post(h1_, "/api/v1/transactions",
             "{\"infno\":\"" + infno + "\",\"msgid\":\"N1\",\"input\":{\"data\":" + data + "}}");
    EXPECT_EQ(a.status, 200) << a.raw;
    return a;
  };
  auto national = [](json claim_fields) {
    claim_fields["mdtrt_id"] = "MD20240301001";
    claim_fields["mdtrt_cert_type"] = "02";
    claim_fields["mdtrt_cert_no"] = kP1;
    claim_fields["insutype"] = "390";
    claim_fields["psn_setlway"] = "01";
    claim_fields["acct_used_flag"] = "0";
    claim_fields["mid_setl_flag"] = "0";
    claim_fields["invono"] = nullptr;
    return claim_fields;
  };
  const json body = national(json::parse(claim("N-1", kP1, "H001")));
  Answer pre = env("2303", body.dump());
  EXPECT_EQ(pre.body["infcode"], 0) << pre.raw;
  Answer set = env("2304", body.dump());
  EXPECT_EQ(set.body["infcode"], 0) << set.raw;
  EXPECT_EQ(set.body["output"]["setlinfo"], pre.body["output"]["setlinfo"]);
  EXPECT_EQ(set.body["output"]["setldetail"][0]["fund_payamt"], "5625.00")
      << "the same settlement as without them";
  EXPECT_EQ(count("SELECT count(*) FROM settlements WHERE setl_id = 'N-1'"), 1);
  // The same bytes again are the same claim.
  EXPECT_EQ(env("2304", body.dump()).body["output"]["replayed"], true);
  Answer info = env("1101", json({{"mdtrt_cert_type", "02"},
                                  {"mdtrt_cert_no", kP1},
                                  {"psn_cert_type", "01"},
                                  {"certno", kP1},
                                  {"psn_name", "张三"},
                                  {"card_sn", ""},
                                  {"begntime", "2024-03-01 08:00:00"},
                                  {"on", "2024-03-01"}})
                                .dump());
  EXPECT_EQ(info.body["infcode"], 0) << info.raw;
  EXPECT_EQ(info.body["output"]["baseinfo"]["psn_name"], "张*");
  Answer rev = env("2305", json({{"setl_id", "N-1"}, {"psn_no", kP1}, {"mdtrt_id", "MD1"}}).dump());
  EXPECT_EQ(rev.body["infcode"], 0) << rev.raw;

  // Still refused: fields no transaction documents, fields of another
  // transaction, structured values, and bad values of the fields used.
  const std::string before = fingerprint();
  json typo = national(json::parse(claim("N-2", kP1, "H001")));
  typo["inscp_amt"] = "1.00";
  json other = national(json::parse(claim("N-3", kP1, "H001")));
  other["begntime"] = "2024-03-01";  // a 1101 field
  json nested = national(json::parse(claim("N-4", kP1, "H001")));
  nested["mdtrt_id"] = {{"id", 1}};
  json bad_med = national(json::parse(claim("N-5", kP1, "H001")));
  bad_med["med_type"] = "2x";
  struct Refused {
    std::string infno, data, code;
  };
  for (const Refused& r : std::vector<Refused>{
           {"2304", typo.dump(), "unknown_field"},
           {"2303", other.dump(), "unknown_field"},
           {"2304", nested.dump(), "wrong_type"},
           {"2304", bad_med.dump(), "invalid_value"},
           {"1101", json({{"certno", kP1}, {"insutype", "390"}}).dump(), "unknown_field"},
           {"1101", json({{"certno", 370102}}).dump(), "wrong_type"},
           {"2305", json({{"setl_id", "N-1"}, {"begntime", "x"}}).dump(), "unknown_field"},
           {"2305", json({{"setl_id", 5}}).dump(), "wrong_type"},
       }) {
    Answer a = env(r.infno, r.data);
    EXPECT_EQ(a.body["infcode"], -1) << r.infno << " " << r.data;
    EXPECT_EQ(a.body["err_code"], r.code) << r.infno << " " << r.data << ": " << a.raw;
  }
  // The REST endpoints take DOMAIN.md's fields only.
  Answer rest =
      post(h1_, "/api/v1/settlements", national(json::parse(claim("N-6", kP1, "H001"))).dump());
  EXPECT_EQ(rest.status, 400);
  EXPECT_EQ(rest.body["code"], "unknown_field");
  EXPECT_EQ(fingerprint(), before);
}

// ---- a body over the limit closes its connection ----

// One raw TCP connection to the server.
class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  bool send_all(const std::string& data) {
    for (size_t at = 0; at < data.size();) {
      const ssize_t n = ::send(fd_, data.data() + at, data.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return false;
      at += size_t(n);
    }
    return true;
  }
  // Everything the server sends until it closes the connection (or the
  // timeout); *closed tells which.
  std::string read_until_closed(int timeout_ms, bool* closed) {
    std::string out;
    *closed = false;
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        out.append(buf, size_t(n));
        continue;
      }
      *closed = n == 0 || errno == ECONNRESET;
      if (*closed) break;
    }
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

TEST_P(ApiTest, AnUnreadOverLargeBodyClosesItsConnection) {
  // The body (never read) starts with what would be a second request: after
  // the 413 the connection is closed, so it is never answered.
  const std::string smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  for (const std::string& expect : {std::string(), std::string("Expect: 100-continue\r\n")}) {
    RawConnection conn(port_);
    ASSERT_TRUE(conn.connected());
    ASSERT_TRUE(
        conn.send_all("POST /api/v1/settlements HTTP/1.1\r\nHost: x\r\nAuthorization: "
                      "Bearer " +
                      h1_ + "\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n" +
                      expect + "\r\n" + (expect.empty() ? smuggled : "")));
    bool closed = false;
    const std::string got = conn.read_until_closed(5000, &closed);
    EXPECT_TRUE(closed) << "the connection stays open after 413: " << got;
    EXPECT_EQ(got.rfind("HTTP/1.1 413 ", 0), 0u) << got;
    EXPECT_NE(got.find("Connection: close"), std::string::npos) << got;
    EXPECT_NE(got.find("\"code\":\"payload_too_large\""), std::string::npos) << got;
    EXPECT_EQ(got.find("HTTP/1.1 100"), std::string::npos) << "no 100 Continue for it: " << got;
    EXPECT_EQ(got.find("HTTP/1.1", 1), std::string::npos) << "one answer only: " << got;
  }
  // A new connection works.
  RawConnection next(port_);
  ASSERT_TRUE(next.connected());
  ASSERT_TRUE(next.send_all("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  bool closed = false;
  const std::string got = next.read_until_closed(5000, &closed);
  EXPECT_EQ(got.rfind("HTTP/1.1 200 ", 0), 0u) << got;
  // Keep-alive still holds for requests that were read.
  httplib::Client c = client(h1_);
  for (int i = 0; i < 3; ++i) {
    httplib::Result r = c.Get("/api/v1/plans");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
}

// ---- bodies are bounded, and keys checked, before a body is read ----

TEST_P(ApiTest, BodiesAreBoundedAndKeysCheckedBeforeTheBodyIsRead) {
  const std::string before = fingerprint();
  auto exchange = [&](const std::string& head, const std::string& body) {
    RawConnection conn(port_);
    EXPECT_TRUE(conn.connected());
    EXPECT_TRUE(conn.send_all(head + "\r\n" + body));
    bool closed = false;
    std::string got = conn.read_until_closed(5000, &closed);
    EXPECT_TRUE(closed) << "the connection stays open: " << got;
    return got;
  };
  const std::string auth = "Authorization: Bearer " + h1_ + "\r\n";
  // A chunked body is never read (httplib 0.11 would read it whole, however
  // large): 411, and the connection closed after the first chunk.
  const std::string chunk(64 << 10, ' ');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
  for (const std::string& path :
       {std::string("/api/v1/settlements"), std::string("/api/v1/roll/imports")}) {
    const std::string key = path == "/api/v1/settlements" ? h1_ : bureau_;
    std::string got =
        exchange("POST " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key +
                     "\r\nContent-Type: application/json\r\nTransfer-Encoding: "
                     "chunked\r\n",
                 size_line + chunk + "\r\n");
    EXPECT_EQ(got.rfind("HTTP/1.1 411 ", 0), 0u) << path << ": " << got.substr(0, 300);
    EXPECT_NE(got.find("\"code\":\"length_required\""), std::string::npos) << got;
  }
  // No Content-Length on a POST: httplib would read to the end of the connection.
  std::string got = exchange("POST /api/v1/settlements HTTP/1.1\r\nHost: x\r\n" + auth +
                                 "Content-Type: application/json\r\n",
                             claim("B-0", kP1, "H001"));
  EXPECT_EQ(got.rfind("HTTP/1.1 411 ", 0), 0u) << got;
  // Closed at once, not after the keep-alive timeout: the unread body is
  // never taken for a request.
  EXPECT_NE(got.find("Connection: close"), std::string::npos) << got;
  EXPECT_EQ(got.find("HTTP/1.1", 1), std::string::npos) << "one answer only: " << got;
  // A GET with a body: its body would be read as the next request.
  got = exchange("GET /api/v1/plans HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 35\r\n",
                 "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(got.rfind("HTTP/1.1 400 ", 0), 0u) << got;
  EXPECT_EQ(got.find("HTTP/1.1", 1), std::string::npos) << "one answer only: " << got;
  // No key and a large declared body: 401 at once, the body never waited for.
  got = exchange(
      "POST /api/v1/settlements HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 1000000\r\n",
      "");
  EXPECT_EQ(got.rfind("HTTP/1.1 401 ", 0), 0u) << got;
  EXPECT_NE(got.find("WWW-Authenticate: Bearer"), std::string::npos) << got;
  EXPECT_NE(got.find("\"code\":\"unauthorized\""), std::string::npos) << got;
  // The same with Expect: 100-continue: refused before the client sends it.
  got = exchange(
      "POST /api/v1/settlements HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer hb_nonsense\r\n"
      "Content-Length: 1000000\r\nExpect: 100-continue\r\n",
      "");
  EXPECT_EQ(got.rfind("HTTP/1.1 401 ", 0), 0u) << got;
  // A compressed body (httplib would inflate it without a bound): 415.
  httplib::Client gz = client(h1_);
  gz.set_compress(true);
  httplib::Result r = gz.Post("/api/v1/settlements", claim("B-1", kP1, "H001"), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415) << r->body;
  EXPECT_NE(r->body.find("\"code\":\"unsupported_encoding\""), std::string::npos) << r->body;
  EXPECT_EQ(fingerprint(), before);
  // The server is well: nothing in flight, the next requests answered.
  EXPECT_EQ(get("", "/healthz").status, 200);
  EXPECT_EQ(post(h1_, "/api/v1/settlements", claim("B-2", kP1, "H001")).status, 200);
  EXPECT_EQ(server_->metrics().in_flight(), 0);
}

TEST_P(ApiTest, AnUploadIsStreamedAndBoundedByItsOwnLimit) {
  stop_server();
  ServerConfig c = config();
  c.max_body_bytes = 128;
  c.max_upload_bytes = 64 << 10;
  start_server(c);
  const std::string persons = slurp(kSource + "/tests/api/persons.csv");
  // Above max_body_bytes, within max_upload_bytes: taken.
  ASSERT_GT(persons.size(), c.max_body_bytes);
  httplib::Result r = client(bureau_).Post("/api/v1/roll/imports?as_of=2024-01-01&dry_run=true",
                                           persons, "text/csv");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  // Above max_upload_bytes: 413 before it is read.
  std::string huge(128 << 10, 'x');
  r = client(bureau_).Post("/api/v1/roll/imports", huge, "text/csv");
  if (r) {
    EXPECT_EQ(r->status, 413) << r->body;
  }
  // A part twice, an unknown part: refused while reading, nothing imported.
  const std::string before = fingerprint();
  httplib::MultipartFormDataItems twice = {{"persons", persons, "a.csv", "text/csv"},
                                           {"persons", persons, "b.csv", "text/csv"}};
  r = client(bureau_).Post("/api/v1/roll/imports?as_of=2024-01-01", twice);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("invalid_value"), std::string::npos) << r->body;
  httplib::MultipartFormDataItems unknown = {{"people", persons, "a.csv", "text/csv"}};
  r = client(bureau_).Post("/api/v1/roll/imports?as_of=2024-01-01", unknown);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("unknown_field"), std::string::npos) << r->body;
  EXPECT_EQ(fingerprint(), before);
  EXPECT_EQ(server_->metrics().in_flight(), 0);
}

// ---- answers are JSON whatever the client sent ----

TEST_P(ApiTest, ClientTextCutInAMessageStaysUtf8) {
  // "a" and eight "é": cut at 16 bytes, inside the eighth.
  std::string infno = "a";
  for (int i = 0; i < 8; ++i) infno += "\xC3\xA9";
  Answer a =
      post(h1_, "/api/v1/transactions",
           json({{"infno", infno}, {"msgid", "U1"}, {"input", {{"data", json::object()}}}}).dump());
  EXPECT_EQ(a.status, 200) << a.raw;
  ASSERT_TRUE(a.body.is_object()) << a.raw;
  EXPECT_EQ(a.body["infcode"], -1);
  EXPECT_EQ(a.body["err_code"], "unknown_infno");
  // An unknown field named by 63 bytes and a character, in each parser.
  const std::string field = std::string(63, 'x') + "\xC3\xA9";
  Answer e = post(h1_, "/api/v1/transactions",
                  json({{"infno", "1101"},
                        {"msgid", "U2"},
                        {"input", {{"data", {{"psn_no", kP1}, {field, "1"}}}}}})
                      .dump());
  EXPECT_EQ(e.body["err_code"], "unknown_field") << e.raw;
  json c = json::parse(claim("U-3", kP1, "H001"));
  c[field] = 1;
  Answer r = post(h1_, "/api/v1/settlements", c.dump());
  EXPECT_EQ(r.status, 400) << r.raw;
  EXPECT_EQ(r.body["code"], "unknown_field");
  EXPECT_EQ(server_->metrics().in_flight(), 0) << "every request counted out";
}

// ---- methods, keys per address, the pool, stopping ----

TEST_P(ApiTest, AMethodARouteDoesNotTakeIs405WithAllow) {
  httplib::Client c = client(h1_);
  httplib::Result r = c.Delete("/api/v1/settlements/SOME-ID");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405) << r->body;
  EXPECT_EQ(r->get_header_value("Allow"), "GET");
  EXPECT_NE(r->body.find("method_not_allowed"), std::string::npos);
  r = c.Get("/api/v1/settlements/SOME-ID/reversal");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "POST");
  r = c.Get("/api/v1/settlements");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "POST");
  r = c.Delete("/api/v1/nothing-here");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

TEST_P(ApiTest, BadKeysFromOneAddressAreLimitedBeforeAnyLookup) {
  stop_server();
  ServerConfig c = config();
  c.key_cache_ms = 60'000;
  c.auth_failure_rate_per_address = 0.001;
  c.auth_failure_burst_per_address = 3;
  start_server(c);
  ASSERT_EQ(get(h1_, "/api/v1/plans").status, 200);  // cached
  int unauthorized = 0, limited = 0;
  for (int i = 0; i < 6; ++i) {
    char id[17];
    std::snprintf(id, sizeof id, "%016x", i + 1);
    httplib::Result r =
        client("hb_" + std::string(id) + "_" + std::string(64, 'a')).Get("/api/v1/plans");
    ASSERT_TRUE(r);
    if (r->status == 401) ++unauthorized;
    if (r->status == 429) {
      ++limited;
      EXPECT_FALSE(r->get_header_value("Retry-After").empty());
      EXPECT_NE(r->body.find("rate_limited"), std::string::npos);
    }
  }
  EXPECT_EQ(unauthorized, 3);
  EXPECT_EQ(limited, 3);
  // A key the cache holds still works from that address; one it would have
  // to look up waits until the address has tokens again.
  EXPECT_EQ(get(h1_, "/api/v1/plans").status, 200);
  EXPECT_EQ(get(h2_, "/api/v1/plans").status, 429);
}

TEST_P(ApiTest, ABusyPoolAnswersUnavailableInsteadOfWaiting) {
  Result<std::unique_ptr<DbPool>> pool = DbPool::open(url_, 1, std::chrono::milliseconds(100));
  ASSERT_TRUE(pool.ok()) << pool.status().to_string();
  {
    Result<DbPool::Lease> held = (*pool)->acquire();
    ASSERT_TRUE(held.ok());
    const auto t0 = std::chrono::steady_clock::now();
    Result<DbPool::Lease> next = (*pool)->acquire();
    EXPECT_EQ(next.status().code(), Code::kUnavailable);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(100));
    EXPECT_EQ(status_error(next.status()).http, 503);
  }
  EXPECT_TRUE((*pool)->acquire().ok()) << "given back";
}

TEST_P(ApiTest, AStopBeforeTheListenerRunsIsKept) {
  stop_server();
  Result<std::unique_ptr<ApiServer>> s = ApiServer::create(config());
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  ASSERT_TRUE((*s)->bind().ok());
  (*s)->stop();  // a SIGTERM before run()
  std::atomic<bool> returned{false};
  Status run;
  std::thread t([&] {
    run = (*s)->run();
    returned = true;
  });
  for (int i = 0; i < 500 && !returned; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(returned) << "run() did not see the stop";
  t.join();
  EXPECT_TRUE(run.ok()) << run.to_string();
}

// ---- pieces without a server ----

TEST(ApiConfig, FileAndChecks) {
  ServerConfig c;
  ASSERT_TRUE(load_server_config_from_string(R"(
[server]
listen = "0.0.0.0"
port = 9090
threads = 96
max_body_bytes = 65536
rate_per_key = 250.5
burst_per_key = 100
access_log = false
[store]
url = "sqlite:x.db"
readers = 6
checkpoint_bytes = 1048576
wal_restart_bytes = 1073741824
[[plans]]
file = "plans/a.toml"
[[plans]]
file = "/abs/b.toml"
)",
                                             "/etc/huibao/server.toml", &c)
                  .ok());
  EXPECT_EQ(c.listen, "0.0.0.0");
  EXPECT_EQ(c.port, 9090);
  EXPECT_EQ(c.threads, 96);
  EXPECT_EQ(c.max_body_bytes, 65536u);
  EXPECT_DOUBLE_EQ(c.rate_per_key, 250.5);
  EXPECT_FALSE(c.access_log);
  EXPECT_EQ(c.store_url, "sqlite:x.db");
  EXPECT_EQ(c.readers, 6);
  EXPECT_EQ(c.checkpoint_bytes, int64_t(1) << 20);
  EXPECT_EQ(c.wal_restart_bytes, int64_t(1) << 30);
  ASSERT_EQ(c.plan_files.size(), 2u);
  EXPECT_EQ(c.plan_files[0], "/etc/huibao/plans/a.toml") << "relative to the file";
  EXPECT_EQ(c.plan_files[1], "/abs/b.toml");
  EXPECT_TRUE(c.validate().ok());

  struct Bad {
    const char* text;
    const char* message;
  };
  for (const Bad& b : {Bad{"[server]\nprot = 1\n", "s.toml:2: unknown key [server].prot"},
                       Bad{"[server]\nport = 70000\n", "s.toml:2: port must be an integer"},
                       Bad{"[server]\nthreads = \"8\"\n", "s.toml:2: threads must be"},
                       Bad{"[store]\nwal_restart_bytes = 4096\n",
                           "s.toml:2: wal_restart_bytes must be an integer from 1048576"},
                       Bad{"[store]\ncheckpoint_bytes = 0\n", "s.toml:2: checkpoint_bytes must be"},
                       Bad{"[db]\nurl = \"x\"\n", "s.toml:1: unknown key or table 'db'"},
                       Bad{"[server\n", "s.toml:1:"}}) {
    ServerConfig x;
    Status s = load_server_config_from_string(b.text, "s.toml", &x);
    EXPECT_EQ(s.code(), Code::kPlanInvalid) << b.text;
    EXPECT_EQ(s.message().rfind(b.message, 0), 0u) << s.message();
  }
  ServerConfig none;
  EXPECT_FALSE(none.validate().ok()) << "no plan to serve";
}

TEST(ApiRateLimiter, TokenBucket) {
  RateLimiter l(10, 2);  // 10 a second, bucket of 2
  const auto t0 = std::chrono::steady_clock::now();
  double retry = 0;
  EXPECT_TRUE(l.admit_at("k", t0, &retry));
  EXPECT_TRUE(l.admit_at("k", t0, &retry));
  EXPECT_FALSE(l.admit_at("k", t0, &retry));
  EXPECT_NEAR(retry, 0.1, 1e-9);
  EXPECT_TRUE(l.admit_at("other", t0, &retry));
  EXPECT_TRUE(l.admit_at("k", t0 + std::chrono::milliseconds(100), &retry));
  EXPECT_FALSE(l.admit_at("k", t0 + std::chrono::milliseconds(100), &retry));
  EXPECT_TRUE(l.admit_at("k", t0 + std::chrono::seconds(10), &retry));
  EXPECT_TRUE(l.admit_at("k", t0 + std::chrono::seconds(10), &retry));
  EXPECT_FALSE(l.admit_at("k", t0 + std::chrono::seconds(10), &retry)) << "never above the burst";
}

TEST(ApiKeys, TokensParseAndHashesCompare) {
  std::string_view id;
  SecretHash secret{};
  const std::string good = "hb_0123456789abcdef_" + std::string(64, 'a');
  EXPECT_TRUE(parse_token(good, &id, &secret));
  EXPECT_EQ(id, "0123456789abcdef");
  EXPECT_FALSE(parse_token("hb_0123456789ABCDEF_" + std::string(64, 'a'), &id, &secret));
  EXPECT_FALSE(parse_token("hb_0123456789abcdef_" + std::string(63, 'a'), &id, &secret));
  EXPECT_FALSE(parse_token("xx_0123456789abcdef_" + std::string(64, 'a'), &id, &secret));
  EXPECT_FALSE(parse_token("hb_0123456789abcdefX" + std::string(64, 'a'), &id, &secret));
  EXPECT_FALSE(parse_token("", &id, &secret));
  SecretHash a{}, b{};
  b[31] = 1;
  EXPECT_NE(hash_secret(a), hash_secret(b));
}

TEST(ApiKeys, StrangersIdsDoNotPushOutARealKey) {
  const SecretHash secret{};
  const std::string good_id = "00000000000000aa";
  const std::string good = "hb_" + good_id + "_" + std::string(64, '0');
  std::map<std::string, int> loads;
  KeyCache cache(
      [&](std::string_view id) -> Result<std::optional<StoredKey>> {
        ++loads[std::string(id)];
        if (id != good_id) return std::optional<StoredKey>();
        StoredKey k;
        k.secret_hash = hash_secret(secret);
        k.org_code = "H001";
        k.role = Role::kHospital;
        return std::optional<StoredKey>(k);
      },
      std::chrono::minutes(10));
  Principal who;
  ASSERT_EQ(*cache.authenticate(good, &who), KeyCache::Verdict::kOk);
  for (size_t i = 0; i < KeyCache::kEntriesMax + 100; ++i) {
    char id[17];
    std::snprintf(id, sizeof id, "%016zx", i + 0x1000);
    ASSERT_EQ(*cache.authenticate("hb_" + std::string(id) + "_" + std::string(64, '0'), &who),
              KeyCache::Verdict::kUnknown);
  }
  const auto [known, unknown] = cache.size();
  EXPECT_EQ(known, 1u);
  EXPECT_LE(unknown, KeyCache::kEntriesMax) << "bounded";
  EXPECT_EQ(*cache.authenticate(good, &who), KeyCache::Verdict::kOk);
  EXPECT_EQ(loads[good_id], 1) << "the real key stayed cached";
  // Without leave to load, a key not cached is not looked up.
  EXPECT_EQ(*cache.authenticate("hb_00000000000000bb_" + std::string(64, '0'), &who, false),
            KeyCache::Verdict::kNotLoaded);
  EXPECT_EQ(loads.count("00000000000000bb"), 0u);
}

TEST(ApiRateLimiter, PeekingTakesNothingAndBucketsAreBounded) {
  RateLimiter l(1, 2, 3);
  const auto t0 = std::chrono::steady_clock::now();
  double retry = 0;
  EXPECT_TRUE(l.peek_at("a", t0, &retry));
  EXPECT_EQ(l.buckets(), 0u) << "a peek makes no bucket";
  EXPECT_TRUE(l.admit_at("a", t0, &retry));
  EXPECT_TRUE(l.admit_at("a", t0, &retry));
  EXPECT_FALSE(l.peek_at("a", t0, &retry));
  for (const char* k : {"b", "c", "d", "e"}) EXPECT_TRUE(l.admit_at(k, t0, &retry));
  EXPECT_LE(l.buckets(), 3u);
  EXPECT_FALSE(l.peek_at("a", t0, &retry)) << "the emptied bucket is kept over fuller ones";
}

TEST(ApiMetrics, EveryOutcomeHasItsSlot) {
  Metrics m({"r"});
  m.settlement(Code::kOk, false);
  m.settlement(Code::kOk, true);
  m.settlement(Code::kNotFound, false);
  m.settlement(Code::kUnavailable, false);
  EXPECT_EQ(m.settlements("settled"), 1);
  EXPECT_EQ(m.settlements("replayed"), 1) << "not_found is not a replay";
  EXPECT_EQ(m.settlements("not_found"), 1);
  EXPECT_EQ(m.settlements("unavailable"), 1);
  const std::string text = m.render();
  EXPECT_NE(text.find("huibao_settlements_total{outcome=\"not_found\"} 1"), std::string::npos);
  EXPECT_NE(text.find("huibao_settlements_total{outcome=\"unavailable\"} 1"), std::string::npos);
  EXPECT_NE(text.find("huibao_settlements_total{outcome=\"replayed\"} 1"), std::string::npos);
}

TEST(ApiErrors, MessagesCutBetweenCharacters) {
  EXPECT_EQ(clip_utf8("abc", 16), "abc");
  EXPECT_EQ(clip_utf8("a\xC3\xA9\xC3\xA9", 4), "a\xC3\xA9");
  EXPECT_EQ(clip_utf8("a\xC3\xA9\xC3\xA9", 3), "a\xC3\xA9");
  EXPECT_EQ(clip_utf8("a\xE4\xB8\xAD", 3), "a");
  EXPECT_EQ(clip_utf8("\xF0\x9F\x98\x80x", 2), "");
}

TEST(ApiPermissions, TheTableAsDocumented) {
  // The cells docs/api.md states in words.
  EXPECT_EQ(permission(Role::kBureau, Action::kSettle), Scope::kDeny) << "the bureau never settles";
  EXPECT_EQ(permission(Role::kHospital, Action::kSettle), Scope::kOwn);
  EXPECT_EQ(permission(Role::kHospital, Action::kReverse), Scope::kOwn);
  EXPECT_EQ(permission(Role::kPharmacy, Action::kSettlementRead), Scope::kOwn);
  EXPECT_EQ(permission(Role::kServicePoint, Action::kAccidentSubmit), Scope::kAll);
  EXPECT_EQ(permission(Role::kBureau, Action::kRollImport), Scope::kAll);
  for (Role r : {Role::kInsurer, Role::kHospital, Role::kPharmacy, Role::kServicePoint})
    EXPECT_EQ(permission(r, Action::kRollImport), Scope::kDeny);
  EXPECT_FALSE(masks_personal_data(Role::kBureau));
  EXPECT_FALSE(masks_personal_data(Role::kServicePoint));
  EXPECT_TRUE(masks_personal_data(Role::kHospital));
  EXPECT_TRUE(masks_personal_data(Role::kInsurer));
  EXPECT_TRUE(med_type_allowed(Role::kPharmacy, 41));
  EXPECT_FALSE(med_type_allowed(Role::kPharmacy, 21));
  EXPECT_TRUE(med_type_allowed(Role::kHospital, 21));
}

}  // namespace
}  // namespace huibao::server

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new huibao::pgtest::PgEnvironment("/postgres"));
  return RUN_ALL_TESTS();
}
