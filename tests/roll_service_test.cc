// The roll services (service/roll_service.h) over SQLite and PostgreSQL:
// import (round trip against Roll::load_persons_csv, dry run, all or nothing,
// history on re-import, full imports, relations and accounts), export (CSV
// round trip, XLSX, settlements) and person show (masking, audit rows).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/category.h"
#include "core/csv.h"
#include "gen/generator.h"
#include "policy/plan.h"
#include "policy/roll.h"
#include "service/import_files.h"
#include "service/roll_load.h"
#include "service/roll_service.h"
#include "service/settle_service.h"
#include "store/migrate.h"
#include "store_fixture.h"
#include "test_files.h"

namespace fs = std::filesystem;

namespace huibao {
namespace {

using store::Db;
using store::query_int;
using namespace testing_files;
using store::Engine;
using store::Stmt;

// Rows of a query, each as its columns joined by '|' (NULL as "-").
std::vector<std::string> query_rows(Db& db, const std::string& sql) {
  std::vector<std::string> out;
  Result<Stmt*> st = db.prepare(sql);
  EXPECT_TRUE(st.ok()) << st.status().to_string();
  if (!st.ok()) return out;
  for (;;) {
    Result<bool> row = (*st)->step();
    EXPECT_TRUE(row.ok()) << row.status().to_string();
    if (!row.ok() || !*row) break;
    std::string r;
    for (int c = 0; c < (*st)->column_count(); ++c) {
      if (c > 0) r += '|';
      r += (*st)->column_is_null(c) ? std::string("-") : std::string((*st)->column_text(c));
    }
    out.push_back(r);
  }
  return out;
}

// A person as the engine sees them, categories by index with the day each
// takes effect (undated as 1900-01-01, which is how the store keeps it).
std::map<std::string, std::string> persons_of(const Roll& roll) {
  std::map<std::string, std::string> out;
  const Date undated = date_from_ymd(1900, 1, 1);
  for (size_t i = 0; i < roll.size(); ++i) {
    const Person& p = roll.person(i);
    std::set<std::string> cats;
    for (uint8_t k = 0; k < p.category_count; ++k) {
      const PersonCategory& c = p.categories[k];
      cats.insert(
          std::string(category_name(c.index)) + "@" + date_to_string(c.dated ? c.from : undated) +
          (c.until.days == PersonCategory::kDateOpenEnded ? "" : ".." + date_to_string(c.until)));
    }
    std::string s = p.name + "|" + p.gend + "|" + date_to_string(p.brdy) + "|" +
                    std::to_string(p.admdvs) + "|" + std::to_string(p.insutype) + "|" +
                    (p.preexisting ? "1" : "0") + "|";
    for (const std::string& c : cats) s += c + ";";
    out[std::string(p.id())] = s;
  }
  return out;
}

constexpr std::string_view kHeader =
    "psn_no,psn_name,gend,brdy,admdvs,insutype,categories,preexisting\n";
// Valid resident ids (GB 11643), born 1980-01-01.. in Jinan.
constexpr const char* kA = "370102198001011237";
constexpr const char* kB = "370102198001021232";
constexpr const char* kC = "370102198001031238";
constexpr const char* kD = "370102198001041233";

class RollServiceTest : public store::EngineTest {
 protected:
  void SetUp() override {
    store::EngineTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    db_ = open();
    ASSERT_NE(db_, nullptr);
  }

  fs::path file(const std::string& name, const std::string& text) {
    fs::path p = dir_ / name;
    spit(p, text);
    return p;
  }

  Status import(const fs::path& persons, const std::string& as_of, ImportReport* report,
                bool dry_run = false, bool full = false, const fs::path& relations = {},
                const fs::path& accounts = {}) {
    RollImportOptions o;
    o.persons_path = persons.string();
    o.relations_path = relations.string();
    o.accounts_path = accounts.string();
    EXPECT_TRUE(parse_date(as_of, &o.as_of));
    o.dry_run = dry_run;
    o.full = full;
    o.actor = "tester";
    return import_roll(*db_, o, report);
  }

  int64_t count(const std::string& table) {
    return query_int(*db_, "SELECT count(*) FROM " + table);
  }

  Plan plan_b() {
    Result<Plan> plan =
        load_plan(std::string(HUIBAO_SOURCE_DIR) + "/plans/shandong-2024-huiminbao.toml");
    EXPECT_TRUE(plan.ok()) << plan.status().to_string();
    return plan.ok() ? std::move(*plan) : Plan{};
  }

  // persons.csv of a generated roll (a few thousand realistic persons).
  fs::path generated(const Plan& plan, uint64_t persons, uint64_t claims = 0) {
    GenOptions g;
    g.persons = persons;
    g.claims = claims;
    g.seed = 7;
    g.dir = (dir_ / "gen").string();
    GenStats st;
    Status s = generate(plan, g, &st);
    EXPECT_TRUE(s.ok()) << s.to_string();
    return dir_ / "gen" / "persons.csv";
  }

