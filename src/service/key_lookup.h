// Reads by many keys without a round trip per key: `... IN (?, ..., ?)` run
// for chunks of keys. Every chunk has the same number of placeholders (the
// last one padded by repeating its last key, which IN ignores), so one
// statement text, prepared once, serves the whole lookup.
#pragma once
#include <algorithm>
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

}  // namespace huibao
