// Roll import (import_roll): three steps, one transaction.
//
// 1. Read (no database). Each file is parsed and checked row by row, as
//    Roll::load_persons_csv checks persons.csv. A good persons row leaves 24
//    bytes behind (its id key, byte offset and line); these are sorted by id,
//    which finds duplicates and orders step 3. The file itself is mapped, not
//    copied. Relations and accounts keep their parsed rows (24 bytes each).
// 2. Resolve (in the transaction). Ids that relations.csv and accounts.csv
//    name but persons.csv does not are looked up in the database, 500 a query.
// 3. Diff and write. The sorted persons are merged with the stored persons,
//    read in pages in psn_no order (from the next file id onwards, or all of
//    them with `full`); each file row is parsed again at its offset and is
//    new, changed or unchanged. Then relations, then accounts. Inserts go
//    through insert_rows in batches, in psn_no order (SQLite's B-trees then
//    append); the updates of stored persons, of the history rows they end
//    and of persons moving out are queued too and sent 500 rows to an
//    UPDATE ... FROM (VALUES ...) (key_lookup.h), not a round trip each;
//    category rows ended or redated are single statements. After a bad row
//    the writes stop but the diff goes on, so that the report lists every
//    error and what would change; the transaction then rolls back.
//
// History (the store keeps the roll's past; as_of is the import's date):
// - A new person: persons row with seq 1 and person_history seq 1 valid from
//   as_of. A stored person whose fields, categories or status differ: the
//   persons row is updated to seq n+1, history row n gets valid_to = as_of
//   (exclusive) and a row n+1 valid from as_of says which fields changed
//   (and, when categories changed, what they were). A stored person whose
//   current record starts after as_of cannot be changed (a bad row): history
//   only moves forward. An unchanged person is not touched at all.
// - A moved-out person who is in the file again becomes active (a change of
//   status). A deceased person stays deceased: a roll file cannot revive.
// - With `full`, an active stored person absent from the file moves out:
//   status 'moved_out' with a history row, and their open categories end as
//   below. Without it, absent persons are left alone (a partial update).
//
// Categories (person_categories rows: from_date..to_date, inclusive; open
// while to_date is NULL; the file states which are in force now, each
// `name` or `name@date`):
// - Dated `name@D`: in force from D, whenever the import runs (an instant-aid
//   person added on 5 May and imported on 1 June is covered from 5 May).
// - Undated `name`, on a person's first import: from '1900-01-01', i.e. in
//   force before any plan year (the file says so and has no earlier state).
//   Undated on a stored person who did not have it: from as_of. Giving it
//   1900 would grant it retroactively for claims before the roll had it; the
//   roll's undated statement only tells us it holds as of this import.
// - Kept: the file lists a category the person has open, undated or with the
//   same date. An undated listing keeps the stored start date.
// - Redated: the file gives another date for an open category. The roll
//   corrects the start, so the open row is replaced by one from the new date
//   (the history row records the old categories).
// - Ended: an open category the file no longer lists gets to_date = as_of - 1
//   day; a row that had not yet started by as_of is deleted (it was never in
//   force).
// - A new row that meets an ended row with the same start reopens it (the
//   category was ended by mistake).
// Relations and accounts are upserted: new rows added, different ones
// changed, rows the files do not mention left alone (also with `full`).
// A balance that changes writes an account_moves row of kind 'correction'
// (amount = new - old, balance_after = new; a new account with a non-zero
// balance moves from 0), so an account's balance is always the sum of its
// moves: the import states balances, it does not deposit money.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "service/audit.h"
#include "service/import_files.h"
#include "service/key_lookup.h"
#include "service/roll_service.h"
#include "store/migrate.h"

namespace huibao {
namespace {

using namespace roll_import;
using store::Db;
using store::Rows;
using store::Stmt;

constexpr int64_t kPageRows = 20'000;  // stored persons read per query
constexpr size_t kLookupKeys = 500;    // ids per `IN (...)` lookup
constexpr size_t kFlushRows = 8'192;   // buffered rows per insert_rows
constexpr std::string_view kUndatedFrom = "1900-01-01";
constexpr int kPersonsOrder = 0, kRelationsOrder = 1, kAccountsOrder = 2;

struct PersonRef {
  uint64_t key;
  uint64_t pos;  // byte offset of the record
  uint32_t line;
};
struct RelationRef {
  RelationRow row;
  uint32_t line;
};
struct AccountRef {
  AccountRow row;
  uint32_t line;
};

// Reads a CSV file's records after its header; on_row checks one record and
// sets *error when it is bad. Returns the number of data records.
template <typename OnRow>
int64_t read_records(std::string_view text, const std::string& source, std::string_view header,
                     int order, ErrorList* errors, OnRow on_row) {
  CsvReader csv(text);
  std::vector<std::string_view> f;
  std::string err;
  bool need_header = true;
  int64_t rows = 0;
  for (;;) {
    const size_t pos = csv.position();
    if (!csv.next(&f, &err)) break;
    if (need_header) {
      need_header = false;
      if (!err.empty() || !is_header(f, header)) {
        errors->add(order, source, csv.line(), "header must be " + std::string(header));
        return rows;
      }
      continue;
    }
    ++rows;
    if (err.empty()) on_row(f, pos, csv.line(), &err);
    if (!err.empty()) errors->add(order, source, csv.line(), std::move(err));
  }
  if (need_header) errors->add(order, source, 1, "the file is empty (no header)");
  return rows;
}

std::string id_text(uint64_t key) {
  char id[18];
  id_of_key(key, id);
  return std::string(id, 18);
}

std::string date_text(Date d) {
  char buf[10];
  format_date(d, buf);
  return std::string(buf, 10);
}

// Runs `head IN (...) tail` for the id keys, kLookupKeys a query
// (key_lookup.h), calling on_row(stmt) per result row.
template <typename OnRow>
Status for_each_by_ids(Db& db, std::string_view head, std::string_view tail, const uint64_t* keys,
                       size_t n, OnRow on_row) {
  char id[18];
  return for_each_by_keys(
      db, head, tail, n, kLookupKeys,
      [&](size_t i) {
        id_of_key(keys[i], id);
        return std::string_view(id, 18);
      },
      on_row);
}

Status bad_stored(std::string_view table, std::string_view key, std::string_view what) {
  return Status(Code::kStoreError, "stored " + std::string(table) + " row '" + std::string(key) +
                                       "': " + std::string(what));
}

// Field bits of a changed person, in report order.
enum Field : unsigned {
  kName = 1,
  kGend = 2,
  kBrdy = 4,
  kAdmdvs = 8,
  kInsutype = 16,
  kPreexisting = 32,
  kCategories = 64,
  kStatus = 128,
};

std::string field_list(unsigned mask) {
  static constexpr std::pair<unsigned, const char*> kNames[] = {
      {kName, "psn_name"},         {kGend, "gend"},         {kBrdy, "brdy"},
      {kAdmdvs, "admdvs"},         {kInsutype, "insutype"}, {kPreexisting, "preexisting"},
      {kCategories, "categories"}, {kStatus, "status"}};
  std::string s;
  for (auto [bit, name] : kNames) {
    if (mask & bit) {
      if (!s.empty()) s += ',';
      s += name;
    }
  }
  return s;
}

struct StoredPerson {
  std::string psn_no, name, gend, brdy, admdvs, insutype, status, valid_from;
  bool preexisting = false;
  int64_t seq = 0;
  uint32_t cat_first = 0, cat_count = 0;
};
struct StoredCategory {
  uint8_t index;
  Date from;
};

// What the diff does with one category of a stored person.
struct CategoryAction {
  enum Kind : unsigned char { kAdd, kRedate, kEnd } kind;
  uint8_t index;
  Date from;      // kAdd, kRedate: the new start
  Date old_from;  // kRedate, kEnd: the stored row's start
};

class ImportRun {
 public:
  ImportRun(Db& db, const RollImportOptions& o, ImportReport* report)
      : db_(db), o_(o), report_(report) {}

