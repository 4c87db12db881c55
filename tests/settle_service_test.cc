// Persisted settlement (service/settle_service.h) on both engines, against a
// generated plan-B year:
// - stored results are byte for byte those of the file-to-file batch;
// - every stored year state equals the replay of the stored settlements;
// - a retried file is answered from the store and settles nothing twice;
//   a changed line under a stored setl_id is refused;
// - a year settled in two files (by admission date) ends where one file does;
// - a process killed between commits leaves each person all-or-nothing, and
//   a rerun completes the year exactly.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>
#include <thread>

#include "batch/batch.h"
#include "core/category.h"
#include "gen/generator.h"
#include "service/online_settle.h"
#include "service/reverse_service.h"
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
using store::Rows;
using store::Stmt;
using store::Tx;

// Puts a roll into the store the plain way (the roll service has its own tests).
void store_roll(Db& db, const Roll& roll, const Plan& plan) {
  static constexpr std::string_view kPersons[] = {"psn_no", "psn_name",  "gend",        "brdy",
                                                  "admdvs", "insutype",  "preexisting", "status",
                                                  "seq",    "updated_at"};
  static constexpr std::string_view kCats[] = {"psn_no", "category", "from_date", "recorded_at"};
  static constexpr std::string_view kEnr[] = {
      "id",          "psn_no", "plan_id", "product",         "begin_date", "end_date",
      "prior_years", "status", "source",  "renewal_consent", "created_at"};
  Rows persons(int(std::size(kPersons))), cats(int(std::size(kCats))), enr(int(std::size(kEnr)));
  for (size_t i = 0; i < roll.size(); ++i) {
    const Person& p = roll.person(i);
    persons.add_text(p.id());
    persons.add_text(p.name);
    persons.add_text(p.gend);
    persons.add_text(date_to_string(p.brdy));
    persons.add_text(std::to_string(p.admdvs));
    persons.add_text(std::to_string(p.insutype));
    persons.add_int64(p.preexisting);
    persons.add_text("active");
    persons.add_int64(1);
    persons.add_text("now");
    for (uint8_t k = 0; k < p.category_count; ++k) {
      const PersonCategory& c = p.categories[k];
      cats.add_text(p.id());
      cats.add_text(category_name(c.index));
      cats.add_text(c.dated ? date_to_string(c.from) : "1900-01-01");
      cats.add_text("now");
    }
  }
  int64_t id = 0;
  for (const Enrollment& e : roll.enrollments()) {
    enr.add_int64(++id);
    enr.add_text(roll.person(e.person).id());
    enr.add_text(plan.id);
    enr.add_text(plan.products[size_t(e.product)].id);
    enr.add_text(date_to_string(e.begin));
    enr.add_text(date_to_string(e.end));
    enr.add_int64(e.prior_years);
    enr.add_text("active");
    enr.add_text("voluntary");
    enr.add_int64(0);
    enr.add_text("now");
  }
  Tx tx(db);
  ASSERT_TRUE(tx.ok());
  ASSERT_TRUE(db.insert_rows({"persons", kPersons, ""}, persons).ok());
  ASSERT_TRUE(db.insert_rows({"person_categories", kCats, ""}, cats).ok());
  ASSERT_TRUE(db.insert_rows({"enrollments", kEnr, ""}, enr).ok());
  ASSERT_TRUE(tx.commit().ok());
}

class SettleServiceTest : public store::EngineTest {
 protected:
  void SetUp() override {
    store::EngineTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    const std::string plan_file =
        std::string(HUIBAO_SOURCE_DIR) + "/plans/" + plan_name() + ".toml";
    plan_text_ = slurp(plan_file);
    Result<Plan> plan = load_plan(plan_file);
    ASSERT_TRUE(plan.ok()) << plan.status().to_string();
    plan_ = std::move(*plan);
    GenOptions g;
    g.persons = 150;
    g.claims = 2500;  // about 17 claims a person: caps, segments and checkpoints are reached
    g.seed = 11;
    g.dir = (dir_ / "gen").string();
    g.invalid_per_10k = 150;
    GenStats st;
    ASSERT_TRUE(generate(plan_, g, &st).ok());
    ASSERT_TRUE(roll_.load_persons_csv(slurp(dir_ / "gen" / "persons.csv"), "persons.csv").ok());
    ASSERT_TRUE(
        roll_
            .load_enrollments_csv(slurp(dir_ / "gen" / "enrollments.csv"), "enrollments.csv", plan_)
            .ok());
    db_ = open();
    ASSERT_NE(db_, nullptr);
    ASSERT_TRUE(register_plan_version(*db_, plan_, plan_text_, "test").ok());
    store_roll(*db_, roll_, plan_);
  }

  virtual std::string plan_name() const { return "shandong-2024-huiminbao"; }

  // The file-to-file batch on the same roll.
  std::string settle_file(const fs::path& claims, bool explain) {
    BatchOptions o;
    o.claims_path = claims.string();
    o.out_path = (dir_ / "file.jsonl").string();
    o.explain = explain;
    o.threads = 2;
    BatchSummary s;
    Status st = run_settle_batch(plan_, roll_, o, &s);
    EXPECT_TRUE(st.ok()) << st.to_string();
    return slurp(o.out_path);
  }

  StoreSettleSummary settle_db(const fs::path& claims, bool explain, std::string* out,
                               size_t persons_per_commit = 4096) {
    StoreSettleOptions o;
    o.batch.claims_path = claims.string();
    o.batch.out_path = (dir_ / "db.jsonl").string();
    o.batch.explain = explain;
    o.batch.threads = 2;
    o.persons_per_commit = persons_per_commit;
    o.url = url_;  // PostgreSQL: two writer connections
    StoreSettleSummary s;
    Status st = settle_into_store(*db_, plan_, plan_text_, o, &s);
    EXPECT_TRUE(st.ok()) << st.to_string();
    *out = slurp(o.batch.out_path);
    return s;
  }

  // Every stored year state equals the replay of the stored settlements: the
  // stored claim lines, settled again from zero in claim order.
  void expect_states_replay() {
    std::string replay;
    {
      Result<Stmt*> st = db_->prepare(
          "SELECT request_json FROM settlements WHERE kind = 'settle' AND setl_id NOT IN "
          "(SELECT ref_setl_id FROM settlements WHERE kind = 'reversal') ORDER BY setl_id");
      ASSERT_TRUE(st.ok());
      for (;;) {
        Result<bool> row = (*st)->step();
        ASSERT_TRUE(row.ok());
        if (!*row) break;
        replay += std::string((*st)->column_text(0)) + "\n";
      }
    }
    spit(dir_ / "replay.jsonl", replay);
    BatchOptions o;
    o.claims_path = (dir_ / "replay.jsonl").string();
    o.out_path = (dir_ / "replay.out").string();
    o.explain = false;
    o.keep_raw = true;
    BatchJob job(plan_, roll_, o);
    ASSERT_TRUE(job.parse().ok());
    job.settle();
    std::map<std::string, std::pair<std::string, int64_t>> want;  // psn -> state, count
    job.for_each_person([&](uint32_t p, const uint32_t*, size_t count, const YearState& s) {
      want[std::string(roll_.person(p).id())] = {encode_year_state(plan_, s), int64_t(count)};
    });
    std::map<std::string, std::pair<std::string, int64_t>> got;
    Result<Stmt*> st = db_->prepare("SELECT psn_no, state, settlements FROM accumulators");
    ASSERT_TRUE(st.ok());
    for (;;) {
      Result<bool> row = (*st)->step();
      ASSERT_TRUE(row.ok());
      if (!*row) break;
      got[std::string((*st)->column_text(0))] = {std::string((*st)->column_text(1)),
                                                 (*st)->column_int64(2)};
    }
    EXPECT_EQ(got, want);
  }

  // Order-free: each stored year state has paid per layer exactly what the
  // person's stored settlements (with adjustments and reversals) pay, and
  // counts exactly their settlements. A claim counted twice, or a year state
  // that lost another writer's claims, breaks it.
  void expect_states_match_stored_payments() { expect_states_match_stored_payments_of(""); }
  void expect_states_match_stored_payments_of(const std::string& only) {
    std::map<std::pair<std::string, std::string>, Fen> stored;  // (psn, layer) -> net paid
    {
      Result<Stmt*> st = db_->prepare(
          "SELECT s.psn_no, l.layer, sum(l.amount_fen) FROM settlement_layers l JOIN settlements "
          "s ON s.setl_id = l.setl_id GROUP BY s.psn_no, l.layer");
      ASSERT_TRUE(st.ok());
      while (*(*st)->step())
        stored[{std::string((*st)->column_text(0)), std::string((*st)->column_text(1))}] =
            (*st)->column_int64(2);
    }
    // Each person-year's rows, and its settle rows that stand (not reversed).
    std::map<std::string, std::set<std::string>> rows;  // "psn plan year" -> setl_ids
    std::map<std::string, int64_t> standing;
    {
      Result<Stmt*> st = db_->prepare(
          "SELECT s.psn_no || ' ' || s.plan_id || ' ' || s.plan_year, s.setl_id, CASE WHEN "
          "s.kind = 'settle' AND NOT EXISTS (SELECT 1 FROM settlements r WHERE r.ref_setl_id = "
          "s.setl_id AND r.kind = 'reversal') THEN 1 ELSE 0 END FROM settlements s");
      ASSERT_TRUE(st.ok());
      while (*(*st)->step()) {
        const std::string key((*st)->column_text(0));
        EXPECT_TRUE(rows[key].insert(std::string((*st)->column_text(1))).second);
        standing[key] += (*st)->column_int64(2);
      }
    }
    Result<Stmt*> st = db_->prepare(
        "SELECT a.psn_no, a.state, a.settlements, a.psn_no || ' ' || a.plan_id || ' ' || a.year, "
        "a.setl_ids FROM accumulators a");
    ASSERT_TRUE(st.ok());
    size_t persons = 0;
    while (*(*st)->step()) {
      ++persons;
      const std::string psn((*st)->column_text(0)), key((*st)->column_text(3));
      YearState s;
      ASSERT_TRUE(decode_year_state(plan_, (*st)->column_text(1), &s).ok());
      EXPECT_EQ((*st)->column_int64(2), standing[key]) << psn;
      // The year state lists exactly the person-year's rows, each once.
      std::vector<std::string> ids;
      ASSERT_TRUE(parse_setl_ids((*st)->column_text(4), &ids).ok()) << psn;
      EXPECT_EQ(std::multiset<std::string>(ids.begin(), ids.end()),
                std::multiset<std::string>(rows[key].begin(), rows[key].end()))
          << psn;
      rows.erase(key);
      for (size_t l = 0; l < plan_.layers.size(); ++l)
        EXPECT_EQ(s.layer_paid[l], stored[std::make_pair(psn, plan_.layers[l].id)])
            << psn << " " << plan_.layers[l].id;
    }
    EXPECT_TRUE(rows.empty()) << "settlements of a year with no year state: "
                              << (rows.empty() ? "" : rows.begin()->first);
    EXPECT_GT(persons, only.empty() ? 100u : 0u);
  }