  std::unique_ptr<Db> db_;
};

TEST_P(RollServiceTest, ImportThenLoadRollEqualsTheCsvLoader) {
  Plan plan = plan_b();
  fs::path persons = generated(plan, 3000);
  ImportReport r;
  Status s = import(persons, "2024-01-01", &r);
  ASSERT_TRUE(s.ok()) << s.to_string() << "\n" << r.to_text();
  EXPECT_TRUE(r.committed);
  EXPECT_EQ(r.persons.rows, 3000);
  EXPECT_EQ(r.persons.added, 3000);
  EXPECT_EQ(count("persons"), 3000);
  EXPECT_EQ(count("person_history"), 3000);
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM audit_log WHERE action = 'roll.import'"), 1);

  Roll from_csv, from_store;
  ASSERT_TRUE(from_csv.load_persons_csv(slurp(persons), "persons.csv").ok());
  ASSERT_TRUE(load_roll(*db_, plan, &from_store).ok());
  const auto a = persons_of(from_csv), b = persons_of(from_store);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_TRUE(a == b);
  size_t with_categories = 0;
  for (const auto& [id, p] : a) with_categories += p.find('@') != std::string::npos;
  EXPECT_GT(with_categories, 100u);  // the roll exercises categories
}

TEST_P(RollServiceTest, DryRunReportsAndWritesNothing) {
  fs::path p = file("p.csv", std::string(kHeader) + kA + ",张三,1,,370102,390,dibao,0\n" + kB +
                                 ",李四,2,1980-01-02,370102,310,,1\n");
  ImportReport r;
  Status s = import(p, "2024-01-01", &r, /*dry_run=*/true);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_TRUE(r.dry_run);
  EXPECT_FALSE(r.committed);
  EXPECT_EQ(r.persons.added, 2);
  EXPECT_EQ(count("persons"), 0);
  EXPECT_EQ(count("person_categories"), 0);
  EXPECT_EQ(count("audit_log"), 0);
  EXPECT_NE(r.to_text().find("dry run: nothing written"), std::string::npos);

  // A dry run over a stored roll says what would change, and changes nothing.
  ASSERT_TRUE(import(p, "2024-01-01", &r).ok());
  fs::path q = file("q.csv", std::string(kHeader) + kA + ",张三,1,,370105,390,dibao,0\n" + kC +
                                 ",王五,1,,370102,390,,0\n");
  s = import(q, "2024-03-01", &r, /*dry_run=*/true, /*full=*/true);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(r.persons.added, 1);
  EXPECT_EQ(r.persons.changed, 1);
  EXPECT_EQ(r.moved_out, 1);
  ASSERT_EQ(r.changes.size(), 2u);
  EXPECT_EQ(r.changes[0].psn_no, kA);
  EXPECT_EQ(r.changes[0].fields, "admdvs");
  EXPECT_EQ(r.changes[1].psn_no, kB);
  EXPECT_EQ(r.changes[1].fields, "status");
  EXPECT_EQ(count("persons"), 2);
  EXPECT_EQ(count("person_history"), 2);
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM persons WHERE status = 'active'"), 2);
  EXPECT_EQ(count("audit_log"), 1);
}

TEST_P(RollServiceTest, ABadRowWritesNothingAndEveryBadRowIsListed) {
  fs::path good = file("good.csv", std::string(kHeader) + kD + ",赵六,1,,370102,390,,0\n");
  ImportReport r;
  ASSERT_TRUE(import(good, "2024-01-01", &r).ok());
  const std::string text = std::string(kHeader) + kA +
                           ",张三,1,,370102,390,dibao,0\n"              // 2 good
                           "370102198001011230,x,1,,370102,390,,0\n"    // 3 check char
                           + kB + ",李四,1,,320102,390,,0\n"            // 4 admdvs
                           + kC + ",王五,1,,370102,390,dibao;nope,0\n"  // 5 category
                           + kA +
                           ",张三,1,,370102,390,,0\n"  // 6 duplicate
                           "\n" +
                           kD + ",赵六,3,,370102,390,,0\n"              // 8 gend
                           + kC + ",王五,1,1980-01-04,370102,390,,0\n"  // 9 brdy
                           + kC + ",王五,1,,370102,391,,0\n"            // 10 insutype
                           + kC + ",王五,1,,370102,390,,2\n"            // 11 preexisting
                           + kC + ",王五,1,,370102,390\n"               // 12 fields
                           + kC + ",\"a\"b,1,,370102,390,,0\n";         // 13 quote
  fs::path bad = file("bad.csv", text);
  Status s = import(bad, "2024-02-01", &r);
  ASSERT_EQ(s.code(), Code::kRollInvalid) << s.to_string();
  EXPECT_FALSE(r.committed);
  std::vector<size_t> lines;
  for (const ImportRowError& e : r.errors) {
    EXPECT_EQ(e.file, bad.string());
    lines.push_back(e.line);
  }
  EXPECT_EQ(lines, (std::vector<size_t>{3, 4, 5, 6, 8, 9, 10, 11, 12, 13}));
  EXPECT_EQ(r.error_count, 10);
  EXPECT_NE(r.errors[0].message.find("GB 11643"), std::string::npos);
  EXPECT_NE(r.errors[2].message.find("unknown category 'nope'"), std::string::npos);
  EXPECT_NE(r.errors[3].message.find("appears twice (first on line 2)"), std::string::npos);
  EXPECT_EQ(count("persons"), 1);
  EXPECT_EQ(count("person_history"), 1);
  EXPECT_EQ(count("audit_log"), 1);
  // The text names file and line for each.
  EXPECT_NE(r.to_text().find(bad.string() + ":4: admdvs '320102'"), std::string::npos);
  EXPECT_NE(r.to_text().find("nothing written"), std::string::npos);

  // Header and empty files.
  EXPECT_EQ(import(file("h.csv", "psn_no,name\n"), "2024-01-01", &r).code(), Code::kRollInvalid);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 1u);
  EXPECT_EQ(import(file("e.csv", ""), "2024-01-01", &r).code(), Code::kRollInvalid);
  EXPECT_NE(r.errors[0].message.find("empty"), std::string::npos);
  EXPECT_EQ(import(dir_ / "missing.csv", "2024-01-01", &r).code(), Code::kIoError);
}

TEST_P(RollServiceTest, ErrorsAreCappedButAllCounted) {
  std::string text(kHeader);
  for (int i = 0; i < 250; ++i) text += "37010219800101123X,x,1,,370102,390,,0\n";
  ImportReport r;
  EXPECT_EQ(import(file("p.csv", text), "2024-01-01", &r).code(), Code::kRollInvalid);
  EXPECT_EQ(r.error_count, 250);
  ASSERT_EQ(r.errors.size(), ImportReport::kErrorsShownMax);
  EXPECT_EQ(r.errors.front().line, 2u);
  EXPECT_EQ(r.errors.back().line, 101u);
  EXPECT_NE(r.to_text().find("250 bad row(s) (first 100 shown)"), std::string::npos);
}

TEST_P(RollServiceTest, ReimportKeepsHistoryAndDatesCategories) {
  fs::path v1 = file("v1.csv", std::string(kHeader) + kA + ",张三,1,,370102,390,dibao;poverty,0\n" +
                                   kB + ",李四,1,,370102,390,poverty@2023-05-01;tekun,0\n" + kC +
                                   ",王五,1,,370102,390,monitor@2024-09-01,0\n");
  ImportReport r;
  ASSERT_TRUE(import(v1, "2024-01-01", &r).ok());
  EXPECT_EQ(query_rows(*db_,
                       "SELECT category, from_date, to_date FROM person_categories WHERE "
                       "psn_no = '" +
                           std::string(kA) + "' ORDER BY category"),
            (std::vector<std::string>{"dibao|1900-01-01|-", "poverty|1900-01-01|-"}));

  // v2 as of 1 June: A moves city, loses dibao, gains monitor (undated) and
  // instant_aid@2024-05-05; B's poverty is redated; C loses a category that
  // has not started yet; D is new, undated.
  fs::path v2 =
      file("v2.csv", std::string(kHeader) + kA +
                         ",张三,1,,370105,390,poverty;monitor;instant_aid@2024-05-05,0\n" + kB +
                         ",李四,1,,370102,390,tekun;poverty@2024-02-01,0\n" + kC +
                         ",王五,1,,370102,390,,0\n" + kD + ",赵六,2,,370102,390,orphan,1\n");
  Status s = import(v2, "2024-06-01", &r);
  ASSERT_TRUE(s.ok()) << s.to_string() << r.to_text();
  EXPECT_EQ(r.persons.added, 1);
  EXPECT_EQ(r.persons.changed, 3);
  EXPECT_EQ(r.persons.unchanged, 0);
  ASSERT_EQ(r.changes.size(), 3u);
  EXPECT_EQ(r.changes[0].psn_no, kA);
  EXPECT_EQ(r.changes[0].fields, "admdvs,categories");
  EXPECT_EQ(r.changes[1].fields, "categories");
  EXPECT_EQ(r.changes[2].fields, "categories");

  const std::string a = std::string(kA);
  EXPECT_EQ(query_rows(*db_,
                       "SELECT seq, valid_from, valid_to, admdvs, status FROM person_history "
                       "WHERE psn_no = '" +
                           a + "' ORDER BY seq"),
            (std::vector<std::string>{"1|2024-01-01|2024-06-01|370102|active",
                                      "2|2024-06-01|-|370105|active"}));
  EXPECT_EQ(query_rows(*db_, "SELECT change FROM person_history WHERE psn_no = '" + a +
                                 "' AND seq = 2")[0],
            "changed: admdvs,categories; categories were 'dibao;poverty'");
  EXPECT_EQ(query_rows(*db_, "SELECT admdvs, seq FROM persons WHERE psn_no = '" + a + "'")[0],
            "370105|2");
  EXPECT_EQ(query_rows(*db_,
                       "SELECT category, from_date, to_date FROM person_categories WHERE "
                       "psn_no = '" +
                           a + "' ORDER BY category"),
            (std::vector<std::string>{"dibao|1900-01-01|2024-05-31", "instant_aid|2024-05-05|-",
                                      "monitor|2024-06-01|-", "poverty|1900-01-01|-"}));
  EXPECT_EQ(query_rows(*db_,
                       "SELECT category, from_date, to_date FROM person_categories WHERE "
                       "psn_no = '" +
                           std::string(kB) + "' ORDER BY category"),
            (std::vector<std::string>{"poverty|2024-02-01|-", "tekun|1900-01-01|-"}));
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM person_categories WHERE psn_no = '" +
                                std::string(kC) + "'"),
            0);  // never in force by the as-of date: gone
  EXPECT_EQ(query_rows(*db_, "SELECT category, from_date FROM person_categories WHERE psn_no = '" +
                                 std::string(kD) + "'"),
            (std::vector<std::string>{"orphan|1900-01-01"}));

  // The engine sees dibao until 31 May and monitor from 1 June.
  Plan plan = plan_b();
  Roll roll;
  ASSERT_TRUE(load_roll(*db_, plan, &roll).ok());
  const Person& pa = roll.person(size_t(roll.find(kA)));
  const CategoryMask may = pa.categories_on(date_from_ymd(2024, 5, 31));
  const CategoryMask june = pa.categories_on(date_from_ymd(2024, 6, 1));
  EXPECT_TRUE(may >> category_index("dibao") & 1);
  EXPECT_FALSE(june >> category_index("dibao") & 1);
  EXPECT_FALSE(may >> category_index("monitor") & 1);
  EXPECT_TRUE(june >> category_index("monitor") & 1);

  // History only moves forward: an older as-of date cannot change anyone.
  fs::path v3 = file("v3.csv", std::string(kHeader) + kA + ",张三,1,,370101,390,poverty,0\n");
  s = import(v3, "2024-03-01", &r);
  EXPECT_EQ(s.code(), Code::kRollInvalid);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 2u);
  EXPECT_NE(r.errors[0].message.find("history only moves forward"), std::string::npos);
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM person_history"), 7);
}

