#include "books/sql.h"

#include <algorithm>
#include <string>
#include <unordered_map>

namespace huibao::books {

Status grouped_sums(store::Db& db, std::string_view with,
                    std::initializer_list<std::string_view> keys,
                    std::initializer_list<std::string_view> sums, std::string_view from,
                    std::initializer_list<Param> params, const GroupRow& row, bool nonzero_first) {
  const bool server = db.dialect().engine == store::Engine::kPostgres;
  std::string sql(with);
  sql += "SELECT ";
  bool first = true;
  for (std::string_view k : keys) {
    sql += first ? "" : ", ";
    sql += k;
    first = false;
  }
  for (std::string_view v : sums) {
    sql += server ? ", SUM(" : ", ";
    sql += v;
    sql += server ? ")" : "";
  }
  sql += " ";
  sql += from;
  if (server) {
    sql += " GROUP BY ";
    for (size_t i = 1; i <= keys.size(); ++i) sql += (i > 1 ? ", " : "") + std::to_string(i);
    if (nonzero_first && sums.size() > 0)
      sql += " HAVING SUM(" + std::string(*sums.begin()) + ") <> 0";
  }
  const int nk = int(keys.size()), nv = int(sums.size());
  // Groups by their keys joined with a unit separator.
  std::unordered_map<std::string, std::vector<int64_t>> groups;
  std::string key;
  Status q = query_rows(db, sql, params, [&](store::Stmt& st) {
    key.clear();
    for (int k = 0; k < nk; ++k) {
      if (k > 0) key += '\x1f';
      key += st.column_text(k);
    }
    auto it = groups.find(key);
    if (it == groups.end()) it = groups.emplace(key, std::vector<int64_t>(size_t(nv), 0)).first;
    for (int v = 0; v < nv; ++v) it->second[size_t(v)] += st.column_int64(nk + v);
  });
  if (!q.ok()) return q;
  std::vector<const std::pair<const std::string, std::vector<int64_t>>*> order;
  order.reserve(groups.size());
  for (const auto& g : groups) {
    if (!nonzero_first || nv == 0 || g.second[0] != 0) order.push_back(&g);
  }
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->first < b->first; });
  std::vector<std::string_view> parts;
  for (const auto* g : order) {
    parts.clear();
    std::string_view rest = g->first;
    for (int k = 0; k < nk; ++k) {
      const size_t cut = k + 1 < nk ? rest.find('\x1f') : rest.size();
      parts.push_back(rest.substr(0, cut));
      rest.remove_prefix(std::min(rest.size(), cut + 1));
    }
    row(parts, g->second.data());
  }
  return Status::Ok();
}

}  // namespace huibao::books