  std::string plan_text_;
  Plan plan_;
  Roll roll_;
  std::unique_ptr<Db> db_;
};

// accumulators.setl_ids: any id a claim may carry reads back as written;
// anything else in the column is a store error, not a shorter list.
TEST(SetlIdList, ReadsBackAnyIdAndRefusesWhatIsNotAList) {
  std::string list;
  const std::vector<std::string> ids = {"S1", "住院,2024:1", std::string(64, 'x'), "a b\n"};
  for (const std::string& id : ids) append_setl_id(id, &list);
  EXPECT_EQ(list.substr(0, 5), "2:S1,");
  std::vector<std::string> back = {"left over"};
  ASSERT_TRUE(parse_setl_ids(list, &back).ok());
  EXPECT_EQ(back, ids);
  ASSERT_TRUE(parse_setl_ids("", &back).ok());
  EXPECT_TRUE(back.empty());
  for (const char* bad :
       {"2:S1", "3:S1,", "2:S1;", "0:,", "x:S1,", ":S1,", "2S1,", "2:S1,3",
        "65:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx,", "-2:S1,"}) {
    Status st = parse_setl_ids(bad, &back);
    EXPECT_EQ(st.code(), Code::kStoreError) << bad;
    EXPECT_NE(st.message().find("netstrings"), std::string::npos) << bad;
  }
}

TEST_P(SettleServiceTest, StoresWhatTheFileBatchComputes) {
  const fs::path claims = dir_ / "gen" / "claims.jsonl";
  for (bool explain : {true, false}) {
    if (!explain) {  // a fresh store for the second pass
      ASSERT_TRUE(db_->exec("DELETE FROM settlements; DELETE FROM accumulators;").ok());
    }
    std::string got;
    StoreSettleSummary s = settle_db(claims, explain, &got);
    EXPECT_EQ(got, settle_file(claims, explain)) << "explain " << explain;
    EXPECT_GT(s.stored, 2000u);
    EXPECT_GT(s.writer_cpu_seconds, 0.0) << "the writer threads' CPU time is reported";
    EXPECT_EQ(s.batch.replayed, 0u);
    EXPECT_EQ(uint64_t(query_int(*db_, "SELECT count(*) FROM settlements")), s.stored);
    EXPECT_EQ(query_int(*db_, "SELECT sum(fund_pay_sumamt) FROM settlements"),
              int64_t(s.batch.fund_pay_sumamt));
    EXPECT_EQ(query_int(*db_, "SELECT sum(psn_part_amt) FROM settlements"),
              int64_t(s.batch.psn_part_amt));
    EXPECT_EQ(query_int(*db_, "SELECT sum(amount_fen) FROM settlement_layers"),
              int64_t(s.batch.fund_pay_sumamt + s.batch.hosp_part_amt));
    EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM settlements WHERE result_json IS NOT NULL"), 0)
        << "a plain answer is derived from the row, not stored beside it";
    expect_states_replay();
  }
}

// settle --db keeps each claim line where it read it (the whole file in
// memory): every stored settlement holds its line byte for byte, without the
// line end (LF or CRLF), also the last line of a file that ends without one;
// a line longer than a read block is answered malformed in its place, and the
// lines after it are read as before.
TEST_P(SettleServiceTest, StoresEachClaimLineAsItWasRead) {
  auto setl_id_of = [](const std::string& line) {
    const size_t at = line.find("\"setl_id\":\"") + 11;
    return line.substr(at, line.find('"', at) - at);
  };
  std::vector<std::string> lines = lines_of(slurp(dir_ / "gen" / "claims.jsonl"));
  ASSERT_GT(lines.size(), 1600u);
  // The last line (it will end the file unended) is one the file batch settles.
  const std::vector<std::string> settled =
      lines_of(settle_file(dir_ / "gen" / "claims.jsonl", false));
  size_t last = 1500;
  while (settled[last].find("\"settled\"") == std::string::npos) ++last;
  lines[1499] = lines[last];
  lines.resize(1500);
  std::string file;
  for (size_t k = 0; k < lines.size(); ++k) {
    if (k == 700) file += std::string(9 << 20, 'x') + "\n";  // more than a read block (8 MiB)
    file += lines[k] + (k % 3 == 0 ? "\r\n" : "\n");
  }
  while (file.back() == '\n' || file.back() == '\r') file.pop_back();
  spit(dir_ / "odd.jsonl", file);
  std::string out;
  StoreSettleSummary s = settle_db(dir_ / "odd.jsonl", false, &out);
  EXPECT_EQ(s.batch.records, lines.size() + 1);

  std::map<std::string, std::string> stored;  // setl_id -> request_json
  Result<Stmt*> st = db_->prepare("SELECT setl_id, request_json FROM settlements");
  ASSERT_TRUE(st.ok());
  while (*(*st)->step())
    stored[std::string((*st)->column_text(0))] = std::string((*st)->column_text(1));
  EXPECT_EQ(stored.size(), s.stored);
  // (The generated file repeats some setl_ids: the later lines are refused.)
  std::map<std::string, std::set<std::string>> given;  // setl_id -> its lines
  for (const std::string& l : lines) given[setl_id_of(l)].insert(l);
  size_t found = 0;
  for (const auto& [id, line] : stored) {
    EXPECT_EQ(given[id].count(line), 1u) << id << ": " << line;
    found += given[id].count(line);
  }
  EXPECT_EQ(found, stored.size());
  EXPECT_GT(found, 1000u);
  const std::vector<std::string> answers = lines_of(out);
  ASSERT_EQ(answers.size(), lines.size() + 1);
  EXPECT_NE(answers[700].find("malformed_record"), std::string::npos) << answers[700];
  EXPECT_EQ(stored[setl_id_of(lines.back())], lines.back()) << "the last line, unended";
}

// A claims file that is a pipe is read to its end and settled as the file
// would be; a file that changes size while it is read (here one of /proc: it
// says it is empty, and is not) is refused, naming the problem, and nothing
// more is stored.
TEST_P(SettleServiceTest, ReadsAPipeToItsEndAndRefusesAFileThatChangesSize) {
  const fs::path claims = dir_ / "gen" / "claims.jsonl";
  const fs::path fifo = dir_ / "claims.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::signal(SIGPIPE, SIG_IGN);  // should the reader stop early, the feeder's write fails
  std::thread feeder([&] { std::ofstream(fifo) << slurp(claims); });
  std::string from_pipe;
  StoreSettleSummary s = settle_db(fifo, false, &from_pipe);
  feeder.join();
  EXPECT_GT(s.stored, 2000u);
  EXPECT_EQ(from_pipe, settle_file(claims, false));

  StoreSettleOptions o;
  o.batch.claims_path = "/proc/self/status";
  o.batch.out_path = (dir_ / "proc.jsonl").string();
  o.url = url_;
  StoreSettleSummary sum;
  Status st = settle_into_store(*db_, plan_, plan_text_, o, &sum);
  EXPECT_EQ(st.code(), Code::kIoError) << st.to_string();
  EXPECT_NE(st.message().find("changed size while it was read"), std::string::npos)
      << st.to_string();
  EXPECT_EQ(uint64_t(query_int(*db_, "SELECT count(*) FROM settlements")), s.stored);
}

TEST_P(SettleServiceTest, ARetryIsAnsweredFromTheStoreAndAChangedLineIsRefused) {
  const fs::path claims = dir_ / "gen" / "claims.jsonl";
  std::string first, again;
  StoreSettleSummary s1 = settle_db(claims, false, &first);
  StoreSettleSummary s2 = settle_db(claims, false, &again);
  EXPECT_EQ(again, first) << "a retry answers exactly as the first time";
  EXPECT_EQ(s2.stored, 0u);
  EXPECT_EQ(s2.batch.replayed, s1.stored);
  EXPECT_EQ(uint64_t(query_int(*db_, "SELECT count(*) FROM settlements")), s1.stored);
  EXPECT_EQ(s2.plan_version, s1.plan_version) << "the same plan text is the same version";

  // Change the amounts of one stored claim, keeping its setl_id.
  std::vector<std::string> in = lines_of(slurp(claims));
  std::vector<std::string> out = lines_of(first);
  size_t k = 0;
  while (out[k].find("\"status\":\"settled\"") == std::string::npos) ++k;
  std::string changed = in[k];
  size_t at = changed.find("\"medfee_sumamt\":");
  ASSERT_NE(at, std::string::npos);
  changed.insert(at, "\"note\":\"resent\",");
  spit(dir_ / "changed.jsonl", changed + "\n");
  std::string refused;
  StoreSettleSummary s3 = settle_db(dir_ / "changed.jsonl", false, &refused);
  EXPECT_NE(refused.find("\"error\":\"duplicate_setl_id\""), std::string::npos) << refused;
  EXPECT_NE(refused.find("different content"), std::string::npos) << refused;
  EXPECT_EQ(s3.stored, 0u);
  expect_states_replay();
}

