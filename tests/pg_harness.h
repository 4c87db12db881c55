// A throwaway PostgreSQL 15 server for the store tests. PgEnvironment (a
// gtest Environment) runs initdb into a fresh temporary directory, starts
// `postgres` on a free 127.0.0.1 port with its unix socket inside that
// directory, and at the end stops it and removes the directory. As root the
// server binaries run as the `postgres` system user (initdb refuses root).
// The server is started only when a selected test needs it. Binaries come
// from $HUIBAO_PG_BIN or /usr/lib/postgresql/15/bin. The server runs with
// fsync=off (tests check behaviour, not durability) unless HUIBAO_PG_DURABLE=1,
// for measuring durable write rates.
#pragma once
#include <sys/types.h>

#include <string>

#include <gtest/gtest.h>

#include "core/error.h"

namespace huibao::pgtest {

class PgServer {
 public:
  PgServer() = default;
  ~PgServer() { stop(); }
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  Status start();
  void stop();
  // Creates a new empty database and returns its postgresql:// URL.
  Result<std::string> create_database();

 private:
  Status init_cluster();
  Status launch(int port, bool* port_taken);

  std::string bin_;
  std::string dir_;  // the temporary directory: data/, the socket, logs
  uid_t uid_ = 0;    // the user the server runs as
  gid_t gid_ = 0;
  bool drop_privileges_ = false;
  pid_t pid_ = -1;
  int port_ = 0;
  int databases_ = 0;
};

class PgEnvironment : public ::testing::Environment {
 public:
  // The suffix of the parameterized tests that need the server ("/postgres").
  explicit PgEnvironment(std::string test_suffix) : test_suffix_(std::move(test_suffix)) {}
  void SetUp() override;
  void TearDown() override;

  // The running server, or null; then failure() says why.
  static PgServer* server();
  static const std::string& failure();
  // HUIBAO_NO_PG=1: the PostgreSQL tests are skipped instead of failing.
  static bool disabled();

 private:
  std::string test_suffix_;
};

}  // namespace huibao::pgtest
