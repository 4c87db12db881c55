// The store's connection layer and schema: the same test bodies run against
// SQLite (a temporary file) and a real PostgreSQL 15 server the suite starts
// itself (pg_harness.h). A PostgreSQL test fails when no server could be
// started, unless HUIBAO_NO_PG=1.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <set>
#include <thread>

#include <unistd.h>

#include "pg_harness.h"
#include "store/db.h"
#include "store/migrate.h"

namespace fs = std::filesystem;

namespace huibao::store {
namespace {

using huibao::pgtest::PgEnvironment;

std::string engine_name(Engine e) {
  return e == Engine::kSqlite ? "sqlite" : "postgres";
}

}  // namespace

// How gtest (and so ctest's test names) print an engine.
void PrintTo(Engine e, std::ostream* os) {
  *os << engine_name(e);
}

namespace {

class StoreTest : public ::testing::TestWithParam<Engine> {
 protected:
  void SetUp() override {
    if (GetParam() == Engine::kSqlite) {
      static int counter = 0;
      dir_ = fs::temp_directory_path() /
             ("huibao-store-" + std::to_string(getpid()) + "-" + std::to_string(++counter));
      fs::remove_all(dir_);
      fs::create_directories(dir_);
      url_ = "sqlite:" + (dir_ / "store.db").string();
      return;
    }
    if (PgEnvironment::disabled()) GTEST_SKIP() << "HUIBAO_NO_PG=1";
    if (PgEnvironment::server() == nullptr) {
      FAIL() << "PostgreSQL is needed for this test and could not be started: "
             << PgEnvironment::failure();
    }
    Result<std::string> url = PgEnvironment::server()->create_database();
    ASSERT_TRUE(url.ok()) << url.status().to_string();
    url_ = *url;
  }

  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // Opens (and migrates) a connection; null after reporting a failure.
  std::unique_ptr<Db> open() {
    Result<std::unique_ptr<Db>> db = open_db(url_);
    EXPECT_TRUE(db.ok()) << db.status().to_string();
    return db.ok() ? std::move(*db) : nullptr;
  }

  std::string url_;
  fs::path dir_;
};

// Runs one statement with no result; fails the test on error.
void run(Db& db, std::string_view sql) {
  Status s = db.exec(sql);
  ASSERT_TRUE(s.ok()) << s.to_string();
}

// The single integer a query returns.
int64_t query_int(Db& db, std::string_view sql) {
  Result<Stmt*> st = db.prepare(sql);
  EXPECT_TRUE(st.ok()) << st.status().to_string();
  if (!st.ok()) return -1;
  Result<bool> row = (*st)->step();
  EXPECT_TRUE(row.ok() && *row) << row.status().to_string();
  const int64_t v = row.ok() && *row ? (*st)->column_int64(0) : -1;
  (*st)->reset();
  return v;
}

int64_t count_rows(Db& db, std::string_view table) {
  // Test-only: table names are constants of the tests.
  return query_int(db, "SELECT count(*) FROM " + std::string(table));
}

void insert_row(Db& db, int64_t id, std::string_view name, Status* out) {
  Result<Stmt*> st = db.prepare("INSERT INTO t (id, name) VALUES (?, ?)");
  if (!st.ok()) {
    *out = st.status();
    return;
  }
  (*st)->bind_int64(1, id);
  (*st)->bind_text(2, name);
  Result<int64_t> n = (*st)->execute();
  *out = n.ok() ? Status() : n.status();
}

TEST_P(StoreTest, MigratesOnOpenAndReopensIdempotently) {
  const int latest = int(embedded_migrations().size());
  ASSERT_GE(latest, 1);
  {
    std::unique_ptr<Db> db = open();
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(db->dialect().engine, GetParam());
    Result<int> v = schema_version(*db);
    ASSERT_TRUE(v.ok()) << v.status().to_string();
    EXPECT_EQ(*v, latest);
    EXPECT_EQ(count_rows(*db, "schema_version"), latest);
    run(*db, "INSERT INTO plans (plan_id, name, created_at) VALUES ('p', 'P', 'now')");
  }
  std::unique_ptr<Db> db = open();
  ASSERT_NE(db, nullptr);
  Result<int> v = schema_version(*db);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, latest);
  EXPECT_EQ(count_rows(*db, "schema_version"), latest);
  EXPECT_EQ(count_rows(*db, "plans"), 1);
}

TEST_P(StoreTest, RefusesADatabaseWithANewerSchema) {
  {
    std::unique_ptr<Db> db = open();
    ASSERT_NE(db, nullptr);
    Result<Stmt*> st = db->prepare(
        "INSERT INTO schema_version (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)");
    ASSERT_TRUE(st.ok());
    (*st)->bind_int64(1, int64_t(embedded_migrations().size()) + 1);
    (*st)->bind_text(2, "from_the_future");
    (*st)->bind_text(3, "0000000000000000");
    (*st)->bind_text(4, utc_timestamp_now());
    ASSERT_TRUE((*st)->execute().ok());
  }
  Result<std::unique_ptr<Db>> db = open_db(url_);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Code::kStoreSchema);
  EXPECT_NE(db.status().message().find("newer"), std::string::npos) << db.status().message();
  // The refusal changed nothing.
  Result<std::unique_ptr<Db>> raw = connect_db(url_);
  ASSERT_TRUE(raw.ok());
  Result<int> v = schema_version(**raw);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, int(embedded_migrations().size()) + 1);
}

TEST_P(StoreTest, MigrationsApplyInOrderAtomicallyAndForwardOnly) {
  Result<std::unique_ptr<Db>> conn = connect_db(url_);
  ASSERT_TRUE(conn.ok()) << conn.status().to_string();
  Db& db = **conn;
  Result<int> v = schema_version(db);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(*v, 0);

  const Migration one[] = {{1, "a", "CREATE TABLE a (x BIGINT NOT NULL PRIMARY KEY);"}};
  ASSERT_TRUE(migrate(db, one).ok());
  ASSERT_TRUE(migrate(db, one).ok());  // nothing to do
  EXPECT_EQ(count_rows(db, "schema_version"), 1);

  // A failing migration leaves no trace: not its first statement, not its version.
  const Migration broken[] = {one[0], {2, "b", "CREATE TABLE b (x BIGINT); CREATE TABLE broken ("}};
  Status s = migrate(db, broken);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("0002_b.sql"), std::string::npos) << s.message();
  EXPECT_EQ(*schema_version(db), 1);
  run(db, "CREATE TABLE b (y TEXT)");  // b was rolled back, so the name is free
  run(db, "DROP TABLE b");

  const Migration two[] = {one[0],
                           {2, "b", "CREATE TABLE b (x BIGINT); INSERT INTO a VALUES (7);"}};
  ASSERT_TRUE(migrate(db, two).ok());
  EXPECT_EQ(*schema_version(db), 2);
  EXPECT_EQ(query_int(db, "SELECT x FROM a"), 7);

  // A migration that leaves a row pointing at nothing is refused whole (SQLite
  // runs migrations with its key checks off and checks every key at the end).
  const Migration dangling[] = {
      two[0],
      two[1],
      {3, "c",
       "CREATE TABLE p (x BIGINT NOT NULL PRIMARY KEY); CREATE TABLE c (x BIGINT REFERENCES p "
       "(x)); INSERT INTO c VALUES (1);"}};
  s = migrate(db, dangling);
  EXPECT_FALSE(s.ok());
  if (db.dialect().engine == Engine::kSqlite) {
    EXPECT_EQ(s.code(), Code::kStoreSchema) << s.to_string();
    EXPECT_NE(s.message().find("a row of c refers to a missing row of p"), std::string::npos)
        << s.message();
  }
  EXPECT_EQ(*schema_version(db), 2);
  run(db, "CREATE TABLE c (y TEXT)");  // c was rolled back
  run(db, "DROP TABLE c");

  // An applied migration whose text changed is refused.
  const Migration edited[] = {{1, "a", "CREATE TABLE a (x BIGINT);"}, two[1]};
  s = migrate(db, edited);
  EXPECT_EQ(s.code(), Code::kStoreSchema);
  EXPECT_NE(s.message().find("0001_a.sql"), std::string::npos) << s.message();
  // So is a database that knows more than the binary.
  s = migrate(db, one);
  EXPECT_EQ(s.code(), Code::kStoreSchema);
}