TEST_P(SettleServiceTest, AYearInTwoFilesEndsWhereOneFileDoes) {
  // Lines whose setl_id is used twice are left out: which of two such lines
  // comes first is input order in one file but file order in two.
  const std::vector<std::string> in = lines_of(slurp(dir_ / "gen" / "claims.jsonl"));
  auto id_of = [](const std::string& l) { return l.substr(0, l.find(",\"psn_no\"")); };
  std::map<std::string, int> uses;
  for (const std::string& l : in) ++uses[id_of(l)];
  // Split by admission date: every person's later claims come in the second file.
  std::string all, h1, h2;
  for (const std::string& l : in) {
    if (uses[id_of(l)] > 1) continue;
    size_t b = l.find("\"begndate\":\"");
    if (b == std::string::npos) b = l.find("\"accident_date\":\"");
    const bool late = b != std::string::npos && l.compare(l.find(":\"", b) + 2, 7, "2024-07") >= 0;
    all += l + "\n";
    (late ? h2 : h1) += l + "\n";
  }
  spit(dir_ / "all.jsonl", all);
  spit(dir_ / "h1.jsonl", h1);
  spit(dir_ / "h2.jsonl", h2);
  const std::string whole = settle_file(dir_ / "all.jsonl", false);
  std::string out1, out2;
  settle_db(dir_ / "h1.jsonl", false, &out1);
  settle_db(dir_ / "h2.jsonl", false, &out2);
  std::map<std::string, std::string> by_id;
  for (const std::string& l : lines_of(whole)) by_id[id_of(l)] = l;
  size_t compared = 0;
  for (const std::string& l : lines_of(out1 + out2)) {
    if (l.rfind("{\"setl_id\":null", 0) == 0) continue;  // unparseable lines have no id
    EXPECT_EQ(l, by_id[id_of(l)]);
    ++compared;
  }
  EXPECT_GT(compared, 2000u);
  expect_states_replay();
}

TEST_P(SettleServiceTest, AKilledRunLeavesPersonsWholeAndARerunCompletesTheYear) {
  const fs::path claims = dir_ / "gen" / "claims.jsonl";
  const std::string whole = settle_file(claims, false);
  db_.reset();  // the child opens its own connection
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::setenv("HUIBAO_TEST_EXIT_AFTER_COMMITS", "3", 1);
    Result<std::unique_ptr<Db>> db = store::open_db(url_);
    if (!db.ok()) std::_Exit(1);
    StoreSettleOptions o;
    o.batch.claims_path = claims.string();
    o.batch.out_path = (dir_ / "child.jsonl").string();
    o.batch.explain = false;
    o.persons_per_commit = 20;
    o.url = url_;
    StoreSettleSummary s;
    Status st = settle_into_store(**db, plan_, plan_text_, o, &s);
    std::_Exit(st.ok() ? 0 : 2);  // not reached: the hook ends the process after 3 commits
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 86) << "the crash hook did not fire";
  db_ = open();
  ASSERT_NE(db_, nullptr);
  const int64_t stored = query_int(*db_, "SELECT count(*) FROM settlements");
  EXPECT_GT(stored, 0);
  EXPECT_LT(stored, 2000) << "only the first commits are there";
  expect_states_replay();
  // Each stored person has all of their claims of the file (the group committed whole).
  EXPECT_EQ(query_int(*db_, "SELECT sum(settlements) FROM accumulators"), stored);

  std::string out;
  StoreSettleSummary s = settle_db(claims, false, &out, 20);
  EXPECT_EQ(s.batch.replayed, uint64_t(stored));
  EXPECT_EQ(out, whole) << "the rerun answers stored claims as then and settles the rest";
  expect_states_replay();
}

// SQLite: the writer's commits do not wait for the disk; a thread of its own
// syncs and copies the WAL. When settle --db returns, every frame it wrote
// is in the database file; with a small restart size the writer waits for
// the copies so the WAL starts over before every group (the file stays
// under a third of what the run adds to the database); a failed sync fails
// the run, naming it, and what was committed is whole.
TEST_P(SettleServiceTest, SqliteCommitsAreSyncedAndCopiedOffTheWriter) {
  if (GetParam() == Engine::kPostgres) GTEST_SKIP() << "SQLite's WAL";
  const fs::path claims = dir_ / "gen" / "claims.jsonl";
  const fs::path wal = dir_ / "store.db-wal";
  auto run = [&](int64_t restart_bytes, std::function<Status()> before_sync) {
    StoreSettleOptions o;
    o.batch.claims_path = claims.string();
    o.batch.out_path = (dir_ / "db.jsonl").string();
    o.batch.explain = false;
    o.persons_per_commit = 8;
    o.url = url_;
    o.log_restart_bytes = restart_bytes;
    o.before_sync = std::move(before_sync);
    StoreSettleSummary sum;
    return settle_into_store(*db_, plan_, plan_text_, o, &sum);
  };
  // Settlements the database file holds without its WAL (a copy of it alone).
  auto in_db_file = [&] {
    const fs::path copy = dir_ / "alone.db";
    for (const char* f : {"alone.db", "alone.db-wal", "alone.db-shm"}) fs::remove(dir_ / f);
    fs::copy_file(dir_ / "store.db", copy);
    Result<std::unique_ptr<Db>> alone = store::open_db("sqlite:" + copy.string());
    EXPECT_TRUE(alone.ok());
    return alone.ok() ? query_int(**alone, "SELECT count(*) FROM settlements") : -1;
  };
  auto fresh_store = [&] {
    db_.reset();
    for (const char* f : {"store.db", "store.db-wal", "store.db-shm"}) fs::remove(dir_ / f);
    db_ = open();
    ASSERT_NE(db_, nullptr);
    ASSERT_TRUE(register_plan_version(*db_, plan_, plan_text_, "test").ok());
    store_roll(*db_, roll_, plan_);
  };

  // Never restarted: the WAL holds the whole run, all of it copied.
  int syncs = 0;
  Status st = run(int64_t(1) << 40, [&] {
    ++syncs;
    return Status::Ok();
  });
  ASSERT_TRUE(st.ok()) << st.to_string();
  EXPECT_GE(syncs, 1) << "the copier syncs (one sync may cover several commits)";
  EXPECT_GT(query_int(*db_, "SELECT count(*) FROM settlements"), 2000);
  EXPECT_EQ(in_db_file(), query_int(*db_, "SELECT count(*) FROM settlements"));
  expect_states_match_stored_payments();

  // Restarted before every group: the WAL file stays one group's size, a
  // small part of the pages the run adds to the database. (Not compared
  // with the run above: there the WAL also starts over whenever the copier
  // happens to be done when a group begins.)
  fresh_store();
  ASSERT_TRUE(db_->exec("PRAGMA wal_checkpoint(TRUNCATE)").ok());
  const auto before = fs::file_size(dir_ / "store.db");
  st = run(1, nullptr);
  ASSERT_TRUE(st.ok()) << st.to_string();
  EXPECT_EQ(in_db_file(), query_int(*db_, "SELECT count(*) FROM settlements"));
  const auto grown = fs::file_size(dir_ / "store.db") - before;
  EXPECT_LT(fs::file_size(wal) * 3, grown) << fs::file_size(wal) << " vs " << grown;
  expect_states_match_stored_payments();

  // The second sync fails: the run fails, saying so, and stores no group
  // after it learns of it; what was committed is whole.
  fresh_store();
  syncs = 0;
  st = run(int64_t(1) << 40, [&] {
    return ++syncs == 2 ? Status(Code::kIoError, "injected: the disk is gone") : Status::Ok();
  });
  EXPECT_EQ(st.code(), Code::kIoError);
  EXPECT_NE(st.message().find("not known to be on disk"), std::string::npos) << st.to_string();
  EXPECT_NE(st.message().find("injected"), std::string::npos) << st.to_string();
  const int64_t stored = query_int(*db_, "SELECT count(*) FROM settlements");
  EXPECT_GT(stored, 0);
  EXPECT_EQ(query_int(*db_, "SELECT sum(settlements) FROM accumulators"), stored);
  expect_states_match_stored_payments_of("some persons");
}

