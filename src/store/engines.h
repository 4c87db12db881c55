// Internal to src/store: the two engines' entry points and SQL helpers they share.
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "store/db.h"

namespace huibao::store {

// How long a connection waits for a lock before answering kStoreBusy.
inline constexpr int kBusyTimeoutMs = 10'000;

Result<std::unique_ptr<Db>> connect_sqlite(std::string_view path);
Result<std::unique_ptr<Db>> connect_postgres(std::string_view url);

// "INSERT INTO t (a, b) VALUES (?, ?), (?, ?) suffix" with `rows` tuples;
// numbered: $1, $2, ... instead of ?.
std::string insert_sql(const InsertSpec& spec, size_t rows, bool numbered);
// The start of a statement, whitespace folded, for error messages.
std::string sql_head(std::string_view sql);

}  // namespace huibao::store