TEST_P(RollServiceTest, UnchangedReimportChangesNothing) {
  Plan plan = plan_b();
  fs::path persons = generated(plan, 500);
  ImportReport r;
  ASSERT_TRUE(import(persons, "2024-01-01", &r).ok());
  const auto before = query_rows(*db_, "SELECT * FROM persons ORDER BY psn_no");
  const auto cats = query_rows(*db_, "SELECT * FROM person_categories ORDER BY psn_no, category");
  Status s = import(persons, "2024-07-01", &r);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(r.persons.unchanged, 500);
  EXPECT_EQ(r.persons.added + r.persons.changed + r.moved_out, 0);
  EXPECT_TRUE(r.changes.empty());
  EXPECT_EQ(query_rows(*db_, "SELECT * FROM persons ORDER BY psn_no"), before);
  EXPECT_EQ(query_rows(*db_, "SELECT * FROM person_categories ORDER BY psn_no, category"), cats);
  EXPECT_EQ(count("person_history"), 500);
  EXPECT_EQ(count("audit_log"), 2);  // every import is on record
}

TEST_P(RollServiceTest, FullImportMovesAbsentPersonsOut) {
  fs::path v1 = file("v1.csv", std::string(kHeader) + kA + ",张三,1,,370102,390,,0\n" + kB +
                                   ",李四,1,,370102,390,,0\n" + kC +
                                   ",王五,1,,370102,390,dibao@2024-01-10;poverty,0\n");
  ImportReport r;
  ASSERT_TRUE(import(v1, "2024-01-01", &r).ok());
  fs::path v2 = file("v2.csv", std::string(kHeader) + kA + ",张三,1,,370102,390,,0\n");
  // Without --full, a partial file leaves the others alone.
  ASSERT_TRUE(import(v2, "2024-04-01", &r).ok());
  EXPECT_EQ(r.moved_out, 0);
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM persons WHERE status = 'active'"), 3);
  Status s = import(v2, "2024-04-01", &r, false, /*full=*/true);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(r.moved_out, 2);
  EXPECT_EQ(r.persons.unchanged, 1);
  EXPECT_EQ(
      query_rows(*db_, "SELECT psn_no, status, seq FROM persons ORDER BY psn_no"),
      (std::vector<std::string>{std::string(kA) + "|active|1", std::string(kB) + "|moved_out|2",
                                std::string(kC) + "|moved_out|2"}));
  const std::string c = std::string(kC);
  EXPECT_EQ(query_rows(*db_,
                       "SELECT seq, valid_from, valid_to, status, change FROM person_history "
                       "WHERE psn_no = '" +
                           c + "' ORDER BY seq"),
            (std::vector<std::string>{
                "1|2024-01-01|2024-04-01|active|added",
                "2|2024-04-01|-|moved_out|moved_out: not in a full import; categories were "
                "'dibao@2024-01-10;poverty'"}));
  EXPECT_EQ(query_rows(*db_, "SELECT category, to_date FROM person_categories WHERE psn_no = '" +
                                 c + "' ORDER BY category"),
            (std::vector<std::string>{"dibao|2024-03-31", "poverty|2024-03-31"}));
  // A full import of an empty roll is refused (it would move everyone out).
  EXPECT_EQ(import(file("empty.csv", std::string(kHeader)), "2024-04-01", &r, false, true).code(),
            Code::kRollInvalid);
  EXPECT_NE(r.errors[0].message.find("at least one person"), std::string::npos);
  // A second full import moves no one again; the person back in a file returns.
  ASSERT_TRUE(import(v2, "2024-05-01", &r, false, true).ok());
  EXPECT_EQ(r.moved_out, 0);
  fs::path v3 = file(
      "v3.csv", std::string(kHeader) + kC + ",王五,1,,370102,390,dibao@2024-01-10;poverty,0\n");
  ASSERT_TRUE(import(v3, "2024-06-01", &r).ok());
  ASSERT_EQ(r.changes.size(), 1u);
  EXPECT_EQ(r.changes[0].fields, "categories,status");
  EXPECT_EQ(query_rows(*db_, "SELECT status, seq FROM persons WHERE psn_no = '" + c + "'")[0],
            "active|3");
  EXPECT_EQ(query_rows(*db_, "SELECT change FROM person_history WHERE psn_no = '" + c +
                                 "' AND seq = 3")[0],
            "changed: categories,status; categories were none");
  // dibao's row with the same start is reopened; poverty starts anew.
  EXPECT_EQ(query_rows(*db_,
                       "SELECT category, from_date, to_date FROM person_categories WHERE "
                       "psn_no = '" +
                           c + "' ORDER BY category, from_date"),
            (std::vector<std::string>{"dibao|2024-01-10|-", "poverty|1900-01-01|2024-03-31",
                                      "poverty|2024-06-01|-"}));
}