// Two runs at once over the same persons (two connections): a run whose
// persons' year states another run changed since it read them stops with
// store_busy and stores nothing of that group; run again it completes. No
// year state ever counts a claim twice or misses one.
TEST_P(SettleServiceTest, ConcurrentRunsNeverDoubleCount) {
  // A first file gives most persons a stored year state; two more, split
  // by line parity, then run at the same time over the same persons.
  std::string first, a, b;
  size_t k = 0;
  for (const std::string& l : lines_of(slurp(dir_ / "gen" / "claims.jsonl"))) {
    std::string& to = k < 600 ? first : (k % 2 == 0 ? a : b);
    to += l + "\n";
    ++k;
  }
  spit(dir_ / "first.jsonl", first);
  spit(dir_ / "a.jsonl", a);
  spit(dir_ / "b.jsonl", b);
  std::string ignored;
  settle_db(dir_ / "first.jsonl", false, &ignored);
  ASSERT_GT(query_int(*db_, "SELECT count(*) FROM accumulators"), 100);
  auto run = [&](const fs::path& claims, const std::string& out) {
    Result<std::unique_ptr<Db>> db = store::open_db(url_);
    if (!db.ok()) return db.status();
    StoreSettleOptions o;
    o.batch.claims_path = claims.string();
    o.batch.out_path = out;
    o.batch.explain = false;
    o.batch.threads = 1;
    o.persons_per_commit = 7;  // many small groups, interleaving with the other run
    o.url = url_;
    StoreSettleSummary s;
    return settle_into_store(**db, plan_, plan_text_, o, &s);
  };
  Status sa, sb;
  std::thread ta([&] { sa = run(dir_ / "a.jsonl", (dir_ / "a.out").string()); });
  std::thread tb([&] { sb = run(dir_ / "b.jsonl", (dir_ / "b.out").string()); });
  ta.join();
  tb.join();
  for (const Status* s : {&sa, &sb})
    EXPECT_TRUE(s->ok() || s->code() == Code::kStoreBusy) << s->to_string();
  // Whatever got stored is consistent. (The year states need not equal a
  // replay in claim order: each run applies its claims after what is stored.)
  expect_states_match_stored_payments();
  // Reruns until both complete (each rerun answers what is stored).
  for (int round = 0; round < 5 && !(sa.ok() && sb.ok()); ++round) {
    if (!sa.ok()) sa = run(dir_ / "a.jsonl", (dir_ / "a.out").string());
    if (!sb.ok()) sb = run(dir_ / "b.jsonl", (dir_ / "b.out").string());
  }
  ASSERT_TRUE(sa.ok() && sb.ok()) << sa.to_string() << " / " << sb.to_string();
  expect_states_match_stored_payments();
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM settlements"),
            query_int(*db_, "SELECT sum(settlements) FROM accumulators"))
      << "every stored settlement is counted once in its person's year";
}

// A reversal takes the settlement back and re-settles the person's other
// claims of the year: afterwards every layer's net total for the person is
// what settling those other claims alone pays, and the year state is theirs.
TEST_P(SettleServiceTest, AReversalResettlesThePersonsOtherClaims) {
  std::string out;
  settle_db(dir_ / "gen" / "claims.jsonl", false, &out);
  // The person with the most settlements, and their earliest claim (the one
  // that consumed deductibles and moved segments for all the others).
  std::string psn, first;
  {
    Result<Stmt*> st = db_->prepare(
        "SELECT psn_no FROM settlements GROUP BY psn_no ORDER BY count(*) DESC, psn_no LIMIT 1");
    ASSERT_TRUE(st.ok());
    ASSERT_TRUE(*(*st)->step());
    psn = std::string((*st)->column_text(0));
    (*st)->reset();
    Result<Stmt*> f = db_->prepare(
        "SELECT setl_id FROM settlements WHERE psn_no = ? ORDER BY admission_date, "
        "discharge_date, setl_id LIMIT 1");
    ASSERT_TRUE(f.ok());
    (*f)->bind_text(1, psn);
    ASSERT_TRUE(*(*f)->step());
    first = std::string((*f)->column_text(0));
    (*f)->reset();
  }
  const int64_t fund_before =
      query_int(*db_, "SELECT sum(fund_pay_sumamt) FROM settlements WHERE psn_no = '" + psn + "'");
  Result<ReversalReport> r = reverse_settlement(*db_, plan_, plan_text_, first, "REV-1", "test");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->psn_no, psn);
  EXPECT_GT(r->resettled, 5u);
  EXPECT_FALSE(r->adjustments.empty()) << "the later claims now see a fresh deductible";
  expect_states_replay();
  expect_states_match_stored_payments();

  // The person's net layer totals equal settling their other claims alone.
  std::string others;
  {
    Result<Stmt*> st = db_->prepare(
        "SELECT request_json FROM settlements WHERE psn_no = ? AND kind = 'settle' AND setl_id "
        "<> ?");
    ASSERT_TRUE(st.ok());
    (*st)->bind_text(1, psn);
    (*st)->bind_text(2, first);
    while (*(*st)->step()) others += std::string((*st)->column_text(0)) + "\n";
  }
  spit(dir_ / "others.jsonl", others);
  Fen want_fund = 0;
  for (const std::string& l : lines_of(settle_file(dir_ / "others.jsonl", false))) {
    size_t at = l.find("\"fund_pay_sumamt\":\"");
    ASSERT_NE(at, std::string::npos) << l;
    Fen f = 0;
    at += 19;
    ASSERT_EQ(parse_decimal_string_fen(l.substr(at, l.find('"', at) - at), &f), AmountSyntax::kOk);
    want_fund += f;
  }
  EXPECT_EQ(
      query_int(*db_, "SELECT sum(fund_pay_sumamt) FROM settlements WHERE psn_no = '" + psn + "'"),
      want_fund);
  EXPECT_EQ(query_int(*db_,
                      "SELECT sum(l.amount_fen) FROM settlement_layers l JOIN settlements "
                      "s ON s.setl_id = l.setl_id WHERE s.psn_no = '" +
                          psn + "'"),
            want_fund + query_int(*db_,
                                  "SELECT sum(hosp_part_amt) FROM settlements WHERE "
                                  "psn_no = '" +
                                      psn + "'"));
  // (A capped person's total may stay the same: later claims take the cap room freed.)
  EXPECT_GT(r->fund_pay_reversed, 0);
  EXPECT_EQ(fund_before - r->fund_pay_reversed +
                std::accumulate(r->adjustments.begin(), r->adjustments.end(), Fen{0},
                                [](Fen a, const Adjustment& x) { return a + x.fund_pay_delta; }),
            want_fund);

  // The reversed claim sent again is refused, not answered with its old result.
  spit(dir_ / "again.jsonl", [&] {
    for (const std::string& l : lines_of(slurp(dir_ / "gen" / "claims.jsonl")))
      if (l.find("\"" + first + "\"") != std::string::npos) return l + "\n";
    return std::string();
  }());
  std::string again;
  settle_db(dir_ / "again.jsonl", false, &again);
  EXPECT_NE(again.find("then reversed"), std::string::npos) << again;

  // The same reversal asked again: its stored report, adjustments and all.
  Result<ReversalReport> replay = reverse_settlement(*db_, plan_, plan_text_, first, "REV-1", "x");
  ASSERT_TRUE(replay.ok()) << replay.status().to_string();
  EXPECT_TRUE(replay->replayed);
  EXPECT_EQ(replay->resettled, r->resettled);
  EXPECT_EQ(replay->fund_pay_reversed, r->fund_pay_reversed);
  ASSERT_EQ(replay->adjustments.size(), r->adjustments.size());
  for (size_t i = 0; i < r->adjustments.size(); ++i) {
    EXPECT_EQ(replay->adjustments[i].setl_id, r->adjustments[i].setl_id);
    EXPECT_EQ(replay->adjustments[i].adjusts, r->adjustments[i].adjusts);
    EXPECT_EQ(replay->adjustments[i].fund_pay_delta, r->adjustments[i].fund_pay_delta);
    EXPECT_EQ(replay->adjustments[i].fixmedins_code, r->adjustments[i].fixmedins_code);
  }

  // person show lists the person's rows (the reversal and adjustments too),
  // most recent first, as many as asked, and counts them all.
  PersonShowOptions show;
  show.actor = "test";
  show.unmasked = true;
  show.settlements_max = 4;
  PersonView view;
  ASSERT_TRUE(show_person(*db_, psn, show, &view).ok());
  EXPECT_EQ(view.settlement_count,
            query_int(*db_, "SELECT count(*) FROM settlements WHERE psn_no = '" + psn + "'"));
  std::vector<std::string> shown, want;
  for (const auto& x : view.settlements) shown.push_back(x.setl_id);
  {
    Result<Stmt*> st = db_->prepare(
        "SELECT setl_id FROM settlements WHERE psn_no = ? ORDER BY admission_date DESC, "
        "created_at DESC, setl_id DESC LIMIT 4");
    ASSERT_TRUE(st.ok());
    (*st)->bind_text(1, psn);
    while (*(*st)->step()) want.push_back(std::string((*st)->column_text(0)));
  }
  EXPECT_EQ(shown, want);
  show.settlements_max = 1000;
  ASSERT_TRUE(show_person(*db_, psn, show, &view).ok());
  EXPECT_EQ(int64_t(view.settlements.size()), view.settlement_count);
  EXPECT_TRUE(std::any_of(view.settlements.begin(), view.settlements.end(), [](const auto& x) {
    return x.setl_id == "REV-1" && x.kind == "reversal";
  }));

  // Refusals: twice, an adjustment, another plan text.
  EXPECT_EQ(reverse_settlement(*db_, plan_, plan_text_, first, "REV-2", "test").status().code(),
            Code::kDuplicateSetlId);
  EXPECT_FALSE(reverse_settlement(*db_, plan_, plan_text_, "REV-1.1", "REV-3", "test").ok());
  EXPECT_EQ(reverse_settlement(*db_, plan_, plan_text_ + "\n# edited\n", r->adjustments[0].adjusts,
                               "REV-4", "test")
                .status()
                .code(),
            Code::kPlanInvalid);
  EXPECT_EQ(query_int(*db_,
                      "SELECT count(*) FROM settlements WHERE setl_id LIKE 'REV-2%' OR "
                      "setl_id LIKE 'REV-3%' OR setl_id LIKE 'REV-4%'"),
            0)
      << "a refused reversal writes nothing";
}

// Plan A, with accident cases: stored results equal the file batch, and
// every settled accident is an accident case naming its settlement.
class SettleServicePlanATest : public SettleServiceTest {
 protected:
  std::string plan_name() const override { return "shandong-2020-fupin"; }
};

