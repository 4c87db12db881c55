// Small helpers for the books' SQL: bind a list of values, run a query and
// visit its rows, run a statement.
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/error.h"
#include "store/db.h"

namespace huibao::books {

using Param = std::variant<int64_t, std::string_view>;

inline void bind_params(store::Stmt& s, std::initializer_list<Param> params) {
  int k = 0;
  for (const Param& p : params) {
    ++k;
    if (const int64_t* i = std::get_if<int64_t>(&p)) {
      s.bind_int64(k, *i);
    } else {
      s.bind_text(k, std::get<std::string_view>(p));
    }
  }
}

// Runs the query and calls row(stmt) for each result row.
template <typename F>
Status query_rows(store::Db& db, std::string_view sql, std::initializer_list<Param> params,
                  F&& row) {
  Result<store::Stmt*> st = db.prepare(sql);
  if (!st.ok()) return st.status();
  bind_params(**st, params);
  return store::for_each_row(**st, std::forward<F>(row));
}

// Runs a statement; the rows it changed.
inline Result<int64_t> run_sql(store::Db& db, std::string_view sql,
                               std::initializer_list<Param> params) {
  Result<store::Stmt*> st = db.prepare(sql);
  if (!st.ok()) return st.status();
  bind_params(**st, params);
  return (*st)->execute();
}

// Integer sums by group: for each group of the rows `from` selects (a FROM
// ... WHERE ... clause, after an optional WITH prefix), the key expressions
// (as text) and the sums of the value expressions, groups in key order.
// PostgreSQL aggregates in the server (GROUP BY, a hash aggregate); SQLite
// streams the rows and sums them here, since its GROUP BY sorts every row
// first (five times slower over a million claims). With nonzero_first,
// only the groups whose first sum is not 0.
using GroupRow =
    std::function<void(const std::vector<std::string_view>& keys, const int64_t* sums)>;
Status grouped_sums(store::Db& db, std::string_view with,
                    std::initializer_list<std::string_view> keys,
                    std::initializer_list<std::string_view> sums, std::string_view from,
                    std::initializer_list<Param> params, const GroupRow& row,
                    bool nonzero_first = false);

}  // namespace huibao::books
