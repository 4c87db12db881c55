// Every stable error code is produced by the input that should produce it,
// through the same entry points a user has (plan load, roll load, batch).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "batch/batch.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace huibao {
namespace {

constexpr const char* kPerson = "370102198001011237";
const std::string kPersons =
    "psn_no,psn_name,gend,brdy,admdvs,insutype,categories,preexisting\n"
    "370102198001011237,A,1,,370102,390,poverty,0\n";

std::string claim(const std::string& overrides) {
  json c = json::parse(
      R"({"setl_id":"S1","psn_no":"370102198001011237","med_type":21,"hosp_lv":2,)"
      R"("fixmedins_code":"H1","begndate":"2020-03-01","enddate":"2020-03-05","medfee_sumamt":100,)"
      R"("fulamt_ownpay_amt":0,"overlmt_selfpay":0,"preselfpay_amt":0,"inscp_scp_amt":100})");
  json o = json::parse(overrides);
  for (auto& [k, v] : o.items()) {
    if (v.is_string() && v.get<std::string>() == "<drop>") {
      c.erase(k);
    } else {
      c[k] = v;
    }
  }
  return c.dump();
}

class Batch {
 public:
  Batch() {
    Result<Plan> p = load_plan(std::string(HUIBAO_SOURCE_DIR) + "/plans/shandong-2020-fupin.toml");
    EXPECT_TRUE(p.ok());
    plan_ = std::move(*p);
    EXPECT_TRUE(roll_.load_persons_csv(kPersons, "persons").ok());
    dir_ = fs::temp_directory_path() / ("huibao-codes-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  ~Batch() { fs::remove_all(dir_); }

  std::vector<json> run(const std::vector<std::string>& lines) {
    {
      std::ofstream o(dir_ / "c.jsonl", std::ios::binary);
      for (const auto& l : lines) o << l << "\n";
    }
    BatchOptions o;
    o.claims_path = (dir_ / "c.jsonl").string();
    o.out_path = (dir_ / "r.jsonl").string();
    BatchSummary s;
    Status st = run_settle_batch(plan_, roll_, o, &s);
    EXPECT_TRUE(st.ok()) << st.to_string();
    std::ifstream in(o.out_path);
    std::vector<json> out;
    for (std::string l; std::getline(in, l);) out.push_back(json::parse(l));
    return out;
  }

  std::string code_of(const std::string& line) {
    std::vector<json> r = run({line});
    EXPECT_EQ(r.size(), 1u);
    if (r.empty()) return "";
    return r[0]["status"] == "settled" ? "settled" : r[0]["error"].get<std::string>();
  }

 private:
  Plan plan_;
  Roll roll_;
  fs::path dir_;
};

TEST(ErrorCodes, EachRejectionFromItsInput) {
  Batch b;
  std::set<std::string> seen;
  auto expect = [&](const std::string& line, const std::string& code) {
    EXPECT_EQ(b.code_of(line), code) << line;
    seen.insert(code);
  };
  expect(claim("{}"), "settled");
  expect("not json", "malformed_record");
  expect("[1,2]", "malformed_record");
  expect(claim(R"({"setl_id":""})"), "malformed_record");
  expect(claim(R"({"setl_id":7})"), "malformed_record");
  expect(claim(R"({"kind":"dental"})"), "malformed_record");
  expect(claim(R"({"begndate":"<drop>"})"), "malformed_record");
  expect(claim(R"({"inscp_scp_amt":null})"), "malformed_record");
  expect(claim(R"({"hosp_lv":4})"), "malformed_record");
  expect(claim(R"({"given":{"nope_pay":1}})"), "malformed_record");
  expect(claim(R"({"items":[{"code":"X"}]})"), "malformed_record");
  expect(claim(R"({"medfee_sumamt":"100.005"})"), "malformed_record");
  expect(
      R"({"setl_id":"S1","psn_no":"370102198001011237","med_type":21,"hosp_lv":2,"fixmedins_code":"H1","begndate":"2020-03-01","enddate":"2020-03-05","medfee_sumamt":100.005,"fulamt_ownpay_amt":0,"overlmt_selfpay":0,"preselfpay_amt":0,"inscp_scp_amt":100})",
      "malformed_record");
  expect(claim(R"({"medfee_sumamt":"100000000000000.00"})"), "malformed_record");
  expect(claim(R"({"psn_no":"370102198001011238"})"), "invalid_psn_no");
  expect(claim(R"({"psn_no":"11010519491231002X"})"), "unknown_person");
  expect(claim(R"({"begndate":"2020-02-30"})"), "invalid_dates");
  expect(claim(R"({"enddate":"2020-02-29"})"), "invalid_dates");
  expect(claim(R"({"begndate":"2021-01-01","enddate":"2021-01-02"})"), "outside_plan_year");
  expect(claim(R"({"medfee_sumamt":-100,"inscp_scp_amt":-100})"), "negative_amount");
  expect(claim(R"({"medfee_sumamt":101})"), "amounts_inconsistent");
  expect(claim(R"({"items":[{"code":"C1","chrgitm_lv":"03","amount":1}]})"),
         "amounts_inconsistent");
  expect(claim(R"({"given":{"hifp_pay":100.01}})"), "given_exceeds_base");
  std::vector<json> dup = b.run({claim("{}"), claim("{}")});
  ASSERT_EQ(dup.size(), 2u);
  EXPECT_EQ(dup[0]["status"], "settled");
  EXPECT_EQ(dup[1]["error"], "duplicate_setl_id");
  seen.insert("duplicate_setl_id");
  for (int c = 1; c <= kClaimRejectionCodes; ++c) {
    EXPECT_TRUE(seen.count(std::string(code_name(Code(c)))))
        << code_name(Code(c)) << " never produced";
  }
}

TEST(ErrorCodes, FirstApplicableCheckWins) {
  Batch b;
  // Bad id and bad dates and negative: the id is checked first.
  EXPECT_EQ(
      b.code_of(claim(R"({"psn_no":"370102198001011238","begndate":"x","medfee_sumamt":-1})")),
      "invalid_psn_no");
  EXPECT_EQ(b.code_of(claim(R"({"begndate":"2021-13-01","medfee_sumamt":-1})")), "invalid_dates");
  EXPECT_EQ(b.code_of(claim(R"({"begndate":"2019-12-31","medfee_sumamt":-1})")),
            "outside_plan_year");
  EXPECT_EQ(b.code_of(claim(R"({"medfee_sumamt":-1})")), "negative_amount");
  // A malformed record does not reserve its setl_id; the next valid one settles.
  std::vector<json> r =
      b.run({claim(R"({"hosp_lv":9})"), claim("{}"), claim(R"({"medfee_sumamt":7})")});
  EXPECT_EQ(r[0]["error"], "malformed_record");
  EXPECT_EQ(r[1]["status"], "settled");
  EXPECT_EQ(r[2]["error"], "amounts_inconsistent");
}

// Regressions from review: each once crashed, wrapped or leaked between records.
TEST(ErrorCodes, HostileRecordsAreRejectedNotFatal) {
  Batch b;
  std::string base = claim("{}");
  std::string nul = base;
  nul.replace(nul.find("\"H1\""), 4, "nul");
  EXPECT_EQ(b.code_of(nul), "malformed_record");
  // 2,000 items of the N16,2 maximum overflow int64 when summed: still inconsistent.
  json big = json::parse(claim(R"({"fulamt_ownpay_amt":100,"medfee_sumamt":200})"));
  for (int i = 0; i < 2000; ++i)
    big["items"].push_back({{"code", "C"}, {"chrgitm_lv", "03"}, {"amount", "99999999999999.99"}});
  EXPECT_EQ(b.code_of(big.dump()), "amounts_inconsistent");
  // chrgitm_lv "3" counts like "03".
  EXPECT_EQ(b.code_of(claim(R"({"items":[{"code":"C1","chrgitm_lv":"3","amount":1}]})")),
            "amounts_inconsistent");
}

TEST(ErrorCodes, EchoRules) {
  Batch b;
  std::vector<json> r =
      b.run({"{oops", claim(R"({"setl_id":"","hosp_lv":0})"), claim(R"({"psn_no":5})"), "", "   "});
  ASSERT_EQ(r.size(), 3u) << "blank lines produce no result";
  EXPECT_TRUE(r[0]["setl_id"].is_null());
  EXPECT_TRUE(r[0]["psn_no"].is_null());
  EXPECT_TRUE(r[1]["setl_id"].is_null());
  EXPECT_EQ(r[1]["psn_no"], kPerson);
  EXPECT_EQ(r[2]["setl_id"], "S1");
  EXPECT_TRUE(r[2]["psn_no"].is_null());
}

TEST(ErrorCodes, LoadErrors) {
  Result<Plan> missing = load_plan("/nonexistent/plan.toml");
  EXPECT_EQ(missing.status().code(), Code::kIoError);
  Result<Plan> bad = load_plan_from_string("[plan]\nid = 1\n", "x.toml", ".");
  EXPECT_EQ(bad.status().code(), Code::kPlanInvalid);
  Roll roll;
  EXPECT_EQ(roll.load_persons_csv("psn_no\n", "p.csv").code(), Code::kRollInvalid);
  Result<Plan> p = load_plan(std::string(HUIBAO_SOURCE_DIR) + "/plans/shandong-2020-fupin.toml");
  ASSERT_TRUE(p.ok());
  BatchOptions o;
  o.claims_path = "/nonexistent/claims.jsonl";
  o.out_path = "/tmp/never.jsonl";
  BatchSummary s;
  EXPECT_EQ(run_settle_batch(*p, roll, o, &s).code(), Code::kIoError);
  // Codes are stable data: names round-trip.
  for (int c = 0; c <= int(Code::kLimitExceeded); ++c) {
    Code back;
    ASSERT_TRUE(code_from_name(code_name(Code(c)), &back));
    EXPECT_EQ(back, Code(c));
  }
}

}  // namespace
}  // namespace huibao