TEST_P(SettleServicePlanATest, StoresAccidentCases) {
  const fs::path claims = dir_ / "gen" / "claims.jsonl";
  std::string got;
  StoreSettleSummary s = settle_db(claims, false, &got);
  EXPECT_EQ(got, settle_file(claims, false));
  ASSERT_GT(s.batch.settled_accident, 20u);
  EXPECT_EQ(uint64_t(query_int(*db_, "SELECT count(*) FROM accident_cases")),
            s.batch.settled_accident);
  EXPECT_EQ(query_int(*db_,
                      "SELECT count(*) FROM accident_cases c JOIN settlements s ON "
                      "s.setl_id = c.setl_id WHERE s.claim_kind = 'accident' AND "
                      "s.admission_date = c.accident_date AND s.psn_no = c.psn_no"),
            int64_t(s.batch.settled_accident));
  EXPECT_EQ(query_int(*db_,
                      "SELECT sum(fund_pay_sumamt) FROM settlements WHERE claim_kind = "
                      "'accident'"),
            int64_t(s.batch.accident_total));
  EXPECT_EQ(query_int(*db_,
                      "SELECT count(*) FROM accident_cases WHERE (outcome = "
                      "'disability') <> (disability_grade IS NOT NULL)"),
            0);
  expect_states_replay();
  // A retry is answered from the stored rows, accidents as well, byte for byte.
  std::string again;
  StoreSettleSummary s2 = settle_db(claims, false, &again);
  EXPECT_EQ(again, got);
  EXPECT_EQ(s2.batch.replayed, s.stored);
  EXPECT_EQ(s2.stored, 0u);
}

INSTANTIATE_TEST_SUITE_P(Engines, SettleServicePlanATest,
                         ::testing::Values(Engine::kSqlite, Engine::kPostgres),
                         [](const auto& i) { return store::engine_name(i.param); });

// A category the roll ended and began again is two spans; the stored roll
// loads both, and only the days they cover count.
class RollLoadTest : public store::EngineTest {};

TEST_P(RollLoadTest, CategorySpansEndAndBeginAgain) {
  std::unique_ptr<Db> db = open();
  ASSERT_NE(db, nullptr);
  const std::string plan_file =
      std::string(HUIBAO_SOURCE_DIR) + "/plans/shandong-2024-huiminbao.toml";
  Result<Plan> plan = load_plan(plan_file);
  ASSERT_TRUE(plan.ok());
  const char* kPsn = "370102198001011237";
  ASSERT_TRUE(db->exec("INSERT INTO persons (psn_no, psn_name, gend, brdy, admdvs, insutype, "
                       "preexisting, status, seq, updated_at) VALUES ('370102198001011237', "
                       "'张三', '1', '1980-01-01', '370102', '390', 0, 'active', 1, 'now');"
                       "INSERT INTO person_categories (psn_no, category, from_date, to_date, "
                       "recorded_at) VALUES "
                       "('370102198001011237', 'dibao', '2023-05-01', '2024-03-31', 'now'),"
                       "('370102198001011237', 'dibao', '2024-07-01', NULL, 'now'),"
                       "('370102198001011237', 'orphan', '2022-01-01', '2023-12-31', 'now'),"
                       "('370102198001011237', 'tekun', '2025-01-01', NULL, 'now')")
                  .ok());
  Roll roll;
  ASSERT_TRUE(load_roll(*db, *plan, &roll, kPsn).ok());
  ASSERT_EQ(roll.size(), 1u);
  const Person& p = roll.person(0);
  EXPECT_EQ(p.category_count, 2) << "the spans outside 2024 are not loaded";
  auto on = [&](const char* d) {
    Date day;
    EXPECT_TRUE(parse_date(d, &day));
    return p.categories_on(day);
  };
  const CategoryMask dibao = CategoryMask(1) << category_index("dibao");
  EXPECT_EQ(on("2024-02-01"), dibao);
  EXPECT_EQ(on("2024-03-31"), dibao);
  EXPECT_EQ(on("2024-04-01"), 0u);
  EXPECT_EQ(on("2024-06-30"), 0u);
  EXPECT_EQ(on("2024-07-01"), dibao);
  EXPECT_EQ(on("2024-12-31"), dibao);
}

// A plan version is its text and the files it names: the drug list is stored
// with the version, and a changed drug list under the same text is a new one.
TEST_P(SettleServiceTest, APlanVersionKeepsItsDrugListAndAChangedListIsANewVersion) {
  ASSERT_FALSE(plan_.files.empty());
  const Plan::File& drugs = plan_.files[0];
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM plan_version_files WHERE version = 1"), 1);
  {
    Result<Stmt*> st = db_->prepare("SELECT file_name, content FROM plan_version_files");
    ASSERT_TRUE(st.ok());
    ASSERT_TRUE(*(*st)->step());
    EXPECT_EQ((*st)->column_text(0), drugs.name);
    EXPECT_EQ((*st)->column_text(1), drugs.content);
    (*st)->reset();
  }
  // The same text beside a drug list with one more code.
  const fs::path copy = dir_ / "plan";
  fs::create_directories(copy);
  spit(copy / "plan.toml", plan_text_);
  spit(copy / drugs.name, drugs.content + std::string(20, '9') + ",2024-01-01,\n");
  Result<Plan> changed = load_plan((copy / "plan.toml").string());
  ASSERT_TRUE(changed.ok()) << changed.status().to_string();
  Result<int> v2 = register_plan_version(*db_, *changed, plan_text_, "test");
  ASSERT_TRUE(v2.ok()) << v2.status().to_string();
  EXPECT_EQ(*v2, 2);
  EXPECT_EQ(*register_plan_version(*db_, plan_, plan_text_, "test"), 1);
  EXPECT_NE(plan_content_hash(*changed, plan_text_), plan_content_hash(plan_, plan_text_));
}

// Online settlement (service/online_settle.h): one claim at a time from many
// threads, gathered into group commits.
class OnlineSettleTest : public SettleServiceTest {
 protected:
  std::unique_ptr<OnlineSettler> open_settler(size_t max_group = 64,
                                              std::function<Status()> before_sync = {}) {
    OnlineOptions o;
    o.max_group = max_group;
    o.before_sync = std::move(before_sync);
    return open_settler(o);
  }
  std::unique_ptr<OnlineSettler> open_settler(OnlineOptions o) {
    o.url = url_;
    std::vector<OnlinePlan> plans;
    plans.push_back({plan_text_, plan_});
    Result<std::unique_ptr<OnlineSettler>> s = OnlineSettler::open(o, std::move(plans));
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    return s.ok() ? std::move(*s) : nullptr;
  }

  // Settles lines from eight threads, a person's claims all through one
  // thread, in order; each answer goes to seen(line index, answer).
  void settle_from_threads(OnlineSettler& settler, const std::vector<std::string>& lines,
                           const std::function<void(size_t, Result<OnlineOutcome>)>& seen) {
    constexpr int kThreads = 8;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (size_t i = 0; i < lines.size(); ++i) {
          const size_t at = lines[i].find("\"psn_no\":\"");
          const std::string psn =
              at == std::string::npos ? std::string() : lines[i].substr(at + 10, 18);
          if (std::hash<std::string>{}(psn) % kThreads != size_t(t)) continue;
          seen(i, settler.settle("", lines[i], false, "desk"));
        }
      });
    }
    for (std::thread& t : threads) t.join();
  }

  // A generated medical claim that settles under plan_ ("" if none does).
  std::string a_medical_claim_that_settles(OnlineSettler& settler) {
    for (const std::string& l : unique_lines_in_claim_order()) {
      Result<OnlineOutcome> pre = settler.presettle(plan_.id, l, false);
      EXPECT_TRUE(pre.ok()) << pre.status().to_string();
      if (pre.ok() && pre->code == Code::kOk && l.find("\"begndate\":\"") != std::string::npos)
        return l;
    }
    return "";
  }

  // The generated lines whose setl_id is used once, in the order a batch
  // applies a person's claims (DOMAIN.md §3: begndate, enddate, setl_id).
  std::vector<std::string> unique_lines_in_claim_order() {
    std::vector<std::string> in = lines_of(slurp(dir_ / "gen" / "claims.jsonl"));
    auto id_of = [](const std::string& l) { return l.substr(0, l.find(",\"psn_no\"")); };
    std::map<std::string, int> uses;
    for (const std::string& l : in) ++uses[id_of(l)];
    auto field = [](const std::string& l, std::string_view key) {
      size_t at = l.find(key);
      return at == std::string::npos ? std::string() : l.substr(at + key.size(), 12);
    };
    std::vector<std::string> out;
    for (const std::string& l : in) {
      if (uses[id_of(l)] == 1) out.push_back(l);
    }
    std::stable_sort(out.begin(), out.end(), [&](const std::string& a, const std::string& b) {
      return std::tuple(field(a, "\"begndate\":"), field(a, "\"enddate\":"), id_of(a)) <
             std::tuple(field(b, "\"begndate\":"), field(b, "\"enddate\":"), id_of(b));
    });
    return out;
  }
};

