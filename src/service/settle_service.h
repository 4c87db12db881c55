// Persisted settlement: a claims file settled against the stored roll and
// year states, with every settlement and the new year states stored.
//
// - The plan is registered first: one plan_versions row per distinct text
//   (SHA-256), its products upserted. Settlements name the version.
// - A setl_id already stored is answered with its stored result when the
//   claim line is the same (same bytes, BLAKE2b), and refused with
//   duplicate_setl_id when it differs: a retry never settles twice.
// - Each person's new claims apply after their stored claims of the year, in
//   claim order among themselves (DOMAIN.md §3 within the file).
// - Persons are stored in groups, one transaction each: a group's
//   settlements, the layers that paid, and each person's year state after
//   them. A crash leaves every person's claims of this file either all
//   stored or none, and a year state always equals the replay of the stored
//   settlements. Rejected claims change nothing and are not stored.
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "batch/batch.h"
#include "core/error.h"
#include "policy/plan.h"
#include "store/db.h"

namespace huibao {

struct StoreSettleOptions {
  BatchOptions batch;  // claims_path, out_path, explain, threads, progress
  std::string actor = "batch";
  size_t persons_per_commit = 4096;
  // PostgreSQL: groups are stored on this many connections at once, opened
  // from url (the server's work is the bottleneck). SQLite: one writer.
  std::string url;
  int writers = 2;
  // SQLite: once the WAL holds this much, the writer waits for it to be
  // copied into the database, so that it starts over (settle_service.cc).
  int64_t log_restart_bytes = int64_t(512) << 20;
  // Tests: runs on the copier thread before each sync of the WAL (SQLite);
  // an error stands for the sync failing.
  std::function<Status()> before_sync;
};

struct StoreSettleSummary {
  BatchSummary batch;
  int plan_version = 0;
  uint64_t stored = 0;   // settlements stored by this run
  uint64_t commits = 0;  // transactions
  double load_seconds = 0, persist_seconds = 0;
  double writer_cpu_seconds = 0;  // CPU time of the threads that stored
};

Status settle_into_store(store::Db& db, const Plan& plan, std::string_view plan_text,
                         const StoreSettleOptions& options, StoreSettleSummary* summary);

// The year state as stored in accumulators.state: a JSON object of the
// non-zero entries, keyed "paid.<layer>", "base.<layer>",
// "deductible.<group>", "cap.<group>", "accident.death_disability",
// "accident.medical".
std::string encode_year_state(const Plan& plan, const YearState& s);
Status decode_year_state(const Plan& plan, std::string_view text, YearState* s);

// The hex SHA-256 of a plan version (plan_versions.content_hash): of the
// text alone for a plan without files, else of the text and each file's name
// and content (NUL-separated), so a changed drug list is a new version. And
// the hex BLAKE2b-128 of a claim line as received (settlements.request_hash).
std::string plan_content_hash(const Plan& plan, std::string_view plan_text);
std::string claim_request_hash(std::string_view line);

// The settlements columns a new settle row fills, in this order (layers and a
// NULL result_json as settlement_row.h says).
inline constexpr std::string_view kSettlementColumns[] = {
    "setl_id",         "kind",           "psn_no",         "plan_id",
    "plan_version",    "plan_year",      "claim_kind",     "med_type",
    "fixmedins_code",  "admission_date", "discharge_date", "request_hash",
    "request_json",    "result_json",    "medfee_sumamt",  "inscp_scp_amt",
    "fund_pay_sumamt", "hosp_part_amt",  "psn_part_amt",   "created_at",
    "layers"};

// accumulators.setl_ids, the settlements rows of a person's plan year
// (migration 0006): each id as a netstring "LEN:ID," (LEN its bytes in
// decimal), so any id a claim may carry fits. append_setl_id adds one;
// parse_setl_ids reads a list back (kStoreError naming what is wrong).
void append_setl_id(std::string_view setl_id, std::string* list);
Status parse_setl_ids(std::string_view list, std::vector<std::string>* ids);

// Writes a person's year state in the caller's transaction: an insert when
// none was read (version_read 0), else an update only where the version is
// still version_read; kStoreBusy when another writer got there first.
// new_setl_ids (append_setl_id's form) are the settlements rows written with
// it, appended to the row's setl_ids.
Status write_year_state(store::Db& db, const Plan& plan, std::string_view psn_no, int year,
                        const YearState& state, int64_t settlements, int64_t version_read,
                        std::string_view now, std::string_view new_setl_ids);

// Registers the plan text as a version of its plan (idempotent by content).
Result<int> register_plan_version(store::Db& db, const Plan& plan, std::string_view plan_text,
                                  std::string_view actor);

}  // namespace huibao
