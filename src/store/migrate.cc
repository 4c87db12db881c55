#include "store/migrate.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

namespace huibao::store {
namespace {

// Serializes concurrent migrators on PostgreSQL (SQLite's BEGIN IMMEDIATE does it there).
constexpr int64_t kMigrationLockKey = 0x6875'6962'616f'0001;  // "huibao" 1

constexpr std::string_view kCreateSchemaVersion =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "version INTEGER NOT NULL PRIMARY KEY, "
    "name TEXT NOT NULL, "
    "checksum TEXT NOT NULL, "
    "applied_at TEXT NOT NULL)";

struct Applied {
  int version;
  std::string name;
  std::string checksum;
};

std::string file_name(int version, std::string_view name) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d_", version);
  return buf + std::string(name) + ".sql";
}

Result<std::vector<Applied>> read_applied(Db& db) {
  Result<Stmt*> st =
      db.prepare("SELECT version, name, checksum FROM schema_version ORDER BY version");
  if (!st.ok()) return st.status();
  std::vector<Applied> out;
  for (;;) {
    Result<bool> row = (*st)->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back({int((*st)->column_int64(0)), std::string((*st)->column_text(1)),
                   std::string((*st)->column_text(2))});
  }
  return out;
}

// Refuses a database this binary cannot work with; the applied versions
// must be exactly 1..n of the known ones, with the same text.
Status check_applied(const std::vector<Applied>& applied, std::span<const Migration> known) {
  for (size_t i = 0; i < applied.size(); ++i) {
    const Applied& a = applied[i];
    if (a.version > int(known.size())) {
      return Status(Code::kStoreSchema,
                    "the database's schema version " + std::to_string(applied.back().version) +
                        " is newer than this huibao knows (" + std::to_string(known.size()) +
                        "): use a newer huibao (migration " + file_name(a.version, a.name) + ")");
    }
    if (a.version != int(i) + 1) {
      return Status(Code::kStoreSchema, "schema_version is not contiguous: found version " +
                                            std::to_string(a.version) + " where " +
                                            std::to_string(i + 1) + " was expected");
    }
    const Migration& m = known[i];
    if (a.checksum != migration_checksum(m.sql)) {
      return Status(Code::kStoreSchema,
                    "migration " + file_name(m.version, m.name) +
                        " was changed after it was applied to this database; migrations are "
                        "forward-only: add a new one instead");
    }
  }
  return Status();
}

// A SQLite migration may change a table's CHECK constraints by editing its
// CREATE statement in sqlite_schema under PRAGMA writable_schema (SQLite's
// documented way to do so without copying the table). Then, as that
// procedure says, the schema cookie is incremented, so that every connection
// rereads the schema; and PRAGMA quick_check must answer ok: it parses the
// edited schema and tests every row against the constraints it now states.
Status after_schema_edit(Db& db, const std::string& migration) {
  int64_t cookie = -1;
  Result<Stmt*> st = db.prepare("PRAGMA schema_version");
  if (!st.ok()) return st.status();
  if (Status s = for_each_row(**st, [&](Stmt& r) { cookie = r.column_int64(0); }); !s.ok())
    return s;
  if (Status s = db.exec("PRAGMA schema_version = " + std::to_string(cookie + 1)); !s.ok())
    return s;
  std::string answer;  // the first line of the check's answer
  st = db.prepare("PRAGMA quick_check");
  if (!st.ok()) return st.status();
  Status s = for_each_row(**st, [&](Stmt& r) {
    if (answer.empty()) answer = r.column_text(0);
  });
  if (!s.ok()) return s;
  if (answer == "ok") return Status();
  return Status(Code::kStoreSchema, "migration " + migration +
                                        ": the database does not check out after it (" + answer +
                                        "); nothing was migrated");
}

Status apply(Db& db, const Migration& m) {
  const std::string sql = migration_sql_for(m.sql, db.dialect().engine);
  if (Status s = db.exec(sql); !s.ok()) {
    return Status(s.code(), "migration " + file_name(m.version, m.name) + ": " + s.message());
  }
  if (db.dialect().engine == Engine::kSqlite &&
      sql.find("PRAGMA writable_schema") != std::string::npos) {
    if (Status s = after_schema_edit(db, file_name(m.version, m.name)); !s.ok()) return s;
  }
  Result<Stmt*> st = db.prepare(
      "INSERT INTO schema_version (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)");
  if (!st.ok()) return st.status();
  (*st)->bind_int64(1, m.version);
  (*st)->bind_text(2, m.name);
  (*st)->bind_text(3, migration_checksum(m.sql));
  (*st)->bind_text(4, utc_timestamp_now());
  Result<int64_t> done = (*st)->execute();
  return done.ok() ? Status() : done.status();
}

}  // namespace

Status migrate(Db& db) {
  return migrate(db, embedded_migrations());
}