  Status run();

 private:
  Status read_files();
  void check_relations();
  void check_accounts();
  Status resolve_ids();
  Status merge_persons();
  Status load_page(std::string_view bound);
  Status add_person(const PersonRow& p);
  // Queues the person_history row that starts at the as-of date with p's values.
  void add_history(std::string_view psn_no, int64_t seq, const PersonRow& p,
                   std::string_view status, std::string_view change);
  Status update_person(const StoredPerson& d, const PersonRow& p, uint32_t line);
  Status move_out(const StoredPerson& d);
  void diff_categories(const StoredPerson& d, const PersonRow& p);
  Status write_categories(std::string_view psn_no);
  // Queues the end of history row seq at the as-of date.
  void close_history(std::string_view psn_no, int64_t seq);
  Status flush_persons();
  Status write_updates();
  Status merge_relations();
  Status merge_accounts();
  Status write_audit();
  void note_change(std::string_view psn_no, unsigned fields);
  void stop_writing() { write_ = false; }
  std::string stored_categories_text(const StoredPerson& d) const;
  bool in_file(uint64_t key) const;

  Db& db_;
  const RollImportOptions& o_;
  ImportReport* report_;
  ErrorList errors_;
  bool write_ = false;
  std::string now_, as_of_, day_before_as_of_;

  InputFile persons_file_, relations_file_, accounts_file_;
  std::vector<PersonRef> persons_;
  std::vector<uint64_t> bad_person_keys_;  // ids of bad persons rows (for later messages)
  std::vector<RelationRef> relations_;
  std::vector<AccountRef> accounts_;
  std::vector<uint64_t> stored_ids_;  // ids named by relations/accounts found in the database

