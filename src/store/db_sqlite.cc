// The SQLite engine: WAL journal, synchronous=FULL (a commit is on disk when
// it returns), foreign keys on, a busy timeout so writers queue, and BEGIN
// IMMEDIATE for write transactions (a deferred transaction that later writes
// could fail with SQLITE_BUSY without waiting).
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "store/engines.h"

namespace huibao::store {
namespace {

constexpr Dialect kSqliteDialect{Engine::kSqlite, "sqlite", "", 32766};

Status sqlite_status(sqlite3* db, int rc, std::string_view sql) {
  Code code = Code::kStoreError;
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
      code = Code::kStoreConstraint;
      break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      code = Code::kStoreBusy;
      break;
    default:
      break;
  }
  std::string msg = "sqlite: ";
  msg += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  if (!sql.empty()) {
    msg += " (in: ";
    msg += sql_head(sql);
    msg += ")";
  }
  return Status(code, std::move(msg));
}

Status os_error(std::string what, const std::string& path) {
  const int e = errno;
  return Status(Code::kStoreError, "sqlite: " + what + " '" + path + "': " + std::strerror(e));
}

// Syncs the WAL file through a descriptor of its own: on Linux fdatasync
// writes the file's data whichever descriptor wrote it, so the connection's
// commits, written without a sync (synchronous=NORMAL), become durable
// without the connection (used by one thread only) being touched.
//
// Checkpoints run on a connection of the syncer's own (passive: they never
// wait for the writer, nor make it wait): the writer's connection copies
// nothing, so a commit never includes a checkpoint's copy and database sync.
class WalSyncer final : public LogSyncer {
 public:
  WalSyncer(int fd, std::string path, int64_t page_bytes)
      : fd_(fd), path_(std::move(path)), page_bytes_(page_bytes) {}
  ~WalSyncer() override {
    ::close(fd_);
    sqlite3_close_v2(ckpt_);
  }
  // Opens the checkpoint connection on the database file db_file.
  Status open_checkpointer(const char* db_file) {
    const int rc =
        sqlite3_open_v2(db_file, &ckpt_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) return sqlite_status(ckpt_, rc, "open the checkpoint connection");
    sqlite3_busy_timeout(ckpt_, kBusyTimeoutMs);
    // synchronous=FULL (the default): the log is synced before it is copied,
    // the database after. A first read opens the WAL (a connection that has
    // not read is not in WAL mode, and its checkpoints do nothing).
    const int read =
        sqlite3_exec(ckpt_, "SELECT count(*) FROM sqlite_schema", nullptr, nullptr, nullptr);
    if (read != SQLITE_OK) return sqlite_status(ckpt_, read, "open the checkpoint connection");
    return Status();
  }
  Status sync() override {
    if (::fdatasync(fd_) != 0) return os_error("syncing the write-ahead log", path_);
    return Status();
  }
  Result<int64_t> checkpoint() override {
    int log = 0, copied = 0;
    const int rc =
        sqlite3_wal_checkpoint_v2(ckpt_, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
    if (rc == SQLITE_BUSY) return int64_t{0};  // another connection's checkpoint is running
    if (rc != SQLITE_OK) return sqlite_status(ckpt_, rc, "checkpoint of the write-ahead log");
    if (log < 0)
      return Status(Code::kStoreError, "sqlite: the checkpoint connection is not in WAL mode");
    return copied * page_bytes_;
  }

 private:
  int fd_;
  std::string path_;
  int64_t page_bytes_;
  sqlite3* ckpt_ = nullptr;
};

class SqliteStmt final : public Stmt {
 public:
  SqliteStmt(Db* db, std::string sql, sqlite3* conn, sqlite3_stmt* st)
      : Stmt(db, std::move(sql)),
        conn_(conn),
        st_(st),
        params_(sqlite3_bind_parameter_count(st)),
        texts_(size_t(params_)) {}
  ~SqliteStmt() override { sqlite3_finalize(st_); }

  void bind_int64(int param, int64_t value) override {
    before_bind(param);
    sqlite3_bind_int64(st_, param, value);
  }
  void bind_null(int param) override {
    before_bind(param);
    sqlite3_bind_null(st_, param);
  }
  int column_count() const override { return sqlite3_column_count(st_); }
  bool column_is_null(int column) const override {
    return sqlite3_column_type(st_, column) == SQLITE_NULL;
  }
  int64_t column_int64(int column) const override { return sqlite3_column_int64(st_, column); }
  std::string_view column_text(int column) const override {
    const unsigned char* p = sqlite3_column_text(st_, column);
    if (p == nullptr) return {};
    return {reinterpret_cast<const char*>(p), size_t(sqlite3_column_bytes(st_, column))};
  }

  // Binds text that stays valid, unchanged, until clear_bindings or the next
  // bind of the parameter: no copy.
  void bind_text_in_place(int param, std::string_view value) {
    before_bind(param);
    sqlite3_bind_text(st_, param, value.data(), int(value.size()), SQLITE_STATIC);
  }
  void clear_bindings() {
    do_reset();
    sqlite3_clear_bindings(st_);
  }