TEST_P(RollServiceTest, ManyChangesAndMovesOutAreWrittenSetWise) {
  // 3,000 persons; then every other one of the first 2,300 changes insutype
  // and the last 700 leave (a full import): more than one statement's worth
  // (500 rows) of each kind of update.
  Plan plan = plan_b();
  fs::path persons = generated(plan, 3000);
  ImportReport r;
  ASSERT_TRUE(import(persons, "2024-01-01", &r).ok()) << r.to_text();
  std::istringstream in(slurp(persons));
  std::string line, changed_text;
  std::getline(in, line);
  changed_text = line + "\n";
  for (int i = 0; i < 2300 && std::getline(in, line); ++i) {
    if (i % 2 == 0) {
      std::vector<std::string> f;
      for (size_t at = 0;;) {
        const size_t comma = line.find(',', at);
        f.push_back(line.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
        if (comma == std::string::npos) break;
        at = comma + 1;
      }
      ASSERT_EQ(f.size(), 8u) << line;
      f[5] = f[5] == "390" ? "310" : "390";
      line.clear();
      for (size_t k = 0; k < f.size(); ++k) line += (k ? "," : "") + f[k];
    }
    changed_text += line + "\n";
  }
  fs::path changed = file("changed.csv", changed_text);
  Status s = import(changed, "2024-06-01", &r, false, /*full=*/true);
  ASSERT_TRUE(s.ok()) << s.to_string() << "\n" << r.to_text();
  EXPECT_EQ(r.persons.changed, 1150);
  EXPECT_EQ(r.persons.unchanged, 1150);
  EXPECT_EQ(r.moved_out, 700);
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM persons WHERE status = 'moved_out' AND seq = 2"),
            700);
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM persons WHERE status = 'active' AND seq = 2"),
            1150);
  EXPECT_EQ(query_int(*db_,
                      "SELECT count(*) FROM person_history WHERE seq = 1 AND valid_to = "
                      "'2024-06-01'"),
            1850);
  // Each person's current record is the one open history row.
  EXPECT_EQ(query_int(*db_,
                      "SELECT count(*) FROM persons p JOIN person_history h ON h.psn_no = "
                      "p.psn_no AND h.seq = p.seq AND h.valid_to IS NULL AND h.status = p.status "
                      "AND h.insutype = p.insutype"),
            3000);
  EXPECT_EQ(count("person_history"), 3000 + 1850);
  // The active roll is the file's.
  Roll from_csv, from_store;
  ASSERT_TRUE(from_csv.load_persons_csv(changed_text, "changed.csv").ok());
  ASSERT_TRUE(load_roll(*db_, plan, &from_store).ok());
  const std::vector<std::string> ids =
      query_rows(*db_, "SELECT psn_no FROM persons WHERE status = 'active'");
  const std::set<std::string> active_ids(ids.begin(), ids.end());
  std::map<std::string, std::string> active;
  for (const auto& [id, p] : persons_of(from_store)) {
    if (active_ids.count(id) != 0) active[id] = p;
  }
  const auto expected = persons_of(from_csv);
  ASSERT_EQ(active.size(), expected.size());
  for (const auto& [id, p] : expected) {
    auto it = active.find(id);
    ASSERT_NE(it, active.end()) << id;
    // Categories added by the change start at the as-of date; compare the
    // fields without them.
    EXPECT_EQ(it->second.substr(0, it->second.rfind('|')), p.substr(0, p.rfind('|'))) << id;
  }
}