  // The merge.
  std::vector<StoredPerson> page_;
  size_t page_size_ = 0;
  std::vector<StoredCategory> page_cats_;
  std::string last_loaded_;
  std::vector<CategoryAction> actions_;
  Rows person_rows_{10}, history_rows_{14}, category_rows_{5};
  // Updates of stored persons: psn_no and the new values (update_person),
  // psn_no and seq (moves out, history rows ended).
  Rows person_updates_{9}, moves_out_{2}, history_closes_{2};
};

Status ImportRun::run() {
  report_->dry_run = o_.dry_run;
  report_->full = o_.full;
  report_->as_of = o_.as_of;
  as_of_ = date_text(o_.as_of);
  day_before_as_of_ = date_text(Date{o_.as_of.days - 1});
  now_ = store::utc_timestamp_now();

  if (Status s = read_files(); !s.ok()) return s;
  check_relations();
  check_accounts();

  store::Tx tx(db_, o_.dry_run ? store::TxMode::kRead : store::TxMode::kWrite);
  if (!tx.ok()) return tx.status();
  if (db_.dialect().engine == store::Engine::kPostgres) {
    // A dry run reads one snapshot; an import keeps other writers of the
    // roll out until it commits (SQLite's BEGIN IMMEDIATE does both).
    Status s = o_.dry_run ? db_.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                          : db_.exec("LOCK TABLE persons IN SHARE ROW EXCLUSIVE MODE");
    if (!s.ok()) return s;
  }
  if (Status s = resolve_ids(); !s.ok()) return s;
  if (o_.full && persons_.empty() && report_->persons.rows == 0) {
    // Most likely the wrong file: it would move the whole roll out.
    errors_.add(kPersonsOrder, o_.persons_path, 0,
                "a full import needs at least one person; an empty roll would move everyone out");
  }
  write_ = !o_.dry_run && errors_.count() == 0;
  if (Status s = merge_persons(); !s.ok()) return s;
  if (Status s = merge_relations(); !s.ok()) return s;
  if (Status s = merge_accounts(); !s.ok()) return s;

  report_->error_count = errors_.count();
  report_->errors = errors_.take();
  if (report_->error_count > 0) {
    (void)tx.rollback();
    return Status(Code::kRollInvalid, std::to_string(report_->error_count) +
                                          " bad row(s); nothing " +
                                          (o_.dry_run ? "would be written" : "written"));
  }
  if (o_.dry_run) return tx.rollback();
  if (Status s = write_audit(); !s.ok()) return s;
  if (Status s = tx.commit(); !s.ok()) return s;
  report_->committed = true;
  return Status::Ok();
}

// ---- step 1: read ----

Status ImportRun::read_files() {
  if (Status s = persons_file_.open(o_.persons_path); !s.ok()) return s;
  if (!o_.relations_path.empty()) {
    if (Status s = relations_file_.open(o_.relations_path); !s.ok()) return s;
  }
  if (!o_.accounts_path.empty()) {
    if (Status s = accounts_file_.open(o_.accounts_path); !s.ok()) return s;
  }
  const std::string_view text = persons_file_.text();
  persons_.reserve(size_t(std::count(text.begin(), text.end(), '\n')) + 1);
  PersonRow p;
  report_->persons.rows = read_records(
      text, o_.persons_path, kPersonsHeader, kPersonsOrder, &errors_,
      [&](const std::vector<std::string_view>& f, size_t pos, size_t line, std::string* err) {
        bool key_known = false;
        if (parse_person_row(f, &p, err, &key_known)) {
          persons_.push_back({id_key(f[0]), pos, uint32_t(line)});
        } else if (key_known) {
          bad_person_keys_.push_back(id_key(f[0]));
        }
      });
  std::sort(persons_.begin(), persons_.end(), [](const PersonRef& a, const PersonRef& b) {
    return a.key != b.key ? a.key < b.key : a.line < b.line;
  });
  size_t kept = 0;
  for (size_t i = 0; i < persons_.size(); ++i) {
    if (kept > 0 && persons_[kept - 1].key == persons_[i].key) {
      errors_.add(kPersonsOrder, o_.persons_path, persons_[i].line,
                  "psn_no '" + id_text(persons_[i].key) + "' appears twice (first on line " +
                      std::to_string(persons_[kept - 1].line) + ")");
      continue;
    }
    persons_[kept++] = persons_[i];
  }
  persons_.resize(kept);
  std::sort(bad_person_keys_.begin(), bad_person_keys_.end());

  if (!o_.relations_path.empty()) {
    report_->relations.rows = read_records(
        relations_file_.text(), o_.relations_path, kRelationsHeader, kRelationsOrder, &errors_,
        [&](const std::vector<std::string_view>& f, size_t, size_t line, std::string* err) {
          RelationRow r;
          if (parse_relation_row(f, &r, err)) relations_.push_back({r, uint32_t(line)});
        });
  }
  if (!o_.accounts_path.empty()) {
    report_->accounts.rows = read_records(
        accounts_file_.text(), o_.accounts_path, kAccountsHeader, kAccountsOrder, &errors_,
        [&](const std::vector<std::string_view>& f, size_t, size_t line, std::string* err) {
          AccountRow a;
          if (parse_account_row(f, &a, err)) accounts_.push_back({a, uint32_t(line)});
        });
  }
  return Status::Ok();
}

bool ImportRun::in_file(uint64_t key) const {
  auto it = std::lower_bound(persons_.begin(), persons_.end(), key,
                             [](const PersonRef& r, uint64_t k) { return r.key < k; });
  return it != persons_.end() && it->key == key;
}

void ImportRun::check_relations() {
  auto pair_less = [](const RelationRef& a, const RelationRef& b) {
    if (a.row.psn_key != b.row.psn_key) return a.row.psn_key < b.row.psn_key;
    if (a.row.rel_key != b.row.rel_key) return a.row.rel_key < b.row.rel_key;
    return a.line < b.line;
  };
  std::sort(relations_.begin(), relations_.end(), pair_less);
  size_t kept = 0;
  for (size_t i = 0; i < relations_.size(); ++i) {
    const RelationRef& r = relations_[i];
    if (kept > 0 && relations_[kept - 1].row.psn_key == r.row.psn_key &&
        relations_[kept - 1].row.rel_key == r.row.rel_key) {
      errors_.add(kRelationsOrder, o_.relations_path, r.line,
                  "psn_no '" + id_text(r.row.psn_key) + "' and rel_psn_no '" +
                      id_text(r.row.rel_key) + "' are listed twice (first on line " +
                      std::to_string(relations_[kept - 1].line) + ")");
      continue;
    }
    relations_[kept++] = r;
  }
  relations_.resize(kept);
  // The same two persons the other way round must say the inverse.
  for (const RelationRef& r : relations_) {
    RelationRef probe{{r.row.rel_key, r.row.psn_key, Relation::kSpouse}, 0};
    auto it = std::lower_bound(relations_.begin(), relations_.end(), probe, pair_less);
    if (it == relations_.end() || it->row.psn_key != r.row.rel_key ||
        it->row.rel_key != r.row.psn_key || it->line > r.line)
      continue;
    if (it->row.relation != relation_inverse(r.row.relation)) {
      errors_.add(kRelationsOrder, o_.relations_path, r.line,
                  "line " + std::to_string(it->line) +
                      " lists these two persons the other way round as '" +
                      std::string(relation_name(it->row.relation)) + "', so this row must say '" +
                      std::string(relation_name(relation_inverse(it->row.relation))) + "'");
    }
  }
}

void ImportRun::check_accounts() {
  std::sort(accounts_.begin(), accounts_.end(), [](const AccountRef& a, const AccountRef& b) {
    return a.row.psn_key != b.row.psn_key ? a.row.psn_key < b.row.psn_key : a.line < b.line;
  });
  size_t kept = 0;
  for (size_t i = 0; i < accounts_.size(); ++i) {
    if (kept > 0 && accounts_[kept - 1].row.psn_key == accounts_[i].row.psn_key) {
      errors_.add(kAccountsOrder, o_.accounts_path, accounts_[i].line,
                  "psn_no '" + id_text(accounts_[i].row.psn_key) +
                      "' appears twice (first on line " + std::to_string(accounts_[kept - 1].line) +
                      ")");
      continue;
    }
    accounts_[kept++] = accounts_[i];
  }
  accounts_.resize(kept);
}

// ---- step 2: resolve ids named by relations and accounts ----

Status ImportRun::resolve_ids() {
  std::vector<uint64_t> wanted;
  auto want = [&](uint64_t key) {
    if (!in_file(key) && !std::binary_search(bad_person_keys_.begin(), bad_person_keys_.end(), key))
      wanted.push_back(key);
  };
  for (const RelationRef& r : relations_) {
    want(r.row.psn_key);
    want(r.row.rel_key);
  }
  for (const AccountRef& a : accounts_) want(a.row.psn_key);
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  Status s = for_each_by_ids(db_, "SELECT psn_no FROM persons WHERE psn_no", "", wanted.data(),
                             wanted.size(), [&](Stmt& st) {
                               uint64_t key;
                               if (stored_id_key(st.column_text(0), &key))
                                 stored_ids_.push_back(key);
                               return Status::Ok();
                             });
  if (!s.ok()) return s;
  std::sort(stored_ids_.begin(), stored_ids_.end());

  // Every id a row names must be a person: in the file or stored.
  auto check = [&](int order, const std::string& source, uint32_t line, std::string_view field,
                   uint64_t key) {
    if (in_file(key) || std::binary_search(stored_ids_.begin(), stored_ids_.end(), key)) return;
    const bool bad_row = std::binary_search(bad_person_keys_.begin(), bad_person_keys_.end(), key);
    errors_.add(order, source, line,
                std::string(field) + " '" + id_text(key) +
                    (bad_row ? "' has a bad row in " + o_.persons_path
                             : "' is neither in " + o_.persons_path + " nor in the database"));
  };
  for (const RelationRef& r : relations_) {
    check(kRelationsOrder, o_.relations_path, r.line, "psn_no", r.row.psn_key);
    check(kRelationsOrder, o_.relations_path, r.line, "rel_psn_no", r.row.rel_key);
  }
  for (const AccountRef& a : accounts_)
    check(kAccountsOrder, o_.accounts_path, a.line, "psn_no", a.row.psn_key);
  return Status::Ok();
}

// ---- step 3: persons ----

Status ImportRun::load_page(std::string_view bound) {
  // Without `full` a page starts at the next id of the file (stored persons
  // in between are not the import's business); with it, after the last page.
  Result<Stmt*> st =
      db_.prepare(o_.full ? "SELECT p.psn_no, p.psn_name, p.gend, p.brdy, p.admdvs, p.insutype, "
                            "p.preexisting, p.status, p.seq, h.valid_from FROM persons p "
                            "LEFT JOIN person_history h ON h.psn_no = p.psn_no AND h.seq = p.seq "
                            "WHERE p.psn_no > ? ORDER BY p.psn_no LIMIT ?"
                          : "SELECT p.psn_no, p.psn_name, p.gend, p.brdy, p.admdvs, p.insutype, "
                            "p.preexisting, p.status, p.seq, h.valid_from FROM persons p "
                            "LEFT JOIN person_history h ON h.psn_no = p.psn_no AND h.seq = p.seq "
                            "WHERE p.psn_no >= ? ORDER BY p.psn_no LIMIT ?");
  if (!st.ok()) return st.status();
  Stmt& s = **st;
  s.bind_text(1, bound);
  s.bind_int64(2, kPageRows);
  page_size_ = 0;
  for (;;) {
    Result<bool> row = s.step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    if (page_.size() == page_size_) page_.emplace_back();
    StoredPerson& d = page_[page_size_++];
    d.psn_no.assign(s.column_text(0));
    // The merge compares ids as bytes; the database must page in that order
    // (true of 18-character ids in any collation).
    const std::string& prev = page_size_ > 1 ? page_[page_size_ - 2].psn_no : last_loaded_;
    if (!prev.empty() && d.psn_no <= prev)
      return bad_stored("persons", d.psn_no, "psn_no out of byte order (database collation?)");
    d.name.assign(s.column_text(1));
    d.gend.assign(s.column_text(2));
    d.brdy.assign(s.column_text(3));
    d.admdvs.assign(s.column_text(4));
    d.insutype.assign(s.column_text(5));
    d.preexisting = s.column_int64(6) != 0;
    d.status.assign(s.column_text(7));
    d.seq = s.column_int64(8);
    d.valid_from.assign(s.column_text(9));
    d.cat_first = d.cat_count = 0;
  }
  s.reset();
  if (page_size_ == 0) return Status::Ok();
  last_loaded_ = page_[page_size_ - 1].psn_no;

  // The open categories of the page's persons, in the same order.
  page_cats_.clear();
  Result<Stmt*> cs = db_.prepare(
      "SELECT psn_no, category, from_date FROM person_categories "
      "WHERE psn_no >= ? AND psn_no <= ? AND to_date IS NULL ORDER BY psn_no, category, from_date");
  if (!cs.ok()) return cs.status();
  Stmt& c = **cs;
  c.bind_text(1, page_[0].psn_no);
  c.bind_text(2, page_[page_size_ - 1].psn_no);
  size_t j = 0;
  for (;;) {
    Result<bool> row = c.step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    std::string_view psn = c.column_text(0);
    while (j < page_size_ && page_[j].psn_no != psn) ++j;
    if (j == page_size_) return bad_stored("person_categories", psn, "no such person in order");
    const int idx = category_index(c.column_text(1));
    if (idx < 0) return bad_stored("person_categories", psn, "unknown category");
    Date from;
    if (!parse_date(c.column_text(2), &from))
      return bad_stored("person_categories", psn, "bad from_date");
    StoredPerson& d = page_[j];
    if (d.cat_count == 0) d.cat_first = uint32_t(page_cats_.size());
    if (d.cat_count == 64) return bad_stored("person_categories", psn, "over 64 open categories");
    ++d.cat_count;
    page_cats_.push_back({uint8_t(idx), from});
  }
  c.reset();
  return Status::Ok();
}

Status ImportRun::merge_persons() {
  CsvReader reader(persons_file_.text());
  std::vector<std::string_view> f;
  std::string err;
  PersonRow p;
  char id[18];
  size_t fi = 0, pi = 0;
  bool db_done = false;
  page_size_ = 0;
  last_loaded_.clear();
  for (;;) {
    if (fi == persons_.size() && !o_.full) break;
    const StoredPerson* d = nullptr;
    if (pi < page_size_) {
      d = &page_[pi];
    } else if (!db_done) {
      if (o_.full) {
        if (Status s = load_page(last_loaded_); !s.ok()) return s;
      } else {
        id_of_key(persons_[fi].key, id);
        if (Status s = load_page(std::string_view(id, 18)); !s.ok()) return s;
      }
      db_done = page_size_ < size_t(kPageRows);
      pi = 0;
      if (page_size_ > 0) d = &page_[0];
    }
    if (fi == persons_.size()) {
      if (d == nullptr) break;
      if (Status s = move_out(*d); !s.ok()) return s;
      ++pi;
      continue;
    }
    const PersonRef& r = persons_[fi];
    id_of_key(r.key, id);
    const std::string_view psn(id, 18);
    const int cmp = d == nullptr ? -1 : psn.compare(d->psn_no);
    if (cmp > 0) {  // stored, not in the file
      if (o_.full) {
        if (Status s = move_out(*d); !s.ok()) return s;
      }
      ++pi;
      continue;
    }
    reader.seek(r.pos, r.line);
    bool key_known = false;
    if (!reader.next(&f, &err) || !err.empty() || !parse_person_row(f, &p, &err, &key_known))
      return Status(Code::kIoError, o_.persons_path + " changed while it was being imported");
    ++fi;
    if (cmp < 0) {
      if (Status s = add_person(p); !s.ok()) return s;
    } else {
      if (Status s = update_person(*d, p, r.line); !s.ok()) return s;
      ++pi;
    }
    if (person_rows_.rows() >= kFlushRows || history_rows_.rows() >= kFlushRows ||
        category_rows_.rows() >= kFlushRows || person_updates_.rows() >= kFlushRows) {
      if (Status s = flush_persons(); !s.ok()) return s;
    }
  }
  return flush_persons();
}

// p's psn_name, gend, brdy, admdvs, insutype and preexisting, in that order
// (as persons, person_history and the queued updates hold them).
void add_person_fields(Rows* r, const PersonRow& p) {
  r->add_text(p.psn_name);
  r->add_text(p.gend);
  r->add_text(std::string_view(p.brdy, 10));
  r->add_text(p.admdvs);
  r->add_text(p.insutype);
  r->add_int64(p.preexisting ? 1 : 0);
}

void ImportRun::add_history(std::string_view psn_no, int64_t seq, const PersonRow& p,
                            std::string_view status, std::string_view change) {
  Rows& h = history_rows_;
  h.add_text(psn_no);
  h.add_int64(seq);
  h.add_text(as_of_);
  h.add_null();
  add_person_fields(&h, p);
  h.add_text(status);
  h.add_text(change);
  h.add_text(o_.actor);
  h.add_text(now_);
}

Status ImportRun::add_person(const PersonRow& p) {
  ++report_->persons.added;
  if (!write_) return Status::Ok();
  Rows& r = person_rows_;
  r.add_text(p.psn_no);
  add_person_fields(&r, p);
  r.add_text("active");
  r.add_int64(1);
  r.add_text(now_);
  add_history(p.psn_no, 1, p, "active", "added");
  char from[10];
  for (uint8_t i = 0; i < p.categories.category_count; ++i) {
    const PersonCategory& c = p.categories.categories[i];
    category_rows_.add_text(p.psn_no);
    category_rows_.add_text(category_name(c.index));
    if (c.dated) {
      format_date(c.from, from);
      category_rows_.add_text(std::string_view(from, 10));
    } else {
      category_rows_.add_text(kUndatedFrom);
    }
    category_rows_.add_null();
    category_rows_.add_text(now_);
  }
  return Status::Ok();
}

void ImportRun::diff_categories(const StoredPerson& d, const PersonRow& p) {
  actions_.clear();
  const StoredCategory* stored = page_cats_.data() + d.cat_first;
  uint64_t matched = 0;
  for (uint8_t i = 0; i < p.categories.category_count; ++i) {
    const PersonCategory& c = p.categories.categories[i];
    int keep = -1, redate = -1;
    for (uint32_t k = 0; k < d.cat_count; ++k) {
      if ((matched >> k) & 1 || stored[k].index != c.index) continue;
      if (!c.dated || stored[k].from == c.from) {
        keep = int(k);
        break;
      }
      if (redate < 0) redate = int(k);
    }
    if (keep >= 0) {
      matched |= uint64_t(1) << keep;
    } else if (redate >= 0) {
      matched |= uint64_t(1) << redate;
      actions_.push_back({CategoryAction::kRedate, c.index, c.from, stored[redate].from});
    } else {
      actions_.push_back({CategoryAction::kAdd, c.index, c.dated ? c.from : o_.as_of, Date{}});
    }
  }
  for (uint32_t k = 0; k < d.cat_count; ++k) {
    if (!((matched >> k) & 1))
      actions_.push_back({CategoryAction::kEnd, stored[k].index, Date{}, stored[k].from});
  }
}

std::string ImportRun::stored_categories_text(const StoredPerson& d) const {
  std::string s;
  for (uint32_t k = 0; k < d.cat_count; ++k) {
    const StoredCategory& c = page_cats_[d.cat_first + k];
    if (!s.empty()) s += ';';
    s += category_name(c.index);
    const std::string from = date_text(c.from);
    if (from != kUndatedFrom) s += "@" + from;
  }
  return s;
}

void ImportRun::note_change(std::string_view psn_no, unsigned fields) {
  if (report_->changes.size() < ImportReport::kChangesShownMax)
    report_->changes.push_back({std::string(psn_no), field_list(fields)});
}

void ImportRun::close_history(std::string_view psn_no, int64_t seq) {
  history_closes_.add_text(psn_no);
  history_closes_.add_int64(seq);
}

// Applies actions_ to a stored person's category rows.
Status ImportRun::write_categories(std::string_view psn_no) {
  char from[10];
  for (const CategoryAction& a : actions_) {
    const std::string_view name = category_name(a.index);
    if (a.kind != CategoryAction::kAdd) {
      // Ending a row that started on or after as_of, or redating one, drops
      // the stored row; otherwise it ends the day before as_of.
      const bool drop = a.kind == CategoryAction::kRedate || a.old_from >= o_.as_of;
      Result<Stmt*> st = db_.prepare(
          drop ? "DELETE FROM person_categories WHERE psn_no = ? AND category = ? AND "
                 "from_date = ? AND to_date IS NULL"
               : "UPDATE person_categories SET to_date = ?, recorded_at = ? WHERE psn_no = ? AND "
                 "category = ? AND from_date = ? AND to_date IS NULL");
      if (!st.ok()) return st.status();
      Stmt& s = **st;
      int p = 1;
      if (!drop) {
        s.bind_text(p++, day_before_as_of_);
        s.bind_text(p++, now_);
      }
      s.bind_text(p++, psn_no);
      s.bind_text(p++, name);
      format_date(a.old_from, from);
      s.bind_text(p++, std::string_view(from, 10));
      Result<int64_t> n = s.execute();
      if (!n.ok()) return n.status();
    }
    if (a.kind != CategoryAction::kEnd) {
      format_date(a.from, from);
      category_rows_.add_text(psn_no);
      category_rows_.add_text(name);
      category_rows_.add_text(std::string_view(from, 10));
      category_rows_.add_null();
      category_rows_.add_text(now_);
    }
  }
  return Status::Ok();
}

Status ImportRun::update_person(const StoredPerson& d, const PersonRow& p, uint32_t line) {
  unsigned fields = 0;
  if (d.name != p.psn_name) fields |= kName;
  if (d.gend != p.gend) fields |= kGend;
  if (d.brdy != std::string_view(p.brdy, 10)) fields |= kBrdy;
  if (d.admdvs != p.admdvs) fields |= kAdmdvs;
  if (d.insutype != p.insutype) fields |= kInsutype;
  if (d.preexisting != p.preexisting) fields |= kPreexisting;
  const std::string_view status = d.status == "moved_out" ? "active" : std::string_view(d.status);
  if (status != d.status) fields |= kStatus;
  diff_categories(d, p);
  if (!actions_.empty()) fields |= kCategories;
  if (fields == 0) {
    ++report_->persons.unchanged;
    return Status::Ok();
  }
  if (!d.valid_from.empty() && as_of_ < d.valid_from) {
    errors_.add(kPersonsOrder, o_.persons_path, line,
                "psn_no '" + d.psn_no + "' changed (" + field_list(fields) +
                    "), but its stored record is valid from " + d.valid_from +
                    ", after the as-of date " + as_of_ +
                    "; history only moves forward (import as of that day or later)");
    stop_writing();
    return Status::Ok();
  }
  ++report_->persons.changed;
  note_change(d.psn_no, fields);
  if (!write_) return Status::Ok();

  Rows& u = person_updates_;
  u.add_text(d.psn_no);
  add_person_fields(&u, p);
  u.add_text(status);
  u.add_int64(d.seq + 1);
  close_history(d.psn_no, d.seq);
  std::string change = "changed: " + field_list(fields);
  if (fields & kCategories) {
    change += d.cat_count == 0 ? std::string("; categories were none")
                               : "; categories were '" + stored_categories_text(d) + "'";
  }
  add_history(d.psn_no, d.seq + 1, p, status, change);
  return write_categories(d.psn_no);
}

Status ImportRun::move_out(const StoredPerson& d) {
  if (d.status != "active") return Status::Ok();
  if (!d.valid_from.empty() && as_of_ < d.valid_from) {
    errors_.add(kPersonsOrder, o_.persons_path, 0,
                "stored psn_no '" + d.psn_no + "' is not in the file and would move out, but " +
                    "its stored record is valid from " + d.valid_from + ", after the as-of date " +
                    as_of_ + "; history only moves forward");
    stop_writing();
    return Status::Ok();
  }
  ++report_->moved_out;
  note_change(d.psn_no, kStatus);
  if (!write_) return Status::Ok();
  moves_out_.add_text(d.psn_no);
  moves_out_.add_int64(d.seq + 1);
  close_history(d.psn_no, d.seq);
  std::string change = "moved_out: not in a full import";
  if (d.cat_count > 0) change += "; categories were '" + stored_categories_text(d) + "'";
  Rows& h = history_rows_;
  h.add_text(d.psn_no);
  h.add_int64(d.seq + 1);
  h.add_text(as_of_);
  h.add_null();
  h.add_text(d.name);
  h.add_text(d.gend);
  if (d.brdy.empty()) {
    h.add_null();
  } else {
    h.add_text(d.brdy);
  }
  h.add_text(d.admdvs);
  h.add_text(d.insutype);
  h.add_int64(d.preexisting ? 1 : 0);
  h.add_text("moved_out");
  h.add_text(change);
  h.add_text(o_.actor);
  h.add_text(now_);
  actions_.clear();
  for (uint32_t k = 0; k < d.cat_count; ++k) {
    const StoredCategory& c = page_cats_[d.cat_first + k];
    actions_.push_back({CategoryAction::kEnd, c.index, Date{}, c.from});
  }
  return write_categories(d.psn_no);
}

Status ImportRun::flush_persons() {
  static constexpr std::string_view kPersonCols[] = {"psn_no", "psn_name",  "gend",        "brdy",
                                                     "admdvs", "insutype",  "preexisting", "status",
                                                     "seq",    "updated_at"};
  static constexpr std::string_view kHistoryCols[] = {
      "psn_no", "seq",      "valid_from",  "valid_to", "psn_name", "gend",  "brdy",
      "admdvs", "insutype", "preexisting", "status",   "change",   "actor", "recorded_at"};
  static constexpr std::string_view kCategoryCols[] = {"psn_no", "category", "from_date", "to_date",
                                                       "recorded_at"};
  if (write_) {
    if (Status s = write_updates(); !s.ok()) return s;
    if (Status s = db_.insert_rows({"persons", kPersonCols, ""}, person_rows_); !s.ok()) return s;
    if (Status s = db_.insert_rows({"person_history", kHistoryCols, ""}, history_rows_); !s.ok())
      return s;
    // A new row meeting an ended one with the same start reopens it.
    if (Status s = db_.insert_rows({"person_categories", kCategoryCols,
                                    " ON CONFLICT (psn_no, category, from_date) DO UPDATE SET "
                                    "to_date = NULL, recorded_at = excluded.recorded_at"},
                                   category_rows_);
        !s.ok())
      return s;
  }
  person_rows_.clear();
  history_rows_.clear();
  category_rows_.clear();
  person_updates_.clear();
  moves_out_.clear();
  history_closes_.clear();
  return Status::Ok();
}

// The queued updates of stored persons and their history, kLookupKeys rows
// to a statement (key_lookup.h).
Status ImportRun::write_updates() {
  static constexpr std::string_view kPersonCasts[] = {"", "",        "", "",      "",
                                                      "", "INTEGER", "", "BIGINT"};
  static constexpr std::string_view kKeySeqCasts[] = {"", "BIGINT"};
  auto none = [](Stmt&) { return Status::Ok(); };
  auto bind = [](const std::string& text) { return [&text](Stmt& st) { st.bind_text(1, text); }; };
  if (Status s = for_each_values(
          db_,
          "UPDATE persons SET psn_name = v.column2, gend = v.column3, brdy = v.column4, admdvs = "
          "v.column5, insutype = v.column6, preexisting = v.column7, status = v.column8, seq = "
          "v.column9, updated_at = ? FROM (",
          ") AS v WHERE persons.psn_no = v.column1", person_updates_, kPersonCasts, kLookupKeys, 1,
          bind(now_), none);
      !s.ok())
    return s;
  if (Status s = for_each_values(db_,
                                 "UPDATE persons SET status = 'moved_out', seq = v.column2, "
                                 "updated_at = ? FROM (",
                                 ") AS v WHERE persons.psn_no = v.column1", moves_out_,
                                 kKeySeqCasts, kLookupKeys, 1, bind(now_), none);
      !s.ok())
    return s;
  return for_each_values(db_, "UPDATE person_history SET valid_to = ? FROM (",
                         ") AS v WHERE person_history.psn_no = v.column1 AND person_history.seq = "
                         "v.column2",
                         history_closes_, kKeySeqCasts, kLookupKeys, 1, bind(as_of_), none);
}

// ---- step 3: relations and accounts ----

Status ImportRun::merge_relations() {
  static constexpr std::string_view kCols[] = {"psn_no", "rel_psn_no", "relation", "recorded_at"};
  struct Stored {
    uint64_t psn_key, rel_key;
    std::string relation;
  };
  std::vector<uint64_t> firsts;  // distinct psn_no, in order
  for (const RelationRef& r : relations_) {
    if (firsts.empty() || firsts.back() != r.row.psn_key) firsts.push_back(r.row.psn_key);
  }
  std::vector<Stored> stored;
  Rows rows(4);
  char a[18], b[18];
  size_t ri = 0;
  for (size_t at = 0; at < firsts.size(); at += kLookupKeys) {
    const size_t n = std::min(kLookupKeys, firsts.size() - at);
    stored.clear();
    Status s =
        for_each_by_ids(db_, "SELECT psn_no, rel_psn_no, relation FROM relations WHERE psn_no", "",
                        firsts.data() + at, n, [&](Stmt& st) {
                          Stored x;
                          if (stored_id_key(st.column_text(0), &x.psn_key) &&
                              stored_id_key(st.column_text(1), &x.rel_key)) {
                            x.relation.assign(st.column_text(2));
                            stored.push_back(std::move(x));
                          }
                          return Status::Ok();
                        });
    if (!s.ok()) return s;
    std::sort(stored.begin(), stored.end(), [](const Stored& x, const Stored& y) {
      return x.psn_key != y.psn_key ? x.psn_key < y.psn_key : x.rel_key < y.rel_key;
    });
    const uint64_t last = firsts[at + n - 1];
    rows.clear();
    for (; ri < relations_.size() && relations_[ri].row.psn_key <= last; ++ri) {
      const RelationRow& r = relations_[ri].row;
      auto it = std::lower_bound(
          stored.begin(), stored.end(), r, [](const Stored& x, const RelationRow& k) {
            return x.psn_key != k.psn_key ? x.psn_key < k.psn_key : x.rel_key < k.rel_key;
          });
      const bool found = it != stored.end() && it->psn_key == r.psn_key && it->rel_key == r.rel_key;
      if (found && it->relation == relation_name(r.relation)) {
        ++report_->relations.unchanged;
        continue;
      }
      ++(found ? report_->relations.changed : report_->relations.added);
      if (!write_) continue;
      id_of_key(r.psn_key, a);
      id_of_key(r.rel_key, b);
      rows.add_text(std::string_view(a, 18));
      rows.add_text(std::string_view(b, 18));
      rows.add_text(relation_name(r.relation));
      rows.add_text(now_);
    }
    if (write_) {
      Status w = db_.insert_rows({"relations", kCols,
                                  " ON CONFLICT (psn_no, rel_psn_no) DO UPDATE SET relation = "
                                  "excluded.relation, recorded_at = excluded.recorded_at"},
                                 rows);
      if (!w.ok()) return w;
    }
  }
  return Status::Ok();
}

Status ImportRun::merge_accounts() {
  static constexpr std::string_view kAccountCols[] = {"psn_no", "balance_fen", "updated_at"};
  static constexpr std::string_view kMoveCols[] = {
      "id", "psn_no", "kind", "amount_fen", "balance_after_fen", "ref", "detail", "recorded_at"};
  struct Move {
    uint64_t key;
    Fen amount, after;
  };
  std::vector<uint64_t> keys;
  keys.reserve(accounts_.size());
  for (const AccountRef& a : accounts_) keys.push_back(a.row.psn_key);
  std::vector<std::pair<uint64_t, Fen>> stored;
  std::vector<Move> moves;
  Rows rows(3);
  char id[18];
  for (size_t at = 0; at < keys.size(); at += kLookupKeys) {
    const size_t n = std::min(kLookupKeys, keys.size() - at);
    stored.clear();
    // Locked: the import sets balances that other operations also move.
    Status s = for_each_by_ids(db_, "SELECT psn_no, balance_fen FROM accounts WHERE psn_no",
                               o_.dry_run ? std::string_view() : db_.dialect().for_update,
                               keys.data() + at, n, [&](Stmt& st) {
                                 uint64_t key;
                                 if (stored_id_key(st.column_text(0), &key))
                                   stored.push_back({key, st.column_int64(1)});
                                 return Status::Ok();
                               });
    if (!s.ok()) return s;
    std::sort(stored.begin(), stored.end());
    rows.clear();
    for (size_t i = at; i < at + n; ++i) {
      const AccountRow& a = accounts_[i].row;
      auto it = std::lower_bound(stored.begin(), stored.end(),
                                 std::pair<uint64_t, Fen>{a.psn_key, INT64_MIN});
      const bool found = it != stored.end() && it->first == a.psn_key;
      const Fen old = found ? it->second : 0;
      if (found && old == a.balance_fen) {
        ++report_->accounts.unchanged;
        continue;
      }
      ++(found ? report_->accounts.changed : report_->accounts.added);
      if (a.balance_fen != old) moves.push_back({a.psn_key, a.balance_fen - old, a.balance_fen});
      if (!write_) continue;
      id_of_key(a.psn_key, id);
      if (!found) {
        rows.add_text(std::string_view(id, 18));
        rows.add_int64(a.balance_fen);
        rows.add_text(now_);
        continue;
      }
      Result<Stmt*> st =
          db_.prepare("UPDATE accounts SET balance_fen = ?, updated_at = ? WHERE psn_no = ?");
      if (!st.ok()) return st.status();
      (*st)->bind_int64(1, a.balance_fen);
      (*st)->bind_text(2, now_);
      (*st)->bind_text(3, std::string_view(id, 18));
      if (Result<int64_t> u = (*st)->execute(); !u.ok()) return u.status();
    }
    if (write_) {
      if (Status w = db_.insert_rows({"accounts", kAccountCols, ""}, rows); !w.ok()) return w;
    }
  }
  if (!write_ || moves.empty()) return Status::Ok();
  Result<int64_t> first = store::allocate_ids(db_, "account_moves", int64_t(moves.size()));
  if (!first.ok()) return first.status();
  Rows mr(8);
  const std::string detail = "roll.import as of " + as_of_;
  for (size_t i = 0; i < moves.size(); ++i) {
    id_of_key(moves[i].key, id);
    mr.add_int64(*first + int64_t(i));
    mr.add_text(std::string_view(id, 18));
    mr.add_text("correction");
    mr.add_int64(moves[i].amount);
    mr.add_int64(moves[i].after);
    mr.add_null();
    mr.add_text(detail);
    mr.add_text(now_);
    if (mr.rows() == kFlushRows || i + 1 == moves.size()) {
      if (Status w = db_.insert_rows({"account_moves", kMoveCols, ""}, mr); !w.ok()) return w;
      mr.clear();
    }
  }
  return Status::Ok();
}

Status ImportRun::write_audit() {
  auto counts = [](const ImportCounts& c) {
    return nlohmann::json{
        {"rows", c.rows}, {"added", c.added}, {"changed", c.changed}, {"unchanged", c.unchanged}};
  };
  nlohmann::json detail = {{"persons_file", o_.persons_path},
                           {"as_of", as_of_},
                           {"full", o_.full},
                           {"persons", counts(report_->persons)},
                           {"moved_out", report_->moved_out}};
  if (!o_.relations_path.empty()) {
    detail["relations_file"] = o_.relations_path;
    detail["relations"] = counts(report_->relations);
  }
  if (!o_.accounts_path.empty()) {
    detail["accounts_file"] = o_.accounts_path;
    detail["accounts"] = counts(report_->accounts);
  }
  return append_audit(db_, o_.actor, "roll.import", "",
                      detail.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace

Status import_roll(store::Db& db, const RollImportOptions& options, ImportReport* report) {
  *report = ImportReport{};
  ImportRun run(db, options, report);
  return run.run();
}

std::string ImportReport::to_text() const {
  std::string s = "roll import as of " + date_to_string(as_of) + (full ? " (full roll)" : "") +
                  (dry_run ? " (dry run)" : "") + "\n";
  auto line = [&](const char* what, const ImportCounts& c, const std::string& extra) {
    s += std::string(what) + std::to_string(c.rows) + " rows: " + std::to_string(c.added) +
         " added, " + std::to_string(c.changed) + " changed, " + std::to_string(c.unchanged) +
         " unchanged" + extra + "\n";
  };
  line("persons    ", persons, ", " + std::to_string(moved_out) + " moved out");
  if (relations.rows > 0 || relations.added + relations.changed + relations.unchanged > 0)
    line("relations  ", relations, "");
  if (accounts.rows > 0 || accounts.added + accounts.changed + accounts.unchanged > 0)
    line("accounts   ", accounts, "");
  if (!changes.empty()) {
    const int64_t total = persons.changed + moved_out;
    s += "changed persons" +
         (int64_t(changes.size()) < total
              ? " (first " + std::to_string(changes.size()) + " of " + std::to_string(total) + ")"
              : std::string()) +
         ":\n";
    for (const ImportPersonChange& c : changes) s += "  " + c.psn_no + ": " + c.fields + "\n";
  }
  if (error_count > 0) {
    s += std::to_string(error_count) + " bad row(s)" +
         (int64_t(errors.size()) < error_count
              ? " (first " + std::to_string(errors.size()) + " shown)"
              : std::string()) +
         ":\n";
    for (const ImportRowError& e : errors) {
      s += "  " + e.file + (e.line > 0 ? ":" + std::to_string(e.line) : std::string()) + ": " +
           e.message + "\n";
    }
  }
  if (committed) {
    s += "committed\n";
  } else {
    s += dry_run ? "dry run: nothing written\n" : "nothing written\n";
  }
  return s;
}

}  // namespace huibao