 protected:
  void do_bind_text(int param, std::string_view value) override {
    before_bind(param);
    // Our own buffer per parameter, reused: SQLITE_TRANSIENT would copy
    // (and allocate) on every bind.
    std::string& buf = texts_[size_t(param - 1)];
    buf.assign(value);
    sqlite3_bind_text(st_, param, buf.data(), int(buf.size()), SQLITE_STATIC);
  }

  Result<bool> do_step() override {
    if (done_) return false;
    running_ = true;
    int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) {
      done_ = true;
      changes_ = sqlite3_changes64(conn_);
      return false;
    }
    // sqlite3_reset returns the same error; the message is read first.
    Status s = sqlite_status(conn_, sqlite3_extended_errcode(conn_), sql_);
    do_reset();
    return s;
  }

  void do_reset() override {
    if (running_) sqlite3_reset(st_);
    running_ = false;
    done_ = false;
  }

  int64_t changes() const override { return changes_; }

 private:
  void before_bind(int param) {
    HB_ASSERT(param >= 1 && param <= params_);
    if (running_) do_reset();  // SQLite refuses bindings on a running statement
  }

  sqlite3* conn_;
  sqlite3_stmt* st_;
  int params_;
  std::vector<std::string> texts_;
  bool running_ = false;
  bool done_ = false;
  int64_t changes_ = 0;
};

class SqliteDb final : public Db {
 public:
  explicit SqliteDb(sqlite3* conn) : conn_(conn) {}
  ~SqliteDb() override {
    clear_statements();
    sqlite3_close_v2(conn_);
  }

  const Dialect& dialect() const override { return kSqliteDialect; }

  // Sets the connection up; run once after sqlite3_open_v2.
  Status configure(bool in_memory) {
    sqlite3_extended_result_codes(conn_, 1);
    sqlite3_busy_timeout(conn_, kBusyTimeoutMs);
    // Large pages for a new database (no effect on an existing one): a bulk
    // load writes and reads a sixteenth of the pages, each a system call.
    if (Status s = do_exec("PRAGMA page_size=16384"); !s.ok()) return s;
    std::string mode;
    {
      sqlite3_stmt* st = nullptr;
      int rc = sqlite3_prepare_v2(conn_, "PRAGMA journal_mode=WAL", -1, &st, nullptr);
      if (rc == SQLITE_OK) rc = sqlite3_step(st);
      if (rc == SQLITE_ROW) {
        mode = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
        rc = SQLITE_OK;
      }
      Status s = rc == SQLITE_OK ? Status() : sqlite_status(conn_, rc, "PRAGMA journal_mode=WAL");
      sqlite3_finalize(st);
      if (!s.ok()) return s;
    }
    if (mode != "wal" && !(in_memory && mode == "memory")) {
      return Status(Code::kStoreError,
                    "sqlite: could not switch the database to WAL mode (got '" + mode + "')");
    }
    return do_exec("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-262144");
  }

  // synchronous=NORMAL in WAL mode: a commit appends to the WAL without
  // syncing it; a checkpoint still syncs the WAL before copying it into the
  // database and the database before the WAL is reused, so a crash loses
  // only commits not yet synced, each whole.
  Result<std::unique_ptr<LogSyncer>> defer_commit_sync() override {
    if (in_transaction())
      return Status(Code::kStoreError, "defer_commit_sync inside a transaction");
    const char* db_file = sqlite3_db_filename(conn_, "main");
    if (db_file == nullptr || *db_file == '\0') return std::unique_ptr<LogSyncer>();
    // A read opens the WAL file (creating it if this is the first connection).
    if (Status s = do_exec("BEGIN; SELECT count(*) FROM sqlite_schema; COMMIT"); !s.ok()) return s;
    {
      Result<Stmt*> st = prepare("PRAGMA page_size");
      if (!st.ok()) return st.status();
      Result<bool> row = (*st)->step();
      if (!row.ok()) return row.status();
      page_bytes_ = *row ? (*st)->column_int64(0) : 0;
      (*st)->reset();
      if (page_bytes_ <= 0)
        return Status(Code::kStoreError, "sqlite: PRAGMA page_size gave nothing");
    }
    const std::string wal = sqlite3_filename_wal(db_file);
    const int fd = ::open(wal.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return os_error("cannot open the write-ahead log", wal);
    auto syncer = std::make_unique<WalSyncer>(fd, wal, page_bytes_);
    if (Status s = syncer->open_checkpointer(db_file); !s.ok()) return s;
    // The WAL's directory entry, in case the file was just created.
    const std::string dir = wal.substr(0, wal.find_last_of('/') + 1);
    const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return os_error("cannot open the directory of", wal);
    const int rc = ::fsync(dfd);
    ::close(dfd);
    if (rc != 0) return os_error("cannot sync the directory of", wal);
    if (Status s = syncer->sync(); !s.ok()) return s;
    if (Status s = do_exec("PRAGMA synchronous=NORMAL"); !s.ok()) return s;
    // In place of the automatic checkpoint (the hook replaces it): the log's
    // size after each commit, for the caller's checkpoints.
    sqlite3_wal_hook(
        conn_,
        [](void* self, sqlite3*, const char*, int frames) {
          auto* db = static_cast<SqliteDb*>(self);
          db->log_bytes_ = frames * db->page_bytes_;
          return SQLITE_OK;
        },
        this);
    return std::unique_ptr<LogSyncer>(std::move(syncer));
  }
  int64_t log_bytes() const override { return log_bytes_; }

 protected:
  Status do_exec(std::string_view sql) override {
    std::string text(sql);  // sqlite3_exec needs NUL termination
    char* err = nullptr;
    int rc = sqlite3_exec(conn_, text.c_str(), nullptr, nullptr, &err);
    sqlite3_free(err);  // sqlite3_errmsg holds the same message
    if (rc != SQLITE_OK) return sqlite_status(conn_, sqlite3_extended_errcode(conn_), sql);
    return Status();
  }

  Result<std::unique_ptr<Stmt>> do_prepare(std::string_view sql) override {
    sqlite3_stmt* st = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(conn_, sql.data(), int(sql.size()), SQLITE_PREPARE_PERSISTENT, &st,
                                &tail);
    if (rc != SQLITE_OK) return sqlite_status(conn_, rc, sql);
    if (st == nullptr)
      return Status(Code::kStoreError, "prepare: no SQL statement in '" + sql_head(sql) + "'");
    for (const char* p = tail; p < sql.data() + sql.size(); ++p) {
      if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r' && *p != ';') {
        sqlite3_finalize(st);
        return Status(Code::kStoreError, "prepare takes one statement; use exec for scripts (in: " +
                                             sql_head(sql) + ")");
      }
    }
    return std::unique_ptr<Stmt>(new SqliteStmt(this, std::string(sql), conn_, st));
  }