TEST_P(RollServiceTest, RelationsAndAccountsAreValidated) {
  fs::path p = file("p.csv", std::string(kHeader) + kA + ",张三,1,,370102,310,,0\n" + kB +
                                 ",李四,2,,370102,390,,0\n");
  ImportReport r;
  ASSERT_TRUE(import(p, "2024-01-01", &r).ok());
  // C is in this import's file; D nowhere.
  fs::path p2 = file("p2.csv", std::string(kHeader) + kC + ",王五,1,,370102,390,,0\n");
  fs::path rel = file("rel.csv", std::string("psn_no,rel_psn_no,relation\n") + kA + "," + kB +
                                     ",spouse\n" +                  // 2 ok (stored persons)
                                     kA + "," + kC + ",child\n" +   // 3 ok (file person)
                                     kA + "," + kA + ",spouse\n" +  // 4 self
                                     kA + "," + kD + ",child\n" +   // 5 unknown
                                     kB + "," + kA + ",cousin\n" +  // 6 relation
                                     kA + "," + kB + ",spouse\n" +  // 7 duplicate
                                     kC + "," + kA + ",child\n" +   // 8 contradicts 3
                                     "370102198001011230," + kA + ",spouse\n");         // 9 id
  fs::path acc = file("acc.csv", std::string("psn_no,balance\n") + kA + ",1234.50\n" +  // 2 ok
                                     kB + ",-1\n" +     // 3 negative
                                     kC + ",1.234\n" +  // 4 not to the fen
                                     kD + ",5\n" +      // 5 unknown
                                     kA + ",1\n" +      // 6 duplicate
                                     kC + ",abc\n");    // 7 syntax
  Status s = import(p2, "2024-02-01", &r, false, false, rel, acc);
  ASSERT_EQ(s.code(), Code::kRollInvalid);
  std::vector<std::string> where;
  for (const ImportRowError& e : r.errors)
    where.push_back(fs::path(e.file).filename().string() + ":" + std::to_string(e.line));
  EXPECT_EQ(where, (std::vector<std::string>{"rel.csv:4", "rel.csv:5", "rel.csv:6", "rel.csv:7",
                                             "rel.csv:8", "rel.csv:9", "acc.csv:3", "acc.csv:4",
                                             "acc.csv:5", "acc.csv:6", "acc.csv:7"}));
  EXPECT_NE(r.errors[1].message.find("is neither in"), std::string::npos);
  EXPECT_NE(r.errors[4].message.find("must say 'parent'"), std::string::npos);
  EXPECT_EQ(count("relations"), 0);
  EXPECT_EQ(count("accounts"), 0);
  EXPECT_EQ(count("persons"), 2);

  // Good files: added, then changed and unchanged; balances move by correction.
  rel = file("rel.csv", std::string("psn_no,rel_psn_no,relation\n") + kA + "," + kB + ",spouse\n" +
                            kA + "," + kC + ",child\n" + kC + "," + kA + ",parent\n");
  acc = file("acc.csv", std::string("psn_no,balance\n") + kA + ",1234.50\n" + kC + ",0\n");
  s = import(p2, "2024-02-01", &r, false, false, rel, acc);
  ASSERT_TRUE(s.ok()) << s.to_string() << r.to_text();
  EXPECT_EQ(r.relations.added, 3);
  EXPECT_EQ(r.accounts.added, 2);
  EXPECT_EQ(query_rows(*db_, "SELECT psn_no, balance_fen FROM accounts ORDER BY psn_no"),
            (std::vector<std::string>{std::string(kA) + "|123450", std::string(kC) + "|0"}));
  EXPECT_EQ(query_rows(*db_, "SELECT kind, amount_fen, balance_after_fen FROM account_moves"),
            (std::vector<std::string>{"correction|123450|123450"}));
  rel = file("rel.csv", std::string("psn_no,rel_psn_no,relation\n") + kA + "," + kB + ",spouse\n" +
                            kA + "," + kC + ",parent\n");
  acc = file("acc.csv", std::string("psn_no,balance\n") + kA + ",1000\n" + kC + ",0.00\n");
  s = import(p2, "2024-03-01", &r, false, false, rel, acc);
  ASSERT_TRUE(s.ok()) << s.to_string() << r.to_text();
  EXPECT_EQ(r.relations.unchanged, 1);
  EXPECT_EQ(r.relations.changed, 1);
  EXPECT_EQ(r.accounts.changed, 1);
  EXPECT_EQ(r.accounts.unchanged, 1);
  EXPECT_EQ(query_rows(*db_,
                       "SELECT kind, amount_fen, balance_after_fen FROM account_moves "
                       "ORDER BY id"),
            (std::vector<std::string>{"correction|123450|123450", "correction|-23450|100000"}));
  EXPECT_EQ(query_int(*db_, "SELECT sum(amount_fen) FROM account_moves"),
            query_int(*db_, "SELECT sum(balance_fen) FROM accounts"));
}