TEST_P(StoreTest, TransactionsCommitRollBackAndRollBackOnScopeExit) {
  std::unique_ptr<Db> db = open();
  std::unique_ptr<Db> other = open();
  ASSERT_TRUE(db && other);
  run(*db, "CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, name TEXT)");
  Status s;
  {
    Tx tx(*db);
    ASSERT_TRUE(tx.ok()) << tx.status().to_string();
    EXPECT_TRUE(db->in_transaction());
    insert_row(*db, 1, "committed", &s);
    ASSERT_TRUE(s.ok()) << s.to_string();
    ASSERT_TRUE(tx.commit().ok());
  }
  EXPECT_FALSE(db->in_transaction());
  EXPECT_EQ(count_rows(*other, "t"), 1);  // visible to another connection

  {
    Tx tx(*db);
    insert_row(*db, 2, "rolled back", &s);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(tx.rollback().ok());
  }
  EXPECT_EQ(count_rows(*db, "t"), 1);

  // An early return leaves the guard uncommitted: it rolls back.
  auto early_return = [&]() -> Status {
    Tx tx(*db);
    if (!tx.ok()) return tx.status();
    Status st;
    insert_row(*db, 3, "early return", &st);
    if (st.ok()) return Status(Code::kStoreError, "business says no");
    return tx.commit();
  };
  EXPECT_EQ(early_return().code(), Code::kStoreError);
  EXPECT_FALSE(db->in_transaction());
  EXPECT_EQ(count_rows(*db, "t"), 1);
  EXPECT_EQ(count_rows(*other, "t"), 1);

  // Misuse is answered, not crashed on.
  EXPECT_FALSE(db->commit().ok());
  ASSERT_TRUE(db->begin(TxMode::kRead).ok());
  EXPECT_FALSE(db->begin().ok());
  EXPECT_EQ(count_rows(*db, "t"), 1);
  ASSERT_TRUE(db->commit().ok());
}

TEST_P(StoreTest, BindsAndReadsInt64TextAndNull) {
  std::unique_ptr<Db> db = open();
  ASSERT_NE(db, nullptr);
  run(*db, "CREATE TABLE v (k BIGINT NOT NULL PRIMARY KEY, n BIGINT, s TEXT)");
  const std::string long_text(100'000, 'x');
  struct Row {
    int64_t k;
    bool n_null;
    int64_t n;
    bool s_null;
    std::string s;
  };
  const Row rows[] = {
      {1, false, std::numeric_limits<int64_t>::min(), false, "it's \"quoted\"; -- not a comment"},
      {2, false, std::numeric_limits<int64_t>::max(), false, "惠民保 山东 ✓ 😀"},
      {3, false, 0, false, ""},
      {4, false, -1, false, "back\\slash, $1 and ? and '' and \\x00"},
      {5, true, 0, true, ""},
      {6, false, 42, false, long_text},
      {7, false, 1, false, "line\nbreak\ttab\r"},
  };
  Result<Stmt*> ins = db->prepare("INSERT INTO v (k, n, s) VALUES (?, ?, ?)");
  ASSERT_TRUE(ins.ok()) << ins.status().to_string();
  for (const Row& r : rows) {
    (*ins)->bind_int64(1, r.k);
    if (r.n_null) {
      (*ins)->bind_null(2);
    } else {
      (*ins)->bind_int64(2, r.n);
    }
    if (r.s_null) {
      (*ins)->bind_null(3);
    } else {
      (*ins)->bind_text(3, r.s);
    }
    Result<int64_t> n = (*ins)->execute();
    ASSERT_TRUE(n.ok()) << n.status().to_string();
    EXPECT_EQ(*n, 1);
  }
  Result<Stmt*> sel = db->prepare("SELECT k, n, s FROM v WHERE k >= ? ORDER BY k");
  ASSERT_TRUE(sel.ok()) << sel.status().to_string();
  (*sel)->bind_int64(1, 1);
  size_t i = 0;
  for (;; ++i) {
    Result<bool> row = (*sel)->step();
    ASSERT_TRUE(row.ok()) << row.status().to_string();
    if (!*row) break;
    ASSERT_LT(i, std::size(rows));
    const Row& r = rows[i];
    EXPECT_EQ((*sel)->column_count(), 3);
    EXPECT_EQ((*sel)->column_int64(0), r.k);
    EXPECT_EQ((*sel)->column_is_null(1), r.n_null) << r.k;
    EXPECT_EQ((*sel)->column_int64(1), r.n) << r.k;
    EXPECT_EQ((*sel)->column_is_null(2), r.s_null) << r.k;
    EXPECT_EQ((*sel)->column_text(2), r.s) << r.k;
  }
  EXPECT_EQ(i, std::size(rows));
  // Finished executions keep answering "no more rows" until reset.
  Result<bool> again = (*sel)->step();
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);

  // The same statement, re-bound: prepare() returns the cached one, reset.
  Result<Stmt*> sel2 = db->prepare("SELECT k, n, s FROM v WHERE k >= ? ORDER BY k");
  ASSERT_TRUE(sel2.ok());
  EXPECT_EQ(*sel2, *sel);
  (*sel2)->bind_int64(1, 7);
  Result<bool> row = (*sel2)->step();
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_EQ((*sel2)->column_int64(0), 7);

  // `?` inside literals and comments is not a placeholder.
  Result<Stmt*> lit = db->prepare("SELECT '?' || ?, 'it''s ?' /* ? */ -- ?\n , ?");
  ASSERT_TRUE(lit.ok()) << lit.status().to_string();
  (*lit)->bind_text(1, "x");
  (*lit)->bind_int64(2, 5);
  row = (*lit)->step();
  ASSERT_TRUE(row.ok() && *row) << row.status().to_string();
  EXPECT_EQ((*lit)->column_text(0), "?x");
  EXPECT_EQ((*lit)->column_text(1), "it's ?");
  EXPECT_EQ((*lit)->column_int64(2), 5);
}

TEST_P(StoreTest, RefusesTextWithANulByte) {
  std::unique_ptr<Db> db = open();
  ASSERT_NE(db, nullptr);
  run(*db, "CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, name TEXT)");
  Status s;
  insert_row(*db, 1, std::string_view("a\0b", 3), &s);
  EXPECT_EQ(s.code(), Code::kStoreError);
  EXPECT_NE(s.message().find("NUL"), std::string::npos) << s.message();
  EXPECT_EQ(count_rows(*db, "t"), 0);
  insert_row(*db, 1, "ab", &s);  // the statement is usable again
  EXPECT_TRUE(s.ok()) << s.to_string();

  Rows rows(2);
  rows.add_int64(2);
  rows.add_text(std::string_view("x\0", 2));
  const std::string_view cols[] = {"id", "name"};
  s = db->insert_rows({"t", cols, ""}, rows);
  EXPECT_EQ(s.code(), Code::kStoreError);
  EXPECT_EQ(count_rows(*db, "t"), 1);
}