std::string migration_sql_for(std::string_view sql, Engine engine) {
  static constexpr std::string_view kSqlite = "/*sqlite:", kPostgres = "/*postgresql:";
  std::string out;
  size_t at = 0;
  for (;;) {
    const size_t a = sql.find(kSqlite, at), b = sql.find(kPostgres, at);
    const size_t open = std::min(a, b);
    if (open == std::string_view::npos) break;
    const bool sqlite = open == a;
    const size_t body = open + (sqlite ? kSqlite : kPostgres).size();
    const size_t close = sql.find("*/", body);
    HB_ASSERT(close != std::string_view::npos);  // tests check every embedded one
    out.append(sql.substr(at, open - at));
    if (sqlite == (engine == Engine::kSqlite)) out.append(sql.substr(body, close - body));
    at = close + 2;
  }
  out.append(sql.substr(at));
  return out;
}

namespace {

// SQLite checks no foreign key while migrations run, so a migration can
// rebuild a table others reference (create, copy, drop, rename: the steps of
// SQLite's ALTER TABLE documentation); every key is checked before commit.
// The pragma has no effect inside a transaction, hence this scope outside it.
class SqliteForeignKeysOff {
 public:
  explicit SqliteForeignKeysOff(Db& db)
      : db_(db.dialect().engine == Engine::kSqlite ? &db : nullptr) {
    if (db_ != nullptr) status_ = db_->exec("PRAGMA foreign_keys=OFF");
  }
  ~SqliteForeignKeysOff() {
    if (db_ != nullptr) (void)db_->exec("PRAGMA foreign_keys=ON");
  }
  SqliteForeignKeysOff(const SqliteForeignKeysOff&) = delete;
  SqliteForeignKeysOff& operator=(const SqliteForeignKeysOff&) = delete;
  const Status& status() const { return status_; }
  // Refuses the migration when a row's foreign key finds no parent.
  Status check() {
    if (db_ == nullptr) return Status();
    Result<Stmt*> st = db_->prepare("PRAGMA foreign_key_check");
    if (!st.ok()) return st.status();
    Result<bool> row = (*st)->step();
    if (!row.ok()) return row.status();
    if (!*row) return Status();
    const std::string table((*st)->column_text(0)), parent((*st)->column_text(2));
    (*st)->reset();
    return Status(Code::kStoreSchema, "after the migrations a row of " + table +
                                          " refers to a missing row of " + parent +
                                          "; nothing was migrated");
  }

 private:
  Db* db_;
  Status status_;
};

}  // namespace

Status migrate(Db& db, std::span<const Migration> migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) HB_ASSERT(migrations[i].version == int(i) + 1);
  SqliteForeignKeysOff keys_off(db);
  if (!keys_off.status().ok()) return keys_off.status();
  Tx tx(db, TxMode::kWrite);
  if (!tx.ok()) return tx.status();
  if (db.dialect().engine == Engine::kPostgres) {
    Status s = db.exec("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) + ")");
    if (!s.ok()) return s;
  }
  if (Status s = db.exec(kCreateSchemaVersion); !s.ok()) return s;
  Result<std::vector<Applied>> applied = read_applied(db);
  if (!applied.ok()) return applied.status();
  if (Status s = check_applied(*applied, migrations); !s.ok()) return s;
  for (size_t i = applied->size(); i < migrations.size(); ++i) {
    if (Status s = apply(db, migrations[i]); !s.ok()) return s;
  }
  if (applied->size() < migrations.size()) {
    if (Status s = keys_off.check(); !s.ok()) return s;
  }
  return tx.commit();
}

Result<int> schema_version(Db& db) {
  Result<Stmt*> exists = db.prepare(
      db.dialect().engine == Engine::kSqlite
          ? "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
          : "SELECT count(*) FROM pg_catalog.pg_tables "
            "WHERE tablename = 'schema_version' AND schemaname = current_schema()");
  if (!exists.ok()) return exists.status();
  Result<bool> found = (*exists)->step();
  if (!found.ok()) return found.status();
  const bool has_table = (*exists)->column_int64(0) != 0;
  (*exists)->reset();
  if (!has_table) return 0;
  Result<Stmt*> st = db.prepare("SELECT max(version) FROM schema_version");
  if (!st.ok()) return st.status();
  Result<bool> row = (*st)->step();
  if (!row.ok()) return row.status();
  const int version = int((*st)->column_int64(0));
  (*st)->reset();
  return version;
}

std::string migration_checksum(std::string_view sql) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : sql) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string utc_timestamp_now() {
  using namespace std::chrono;
  const auto now = time_point_cast<milliseconds>(system_clock::now());
  const auto day = floor<days>(now);
  const year_month_day ymd(day);
  const hh_mm_ss<milliseconds> t(now - day);
  char buf[32];
  std::snprintf(
      buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ", int(ymd.year()),
      unsigned(ymd.month()), unsigned(ymd.day()), static_cast<long long>(t.hours().count()),
      static_cast<long long>(t.minutes().count()), static_cast<long long>(t.seconds().count()),
      static_cast<long long>(t.subseconds().count()));
  return buf;
}

}  // namespace huibao::store
