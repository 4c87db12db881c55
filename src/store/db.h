// A thin connection abstraction over SQLite (the embedded default) and
// PostgreSQL 15 (production), so the store's SQL and business logic are
// written once. Contract:
// - open_db(url) connects and applies the embedded migrations (migrate.h);
//   a database whose schema is newer than this binary is refused (kStoreSchema).
// - SQL uses `?` placeholders; PostgreSQL sees them as $1..$n. Statements are
//   prepared once per connection and cached by their text.
// - A Db is one connection, used by one thread at a time.
// - Inside a transaction, the first failed statement fails the transaction in
//   both engines alike: every later statement and commit() answer that first
//   error, and only rollback() clears it. (PostgreSQL aborts the transaction;
//   SQLite would carry on, so the wrapper enforces the stricter rule.)
// - Errors: kStoreConstraint (unique, foreign key, check, not null),
//   kStoreBusy (lock not obtained in time, deadlock, serialization failure:
//   retry the transaction), kStoreSchema, kStoreError (everything else).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.h"

namespace huibao::store {

enum class Engine : unsigned char { kSqlite, kPostgres };

// The few SQL differences callers need to know. Everything else (ON CONFLICT
// upserts, RETURNING, LIMIT, ||, partial indexes) is written once for both.
struct Dialect {
  Engine engine;
  std::string_view name;  // "sqlite" or "postgresql"
  // Appended to a SELECT of a row the transaction will update: " FOR UPDATE"
  // in PostgreSQL; empty in SQLite, where a write transaction (BEGIN
  // IMMEDIATE) already holds the database's write lock.
  std::string_view for_update;
  int params_max;  // placeholders one statement may hold
};

// kWrite takes the write lock at begin (SQLite BEGIN IMMEDIATE), so two
// writers queue instead of failing at their first write; kRead does not.
enum class TxMode : unsigned char { kRead, kWrite };

class Db;

// A prepared statement, owned by its connection's cache. Bind parameters are
// numbered from 1 (as `?`/`$n`), result columns from 0. Bound values are
// copied into buffers the statement keeps and reuses, so no allocation
// happens per execution once they have grown. Text must be UTF-8 without NUL
// bytes (a NUL is refused at step()). Column text is valid until the next
// step(), reset() or prepare() of the same SQL; begin(), commit(),
// rollback() and exec() reset every statement (so none holds an old
// snapshot). PostgreSQL receives a query's whole result at the first step():
// page large reads (LIMIT and a key) rather than stream millions of rows.
class Stmt {
 public:
  virtual ~Stmt() = default;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  virtual void bind_int64(int param, int64_t value) = 0;
  void bind_text(int param, std::string_view value);
  virtual void bind_null(int param) = 0;

  // Runs the statement (first call) or moves to the next row: true with a
  // row, false when there are no more rows.
  Result<bool> step();
  // Runs the statement to completion and returns the rows it changed (for
  // INSERT, UPDATE and DELETE).
  Result<int64_t> execute();

  // Known once the statement has run (PostgreSQL) or prepared (SQLite).
  virtual int column_count() const = 0;
  virtual bool column_is_null(int column) const = 0;
  virtual int64_t column_int64(int column) const = 0;          // 0 for NULL
  virtual std::string_view column_text(int column) const = 0;  // "" for NULL

  // Ends the current execution; bindings are kept. prepare() resets too.
  // Reset a statement read part way: until then, in SQLite, it holds a read
  // snapshot (and blocks DDL) outside a transaction.
  void reset();
  const std::string& sql() const { return sql_; }

 protected:
  Stmt(Db* db, std::string sql) : db_(db), sql_(std::move(sql)) {}
  virtual void do_bind_text(int param, std::string_view value) = 0;
  virtual Result<bool> do_step() = 0;
  virtual void do_reset() = 0;
  // Rows changed by the last completed execution.
  virtual int64_t changes() const = 0;

  Db* db_;
  std::string sql_;

 private:
  friend class Db;
  Status bind_error_;  // a refused value, reported by the next step()
  bool live_ = false;  // stepped since the transaction boundary (listed in Db::live_)
};

// Rows for Db::insert_rows, value by value, row by row. Reused across
// batches, it stops allocating once it has grown.
class Rows {
 public:
  explicit Rows(int columns) : columns_(columns) {}
  void add_int64(int64_t v) { values_.push_back({Kind::kInt64, v, 0}); }
  void add_text(std::string_view v);
  void add_null() { values_.push_back({Kind::kNull, 0, 0}); }
  void clear();

  int columns() const { return columns_; }
  size_t rows() const { return values_.size() / size_t(columns_); }
  // True when every row is complete.
  bool whole() const { return values_.size() % size_t(columns_) == 0; }

  enum class Kind : unsigned char { kNull, kInt64, kText };
  struct Value {
    Kind kind;
    int64_t i;        // kInt64: the value; kText: offset in the text arena
    uint32_t length;  // kText: bytes, not counting the NUL kept after them
  };
  const Value& at(size_t row, int column) const { return values_[row * columns_ + column]; }
  // NUL-terminated (libpq's text parameters need it).
  const char* text_data(const Value& v) const { return text_.data() + v.i; }
  std::string_view text(const Value& v) const { return {text_data(v), v.length}; }