TEST_P(OnlineSettleTest, ClaimsFromManyThreadsStoreWhatTheFileBatchComputes) {
  const std::vector<std::string> lines = unique_lines_in_claim_order();
  std::string file;
  for (const std::string& l : lines) file += l + "\n";
  spit(dir_ / "unique.jsonl", file);
  // The file batch's answer to each line, by position.
  const std::vector<std::string> want = lines_of(settle_file(dir_ / "unique.jsonl", false));
  ASSERT_EQ(want.size(), lines.size());
  std::unique_ptr<OnlineSettler> settler = open_settler();
  ASSERT_NE(settler, nullptr);
  std::vector<std::string> got(lines.size());
  std::atomic<int> failures{0};
  settle_from_threads(*settler, lines, [&](size_t i, Result<OnlineOutcome> o) {
    if (!o.ok()) {
      ++failures;
      return;
    }
    got[i] = o->result_json;
    if (o->code == Code::kOk && (o->replayed || !o->committed)) ++failures;
  });
  EXPECT_EQ(failures.load(), 0);
  size_t settled = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(got[i], want[i]) << lines[i];
    settled += want[i].find("\"status\":\"settled\"") != std::string::npos;
  }
  EXPECT_GT(settled, 2000u);
  EXPECT_EQ(uint64_t(query_int(*db_, "SELECT count(*) FROM settlements")), settled);
  expect_states_replay();
}

// SQLite: the lane never checkpoints; a thread of its own copies the WAL
// into the database, and a busy lane still lets the WAL start over, so its
// file stays near log_restart_bytes however much is settled.
TEST_P(OnlineSettleTest, TheWalIsCopiedOffTheLaneAndStartsOverUnderLoad) {
  if (GetParam() == Engine::kPostgres) GTEST_SKIP() << "SQLite's WAL";
  const std::vector<std::string> lines = unique_lines_in_claim_order();
  const fs::path db_file = dir_ / "store.db";
  const fs::path wal = dir_ / "store.db-wal";
  const auto db_bytes_before = fs::file_size(db_file);
  OnlineOptions o;
  o.max_group = 16;
  o.checkpoint_bytes = 64 << 10;
  o.log_restart_bytes = 512 << 10;
  std::unique_ptr<OnlineSettler> settler = open_settler(o);
  ASSERT_NE(settler, nullptr);
  std::atomic<int> committed{0}, failures{0};
  std::atomic<uintmax_t> wal_max{0};
  settle_from_threads(*settler, lines, [&](size_t, Result<OnlineOutcome> r) {
    if (!r.ok()) {
      ++failures;
      return;
    }
    committed += r->committed;
    std::error_code ec;
    const uintmax_t size = fs::file_size(wal, ec);
    uintmax_t seen = wal_max.load();
    while (!ec && size > seen && !wal_max.compare_exchange_weak(seen, size)) {
    }
  });
  EXPECT_EQ(failures.load(), 0);
  ASSERT_GT(committed.load(), 2000);
  EXPECT_TRUE(settler->checkpoint_failure().ok()) << settler->checkpoint_failure().to_string();
  // Each commit wrote a few 16 KiB pages to the WAL: without starting over
  // it would have grown past 30 MiB. Restarts bound it near 512 KiB (plus
  // what the lane commits while the last checkpoint of a cycle runs).
  EXPECT_LT(wal_max.load(), uintmax_t(4) << 20);
  // And the settlements reached the database file while the settler ran.
  EXPECT_GT(fs::file_size(db_file), db_bytes_before + (uintmax_t(1) << 20));
  expect_states_replay();
}

// A failed checkpoint loses nothing: claims settle and are stored, the
// failure is reported, and the next checkpoint that succeeds clears it.
TEST_P(OnlineSettleTest, AFailedCheckpointLosesNothingAndIsReportedUntilOneSucceeds) {
  if (GetParam() == Engine::kPostgres) GTEST_SKIP() << "SQLite's WAL";
  std::atomic<bool> failing{true};
  std::atomic<int> attempts{0};
  OnlineOptions o;
  o.checkpoint_bytes = 1;  // a checkpoint after every commit
  o.before_checkpoint = [&] {
    ++attempts;
    return failing ? Status(Code::kIoError, "injected: the database file went away") : Status::Ok();
  };
  std::unique_ptr<OnlineSettler> settler = open_settler(o);
  ASSERT_NE(settler, nullptr);
  std::vector<std::string> lines = unique_lines_in_claim_order();
  lines.resize(std::min<size_t>(lines.size(), 200));
  int committed = 0;
  auto settle_all = [&](size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
      Result<OnlineOutcome> r = settler->settle("", lines[i], false, "desk");
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      committed += r->committed;
    }
  };
  settle_all(0, 100);
  // The checkpoint thread runs after the lane's commit: wait for one attempt.
  for (int i = 0; i < 500 && attempts.load() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_GT(attempts.load(), 0);
  EXPECT_EQ(settler->checkpoint_failure().code(), Code::kIoError);
  EXPECT_TRUE(settler->sync_failure().ok()) << "a checkpoint is not a sync";
  failing = false;
  const int before = attempts.load();
  settle_all(100, lines.size());
  for (int i = 0; i < 500 && (attempts.load() == before || !settler->checkpoint_failure().ok());
       ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(settler->checkpoint_failure().ok()) << settler->checkpoint_failure().to_string();
  EXPECT_GT(committed, 50);
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM settlements"), committed);
  expect_states_replay();
}

TEST_P(OnlineSettleTest, ConcurrentClaimsForOnePersonNeverDoubleCount) {
  // The person with the most claims; every claim sent twice at once.
  const std::vector<std::string> lines = unique_lines_in_claim_order();
  std::map<std::string, std::vector<std::string>> by_person;
  for (const std::string& l : lines) {
    const size_t at = l.find("\"psn_no\":\"");
    if (at != std::string::npos) by_person[l.substr(at + 10, 18)].push_back(l);
  }
  const auto most = std::max_element(by_person.begin(), by_person.end(), [](auto& a, auto& b) {
    return a.second.size() < b.second.size();
  });
  ASSERT_GT(most->second.size(), 15u);
  std::unique_ptr<OnlineSettler> settler = open_settler(8);
  ASSERT_NE(settler, nullptr);
  std::atomic<int> committed{0}, replayed{0}, failed{0};
  std::vector<std::thread> threads;
  for (int copy = 0; copy < 2; ++copy) {
    for (const std::string& l : most->second) {
      threads.emplace_back([&, l] {
        Result<OnlineOutcome> o = settler->settle("", l, false, "desk");
        if (!o.ok()) {
          ++failed;
        } else if (o->committed) {
          ++committed;
        } else if (o->replayed) {
          ++replayed;
        }
      });
    }
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(committed.load(), replayed.load()) << "each claim stored once, its copy replayed";
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM settlements"), committed.load());
  expect_states_match_stored_payments_of(most->first);
}

TEST_P(OnlineSettleTest, PresettleRetryConflictReversalAndBenefits) {
  std::unique_ptr<OnlineSettler> settler = open_settler();
  ASSERT_NE(settler, nullptr);
  const std::vector<std::string> lines = unique_lines_in_claim_order();
  // A medical claim that pays something.
  std::string line;
  for (const std::string& l : lines) {
    if (l.find("\"kind\":\"accident\"") != std::string::npos) continue;
    Result<OnlineOutcome> o = settler->presettle("", l, true);
    ASSERT_TRUE(o.ok()) << o.status().to_string();
    if (o->code == Code::kOk &&
        o->result_json.find("\"fund_pay_sumamt\":\"0.00\"") == std::string::npos) {
      line = l;
      break;
    }
  }
  ASSERT_FALSE(line.empty());
  Result<OnlineOutcome> pre = settler->presettle("", line, true);
  ASSERT_TRUE(pre.ok());
  EXPECT_FALSE(pre->committed);
  EXPECT_NE(pre->explanation_json.find("["), std::string::npos);
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM settlements"), 0) << "presettle writes nothing";

  Result<OnlineOutcome> first = settler->settle("", line, true, "desk");
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_TRUE(first->committed);
  EXPECT_EQ(first->result_json, pre->result_json);
  EXPECT_EQ(first->explanation_json, pre->explanation_json);
  EXPECT_FALSE(first->fixmedins_code.empty());
  Result<OnlineOutcome> again = settler->settle("", line + "\r\n", false, "desk");
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->result_json, first->result_json);
  std::string changed = line;
  changed.insert(changed.find("\"medfee_sumamt\":"), "\"note\":\"resent\",");
  Result<OnlineOutcome> conflict = settler->settle("", changed, false, "desk");
  ASSERT_TRUE(conflict.ok());
  EXPECT_EQ(conflict->code, Code::kDuplicateSetlId);
  EXPECT_NE(conflict->result_json.find("\"error\":\"duplicate_setl_id\""), std::string::npos);
  for (std::string_view bad : {"", "{", "[1]", "{\"setl_id\":\"x\"}"}) {
    Result<OnlineOutcome> o = settler->settle("", bad, false, "desk");
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o->code, Code::kMalformedRecord) << bad;
    EXPECT_FALSE(o->committed);
  }
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM settlements"), 1);
  EXPECT_EQ(settler->settle("no-such-plan", line, false, "desk").status().code(), Code::kNotFound);

  // What the person has left reflects the stored settlement.
  const std::string psn = first->psn_no;
  Result<std::string> benefits = settler->benefits_json({psn, plan_.period_begin, ""});
  ASSERT_TRUE(benefits.ok()) << benefits.status().to_string();
  auto j = nlohmann::json::parse(*benefits);
  ASSERT_EQ(j["plans"].size(), 1u);
  YearState state;
  {
    Result<Stmt*> st = db_->prepare("SELECT state FROM accumulators WHERE psn_no = ?");
    ASSERT_TRUE(st.ok());
    (*st)->bind_text(1, psn);
    ASSERT_TRUE(*(*st)->step());
    ASSERT_TRUE(decode_year_state(plan_, (*st)->column_text(0), &state).ok());
    (*st)->reset();
  }
  Fen paid_total = 0;
  for (size_t l = 0; l < plan_.layers.size(); ++l) {
    const auto& layer = j["plans"][0]["layers"][l];
    EXPECT_EQ(layer["layer"], plan_.layers[l].id);
    EXPECT_EQ(layer["paid"], fen_to_string(state.layer_paid[l]));
    paid_total += state.layer_paid[l];
  }
  EXPECT_GT(paid_total, 0);
  for (size_t d = 0; d < plan_.deductible_groups.size(); ++d) {
    const auto& g = j["plans"][0]["deductibles"][d];
    EXPECT_EQ(g["used"], fen_to_string(state.deductible_used[d]));
    if (g["amount"] != "varies") {
      Fen amount = 0, left = 0;
      ASSERT_EQ(parse_decimal_string_fen(g["amount"].get<std::string>(), &amount),
                AmountSyntax::kOk);
      ASSERT_EQ(parse_decimal_string_fen(g["left"].get<std::string>(), &left), AmountSyntax::kOk);
      EXPECT_EQ(left, std::max(Fen{0}, amount - state.deductible_used[d]));
    }
  }
  EXPECT_EQ(settler->benefits_json({"110101199003074679", plan_.period_begin, ""}).status().code(),
            Code::kUnknownPerson);

  // A reversal through the settler; the reversed setl_id is then refused.
  Result<StoredSettlement> found = settler->find_settlement(
      first->result_json.substr(12, first->result_json.find('"', 12) - 12));
  ASSERT_TRUE(found.ok()) << found.status().to_string();
  EXPECT_EQ(found->fixmedins_code, first->fixmedins_code);
  Result<ReversalReport> rev = settler->reverse(found->setl_id, "REV-1", "desk");
  ASSERT_TRUE(rev.ok()) << rev.status().to_string();
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM settlements WHERE kind = 'reversal'"), 1);
  Result<StoredSettlement> reversal = settler->find_settlement("REV-1");
  ASSERT_TRUE(reversal.ok());
  EXPECT_EQ(reversal->fixmedins_code, first->fixmedins_code) << "the hospital of what it reverses";
  EXPECT_TRUE(settler->find_settlement(found->setl_id)->reversed);
  Result<OnlineOutcome> after = settler->settle("", line, false, "desk");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->code, Code::kDuplicateSetlId);
  EXPECT_EQ(settler->find_settlement("nope").status().code(), Code::kNotFound);
  settler->drain();
  EXPECT_EQ(settler->settle("", line, false, "desk").status().code(), Code::kUnavailable);
}

