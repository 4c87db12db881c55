// Books and reports (src/books) on both engines, through the real services:
// enrolment (premiums by payer), persisted settlement, reversal (an
// adjustment), `books post`, explicit entries, the year end and the reports.
//
// - A hand-checked small city (plan B, two cities, six persons, five claims,
//   one reversal): every figure of the enrolment, settlement, zero self-pay,
//   hospital, loss-ratio and year-end output is worked out in the comments.
// - Plan A: premium transfers between the two products, a carry-over from
//   2019, and a year end that carries shortfalls into 2021 and shares losses
//   above the ceiling with the government.
// - After every scenario the invariants hold: every entry balances in every
//   book (in code and in SQL), the books' claims per layer equal the
//   settlements' insurer layers, the books' premiums equal the premiums rows
//   and the enrolments' payer splits, posting again adds nothing, and the
//   reconcile report says ok.
#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "books/accounts.h"
#include "books/ops.h"
#include "books/population.h"
#include "books/post.h"
#include "books/region.h"
#include "books/report_model.h"
#include "books/reports.h"
#include "books/rules.h"
#include "core/resident_id.h"
#include "service/enrol_service.h"
#include "service/reverse_service.h"
#include "service/settle_service.h"
#include "store_fixture.h"
#include "test_files.h"

namespace huibao {
namespace {

using store::Db;
using store::Engine;
using store::query_int;
using store::Rows;
using store::Tx;
using namespace testing_files;
using namespace books;

Fen yuan(std::string_view s) {
  Fen f = 0;
  EXPECT_EQ(parse_decimal_string_fen(s, &f), AmountSyntax::kOk) << s;
  return f;
}

Date day(std::string_view s) {
  Date d;
  EXPECT_TRUE(parse_date(s, &d)) << s;
  return d;
}

std::string psn(std::string_view area, std::string_view birth, int seq) {
  std::string seq3 = std::to_string(seq % 1000);
  seq3.insert(0, 3 - seq3.size(), '0');
  const std::string first17 = std::string(area) + std::string(birth) + seq3;
  return first17 + resident_id_check_char(first17);
}

// The hand-checked city: Jinan (370100) and Qingdao (370200).
const std::string kA = psn("370102", "19800101", 1);  // resident, enrols paying cash
const std::string kB = psn("370102", "19750202", 2);  // employee, pays from his account
const std::string kF = psn("370102", "19900303", 3);  // resident, not enrolled
const std::string kC = psn("370203", "19600404", 4);  // tekun: subsidy pays it all
const std::string kD = psn("370203", "19650505", 5);  // dibao: half subsidy, half cash
const std::string kE = psn("370203", "19700606", 6);  // resident, not enrolled
// Plan A's poverty persons.
const std::string kP1 = psn("370102", "19500707", 7);
const std::string kP2 = psn("370203", "19550808", 8);

// A medical claim line (amounts in yuan).
std::string claim(std::string_view id, std::string_view who, int lv, std::string_view hospital,
                  std::string_view begin, std::string_view end, std::string_view medfee,
                  std::string_view fulamt, std::string_view inscp, std::string_view extra = "") {
  return "{\"setl_id\":\"" + std::string(id) + "\",\"psn_no\":\"" + std::string(who) +
         "\",\"med_type\":21,\"hosp_lv\":" + std::to_string(lv) + ",\"fixmedins_code\":\"" +
         std::string(hospital) + "\",\"begndate\":\"" + std::string(begin) + "\",\"enddate\":\"" +
         std::string(end) + "\",\"medfee_sumamt\":\"" + std::string(medfee) +
         "\",\"fulamt_ownpay_amt\":\"" + std::string(fulamt) +
         "\",\"overlmt_selfpay\":\"0.00\",\"preselfpay_amt\":\"0.00\",\"inscp_scp_amt\":\"" +
         std::string(inscp) + "\"" + std::string(extra) + "}\n";
}

const Json* table(const Json& report, std::string_view name) {
  for (const Json& t : report["tables"]) {
    if (t["name"] == name) return &t;
  }
  ADD_FAILURE() << "no table " << name;
  return nullptr;
}

// The rows of a table whose fields match every (key, value) given.
std::vector<Json> rows(const Json& report, std::string_view name,
                       std::map<std::string, Json> where = {}) {
  std::vector<Json> out;
  const Json* t = table(report, name);
  if (t == nullptr) return out;
  for (const Json& r : (*t)["rows"]) {
    bool ok = true;
    for (const auto& [k, v] : where) ok = ok && r.contains(k) && r[k] == v;
    if (ok) out.push_back(r);
  }
  return out;
}

Json one(const Json& report, std::string_view name, std::map<std::string, Json> where) {
  std::vector<Json> r = rows(report, name, where);
  EXPECT_EQ(r.size(), 1u) << name << " " << Json(where).dump();
  return r.empty() ? Json::object() : r[0];
}

class BooksTest : public store::EngineTest {
 protected:
  void SetUp() override {
    store::EngineTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    plan_a_text_ = slurp(std::string(HUIBAO_SOURCE_DIR) + "/plans/shandong-2020-fupin.toml");
    plan_b_text_ = slurp(std::string(HUIBAO_SOURCE_DIR) + "/plans/shandong-2024-huiminbao.toml");
    plan_a_ = plan_of(plan_a_text_);
    plan_b_ = plan_of(plan_b_text_);
    db_ = open();
    ASSERT_NE(db_, nullptr);
  }

  Plan plan_of(const std::string& text) {
    Result<Plan> p =
        load_plan_from_string(text, "test.toml", std::string(HUIBAO_SOURCE_DIR) + "/plans");
    EXPECT_TRUE(p.ok()) << p.status().to_string();
    return p.ok() ? std::move(*p) : Plan{};
  }

  void add_person(Rows* r, const std::string& id, std::string_view admdvs, int insutype) {
    Date born;
    ASSERT_TRUE(resident_id_birth_date(id, &born));
    r->add_text(id);
    r->add_text("某某");
    r->add_text("1");
    r->add_text(date_to_string(born));
    r->add_text(admdvs);
    r->add_text(std::to_string(insutype));
    r->add_int64(0);
    r->add_text("active");
    r->add_int64(1);
    r->add_text("now");
  }

