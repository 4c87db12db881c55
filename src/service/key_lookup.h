// Reads and updates of many rows without a round trip per row:
// - for_each_by_keys: `... IN (?, ..., ?)` run for chunks of keys. Every
//   chunk has the same number of placeholders (the last one padded by
//   repeating its last key, which IN ignores), so one statement text,
//   prepared once, serves the whole lookup.
// - for_each_values: `UPDATE ... FROM (VALUES (...), ...) AS v WHERE ...`
//   (or any statement around a VALUES list) run for chunks of rows, the last
//   chunk padded with rows that match nothing. SQLite (3.33+) and PostgreSQL
//   both name the columns of a VALUES list v.column1, v.column2, ...
#pragma once
#include <algorithm>
#include <span>
#include <string>
#include <string_view>

#include "core/error.h"
#include "store/db.h"

namespace huibao {

// "(?, ?, ..., ?)" with n placeholders.
inline std::string sql_placeholders(size_t n) {
  std::string s = "(";
  for (size_t i = 0; i < n; ++i) s += i == 0 ? "?" : ", ?";
  return s + ")";
}

// Runs `head IN (?, ...) tail` for keys 0..n-1 in chunks of per_query keys.
// The first `fixed` parameters come before the list in the SQL text and are
// bound by bind_fixed(stmt); key(i) gives the i-th key's text (bound at once,
// so it may live in a buffer key reuses); on_row(stmt) is called per result
// row and may stop the lookup with a failed Status.
template <typename BindFixed, typename Key, typename OnRow>
Status for_each_by_keys(store::Db& db, std::string_view head, std::string_view tail, size_t n,
                        size_t per_query, int fixed, BindFixed bind_fixed, Key key, OnRow on_row) {
  HB_ASSERT(per_query > 0 && fixed >= 0);
  HB_ASSERT(int(per_query) + fixed <= db.dialect().params_max);
  const std::string sql =
      std::string(head) + " IN " + sql_placeholders(per_query) + " " + std::string(tail);
  for (size_t at = 0; at < n; at += per_query) {
    Result<store::Stmt*> st = db.prepare(sql);
    if (!st.ok()) return st.status();
    bind_fixed(**st);
    const size_t m = std::min(per_query, n - at);
    for (size_t i = 0; i < per_query; ++i)
      (*st)->bind_text(fixed + int(i) + 1, key(at + std::min(i, m - 1)));
    for (;;) {
      Result<bool> row = (*st)->step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      if (Status s = on_row(**st); !s.ok()) {
        (*st)->reset();
        return s;
      }
    }
  }
  return Status::Ok();
}

// The same without fixed parameters.
template <typename Key, typename OnRow>
Status for_each_by_keys(store::Db& db, std::string_view head, std::string_view tail, size_t n,
                        size_t per_query, Key key, OnRow on_row) {
  return for_each_by_keys(
      db, head, tail, n, per_query, 0, [](store::Stmt&) {}, key, on_row);
}

// Runs `head VALUES (...), (...) tail` for the rows of `rows`, per_query rows
// a statement: each row is a tuple of rows.columns() placeholders, column c
// written `CAST(? AS casts[c])` where casts[c] is not empty (PostgreSQL types
// untyped parameters as text). The last chunk is padded with rows of '' and
// NULLs, so column 0 must be a key that '' never matches. The first `fixed`
// parameters come before VALUES and are bound by bind_fixed(stmt); on_row
// (stmt) is called per result row (RETURNING).
template <typename BindFixed, typename OnRow>
Status for_each_values(store::Db& db, std::string_view head, std::string_view tail,
                       const store::Rows& rows, std::span<const std::string_view> casts,
                       size_t per_query, int fixed, BindFixed bind_fixed, OnRow on_row) {
  const int columns = rows.columns();
  HB_ASSERT(rows.whole() && size_t(columns) == casts.size() && per_query > 0);
  HB_ASSERT(int(per_query) * columns + fixed <= db.dialect().params_max);
  std::string tuple = "(";
  for (int c = 0; c < columns; ++c) {
    if (c > 0) tuple += ", ";
    tuple += casts[size_t(c)].empty() ? "?" : "CAST(? AS " + std::string(casts[size_t(c)]) + ")";
  }
  tuple += ")";
  std::string sql = std::string(head) + " VALUES ";
  for (size_t i = 0; i < per_query; ++i) sql += (i == 0 ? "" : ", ") + tuple;
  sql += " " + std::string(tail);
  for (size_t at = 0; at < rows.rows(); at += per_query) {
    Result<store::Stmt*> st = db.prepare(sql);
    if (!st.ok()) return st.status();
    store::Stmt& s = **st;
    bind_fixed(s);
    for (size_t i = 0; i < per_query; ++i) {
      for (int c = 0; c < columns; ++c) {
        const int param = fixed + int(i) * columns + c + 1;
        if (at + i >= rows.rows()) {  // padding
          if (c == 0) {
            s.bind_text(param, "");
          } else {
            s.bind_null(param);
          }
          continue;
        }
        const store::Rows::Value& v = rows.at(at + i, c);
        switch (v.kind) {
          case store::Rows::Kind::kNull:
            s.bind_null(param);
            break;
          case store::Rows::Kind::kInt64:
            s.bind_int64(param, v.i);
            break;
          case store::Rows::Kind::kText:
            s.bind_text(param, rows.text(v));
            break;
        }
      }
    }
    for (;;) {
      Result<bool> row = s.step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      if (Status r = on_row(s); !r.ok()) {
        s.reset();
        return r;
      }
    }
  }
  return Status::Ok();
}

}  // namespace huibao
