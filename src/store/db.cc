// What both engines share: the statement cache, the transaction state (a
// failed statement fails the transaction), insert_rows's checks, URL parsing
// and the `?` -> `$n` translation.
#include "store/db.h"

#include <algorithm>
#include <cstring>

#include "store/engines.h"
#include "store/migrate.h"

namespace huibao::store {

void Stmt::bind_text(int param, std::string_view value) {
  if (std::memchr(value.data(), '\0', value.size()) != nullptr) {
    bind_error_ = Status(Code::kStoreError, "parameter " + std::to_string(param) +
                                                " holds a NUL byte, which text " +
                                                "may not contain (in: " + sql_head(sql_) + ")");
    bind_null(param);
    return;
  }
  do_bind_text(param, value);
}

Result<bool> Stmt::step() {
  if (!bind_error_.ok()) return db_->note_failure(bind_error_);
  if (Status s = db_->refuse_if_failed(); !s.ok()) return s;
  if (!live_) {
    live_ = true;
    db_->live_.push_back(this);
  }
  Result<bool> r = do_step();
  if (!r.ok()) return db_->note_failure(r.status());
  return r;
}

Result<int64_t> Stmt::execute() {
  for (;;) {
    Result<bool> r = step();
    if (!r.ok()) return r.status();
    if (!*r) break;
  }
  return changes();
}

void Stmt::reset() {
  bind_error_ = Status();
  do_reset();
}

void Rows::add_text(std::string_view v) {
  HB_ASSERT(v.size() <= UINT32_MAX);
  values_.push_back({Kind::kText, int64_t(text_.size()), uint32_t(v.size())});
  text_.append(v);
  text_.push_back('\0');
}

void Rows::clear() {
  values_.clear();
  text_.clear();
}

Db::~Db() = default;

Result<std::unique_ptr<LogSyncer>> Db::defer_commit_sync() {
  return std::unique_ptr<LogSyncer>();
}

void Db::reset_live() {
  for (Stmt* st : live_) {
    st->reset();
    st->live_ = false;
  }
  live_.clear();
}

Status Db::note_failure(Status s) {
  if (in_tx_ && tx_failure_.ok()) tx_failure_ = s;
  return s;
}

Status Db::refuse_if_failed() const {
  if (!in_tx_ || tx_failure_.ok()) return Status();
  return Status(tx_failure_.code(),
                "the transaction failed earlier (" + tx_failure_.message() + "); roll it back");
}

Status Db::exec(std::string_view sql) {
  if (Status s = refuse_if_failed(); !s.ok()) return s;
  reset_live();  // SQLite refuses DDL while a statement is part way through
  return note_failure(do_exec(sql));
}

Result<Stmt*> Db::prepare(std::string_view sql) {
  if (Status s = refuse_if_failed(); !s.ok()) return s;
  if (auto it = statements_.find(sql); it != statements_.end()) {
    it->second->reset();
    return it->second.get();
  }
  // SQL texts are program constants; a growing cache means SQL is being
  // built from values, which is a bug (and an injection risk).
  HB_ASSERT(statements_.size() < kStatementsCachedMax);
  Result<std::unique_ptr<Stmt>> st = do_prepare(sql);
  if (!st.ok()) return note_failure(st.status());
  Stmt* raw = st->get();
  statements_.emplace(std::string(sql), std::move(*st));
  return raw;
}

Status Db::begin(TxMode mode) {
  if (in_tx_) return Status(Code::kStoreError, "begin: a transaction is already open");
  reset_live();
  Status s = do_begin(mode);
  if (!s.ok()) return s;
  in_tx_ = true;
  tx_failure_ = Status();
  return s;
}

Status Db::commit() {
  if (!in_tx_) return Status(Code::kStoreError, "commit: no transaction is open");
  if (!tx_failure_.ok()) {
    Status failure = tx_failure_;
    (void)rollback();
    return Status(failure.code(), "transaction rolled back: " + failure.message());
  }
  reset_live();
  Status s = do_commit();
  if (!s.ok()) {
    // Nothing was committed; leave the connection outside any transaction.
    (void)do_rollback();
  }
  in_tx_ = false;
  tx_failure_ = Status();
  return s;
}

Status Db::rollback() {
  if (!in_tx_) return Status();
  reset_live();
  Status s = do_rollback();
  in_tx_ = false;
  tx_failure_ = Status();
  return s;
}

namespace {

bool is_identifier(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

}  // namespace

Status Db::insert_rows(const InsertSpec& spec, const Rows& rows) {
  HB_ASSERT(is_identifier(spec.table));
  HB_ASSERT(!spec.columns.empty() && rows.columns() == int(spec.columns.size()));
  for (std::string_view c : spec.columns) HB_ASSERT(is_identifier(c));
  HB_ASSERT(rows.whole());
  if (Status s = refuse_if_failed(); !s.ok()) return s;
  if (rows.rows() == 0) return Status();
  for (size_t r = 0; r < rows.rows(); ++r) {
    for (int c = 0; c < rows.columns(); ++c) {
      const Rows::Value& v = rows.at(r, c);
      if (v.kind == Rows::Kind::kText && std::memchr(rows.text_data(v), '\0', v.length)) {
        return note_failure(
            Status(Code::kStoreError, "insert into " + std::string(spec.table) + ": row " +
                                          std::to_string(r + 1) + " column " +
                                          std::string(spec.columns[c]) + " holds a NUL byte"));
      }
    }
  }
  if (in_tx_) return note_failure(do_insert_rows(spec, rows));
  if (Status s = begin(TxMode::kWrite); !s.ok()) return s;
  Status s = note_failure(do_insert_rows(spec, rows));
  if (!s.ok()) {
    (void)rollback();
    return s;
  }
  return commit();
}

Tx::~Tx() {
  if (status_.ok() && !done_) (void)db_.rollback();
}

Status Tx::commit() {
  if (!status_.ok()) return status_;
  HB_ASSERT(!done_);
  done_ = true;
  return db_.commit();
}

Status Tx::rollback() {
  if (!status_.ok() || done_) return Status();
  done_ = true;
  return db_.rollback();
}

std::string sql_head(std::string_view sql) {
  constexpr size_t kShown = 120;
  std::string s;
  s.reserve(std::min(sql.size(), kShown) + 3);
  bool space = false;
  for (char c : sql) {
    if (s.size() >= kShown) {
      s += "...";
      break;
    }
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      space = !s.empty();
      continue;
    }
    if (space) s += ' ';
    space = false;
    s += c;
  }
  return s;
}

std::string insert_sql(const InsertSpec& spec, size_t rows, bool numbered) {
  std::string sql = "INSERT INTO ";
  sql += spec.table;
  sql += " (";
  for (size_t c = 0; c < spec.columns.size(); ++c) {
    if (c) sql += ", ";
    sql += spec.columns[c];
  }
  sql += ") VALUES ";
  size_t n = 0;
  for (size_t r = 0; r < rows; ++r) {
    sql += r ? ", (" : "(";
    for (size_t c = 0; c < spec.columns.size(); ++c) {
      if (c) sql += ", ";
      if (numbered) {
        sql += '$';
        sql += std::to_string(++n);
      } else {
        sql += '?';
      }
    }
    sql += ')';
  }
  if (!spec.suffix.empty()) {
    sql += ' ';
    sql += spec.suffix;
  }
  return sql;
}

std::string sql_to_numbered_params(std::string_view sql, int* params) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  size_t i = 0;
  const size_t len = sql.size();
  // Copies sql[i..] up to and including the closing `close` (doubled closes
  // are escapes and stay inside).
  auto copy_quoted = [&](char close) {
    out += sql[i++];
    while (i < len) {
      char c = sql[i++];
      out += c;
      if (c == close) {
        if (i < len && sql[i] == close) {
          out += sql[i++];
          continue;
        }
        return;
      }
    }
  };
  while (i < len) {
    char c = sql[i];
    if (c == '\'' || c == '"') {
      copy_quoted(c);
    } else if (c == '-' && i + 1 < len && sql[i + 1] == '-') {
      size_t end = sql.find('\n', i);
      end = end == std::string_view::npos ? len : end;
      out.append(sql.substr(i, end - i));
      i = end;
    } else if (c == '/' && i + 1 < len && sql[i + 1] == '*') {
      size_t end = sql.find("*/", i + 2);
      end = end == std::string_view::npos ? len : end + 2;
      out.append(sql.substr(i, end - i));
      i = end;
    } else if (c == '$' && i + 1 < len &&
               (sql[i + 1] == '$' || sql[i + 1] == '_' ||
                (sql[i + 1] >= 'a' && sql[i + 1] <= 'z') ||
                (sql[i + 1] >= 'A' && sql[i + 1] <= 'Z'))) {
      // A dollar-quoted string $tag$...$tag$ (PostgreSQL).
      size_t tag_end = sql.find('$', i + 1);
      size_t body_end = std::string_view::npos;
      if (tag_end != std::string_view::npos) {
        std::string_view tag = sql.substr(i, tag_end - i + 1);
        size_t close = sql.find(tag, tag_end + 1);
        if (close != std::string_view::npos) body_end = close + tag.size();
      }
      if (body_end == std::string_view::npos) {
        out += sql[i++];
      } else {
        out.append(sql.substr(i, body_end - i));
        i = body_end;
      }
    } else if (c == '?') {
      out += '$';
      out += std::to_string(++n);
      ++i;
    } else {
      out += c;
      ++i;
    }
  }
  *params = n;
  return out;
}