TEST_P(RollServiceTest, ExportedCsvReimportsToTheSameRoll) {
  Plan plan = plan_b();
  fs::path persons = generated(plan, 2000);
  ImportReport r;
  ASSERT_TRUE(import(persons, "2024-01-01", &r).ok());
  ExportReport e;
  RollExportOptions o;
  o.out_path = (dir_ / "roll.csv").string();
  o.actor = "tester";
  Status s = export_roll(*db_, o, &e);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(e.rows, 2000);
  EXPECT_FALSE(fs::exists(o.out_path + ".tmp"));
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM audit_log WHERE action = 'roll.export'"), 1);

  // Through the CSV loader: the same persons.
  Roll a, b;
  ASSERT_TRUE(a.load_persons_csv(slurp(persons), "persons.csv").ok());
  Status lb = b.load_persons_csv(slurp(o.out_path), "roll.csv");
  ASSERT_TRUE(lb.ok()) << lb.to_string();
  EXPECT_TRUE(persons_of(a) == persons_of(b));
  // Through the import: nothing changes.
  ASSERT_TRUE(import(o.out_path, "2024-02-01", &r).ok());
  EXPECT_EQ(r.persons.unchanged, 2000);
  // Into a fresh store: the same roll as the first.
  fs::path fresh_dir = dir_ / "fresh";
  fs::create_directories(fresh_dir);
  if (GetParam() == Engine::kSqlite) {
    Result<std::unique_ptr<Db>> fresh = store::open_db("sqlite:" + (fresh_dir / "f.db").string());
    ASSERT_TRUE(fresh.ok());
    RollImportOptions io;
    io.persons_path = o.out_path;
    io.as_of = date_from_ymd(2024, 1, 1);
    io.actor = "tester";
    ASSERT_TRUE(import_roll(**fresh, io, &r).ok());
    Roll x, y;
    ASSERT_TRUE(load_roll(*db_, plan, &x).ok());
    ASSERT_TRUE(load_roll(**fresh, plan, &y).ok());
    EXPECT_TRUE(persons_of(x) == persons_of(y));
  }
}

TEST_P(RollServiceTest, ExportQuotesNamesAndKeepsUndatedAndAsOfStarts) {
  fs::path v1 = file("v1.csv", std::string(kHeader) + kA +
                                   ",\"Zhang, \"\"San\"\"\",1,,370102,390,"
                                   "poverty,0\n" +
                                   kB + ",李四,1,,370102,390,,0\n");
  ImportReport r;
  ASSERT_TRUE(import(v1, "2024-01-01", &r).ok());
  fs::path v2 = file("v2.csv", std::string(kHeader) + kB + ",李四,1,,370102,390,dibao,0\n");
  ASSERT_TRUE(import(v2, "2024-05-01", &r).ok());
  RollExportOptions o;
  o.out_path = (dir_ / "roll.csv").string();
  ExportReport e;
  ASSERT_TRUE(export_roll(*db_, o, &e).ok());
  EXPECT_EQ(slurp(o.out_path), std::string(kHeader) + kA +
                                   ",\"Zhang, \"\"San\"\"\",1,1980-01-01,370102,390,poverty,0\n" +
                                   kB + ",李四,1,1980-01-02,370102,390,dibao@2024-05-01,0\n");
  // Moved-out persons are left out unless asked for.
  ASSERT_TRUE(import(v2, "2024-06-01", &r, false, true).ok());
  ASSERT_TRUE(export_roll(*db_, o, &e).ok());
  EXPECT_EQ(e.rows, 1);
  o.include_inactive = true;
  ASSERT_TRUE(export_roll(*db_, o, &e).ok());
  EXPECT_EQ(e.rows, 2);
  o.out_path = (dir_ / "roll.txt").string();
  EXPECT_EQ(export_roll(*db_, o, &e).code(), Code::kIoError);
}

