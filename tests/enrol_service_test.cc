// Enrolment (service/enrol_service.h) on both engines, against the reference
// plans: voluntary enrolment with every payer kind, the checks that refuse
// (and then write nothing), concurrent personal-account debits, subsidies,
// renewal by consent, cancellation refunds, prior_years across years, the
// CSV batch (written as single enrolments of its rows would be, across batch
// and lookup boundaries; all or nothing), automatic enrolment from
// categories, and the engine seeing the stored enrolments. Persons,
// relations and accounts are put into the store directly (the roll importer
// has its own tests).
#include <algorithm>
#include <fstream>
#include <latch>
#include <sstream>
#include <thread>

#include "core/resident_id.h"
#include "service/enrol_service.h"
#include "service/roll_load.h"
#include "service/settle_service.h"
#include "settle/engine.h"
#include "store_fixture.h"
#include "test_files.h"

namespace fs = std::filesystem;

namespace huibao {
namespace {

using store::Db;
using store::query_int;
using namespace testing_files;
using store::Engine;
using store::Rows;
using store::Stmt;
using store::Tx;

Date day(std::string_view s) {
  Date d;
  EXPECT_TRUE(parse_date(s, &d)) << s;
  return d;
}

// A resident id: area, birth date, sequence, and the right check character.
std::string psn(std::string_view area, std::string_view birth, int seq) {
  std::string seq3 = std::to_string(seq % 1000);
  seq3.insert(0, 3 - seq3.size(), '0');
  std::string first17 = std::string(area) + std::string(birth) + seq3;
  return first17 + resident_id_check_char(first17);
}

std::string replaced(std::string text, std::string_view from, std::string_view to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// The people of the tests.
const std::string kHolder = psn("370102", "19700101", 11);      // employee, account 500.00
const std::string kSpouse = psn("370102", "19720202", 22);      // holder's spouse (both rows)
const std::string kChild = psn("370102", "20000303", 31);       // (child, holder, parent) only
const std::string kParent = psn("370102", "19450404", 41);      // (holder, parent, parent) only
const std::string kStranger = psn("370203", "19800505", 51);    // resident, no relation
const std::string kPoorHolder = psn("370303", "19750606", 61);  // employee, account 50.00
const std::string kTekun = psn("370404", "19600707", 71);       // tekun: subsidy 100 %
const std::string kDibao = psn("370505", "19650808", 81);       // dibao: 50 %
const std::string kEdge = psn("370606", "19550909", 91);        // dibao_edge: 30 yuan
const std::string kOutside = psn("110101", "19901010", 13);     // admdvs outside Shandong
const std::string kMoved = psn("370707", "19851111", 15);       // moved_out
const std::string kRacer = psn("370808", "19681212", 17);       // employee, account 250.00
const std::string kPoverty = psn("371501", "19500115", 19);     // poverty, undated
const std::string kAid = psn("371502", "19600220", 21);         // instant_aid@2020-05-01
std::string racer_child(int i) {
  return psn("370808", "1995031" + std::to_string(i), 100 + i);
}

class EnrolTest : public store::EngineTest {
 protected:
  void SetUp() override {
    store::EngineTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    plan_b_text_ = slurp(std::string(HUIBAO_SOURCE_DIR) + "/plans/shandong-2024-huiminbao.toml");
    plan_a_text_ = slurp(std::string(HUIBAO_SOURCE_DIR) + "/plans/shandong-2020-fupin.toml");
    plan_b_ = plan_of(plan_b_text_);
    plan_a_ = plan_of(plan_a_text_);
    db_ = open();
    ASSERT_NE(db_, nullptr);
    ASSERT_TRUE(register_plan_version(*db_, plan_b_, plan_b_text_, "test").ok());
    store_people(*db_);
  }

  // Another store with the same people (a fresh SQLite file, or a new
  // PostgreSQL database), to compare two ways of writing the same rows.
  std::unique_ptr<Db> open_twin() {
    std::string url = "sqlite:" + (dir_ / "twin.db").string();
    if (GetParam() == Engine::kPostgres) {
      Result<std::string> pg = pgtest::PgEnvironment::server()->create_database();
      EXPECT_TRUE(pg.ok()) << pg.status().to_string();
      if (!pg.ok()) return nullptr;
      url = *pg;
    }
    Result<std::unique_ptr<Db>> db = store::open_db(url);
    EXPECT_TRUE(db.ok()) << db.status().to_string();
    if (!db.ok()) return nullptr;
    EXPECT_TRUE(register_plan_version(**db, plan_b_, plan_b_text_, "test").ok());
    store_people(**db);
    return std::move(*db);
  }

  Plan plan_of(const std::string& text) {
    Result<Plan> p =
        load_plan_from_string(text, "test.toml", std::string(HUIBAO_SOURCE_DIR) + "/plans");
    EXPECT_TRUE(p.ok()) << p.status().to_string();
    return p.ok() ? std::move(*p) : Plan{};
  }

  // Plan B moved to another year, with another premium.
  std::string plan_b_text_for(int year, int premium) {
    const std::string y = std::to_string(year);
    std::string t = plan_b_text_;
    t = replaced(t, "id = \"shandong-2024-huiminbao\"", "id = \"city-" + y + "\"");
    t = replaced(t, "window_begin = 2024-01-01", "window_begin = " + y + "-01-01");
    t = replaced(t, "window_end = 2024-12-30", "window_end = " + y + "-12-30");
    t = replaced(t, "\nbegin = 2024-01-01", "\nbegin = " + y + "-01-01");
    t = replaced(t, "\nend = 2024-12-31", "\nend = " + y + "-12-31");
    t = replaced(t, "premium = 99", "premium = " + std::to_string(premium));
    return t;
  }

  void add_person(Rows* r, const std::string& id, std::string_view admdvs, int insutype,
                  std::string_view status = "active") {
    Date born;
    ASSERT_TRUE(resident_id_birth_date(id, &born));
    r->add_text(id);
    r->add_text("某某");
    r->add_text("1");
    r->add_text(date_to_string(born));
    r->add_text(admdvs);
    r->add_text(std::to_string(insutype));
    r->add_int64(0);
    r->add_text(status);
    r->add_int64(1);
    r->add_text("now");
  }

  void store_people(Db& db) {
    static constexpr std::string_view kPersons[] = {"psn_no", "psn_name",  "gend",        "brdy",
                                                    "admdvs", "insutype",  "preexisting", "status",
                                                    "seq",    "updated_at"};
    static constexpr std::string_view kCats[] = {"psn_no", "category", "from_date", "to_date",
                                                 "recorded_at"};
    static constexpr std::string_view kRel[] = {"psn_no", "rel_psn_no", "relation", "recorded_at"};
    static constexpr std::string_view kAcc[] = {"psn_no", "balance_fen", "updated_at"};
    Rows persons(10), cats(5), rel(4), acc(3);
    add_person(&persons, kHolder, "370102", 310);
    add_person(&persons, kSpouse, "370102", 390);
    add_person(&persons, kChild, "370102", 390);
    add_person(&persons, kParent, "370102", 390);
    add_person(&persons, kStranger, "370203", 390);
    add_person(&persons, kPoorHolder, "370303", 310);
    add_person(&persons, kTekun, "370404", 390);
    add_person(&persons, kDibao, "370505", 390);
    add_person(&persons, kEdge, "370606", 390);
    add_person(&persons, kOutside, "110101", 390);
    add_person(&persons, kMoved, "370707", 390, "moved_out");
    add_person(&persons, kRacer, "370808", 310);
    add_person(&persons, kPoverty, "371501", 390);
    add_person(&persons, kAid, "371502", 390);
    for (int i = 1; i <= 4; ++i) add_person(&persons, racer_child(i), "370808", 390);
    auto cat = [&](const std::string& id, std::string_view c, std::string_view from) {
      cats.add_text(id);
      cats.add_text(c);
      cats.add_text(from);
      cats.add_null();
      cats.add_text("now");
    };
    cat(kTekun, "tekun", "1900-01-01");
    cat(kDibao, "dibao", "2023-05-01");
    cat(kEdge, "dibao_edge", "2024-01-01");
    cat(kPoverty, "poverty", "1900-01-01");
    cat(kAid, "instant_aid", "2020-05-01");
    auto relation = [&](const std::string& a, const std::string& b, std::string_view r) {
      rel.add_text(a);
      rel.add_text(b);
      rel.add_text(r);
      rel.add_text("now");
    };
    relation(kHolder, kSpouse, "spouse");
    relation(kSpouse, kHolder, "spouse");
    relation(kChild, kHolder, "parent");   // the holder is the child's parent
    relation(kHolder, kParent, "parent");  // the parent is the holder's parent
    relation(kPoorHolder, kStranger, "spouse");
    for (int i = 1; i <= 4; ++i) relation(kRacer, racer_child(i), "child");
    auto account = [&](const std::string& id, Fen balance) {
      acc.add_text(id);
      acc.add_int64(balance);
      acc.add_text("now");
    };
    account(kHolder, 500'00);
    account(kPoorHolder, 50'00);
    account(kRacer, 250'00);
    Tx tx(db);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(db.insert_rows({"persons", kPersons, ""}, persons).ok());
    ASSERT_TRUE(db.insert_rows({"person_categories", kCats, ""}, cats).ok());
    ASSERT_TRUE(db.insert_rows({"relations", kRel, ""}, rel).ok());
    ASSERT_TRUE(db.insert_rows({"accounts", kAcc, ""}, acc).ok());
    ASSERT_TRUE(tx.commit().ok());
  }

  // Every row a query returns, one line each, columns separated by '|'.
  static std::string dump(Db& db, std::string_view sql) {
    Result<Stmt*> st = db.prepare(sql);
    EXPECT_TRUE(st.ok()) << st.status().to_string();
    if (!st.ok()) return {};
    std::string out;
    for (;;) {
      Result<bool> row = (*st)->step();
      EXPECT_TRUE(row.ok()) << row.status().to_string();
      if (!row.ok() || !*row) break;
      for (int c = 0; c < (*st)->column_count(); ++c)
        out += ((*st)->column_is_null(c) ? "NULL" : std::string((*st)->column_text(c))) + "|";
      out += "\n";
    }
    return out;
  }

  // What enrolment writes, but for its timestamps, in id order; and the
  // id sequences (but the audit log's: an import adds its own row).
  static std::string enrolment_rows(Db& db) {
    return dump(db,
                "SELECT id, psn_no, plan_id, product, begin_date, end_date, prior_years, status, "
                "source, renewal_consent FROM enrollments ORDER BY id") +
           dump(db,
                "SELECT enrollment_id, payer_kind, payer_ref, amount_fen FROM enrollment_payers "
                "ORDER BY enrollment_id, payer_kind, payer_ref") +
           dump(db,
                "SELECT id, enrollment_id, payer_kind, payer_ref, kind, amount_fen, "
                "account_move_id FROM premiums ORDER BY id") +
           dump(db,
                "SELECT id, psn_no, kind, amount_fen, balance_after_fen, ref, detail FROM "
                "account_moves ORDER BY id") +
           dump(db, "SELECT psn_no, balance_fen FROM accounts ORDER BY psn_no") +
           dump(db,
                "SELECT seq, actor, action, psn_no, detail FROM audit_log WHERE action = "
                "'enrol.add' ORDER BY seq") +
           dump(db,
                "SELECT name, next_id FROM id_sequences WHERE name <> 'audit_log' ORDER BY name");
  }

  int64_t count(std::string_view sql) { return query_int(*db_, sql); }

  // Options to import `text` (written to a scratch file) as an employer's
  // group list, paid on `paid_on`.
  EnrolImportOptions group_list(const std::string& text, std::string_view paid_on) {
    EnrolImportOptions o;
    o.path = (dir_ / "group.csv").string();
    std::ofstream(o.path) << text;
    o.paid_on = day(paid_on);
    o.employer = "91370100MA3C4XYZ";
    o.actor = "hr";
    return o;
  }

  // Options to import `text` (written to a scratch file) in batches of 2 rows
  // with lookups of 3 persons, which a few lines cross several times.
  EnrolImportOptions in_small_batches(const std::string& text) {
    EnrolImportOptions o;
    o.path = (dir_ / "rows.csv").string();
    std::ofstream(o.path) << text;
    o.paid_on = day("2024-03-01");
    o.actor = "tester";
    o.batch_rows = 2;
    o.lookup_keys = 3;
    return o;
  }

  Fen balance(const std::string& holder) {
    return count("SELECT balance_fen FROM accounts WHERE psn_no = '" + holder + "'");
  }

  // Every row the enrolment tables and the audit log hold, as one fingerprint.
  std::string written() {
    std::string out;
    for (std::string_view t :
         {"enrollments", "enrollment_payers", "premiums", "account_moves", "audit_log"})
      out += std::string(t) + "=" +
             std::to_string(count("SELECT count(*) FROM " + std::string(t))) + " ";
    out += "balances=" + std::to_string(count("SELECT sum(balance_fen) FROM accounts"));
    return out;
  }

  EnrolReceipt enrol(const std::string& who, std::vector<std::string> payers,
                     std::string_view paid_on = "2024-03-10", bool consent = false,
                     const Plan* plan = nullptr, const std::string* text = nullptr) {
    EnrolRequest r;
    r.psn_no = who;
    r.paid_on = day(paid_on);
    r.renewal_consent = consent;
    r.actor = "tester";
    for (const std::string& p : payers) {
      PayerShare s;
      std::string error;
      EXPECT_TRUE(parse_payer(p, &s, &error)) << error;
      r.payers.push_back(s);
    }
    EnrolReceipt receipt;
    Status s =
        enrol_voluntary(*db_, plan ? *plan : plan_b_, text ? *text : plan_b_text_, r, &receipt);
    EXPECT_TRUE(s.ok()) << s.to_string();
    return receipt;
  }

  // Refused with `code`, and nothing written.
  void expect_refused(const std::string& who, std::vector<std::string> payers, Refusal code,
                      std::string_view paid_on = "2024-03-10") {
    const std::string before = written();
    EnrolReceipt r = enrol(who, std::move(payers), paid_on);
    EXPECT_EQ(refusal_name(r.refusal), refusal_name(code)) << r.message;
    EXPECT_FALSE(r.message.empty());
    EXPECT_EQ(written(), before) << "a refusal writes nothing";
  }

  std::string plan_a_text_, plan_b_text_;
  Plan plan_a_, plan_b_;
  std::unique_ptr<Db> db_;
};

// ---- the rules without the store ----

TEST(EnrolRules, PayersParse) {
  PayerShare p;
  std::string e;
  ASSERT_TRUE(parse_payer("cash:99.00", &p, &e)) << e;
  EXPECT_EQ(p, (PayerShare{PayerKind::kCash, "", 9900}));
  ASSERT_TRUE(parse_payer("personal_account:" + kHolder + ":50.5", &p, &e)) << e;
  EXPECT_EQ(p, (PayerShare{PayerKind::kPersonalAccount, kHolder, 5050}));
  ASSERT_TRUE(parse_payer("employer:91370100MA3C:99", &p, &e)) << e;
  EXPECT_EQ(payer_to_string(p), "employer:91370100MA3C:99.00");
  for (std::string_view bad : {"cash", "cash:x:1.00", "cash:-1", "cash:0", "cash:1.005",
                               "employer:1.00", "employer::1.00", "gold:1.00"}) {
    EXPECT_FALSE(parse_payer(bad, &p, &e)) << bad;
    EXPECT_FALSE(e.empty());
  }
}

TEST(EnrolRules, CoverRefundAndSubsidy) {
  Result<Plan> b =
      load_plan(std::string(HUIBAO_SOURCE_DIR) + "/plans/shandong-2024-huiminbao.toml");
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  const EnrollmentTerms& t = b->products[0].enrollment;
  EXPECT_EQ(cover_begin(*b, t, day("2024-03-10")), day("2024-03-11"));
  EXPECT_EQ(cover_begin(*b, t, day("2023-12-20")), day("2024-01-01"));
  EXPECT_EQ(cover_begin(*b, t, day("2024-12-31")), day("2025-01-01"));  // no cover left

  // Pro rata: full before cover, the remaining days after, half up.
  const Date begin = day("2024-01-02"), end = day("2024-12-31");  // 365 covered days
  EXPECT_EQ(refund_for(RefundRule::kProRata, 9900, begin, end, day("2024-01-01")), 9900);
  EXPECT_EQ(refund_for(RefundRule::kProRata, 9900, begin, end, day("2024-07-01")),
            4964);  // 9900 * 183 / 365 = 4963.56
  EXPECT_EQ(refund_for(RefundRule::kProRata, 9900, begin, end, day("2024-01-02")), 9873);
  EXPECT_EQ(refund_for(RefundRule::kProRata, 9900, begin, end, day("2024-12-31")), 0);
  EXPECT_EQ(refund_for(RefundRule::kBeforeCover, 9900, begin, end, day("2024-01-01")), 9900);
  EXPECT_EQ(refund_for(RefundRule::kBeforeCover, 9900, begin, end, day("2024-01-02")), 0);
  EXPECT_EQ(refund_for(RefundRule::kNone, 9900, begin, end, day("2024-01-01")), 0);

  auto mask = [](std::initializer_list<std::string_view> names) {
    CategoryMask m = 0;
    for (auto n : names) m |= CategoryMask(1) << category_index(n);
    return m;
  };
  const Subsidy* which = nullptr;
  EXPECT_EQ(subsidy_for(t, 9900, 0, &which), 0);
  EXPECT_EQ(which, nullptr);
  EXPECT_EQ(subsidy_for(t, 9900, mask({"poverty"}), nullptr), 0);
  EXPECT_EQ(subsidy_for(t, 9900, mask({"orphan"}), nullptr), 9900);
  EXPECT_EQ(subsidy_for(t, 9900, mask({"dibao"}), nullptr), 4950);
  EXPECT_EQ(subsidy_for(t, 9900, mask({"monitor"}), nullptr), 3000);
  EXPECT_EQ(subsidy_for(t, 9900, mask({"monitor", "severe_disability"}), &which), 4950)
      << "the largest subsidy that applies";
  ASSERT_NE(which, nullptr);
  EXPECT_EQ(which->ref, "hardship_fund");
}

// ---- voluntary enrolment ----

TEST_P(EnrolTest, CashEnrolmentCoversFromTheDayAfterPayment) {
  EnrolReceipt r = enrol(kStranger, {"cash:99.00"});
  ASSERT_EQ(r.refusal, Refusal::kNone) << r.message;
  EXPECT_EQ(r.product, "hmb");
  EXPECT_EQ(r.begin, day("2024-03-11"));
  EXPECT_EQ(r.end, day("2024-12-31"));
  EXPECT_EQ(r.prior_years, 0);
  EXPECT_EQ(count("SELECT count(*) FROM enrollments WHERE status = 'active' AND source = "
                  "'voluntary' AND begin_date = '2024-03-11' AND end_date = '2024-12-31'"),
            1);
  EXPECT_EQ(count("SELECT sum(amount_fen) FROM enrollment_payers WHERE payer_kind = 'cash'"), 9900);
  EXPECT_EQ(count("SELECT sum(amount_fen) FROM premiums WHERE kind = 'charge' AND payer_kind = "
                  "'cash' AND account_move_id IS NULL"),
            9900);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'enrol.add' AND actor = "
                  "'tester' AND psn_no = '" +
                  kStranger + "'"),
            1);
}

TEST_P(EnrolTest, PersonalAccountPaysForHolderSpouseParentAndChild) {
  for (const std::string& who : {kHolder, kSpouse, kParent, kChild}) {
    EnrolReceipt r = enrol(who, {"personal_account:" + kHolder + ":99.00"});
    EXPECT_EQ(r.refusal, Refusal::kNone) << who << ": " << r.message;
  }
  EXPECT_EQ(balance(kHolder), 500'00 - 4 * 99'00);
  // Each debit is an account move, and the balance is the moves' end.
  EXPECT_EQ(count("SELECT count(*) FROM account_moves WHERE kind = 'premium' AND amount_fen = "
                  "-9900 AND psn_no = '" +
                  kHolder + "'"),
            4);
  EXPECT_EQ(count("SELECT min(balance_after_fen) FROM account_moves"), 500'00 - 4 * 99'00);
  EXPECT_EQ(count("SELECT count(*) FROM premiums p JOIN account_moves m ON m.id = "
                  "p.account_move_id WHERE p.payer_kind = 'personal_account' AND p.amount_fen = "
                  "-m.amount_fen"),
            4);
}

TEST_P(EnrolTest, EmployerAndMixedPayers) {
  EnrolReceipt r = enrol(kStranger, {"employer:91370100MA3C4XYZ:99.00"});
  ASSERT_EQ(r.refusal, Refusal::kNone) << r.message;
  EnrolReceipt m = enrol(kSpouse, {"cash:19.00", "employer:91370100MA3C4XYZ:30.00",
                                   "personal_account:" + kHolder + ":50.00"});
  ASSERT_EQ(m.refusal, Refusal::kNone) << m.message;
  ASSERT_EQ(m.payers.size(), 3u);
  EXPECT_EQ(balance(kHolder), 450'00);
  EXPECT_EQ(count("SELECT sum(amount_fen) FROM enrollment_payers WHERE enrollment_id = " +
                  std::to_string(m.enrollment_id)),
            9900);
  EXPECT_EQ(count("SELECT count(*) FROM enrollment_payers WHERE payer_kind = 'employer' AND "
                  "payer_ref = '91370100MA3C4XYZ'"),
            2);
  EXPECT_EQ(count("SELECT sum(amount_fen) FROM premiums WHERE kind = 'charge'"), 2 * 9900);
}

TEST_P(EnrolTest, ChecksRefuseAndWriteNothing) {
  expect_refused(kStranger, {"cash:98.99"}, Refusal::kPayersDoNotSum);
  expect_refused(kStranger, {"cash:50.00", "employer:E1:50.00"}, Refusal::kPayersDoNotSum);
  expect_refused(kStranger, {}, Refusal::kPayersDoNotSum);
  expect_refused(kStranger, {"personal_account:" + kHolder + ":99.00"}, Refusal::kNotARelative);
  expect_refused(kSpouse, {"personal_account:" + kSpouse + ":99.00"},
                 Refusal::kNoPersonalAccount);  // a resident has no personal account
  expect_refused(kStranger, {"personal_account:" + kPoorHolder + ":99.00"},
                 Refusal::kInsufficientBalance);
  // A failing payer after one that would have been debited: still nothing written.
  expect_refused(
      kSpouse,
      {"personal_account:" + kHolder + ":49.00", "personal_account:" + kPoorHolder + ":50.00"},
      Refusal::kNotARelative);
  expect_refused(kStranger, {"cash:99.00"}, Refusal::kOutsideWindow, "2025-01-05");
  expect_refused(kStranger, {"cash:99.00"}, Refusal::kOutsideWindow, "2023-12-31");
  expect_refused(psn("370102", "19990101", 77), {"cash:99.00"}, Refusal::kNotOnRoll);
  expect_refused(kMoved, {"cash:99.00"}, Refusal::kNotActive);
  expect_refused(kOutside, {"cash:99.00"}, Refusal::kOutsideRegion);
  expect_refused(kStranger, {"subsidy:x:99.00"}, Refusal::kPayerNotAccepted);
  expect_refused(kStranger, {"city:x:99.00"}, Refusal::kPayerNotAccepted);
  expect_refused(kStranger, {"cash:49.00", "cash:50.00"}, Refusal::kBadPayer);
  EXPECT_EQ(balance(kHolder), 500'00);
  EXPECT_EQ(balance(kPoorHolder), 50'00);

  ASSERT_EQ(enrol(kStranger, {"cash:99.00"}).refusal, Refusal::kNone);
  expect_refused(kStranger, {"cash:99.00"}, Refusal::kAlreadyEnrolled, "2024-05-01");
  EXPECT_EQ(balance(kPoorHolder), 50'00);
  // The stranger is the poor holder's spouse: 50.00 pays, 49.00 more in cash.
  EXPECT_EQ(enrol(kStranger, {"personal_account:" + kPoorHolder + ":50.00", "cash:49.00"}).refusal,
            Refusal::kAlreadyEnrolled);
}

TEST_P(EnrolTest, TheSubsidyIsComputedFromCategories) {
  EnrolReceipt t = enrol(kTekun, {});
  ASSERT_EQ(t.refusal, Refusal::kNone) << t.message;
  ASSERT_EQ(t.payers.size(), 1u);
  EXPECT_EQ(t.payers[0], (PayerShare{PayerKind::kSubsidy, "hardship_fund", 9900}));
  EnrolReceipt d = enrol(kDibao, {"cash:49.50"});
  ASSERT_EQ(d.refusal, Refusal::kNone) << d.message;
  EXPECT_EQ(d.payers[0], (PayerShare{PayerKind::kSubsidy, "hardship_fund", 4950}));
  expect_refused(kEdge, {"cash:99.00"}, Refusal::kPayersDoNotSum);  // 30.00 is subsidised
  EnrolReceipt e = enrol(kEdge, {"cash:69.00"});
  ASSERT_EQ(e.refusal, Refusal::kNone) << e.message;
  EXPECT_EQ(count("SELECT sum(amount_fen) FROM premiums WHERE payer_kind = 'subsidy'"),
            9900 + 4950 + 3000);
  EXPECT_EQ(count("SELECT sum(amount_fen) FROM premiums"), 3 * 9900);
}

TEST_P(EnrolTest, ConcurrentDebitsOfOneAccountNeverOverdraw) {
  // Four connections enrol four children of one holder at once, each paid
  // from the holder's 250.00: exactly two fit.
  db_.reset();
  std::latch start(4);
  std::vector<EnrolReceipt> receipts(4);
  std::vector<Status> status(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      Result<std::unique_ptr<Db>> db = store::open_db(url_);
      if (!db.ok()) {
        status[size_t(i)] = db.status();
        start.count_down();
        return;
      }
      EnrolRequest r;
      r.psn_no = racer_child(i + 1);
      r.paid_on = day("2024-04-01");
      r.payers = {{PayerKind::kPersonalAccount, kRacer, 9900}};
      r.actor = "racer";
      start.arrive_and_wait();
      status[size_t(i)] = enrol_voluntary(**db, plan_b_, plan_b_text_, r, &receipts[size_t(i)]);
    });
  }
  for (std::thread& t : threads) t.join();
  int enrolled = 0;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(status[size_t(i)].ok()) << status[size_t(i)].to_string();
    if (receipts[size_t(i)].refusal == Refusal::kNone) {
      ++enrolled;
    } else {
      EXPECT_EQ(receipts[size_t(i)].refusal, Refusal::kInsufficientBalance)
          << receipts[size_t(i)].message;
    }
  }
  db_ = open();
  EXPECT_EQ(enrolled, 2);
  EXPECT_EQ(balance(kRacer), 250'00 - 2 * 99'00);
  EXPECT_EQ(count("SELECT count(*) FROM account_moves"), 2);
  EXPECT_EQ(count("SELECT min(balance_after_fen) FROM account_moves"), 250'00 - 2 * 99'00);
  EXPECT_EQ(count("SELECT count(*) FROM enrollments"), 2);
}

// ---- cancellation ----

TEST_P(EnrolTest, CancellationRefundsByThePlanRuleAndRestoresTheAccount) {
  // Before cover begins: everything back.
  ASSERT_EQ(enrol(kStranger, {"cash:99.00"}, "2024-03-10").refusal, Refusal::kNone);
  CancelRequest c{kStranger, "", day("2024-03-10"), "tester"};
  CancelReceipt before;
  ASSERT_TRUE(cancel_enrolment(*db_, plan_b_, c, &before).ok());
  ASSERT_EQ(before.refusal, Refusal::kNone) << before.message;
  EXPECT_TRUE(before.before_cover);
  EXPECT_EQ(before.refunded_fen, 9900);
  EXPECT_EQ(count("SELECT count(*) FROM enrollments WHERE status = 'cancelled' AND cancelled_at "
                  "IS NOT NULL"),
            1);
  // Cancelled: the person may enrol again.
  ASSERT_EQ(enrol(kStranger, {"cash:99.00"}, "2024-03-20").refusal, Refusal::kNone);

  // After cover began: by the remaining days, back into the personal account.
  ASSERT_EQ(enrol(kHolder, {"personal_account:" + kHolder + ":60.00", "cash:39.00"}, "2024-01-01")
                .refusal,
            Refusal::kNone);
  EXPECT_EQ(balance(kHolder), 440'00);
  CancelReceipt after;
  ASSERT_TRUE(
      cancel_enrolment(*db_, plan_b_, {kHolder, "hmb", day("2024-07-01"), "tester"}, &after).ok());
  ASSERT_EQ(after.refusal, Refusal::kNone) << after.message;
  EXPECT_FALSE(after.before_cover);
  EXPECT_EQ(after.end, day("2024-07-01"));
  // 183 of 365 covered days remain: 60.00 -> 30.08, 39.00 -> 19.55 (half up).
  ASSERT_EQ(after.refunds.size(), 2u);
  EXPECT_EQ(after.refunds[0], (PayerShare{PayerKind::kCash, "", 1955}));
  EXPECT_EQ(after.refunds[1], (PayerShare{PayerKind::kPersonalAccount, kHolder, 3008}));
  EXPECT_EQ(balance(kHolder), 440'00 + 30'08);
  EXPECT_EQ(count("SELECT count(*) FROM account_moves WHERE kind = 'refund' AND amount_fen = 3008 "
                  "AND balance_after_fen = 47008"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM premiums p JOIN account_moves m ON m.id = "
                  "p.account_move_id WHERE p.kind = 'refund'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM enrollments WHERE psn_no = '" + kHolder +
                  "' AND status = 'cancelled' AND end_date = '2024-07-01'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'enrol.cancel'"), 2);

  const std::string was = written();
  CancelReceipt again;
  ASSERT_TRUE(
      cancel_enrolment(*db_, plan_b_, {kHolder, "", day("2024-07-02"), "tester"}, &again).ok());
  EXPECT_EQ(again.refusal, Refusal::kNotEnrolled);
  ASSERT_TRUE(
      cancel_enrolment(*db_, plan_a_, {kPoverty, "fupin_medical", day("2020-07-02"), "t"}, &again)
          .ok());
  EXPECT_EQ(again.refusal, Refusal::kNotCancellable);
  EXPECT_EQ(written(), was);
}

// ---- renewal and prior_years ----

TEST_P(EnrolTest, RenewalByConsentDeductsFromTheAccountAndSkipsShortBalances) {
  ASSERT_EQ(enrol(kHolder, {"personal_account:" + kHolder + ":99.00"}, "2024-02-01", true).refusal,
            Refusal::kNone);
  ASSERT_EQ(
      enrol(kSpouse, {"personal_account:" + kHolder + ":49.00", "cash:50.00"}, "2024-02-01", true)
          .refusal,
      Refusal::kNone);
  ASSERT_EQ(enrol(kStranger, {"personal_account:" + kPoorHolder + ":50.00", "cash:49.00"},
                  "2024-02-01", true)
                .refusal,
            Refusal::kNone);  // 0.00 left: next year is short
  ASSERT_EQ(enrol(kChild, {"cash:99.00"}, "2024-02-01", true).refusal, Refusal::kNone);
  ASSERT_EQ(enrol(kTekun, {}, "2024-02-01", true).refusal, Refusal::kNone);
  ASSERT_EQ(enrol(kParent, {"personal_account:" + kHolder + ":99.00"}, "2024-02-01").refusal,
            Refusal::kNone);  // no consent
  EXPECT_EQ(balance(kHolder), 500'00 - 99'00 - 49'00 - 99'00);

  const std::string next_text = plan_b_text_for(2025, 109);
  const Plan next = plan_of(next_text);
  RenewReport report;
  ASSERT_TRUE(
      renew_enrolments(*db_, plan_b_, next, next_text, {day("2024-12-15"), "renewal"}, &report)
          .ok());
  ASSERT_EQ(report.renewed.size(), 3u) << report.to_text();
  ASSERT_EQ(report.skipped.size(), 2u) << report.to_text();
  auto item = [](const std::vector<RenewReport::Item>& v, const std::string& who) {
    auto it = std::find_if(v.begin(), v.end(), [&](const auto& i) { return i.psn_no == who; });
    return it == v.end() ? RenewReport::Item{} : *it;
  };
  // The whole new premium from the account that paid (all of it, also for the spouse).
  EXPECT_EQ(item(report.renewed, kHolder).payers,
            (std::vector<PayerShare>{{PayerKind::kPersonalAccount, kHolder, 10900}}));
  EXPECT_EQ(item(report.renewed, kSpouse).payers,
            (std::vector<PayerShare>{{PayerKind::kPersonalAccount, kHolder, 10900}}));
  EXPECT_EQ(item(report.renewed, kTekun).payers,
            (std::vector<PayerShare>{{PayerKind::kSubsidy, "hardship_fund", 10900}}));
  EXPECT_EQ(item(report.skipped, kStranger).refusal, Refusal::kInsufficientBalance);
  EXPECT_EQ(item(report.skipped, kChild).refusal, Refusal::kNoAutomaticPayer);
  EXPECT_EQ(balance(kHolder), 500'00 - 99'00 - 49'00 - 99'00 - 2 * 109'00);
  EXPECT_EQ(balance(kPoorHolder), 0);
  EXPECT_EQ(count("SELECT count(*) FROM enrollments WHERE plan_id = 'city-2025' AND begin_date = "
                  "'2025-01-01' AND prior_years = 1 AND renewal_consent = 1"),
            3);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'enrol.renew'"), 3);

  // A rerun renews nobody twice.
  const std::string was = written();
  RenewReport again;
  ASSERT_TRUE(
      renew_enrolments(*db_, plan_b_, next, next_text, {day("2024-12-16"), "renewal"}, &again)
          .ok());
  EXPECT_EQ(again.renewed.size(), 0u);
  EXPECT_EQ(item(again.skipped, kHolder).refusal, Refusal::kAlreadyEnrolled);
  EXPECT_EQ(written(), was);

  // Plans that do not follow each other are refused.
  EXPECT_EQ(
      renew_enrolments(*db_, next, plan_b_, plan_b_text_, {day("2024-12-16"), "x"}, &again).code(),
      Code::kPlanInvalid);
}

TEST_P(EnrolTest, PriorYearsCountConsecutiveYearsOfTheProductLine) {
  const std::string t25 = plan_b_text_for(2025, 99), t26 = plan_b_text_for(2026, 99),
                    t27 = plan_b_text_for(2027, 99);
  const Plan p25 = plan_of(t25), p26 = plan_of(t26), p27 = plan_of(t27);
  // The holder every year; the stranger in 2024 and 2026 only.
  EXPECT_EQ(enrol(kHolder, {"cash:99.00"}, "2024-03-01").prior_years, 0);
  EXPECT_EQ(enrol(kHolder, {"cash:99.00"}, "2025-03-01", false, &p25, &t25).prior_years, 1);
  EXPECT_EQ(enrol(kHolder, {"cash:99.00"}, "2026-03-01", false, &p26, &t26).prior_years, 2);
  EXPECT_EQ(enrol(kHolder, {"cash:99.00"}, "2027-03-01", false, &p27, &t27).prior_years, 3);
  EXPECT_EQ(enrol(kStranger, {"cash:99.00"}, "2024-03-01").prior_years, 0);
  EXPECT_EQ(enrol(kStranger, {"cash:99.00"}, "2026-03-01", false, &p26, &t26).prior_years, 0);
  // A cancelled year does not count.
  EXPECT_EQ(enrol(kSpouse, {"cash:99.00"}, "2024-03-01").prior_years, 0);
  CancelReceipt c;
  ASSERT_TRUE(cancel_enrolment(*db_, plan_b_, {kSpouse, "", day("2024-03-01"), "t"}, &c).ok());
  ASSERT_EQ(c.refusal, Refusal::kNone);
  EXPECT_EQ(enrol(kSpouse, {"cash:99.00"}, "2025-03-01", false, &p25, &t25).prior_years, 0);
}

// ---- the engine sees what was enrolled ----

TEST_P(EnrolTest, TheEngineCoversEnrolledPersonsAndNotCancelledOnes) {
  ASSERT_EQ(enrol(kStranger, {"cash:99.00"}, "2024-03-10").refusal, Refusal::kNone);
  ASSERT_EQ(enrol(kSpouse, {"cash:99.00"}, "2024-03-10").refusal, Refusal::kNone);
  CancelReceipt c;
  ASSERT_TRUE(cancel_enrolment(*db_, plan_b_, {kSpouse, "", day("2024-03-10"), "t"}, &c).ok());
  ASSERT_EQ(c.refusal, Refusal::kNone);
  Roll roll;
  ASSERT_TRUE(load_roll(*db_, plan_b_, &roll).ok());
  const int out = plan_b_.find_layer("hmb_out");
  ASSERT_GE(out, 0);
  auto settle = [&](const std::string& who, std::string_view admitted) {
    const int64_t p = roll.find(who);
    EXPECT_GE(p, 0);
    MedicalClaim claim;
    claim.med_type = 21;
    claim.hosp_lv = 2;
    claim.begndate = claim.enddate = day(admitted);
    claim.amount[kMedfeeSumamt] = 50'000'00;
    claim.amount[kFulamtOwnpayAmt] = 50'000'00;
    YearState state;
    MedicalResult r = settle_medical(plan_b_, roll, roll.person(size_t(p)), claim, &state, nullptr);
    EXPECT_EQ(r.code, Code::kOk);
    return r.pay[size_t(out)];
  };
  // 50,000 out of catalogue, less the 15,000 deductible, at 70 %.
  EXPECT_EQ(settle(kStranger, "2024-06-01"), 24'500'00);
  EXPECT_EQ(settle(kStranger, "2024-03-10"), 0) << "the day of payment is not yet covered";
  EXPECT_EQ(settle(kStranger, "2024-03-11"), 24'500'00);
  EXPECT_EQ(settle(kSpouse, "2024-06-01"), 0) << "cancelled";
}

// ---- the CSV batch ----

TEST_P(EnrolTest, ImportIsAllOrNothingWithEveryBadRowListed) {
  const fs::path bad = dir_ / "bad.csv";
  std::ofstream(bad) << "psn_no,payers,date,renewal_consent\n"
                     << kStranger << ",cash:99.00,,1\n"
                     << psn("370102", "19990101", 77) << ",cash:99.00,,\n"  // not on the roll
                     << kSpouse << ",personal_account:" << kHolder << ":99.00,2024-04-01,0\n"
                     << kChild << ",cash:90.00,,\n"             // does not sum
                     << kParent << ",cash:99.00,2024-13-01,\n"  // bad date
                     << kStranger << ",cash:99.00,,\n"          // twice in the file
                     << kTekun << ",,,\n";
  EnrolImportOptions o;
  o.path = bad.string();
  o.paid_on = day("2024-03-01");
  o.actor = "tester";
  const std::string before = written();
  EnrolImportReport report;
  Status s = import_enrolments(*db_, plan_b_, plan_b_text_, o, &report);
  EXPECT_EQ(s.code(), Code::kRollInvalid);
  ASSERT_EQ(report.errors.size(), 4u) << report.to_text();
  EXPECT_EQ(report.errors[0].line, 3u);
  EXPECT_EQ(report.errors[0].refusal, Refusal::kNotOnRoll);
  EXPECT_EQ(report.errors[1].line, 5u);
  EXPECT_EQ(report.errors[1].refusal, Refusal::kPayersDoNotSum);
  EXPECT_EQ(report.errors[2].line, 6u);
  EXPECT_EQ(report.errors[2].refusal, Refusal::kNone);
  EXPECT_EQ(report.errors[3].line, 7u);
  EXPECT_EQ(report.errors[3].refusal, Refusal::kAlreadyEnrolled);
  EXPECT_FALSE(report.committed);
  EXPECT_EQ(written(), before);

  // The good rows: a dry run writes nothing, the import writes them all.
  const fs::path good = dir_ / "good.csv";
  std::ofstream(good) << "psn_no,payers,date,renewal_consent\n"
                      << kStranger << ",cash:99.00,,1\n"
                      << kSpouse << ",personal_account:" << kHolder << ":99.00,2024-04-01,0\n"
                      << kTekun << ",,,\n";
  o.path = good.string();
  o.dry_run = true;
  ASSERT_TRUE(import_enrolments(*db_, plan_b_, plan_b_text_, o, &report).ok()) << report.to_text();
  EXPECT_EQ(report.enrolled, 3);
  EXPECT_FALSE(report.committed);
  EXPECT_EQ(written(), before);
  o.dry_run = false;
  ASSERT_TRUE(import_enrolments(*db_, plan_b_, plan_b_text_, o, &report).ok()) << report.to_text();
  EXPECT_TRUE(report.committed);
  EXPECT_EQ(report.enrolled, 3);
  EXPECT_EQ(report.premium_fen, 3 * 9900);
  EXPECT_EQ(report.by_payer_fen[size_t(PayerKind::kSubsidy)], 9900);
  EXPECT_EQ(count("SELECT count(*) FROM enrollments WHERE renewal_consent = 1"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM enrollments WHERE begin_date = '2024-04-02'"), 1);
  EXPECT_EQ(balance(kHolder), 401'00);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'enrol.import'"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'enrol.add'"), 3);
}

// The rows of a file whose checks depend on the lines above them: accounts
// paying several lines (one line finds the balance the lines above left),
// a person twice, subsidies, mixed payers.
std::string interdependent_rows() {
  const std::string pa = "personal_account:" + kHolder;
  std::ostringstream f;
  f << "psn_no,payers,date,renewal_consent\n"
    << kHolder << "," << pa << ":99.00,2024-02-01,1\n"
    << kSpouse << "," << pa << ":49.00;cash:50.00,2024-02-02,0\n"
    << kTekun << ",,2024-02-03,\n"
    << kChild << "," << pa << ":99.00,,1\n"
    << kDibao << ",employer:91370100MA3C4XYZ:49.50,,\n"
    << kParent << "," << pa << ":99.00,2024-03-05,\n"
    << kStranger << ",personal_account:" << kPoorHolder << ":50.00;cash:49.00,,\n"
    << kEdge << ",cash:69.00,2024-04-01,\n"
    << kRacer << ",personal_account:" << kRacer << ":99.00,,\n"
    << racer_child(1) << ",personal_account:" << kRacer << ":99.00,,\n"
    << kPoverty << ",cash:99.00,,\n";
  return f.str();
}

TEST_P(EnrolTest, AnImportWritesWhatEnrollingEachRowInTurnWrites) {
  // The holder's 500.00 pays 99 + 49 + 99 + 99: 154.00 left; the racer's
  // 250.00 pays two lines.
  EnrolImportOptions o = in_small_batches(interdependent_rows());
  EnrolImportReport report;
  ASSERT_TRUE(import_enrolments(*db_, plan_b_, plan_b_text_, o, &report).ok()) << report.to_text();
  EXPECT_EQ(report.enrolled, 11);
  EXPECT_EQ(balance(kHolder), 500'00 - 99'00 - 49'00 - 99'00 - 99'00);
  EXPECT_EQ(balance(kRacer), 250'00 - 2 * 99'00);
  EXPECT_EQ(balance(kPoorHolder), 0);

  // The same rows, each enrolled alone, in order, into a twin store.
  std::unique_ptr<Db> twin = open_twin();
  ASSERT_NE(twin, nullptr);
  std::istringstream lines(interdependent_rows());
  std::string line;
  std::getline(lines, line);  // the header
  while (std::getline(lines, line)) {
    std::vector<std::string> f(4);
    for (size_t i = 0, at = 0; i < 4; ++i) {
      const size_t comma = std::min(line.find(',', at), line.size());
      f[i] = line.substr(at, comma - at);
      at = comma + 1;
    }
    EnrolRequest r;
    r.psn_no = f[0];
    r.paid_on = day(f[2].empty() ? "2024-03-01" : f[2]);
    r.renewal_consent = f[3] == "1";
    r.actor = "tester";
    for (size_t at = 0; at < f[1].size();) {
      const size_t semi = std::min(f[1].find(';', at), f[1].size());
      PayerShare p;
      std::string error;
      ASSERT_TRUE(parse_payer(f[1].substr(at, semi - at), &p, &error)) << error;
      r.payers.push_back(p);
      at = semi + 1;
    }
    EnrolReceipt receipt;
    ASSERT_TRUE(enrol_voluntary(*twin, plan_b_, plan_b_text_, r, &receipt).ok());
    ASSERT_EQ(receipt.refusal, Refusal::kNone) << line << ": " << receipt.message;
  }
  EXPECT_EQ(enrolment_rows(*db_), enrolment_rows(*twin));

  // Imported again: every line is already enrolled, and nothing changes.
  const std::string once = written();
  o.batch_rows = 4096;
  o.lookup_keys = 500;
  EXPECT_EQ(import_enrolments(*db_, plan_b_, plan_b_text_, o, &report).code(), Code::kRollInvalid);
  ASSERT_EQ(report.errors.size(), 11u) << report.to_text();
  for (const EnrolImportRowError& e : report.errors)
    EXPECT_EQ(e.refusal, Refusal::kAlreadyEnrolled) << e.line << ": " << e.message;
  EXPECT_EQ(written(), once);
}

TEST_P(EnrolTest, ABadLastRowLeavesNothingOfTheBatchesWrittenBeforeIt) {
  // The lines above leave the racer 52.00: the last line asks for 99.00.
  EnrolImportOptions o =
      in_small_batches(interdependent_rows() + kHolder + ",cash:99.00\n" + racer_child(2) +
                       ",personal_account:" + kRacer + ":99.00,,\n");
  const std::string before = written() + enrolment_rows(*db_);
  EnrolImportReport report;
  EXPECT_EQ(import_enrolments(*db_, plan_b_, plan_b_text_, o, &report).code(), Code::kRollInvalid);
  ASSERT_EQ(report.errors.size(), 2u) << report.to_text();
  EXPECT_EQ(report.errors[0].line, 13u);
  EXPECT_EQ(report.errors[0].refusal, Refusal::kNone) << report.errors[0].message;  // 2 fields
  EXPECT_EQ(report.errors[1].line, 14u);
  EXPECT_EQ(report.errors[1].refusal, Refusal::kInsufficientBalance) << report.errors[1].message;
  EXPECT_EQ(report.enrolled, 0);
  EXPECT_FALSE(report.committed);
  EXPECT_EQ(written() + enrolment_rows(*db_), before);

  // Only the last line bad: five batches were written, and all roll back.
  std::ofstream(o.path) << interdependent_rows() << racer_child(2) << ",personal_account:" << kRacer
                        << ":99.00,,\n";
  EXPECT_EQ(import_enrolments(*db_, plan_b_, plan_b_text_, o, &report).code(), Code::kRollInvalid);
  ASSERT_EQ(report.errors.size(), 1u) << report.to_text();
  EXPECT_EQ(report.errors[0].line, 13u);
  EXPECT_EQ(report.errors[0].refusal, Refusal::kInsufficientBalance);
  EXPECT_EQ(written() + enrolment_rows(*db_), before);

  // A person on two lines: the second names the first.
  std::ofstream(o.path) << "psn_no,payers\n"
                        << kStranger << ",cash:99.00\n"
                        << kSpouse << ",cash:99.00\n"
                        << kStranger << ",cash:99.00\n";
  EXPECT_EQ(import_enrolments(*db_, plan_b_, plan_b_text_, o, &report).code(), Code::kRollInvalid);
  ASSERT_EQ(report.errors.size(), 1u) << report.to_text();
  EXPECT_EQ(report.errors[0].line, 4u);
  EXPECT_EQ(report.errors[0].refusal, Refusal::kAlreadyEnrolled);
  EXPECT_NE(report.errors[0].message.find("(line 2 of this file)"), std::string::npos)
      << report.errors[0].message;
  EXPECT_EQ(written() + enrolment_rows(*db_), before);
}

TEST_P(EnrolTest, AnImportLargerThanABatchAndALookupAtTheDefaultSizes) {
  // 4,500 persons, more than a batch (4,096) and many lookups (500); every
  // third an employee paying from an account, the rest by the employer.
  constexpr int kPersons = 4'500;
  static constexpr std::string_view kPersonCols[] = {"psn_no", "psn_name",  "gend",        "brdy",
                                                     "admdvs", "insutype",  "preexisting", "status",
                                                     "seq",    "updated_at"};
  static constexpr std::string_view kAccountCols[] = {"psn_no", "balance_fen", "updated_at"};
  Rows persons(10), accounts(3);
  std::ostringstream file;
  file << "psn_no,payers\n";
  for (int i = 0; i < kPersons; ++i) {
    const std::string id = psn("370103", "1980010" + std::to_string(1 + i / 1000), i % 1000);
    const bool employee = i % 3 == 0;
    add_person(&persons, id, "370103", employee ? 310 : 390);
    if (employee) {
      accounts.add_text(id);
      accounts.add_int64(100'00 + i);
      accounts.add_text("now");
    }
    file << id << "," << (employee ? "personal_account:" + id + ":99.00" : "") << "\n";
  }
  {
    Tx tx(*db_);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(db_->insert_rows({"persons", kPersonCols, ""}, persons).ok());
    ASSERT_TRUE(db_->insert_rows({"accounts", kAccountCols, ""}, accounts).ok());
    ASSERT_TRUE(tx.commit().ok());
  }
  EnrolImportOptions o = group_list(file.str(), "2024-01-15");
  EnrolImportReport report;
  o.dry_run = true;
  ASSERT_TRUE(import_enrolments(*db_, plan_b_, plan_b_text_, o, &report).ok()) << report.to_text();
  EXPECT_EQ(report.enrolled, kPersons);
  EXPECT_EQ(count("SELECT count(*) FROM enrollments"), 0);
  o.dry_run = false;
  ASSERT_TRUE(import_enrolments(*db_, plan_b_, plan_b_text_, o, &report).ok()) << report.to_text();
  EXPECT_EQ(report.enrolled, kPersons);
  constexpr int kEmployees = (kPersons + 2) / 3;
  EXPECT_EQ(report.by_payer_fen[size_t(PayerKind::kPersonalAccount)], kEmployees * 99'00);
  EXPECT_EQ(report.by_payer_fen[size_t(PayerKind::kEmployer)], (kPersons - kEmployees) * 99'00);
  // Ids are consecutive and each row is where it belongs.
  EXPECT_EQ(count("SELECT count(*) FROM enrollments"), kPersons);
  EXPECT_EQ(count("SELECT max(id) - min(id) + 1 FROM enrollments"), kPersons);
  EXPECT_EQ(count("SELECT count(DISTINCT psn_no) FROM enrollments"), kPersons);
  EXPECT_EQ(count("SELECT count(*) FROM premiums p JOIN enrollments e ON e.id = p.enrollment_id "
                  "JOIN enrollment_payers y ON y.enrollment_id = e.id AND y.payer_kind = "
                  "p.payer_kind AND y.payer_ref = p.payer_ref AND y.amount_fen = p.amount_fen"),
            kPersons);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log a JOIN enrollments e ON a.psn_no = e.psn_no "
                  "WHERE a.action = 'enrol.add'"),
            kPersons);
  // Every account paid once, and its move says what is left.
  EXPECT_EQ(count("SELECT count(*) FROM account_moves m JOIN accounts a ON a.psn_no = m.psn_no "
                  "JOIN premiums p ON p.account_move_id = m.id WHERE m.amount_fen = -9900 AND "
                  "m.balance_after_fen = a.balance_fen AND p.payer_ref = m.psn_no AND "
                  "m.ref = 'enrollment:' || p.enrollment_id"),
            kEmployees);
  EXPECT_EQ(count("SELECT sum(balance_fen) FROM accounts WHERE psn_no LIKE '370103%'"),
            kEmployees * (100'00 - 99'00) + (kPersons - 1) / 3 * ((kPersons - 1) / 3 + 1) / 2 * 3);
}

TEST_P(EnrolTest, AnEmployersGroupListPaysWhatTheSubsidyLeaves) {
  EnrolImportOptions o =
      group_list("psn_no\n" + kStranger + "\n" + kDibao + "\n" + kTekun + "\n", "2024-02-01");
  EnrolImportReport report;
  ASSERT_TRUE(import_enrolments(*db_, plan_b_, plan_b_text_, o, &report).ok()) << report.to_text();
  EXPECT_EQ(report.by_payer_fen[size_t(PayerKind::kEmployer)], 9900 + 4950);
  EXPECT_EQ(report.by_payer_fen[size_t(PayerKind::kSubsidy)], 4950 + 9900);
  EXPECT_EQ(count("SELECT count(*) FROM enrollment_payers WHERE payer_kind = 'employer' AND "
                  "payer_ref = '91370100MA3C4XYZ'"),
            2);
}

// ---- automatic enrolment ----

TEST_P(EnrolTest, AutomaticEnrolmentFromCategoriesIsIdempotent) {
  AutoEnrolReport r;
  ASSERT_TRUE(enrol_automatic(*db_, plan_a_, plan_a_text_, {"auto"}, &r).ok());
  ASSERT_EQ(r.products.size(), 2u);
  EXPECT_EQ(r.products[0].created, 2) << r.to_text();
  EXPECT_EQ(r.products[1].created, 2) << r.to_text();
  EXPECT_EQ(r.products[0].charged_fen, 2 * 110'00);
  EXPECT_EQ(count("SELECT count(*) FROM enrollments WHERE source = 'auto' AND psn_no = '" +
                  kPoverty + "' AND begin_date = '2020-01-01' AND end_date = '2020-12-31'"),
            2);
  EXPECT_EQ(count("SELECT count(*) FROM enrollments WHERE source = 'auto' AND psn_no = '" + kAid +
                  "' AND begin_date = '2020-05-01' AND end_date = '2020-12-31'"),
            2)
      << "instant aid: covered from the day added";
  EXPECT_EQ(count("SELECT sum(amount_fen) FROM premiums WHERE payer_kind = 'provincial'"),
            2 * 100'00 + 2 * 10'00);
  EXPECT_EQ(count("SELECT sum(amount_fen) FROM premiums WHERE payer_kind = 'city'"), 2 * 10'00);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'enrol.auto'"), 4);

  const std::string once = written();
  ASSERT_TRUE(enrol_automatic(*db_, plan_a_, plan_a_text_, {"auto"}, &r).ok());
  EXPECT_EQ(r.products[0].created + r.products[0].changed + r.products[0].cancelled, 0);
  EXPECT_EQ(r.products[0].unchanged, 2);
  EXPECT_EQ(written(), once) << "a second run changes nothing";

  // The roll changes: someone added mid-year, an earlier date, a removed category.
  static constexpr std::string_view kCats[] = {"psn_no", "category", "from_date", "recorded_at"};
  Rows cats(4);
  for (auto [who, from] : {std::pair{kStranger, "2020-08-15"}, {kAid, "2020-03-01"}}) {
    cats.add_text(who);
    cats.add_text("instant_aid");
    cats.add_text(from);
    cats.add_text("now");
  }
  ASSERT_TRUE(db_->insert_rows({"person_categories", kCats, ""}, cats).ok());
  ASSERT_TRUE(db_->exec("DELETE FROM person_categories WHERE psn_no = '" + kPoverty + "'").ok());
  ASSERT_TRUE(enrol_automatic(*db_, plan_a_, plan_a_text_, {"auto"}, &r).ok());
  EXPECT_EQ(r.products[0].created, 1) << r.to_text();
  EXPECT_EQ(r.products[0].changed, 1);
  EXPECT_EQ(r.products[0].cancelled, 1);
  EXPECT_EQ(r.products[0].refunded_fen, 110'00);
  EXPECT_EQ(count("SELECT count(*) FROM enrollments WHERE source = 'auto' AND psn_no = '" +
                  kStranger + "' AND begin_date = '2020-08-15' AND status = 'active'"),
            2);
  EXPECT_EQ(count("SELECT count(*) FROM enrollments WHERE psn_no = '" + kAid +
                  "' AND begin_date = '2020-03-01'"),
            2);
  EXPECT_EQ(count("SELECT count(*) FROM enrollments WHERE psn_no = '" + kPoverty +
                  "' AND status = 'cancelled'"),
            2);
  EXPECT_EQ(count("SELECT sum(CASE WHEN kind = 'charge' THEN amount_fen ELSE -amount_fen END) "
                  "FROM premiums"),
            2 * (110'00 + 10'00));
  const std::string twice = written();
  ASSERT_TRUE(enrol_automatic(*db_, plan_a_, plan_a_text_, {"auto"}, &r).ok());
  EXPECT_EQ(written(), twice);

  // Voluntary enrolment into an automatic product is refused.
  EnrolRequest q{kTekun, "fupin_medical", day("2020-03-01"), {}, "", false, "t"};
  EnrolReceipt receipt;
  ASSERT_TRUE(enrol_voluntary(*db_, plan_a_, plan_a_text_, q, &receipt).ok());
  EXPECT_EQ(receipt.refusal, Refusal::kNoEnrollmentTerms);
}

TEST_P(EnrolTest, AutomaticCoverEndsWithTheCategoryWhenThePlanSaysSo) {
  std::string text = plan_a_text_;
  text = replaced(text, "cover_ends = \"period_end\"", "cover_ends = \"category_end\"");
  text = replaced(text, "cover_ends = \"period_end\"", "cover_ends = \"category_end\"");
  const Plan plan = plan_of(text);
  ASSERT_TRUE(
      db_->exec("UPDATE person_categories SET to_date = '2020-06-30' WHERE psn_no = '" + kAid + "'")
          .ok());
  AutoEnrolReport r;
  ASSERT_TRUE(enrol_automatic(*db_, plan, text, {"auto"}, &r).ok());
  EXPECT_EQ(count("SELECT count(*) FROM enrollments WHERE psn_no = '" + kAid +
                  "' AND begin_date = '2020-05-01' AND end_date = '2020-06-30'"),
            2);
  EXPECT_EQ(count("SELECT count(*) FROM enrollments WHERE psn_no = '" + kPoverty +
                  "' AND end_date = '2020-12-31'"),
            2);
  // The engine: covered through the category's last day, not after.
  Roll roll;
  ASSERT_TRUE(load_roll(*db_, plan, &roll).ok());
  const Person& aid = roll.person(size_t(roll.find(kAid)));
  const int medical = plan.find_product("fupin_medical");
  EXPECT_FALSE(coverage_on(plan, roll, aid, medical, day("2020-04-30")).covered);
  EXPECT_TRUE(coverage_on(plan, roll, aid, medical, day("2020-06-30")).covered);
  EXPECT_FALSE(coverage_on(plan, roll, aid, medical, day("2020-07-01")).covered);
}

INSTANTIATE_TEST_SUITE_P(Engines, EnrolTest, ::testing::Values(Engine::kSqlite, Engine::kPostgres),
                         [](const auto& i) { return store::engine_name(i.param); });

}  // namespace
}  // namespace huibao

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new huibao::pgtest::PgEnvironment("/postgres"));
  return RUN_ALL_TESTS();
}