  // The roll, put into the store plainly (the roll service has its own tests).
  void store_people(bool plan_a) {
    static constexpr std::string_view kPersons[] = {"psn_no", "psn_name",  "gend",        "brdy",
                                                    "admdvs", "insutype",  "preexisting", "status",
                                                    "seq",    "updated_at"};
    static constexpr std::string_view kCats[] = {"psn_no", "category", "from_date", "recorded_at"};
    static constexpr std::string_view kAcc[] = {"psn_no", "balance_fen", "updated_at"};
    Rows persons(10), cats(4), acc(3);
    auto cat = [&](const std::string& id, std::string_view c) {
      cats.add_text(id);
      cats.add_text(c);
      cats.add_text("1900-01-01");
      cats.add_text("now");
    };
    if (plan_a) {
      add_person(&persons, kP1, "370102", 390);
      add_person(&persons, kP2, "370203", 390);
      cat(kP1, "poverty");
      cat(kP2, "poverty");
    } else {
      add_person(&persons, kA, "370102", 390);
      add_person(&persons, kB, "370102", 310);
      add_person(&persons, kF, "370102", 390);
      add_person(&persons, kC, "370203", 390);
      add_person(&persons, kD, "370203", 390);
      add_person(&persons, kE, "370203", 390);
      cat(kC, "tekun");
      cat(kD, "dibao");
      acc.add_text(kB);
      acc.add_int64(500'00);
      acc.add_text("now");
    }
    Tx tx(*db_);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(db_->insert_rows({"persons", kPersons, ""}, persons).ok());
    ASSERT_TRUE(db_->insert_rows({"person_categories", kCats, ""}, cats).ok());
    ASSERT_TRUE(db_->insert_rows({"accounts", kAcc, ""}, acc).ok());
    ASSERT_TRUE(tx.commit().ok());
  }

  void enrol(const std::string& who, std::vector<PayerShare> payers) {
    EnrolRequest r;
    r.psn_no = who;
    r.paid_on = day("2024-01-01");
    r.payers = std::move(payers);
    r.actor = "test";
    EnrolReceipt receipt;
    ASSERT_TRUE(enrol_voluntary(*db_, plan_b_, plan_b_text_, r, &receipt).ok());
    ASSERT_EQ(receipt.refusal, huibao::Refusal::kNone) << receipt.message;
  }

  // Settles the lines into the store; the results by setl_id.
  std::map<std::string, Json> settle(const Plan& plan, const std::string& text,
                                     const std::string& lines) {
    const std::filesystem::path claims = dir_ / ("claims" + std::to_string(++files_) + ".jsonl");
    spit(claims, lines);
    StoreSettleOptions o;
    o.batch.claims_path = claims.string();
    o.batch.out_path = (dir_ / "results.jsonl").string();
    o.batch.explain = false;
    o.batch.threads = 1;
    StoreSettleSummary sum;
    Status s = settle_into_store(*db_, plan, text, o, &sum);
    EXPECT_TRUE(s.ok()) << s.to_string();
    std::map<std::string, Json> out;
    for (const std::string& l : lines_of(slurp(o.batch.out_path))) {
      Json j = Json::parse(l);
      EXPECT_EQ(j["status"], "settled") << l;
      out[j["setl_id"].get<std::string>()] = j;
    }
    return out;
  }

  PostReport post() {
    PostReport r;
    Status s = post_books(*db_, {"test"}, &r);
    EXPECT_TRUE(s.ok()) << s.to_string();
    return r;
  }

  Json report(ReportKind kind, ReportQuery q = {}) {
    Result<std::string> r = report_json(*db_, kind, q);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? Json::parse(*r) : Json::object();
  }

  Fen balance(std::string_view product, std::string_view region, int year,
              std::string_view account) {
    std::vector<BalanceRow> rows;
    EXPECT_TRUE(book_balances(*db_, {year, std::string(product), std::string(region)}, &rows).ok());
    for (const BalanceRow& r : rows) {
      if (r.account == account) return r.balance();
    }
    return 0;
  }

  // What must hold after every scenario.
  void expect_invariants(const std::vector<std::string>& insurer_layers) {
    // Every entry balances in every book: the code's check and plain SQL.
    BooksCheck check;
    ASSERT_TRUE(check_books(*db_, &check).ok());
    EXPECT_TRUE(check.ok()) << check.to_text();
    EXPECT_EQ(query_int(*db_,
                        "SELECT count(*) FROM (SELECT entry_id, product, region, year FROM "
                        "journal_lines GROUP BY entry_id, product, region, year HAVING "
                        "SUM(debit_fen) <> SUM(credit_fen)) x"),
              0);
    EXPECT_EQ(query_int(*db_,
                        "SELECT count(*) FROM journal_entries e WHERE NOT EXISTS (SELECT 1 FROM "
                        "journal_lines l WHERE l.entry_id = e.id)"),
              0);
    // Book totals equal the settlements' insurer layers, layer by layer.
    for (const std::string& layer : insurer_layers) {
      EXPECT_EQ(query_int(*db_,
                          "SELECT COALESCE(SUM(debit_fen - credit_fen), 0) FROM "
                          "journal_lines WHERE account = 'claims_expense:" +
                              layer + "'"),
                query_int(*db_,
                          "SELECT COALESCE(SUM(amount_fen), 0) FROM settlement_layers "
                          "WHERE layer = '" +
                              layer + "'"))
          << layer;
    }
    // Premiums equal the premiums rows and the enrolments' payer splits.
    for (int k = 0; k < kPayerKindCount; ++k) {
      const std::string kind(payer_kind_name(PayerKind(k)));
      const int64_t credits =
          query_int(*db_,
                    "SELECT COALESCE(SUM(credit_fen), 0) FROM journal_lines WHERE account "
                    "= 'premium_income:" +
                        kind + "'");
      const int64_t debits =
          query_int(*db_,
                    "SELECT COALESCE(SUM(debit_fen), 0) FROM journal_lines WHERE account "
                    "= 'premium_income:" +
                        kind + "'");
      EXPECT_EQ(credits, query_int(*db_,
                                   "SELECT COALESCE(SUM(amount_fen), 0) FROM premiums "
                                   "WHERE kind = 'charge' AND payer_kind = '" +
                                       kind + "'"))
          << kind;
      EXPECT_EQ(debits, query_int(*db_,
                                  "SELECT COALESCE(SUM(amount_fen), 0) FROM premiums "
                                  "WHERE kind = 'refund' AND payer_kind = '" +
                                      kind + "'"))
          << kind;
      EXPECT_EQ(credits, query_int(*db_,
                                   "SELECT COALESCE(SUM(amount_fen), 0) FROM "
                                   "enrollment_payers WHERE payer_kind = '" +
                                       kind + "'"))
          << kind;
    }
    // Every settlement is taken in once; posting again adds nothing.
    EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM settlements"),
              query_int(*db_, "SELECT count(*) FROM claim_facts"));
    const int64_t entries = query_int(*db_, "SELECT count(*) FROM journal_entries");
    const PostReport again = post();
    EXPECT_EQ(again.premiums + again.settlements, 0);
    EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM journal_entries"), entries);
    // The reports reconcile, for every year that has books.
    for (int year = 2019; year <= 2025; ++year) {
      if (query_int(*db_,
                    "SELECT count(*) FROM plan_versions WHERE year = " + std::to_string(year)) == 0)
        continue;
      ReportQuery rq;
      rq.year = year;
      const Json r = report(ReportKind::kReconcile, rq);
      EXPECT_EQ(r["status"], "ok") << r.dump(1);
      EXPECT_TRUE(r["warnings"].empty()) << r["warnings"].dump();
    }
  }