TEST_P(StoreTest, AConstraintViolationFailsTheTransactionUntilRollback) {
  std::unique_ptr<Db> db = open();
  ASSERT_NE(db, nullptr);
  run(*db, "CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, name TEXT)");
  Status s;
  // Outside a transaction a failed statement affects nothing else.
  insert_row(*db, 1, "one", &s);
  ASSERT_TRUE(s.ok());
  insert_row(*db, 1, "again", &s);
  EXPECT_EQ(s.code(), Code::kStoreConstraint);
  insert_row(*db, 2, "two", &s);
  EXPECT_TRUE(s.ok()) << s.to_string();

  {
    Tx tx(*db);
    ASSERT_TRUE(tx.ok());
    insert_row(*db, 3, "three", &s);
    ASSERT_TRUE(s.ok());
    insert_row(*db, 1, "duplicate", &s);
    EXPECT_EQ(s.code(), Code::kStoreConstraint);
    EXPECT_FALSE(s.message().empty());
    // Every later statement is refused with the first failure...
    insert_row(*db, 4, "four", &s);
    EXPECT_EQ(s.code(), Code::kStoreConstraint);
    EXPECT_NE(s.message().find("roll it back"), std::string::npos) << s.message();
    // ... and rollback works.
    EXPECT_TRUE(tx.rollback().ok());
  }
  EXPECT_EQ(count_rows(*db, "t"), 2);

  // commit() of a failed transaction rolls it back and says why.
  ASSERT_TRUE(db->begin().ok());
  insert_row(*db, 5, "five", &s);
  insert_row(*db, 2, "duplicate", &s);
  EXPECT_EQ(s.code(), Code::kStoreConstraint);
  s = db->commit();
  EXPECT_EQ(s.code(), Code::kStoreConstraint);
  EXPECT_FALSE(db->in_transaction());
  EXPECT_EQ(count_rows(*db, "t"), 2);

  // The connection is healthy afterwards.
  Tx tx(*db);
  insert_row(*db, 6, "six", &s);
  EXPECT_TRUE(s.ok()) << s.to_string();
  EXPECT_TRUE(tx.commit().ok());
  EXPECT_EQ(count_rows(*db, "t"), 3);

  // Foreign keys are enforced (SQLite needs foreign_keys=ON for that).
  Status fk = db->exec(
      "INSERT INTO person_categories (psn_no, category, from_date, recorded_at) "
      "VALUES ('370102198001011237', 'dibao', '2024-01-01', 'now')");
  EXPECT_EQ(fk.code(), Code::kStoreConstraint) << fk.to_string();
}

