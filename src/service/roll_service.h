// The roll as a system of record: import from CSV (persons, relations,
// personal-account balances), export of the roll and of settlements to CSV or
// XLSX, and the masked view of one person. Each call owns its transaction(s)
// and writes one audit_log row (a dry run writes nothing at all).
//
// Import contract (import_roll):
// - persons.csv is DOMAIN.md §6's format and is validated exactly as
//   Roll::load_persons_csv validates it; relations.csv
//   (psn_no,rel_psn_no,relation) and accounts.csv (psn_no,balance) are
//   optional. Every bad row of every file is reported with file:line.
// - All or nothing: one write transaction; any bad row and nothing is written.
// - A dry run validates and computes the same report against the database,
//   and writes nothing (not even the audit row).
// - A person already stored and unchanged is not touched. A changed person
//   gets a new person_history row from the as-of date (see roll_import.cc for
//   how categories are dated). Persons absent from the file are left alone,
//   unless `full`, which moves the active ones out.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/date.h"
#include "core/error.h"
#include "core/money.h"
#include "store/db.h"

namespace huibao {

// ---- import ----

struct RollImportOptions {
  std::string persons_path;    // required
  std::string relations_path;  // optional: "" for none
  std::string accounts_path;   // optional: "" for none
  Date as_of;                  // the day the file's state takes effect
  bool dry_run = false;
  bool full = false;  // the file is the whole roll: absent active persons move out
  std::string actor;  // who runs the import (audit_log, person_history)
};

struct ImportRowError {
  std::string file;
  size_t line = 0;  // 0: about the file, or a stored person absent from it
  std::string message;
};

// A stored person the import changes (or, in a dry run, would change).
struct ImportPersonChange {
  std::string psn_no;
  std::string fields;  // "admdvs,categories"; "status" for one moved out
};

struct ImportCounts {
  int64_t rows = 0, added = 0, changed = 0, unchanged = 0;
};

struct ImportReport {
  static constexpr size_t kErrorsShownMax = 100;
  static constexpr size_t kChangesShownMax = 100;

  bool dry_run = false;
  bool full = false;
  bool committed = false;
  Date as_of;
  ImportCounts persons;
  int64_t moved_out = 0;
  ImportCounts relations;
  ImportCounts accounts;  // changed: a different balance (an account move)
  // The first kChangesShownMax changed or moved-out persons, by psn_no.
  std::vector<ImportPersonChange> changes;
  // Every bad row counts; the first kErrorsShownMax (by file, then line) are kept.
  int64_t error_count = 0;
  std::vector<ImportRowError> errors;

  std::string to_text() const;
};

// Runs the import. kIoError when a file cannot be read; kRollInvalid when a
// row is bad (report->errors says which; nothing written); a store code when
// the database fails (nothing written). report is filled in every case.
Status import_roll(store::Db& db, const RollImportOptions& options, ImportReport* report);

// ---- export ----

enum class TableFormat : unsigned char { kCsv, kXlsx };
// From the output file's extension: .csv or .xlsx (any case); false otherwise.
bool table_format_of(std::string_view path, TableFormat* out);

struct RollExportOptions {
  std::string out_path;           // .csv (persons.csv format) or .xlsx
  bool include_inactive = false;  // also moved-out and deceased persons
  std::string actor;
};

struct SettlementExportOptions {
  std::string out_path;  // .csv or .xlsx
  std::string plan_id;   // "" for every plan
  int year = 0;          // 0 for every plan year
  std::string actor;
};

struct ExportReport {
  int64_t rows = 0;                 // data rows written (persons or settlements)
  std::vector<std::string> layers;  // settlement export: the layer columns
};

// Writes the roll in persons.csv's format (XLSX: the same columns plus
// status). The CSV re-imports to the same roll and loads with
// Roll::load_persons_csv. Nothing is masked (an administrator's export); the
// audit row is written before the file.
Status export_roll(store::Db& db, const RollExportOptions& options, ExportReport* report);

// Writes settlements: setl_id, kind, ref_setl_id, psn_no, plan_id, plan_year,
// claim_kind, admission_date, discharge_date, the five amounts, then one
// column per layer that paid in any exported settlement (absent = 0.00), in
// plan order. Amounts are yuan with two decimals (XLSX: numbers, 0.00).
Status export_settlements(store::Db& db, const SettlementExportOptions& options,
                          ExportReport* report);

// ---- person show ----

struct PersonShowOptions {
  bool unmasked = false;  // show resident ids and names in full
  std::string actor;
  size_t settlements_max = 200;   // most recent first
  size_t account_moves_max = 20;  // most recent first
};

struct PersonView {
  struct HistoryRow {
    int64_t seq = 0;
    std::string valid_from, valid_to;  // valid_to "" while current
    std::string psn_name, gend, brdy, admdvs, insutype, status, change, actor, recorded_at;
    bool preexisting = false;
  };
  struct CategoryRow {
    std::string category, from_date, to_date;  // to_date "" while open
  };
  struct RelationRow {
    std::string psn_no;    // the other person
    std::string relation;  // what the other person is to this one
    std::string psn_name;  // the other person's name ("" when not stored)
  };
  struct AccountMove {
    int64_t id = 0;
    std::string kind;
    Fen amount_fen = 0, balance_after_fen = 0;
    std::string ref, detail, recorded_at;
  };
  struct Payer {
    std::string kind, ref;
    Fen amount_fen = 0;
  };
  struct EnrollmentRow {
    int64_t id = 0;
    std::string plan_id, product, begin_date, end_date, status, source;
    int64_t prior_years = 0;
    bool renewal_consent = false;
    std::vector<Payer> payers;
  };
  struct AccumulatorRow {
    std::string plan_id;
    int64_t year = 0;
    std::string state;  // JSON, as stored
    int64_t settlements = 0;
    std::string updated_at;
  };
  struct SettlementRow {
    std::string setl_id, kind, ref_setl_id, plan_id, claim_kind, med_type;
    std::string admission_date, discharge_date, created_at;
    int64_t plan_year = 0;
    Fen medfee_sumamt = 0, inscp_scp_amt = 0, fund_pay_sumamt = 0, hosp_part_amt = 0,
        psn_part_amt = 0;
  };

  bool masked = true;
  std::string psn_no;  // masked unless unmasked
  std::string psn_name, gend, brdy, admdvs, insutype, status, updated_at;
  bool preexisting = false;
  int64_t seq = 0;
  std::vector<HistoryRow> history;      // by seq
  std::vector<CategoryRow> categories;  // by category, from_date
  std::vector<RelationRow> relations;   // rows naming this person, either side
  bool has_account = false;
  Fen balance_fen = 0;
  std::vector<AccountMove> account_moves;  // the most recent, newest first
  std::vector<EnrollmentRow> enrollments;
  std::vector<AccumulatorRow> accumulators;
  int64_t settlement_count = 0;
  std::vector<SettlementRow> settlements;  // the most recent, newest first

  std::string to_text() const;
  std::string to_json() const;
};

// The stored person with everything the platform keeps about them. Writes
// an audit_log row ('person.show', masked or unmasked) for every call, also
// for an unknown psn_no, which answers kUnknownPerson.
Status show_person(store::Db& db, std::string_view psn_no, const PersonShowOptions& options,
                   PersonView* view);

// "张**": the first character (UTF-8) kept, every other one masked.
std::string mask_name(std::string_view name);

// The operator's calendar day today (local time), the import's default as-of.
Date today_local();

}  // namespace huibao