  Status do_begin(TxMode mode) override {
    return do_exec(mode == TxMode::kWrite ? "BEGIN IMMEDIATE" : "BEGIN");
  }
  Status do_commit() override { return do_exec("COMMIT"); }
  Status do_rollback() override {
    // Some errors (I/O, full disk) end the transaction themselves.
    if (sqlite3_get_autocommit(conn_)) return Status();
    return do_exec("ROLLBACK");
  }

  // One prepared single-row INSERT stepped per row, its text bound in place
  // from the rows' arena. Not multi-row VALUES: an INSERT of several rows
  // that may abort (NOT NULL, CHECK, UNIQUE, foreign keys) makes SQLite keep
  // a statement journal, a temporary file that received a copy of every page
  // the statement touched; on a bulk settlement that was more than half the
  // process's system time.
  Status do_insert_rows(const InsertSpec& spec, const Rows& rows) override {
    Result<Stmt*> prepared = prepare(insert_sql(spec, 1, false));
    if (!prepared.ok()) return prepared.status();
    auto& st = static_cast<SqliteStmt&>(**prepared);
    Status result;
    for (size_t r = 0; r < rows.rows() && result.ok(); ++r) {
      for (int col = 0; col < rows.columns(); ++col) {
        const Rows::Value& v = rows.at(r, col);
        switch (v.kind) {
          case Rows::Kind::kNull:
            st.bind_null(col + 1);
            break;
          case Rows::Kind::kInt64:
            st.bind_int64(col + 1, v.i);
            break;
          case Rows::Kind::kText:
            st.bind_text_in_place(col + 1, rows.text(v));
            break;
        }
      }
      Result<int64_t> done = st.execute();
      if (!done.ok()) {
        result = Status(done.status().code(),
                        "row " + std::to_string(r + 1) + ": " + done.status().message());
      }
    }
    st.clear_bindings();  // no pointer into rows outlives the call
    return result;
  }

 private:
  sqlite3* conn_;
  int64_t page_bytes_ = 0;  // after defer_commit_sync
  int64_t log_bytes_ = 0;
};

}  // namespace

Result<std::unique_ptr<Db>> connect_sqlite(std::string_view path) {
  // No memory statistics: they take a global mutex on every allocation, a
  // few per cent of a bulk insert. Must precede SQLite's initialisation.
  static const int configured = [] {
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return sqlite3_initialize();
  }();
  (void)configured;
  std::string file(path);
  sqlite3* conn = nullptr;
  int rc =
      sqlite3_open_v2(file.c_str(), &conn,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status s(Code::kStoreError, "sqlite: cannot open '" + file +
                                    "': " + (conn ? sqlite3_errmsg(conn) : sqlite3_errstr(rc)));
    sqlite3_close_v2(conn);
    return s;
  }
  auto db = std::make_unique<SqliteDb>(conn);
  if (Status s = db->configure(file == ":memory:"); !s.ok()) {
    return Status(s.code(), s.message() + " ('" + file + "')");
  }
  return std::unique_ptr<Db>(std::move(db));
}

}  // namespace huibao::store