Result<std::unique_ptr<Db>> connect_db(std::string_view url) {
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    return connect_postgres(url);
  }
  std::string_view path = url;
  if (url.starts_with("sqlite:")) {
    path = url.substr(7);
    if (path.starts_with("//")) path = path.substr(2);
  } else if (url.find("://") != std::string_view::npos) {
    return Status(Code::kStoreError, "unknown database URL '" + std::string(url) +
                                         "': use sqlite:PATH or postgresql://...");
  }
  if (path.empty()) {
    return Status(Code::kStoreError,
                  "database URL '" + std::string(url) + "' names no file: use sqlite:PATH");
  }
  return connect_sqlite(path);
}

Result<std::unique_ptr<Db>> open_db(std::string_view url) {
  Result<std::unique_ptr<Db>> db = connect_db(url);
  if (!db.ok()) return db;
  if (Status s = migrate(**db); !s.ok()) return s;
  return db;
}

Result<int64_t> allocate_ids(Db& db, std::string_view sequence, int64_t count) {
  HB_ASSERT(count > 0);
  Result<Stmt*> st = db.prepare(
      "INSERT INTO id_sequences (name, next_id) VALUES (?, ?) "
      "ON CONFLICT (name) DO UPDATE SET next_id = id_sequences.next_id + ? "
      "RETURNING next_id");
  if (!st.ok()) return st.status();
  Stmt& s = **st;
  s.bind_text(1, sequence);
  s.bind_int64(2, 1 + count);
  s.bind_int64(3, count);
  Result<bool> row = s.step();
  if (!row.ok()) return row.status();
  HB_ASSERT(*row);
  int64_t next = s.column_int64(0);
  s.reset();
  return next - count;
}

}  // namespace huibao::store
