// A test over both store engines: SQLite in a fresh temporary file, and a new
// database on the PostgreSQL 15 server the suite starts (pg_harness.h).
// Parameterise with ::testing::Values(Engine::kSqlite, Engine::kPostgres) and
// register PgEnvironment("/postgres") in main.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "pg_harness.h"
#include "store/db.h"

namespace huibao::store {

inline std::string engine_name(Engine e) {
  return e == Engine::kSqlite ? "sqlite" : "postgres";
}

class EngineTest : public ::testing::TestWithParam<Engine> {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("huibao-test-" + std::to_string(getpid()) + "-" + std::to_string(++counter));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    if (GetParam() == Engine::kSqlite) {
      url_ = "sqlite:" + (dir_ / "store.db").string();
      return;
    }
    if (pgtest::PgEnvironment::disabled()) GTEST_SKIP() << "HUIBAO_NO_PG=1";
    if (pgtest::PgEnvironment::server() == nullptr) {
      FAIL() << "PostgreSQL is needed for this test and could not be started: "
             << pgtest::PgEnvironment::failure();
    }
    Result<std::string> url = pgtest::PgEnvironment::server()->create_database();
    ASSERT_TRUE(url.ok()) << url.status().to_string();
    url_ = *url;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Opens (and migrates) a connection; null after reporting a failure.
  std::unique_ptr<Db> open() {
    Result<std::unique_ptr<Db>> db = open_db(url_);
    EXPECT_TRUE(db.ok()) << db.status().to_string();
    return db.ok() ? std::move(*db) : nullptr;
  }

  std::string url_;
  std::filesystem::path dir_;  // scratch files of the test
};

// The one integer a query returns (a failed test, and -1, otherwise).
inline int64_t query_int(Db& db, std::string_view sql) {
  Result<Stmt*> st = db.prepare(sql);
  EXPECT_TRUE(st.ok()) << st.status().to_string();
  if (!st.ok()) return -1;
  Result<bool> row = (*st)->step();
  EXPECT_TRUE(row.ok() && *row) << sql;
  const int64_t v = row.ok() && *row ? (*st)->column_int64(0) : -1;
  (*st)->reset();
  return v;
}

}  // namespace huibao::store