 private:
  int columns_;
  std::vector<Value> values_;
  std::string text_;
};

// One INSERT for insert_rows: table and column names are program constants
// (plain identifiers); suffix is appended verbatim, e.g. an ON CONFLICT clause.
struct InsertSpec {
  std::string_view table;
  std::span<const std::string_view> columns;
  std::string_view suffix;
};

// Makes a connection's commits durable from another thread, so that a
// group commit's sync overlaps the work of the next group, and copies them
// from the log into the database off that connection too (see
// Db::defer_commit_sync). sync() and checkpoint() may run at once, each on
// one thread at a time.
class LogSyncer {
 public:
  virtual ~LogSyncer() = default;
  // Every commit the connection made before this call is on disk when this
  // returns ok. After a failure nothing is known to be durable: the caller
  // must stop acknowledging commits.
  virtual Status sync() = 0;
  // Copies the commits in the log into the database without waiting for
  // any connection (SQLite: a passive checkpoint on a connection of the
  // syncer's own; it syncs the log, then the database). A failure loses
  // nothing: the log keeps the commits, and grows. Returns the bytes of
  // pages now copied from the log (all of them lets the log start over).
  virtual Result<int64_t> checkpoint() = 0;
};

// One connection.
class Db {
 public:
  virtual ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  virtual const Dialect& dialect() const = 0;

  // Runs SQL without parameters, possibly several statements (DDL, scripts).
  // Resets every statement of the connection first.
  Status exec(std::string_view sql);
  // The cached statement for this SQL, reset and ready to bind. The pointer
  // stays valid as long as the Db; one use at a time per SQL text.
  Result<Stmt*> prepare(std::string_view sql);

  Status begin(TxMode mode = TxMode::kWrite);
  // Fails (and rolls back) when a statement of the transaction failed.
  Status commit();
  Status rollback();
  bool in_transaction() const { return in_tx_; }

  // Inserts every row of rows with one INSERT per row (SQLite) or, in
  // PostgreSQL, COPY (64 rows or more, no suffix) or multi-row INSERTs of up
  // to kInsertChunkRowsMax rows. Atomic: runs in
  // the caller's transaction, or in its own write transaction when none is
  // open. A multi-row ON CONFLICT DO UPDATE must not name one key twice.
  Status insert_rows(const InsertSpec& spec, const Rows& rows);

  // From now on this connection's commits return once written, without
  // waiting for the disk; the LogSyncer returned makes them durable. The
  // caller must not acknowledge a commit before a sync() begun after it has
  // returned ok, and must keep other readers from acting on such a commit
  // (they can see it). Still consistent after a crash: a commit is lost
  // whole or kept whole. Nor does the connection copy its log into the
  // database any more: the caller runs LogSyncer::checkpoint, or the log
  // grows without end. Returns nullptr, changing nothing, when the engine
  // cannot (PostgreSQL, an in-memory database): each commit then syncs.
  virtual Result<std::unique_ptr<LogSyncer>> defer_commit_sync();
  // After defer_commit_sync: the bytes of pages in the log after this
  // connection's last commit (fewer than before when the log started over).
  // Else 0.
  virtual int64_t log_bytes() const { return 0; }

  static constexpr size_t kInsertChunkRowsMax = 1000;
  static constexpr size_t kStatementsCachedMax = 512;

 protected:
  Db() = default;
  virtual Status do_exec(std::string_view sql) = 0;
  virtual Result<std::unique_ptr<Stmt>> do_prepare(std::string_view sql) = 0;
  virtual Status do_begin(TxMode mode) = 0;
  virtual Status do_commit() = 0;
  virtual Status do_rollback() = 0;
  virtual Status do_insert_rows(const InsertSpec& spec, const Rows& rows) = 0;
  // Drops every cached statement (engines call it from their destructor,
  // before closing the connection).
  void clear_statements() {
    live_.clear();
    statements_.clear();
  }

 private:
  friend class Stmt;
  Status note_failure(Status s);
  Status refuse_if_failed() const;
  void reset_live();

  struct SqlHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::unique_ptr<Stmt>, SqlHash, std::equal_to<>> statements_;
  std::vector<Stmt*> live_;
  bool in_tx_ = false;
  Status tx_failure_;  // the first failure of the open transaction
};

// Rolls back on destruction unless committed.
//   Tx tx(db);
//   if (!tx.ok()) return tx.status();
//   ... return tx.commit();
class Tx {
 public:
  explicit Tx(Db& db, TxMode mode = TxMode::kWrite) : db_(db), status_(db.begin(mode)) {}
  ~Tx();
  Tx(const Tx&) = delete;
  Tx& operator=(const Tx&) = delete;

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  Status commit();
  Status rollback();

 private:
  Db& db_;
  Status status_;
  bool done_ = false;
};

// Connects to `sqlite:PATH` (or a bare PATH; `sqlite:///abs` means /abs;
// `sqlite::memory:` is a private in-memory database) or
// `postgresql://...`/`postgres://...` (a libpq URI), then migrates.
Result<std::unique_ptr<Db>> open_db(std::string_view url);
// Connects without migrating (tests and tools that inspect a database).
Result<std::unique_ptr<Db>> connect_db(std::string_view url);

// `?` placeholders as `$1..$n`, leaving string literals, quoted identifiers
// and comments alone; *params receives n.
std::string sql_to_numbered_params(std::string_view sql, int* params);

// Allocates count consecutive ids of a named sequence (table id_sequences)
// and returns the first. Call inside a write transaction; concurrent callers
// never receive the same id.
Result<int64_t> allocate_ids(Db& db, std::string_view sequence, int64_t count);

// Steps a bound statement to its end, calling row(st) for each result row,
// and resets it.
template <typename F>
Status for_each_row(Stmt& st, F&& row) {
  for (;;) {
    Result<bool> r = st.step();
    if (!r.ok()) return r.status();
    if (!*r) break;
    row(st);
  }
  st.reset();
  return Status();
}

}  // namespace huibao::store