TEST_P(RollServiceTest, XlsxExportsAreZipFiles) {
  Plan plan = plan_b();
  ImportReport r;
  ASSERT_TRUE(import(generated(plan, 300), "2024-01-01", &r).ok());
  RollExportOptions o;
  o.out_path = (dir_ / "roll.xlsx").string();
  ExportReport e;
  Status s = export_roll(*db_, o, &e);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(e.rows, 300);
  const std::string x = slurp(o.out_path);
  ASSERT_GT(x.size(), 1000u);
  EXPECT_EQ(x.substr(0, 2), "PK");
  SettlementExportOptions so;
  so.out_path = (dir_ / "settlements.XLSX").string();
  ASSERT_TRUE(export_settlements(*db_, so, &e).ok());
  EXPECT_EQ(e.rows, 0);
  EXPECT_EQ(slurp(so.out_path).substr(0, 2), "PK");
}

TEST_P(RollServiceTest, SettlementExportHasOneColumnPerLayerThatPaid) {
  Plan plan = plan_b();
  const std::string plan_file =
      std::string(HUIBAO_SOURCE_DIR) + "/plans/shandong-2024-huiminbao.toml";
  fs::path persons = generated(plan, 120, 600);
  ImportReport r;
  ASSERT_TRUE(import(persons, "2024-01-01", &r).ok());
  StoreSettleOptions so;
  so.batch.claims_path = (dir_ / "gen" / "claims.jsonl").string();
  so.batch.out_path = (dir_ / "results.jsonl").string();
  so.batch.explain = false;
  so.batch.threads = 2;
  StoreSettleSummary sum;
  Status s = settle_into_store(*db_, plan, slurp(plan_file), so, &sum);
  ASSERT_TRUE(s.ok()) << s.to_string();
  ASSERT_GT(sum.stored, 100u);

  SettlementExportOptions o;
  o.out_path = (dir_ / "settlements.csv").string();
  o.plan_id = plan.id;
  o.year = 2024;
  ExportReport e;
  s = export_settlements(*db_, o, &e);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(uint64_t(e.rows), sum.stored);
  // Layer columns in plan order.
  std::vector<std::string> plan_order;
  for (const Layer& l : plan.layers) {
    if (std::find(e.layers.begin(), e.layers.end(), l.id) != e.layers.end())
      plan_order.push_back(l.id);
  }
  EXPECT_EQ(e.layers, plan_order);
  EXPECT_GE(e.layers.size(), 3u);

  // Every row: the layers add up to fund + hospital share, as stored.
  const std::string text = slurp(o.out_path);
  CsvReader csv(text);
  std::vector<std::string_view> f;
  std::string err;
  ASSERT_TRUE(csv.next(&f, &err));
  ASSERT_EQ(f.size(), 14 + e.layers.size());
  EXPECT_EQ(f[0], "setl_id");
  EXPECT_EQ(f[13], "psn_part_amt");
  int64_t rows = 0;
  while (csv.next(&f, &err)) {
    ASSERT_TRUE(err.empty());
    ++rows;
    Fen fund, hosp, layers_sum = 0, v;
    ASSERT_EQ(parse_decimal_string_fen(f[11], &fund), AmountSyntax::kOk);
    ASSERT_EQ(parse_decimal_string_fen(f[12], &hosp), AmountSyntax::kOk);
    for (size_t k = 14; k < f.size(); ++k) {
      ASSERT_EQ(parse_decimal_string_fen(f[k], &v), AmountSyntax::kOk) << f[k];
      EXPECT_EQ(f[k].size() >= 4 && f[k][f[k].size() - 3] == '.', true) << f[k];
      layers_sum += v;
    }
    EXPECT_EQ(layers_sum, fund + hosp) << f[0];
  }
  EXPECT_EQ(rows, e.rows);
  // Another year: none.
  o.year = 2023;
  ASSERT_TRUE(export_settlements(*db_, o, &e).ok());
  EXPECT_EQ(e.rows, 0);
  EXPECT_TRUE(e.layers.empty());
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM audit_log WHERE action = 'settlements.export'"),
            2);
}