TEST_P(StoreTest, ConcurrentWritersNeverLoseAnUpdate) {
  std::unique_ptr<Db> setup = open();
  ASSERT_NE(setup, nullptr);
  run(*setup, "CREATE TABLE counters (id BIGINT NOT NULL PRIMARY KEY, value BIGINT NOT NULL)");
  run(*setup, "INSERT INTO counters (id, value) VALUES (1, 0)");
  constexpr int kThreads = 2;
  constexpr int kIncrements = 150;
  constexpr int kIdBlocks = 50;
  std::atomic<int> failures{0};
  std::vector<std::vector<int64_t>> ids(kThreads);
  auto writer = [&](int t) {
    Result<std::unique_ptr<Db>> conn = open_db(url_);
    if (!conn.ok()) {
      ADD_FAILURE() << conn.status().to_string();
      ++failures;
      return;
    }
    Db& db = **conn;
    const std::string select =
        "SELECT value FROM counters WHERE id = ?" + std::string(db.dialect().for_update);
    // Read, then write back: a lost update would show in the total.
    auto increment = [&]() -> Status {
      Tx tx(db);
      if (!tx.ok()) return tx.status();
      Result<Stmt*> sel = db.prepare(select);
      if (!sel.ok()) return sel.status();
      (*sel)->bind_int64(1, 1);
      Result<bool> row = (*sel)->step();
      if (!row.ok()) return row.status();
      const int64_t value = (*sel)->column_int64(0);
      Result<Stmt*> upd = db.prepare("UPDATE counters SET value = ? WHERE id = ?");
      if (!upd.ok()) return upd.status();
      (*upd)->bind_int64(1, value + 1);
      (*upd)->bind_int64(2, 1);
      if (Result<int64_t> n = (*upd)->execute(); !n.ok()) return n.status();
      return tx.commit();
    };
    auto allocate = [&]() -> Status {
      Tx tx(db);
      if (!tx.ok()) return tx.status();
      Result<int64_t> first = allocate_ids(db, "test", 3);
      if (!first.ok()) return first.status();
      if (Status s = tx.commit(); !s.ok()) return s;
      for (int i = 0; i < 3; ++i) ids[t].push_back(*first + i);
      return Status();
    };
    for (int i = 0; i < kIncrements + kIdBlocks; ++i) {
      for (int attempt = 0;; ++attempt) {
        Status s = i < kIncrements ? increment() : allocate();
        if (s.ok()) break;
        if (s.code() != Code::kStoreBusy || attempt == 20) {
          ADD_FAILURE() << s.to_string();
          ++failures;
          return;
        }
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(writer, t);
  for (std::thread& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  EXPECT_EQ(query_int(*setup, "SELECT value FROM counters WHERE id = 1"), kThreads * kIncrements);
  std::set<int64_t> all;
  for (const auto& v : ids) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), size_t(kThreads * kIdBlocks * 3));
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kThreads * kIdBlocks * 3);
}

TEST_P(StoreTest, InsertRowsRoundTripsManyRowsAtomically) {
  std::unique_ptr<Db> db = open();
  ASSERT_NE(db, nullptr);
  run(*db, "CREATE TABLE b (id BIGINT NOT NULL PRIMARY KEY, name TEXT, amount_fen BIGINT)");
  const std::string_view cols[] = {"id", "name", "amount_fen"};
  const InsertSpec spec{"b", cols, ""};
  constexpr int64_t kRows = 25'123;  // full chunks and a tail
  Rows rows(3);
  for (int64_t i = 1; i <= kRows; ++i) {
    rows.add_int64(i);
    if (i % 7 == 0) {
      rows.add_null();
    } else {
      rows.add_text("名" + std::to_string(i) + "'\"");
    }
    rows.add_int64(i % 11 == 0 ? std::numeric_limits<int64_t>::min() + i : i * 100);
  }
  ASSERT_EQ(rows.rows(), size_t(kRows));
  Status s = db->insert_rows(spec, rows);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_FALSE(db->in_transaction());
  EXPECT_EQ(count_rows(*db, "b"), kRows);
  EXPECT_EQ(query_int(*db, "SELECT count(*) FROM b WHERE name IS NULL"), kRows / 7);
  EXPECT_EQ(query_int(*db, "SELECT max(id) FROM b"), kRows);
  Result<Stmt*> one = db->prepare("SELECT name, amount_fen FROM b WHERE id = ?");
  ASSERT_TRUE(one.ok());
  for (int64_t id : {int64_t(1), int64_t(999), int64_t(1000), int64_t(1001), kRows}) {
    (*one)->bind_int64(1, id);
    Result<bool> row = (*one)->step();
    ASSERT_TRUE(row.ok() && *row);
    EXPECT_EQ((*one)->column_is_null(0), id % 7 == 0);
    EXPECT_EQ((*one)->column_text(0), id % 7 == 0 ? "" : "名" + std::to_string(id) + "'\"");
    EXPECT_EQ((*one)->column_int64(1), id % 11 == 0 ? INT64_MIN + id : id * 100);
  }

  // A conflict in the middle of a batch inserts nothing of it.
  Rows clash(3);
  for (int64_t id : {kRows + 1, kRows + 2, int64_t(5000), kRows + 3}) {
    clash.add_int64(id);
    clash.add_text("clash");
    clash.add_null();
  }
  s = db->insert_rows(spec, clash);
  EXPECT_EQ(s.code(), Code::kStoreConstraint);
  EXPECT_EQ(count_rows(*db, "b"), kRows);
  // With an ON CONFLICT suffix the same rows pass, and only new keys land.
  const InsertSpec upsert{"b", cols, "ON CONFLICT (id) DO NOTHING"};
  s = db->insert_rows(upsert, clash);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(count_rows(*db, "b"), kRows + 3);

  // Inside the caller's transaction, insert_rows is part of it.
  rows.clear();
  for (int64_t i = 1; i <= 2500; ++i) {
    rows.add_int64(kRows + 100 + i);
    rows.add_text("t");
    rows.add_int64(i);
  }
  {
    Tx tx(*db);
    ASSERT_TRUE(db->insert_rows(spec, rows).ok());
    EXPECT_TRUE(db->in_transaction());
  }  // rolled back
  EXPECT_EQ(count_rows(*db, "b"), kRows + 3);
  {
    Tx tx(*db);
    ASSERT_TRUE(db->insert_rows(spec, rows).ok());
    ASSERT_TRUE(tx.commit().ok());
  }
  EXPECT_EQ(count_rows(*db, "b"), kRows + 3 + 2500);
}

// The write pattern settlement will use: many rows per durable commit.
// Prints the rate; asserts nothing about it (machines differ).
TEST_P(StoreTest, InsertRowsThroughput) {
  std::unique_ptr<Db> db = open();
  ASSERT_NE(db, nullptr);
  const std::string_view cols[] = {"setl_id", "layer", "amount_fen"};
  const InsertSpec spec{"layers", cols, ""};
  run(*db,
      "CREATE TABLE layers (setl_id TEXT NOT NULL, layer TEXT NOT NULL, amount_fen BIGINT NOT "
      "NULL, PRIMARY KEY (setl_id, layer))");
  constexpr int kCommits = 10;
  constexpr int kRowsPerCommit = 10'000;
  Rows rows(3);
  const auto start = std::chrono::steady_clock::now();
  for (int c = 0; c < kCommits; ++c) {
    rows.clear();
    for (int i = 0; i < kRowsPerCommit; ++i) {
      char setl_id[16];
      int n = std::snprintf(setl_id, sizeof setl_id, "S%d", c * kRowsPerCommit + i);
      rows.add_text({setl_id, size_t(n)});
      rows.add_text("hmb_in");
      rows.add_int64(i * 37);
    }
    Status s = db->insert_rows(spec, rows);  // one durable commit each
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(count_rows(*db, "layers"), kCommits * kRowsPerCommit);
  std::printf("%s: %d rows in %d commits, %.0f rows/s\n", engine_name(GetParam()).c_str(),
              kCommits * kRowsPerCommit, kCommits, kCommits * kRowsPerCommit / seconds);
}

// The schema of 0001_init.sql works the same in both engines: keys, checks,
// the partial unique index, the upsert of a person's year state.
// Migration 0005 on a store with settlements: their layer rows move into the
// rows, answers stay, the settlement_layers view reads as the table did, and
// the rebuilt table keeps its keys (those of tables that reference it too).
TEST_P(StoreTest, Migration0005MovesLayersIntoTheSettlementRows) {
  Result<std::unique_ptr<Db>> conn = connect_db(url_);
  ASSERT_TRUE(conn.ok()) << conn.status().to_string();
  Db& db = **conn;
  const std::span<const Migration> all = embedded_migrations();
  ASSERT_GE(all.size(), 5u);
  ASSERT_TRUE(migrate(db, all.first(4)).ok());
  run(db,
      "INSERT INTO persons (psn_no, psn_name, gend, brdy, admdvs, insutype, preexisting, status, "
      "seq, updated_at) VALUES ('370102198001011237', 'x', '1', '1980-01-01', '370102', '390', 0, "
      "'active', 1, 'now');"
      "INSERT INTO plans (plan_id, name, created_at) VALUES ('p', 'p', 'now');"
      "INSERT INTO plan_versions (plan_id, version, year, period_begin, period_end, toml, "
      "content_hash, loaded_at, loaded_by) VALUES ('p', 1, 2024, '2024-01-01', '2024-12-31', "
      "'', 'abc', 'now', 'test');"
      "INSERT INTO settlements (setl_id, kind, ref_setl_id, psn_no, plan_id, plan_version, "
      "plan_year, claim_kind, admission_date, request_hash, request_json, result_json, "
      "medfee_sumamt, inscp_scp_amt, fund_pay_sumamt, hosp_part_amt, psn_part_amt, created_at) "
      "VALUES ('S1', 'settle', NULL, '370102198001011237', 'p', 1, 2024, 'medical', "
      "'2024-03-01', 'h', '{}', '{\"answer\":1}', 9000, 9000, 5000, 300, 3700, 'now'), "
      "('S1R', 'reversal', 'S1', '370102198001011237', 'p', 1, 2024, 'medical', '2024-03-01', "
      "'h', '{}', '{\"answer\":2}', -9000, -9000, -5000, -300, -3700, 'now');"
      "INSERT INTO settlement_layers (setl_id, layer, amount_fen) VALUES ('S1', 'basic', 5000), "
      "('S1', 'hospital', 300), ('S1R', 'basic', -5000), ('S1R', 'hospital', -300);"
      "INSERT INTO claim_facts (setl_id, claim_setl_id, kind, plan_id, plan_year, claim_kind, "
      "region, medfee_sumamt, fulamt_ownpay_amt, overlmt_selfpay, preselfpay_amt, "
      "inscp_scp_amt, fund_pay_sumamt, hosp_part_amt, psn_part_amt, insurer_pay_fen, "
      "event_date, settled_date) VALUES ('S1', 'S1', 'settle', 'p', 2024, 'medical', '370100', "
      "9000, 0, 0, 0, 9000, 5000, 300, 3700, 5000, '2024-03-01', '2024-03-05');");
  Status s = migrate(db, all);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(*schema_version(db), int(all.size()));
  EXPECT_EQ(count_rows(db, "settlement_layers"), 4);
  EXPECT_EQ(query_int(db,
                      "SELECT amount_fen FROM settlement_layers WHERE setl_id = 'S1R' AND "
                      "layer = 'hospital'"),
            -300);
  EXPECT_EQ(query_int(db,
                      "SELECT count(*) FROM settlements WHERE result_json = "
                      "'{\"answer\":1}' AND layers LIKE '%\"basic\"%5000%'"),
            1);
  EXPECT_EQ(count_rows(db, "claim_facts"), 1);
  // The keys hold after the rebuild: a second reversal, a fact of no
  // settlement, a settlement of no person.
  EXPECT_EQ(db.exec("INSERT INTO settlements (setl_id, kind, ref_setl_id, psn_no, plan_id, "
                    "plan_version, plan_year, claim_kind, admission_date, request_hash, "
                    "request_json, result_json, medfee_sumamt, inscp_scp_amt, fund_pay_sumamt, "
                    "hosp_part_amt, psn_part_amt, created_at, layers) VALUES ('S1R2', "
                    "'reversal', 'S1', '370102198001011237', 'p', 1, 2024, 'medical', "
                    "'2024-03-01', 'h', '{}', '{}', 0, 0, 0, 0, 0, 'now', '{}')")
                .code(),
            Code::kStoreConstraint);
  EXPECT_EQ(db.exec("INSERT INTO claim_facts (setl_id, claim_setl_id, kind, plan_id, plan_year, "
                    "claim_kind, region, medfee_sumamt, fulamt_ownpay_amt, overlmt_selfpay, "
                    "preselfpay_amt, inscp_scp_amt, fund_pay_sumamt, hosp_part_amt, "
                    "psn_part_amt, insurer_pay_fen, event_date, settled_date) VALUES ('S9', "
                    "'S9', 'settle', 'p', 2024, 'medical', '370100', 0, 0, 0, 0, 0, 0, 0, 0, 0, "
                    "'2024-03-01', '2024-03-05')")
                .code(),
            Code::kStoreConstraint);
  if (db.dialect().engine == Engine::kSqlite) {  // PostgreSQL dropped this key in 0004
    EXPECT_EQ(db.exec("INSERT INTO settlements (setl_id, kind, psn_no, plan_id, plan_version, "
                      "plan_year, claim_kind, admission_date, request_hash, request_json, "
                      "medfee_sumamt, inscp_scp_amt, fund_pay_sumamt, hosp_part_amt, "
                      "psn_part_amt, created_at, layers) VALUES ('S2', 'settle', "
                      "'370102199001011234', 'p', 1, 2024, 'medical', '2024-03-01', 'h', '{}', "
                      "0, 0, 0, 0, 0, 'now', '{}')")
                  .code(),
              Code::kStoreConstraint);
  }
  // Only a settle row may leave its answer to be derived.
  EXPECT_EQ(db.exec("INSERT INTO settlements (setl_id, kind, ref_setl_id, psn_no, plan_id, "
                    "plan_version, plan_year, claim_kind, admission_date, request_hash, "
                    "request_json, medfee_sumamt, inscp_scp_amt, fund_pay_sumamt, "
                    "hosp_part_amt, psn_part_amt, created_at, layers) VALUES ('S1A', "
                    "'adjustment', 'S1', '370102198001011237', 'p', 1, 2024, 'medical', "
                    "'2024-03-01', 'h', '{}', 0, 0, 0, 0, 0, 'now', '{}')")
                .code(),
            Code::kStoreConstraint);
}

// Migration 0006 on a store with settlements: each year state lists its
// person-year's settlements rows (netstrings, any id), those of another year
// or person stay out, a year state of no settlements lists none, and the
// index by person is gone.
TEST_P(StoreTest, Migration0006ListsEachYearsSettlementsInItsYearState) {
  Result<std::unique_ptr<Db>> conn = connect_db(url_);
  ASSERT_TRUE(conn.ok()) << conn.status().to_string();
  Db& db = **conn;
  const std::span<const Migration> all = embedded_migrations();
  ASSERT_GE(all.size(), 6u);
  ASSERT_TRUE(migrate(db, all.first(5)).ok());
  const std::string settlement =
      "INSERT INTO settlements (setl_id, kind, ref_setl_id, psn_no, plan_id, plan_version, "
      "plan_year, claim_kind, admission_date, request_hash, request_json, result_json, "
      "medfee_sumamt, inscp_scp_amt, fund_pay_sumamt, hosp_part_amt, psn_part_amt, created_at, "
      "layers) VALUES ";
  run(db,
      "INSERT INTO persons (psn_no, psn_name, gend, brdy, admdvs, insutype, preexisting, status, "
      "seq, updated_at) VALUES ('370102198001011237', 'x', '1', '1980-01-01', '370102', '390', 0, "
      "'active', 1, 'now'), ('370102199001011234', 'y', '1', '1990-01-01', '370102', '390', 0, "
      "'active', 2, 'now');"
      "INSERT INTO plans (plan_id, name, created_at) VALUES ('p', 'p', 'now');"
      "INSERT INTO plan_versions (plan_id, version, year, period_begin, period_end, toml, "
      "content_hash, loaded_at, loaded_by) VALUES ('p', 1, 2024, '2024-01-01', '2024-12-31', "
      "'', 'abc', 'now', 'test'), ('p', 2, 2025, '2025-01-01', '2025-12-31', '', 'abd', 'now', "
      "'test');" +
          settlement +
          "('S1', 'settle', NULL, '370102198001011237', 'p', 1, 2024, 'medical', '2024-03-01', "
          "'h', '{}', NULL, 9000, 9000, 5000, 0, 4000, 'now', '{}'), "
          "('住院 2,3:x', 'settle', NULL, '370102198001011237', 'p', 1, 2024, 'medical', "
          "'2024-04-01', 'h', '{}', NULL, 100, 100, 0, 0, 100, 'now', '{}'), "
          "('S1R', 'reversal', 'S1', '370102198001011237', 'p', 1, 2024, 'medical', "
          "'2024-03-01', 'h', '{}', '{}', -9000, -9000, -5000, 0, -4000, 'now', '{}'), "
          "('S2', 'settle', NULL, '370102198001011237', 'p', 2, 2025, 'medical', '2025-03-01', "
          "'h', '{}', NULL, 100, 100, 0, 0, 100, 'now', '{}'), "
          "('S3', 'settle', NULL, '370102199001011234', 'p', 1, 2024, 'medical', '2024-03-01', "
          "'h', '{}', NULL, 100, 100, 0, 0, 100, 'now', '{}');"
          "INSERT INTO accumulators (psn_no, plan_id, year, state, settlements, version, "
          "updated_at) VALUES ('370102198001011237', 'p', 2024, '{}', 1, 3, 'now'), "
          "('370102198001011237', 'p', 2025, '{}', 1, 1, 'now'), "
          "('370102199001011234', 'p', 2024, '{}', 1, 1, 'now'), "
          "('370102199001011234', 'p', 2025, '{}', 0, 1, 'now');");
  Status s = migrate(db, all);
  ASSERT_TRUE(s.ok()) << s.to_string();
  auto listed = [&](const char* psn, int year) {
    Result<Stmt*> st = db.prepare(
        "SELECT setl_ids FROM accumulators WHERE psn_no = ? AND plan_id = 'p' AND "
        "year = ?");
    EXPECT_TRUE(st.ok());
    (*st)->bind_text(1, psn);
    (*st)->bind_int64(2, year);
    EXPECT_TRUE(*(*st)->step());
    std::string ids((*st)->column_text(0));
    (*st)->reset();
    // Netstrings in no set order: split and sort.
    std::vector<std::string> out;
    for (size_t i = 0; i < ids.size();) {
      const size_t colon = ids.find(':', i);
      const size_t n = std::stoul(ids.substr(i, colon - i));
      out.push_back(ids.substr(colon + 1, n));
      EXPECT_EQ(ids[colon + 1 + n], ',');
      i = colon + 2 + n;
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(listed("370102198001011237", 2024),
            (std::vector<std::string>{"S1", "S1R", "住院 2,3:x"}));
  EXPECT_EQ(listed("370102198001011237", 2025), (std::vector<std::string>{"S2"}));
  EXPECT_EQ(listed("370102199001011234", 2024), (std::vector<std::string>{"S3"}));
  EXPECT_EQ(listed("370102199001011234", 2025), (std::vector<std::string>{}));
  EXPECT_EQ(query_int(db, GetParam() == Engine::kSqlite
                              ? "SELECT count(*) FROM sqlite_master WHERE name = "
                                "'settlements_by_psn_no_year'"
                              : "SELECT count(*) FROM pg_indexes WHERE indexname = "
                                "'settlements_by_psn_no_year'"),
            0);
}

// Migration 0007: no CHECK of the SQLite schema lists more than two values
// with IN (SQLite would build a temporary B-tree for the list on every row
// written); on both engines the rewritten constraints still accept each value
// they name and refuse any other, rows stored before are kept.
TEST_P(StoreTest, Migration0007LeavesNoCheckListOfMoreThanTwoValues) {
  Result<std::unique_ptr<Db>> conn = connect_db(url_);
  ASSERT_TRUE(conn.ok()) << conn.status().to_string();
  Db& db = **conn;
  const std::span<const Migration> all = embedded_migrations();
  ASSERT_GE(all.size(), 7u);
  ASSERT_TRUE(migrate(db, all.first(6)).ok());
  const std::string person =
      "INSERT INTO persons (psn_no, psn_name, gend, brdy, admdvs, insutype, preexisting, status, "
      "seq, updated_at) VALUES ";
  run(db, person +
              "('370102198001011237', 'x', '1', '1980-01-01', '370102', '390', 0, "
              "'deceased', 1, 'now')");
  Status s = migrate(db, all);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM persons WHERE status = 'deceased'"), 1);

  if (GetParam() == Engine::kSqlite) {
    Result<Stmt*> st = db.prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'table'");
    ASSERT_TRUE(st.ok());
    int lists = 0;
    while (*(*st)->step()) {
      const std::string name((*st)->column_text(0)), sql((*st)->column_text(1));
      for (size_t at = sql.find(" IN ("); at != std::string::npos; at = sql.find(" IN (", at + 1)) {
        size_t commas = 0, i = at + 5;
        for (; i < sql.size() && sql[i] != ')'; ++i) commas += sql[i] == ',';
        EXPECT_LE(commas, 1u) << name << ": " << sql.substr(at, i - at + 1);
        ++lists;
      }
    }
    (*st)->reset();
    EXPECT_GT(lists, 0) << "two-value lists stay (SQLite compares those one by one)";
  }

  // Each value a rewritten constraint names is accepted, another is refused.
  const char* roles[] = {"bureau", "insurer", "hospital", "pharmacy", "service_point"};
  int n = 0;
  for (const char* role : roles) {
    run(db,
        "INSERT INTO api_keys (key_id, secret_hash, org_code, role, created_at, created_by) "
        "VALUES ('key" +
            std::to_string(10000 + ++n) + "', '" + std::string(64, 'a') + "', 'org', '" + role +
            "', 'now', 'test')");
  }
  EXPECT_EQ(db.exec("INSERT INTO api_keys (key_id, secret_hash, org_code, role, created_at, "
                    "created_by) VALUES ('key99999', '" +
                    std::string(64, 'a') + "', 'org', 'admin', 'now', 'test')")
                .code(),
            Code::kStoreConstraint);
  const char* kinds[] = {"premium",  "claim",      "payment",  "operating_cost", "platform_fee",
                         "transfer", "carry_over", "year_end", "reversal"};
  for (const char* kind : kinds) {
    ++n;
    run(db, std::string("INSERT INTO journal_entries (id, business_key, kind, entry_date, actor, "
                        "recorded_at) VALUES (") +
                std::to_string(n) + ", 'k" + std::to_string(n) + "', '" + kind +
                "', '2024-01-01', 'test', 'now')");
  }
  EXPECT_EQ(db.exec("INSERT INTO journal_entries (id, business_key, kind, entry_date, actor, "
                    "recorded_at) VALUES (999, 'k999', 'gift', '2024-01-01', 'test', 'now')")
                .code(),
            Code::kStoreConstraint);
  for (const char* status : {"active", "moved_out"}) {
    ++n;
    run(db, person + "('37010219800101" + std::to_string(1000 + n) +
                "', 'x', '1', "
                "'1980-01-01', '370102', '390', 0, '" +
                status + "', " + std::to_string(n) + ", 'now')");
  }
  EXPECT_EQ(db.exec(person + "('370102199001011234', 'y', '1', '1990-01-01', '370102', '390', 0, "
                             "'gone', 99, 'now')")
                .code(),
            Code::kStoreConstraint);
  run(db,
      "INSERT INTO plans (plan_id, name, created_at) VALUES ('p', 'p', 'now');"
      "INSERT INTO plan_versions (plan_id, version, year, period_begin, period_end, toml, "
      "content_hash, loaded_at, loaded_by) VALUES ('p', 1, 2024, '2024-01-01', '2024-12-31', "
      "'', 'abc', 'now', 'test')");
  const std::string settlement =
      "INSERT INTO settlements (setl_id, kind, ref_setl_id, psn_no, plan_id, plan_version, "
      "plan_year, claim_kind, admission_date, request_hash, request_json, result_json, "
      "medfee_sumamt, inscp_scp_amt, fund_pay_sumamt, hosp_part_amt, psn_part_amt, created_at, "
      "layers) VALUES ";
  run(db, settlement +
              "('S1', 'settle', NULL, '370102198001011237', 'p', 1, 2024, 'medical', "
              "'2024-03-01', 'h', '{}', NULL, 1, 1, 0, 0, 1, 'now', '{}')");
  EXPECT_EQ(db.exec(settlement + "('S2', 'refund', 'S1', '370102198001011237', 'p', 1, 2024, "
                                 "'medical', '2024-03-01', 'h', '{}', '{}', 1, 1, 0, 0, 1, 'now', "
                                 "'{}')")
                .code(),
            Code::kStoreConstraint);
}

// A SQLite migration that edits a table's CHECK in sqlite_schema: every
// connection, also one that read the schema before, writes by the new
// constraint; an edit some stored row does not meet is refused whole.
TEST_P(StoreTest, SqliteSchemaEditsAreSeenEverywhereAndChecked) {
  if (GetParam() != Engine::kSqlite) GTEST_SKIP() << "SQLite's sqlite_schema";
  Result<std::unique_ptr<Db>> conn = connect_db(url_);
  ASSERT_TRUE(conn.ok()) << conn.status().to_string();
  Db& db = **conn;
  const Migration one = {1, "k",
                         "CREATE TABLE k (v TEXT NOT NULL CHECK (v IN ('a', 'b', 'c'))); "
                         "INSERT INTO k VALUES ('a'), ('c');"};
  ASSERT_TRUE(migrate(db, std::span(&one, 1)).ok());
  Result<std::unique_ptr<Db>> other = connect_db(url_);
  ASSERT_TRUE(other.ok()) << other.status().to_string();
  EXPECT_EQ((*other)->exec("INSERT INTO k VALUES ('d')").code(), Code::kStoreConstraint);

  const auto edit = [](const char* from, const char* to) {
    return std::string(
               "PRAGMA writable_schema = ON; UPDATE sqlite_schema SET sql = replace(sql, '") +
           from + "', '" + to + "') WHERE name = 'k'; PRAGMA writable_schema = OFF;";
  };
  const char* wide = "v = ''a'' OR v = ''b'' OR v = ''c'' OR v = ''d''";
  const std::string widen_sql = edit("v IN (''a'', ''b'', ''c'')", wide);
  const Migration widen = {2, "edit", widen_sql};
  const Migration both[] = {one, widen};
  Status s = migrate(db, both);
  ASSERT_TRUE(s.ok()) << s.to_string();
  Status d = (*other)->exec("INSERT INTO k VALUES ('d')");
  EXPECT_TRUE(d.ok()) << "the other connection reread the schema: " << d.to_string();

  // 'c' is stored: a constraint without it is refused, and nothing changes.
  const std::string narrow_sql = edit(wide, "v = ''a'' OR v = ''d''");
  const Migration narrow = {3, "edit", narrow_sql};
  const Migration three[] = {one, widen, narrow};
  s = migrate(db, three);
  EXPECT_EQ(s.code(), Code::kStoreSchema) << s.to_string();
  EXPECT_NE(s.message().find("does not check out"), std::string::npos) << s.message();
  EXPECT_EQ(*schema_version(db), 2);
  run(db, "INSERT INTO k VALUES ('b')");
  EXPECT_EQ(count_rows(db, "k"), 4);
}

TEST_P(StoreTest, InitSchemaHoldsASettlementChain) {
  std::unique_ptr<Db> db = open();
  ASSERT_NE(db, nullptr);
  const char* kPsn = "370102198001011237";
  Tx tx(*db);
  ASSERT_TRUE(tx.ok());
  run(*db,
      "INSERT INTO persons (psn_no, psn_name, gend, brdy, admdvs, insutype, preexisting, status, "
      "seq, updated_at) VALUES ('370102198001011237', '张三', '1', '1980-01-01', '370102', "
      "'390', 0, 'active', 1, 'now');"
      "INSERT INTO person_history (psn_no, seq, valid_from, psn_name, gend, brdy, admdvs, "
      "insutype, preexisting, status, change, actor, recorded_at) VALUES ('370102198001011237', "
      "1, '2024-01-01', '张三', '1', '1980-01-01', '370102', '390', 0, 'active', 'created', "
      "'test', 'now');"
      "INSERT INTO plans (plan_id, name, created_at) VALUES ('hmb-2024', '惠民保', 'now');"
      "INSERT INTO plan_versions (plan_id, version, year, period_begin, period_end, toml, "
      "content_hash, loaded_at, loaded_by) VALUES ('hmb-2024', 1, 2024, '2024-01-01', "
      "'2024-12-31', 'id = \"hmb-2024\"', 'abc', 'now', 'test');"
      "INSERT INTO products (plan_id, product, name, kind, premium_fen) VALUES ('hmb-2024', "
      "'hmb', '惠民保', 'medical', 9900);"
      "INSERT INTO enrollments (id, psn_no, plan_id, product, begin_date, end_date, "
      "prior_years, status, source, renewal_consent, created_at) VALUES (1, "
      "'370102198001011237', 'hmb-2024', 'hmb', '2024-01-02', '2024-12-31', 2, 'active', "
      "'voluntary', 1, 'now');"
      "INSERT INTO enrollment_payers (enrollment_id, payer_kind, payer_ref, amount_fen) VALUES "
      "(1, 'personal_account', '370102198001011237', 9900);");
  const char* settle =
      "INSERT INTO settlements (setl_id, kind, ref_setl_id, psn_no, plan_id, plan_version, "
      "plan_year, claim_kind, med_type, fixmedins_code, admission_date, discharge_date, "
      "request_hash, request_json, result_json, medfee_sumamt, inscp_scp_amt, fund_pay_sumamt, "
      "hosp_part_amt, psn_part_amt, created_at, layers) VALUES (?, ?, ?, ?, 'hmb-2024', 1, 2024, "
      "'medical', '21', 'H1', '2024-03-01', '2024-03-05', 'h', '{}', '{}', ?, 0, 0, 0, 0, 'now', "
      "?)";
  auto add_settlement = [&](std::string_view id, std::string_view kind, const char* ref,
                            int64_t amount) -> Status {
    Result<Stmt*> st = db->prepare(settle);
    if (!st.ok()) return st.status();
    (*st)->bind_text(1, id);
    (*st)->bind_text(2, kind);
    if (ref != nullptr) {
      (*st)->bind_text(3, ref);
    } else {
      (*st)->bind_null(3);
    }
    (*st)->bind_text(4, kPsn);
    (*st)->bind_int64(5, amount);
    // What each layer paid (the settlement_layers view reads it back).
    (*st)->bind_text(6, kind == "settle" ? R"({"hifp":1234,"hifmi":1234,"maf":1234,"hmb_in":1234,)"
                                           R"("hmb_out":1234,"hmb_drug":1234,"hifob":0})"
                                         : "{}");
    Result<int64_t> n = (*st)->execute();
    return n.ok() ? Status() : n.status();
  };
  ASSERT_TRUE(add_settlement("S1", "settle", nullptr, 100000).ok());
  ASSERT_TRUE(add_settlement("S1R", "reversal", "S1", -100000).ok());
  ASSERT_TRUE(add_settlement("S1A", "adjustment", "S1", 500).ok());
  // A person's year state is one row, replaced by upsert.
  const char* put_state =
      "INSERT INTO accumulators (psn_no, plan_id, year, state, settlements, version, "
      "updated_at) VALUES (?, 'hmb-2024', 2024, ?, ?, 1, 'now') ON CONFLICT (psn_no, plan_id, "
      "year) DO UPDATE SET state = excluded.state, settlements = excluded.settlements, version = "
      "accumulators.version + 1, updated_at = excluded.updated_at";
  for (int64_t n : {int64_t(1), int64_t(2)}) {
    Result<Stmt*> st = db->prepare(put_state);
    ASSERT_TRUE(st.ok()) << st.status().to_string();
    (*st)->bind_text(1, kPsn);
    (*st)->bind_text(2, n == 1 ? R"({"deductible.hmb":700})" : R"({"deductible.hmb":1000})");
    (*st)->bind_int64(3, n);
    ASSERT_TRUE((*st)->execute().ok());
  }
  ASSERT_TRUE(tx.commit().ok());
  EXPECT_EQ(query_int(*db,
                      "SELECT settlements FROM accumulators WHERE psn_no = "
                      "'370102198001011237' AND year = 2024"),
            2);
  EXPECT_EQ(query_int(*db,
                      "SELECT count(*) FROM accumulators WHERE state = "
                      "'{\"deductible.hmb\":1000}'"),
            1);
  EXPECT_EQ(query_int(*db, "SELECT sum(amount_fen) FROM settlement_layers WHERE setl_id = 'S1'"),
            6 * 1234);
  EXPECT_EQ(query_int(*db, "SELECT count(*) FROM settlement_layers WHERE setl_id = 'S1'"), 6)
      << "the view lists the layers that paid, not the zeros";
  EXPECT_EQ(query_int(*db,
                      "SELECT count(*) FROM settlements WHERE psn_no = '370102198001011237' AND "
                      "plan_id = 'hmb-2024' AND plan_year = 2024 AND admission_date >= "
                      "'2024-01-01'"),
            3);

  // Checks and keys hold in both engines.
  EXPECT_EQ(add_settlement("S2", "reversal", "S1", -1).code(), Code::kStoreConstraint)
      << "a settlement is reversed at most once";
  EXPECT_EQ(add_settlement("S3", "settle", "S1", 1).code(), Code::kStoreConstraint)
      << "only corrections name a settlement";
  EXPECT_EQ(add_settlement("S4", "refund", nullptr, 1).code(), Code::kStoreConstraint);
  EXPECT_EQ(add_settlement(std::string(65, 'S'), "settle", nullptr, 1).code(),
            Code::kStoreConstraint);
  EXPECT_EQ(db->exec("INSERT INTO persons (psn_no, psn_name, gend, admdvs, insutype, seq, "
                     "updated_at) VALUES ('3701', 'x', '1', '370102', '390', 1, 'now')")
                .code(),
            Code::kStoreConstraint);
  EXPECT_EQ(db->exec("INSERT INTO enrollments (id, psn_no, plan_id, product, begin_date, "
                     "end_date, status, source, created_at) VALUES (2, '370102198001011237', "
                     "'hmb-2024', 'hmb', '2024-01-02', '2024-12-31', 'active', 'employer', 'now')")
                .code(),
            Code::kStoreConstraint);
  EXPECT_EQ(count_rows(*db, "settlements"), 3);
}

INSTANTIATE_TEST_SUITE_P(Engines, StoreTest, ::testing::Values(Engine::kSqlite, Engine::kPostgres),
                         [](const ::testing::TestParamInfo<Engine>& info) {
                           return engine_name(info.param);
                         });

TEST(StoreSql, NumbersPlaceholdersOutsideLiteralsAndComments) {
  int n = 0;
  EXPECT_EQ(sql_to_numbered_params("SELECT a FROM t WHERE a = ? AND b = ?", &n),
            "SELECT a FROM t WHERE a = $1 AND b = $2");
  EXPECT_EQ(n, 2);
  EXPECT_EQ(sql_to_numbered_params("SELECT '?', 'it''s ?', \"we?ird\", ? -- ?\n, /* ? */ ?", &n),
            "SELECT '?', 'it''s ?', \"we?ird\", $1 -- ?\n, /* ? */ $2");
  EXPECT_EQ(n, 2);
  EXPECT_EQ(sql_to_numbered_params("SELECT $tag$ ? $tag$, $$?$$, ?", &n),
            "SELECT $tag$ ? $tag$, $$?$$, $1");
  EXPECT_EQ(n, 1);
  EXPECT_EQ(sql_to_numbered_params("SELECT 'unterminated ?", &n), "SELECT 'unterminated ?");
  EXPECT_EQ(n, 0);
}

TEST(StoreSql, OpensUrlsAndRefusesUnknownOnes) {
  Result<std::unique_ptr<Db>> mem = open_db("sqlite::memory:");
  ASSERT_TRUE(mem.ok()) << mem.status().to_string();
  EXPECT_EQ((*mem)->dialect().engine, Engine::kSqlite);
  EXPECT_EQ((*mem)->dialect().for_update, "");
  EXPECT_EQ(*schema_version(**mem), int(embedded_migrations().size()));
  EXPECT_EQ(open_db("mysql://localhost/x").status().code(), Code::kStoreError);
  EXPECT_EQ(open_db("sqlite:").status().code(), Code::kStoreError);
  Result<std::unique_ptr<Db>> missing = open_db("sqlite:/nonexistent-dir/x/y.db");
  EXPECT_EQ(missing.status().code(), Code::kStoreError);
  Result<std::unique_ptr<Db>> refused = open_db("postgresql://nobody@127.0.0.1:1/none");
  EXPECT_EQ(refused.status().code(), Code::kStoreError);
  EXPECT_NE(refused.status().message().find("cannot connect"), std::string::npos);
}

TEST(StoreSql, PrepareTakesOneStatement) {
  Result<std::unique_ptr<Db>> db = open_db("sqlite::memory:");
  ASSERT_TRUE(db.ok());
  EXPECT_FALSE((*db)->prepare("SELECT 1; SELECT 2").ok());
  EXPECT_FALSE((*db)->prepare("  ").ok());
  EXPECT_FALSE((*db)->prepare("SELEC 1").ok());
  EXPECT_TRUE((*db)->prepare("SELECT 1;").ok());
}

TEST(StoreSql, EmbeddedMigrationsAreNumberedAndChecksummed) {
  std::span<const Migration> m = embedded_migrations();
  ASSERT_FALSE(m.empty());
  EXPECT_EQ(m[0].name, "init");
  for (size_t i = 0; i < m.size(); ++i) {
    EXPECT_EQ(m[i].version, int(i) + 1);
    EXPECT_FALSE(m[i].sql.empty());
  }
  EXPECT_NE(m[0].sql.find("CREATE TABLE settlements"), std::string_view::npos);
  for (const Migration& one : m) {  // engine sections are closed
    for (std::string_view open : {"/*sqlite:", "/*postgresql:"}) {
      for (size_t at = one.sql.find(open); at != std::string_view::npos;
           at = one.sql.find(open, at + 1)) {
        EXPECT_NE(one.sql.find("*/", at), std::string_view::npos) << one.name;
      }
    }
  }
  EXPECT_EQ(migration_checksum(""), "cbf29ce484222325");
  EXPECT_EQ(migration_checksum("a"), "af63dc4c8601ec8c");
  EXPECT_EQ(utc_timestamp_now().size(), 24u);
}

TEST(StoreSql, MigrationEngineSectionsRunOnlyOnTheirEngine) {
  const std::string_view sql =
      "CREATE TABLE a (x INT);\n/*sqlite:\nCREATE TABLE b (y INT) WITHOUT ROWID;\n*/\n"
      "/*postgresql:\nALTER TABLE a ADD COLUMN z INT;\n*/\nCREATE TABLE c (w INT);";
  EXPECT_EQ(migration_sql_for(sql, Engine::kSqlite),
            "CREATE TABLE a (x INT);\n\nCREATE TABLE b (y INT) WITHOUT ROWID;\n\n\n"
            "CREATE TABLE c (w INT);");
  EXPECT_EQ(migration_sql_for(sql, Engine::kPostgres),
            "CREATE TABLE a (x INT);\n\n\nALTER TABLE a ADD COLUMN z INT;\n\n"
            "CREATE TABLE c (w INT);");
  EXPECT_EQ(migration_sql_for("SELECT 1 /* a comment */", Engine::kSqlite),
            "SELECT 1 /* a comment */");
}

TEST(StoreSql, StoreCodesHaveStableNames) {
  for (auto [code, name] :
       {std::pair{Code::kStoreError, "store_error"},
        std::pair{Code::kStoreConstraint, "store_constraint"},
        std::pair{Code::kStoreBusy, "store_busy"}, std::pair{Code::kStoreSchema, "store_schema"}}) {
    EXPECT_EQ(code_name(code), name);
    Code back;
    ASSERT_TRUE(code_from_name(name, &back));
    EXPECT_EQ(back, code);
  }
}

}  // namespace
}  // namespace huibao::store

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new huibao::pgtest::PgEnvironment("/postgres"));
  return RUN_ALL_TESTS();
}