// Two plans of one region and year: a claim refused before its date is
// looked at is answered as such; a settleable one must name its plan.
TEST_P(OnlineSettleTest, RoutingAmongPlansOfOneRegionAndYear) {
  std::string twin_text = plan_text_;
  const std::string id_line = "id = \"" + plan_.id + "\"";
  twin_text.replace(twin_text.find(id_line), id_line.size(), "id = \"twin\"");
  const fs::path plans = fs::path(HUIBAO_SOURCE_DIR) / "plans";
  Result<Plan> twin = load_plan_from_string(twin_text, "twin.toml", plans.string());
  ASSERT_TRUE(twin.ok()) << twin.status().to_string();
  OnlineOptions o;
  o.url = url_;
  std::vector<OnlinePlan> served;
  served.push_back({plan_text_, plan_});
  served.push_back({twin_text, *twin});
  Result<std::unique_ptr<OnlineSettler>> settler = OnlineSettler::open(o, std::move(served));
  ASSERT_TRUE(settler.ok()) << settler.status().to_string();
  const std::string line = a_medical_claim_that_settles(**settler);
  ASSERT_FALSE(line.empty());
  Result<OnlineOutcome> ambiguous = (*settler)->settle("", line, false, "desk");
  EXPECT_EQ(ambiguous.status().code(), Code::kMalformedRecord);
  EXPECT_NE(ambiguous.status().message().find("name the plan_id"), std::string::npos);
  std::string bad_date = line;
  const size_t at = bad_date.find("\"begndate\":\"") + 12;
  bad_date.replace(at, 10, "2024-02-30");
  Result<OnlineOutcome> dated = (*settler)->settle("", bad_date, false, "desk");
  ASSERT_TRUE(dated.ok());
  EXPECT_EQ(dated->code, Code::kInvalidDates) << dated->message;
  Result<OnlineOutcome> named = (*settler)->settle("twin", line, false, "desk");
  ASSERT_TRUE(named.ok());
  EXPECT_TRUE(named->committed);
  EXPECT_EQ(named->plan_id, "twin");
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM settlements"), 1);
}

// Without a plan_id, a claim goes to the plan of the person's region whose
// period holds its date, also when the first plan served is of another year
// (the claim parsed under it is refused, and keeps no line to route with).
TEST_P(OnlineSettleTest, RoutingByDateWhenTheFirstPlanIsOfAnotherYear) {
  std::string earlier_text = plan_text_;
  auto replace = [&](const std::string& from, const std::string& to) {
    const size_t at = earlier_text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    earlier_text.replace(at, from.size(), to);
  };
  replace("id = \"" + plan_.id + "\"", "id = \"earlier\"");
  const std::string year = std::to_string(plan_.year());
  const std::string before = std::to_string(plan_.year() - 1);
  // Every date YYYY-MM-DD of the plan's year (not file names such as its drug list's).
  for (size_t at = earlier_text.find(year + "-"); at != std::string::npos;
       at = earlier_text.find(year + "-", at + 4)) {
    const bool date = at + 10 <= earlier_text.size() && std::isdigit(earlier_text[at + 5]) &&
                      earlier_text[at + 7] == '-';
    if (date) earlier_text.replace(at, 4, before);
  }
  const fs::path plans = fs::path(HUIBAO_SOURCE_DIR) / "plans";
  Result<Plan> earlier = load_plan_from_string(earlier_text, "earlier.toml", plans.string());
  ASSERT_TRUE(earlier.ok()) << earlier.status().to_string();
  ASSERT_EQ(earlier->year(), plan_.year() - 1);
  OnlineOptions o;
  o.url = url_;
  std::vector<OnlinePlan> served;
  served.push_back({earlier_text, *earlier});  // served first
  served.push_back({plan_text_, plan_});
  Result<std::unique_ptr<OnlineSettler>> settler = OnlineSettler::open(o, std::move(served));
  ASSERT_TRUE(settler.ok()) << settler.status().to_string();
  const std::string line = a_medical_claim_that_settles(**settler);
  ASSERT_FALSE(line.empty());
  Result<OnlineOutcome> pre = (*settler)->presettle("", line, false);
  ASSERT_TRUE(pre.ok()) << pre.status().to_string();
  EXPECT_EQ(pre->code, Code::kOk) << pre->message;
  EXPECT_EQ(pre->plan_id, plan_.id);
  Result<OnlineOutcome> settled = (*settler)->settle("", line, false, "desk");
  ASSERT_TRUE(settled.ok()) << settled.status().to_string();
  EXPECT_EQ(settled->code, Code::kOk) << settled->message;
  EXPECT_EQ(settled->plan_id, plan_.id);
  EXPECT_TRUE(settled->committed);
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM settlements WHERE plan_id = '" + plan_.id + "'"),
            1);
}

// A claim malformed under the first plan served (here: a given amount for a
// layer that plan lacks) is routed to the plan that can read it; and a claim
// stored before is answered as stored without routing (which would now call
// it ambiguous), under the plan it was settled under.
TEST_P(OnlineSettleTest, RoutingLooksPastAPlanThatCannotReadTheClaimAndRetriesAreReplayed) {
  std::string other_text = plan_text_;
  auto replace = [&](const std::string& from, const std::string& to) {
    const size_t at = other_text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    other_text.replace(at, from.size(), to);
  };
  replace("id = \"" + plan_.id + "\"", "id = \"other\"");
  replace("id = \"maf\"", "id = \"maf2\"");
  replace("hifob + maf)", "hifob + maf2)");
  const fs::path plans = fs::path(HUIBAO_SOURCE_DIR) / "plans";
  Result<Plan> other = load_plan_from_string(other_text, "other.toml", plans.string());
  ASSERT_TRUE(other.ok()) << other.status().to_string();
  OnlineOptions o;
  o.url = url_;
  std::vector<OnlinePlan> served;
  served.push_back({other_text, *other});  // served first
  served.push_back({plan_text_, plan_});
  Result<std::unique_ptr<OnlineSettler>> settler = OnlineSettler::open(o, std::move(served));
  ASSERT_TRUE(settler.ok()) << settler.status().to_string();
  std::string line = a_medical_claim_that_settles(**settler);
  ASSERT_FALSE(line.empty());
  line.insert(line.rfind('}'), ",\"given\":{\"maf_pay\":\"0.00\"}");
  Result<OnlineOutcome> settled = (*settler)->settle("", line, false, "desk");
  ASSERT_TRUE(settled.ok()) << settled.status().to_string();
  EXPECT_EQ(settled->code, Code::kOk) << settled->message;
  EXPECT_EQ(settled->plan_id, plan_.id);
  EXPECT_TRUE(settled->committed);

  // Both plans read this one: routing alone would ask for the plan_id.
  const std::string plain = a_medical_claim_that_settles(**settler);
  ASSERT_FALSE(plain.empty());
  EXPECT_EQ((*settler)->settle("", plain, false, "desk").status().code(), Code::kMalformedRecord);
  Result<OnlineOutcome> named = (*settler)->settle(plan_.id, plain, false, "desk");
  ASSERT_TRUE(named.ok());
  ASSERT_TRUE(named->committed) << named->message;
  Result<OnlineOutcome> retry = (*settler)->settle("", plain, false, "desk");
  ASSERT_TRUE(retry.ok()) << retry.status().to_string();
  EXPECT_TRUE(retry->replayed);
  EXPECT_EQ(retry->plan_id, plan_.id);
  EXPECT_EQ(retry->result_json, named->result_json);
  // The same bytes under the other plan are not that settlement.
  Result<OnlineOutcome> elsewhere = (*settler)->settle("other", plain, false, "desk");
  ASSERT_TRUE(elsewhere.ok());
  EXPECT_EQ(elsewhere->code, Code::kDuplicateSetlId);
  EXPECT_NE(elsewhere->message.find("under plan " + plan_.id), std::string::npos)
      << elsewhere->message;
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM settlements"), 2);
}