  // The city of the plan-B tests: enrolments, five claims, one reversal.
  void build_city() {
    store_people(false);
    enrol(kA, {{PayerKind::kCash, "", 99'00}});
    enrol(kB, {{PayerKind::kPersonalAccount, kB, 99'00}});
    enrol(kC, {});                               // tekun: the subsidy pays 99.00
    enrol(kD, {{PayerKind::kCash, "", 49'50}});  // dibao: subsidy 49.50
    std::string lines;
    lines +=
        claim("S5", kA, 1, "H370101", "2024-02-01", "2024-02-05", "20000.00", "0.00", "20000.00");
    lines += claim("S1", kA, 1, "H370101", "2024-03-01", "2024-03-20", "210000.00", "10000.00",
                   "200000.00");
    lines +=
        claim("S2", kC, 2, "H370201", "2024-04-01", "2024-04-10", "50000.00", "0.00", "50000.00");
    lines += claim("S3", kD, 1, "H370201", "2024-05-01", "2024-05-03", "3000.00", "0.00", "3000.00",
                   ",\"given\":{\"hifp_pay\":\"3000.00\"}");
    lines +=
        claim("S4", kE, 3, "H370202", "2024-06-01", "2024-06-02", "10000.00", "0.00", "10000.00");
    results_ = settle(plan_b_, plan_b_text_, lines);
    Result<ReversalReport> rev = reverse_settlement(*db_, plan_b_, plan_b_text_, "S5", "S5-R", "t");
    ASSERT_TRUE(rev.ok()) << rev.status().to_string();
    ASSERT_EQ(rev->adjustments.size(), 1u);
  }

  std::string plan_a_text_, plan_b_text_;
  Plan plan_a_, plan_b_;
  std::unique_ptr<Db> db_;
  std::map<std::string, Json> results_;
  int files_ = 0;
};

const std::vector<std::string> kPlanBInsurerLayers = {"hmb_in", "hmb_out", "hmb_drug"};
const std::vector<std::string> kPlanAInsurerLayers = {"supp", "accident"};

TEST_P(BooksTest, HandCheckedCityBooks) {
  build_city();
  // S5 first: hifp 17,820.00; hifmi base 2,180 under 15,000: 0; hmb_in base 2,180 all
  // deductible (12,820 left). S1 after it: hifp 90 % of 199,800 = 179,820.00; hifmi on the
  // cumulative base 22,360: 60 % x 7,360 = 4,416.00; hmb_in base 200,000 - 184,236 = 15,764,
  // less 12,820 deductible, 80 % = 2,355.20; hmb_out 70 % x 10,000 = 7,000.00.
  EXPECT_EQ(results_["S1"]["layers"]["hifmi"], "4416.00");
  EXPECT_EQ(results_["S1"]["layers"]["hmb_in"], "2355.20");
  EXPECT_EQ(results_["S1"]["layers"]["hmb_out"], "7000.00");
  // S2 (tekun, level 2): hifp 75 % of 49,500 = 37,125.00; hifmi 65 % x (12,875 - 7,500) =
  // 3,493.75; maf 90 % x 9,381.25 = 8,443.125 -> 8,443.13; hmb_in base 938.12 within the
  // 7,500 deductible: 0. The person pays 938.12.
  EXPECT_EQ(results_["S2"]["layers"]["maf"], "8443.13");
  EXPECT_EQ(results_["S2"]["psn_part_amt"], "938.12");
  EXPECT_EQ(results_["S3"]["psn_part_amt"], "0.00");
  EXPECT_EQ(results_["S4"]["psn_part_amt"], "4600.00");

  const PostReport p = post();
  EXPECT_EQ(p.premiums, 5);       // A cash, B account, C subsidy, D subsidy and cash
  EXPECT_EQ(p.settlements, 7);    // five claims, the reversal, the adjustment
  EXPECT_EQ(p.claim_entries, 2);  // S1, and the adjustment of S1
  // Reversing S5 settles S1 again alone: hifmi 60 % x 5,180 = 3,108.00 (-1,308.00), hmb_in
  // 80 % x (17,072 - 15,000) = 1,657.60 (-697.60), hmb_out unchanged.
  EXPECT_EQ(balance("hmb", "370100", 2024, "claims_expense:hmb_in"), yuan("1657.60"));
  EXPECT_EQ(balance("hmb", "370100", 2024, "claims_expense:hmb_out"), yuan("7000.00"));
  EXPECT_EQ(balance("hmb", "370100", 2024, "claims_payable"), yuan("8657.60"));
  EXPECT_EQ(balance("hmb", "370100", 2024, "premium_income:cash"), yuan("99.00"));
  EXPECT_EQ(balance("hmb", "370100", 2024, "premium_income:personal_account"), yuan("99.00"));
  EXPECT_EQ(balance("hmb", "370200", 2024, "premium_income:subsidy"), yuan("148.50"));
  EXPECT_EQ(balance("hmb", "370200", 2024, "premium_income:cash"), yuan("49.50"));
  EXPECT_EQ(balance("hmb", "370200", 2024, "bank"), yuan("198.00"));
  EXPECT_EQ(balance("hmb", "370200", 2024, "claims_payable"), 0);
  // Other funds' layers are reported, not booked.
  EXPECT_EQ(query_int(*db_,
                      "SELECT count(*) FROM journal_lines WHERE account LIKE "
                      "'claims_expense:hif%' OR account LIKE 'claims_expense:maf%'"),
            0);
  expect_invariants(kPlanBInsurerLayers);
}

TEST_P(BooksTest, HandCheckedCityReports) {
  build_city();
  post();
  // Enrolment: Jinan A, B of A, B, F; Qingdao C, D of C, D, E.
  const Json e = report(ReportKind::kEnrolment);
  EXPECT_EQ(e["targets"]["enrolment_rate"], "30%");
  Json jinan = one(e, "by_region", {{"region", "370100"}});
  EXPECT_EQ(jinan["population"], 3);
  EXPECT_EQ(jinan["enrolled"], 2);
  EXPECT_EQ(jinan["rate"], "66.67%");
  EXPECT_EQ(jinan["meets_target"], "yes");
  Json province = one(e, "by_region", {{"region", "370000"}});
  EXPECT_EQ(province["population"], 6);
  EXPECT_EQ(province["enrolled"], 4);
  EXPECT_EQ(province["rate"], "66.67%");
  EXPECT_EQ(one(e, "by_payer", {{"region", "370200"}, {"payer_kind", "subsidy"}})["charged"],
            "148.50");
  EXPECT_EQ(one(e, "by_payer", {{"region", "370200"}, {"payer_kind", "subsidy"}})["enrolments"], 2);
  EXPECT_EQ(one(e, "by_payer", {{"region", "370000"}, {"payer_kind", "cash"}})["net"], "148.50");
  EXPECT_EQ(one(e, "by_group", {{"region", "370200"}, {"category", "tekun"}})["rate"], "100.00%");

  // Settlements: Jinan has S1 (S5 reversed), Qingdao S2, S3, S4.
  const Json s = report(ReportKind::kSettlements);
  Json sj = one(s, "by_region", {{"region", "370100"}});
  EXPECT_EQ(sj["claims"], 1);
  EXPECT_EQ(sj["reversals"], 1);
  EXPECT_EQ(sj["adjustments"], 1);
  EXPECT_EQ(sj["medfee_sumamt"], "210000.00");
  EXPECT_EQ(sj["fulamt_ownpay_amt"], "10000.00");
  EXPECT_EQ(sj["layer_hifp"], "179820.00");
  EXPECT_EQ(sj["layer_hifmi"], "3108.00");
  EXPECT_EQ(sj["layer_hmb_in"], "1657.60");
  EXPECT_EQ(sj["insurer_pay"], "8657.60");
  // S1 as it stands: (179,820 + 3,108 + 1,657.60 + 7,000) / 200,000 = 95.7928 %.
  EXPECT_EQ(sj["reimbursement_ratio"], "95.79%");
  EXPECT_EQ(sj["reached_target"], 1);
  Json sq = one(s, "by_region", {{"region", "370200"}});
  EXPECT_EQ(sq["claims"], 3);
  EXPECT_EQ(sq["medfee_sumamt"], "63000.00");
  EXPECT_EQ(sq["zero_self_pay"], 1);
  EXPECT_EQ(sq["reached_target"], 2);  // S2 98.12 %, S3 100 %; S4 54 %
  EXPECT_EQ(one(s, "ratio_histogram", {{"region", "370200"}, {"bucket", "50-60%"}})["claims"], 1);
  EXPECT_EQ(one(s, "ratio_histogram", {{"region", "370200"}, {"bucket", "90-100%"}})["claims"], 1);
  EXPECT_EQ(one(s, "ratio_histogram", {{"region", "370200"}, {"bucket", ">=100%"}})["claims"], 1);
  EXPECT_EQ(one(s, "ratio_histogram", {{"region", "370000"}, {"bucket", "90-100%"}})["share"],
            "50.00%");
  EXPECT_EQ(one(s, "layers", {{"region", "370000"}, {"layer", "hmb_out"}})["payer"], "insurer:hmb");
  EXPECT_EQ(one(s, "layers", {{"region", "370000"}, {"layer", "maf"}})["payer"], "fund");

  // Zero self-pay: S3 only, the resident id masked.
  const Json z = report(ReportKind::kZeroSelfPay);
  EXPECT_EQ(z["zero_self_pay_claims"], 1);
  char masked[18];
  mask_resident_id(kD, masked);
  Json c = one(z, "cases", {{"setl_id", "S3"}});
  EXPECT_EQ(c["psn_no"], std::string(masked, 18));
  EXPECT_EQ(c["medfee_sumamt"], "3000.00");

  // Hospitals: H370101 210,000 (1 claim), H370201 53,000 (2), H370202 10,000 (1).
  ReportQuery hq;
  hq.min_claims = 1;
  const Json h = report(ReportKind::kHospitals, hq);
  std::vector<Json> by_cost = rows(h, "by_cost");
  ASSERT_EQ(by_cost.size(), 3u);
  EXPECT_EQ(by_cost[0]["fixmedins_code"], "H370101");
  EXPECT_EQ(by_cost[1]["fixmedins_code"], "H370201");
  EXPECT_EQ(by_cost[1]["claims"], 2);
  EXPECT_EQ(by_cost[1]["cost_per_claim"], "26500.00");
  EXPECT_EQ(by_cost[0]["out_of_catalogue_share"], "4.76%");
  EXPECT_EQ(rows(h, "by_out_of_catalogue")[0]["fixmedins_code"], "H370101");

  // Loss ratio from the books: Jinan 8,657.60 / 198.00; Qingdao nothing paid.
  const Json l = report(ReportKind::kLossRatio);
  Json lj = one(l, "by_region", {{"product", "hmb"}, {"region", "370100"}});
  EXPECT_EQ(lj["earned_premium"], "198.00");
  EXPECT_EQ(lj["claims"], "8657.60");
  EXPECT_EQ(lj["loss_ratio"], "4372.53%");
  EXPECT_EQ(lj["band"], "within");  // plan B states no ceiling
  Json lq = one(l, "by_region", {{"product", "hmb"}, {"region", "370200"}});
  EXPECT_EQ(lq["loss_ratio"], "0.00%");
  EXPECT_EQ(lq["band"], "below_floor");
  EXPECT_EQ(lq["shortfall"], "158.40");  // 80 % x 198.00
  EXPECT_EQ(lq["premium_subsidy"], "148.50");
  EXPECT_EQ(one(l, "by_region", {{"product", "hmb"}, {"region", "370000"}})["claims"], "8657.60");
  EXPECT_EQ(l["floors"]["hmb"], "80%");

  // Turnaround: every settled claim counted once, in one bucket.
  const Json t = report(ReportKind::kTurnaround);
  Json tp = one(t, "by_region", {{"region", "370000"}});
  EXPECT_EQ(tp["claims"], 5);  // settle rows, S5 included
  int64_t in_buckets = 0;
  for (const char* b : {"same_day", "days_1_3", "days_4_7", "days_8_15", "days_16_30", "days_31_90",
                        "days_over_90"})
    in_buckets += tp[b].get<int64_t>();
  EXPECT_EQ(in_buckets, 5);

  // One settlement: S1's layers in plan order, what is left after each.
  ReportQuery one_q;
  one_q.setl_id = "S1";
  const Json w = report(ReportKind::kSettlement, one_q);
  EXPECT_EQ(w["settlement"]["medfee_sumamt"], "210000.00");
  EXPECT_EQ(rows(w, "layers").back()["remaining"], w["settlement"]["psn_part_amt"]);
  EXPECT_EQ(rows(w, "corrections").size(), 1u);  // the adjustment
  // The default: the claim whose insurers paid most.
  EXPECT_EQ(report(ReportKind::kSettlement)["settlement"]["setl_id"], "S1");

  // A city alone: no province rows.
  ReportQuery city;
  city.region = "370200";
  EXPECT_TRUE(
      rows(report(ReportKind::kSettlements, city), "by_region", {{"region", "370000"}}).empty());
  expect_invariants(kPlanBInsurerLayers);
}

TEST_P(BooksTest, YearEndReturnsTheShortfallAndPostsOnlyDifferences) {
  build_city();
  post();
  YearEndReport r;
  ASSERT_TRUE(year_end(*db_, plan_b_, {"", "", "test"}, &r).ok());
  ASSERT_EQ(r.refusal, books::Refusal::kNone) << r.message;
  // Qingdao: 80 % x 198.00 - 0 = 158.40, owed back (plan B: surplus = "return").
  EXPECT_EQ(balance("hmb", "370200", 2024, "surplus_returned"), yuan("158.40"));
  EXPECT_EQ(balance("hmb", "370200", 2024, "surplus_payable"), yuan("158.40"));
  EXPECT_EQ(balance("hmb", "370100", 2024, "surplus_returned"), 0);
  Entry stored;
  ASSERT_TRUE(*read_entry(*db_, "year_end:hmb:370200:2024:1", &stored));
  EXPECT_EQ(stored.date, "2024-12-31");
  // Nothing changed: nothing posted.
  const int64_t entries = query_int(*db_, "SELECT count(*) FROM journal_entries");
  ASSERT_TRUE(year_end(*db_, plan_b_, {"", "", "test"}, &r).ok());
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM journal_entries"), entries);
  // A late enrolment in Qingdao: 80 % x 297.00 = 237.60, so 79.20 more.
  enrol(kE, {{PayerKind::kCash, "", 99'00}});
  post();
  ASSERT_TRUE(year_end(*db_, plan_b_, {"", "", "test"}, &r).ok());
  ASSERT_TRUE(*read_entry(*db_, "year_end:hmb:370200:2024:2", &stored));
  EXPECT_EQ(stored.lines[0].debit, yuan("79.20"));
  EXPECT_EQ(balance("hmb", "370200", 2024, "surplus_payable"), yuan("237.60"));
  const Json l = report(ReportKind::kLossRatio);
  EXPECT_EQ(one(l, "by_region", {{"region", "370200"}})["year_end_posted"], "237.60");
  // A plan without [fund] rules is refused.
  std::string text = plan_b_text_;
  text.resize(text.find("\n[fund]"));
  ASSERT_TRUE(year_end(*db_, plan_of(text), {"", "", "test"}, &r).ok());
  EXPECT_EQ(r.refusal, books::Refusal::kNoFundRules);
  expect_invariants(kPlanBInsurerLayers);
}

TEST_P(BooksTest, PlanATransfersCarryOverAndLossSharing) {
  store_people(true);
  AutoEnrolReport ar;
  ASSERT_TRUE(enrol_automatic(*db_, plan_a_, plan_a_text_, {"test"}, &ar).ok());
  // P1 at a level-3 hospital: hifp 60 % x 99,000 = 59,400; hifmi (poverty) 65 % x (40,600 -
  // 6,000) = 22,490; no assistance, no reduction at level 3; supp tops up to 90 % x 100,000:
  // 90,000 - 81,890 = 8,110.00. P2's accident: medical 1,000.00, within the 5,000 limit.
  std::string lines =
      claim("F1", kP1, 3, "H370102", "2020-03-01", "2020-03-15", "100000.00", "0.00", "100000.00");
  lines += "{\"kind\":\"accident\",\"setl_id\":\"F2\",\"psn_no\":\"" + kP2 +
           "\",\"accident_date\":\"2020-06-01\",\"cause\":\"fall\",\"outcome\":\"medical\","
           "\"medical_amount\":\"1000.00\"}\n";
  const auto res = settle(plan_a_, plan_a_text_, lines);
  ASSERT_EQ(res.at("F1")["layers"]["supp"], "8110.00");
  post();
  EXPECT_EQ(balance("fupin_medical", "370100", 2020, "premium_income:provincial"), yuan("100"));
  EXPECT_EQ(balance("fupin_medical", "370100", 2020, "premium_income:city"), yuan("10"));
  EXPECT_EQ(balance("fupin_accident", "370200", 2020, "claims_expense:accident"), yuan("1000"));
  Entry accident;
  ASSERT_TRUE(*read_entry(*db_, "settle:F2", &accident));
  EXPECT_EQ(accident.lines.back().counterparty, "insured");

  // Premium moves between the products where the plan allows it, up to what was earned.
  Receipt rc;
  TransferRequest t{"fupin_accident", "fupin_medical", "370100",        yuan("5.00"),
                    "2020-07-01",     "T-1",           "re-allocation", "test"};
  ASSERT_TRUE(transfer_premium(*db_, plan_a_, t, &rc).ok());
  EXPECT_EQ(rc.refusal, books::Refusal::kNone) << rc.message;
  EXPECT_EQ(rc.outcome, PostOutcome::kCreated);
  ASSERT_TRUE(transfer_premium(*db_, plan_a_, t, &rc).ok());
  EXPECT_EQ(rc.outcome, PostOutcome::kExists);
  TransferRequest too_much = t;
  too_much.key = "T-2";
  too_much.amount = yuan("6.00");  // 10.00 - 5.00 left
  ASSERT_TRUE(transfer_premium(*db_, plan_a_, too_much, &rc).ok());
  EXPECT_EQ(rc.refusal, books::Refusal::kExceedsPremium);
  too_much.amount = yuan("1.00");
  ASSERT_TRUE(transfer_premium(*db_, plan_b_, too_much, &rc).ok());
  EXPECT_EQ(rc.refusal, books::Refusal::kTransfersNotAllowed);
  // The 2019 surplus subsidises Qingdao's 2020 premium.
  CarryOverRequest co{"fupin_medical", "370200", 2019,           yuan("50.00"),
                      "2020-01-15",    "C-2019", "2019 surplus", "test"};
  ASSERT_TRUE(carry_over(*db_, co, &rc).ok());
  EXPECT_EQ(rc.refusal, books::Refusal::kNone) << rc.message;
  EXPECT_EQ(balance("fupin_medical", "370200", 2019, "carry_over_out"), yuan("50.00"));
  EXPECT_EQ(balance("fupin_medical", "370200", 2020, "carry_over_in"), yuan("50.00"));

  YearEndReport r;
  ASSERT_TRUE(year_end(*db_, plan_a_, {"", "", "test"}, &r).ok());
  ASSERT_EQ(r.books.size(), 4u) << r.to_text();
  // Jinan medical: earned 110 + 5 = 115.00, claims 8,110.00 above the 100 % ceiling: the
  // excess 7,995.00 is shared half and half: 3,997.50 receivable from the government.
  EXPECT_EQ(balance("fupin_medical", "370100", 2020, "loss_share_receivable"), yuan("3997.50"));
  // Jinan accident: earned 10 - 5 = 5.00, nothing paid: 4.00 carried into 2021.
  EXPECT_EQ(balance("fupin_accident", "370100", 2020, "carry_over_out"), yuan("4.00"));
  EXPECT_EQ(balance("fupin_accident", "370100", 2021, "carry_over_in"), yuan("4.00"));
  // Qingdao medical: earned 110 + 50 = 160.00: 128.00 carried into 2021.
  EXPECT_EQ(balance("fupin_medical", "370200", 2021, "carry_over_in"), yuan("128.00"));
  // Qingdao accident: 1,000.00 paid of 10.00: 990.00 above the ceiling, 495.00 shared.
  EXPECT_EQ(balance("fupin_accident", "370200", 2020, "loss_share_receivable"), yuan("495.00"));

  ReportQuery q;
  q.year = 2020;
  const Json l = report(ReportKind::kLossRatio, q);
  Json jm = one(l, "by_region", {{"product", "fupin_medical"}, {"region", "370100"}});
  EXPECT_EQ(jm["band"], "above_ceiling");
  EXPECT_EQ(jm["transfer_in"], "5.00");
  EXPECT_EQ(jm["government_share"], "3997.50");
  EXPECT_EQ(jm["insurer_share"], "3997.50");
  EXPECT_EQ(jm["year_end_posted"], "3997.50");
  Json qm = one(l, "by_region", {{"product", "fupin_medical"}, {"region", "370200"}});
  EXPECT_EQ(qm["carry_over_in"], "50.00");
  EXPECT_EQ(qm["earned_premium"], "160.00");
  EXPECT_EQ(qm["surplus_rule"], "carry_over");
  // The province: 230 + 5 - 5 ... each product summed over its cities.
  Json pm = one(l, "by_region", {{"product", "fupin_medical"}, {"region", "370000"}});
  EXPECT_EQ(pm["earned_premium"], "275.00");
  EXPECT_EQ(pm["claims"], "8110.00");
  // The settlements report shows the accident cases as the accident product's claims.
  const Json s = report(ReportKind::kSettlements, q);
  EXPECT_EQ(one(s, "by_region", {{"region", "370200"}})["accident"], 1);
  EXPECT_EQ(one(s, "by_region", {{"region", "370200"}})["layer_accident"], "1000.00");
  Result<std::string> chart = chart_svg(ChartKind::kLossRatio, l.dump(), "fupin_medical");
  ASSERT_TRUE(chart.ok());
  EXPECT_NE(chart->find("100% 上限 ceiling"), std::string::npos);
  EXPECT_NE(chart->find("医疗商业补充保险"), std::string::npos);
  // The next year's books exist only through the carry-over.
  q.year = 2021;
  EXPECT_EQ(report(ReportKind::kReconcile, q)["status"], "ok");
  expect_invariants(kPlanAInsurerLayers);
}

TEST_P(BooksTest, ExplicitEntriesPaymentsAndReversals) {
  build_city();
  post();
  Receipt rc;
  CostRequest cost{kind::kOperatingCost, "hmb",  "370100",         2024, yuan("12.00"),
                   "2024-06-30",         "OP-1", "service points", "",   "test"};
  ASSERT_TRUE(record_cost(*db_, cost, &rc).ok());
  EXPECT_EQ(rc.refusal, books::Refusal::kNone) << rc.message;
  ASSERT_TRUE(record_cost(*db_, cost, &rc).ok());
  EXPECT_EQ(rc.outcome, PostOutcome::kExists);
  CostRequest other = cost;
  other.amount = yuan("13.00");
  ASSERT_TRUE(record_cost(*db_, other, &rc).ok());
  EXPECT_EQ(rc.refusal, books::Refusal::kKeyConflict);
  other.key = "OP-2";
  other.region = "370102";
  ASSERT_TRUE(record_cost(*db_, other, &rc).ok());
  EXPECT_EQ(rc.refusal, books::Refusal::kInvalidRegion);
  other.region = "370100";
  other.product = "nope";
  ASSERT_TRUE(record_cost(*db_, other, &rc).ok());
  EXPECT_EQ(rc.refusal, books::Refusal::kUnknownProduct);
  CostRequest fee{kind::kPlatformFee, "hmb",  "370100", 2024,       yuan("3.00"),
                  "2024-06-30",       "PF-1", "",       "platform", "test"};
  ASSERT_TRUE(record_cost(*db_, fee, &rc).ok());
  EXPECT_EQ(balance("hmb", "370100", 2024, "operating_expense"), yuan("12.00"));
  EXPECT_EQ(balance("hmb", "370100", 2024, "platform_fee"), yuan("3.00"));
  const Json l = report(ReportKind::kLossRatio);
  EXPECT_EQ(one(l, "by_region", {{"region", "370100"}})["cost_ratio"], "7.58%");  // 15 / 198

  // A correction is a reversal, never an edit; facts cannot be reversed by hand.
  ASSERT_TRUE(reverse_entry(*db_, "OP-1", "2024-07-01", "wrong book", "test", &rc).ok());
  EXPECT_EQ(rc.refusal, books::Refusal::kNone) << rc.message;
  EXPECT_EQ(rc.entry.key, "reversal:OP-1");
  EXPECT_EQ(balance("hmb", "370100", 2024, "operating_expense"), 0);
  ASSERT_TRUE(reverse_entry(*db_, "OP-1", "2024-07-01", "wrong book", "test", &rc).ok());
  EXPECT_EQ(rc.outcome, PostOutcome::kExists);
  ASSERT_TRUE(reverse_entry(*db_, "settle:S1", "2024-07-01", "", "test", &rc).ok());
  EXPECT_EQ(rc.refusal, books::Refusal::kNotReversible);
  ASSERT_TRUE(reverse_entry(*db_, "reversal:OP-1", "2024-07-01", "", "test", &rc).ok());
  EXPECT_EQ(rc.refusal, books::Refusal::kNotReversible);
  ASSERT_TRUE(reverse_entry(*db_, "nothing", "2024-07-01", "", "test", &rc).ok());
  EXPECT_EQ(rc.refusal, books::Refusal::kUnknownEntry);

  // Paying the hospitals: every payable, once per run.
  PayRequest pay;
  pay.run = "2024-07";
  pay.date = "2024-07-10";
  pay.actor = "test";
  PayReport pr;
  ASSERT_TRUE(pay_claims(*db_, pay, &pr).ok());
  EXPECT_EQ(pr.created, 1);  // H370101 in Jinan
  EXPECT_EQ(pr.paid_fen, yuan("8657.60"));
  EXPECT_EQ(balance("hmb", "370100", 2024, "claims_payable"), 0);
  ASSERT_TRUE(pay_claims(*db_, pay, &pr).ok());
  EXPECT_EQ(pr.created, 0);
  // Reversing the payment makes it payable again; a new run pays it.
  ASSERT_TRUE(
      reverse_entry(*db_, "payment:2024-07:hmb:370100:2024:H370101", "2024-07-11", "", "test", &rc)
          .ok());
  EXPECT_EQ(balance("hmb", "370100", 2024, "claims_payable"), yuan("8657.60"));
  pay.run = "2024-07b";
  ASSERT_TRUE(pay_claims(*db_, pay, &pr).ok());
  EXPECT_EQ(pr.created, 1);
  EXPECT_EQ(balance("hmb", "370100", 2024, "bank"),
            yuan("198.00") - yuan("3.00") - yuan("8657.60"));
  expect_invariants(kPlanBInsurerLayers);
}

TEST_P(BooksTest, PostingTakesOnlyWhatIsNewAndBooksRefunds) {
  store_people(false);
  enrol(kA, {{PayerKind::kCash, "", 99'00}});
  PostReport p = post();
  EXPECT_EQ(p.premiums, 1);
  EXPECT_EQ(p.settlements, 0);
  settle(plan_b_, plan_b_text_,
         claim("S1", kA, 1, "H370101", "2024-03-01", "2024-03-20", "210000.00", "10000.00",
               "200000.00"));
  p = post();
  EXPECT_EQ(p.premiums, 0);
  EXPECT_EQ(p.settlements, 1);
  EXPECT_EQ(p.insurer_claims_fen, yuan("8657.60"));
  // A cancellation refunds by the remaining days: a refund entry, the premium net of it.
  CancelRequest cancel{kA, "", day("2024-07-01"), "test"};
  CancelReceipt receipt;
  ASSERT_TRUE(cancel_enrolment(*db_, plan_b_, cancel, &receipt).ok());
  ASSERT_GT(receipt.refunded_fen, 0);
  p = post();
  EXPECT_EQ(p.premiums, 1);
  EXPECT_EQ(p.premium_refunded_fen, receipt.refunded_fen);
  EXPECT_EQ(balance("hmb", "370100", 2024, "premium_income:cash"), 99'00 - receipt.refunded_fen);
  const Json e = report(ReportKind::kEnrolment);
  EXPECT_EQ(one(e, "by_region", {{"region", "370100"}})["enrolled"], 0);
  expect_invariants(kPlanBInsurerLayers);
}

TEST_P(BooksTest, OfficialPopulationFigures) {
  build_city();
  post();
  spit(dir_ / "pop.csv", "region,year,population,source\n370100,2024,10,bureau 2024-01\n");
  PopulationImport pi;
  ASSERT_TRUE(import_population(*db_, (dir_ / "pop.csv").string(), &pi).ok());
  const Json e = report(ReportKind::kEnrolment);
  Json j = one(e, "by_region", {{"region", "370100"}});
  EXPECT_EQ(j["population"], 10);
  EXPECT_EQ(j["population_source"], "official: bureau 2024-01");
  EXPECT_EQ(j["rate"], "20.00%");
  EXPECT_EQ(j["meets_target"], "no");
  EXPECT_EQ(one(e, "by_region", {{"region", "370000"}})["population"], 13);
  // A bad row and nothing is written.
  spit(dir_ / "bad.csv", "region,year,population\n370200,2024,5\n370201,2024,5\n370300,2024,-1\n");
  ASSERT_EQ(import_population(*db_, (dir_ / "bad.csv").string(), &pi).code(), Code::kRollInvalid);
  EXPECT_EQ(pi.errors.size(), 2u);
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM basic_population"), 1);
}

TEST_P(BooksTest, WritersAndCharts) {
  build_city();
  post();
  Result<std::string> s = report_json(*db_, ReportKind::kSettlements, {});
  ASSERT_TRUE(s.ok());
  std::vector<std::string> files;
  ASSERT_TRUE(write_report_csv(*s, (dir_ / "s.csv").string(), &files).ok());
  ASSERT_EQ(files.size(), 3u);  // by_region, layers, ratio_histogram
  const std::vector<std::string> csv = lines_of(slurp(dir_ / "s.ratio_histogram.csv"));
  EXPECT_EQ(csv[0], "plan_id,region,region_name,bucket,claims,share");
  EXPECT_NE(
      std::find(csv.begin(), csv.end(), "shandong-2024-huiminbao,370200,青岛市,>=100%,1,33.33%"),
      csv.end());
  ASSERT_TRUE(write_report_xlsx(*s, (dir_ / "s.xlsx").string()).ok());
  EXPECT_EQ(slurp(dir_ / "s.xlsx").substr(0, 2), "PK");
  Result<std::string> one_csv = report_table_csv(*s, "layers");
  ASSERT_TRUE(one_csv.ok());
  EXPECT_EQ(lines_of(*one_csv)[0], "plan_id,region,region_name,layer,layer_name,payer,amount");

  Result<std::string> hist = chart_svg(ChartKind::kReimbursement, *s);
  ASSERT_TRUE(hist.ok());
  EXPECT_NE(hist->find("<svg"), std::string::npos);
  // Plan B states no reimbursement target: the 2020 plan's 90 % is drawn as a reference.
  EXPECT_NE(hist->find("90% 参考 reference"), std::string::npos);
  Result<std::string> loss = report_json(*db_, ReportKind::kLossRatio, {});
  Result<std::string> lsvg = chart_svg(ChartKind::kLossRatio, *loss);
  ASSERT_TRUE(lsvg.ok());
  EXPECT_NE(lsvg->find("80% 赔付率下限"), std::string::npos);
  EXPECT_NE(lsvg->find("青岛市"), std::string::npos);
  Result<std::string> enr = report_json(*db_, ReportKind::kEnrolment, {});
  Result<std::string> esvg = chart_svg(ChartKind::kEnrolmentRate, *enr);
  ASSERT_TRUE(esvg.ok());
  EXPECT_NE(esvg->find("30% 目标"), std::string::npos);
  Result<std::string> one_setl = report_json(*db_, ReportKind::kSettlement, {});
  Result<std::string> wsvg = chart_svg(ChartKind::kWaterfall, *one_setl);
  ASSERT_TRUE(wsvg.ok());
  EXPECT_NE(wsvg->find("-7000.00"), std::string::npos);  // S1's hmb_out step
  // Not a report, or the wrong one.
  EXPECT_FALSE(chart_svg(ChartKind::kWaterfall, "{}").ok());
  EXPECT_FALSE(chart_svg(ChartKind::kWaterfall, *s).ok());
  // Queries that name nothing stored.
  ReportQuery bad;
  bad.plan_id = "no-such-plan";
  EXPECT_EQ(report_json(*db_, ReportKind::kLossRatio, bad).status().code(), Code::kPlanInvalid);
  bad = {};
  bad.region = "3702";
  EXPECT_EQ(report_json(*db_, ReportKind::kEnrolment, bad).status().code(), Code::kPlanInvalid);
  bad = {};
  bad.setl_id = "nope";
  EXPECT_EQ(report_json(*db_, ReportKind::kSettlement, bad).status().code(), Code::kPlanInvalid);
}

TEST_P(BooksTest, ReportsSayWhatIsNotPostedAndReconcileFlagsIt) {
  build_city();
  post();
  settle(plan_b_, plan_b_text_,
         claim("S9", kB, 1, "H370101", "2024-08-01", "2024-08-02", "1000.00", "0.00", "1000.00"));
  const Json s = report(ReportKind::kSettlements);
  EXPECT_EQ(s["scope"]["unposted_settlements"], 1);
  const Json r = report(ReportKind::kReconcile);
  EXPECT_EQ(r["status"], "ok");  // pending is a warning, not a difference
  EXPECT_FALSE(r["warnings"].empty());
  EXPECT_EQ(one(r, "summary", {{"check", "facts_vs_settlements"}})["status"], "warning");
  post();
  expect_invariants(kPlanBInsurerLayers);
}

TEST_P(BooksTest, EvaluationSumsTheCycleYears) {
  store_people(false);
  // Plan B moved to 2022 and 2023 (same product line): A enrols each year and has one claim.
  auto year_text = [&](int year) {
    std::string t = plan_b_text_;
    const std::string y = std::to_string(year);
    for (auto [from, to] : std::vector<std::pair<std::string, std::string>>{
             {"id = \"shandong-2024-huiminbao\"", "id = \"city-" + y + "\""},
             {"window_begin = 2024-01-01", "window_begin = " + y + "-01-01"},
             {"window_end = 2024-12-30", "window_end = " + y + "-12-30"},
             {"\nbegin = 2024-01-01", "\nbegin = " + y + "-01-01"},
             {"\nend = 2024-12-31", "\nend = " + y + "-12-31"}})
      t.replace(t.find(from), from.size(), to);
    return t;
  };
  std::map<int, int64_t> premium;  // what each year earned in Jinan
  for (int year : {2022, 2023, 2024}) {
    const std::string text = year == 2024 ? plan_b_text_ : year_text(year);
    const Plan plan = plan_of(text);
    EnrolRequest r;
    r.psn_no = kA;
    r.paid_on = day(std::to_string(year) + "-01-01");
    r.payers = {{PayerKind::kCash, "", 99'00}};
    r.actor = "test";
    EnrolReceipt receipt;
    ASSERT_TRUE(enrol_voluntary(*db_, plan, text, r, &receipt).ok());
    ASSERT_EQ(receipt.refusal, huibao::Refusal::kNone) << receipt.message;
    EXPECT_EQ(receipt.prior_years, year - 2022);
    const std::string y = std::to_string(year);
    settle(plan, text,
           claim("Y" + y, kA, 1, "H370101", y + "-03-01", y + "-03-20", "210000.00", "10000.00",
                 "200000.00"));
  }
  post();
  ReportQuery q;
  q.year = 2024;
  const Json e = report(ReportKind::kEvaluation, q);
  Json cycle = one(e, "cycle", {{"product", "hmb"}, {"region", "370100"}});
  EXPECT_EQ(cycle["from_year"], 2022);
  EXPECT_EQ(cycle["to_year"], 2024);
  EXPECT_EQ(cycle["years_with_books"], 3);
  EXPECT_EQ(cycle["earned_premium"], "297.00");
  // The cycle's claims are the three years' loss-ratio claims, year by year.
  Fen claims = 0;
  for (int year : {2022, 2023, 2024}) {
    ReportQuery yq;
    yq.year = year;
    const Json l = report(ReportKind::kLossRatio, yq);
    const Json row = one(l, "by_region", {{"product", "hmb"}, {"region", "370100"}});
    claims += yuan(row["claims"].get<std::string>());
    EXPECT_EQ(one(e, "years", {{"region", "370100"}, {"year", year}})["claims"], row["claims"]);
  }
  EXPECT_EQ(cycle["claims"], fen_to_string(claims));
  EXPECT_EQ(cycle["loss_ratio"], percent_half_up(claims, 297'00));
  EXPECT_EQ(cycle["meets_floor"], "yes");
  EXPECT_EQ(cycle["years_meeting_floor"], 3);
  expect_invariants(kPlanBInsurerLayers);
}

TEST_P(BooksTest, TwoPostersAtOnceNeverPostTwice) {
  build_city();
  // Two connections post the same facts at once: the journal lock makes one wait for the
  // other, which then finds everything posted.
  std::vector<PostReport> reports(2);
  std::vector<Status> results(2);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      Result<std::unique_ptr<Db>> db = store::open_db(url_);
      if (!db.ok()) {
        results[size_t(i)] = db.status();
        return;
      }
      results[size_t(i)] = post_books(**db, {"test", 2}, &reports[size_t(i)]);
    });
  }
  for (std::thread& t : threads) t.join();
  for (const Status& r : results) EXPECT_TRUE(r.ok()) << r.to_string();
  EXPECT_EQ(reports[0].premiums + reports[1].premiums, 5);
  EXPECT_EQ(reports[0].settlements + reports[1].settlements, 7);
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM claim_facts"), 7);
  expect_invariants(kPlanBInsurerLayers);
}

INSTANTIATE_TEST_SUITE_P(Engines, BooksTest, ::testing::Values(Engine::kSqlite, Engine::kPostgres),
                         [](const auto& i) { return store::engine_name(i.param); });

// ---- the rules, without the store ----

TEST(BooksRules, YearEndOnHandComputedCases) {
  FundRules rules;
  rules.declared = true;
  rules.loss_ratio_floor.ppm = 800'000;
  // Below the floor: 80 % x 123.45 = 98.76; claims 50.00: shortfall 48.76.
  BookFigures f;
  f.premium_income = yuan("123.45");
  f.claims = yuan("50.00");
  YearEndOutcome o = year_end_outcome(f, rules);
  EXPECT_EQ(o.band, LossBand::kBelowFloor);
  EXPECT_EQ(o.floor_claims, yuan("98.76"));
  EXPECT_EQ(o.shortfall, yuan("48.76"));
  // Half up: 80 % x 0.01 = 0.008 -> 0.01.
  f = {};
  f.premium_income = 1;
  EXPECT_EQ(year_end_outcome(f, rules).shortfall, 1);
  // Exactly at the floor: nothing.
  f = {};
  f.premium_income = yuan("100.00");
  f.claims = yuan("80.00");
  EXPECT_EQ(year_end_outcome(f, rules).band, LossBand::kWithin);
  // Above a 110 % ceiling, the government bearing 50 %: earned 1,000.01, ceiling claims
  // 110 % x 100,001 fen = 110,001.1 -> 1,100.01; claims 1,200.00: excess 99.99; half is
  // 49.995 -> 50.00 (half up), the insurer 49.99.
  rules.has_ceiling = true;
  rules.loss_ratio_ceiling.ppm = 1'100'000;
  rules.loss_share_government.ppm = 500'000;
  f = {};
  f.premium_income = yuan("1000.01");
  f.claims = yuan("1200.00");
  o = year_end_outcome(f, rules);
  EXPECT_EQ(o.band, LossBand::kAboveCeiling);
  EXPECT_EQ(o.ceiling_claims, yuan("1100.01"));
  EXPECT_EQ(o.excess_loss, yuan("99.99"));
  EXPECT_EQ(o.government_share, yuan("50.00"));
  EXPECT_EQ(o.insurer_share, yuan("49.99"));
  // Earned premium counts transfers and last year's surplus.
  f = {};
  f.premium_income = yuan("100.00");
  f.transfer_in = yuan("20.00");
  f.transfer_out = yuan("5.00");
  f.carry_over_in = yuan("10.00");
  EXPECT_EQ(f.earned_premium(), yuan("125.00"));
  EXPECT_EQ(year_end_outcome(f, rules).shortfall, yuan("100.00"));
  // Nothing earned: no ratio, no adjustment.
  f = {};
  f.claims = yuan("10.00");
  EXPECT_EQ(year_end_outcome(f, rules).band, LossBand::kNoPremium);
  // The operating-cost cap.
  rules.has_operating_cost_cap = true;
  rules.operating_cost_cap.ppm = 100'000;
  f = {};
  f.premium_income = yuan("100.00");
  f.claims = yuan("85.00");
  f.operating_cost = yuan("9.00");
  f.platform_fee = yuan("1.01");
  o = year_end_outcome(f, rules);
  EXPECT_EQ(o.cost_cap, yuan("10.00"));
  EXPECT_TRUE(o.cost_over_cap);
}

TEST(BooksRules, PercentagesAreExactAndRoundHalfUp) {
  EXPECT_EQ(percent_half_up(1, 3), "33.33%");
  EXPECT_EQ(percent_half_up(2, 3), "66.67%");
  EXPECT_EQ(percent_half_up(1, 800), "0.13%");  // 0.125 % half up
  EXPECT_EQ(percent_half_up(865760, 19800), "4372.53%");
  EXPECT_EQ(percent_half_up(-1, 3), "-33.33%");
  EXPECT_EQ(percent_half_up(0, 5), "0.00%");
  EXPECT_EQ(percent_half_up(1, 0), "");
  EXPECT_EQ(percent_half_up(1, 3, 0), "33%");
  EXPECT_TRUE(ratio_below(79, 100, Rate{800'000}));
  EXPECT_FALSE(ratio_below(80, 100, Rate{800'000}));
  EXPECT_TRUE(ratio_above(1101, 1000, Rate{1'100'000}));
}

TEST(BooksRules, EntriesBalanceInEveryBook) {
  Entry e;
  e.key = "k";
  e.add("p", "370100", 2024, "bank", "", 100);
  e.add("p", "370100", 2024, "premium_income:cash", "", -100);
  EXPECT_EQ(entry_problem(e), "");
  // Balanced overall but not within each book: refused.
  Entry t = e;
  t.lines[1].product = "q";
  EXPECT_NE(entry_problem(t).find("does not balance in book"), std::string::npos);
  t = e;
  t.lines[1].account = "premium_income";  // the payer is missing
  EXPECT_NE(entry_problem(t).find("not an account"), std::string::npos);
  t = e;
  t.lines[0].region = "370102";
  EXPECT_NE(entry_problem(t).find("not a city code"), std::string::npos);
  t = e;
  t.lines.clear();
  EXPECT_NE(entry_problem(t).find("no lines"), std::string::npos);
  EXPECT_TRUE(valid_account("claims_expense:x"));
  EXPECT_FALSE(valid_account("bank:x"));
  EXPECT_FALSE(valid_account("cash"));
}

TEST(BooksRules, ClaimLineExtrasAndRegions) {
  ClaimLineExtras x;
  ASSERT_TRUE(parse_claim_line_extras(
      R"({"setl_id":"S","hosp_lv":"2","fulamt_ownpay_amt":12.5,"overlmt_selfpay":"0.01","preselfpay_amt":0,"items":[{"code":"c","chrgitm_lv":"03","amount":"1.00"}]})",
      &x));
  EXPECT_EQ(x.fulamt_ownpay_amt, 1250);
  EXPECT_EQ(x.overlmt_selfpay, 1);
  EXPECT_EQ(x.hosp_lv, 2);
  EXPECT_FALSE(parse_claim_line_extras(R"({"hosp_lv":1})", &x));
  EXPECT_FALSE(parse_claim_line_extras("not json", &x));
  EXPECT_EQ(city_of("370203"), "370200");
  EXPECT_EQ(city_of("3702"), "");
  EXPECT_EQ(province_of("370203"), "370000");
  EXPECT_TRUE(is_city_code("371700"));
  EXPECT_FALSE(is_city_code("370000"));
  EXPECT_FALSE(is_city_code("370201"));
  EXPECT_EQ(region_name("370200"), "青岛市");
  ASSERT_EQ(report_catalog().size(), 10u);
  ChartKind k;
  EXPECT_TRUE(chart_of("loss-ratio", &k));
  EXPECT_EQ(k, ChartKind::kLossRatio);
  EXPECT_FALSE(chart_of("books", &k));
}

}  // namespace
}  // namespace huibao

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new huibao::pgtest::PgEnvironment("/postgres"));
  return RUN_ALL_TESTS();
}
