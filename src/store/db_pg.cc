// The PostgreSQL engine over libpq: statements prepared with the extended
// protocol (PQprepare / PQexecPrepared, text format) under per-connection
// names; `?` rewritten to $n. insert_rows sends multi-row INSERTs of up to
// Db::kInsertChunkRowsMax rows (and at most 65535 parameters) per round trip,
// the full-size statement prepared once, so a batch of N rows costs about
// N / 1000 round trips and the server plans once per chunk.
#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "store/engines.h"

namespace huibao::store {
namespace {

constexpr int kPgParamsMax = 65535;
constexpr Dialect kPgDialect{Engine::kPostgres, "postgresql", " FOR UPDATE", kPgParamsMax};

std::string trimmed(const char* s) {
  std::string out = s != nullptr ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// The status of a failed result (res may be null: out of memory, lost connection).
Status pg_status(PGconn* conn, const PGresult* res, std::string_view sql) {
  Code code = Code::kStoreError;
  std::string msg = "postgresql: ";
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  if (state != nullptr) {
    std::string_view st(state);
    if (st.starts_with("23")) {
      code = Code::kStoreConstraint;  // integrity constraint violation
    } else if (st == "40001" || st == "40P01" || st == "55P03") {
      code = Code::kStoreBusy;  // serialization failure, deadlock, lock not available
    }
    msg += trimmed(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
    if (const char* detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL)) {
      msg += " (" + trimmed(detail) + ")";
    }
    msg += " [";
    msg += st;
    msg += "]";
  } else {
    msg += trimmed(PQerrorMessage(conn));
  }
  if (!sql.empty()) {
    msg += " (in: ";
    msg += sql_head(sql);
    msg += ")";
  }
  return Status(code, std::move(msg));
}

bool result_ok(const PGresult* res) {
  ExecStatusType st = PQresultStatus(res);
  return res != nullptr && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
}

int64_t cmd_tuples(PGresult* res) {
  const char* s = PQcmdTuples(res);
  int64_t n = 0;
  std::from_chars(s, s + std::strlen(s), n);
  return n;
}

class PgStmt final : public Stmt {
 public:
  PgStmt(Db* db, std::string sql, PGconn* conn, std::string name, int params)
      : Stmt(db, std::move(sql)),
        conn_(conn),
        name_(std::move(name)),
        params_(params),
        buffers_(size_t(params)),
        values_(size_t(params), nullptr) {}
  ~PgStmt() override { PQclear(res_); }

  void bind_int64(int param, int64_t value) override {
    std::string& b = buffer(param);
    char tmp[24];
    auto end = std::to_chars(tmp, tmp + sizeof tmp, value).ptr;
    b.assign(tmp, size_t(end - tmp));
    values_[size_t(param - 1)] = b.c_str();
  }
  void bind_null(int param) override {
    buffer(param);
    values_[size_t(param - 1)] = nullptr;
  }
  int column_count() const override { return res_ != nullptr ? PQnfields(res_) : 0; }
  bool column_is_null(int column) const override {
    HB_ASSERT(on_row());
    return PQgetisnull(res_, row_, column) != 0;
  }
  int64_t column_int64(int column) const override {
    HB_ASSERT(on_row());
    if (PQgetisnull(res_, row_, column)) return 0;
    const char* s = PQgetvalue(res_, row_, column);
    const char* end = s + PQgetlength(res_, row_, column);
    int64_t v = 0;
    auto r = std::from_chars(s, end, v);
    HB_ASSERT(r.ec == std::errc() && r.ptr == end);  // the column holds an integer
    return v;
  }
  std::string_view column_text(int column) const override {
    HB_ASSERT(on_row());
    return {PQgetvalue(res_, row_, column), size_t(PQgetlength(res_, row_, column))};
  }

 protected:
  void do_bind_text(int param, std::string_view value) override {
    std::string& b = buffer(param);
    b.assign(value);
    values_[size_t(param - 1)] = b.c_str();
  }

  Result<bool> do_step() override {
    if (res_ == nullptr) {
      res_ = PQexecPrepared(conn_, name_.c_str(), params_, values_.data(), nullptr, nullptr, 0);
      if (!result_ok(res_)) {
        Status s = pg_status(conn_, res_, sql_);
        do_reset();
        return s;
      }
      rows_ = PQntuples(res_);
      changes_ = cmd_tuples(res_);
      row_ = -1;
    }
    if (row_ < rows_) ++row_;
    return row_ < rows_;
  }

  void do_reset() override {
    PQclear(res_);
    res_ = nullptr;
    rows_ = 0;
    row_ = -1;
  }

  int64_t changes() const override { return changes_; }

 private:
  std::string& buffer(int param) {
    HB_ASSERT(param >= 1 && param <= params_);
    // Bindings change the next execution; a finished one is dropped.
    if (res_ != nullptr) do_reset();
    return buffers_[size_t(param - 1)];
  }
  bool on_row() const { return res_ != nullptr && row_ >= 0 && row_ < rows_; }

  PGconn* conn_;
  std::string name_;
  int params_;
  std::vector<std::string> buffers_;  // text form of each bound value
  std::vector<const char*> values_;   // into buffers_; null for SQL NULL
  PGresult* res_ = nullptr;           // the whole result of the current execution
  int rows_ = 0;
  int row_ = -1;
  int64_t changes_ = 0;
};

class PgDb final : public Db {
 public:
  explicit PgDb(PGconn* conn) : conn_(conn) {}
  ~PgDb() override {
    clear_statements();
    PQfinish(conn_);
  }

  const Dialect& dialect() const override { return kPgDialect; }

  // Sessions wait for locks as long as SQLite's busy timeout, unless the
  // server or the URL configured a lock_timeout already.
  Status configure() {
    PGresult* res = PQexec(conn_, "SELECT current_setting('lock_timeout')");
    if (!result_ok(res)) {
      Status s = pg_status(conn_, res, "SELECT current_setting('lock_timeout')");
      PQclear(res);
      return s;
    }
    bool unset = std::string_view(PQgetvalue(res, 0, 0)) == "0";
    PQclear(res);
    if (!unset) return Status();
    return do_exec("SET lock_timeout = " + std::to_string(kBusyTimeoutMs));
  }

 protected:
  Status do_exec(std::string_view sql) override {
    std::string text(sql);
    PGresult* res = PQexec(conn_, text.c_str());
    // A script of comments only (a migration with nothing for PostgreSQL) is no error.
    const bool empty = res != nullptr && PQresultStatus(res) == PGRES_EMPTY_QUERY;
    Status s = result_ok(res) || empty ? Status() : pg_status(conn_, res, sql);
    PQclear(res);
    return s;
  }

  Result<std::unique_ptr<Stmt>> do_prepare(std::string_view sql) override {
    int params = 0;
    std::string text = sql_to_numbered_params(sql, &params);
    if (params > kPgParamsMax) {
      return Status(Code::kStoreError,
                    "prepare: more than 65535 parameters (in: " + sql_head(sql) + ")");
    }
    std::string name = "hb_" + std::to_string(++statements_made_);
    PGresult* res = PQprepare(conn_, name.c_str(), text.c_str(), params, nullptr);
    Status s = result_ok(res) ? Status() : pg_status(conn_, res, sql);
    PQclear(res);
    if (!s.ok()) return s;
    return std::unique_ptr<Stmt>(
        new PgStmt(this, std::string(sql), conn_, std::move(name), params));
  }

  Status do_begin(TxMode) override { return do_exec("BEGIN"); }

  Status do_commit() override {
    PGresult* res = PQexec(conn_, "COMMIT");
    Status s = result_ok(res) ? Status() : pg_status(conn_, res, "COMMIT");
    if (s.ok() && std::string_view(PQcmdStatus(res)) == "ROLLBACK") {
      s = Status(Code::kStoreError, "postgresql: the server rolled the transaction back");
    }
    PQclear(res);
    return s;
  }

  Status do_rollback() override {
    if (PQtransactionStatus(conn_) == PQTRANS_IDLE) return Status();
    return do_exec("ROLLBACK");
  }

  Status do_insert_rows(const InsertSpec& spec, const Rows& rows) override {
    // Plain inserts of many rows go through COPY: several times faster than
    // multi-row INSERTs, and a bad row's error names its line.
    if (spec.suffix.empty() && rows.rows() >= kCopyRowsMin) return copy_rows(spec, rows);
    const size_t columns = size_t(rows.columns());
    const size_t chunk_max = std::min(kInsertChunkRowsMax, size_t(kPgParamsMax) / columns);
    const std::string* full_name = nullptr;
    if (rows.rows() >= chunk_max) {
      Result<const std::string*> name = full_chunk_statement(spec, chunk_max);
      if (!name.ok()) return name.status();
      full_name = *name;
    }
    for (size_t first = 0; first < rows.rows();) {
      const size_t chunk = std::min(chunk_max, rows.rows() - first);
      fill_params(rows, first, chunk);
      PGresult* res;
      if (chunk == chunk_max) {
        res = PQexecPrepared(conn_, full_name->c_str(), int(values_.size()), values_.data(),
                             nullptr, nullptr, 0);
      } else {
        res = PQexecParams(conn_, insert_sql(spec, chunk, true).c_str(), int(values_.size()),
                           nullptr, values_.data(), nullptr, nullptr, 0);
      }
      if (!result_ok(res)) {
        Status s = pg_status(conn_, res, "");
        PQclear(res);
        return Status(s.code(), "insert into " + std::string(spec.table) + ", rows " +
                                    std::to_string(first + 1) + ".." +
                                    std::to_string(first + chunk) + ": " + s.message());
      }
      PQclear(res);
      first += chunk;
    }
    return Status();
  }

 private:
  static constexpr size_t kCopyRowsMin = 64;
  static constexpr size_t kCopyChunkBytes = 1 << 20;

  // COPY table (columns) FROM STDIN in text format: tab-separated, \N for
  // NULL, backslash escapes for the characters text format reserves.
  Status copy_rows(const InsertSpec& spec, const Rows& rows) {
    std::string sql = "COPY " + std::string(spec.table) + " (";
    for (size_t c = 0; c < spec.columns.size(); ++c) {
      if (c > 0) sql += ", ";
      sql += spec.columns[c];
    }
    sql += ") FROM STDIN";
    PGresult* res = PQexec(conn_, sql.c_str());
    if (PQresultStatus(res) != PGRES_COPY_IN) {
      Status s = pg_status(conn_, res, sql);
      PQclear(res);
      return s;
    }
    PQclear(res);
    copy_.clear();
    bool sent = true;
    char num[24];
    for (size_t r = 0; r < rows.rows() && sent; ++r) {
      for (int c = 0; c < rows.columns(); ++c) {
        if (c > 0) copy_ += '\t';
        const Rows::Value& v = rows.at(r, c);
        switch (v.kind) {
          case Rows::Kind::kNull:
            copy_ += "\\N";
            break;
          case Rows::Kind::kInt64: {
            auto end = std::to_chars(num, num + sizeof num, v.i).ptr;
            copy_.append(num, size_t(end - num));
            break;
          }
          case Rows::Kind::kText:
            for (char ch : rows.text(v)) {
              switch (ch) {
                case '\\':
                  copy_ += "\\\\";
                  break;
                case '\t':
                  copy_ += "\\t";
                  break;
                case '\n':
                  copy_ += "\\n";
                  break;
                case '\r':
                  copy_ += "\\r";
                  break;
                default:
                  copy_ += ch;
              }
            }
            break;
        }
      }
      copy_ += '\n';
      if (copy_.size() >= kCopyChunkBytes || r + 1 == rows.rows()) {
        sent = PQputCopyData(conn_, copy_.data(), int(copy_.size())) == 1;
        copy_.clear();
      }
    }
    if (PQputCopyEnd(conn_, sent ? nullptr : "huibao: sending rows failed") != 1 || !sent)
      return Status(Code::kStoreError,
                    "copy into " + std::string(spec.table) + ": " + PQerrorMessage(conn_));
    Status s;
    while ((res = PQgetResult(conn_)) != nullptr) {
      if (s.ok() && !result_ok(res)) {
        Status e = pg_status(conn_, res, "");
        s = Status(e.code(), "copy into " + std::string(spec.table) + ": " + e.message());
      }
      PQclear(res);
    }
    return s;
  }

  // The name of the prepared `chunk`-row INSERT for spec, preparing it once.
  Result<const std::string*> full_chunk_statement(const InsertSpec& spec, size_t chunk) {
    std::string sql = insert_sql(spec, chunk, true);
    if (auto it = insert_statements_.find(sql); it != insert_statements_.end()) return &it->second;
    HB_ASSERT(insert_statements_.size() < kStatementsCachedMax);
    std::string name = "hb_insert_" + std::to_string(insert_statements_.size() + 1);
    PGresult* res =
        PQprepare(conn_, name.c_str(), sql.c_str(), int(chunk * spec.columns.size()), nullptr);
    Status s = result_ok(res) ? Status() : pg_status(conn_, res, sql);
    PQclear(res);
    if (!s.ok()) return s;
    return &insert_statements_.emplace(std::move(sql), std::move(name)).first->second;
  }

  // values_ = rows [first, first + chunk) in text form: text points into the
  // Rows arena (NUL-terminated there), integers are formatted into ints_.
  void fill_params(const Rows& rows, size_t first, size_t chunk) {
    constexpr size_t kSlot = 24;  // "-9223372036854775808" and its NUL
    const size_t columns = size_t(rows.columns());
    values_.resize(chunk * columns);
    ints_.resize(chunk * columns * kSlot);
    for (size_t r = 0; r < chunk; ++r) {
      for (size_t c = 0; c < columns; ++c) {
        const size_t i = r * columns + c;
        const Rows::Value& v = rows.at(first + r, int(c));
        switch (v.kind) {
          case Rows::Kind::kNull:
            values_[i] = nullptr;
            break;
          case Rows::Kind::kText:
            values_[i] = rows.text_data(v);
            break;
          case Rows::Kind::kInt64: {
            char* slot = ints_.data() + i * kSlot;
            *std::to_chars(slot, slot + kSlot - 1, v.i).ptr = '\0';
            values_[i] = slot;
            break;
          }
        }
      }
    }
  }

  PGconn* conn_;
  int64_t statements_made_ = 0;
  std::unordered_map<std::string, std::string> insert_statements_;  // SQL -> statement name
  std::vector<const char*> values_;
  std::string copy_;  // COPY data being sent
  std::vector<char> ints_;
};

}  // namespace

Result<std::unique_ptr<Db>> connect_postgres(std::string_view url) {
  std::string dbname(url);
  // Keywords after dbname override the URL's: the store speaks UTF-8.
  const char* keys[] = {"dbname", "client_encoding", "fallback_application_name", nullptr};
  const char* values[] = {dbname.c_str(), "UTF8", "huibao", nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, 1);
  if (conn == nullptr) return Status(Code::kStoreError, "postgresql: out of memory connecting");
  if (PQstatus(conn) != CONNECTION_OK) {
    Status s(Code::kStoreError, "postgresql: cannot connect: " + trimmed(PQerrorMessage(conn)));
    PQfinish(conn);
    return s;
  }
  // Notices ("relation already exists, skipping") are not errors; keep stderr quiet.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  auto db = std::make_unique<PgDb>(conn);
  if (Status s = db->configure(); !s.ok()) return s;
  return std::unique_ptr<Db>(std::move(db));
}

}  // namespace huibao::store