// A reversal asked again with the same id is answered as stored; an id
// already taken is refused; ids are stored as JSON strings, escaped.
TEST_P(OnlineSettleTest, ReversalRetriesAreReplayedAndIdsAreEscaped) {
  std::unique_ptr<OnlineSettler> settler = open_settler();
  ASSERT_NE(settler, nullptr);
  const std::vector<std::string> lines = unique_lines_in_claim_order();
  std::vector<std::string> ids;
  for (const std::string& l : lines) {
    Result<OnlineOutcome> o = settler->settle("", l, false, "desk");
    ASSERT_TRUE(o.ok());
    if (o->committed) ids.push_back(nlohmann::json::parse(o->result_json)["setl_id"]);
    if (ids.size() == 3) break;
  }
  ASSERT_EQ(ids.size(), 3u);
  const std::string rid = "REV\"1\\";  // a quote and a backslash
  Result<ReversalReport> first = settler->reverse(ids[0], rid, "desk");
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_FALSE(first->replayed);
  Result<ReversalReport> again = settler->reverse(ids[0], rid, "desk");
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->psn_no, first->psn_no);
  EXPECT_EQ(again->fund_pay_reversed, first->fund_pay_reversed);
  EXPECT_EQ(again->hosp_part_reversed, first->hosp_part_reversed);
  EXPECT_EQ(again->resettled, first->resettled);
  ASSERT_EQ(again->adjustments.size(), first->adjustments.size());
  for (size_t i = 0; i < first->adjustments.size(); ++i) {
    EXPECT_EQ(again->adjustments[i].setl_id, first->adjustments[i].setl_id);
    EXPECT_EQ(again->adjustments[i].fund_pay_delta, first->adjustments[i].fund_pay_delta);
  }
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM settlements WHERE kind = 'reversal'"), 1);
  {
    Result<Stmt*> st =
        db_->prepare("SELECT request_json, result_json FROM settlements WHERE kind = 'reversal'");
    ASSERT_TRUE(st.ok());
    ASSERT_TRUE(*(*st)->step());
    auto request = nlohmann::json::parse(std::string((*st)->column_text(0)), nullptr, false);
    auto result = nlohmann::json::parse(std::string((*st)->column_text(1)), nullptr, false);
    (*st)->reset();
    ASSERT_FALSE(request.is_discarded());
    ASSERT_FALSE(result.is_discarded());
    EXPECT_EQ(result["setl_id"], rid);
    EXPECT_EQ(request["reverses"], ids[0]);
  }
  // Another reversal of the same settlement, and an id that is a settlement's.
  Result<ReversalReport> second = settler->reverse(ids[0], "REV-2", "desk");
  EXPECT_EQ(second.status().code(), Code::kDuplicateSetlId);
  EXPECT_NE(second.status().message().find(rid), std::string::npos);
  Result<ReversalReport> clash = settler->reverse(ids[1], ids[2], "desk");
  EXPECT_EQ(clash.status().code(), Code::kDuplicateSetlId) << clash.status().to_string();
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM settlements WHERE kind = 'reversal'"), 1);
}

// setl_id of a claim line.
std::string setl_id_of(const std::string& line) {
  const size_t at = line.find("\"setl_id\":\"");
  if (at == std::string::npos) return "";
  const size_t from = at + 11;
  return line.substr(from, line.find('"', from) - from);
}

TEST_P(OnlineSettleTest, AnswersWaitUntilTheirCommitIsOnDisk) {
  // The sync thread is held at its first sync until the test lets it go.
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, released = false;
  int syncs = 0;
  std::unique_ptr<OnlineSettler> settler = open_settler(64, [&] {
    std::unique_lock<std::mutex> lock(mu);
    ++syncs;
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return released; });
    return Status::Ok();
  });
  ASSERT_NE(settler, nullptr);
  const std::string line = a_medical_claim_that_settles(*settler);
  ASSERT_FALSE(line.empty());
  const std::string id = setl_id_of(line);
  if (GetParam() == Engine::kPostgres) {
    // Every PostgreSQL commit syncs itself: nothing is deferred.
    Result<OnlineOutcome> o = settler->settle("", line, false, "desk");
    ASSERT_TRUE(o.ok()) << o.status().to_string();
    EXPECT_TRUE(o->committed);
    EXPECT_EQ(syncs, 0);
    return;
  }
  auto settled =
      std::async(std::launch::async, [&] { return settler->settle("", line, false, "desk"); });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return entered; });
  }
  // The commit is made (its sync comes after it) and another connection
  // sees it; neither the settlement nor a read of it is answered before the
  // sync returns.
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM settlements WHERE setl_id = '" + id + "'"), 1);
  auto read = std::async(std::launch::async, [&] { return settler->find_settlement(id); });
  EXPECT_EQ(read.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  EXPECT_EQ(settled.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  {
    std::lock_guard<std::mutex> lock(mu);
    released = true;
  }
  cv.notify_all();
  Result<OnlineOutcome> o = settled.get();
  ASSERT_TRUE(o.ok()) << o.status().to_string();
  EXPECT_TRUE(o->committed);
  Result<StoredSettlement> r = read.get();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->result_json, o->result_json);
  EXPECT_TRUE(settler->await_durable().ok());
  EXPECT_EQ(syncs, 1);
}

TEST_P(OnlineSettleTest, AFailedSyncIsNeverAcknowledgedAndARestartRecovers) {
  const std::vector<std::string> lines = unique_lines_in_claim_order();
  if (GetParam() == Engine::kPostgres) {
    // Each PostgreSQL commit syncs itself: there is no deferred sync to fail.
    std::unique_ptr<OnlineSettler> settler =
        open_settler(64, [] { return Status(Code::kIoError, "injected: the disk went away"); });
    ASSERT_NE(settler, nullptr);
    const std::string line = a_medical_claim_that_settles(*settler);
    Result<OnlineOutcome> o = settler->settle("", line, false, "desk");
    ASSERT_TRUE(o.ok()) << o.status().to_string();
    EXPECT_TRUE(o->committed);
    EXPECT_TRUE(settler->sync_failure().ok());
    return;
  }
  std::string line, other;
  {
    std::unique_ptr<OnlineSettler> settler =
        open_settler(64, [] { return Status(Code::kIoError, "injected: the disk went away"); });
    ASSERT_NE(settler, nullptr);
    line = a_medical_claim_that_settles(*settler);
    ASSERT_FALSE(line.empty());
    for (const std::string& l : lines) {
      if (setl_id_of(l) != setl_id_of(line) &&
          l.find("\"kind\":\"accident\"") == std::string::npos) {
        other = l;
        break;
      }
    }
    ASSERT_FALSE(other.empty());
    Result<OnlineOutcome> o = settler->settle("", line, false, "desk");
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.status().code(), Code::kStoreError);
    EXPECT_NE(o.status().message().find("not known to be on disk"), std::string::npos)
        << o.status().to_string();
    EXPECT_NE(o.status().message().find("injected"), std::string::npos);
    // From then on nothing is answered from the store.
    EXPECT_EQ(settler->sync_failure().code(), Code::kStoreError);
    EXPECT_EQ(settler->settle("", other, false, "desk").status().code(), Code::kStoreError);
    EXPECT_EQ(settler->presettle("", other, false).status().code(), Code::kStoreError);
    EXPECT_EQ(settler->find_settlement(setl_id_of(line)).status().code(), Code::kStoreError);
    EXPECT_EQ(settler->reverse(setl_id_of(line), "REV-X", "desk").status().code(),
              Code::kStoreError);
  }
  // The first claim's commit was written, only its sync failed; the second
  // was refused before its group began. After a restart a retry of each gets
  // the one answer the claim has.
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM settlements"), 1);
  std::unique_ptr<OnlineSettler> settler = open_settler();
  ASSERT_NE(settler, nullptr);
  Result<OnlineOutcome> retry = settler->settle("", line, false, "desk");
  ASSERT_TRUE(retry.ok()) << retry.status().to_string();
  EXPECT_TRUE(retry->replayed);
  Result<OnlineOutcome> second = settler->settle("", other, false, "desk");
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_FALSE(second->replayed);
  EXPECT_EQ(query_int(*db_, "SELECT count(*) FROM settlements"), 1 + int(second->committed));
  expect_states_replay();
}

INSTANTIATE_TEST_SUITE_P(Engines, OnlineSettleTest,
                         ::testing::Values(Engine::kSqlite, Engine::kPostgres),
                         [](const auto& i) { return store::engine_name(i.param); });

INSTANTIATE_TEST_SUITE_P(Engines, RollLoadTest,
                         ::testing::Values(Engine::kSqlite, Engine::kPostgres),
                         [](const auto& i) { return store::engine_name(i.param); });

INSTANTIATE_TEST_SUITE_P(Engines, SettleServiceTest,
                         ::testing::Values(Engine::kSqlite, Engine::kPostgres),
                         [](const auto& i) { return store::engine_name(i.param); });

}  // namespace
}  // namespace huibao

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new huibao::pgtest::PgEnvironment("/postgres"));
  return RUN_ALL_TESTS();
}