TEST_P(RollServiceTest, PersonShowMasksByDefaultAndIsAudited) {
  fs::path p =
      file("p.csv", std::string(kHeader) + kA + ",张三丰,1,,370102,310,dibao@2024-03-01,0\n" + kB +
                        ",李四,2,,370102,390,,0\n");
  fs::path rel =
      file("rel.csv", std::string("psn_no,rel_psn_no,relation\n") + kB + "," + kA + ",parent\n");
  fs::path acc = file("acc.csv", std::string("psn_no,balance\n") + kA + ",88.80\n");
  ImportReport r;
  ASSERT_TRUE(import(p, "2024-01-01", &r, false, false, rel, acc).ok());
  const int64_t audits = count("audit_log");

  PersonShowOptions o;
  o.actor = "clerk";
  PersonView v;
  Status s = show_person(*db_, kA, o, &v);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_TRUE(v.masked);
  EXPECT_EQ(v.psn_no, "3701**********1237");
  EXPECT_EQ(v.psn_name, "张**");
  ASSERT_EQ(v.history.size(), 1u);
  EXPECT_EQ(v.history[0].psn_name, "张**");
  ASSERT_EQ(v.categories.size(), 1u);
  EXPECT_EQ(v.categories[0].from_date, "2024-03-01");
  ASSERT_EQ(v.relations.size(), 1u);
  EXPECT_EQ(v.relations[0].relation, "child");  // B says A is B's parent
  EXPECT_EQ(v.relations[0].psn_no, "3701**********1232");
  EXPECT_EQ(v.relations[0].psn_name, "李*");
  EXPECT_TRUE(v.has_account);
  EXPECT_EQ(v.balance_fen, 8880);
  ASSERT_EQ(v.account_moves.size(), 1u);
  const std::string text = v.to_text(), json = v.to_json();
  EXPECT_EQ(text.find(kA), std::string::npos);
  EXPECT_EQ(json.find(kA), std::string::npos);
  EXPECT_EQ(json.find("张三丰"), std::string::npos);
  EXPECT_NE(json.find("\"balance\": \"88.80\""), std::string::npos);
  EXPECT_EQ(count("audit_log"), audits + 1);
  EXPECT_EQ(query_rows(*db_,
                       "SELECT actor, action, psn_no, detail FROM audit_log ORDER BY seq "
                       "DESC LIMIT 1")[0],
            std::string("clerk|person.show|") + kA + "|{\"found\":true,\"masked\":true}");

  o.unmasked = true;
  ASSERT_TRUE(show_person(*db_, kA, o, &v).ok());
  EXPECT_EQ(v.psn_no, kA);
  EXPECT_EQ(v.psn_name, "张三丰");
  EXPECT_NE(v.to_json().find(kB), std::string::npos);
  EXPECT_EQ(query_rows(*db_, "SELECT detail FROM audit_log ORDER BY seq DESC LIMIT 1")[0],
            "{\"found\":true,\"masked\":false}");

  // An unknown person: refused, and still on record.
  o.unmasked = false;
  EXPECT_EQ(show_person(*db_, kD, o, &v).code(), Code::kUnknownPerson);
  EXPECT_EQ(count("audit_log"), audits + 3);
}

INSTANTIATE_TEST_SUITE_P(Engines, RollServiceTest,
                         ::testing::Values(Engine::kSqlite, Engine::kPostgres),
                         [](const auto& i) { return store::engine_name(i.param); });

// ---- no database ----

TEST(RollImportFiles, MasksNamesByCharacter) {
  EXPECT_EQ(mask_name("张三丰"), "张**");
  EXPECT_EQ(mask_name("欧阳娜娜"), "欧***");
  EXPECT_EQ(mask_name("Li"), "L*");
  EXPECT_EQ(mask_name("王"), "王");
  EXPECT_EQ(mask_name(""), "");
}

TEST(RollImportFiles, ParsesRowsLikeTheRoll) {
  using namespace roll_import;
  roll_import::PersonRow p;
  std::string err;
  bool key = false;
  std::vector<std::string_view> f = {kA, "张三", "1", "", "370102", "390", "dibao@2024-01-01", "1"};
  ASSERT_TRUE(parse_person_row(f, &p, &err, &key)) << err;
  EXPECT_EQ(std::string_view(p.brdy, 10), "1980-01-01");
  EXPECT_TRUE(p.preexisting);
  EXPECT_EQ(p.categories.category_count, 1);
  f[1] = "\xff";
  EXPECT_FALSE(parse_person_row(f, &p, &err, &key));
  EXPECT_TRUE(key);
  EXPECT_NE(err.find("UTF-8"), std::string::npos);

  RelationRow rel;
  EXPECT_TRUE(parse_relation_row({kA, kB, "spouse"}, &rel, &err));
  EXPECT_EQ(relation_inverse(Relation::kParent), Relation::kChild);
  EXPECT_EQ(relation_inverse(Relation::kSpouse), Relation::kSpouse);
  AccountRow acc;
  EXPECT_TRUE(parse_account_row({kA, "0.5"}, &acc, &err));
  EXPECT_EQ(acc.balance_fen, 50);
  EXPECT_FALSE(parse_account_row({kA, "99999999999999999"}, &acc, &err));
  EXPECT_NE(err.find("N16,2"), std::string::npos);

  char id[18];
  id_of_key(id_key(kA), id);
  EXPECT_EQ(std::string_view(id, 18), kA);
  id_of_key(id_key("11010519491231002X"), id);
  EXPECT_EQ(std::string_view(id, 18), "11010519491231002X");
  EXPECT_TRUE(is_header({"psn_no", "balance"}, kAccountsHeader));
  EXPECT_FALSE(is_header({"psn_no"}, kAccountsHeader));
  EXPECT_FALSE(is_header({"psn_no", "balance", "x"}, kAccountsHeader));
}

TEST(RollImportFiles, ExportFormatComesFromTheExtension) {
  TableFormat f;
  EXPECT_TRUE(table_format_of("a/roll.csv", &f));
  EXPECT_EQ(f, TableFormat::kCsv);
  EXPECT_TRUE(table_format_of("ROLL.XLSX", &f));
  EXPECT_EQ(f, TableFormat::kXlsx);
  EXPECT_FALSE(table_format_of("roll.xls", &f));
  EXPECT_FALSE(table_format_of(".csv", &f));
}

}  // namespace
}  // namespace huibao

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new huibao::pgtest::PgEnvironment("/postgres"));
  return RUN_ALL_TESTS();
}
