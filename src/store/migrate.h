// Schema migrations: numbered SQL files (migrations/NNNN_name.sql) embedded
// into the binary at build time, applied in order in one write transaction
// and recorded in schema_version (version, name, checksum, applied_at).
// Forward-only: a database that has a version this binary does not know, or
// whose applied migration text differs from the embedded one, is refused
// with kStoreSchema and left untouched.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "store/db.h"

namespace huibao::store {

struct Migration {
  int version;            // 1, 2, ... without gaps
  std::string_view name;  // "init" for 0001_init.sql
  std::string_view sql;   // portable to both engines, but for engine sections
};

// The text a migration runs on one engine. Portable SQL is the rule; where
// the engines cannot share a statement (a SQLite table rebuild, say) the file
// holds engine sections, comments to any SQL reader:
//   /*sqlite: ... */  and  /*postgresql: ... */
// Each section's text is kept on its engine and dropped on the other; the
// checksum is of the file as written.
std::string migration_sql_for(std::string_view sql, Engine engine);

// The migrations built into this binary (generated from migrations/*.sql).
std::span<const Migration> embedded_migrations();

// Applies every embedded migration the database lacks.
Status migrate(Db& db);
// The same over an explicit list (tests).
Status migrate(Db& db, std::span<const Migration> migrations);
// The highest applied version; 0 for a database never migrated.
Result<int> schema_version(Db& db);

// FNV-1a 64 of the text, as 16 hex digits: detects an edited migration.
std::string migration_checksum(std::string_view sql);
// "YYYY-MM-DDTHH:MM:SS.mmmZ", the store's timestamp format (UTC).
std::string utc_timestamp_now();

}  // namespace huibao::store
