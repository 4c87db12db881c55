// The CSV batch of enrolments (import_enrolments, enrol_service.h).
//
// Every row goes through the checks of a single enrolment (check_enrolment,
// enrol_internal.h), but the store is asked set-wise, not once per row:
// 1. Load. The persons the file names are read, sorted, with a few queries
//    per chunk of persons (`IN (...)`, key_lookup.h): their roll rows
//    (locked, in psn_no order), categories, enrolment in the product for
//    the year and last year's prior_years; then the paying account holders,
//    the relations between holders and the persons they pay for, and the
//    accounts (locked, in psn_no order). So the locks are taken in the order
//    single enrolments take them: persons, accounts, then id_sequences.
// 2. Check, in file order, against what was loaded, kept current as rows
//    are accepted: a person enrolled by an earlier line is already enrolled,
//    an account's balance is what earlier lines left of it.
// 3. Write, while no row was bad, a batch of accepted rows at a time: ids
//    allocated once per batch and sequence, the rows sent with insert_rows
//    (COPY in PostgreSQL), the personal accounts debited with one UPDATE per
//    batch (under the same guard as a single debit).
// All in one transaction: any bad row and it rolls back, so nothing is
// written. A dry run loads and checks alike, but takes no locks and writes
// nothing.
#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>
#include <unordered_map>

#include "core/category.h"
#include "core/csv.h"
#include "core/resident_id.h"
#include "service/audit.h"
#include "service/enrol_internal.h"
#include "service/key_lookup.h"
#include "service/settle_service.h"
#include "store/migrate.h"

namespace huibao {

using enrol_internal::EnrolFacts;
using enrol_internal::PersonState;
using enrol_internal::YearEnrollment;
using store::Db;
using store::Rows;
using store::Stmt;
using store::Tx;

std::string EnrolImportReport::to_text() const {
  std::ostringstream o;
  for (const EnrolImportRowError& e : errors) {
    o << "line " << e.line << ": ";
    if (e.refusal != Refusal::kNone) o << refusal_name(e.refusal) << ": ";
    o << e.message << "\n";
  }
  o << (dry_run ? "dry run: " : "") << rows << " row(s), ";
  if (!errors.empty()) {
    o << errors.size() << " bad; nothing " << (dry_run ? "would be " : "") << "written\n";
    return o.str();
  }
  o << enrolled << " " << (committed ? "enrolled" : "would be enrolled") << ", premiums "
    << fen_to_string(premium_fen);
  for (int k = 0; k < kPayerKindCount; ++k) {
    if (by_payer_fen[size_t(k)] != 0)
      o << " (" << payer_kind_name(PayerKind(k)) << " " << fen_to_string(by_payer_fen[size_t(k)])
        << ")";
  }
  o << "\n";
  return o.str();
}

namespace {

struct ImportRow {
  size_t line;
  EnrolRequest request;
};

// Reads the CSV into requests; malformed rows go to report->errors, to be
// listed with the refused ones. Fails only on a bad header or empty file.
Status parse_import_rows(std::string_view text, const std::string& product,
                         const EnrolImportOptions& o, EnrolImportReport* report,
                         std::vector<ImportRow>* rows) {
  CsvReader csv(text);
  std::vector<std::string_view> f;
  std::string err;
  int c_psn = -1, c_payers = -1, c_date = -1, c_consent = -1;
  size_t columns = 0;
  bool header = true;
  while (csv.next(&f, &err)) {
    auto bad = [&](std::string m) {
      report->errors.push_back({csv.line(), Refusal::kNone, std::move(m)});
    };
    if (!err.empty()) {
      bad(err);
      continue;
    }
    if (header) {
      header = false;
      for (size_t i = 0; i < f.size(); ++i) {
        int* col = f[i] == "psn_no"            ? &c_psn
                   : f[i] == "payers"          ? &c_payers
                   : f[i] == "date"            ? &c_date
                   : f[i] == "renewal_consent" ? &c_consent
                                               : nullptr;
        if (col == nullptr || *col >= 0) {
          bad("header: column '" + std::string(f[i]) +
              "' is unknown or repeated (columns: psn_no, payers, date, renewal_consent)");
          return Status(Code::kRollInvalid, "bad header in " + o.path + "; nothing written");
        }
        *col = int(i);
      }
      if (c_psn < 0) {
        bad("header: the column psn_no is required");
        return Status(Code::kRollInvalid, "bad header in " + o.path + "; nothing written");
      }
      columns = f.size();
      continue;
    }
    ++report->rows;
    ImportRow row{csv.line(), {}};
    EnrolRequest& q = row.request;
    if (f.size() != columns) {
      bad("expected " + std::to_string(columns) + " fields, found " + std::to_string(f.size()));
      continue;
    }
    q.psn_no = std::string(f[size_t(c_psn)]);
    q.product = product;
    q.actor = o.actor;
    q.employer_pays_rest = o.employer;
    q.paid_on = o.paid_on;
    if (c_date >= 0 && !f[size_t(c_date)].empty() && !parse_date(f[size_t(c_date)], &q.paid_on)) {
      bad("date '" + std::string(f[size_t(c_date)]) + "' must be YYYY-MM-DD");
      continue;
    }
    if (c_consent >= 0) {
      std::string_view v = f[size_t(c_consent)];
      if (v != "" && v != "0" && v != "1") {
        bad("renewal_consent must be 0, 1 or empty");
        continue;
      }
      q.renewal_consent = v == "1";
    }
    bool ok = true;
    if (c_payers >= 0) {
      std::string_view list = f[size_t(c_payers)];
      for (size_t pos = 0; ok && pos < list.size();) {
        size_t semi = list.find(';', pos);
        if (semi == std::string_view::npos) semi = list.size();
        PayerShare p;
        std::string perr;
        if (!parse_payer(list.substr(pos, semi - pos), &p, &perr)) {
          report->errors.push_back({csv.line(), Refusal::kBadPayer, perr});
          ok = false;
        }
        q.payers.push_back(std::move(p));
        pos = semi + 1;
      }
    }
    if (ok) rows->push_back(std::move(row));
  }
  if (header) {
    report->errors.push_back({1, Refusal::kNone, "the file is empty (no header)"});
    return Status(Code::kRollInvalid, o.path + " is empty; nothing written");
  }
  return Status::Ok();
}

void sort_unique(std::vector<std::string>* v) {
  std::sort(v->begin(), v->end());
  v->erase(std::unique(v->begin(), v->end()), v->end());
}

constexpr size_t kNone = size_t(-1);

// The position of key in the sorted keys, or kNone.
size_t index_of(const std::vector<std::string>& keys, std::string_view key) {
  auto it = std::lower_bound(keys.begin(), keys.end(), key);
  return it != keys.end() && *it == key ? size_t(it - keys.begin()) : kNone;
}

// The checks' answers for every row of the file, loaded before the first
// check, and kept current as rows are accepted (accept()).
class BatchFacts final : public EnrolFacts {
 public:
  // lock: the insured persons' rows and the paying accounts, for the
  // transaction (not in a dry run, which writes nothing).
  BatchFacts(Db& db, const Plan& plan, const Product& prod, size_t lookup_keys, bool lock)
      : db_(db),
        plan_(plan),
        prod_(prod),
        lookup_keys_(lookup_keys),
        for_update_(lock ? db.dialect().for_update : std::string_view()) {}

  // Everything the checks of these rows can ask (a superset: a row refused
  // early asks less).
  Status load(const std::vector<ImportRow>& rows) {
    for (const ImportRow& row : rows) {
      const std::string& psn = row.request.psn_no;
      if (!resident_id_checksum_ok(psn)) continue;  // refused before any question
      insured_keys_.push_back(psn);
      for (const PayerShare& p : row.request.payers) {
        if (p.kind != PayerKind::kPersonalAccount || !resident_id_checksum_ok(p.ref)) continue;
        holder_keys_.push_back(p.ref);
        if (p.ref != psn) kin_.emplace(p.ref + psn, std::vector<Kinship>{});
      }
    }
    sort_unique(&insured_keys_);
    sort_unique(&holder_keys_);
    insured_.resize(insured_keys_.size());
    for (Status (BatchFacts::*step)() :
         {&BatchFacts::load_persons, &BatchFacts::load_categories, &BatchFacts::load_enrolments,
          &BatchFacts::load_relations, &BatchFacts::load_accounts}) {
      if (Status s = (this->*step)(); !s.ok()) return s;
    }
    return Status::Ok();
  }

  // An accepted row: its person is enrolled from now on (by this line), and
  // each personal account that pays is debited; *balance_after receives,
  // payer by payer, the account's balance after the debit (0 for others).
  void accept(size_t line, const EnrolRequest& r, const EnrolReceipt& e,
              std::vector<Fen>* balance_after) {
    insured_[find(insured_keys_, r.psn_no)].line = line;
    balance_after->clear();
    for (const PayerShare& p : e.payers) {
      Fen after = 0;
      if (p.kind == PayerKind::kPersonalAccount) {
        Fen& balance = balances_[find(holder_keys_, p.ref)];
        balance -= p.amount_fen;
        HB_ASSERT(balance >= 0);  // the checks compared the balance with the amount
        after = balance;
      }
      balance_after->push_back(after);
    }
  }

  Result<PersonState> person(const std::string& psn_no, bool lock) override {
    const size_t i = index_of(insured_keys_, psn_no);
    if (i != kNone) return insured_[i].person;
    HB_ASSERT(!lock);  // only the insured persons' rows are locked
    return others_[find(other_keys_, psn_no)];
  }
  Result<YearEnrollment> year_enrollment(const std::string& psn_no) override {
    const Insured& f = insured_[find(insured_keys_, psn_no)];
    YearEnrollment e;
    if (f.stored_year >= 0) e = stored_years_[size_t(f.stored_year)];
    e.line = f.line;
    return e;
  }
  Result<CategoryMask> categories_on(const std::string& psn_no, Date day) override {
    const Insured& f = insured_[find(insured_keys_, psn_no)];
    CategoryMask m = 0;
    for (uint32_t i = f.categories_begin; i < f.categories_end; ++i) {
      const CategoryRow& c = categories_[i];
      if (c.from <= day && day <= c.to) m |= CategoryMask(1) << c.category;
    }
    return m;
  }
  Result<std::vector<Kinship>> kinship(const std::string& holder,
                                       const std::string& psn_no) override {
    auto it = kin_.find(holder + psn_no);
    HB_ASSERT(it != kin_.end());
    return it->second;
  }
  Result<Fen> balance(const std::string& holder) override {
    return balances_[find(holder_keys_, holder)];
  }
  Result<int> prior_years(const std::string& psn_no) override {
    return insured_[find(insured_keys_, psn_no)].prior_years;
  }

 private:
  struct Insured {
    PersonState person;
    int32_t stored_year = -1;  // the stored enrolment for the year, in stored_years_
    int32_t prior_years = 0;
    size_t line = 0;  // the line of the file that enrolled the person
    uint32_t categories_begin = 0, categories_end = 0;  // in categories_
  };
  struct CategoryRow {
    int category;
    Date from, to;  // inclusive; an open row ends at INT32_MAX
  };

  // A key the load covered (the checks ask nothing else).
  static size_t find(const std::vector<std::string>& keys, std::string_view key) {
    const size_t i = index_of(keys, key);
    HB_ASSERT(i != kNone);
    return i;
  }

  template <typename OnRow>
  Status lookup(std::string_view head, std::string_view tail, const std::vector<std::string>& keys,
                OnRow on_row) {
    return for_each_by_keys(
        db_, head, tail, keys.size(), lookup_keys_,
        [&](size_t i) { return std::string_view(keys[i]); }, on_row);
  }

  static PersonState person_of(Stmt& st) {
    PersonState p;
    p.found = true;
    p.status = std::string(st.column_text(1));
    p.admdvs = std::string(st.column_text(2));
    p.insutype = std::atoi(std::string(st.column_text(3)).c_str());
    return p;
  }

  // The insured persons (locked, in psn_no order), then the account
  // holders who are not among them (not locked, as a single enrolment).
  Status load_persons() {
    static constexpr std::string_view kHead =
        "SELECT psn_no, status, admdvs, insutype FROM persons WHERE psn_no";
    Status s =
        lookup(kHead, "ORDER BY psn_no" + std::string(for_update_), insured_keys_, [&](Stmt& st) {
          insured_[find(insured_keys_, st.column_text(0))].person = person_of(st);
          return Status::Ok();
        });
    if (!s.ok()) return s;
    std::set_difference(holder_keys_.begin(), holder_keys_.end(), insured_keys_.begin(),
                        insured_keys_.end(), std::back_inserter(other_keys_));
    others_.resize(other_keys_.size());
    return lookup(kHead, "", other_keys_, [&](Stmt& st) {
      others_[find(other_keys_, st.column_text(0))] = person_of(st);
      return Status::Ok();
    });
  }

  // Each insured person's category rows, contiguous in categories_.
  Status load_categories() {
    return lookup("SELECT psn_no, category, from_date, to_date FROM person_categories WHERE psn_no",
                  "ORDER BY psn_no", insured_keys_, [&](Stmt& st) {
                    Insured& f = insured_[find(insured_keys_, st.column_text(0))];
                    const int c = category_index(st.column_text(1));
                    CategoryRow row{c, {}, Date{INT32_MAX}};
                    if (!parse_date(st.column_text(2), &row.from) ||
                        (!st.column_is_null(3) && !parse_date(st.column_text(3), &row.to)))
                      return Status(Code::kStoreError, "stored person_categories row of " +
                                                           std::string(st.column_text(0)) +
                                                           " has a bad from_date or to_date");
                    if (f.categories_end == f.categories_begin)
                      f.categories_begin = f.categories_end = uint32_t(categories_.size());
                    HB_ASSERT(f.categories_end == categories_.size());  // ordered by psn_no
                    if (c >= 0) categories_.push_back(row);
                    f.categories_end = uint32_t(categories_.size());
                    return Status::Ok();
                  });
  }

  // The enrolment in the product for the plan's year (the first by id, as a
  // single enrolment reads it) and last year's prior_years.
  Status load_enrolments() {
    const int64_t year = plan_.year();
    Status s = for_each_by_keys(
        db_,
        "SELECT psn_no, id, plan_id, begin_date, end_date FROM enrollments WHERE product = ? AND "
        "status <> 'cancelled' AND (plan_id = ? OR plan_id IN (SELECT plan_id FROM plan_versions "
        "WHERE year = ?)) AND psn_no",
        "ORDER BY psn_no, id", insured_keys_.size(), lookup_keys_, 3,
        [&](Stmt& st) {
          st.bind_text(1, prod_.id);
          st.bind_text(2, plan_.id);
          st.bind_int64(3, year);
        },
        [&](size_t i) { return std::string_view(insured_keys_[i]); },
        [&](Stmt& st) {
          Insured& f = insured_[find(insured_keys_, st.column_text(0))];
          if (f.stored_year >= 0) return Status::Ok();
          f.stored_year = int32_t(stored_years_.size());
          YearEnrollment& e = stored_years_.emplace_back();
          e.id = st.column_int64(1);
          e.plan_id = std::string(st.column_text(2));
          e.begin = std::string(st.column_text(3));
          e.end = std::string(st.column_text(4));
          return Status::Ok();
        });
    if (!s.ok()) return s;
    return for_each_by_keys(
        db_,
        "SELECT psn_no, MAX(prior_years) FROM enrollments WHERE product = ? AND status <> "
        "'cancelled' AND plan_id IN (SELECT plan_id FROM plan_versions WHERE year = ?) AND psn_no",
        "GROUP BY psn_no", insured_keys_.size(), lookup_keys_, 2,
        [&](Stmt& st) {
          st.bind_text(1, prod_.id);
          st.bind_int64(2, year - 1);
        },
        [&](size_t i) { return std::string_view(insured_keys_[i]); },
        [&](Stmt& st) {
          if (!st.column_is_null(1))
            insured_[find(insured_keys_, st.column_text(0))].prior_years =
                int(st.column_int64(1)) + 1;
          return Status::Ok();
        });
  }

  // The relations rows between each holder and the persons the holder's
  // account pays for, either direction.
  Status load_relations() {
    if (kin_.empty()) return Status::Ok();
    std::vector<std::string> keys;
    for (const auto& [pair, kin] : kin_) {
      keys.push_back(pair.substr(0, 18));
      keys.push_back(pair.substr(18));
    }
    sort_unique(&keys);
    return lookup("SELECT psn_no, rel_psn_no, relation FROM relations WHERE psn_no",
                  "ORDER BY psn_no, rel_psn_no", keys, [&](Stmt& st) {
                    const std::string a(st.column_text(0)), b(st.column_text(1));
                    Kinship k;
                    for (const std::string& holder : {a, b}) {
                      auto it = kin_.find(holder == a ? a + b : b + a);
                      if (it != kin_.end() &&
                          enrol_internal::kinship_to_holder(holder, a, st.column_text(2), &k))
                        it->second.push_back(k);
                    }
                    return Status::Ok();
                  });
  }

  // The paying accounts, locked in psn_no order.
  Status load_accounts() {
    balances_.assign(holder_keys_.size(), -1);
    return lookup("SELECT psn_no, balance_fen FROM accounts WHERE psn_no",
                  "ORDER BY psn_no" + std::string(for_update_), holder_keys_, [&](Stmt& st) {
                    balances_[find(holder_keys_, st.column_text(0))] = st.column_int64(1);
                    return Status::Ok();
                  });
  }

  Db& db_;
  const Plan& plan_;
  const Product& prod_;
  const size_t lookup_keys_;
  const std::string_view for_update_;
  std::vector<std::string> insured_keys_;  // sorted, with insured_
  std::vector<Insured> insured_;
  std::vector<YearEnrollment> stored_years_;
  std::vector<CategoryRow> categories_;
  std::vector<std::string> other_keys_;  // holders not insured by the file, with others_
  std::vector<PersonState> others_;
  std::vector<std::string> holder_keys_;  // sorted, with balances_ (-1: no account)
  std::vector<Fen> balances_;
  std::unordered_map<std::string, std::vector<Kinship>> kin_;  // holder + psn_no
};

// Writes accepted rows a batch at a time, as write_enrolment in
// enrol_service.cc writes one.
class BatchWriter {
 public:
  BatchWriter(Db& db, const Plan& plan, std::string actor, size_t batch_rows, size_t lookup_keys)
      : db_(db),
        plan_(plan),
        actor_(std::move(actor)),
        batch_rows_(batch_rows),
        accounts_per_update_(lookup_keys) {
    HB_ASSERT(batch_rows_ > 0);
  }

  Status add(const EnrolRequest& r, const EnrolReceipt& e, const std::vector<Fen>& balance_after) {
    pending_.push_back({&r, e, balance_after});
    return pending_.size() == batch_rows_ ? flush() : Status::Ok();
  }

  Status flush() {
    if (pending_.empty()) return Status::Ok();
    int64_t payers = 0, moves = 0;
    for (const Pending& p : pending_) {
      payers += int64_t(p.receipt.payers.size());
      for (const PayerShare& s : p.receipt.payers) moves += s.kind == PayerKind::kPersonalAccount;
    }
    const std::string now = store::utc_timestamp_now();
    // In the order a single enrolment first takes these rows' locks.
    int64_t id = 0, move_id = 0, premium_id = 0, seq = 0;
    for (auto [name, count, first] : {std::tuple{"enrollments", int64_t(pending_.size()), &id},
                                      {"account_moves", moves, &move_id},
                                      {"premiums", payers, &premium_id},
                                      {"audit_log", int64_t(pending_.size()), &seq}}) {
      if (count == 0) continue;
      Result<int64_t> r = store::allocate_ids(db_, name, count);
      if (!r.ok()) return r.status();
      *first = *r;
    }
    if (Status s = debit_accounts(now); !s.ok()) return s;
    for (const Pending& p : pending_) add_rows(p, id++, &move_id, &premium_id, seq++, now);
    if (Status s = rows_.flush(db_); !s.ok()) return s;
    if (Status s = db_.insert_rows({"audit_log", kAuditCols, ""}, audit_); !s.ok()) return s;
    audit_.clear();
    pending_.clear();
    return Status::Ok();
  }

 private:
  struct Pending {
    const EnrolRequest* request;
    EnrolReceipt receipt;
    std::vector<Fen> balance_after;  // by payer
  };

  static constexpr std::string_view kAuditCols[] = {"seq",    "recorded_at", "actor",
                                                    "action", "psn_no",      "detail"};

  void add_rows(const Pending& p, int64_t id, int64_t* move_id, int64_t* premium_id, int64_t seq,
                const std::string& now) {
    const EnrolRequest& r = *p.request;
    const EnrolReceipt& e = p.receipt;
    rows_.add_enrolment(id, r.psn_no, plan_, e.product, e.begin, e.end, e.prior_years, "voluntary",
                        r.renewal_consent, now);
    for (size_t k = 0; k < e.payers.size(); ++k) {
      const PayerShare& s = e.payers[k];
      rows_.add_payer(id, s.kind, s.ref, s.amount_fen);
      int64_t move = 0;
      if (s.kind == PayerKind::kPersonalAccount) {
        move = (*move_id)++;
        rows_.add_move(move, s.ref, s.amount_fen, p.balance_after[k], id,
                       enrol_internal::premium_move_detail(plan_, e, r.psn_no), now);
      }
      rows_.add_charge((*premium_id)++, id, s.kind, s.ref, s.amount_fen, move, now);
    }
    audit_.add_int64(seq);
    audit_.add_text(now);
    audit_.add_text(actor_);
    audit_.add_text("enrol.add");
    audit_.add_text(r.psn_no);
    audit_.add_text(enrol_internal::enrolment_detail(plan_, r, e, id));
  }

  // Debits each account the batch's rows pay from by their sum, under the
  // guard of a single debit (the balance never goes below 0), and checks
  // that it ends where the checks said: the rows were locked when loaded.
  Status debit_accounts(const std::string& now) {
    std::map<std::string_view, std::pair<Fen, Fen>> debits;  // holder: sum, balance after
    for (const Pending& p : pending_) {
      for (size_t k = 0; k < p.receipt.payers.size(); ++k) {
        const PayerShare& s = p.receipt.payers[k];
        if (s.kind != PayerKind::kPersonalAccount) continue;
        auto& [sum, after] = debits[s.ref];
        sum += s.amount_fen;
        after = p.balance_after[k];
      }
    }
    if (debits.empty()) return Status::Ok();
    Rows rows(2);
    for (const auto& [holder, d] : debits) {
      rows.add_text(holder);
      rows.add_int64(d.first);
    }
    static constexpr std::string_view kCasts[] = {"", "BIGINT"};
    size_t changed = 0;
    Status s = for_each_values(
        db_, "UPDATE accounts SET balance_fen = balance_fen - v.column2, updated_at = ? FROM (",
        ") AS v WHERE accounts.psn_no = v.column1 AND accounts.balance_fen >= v.column2 "
        "RETURNING psn_no, balance_fen",
        rows, kCasts, accounts_per_update_, 1, [&](Stmt& st) { st.bind_text(1, now); },
        [&](Stmt& st) {
          auto d = debits.find(st.column_text(0));
          if (d == debits.end() || d->second.second != st.column_int64(1))
            return Status(Code::kStoreError, "personal account " + std::string(st.column_text(0)) +
                                                 " changed under its lock");
          ++changed;
          return Status::Ok();
        });
    if (!s.ok()) return s;
    if (changed != debits.size())
      return Status(Code::kStoreError, "a personal account changed under its lock");
    return Status::Ok();
  }

  Db& db_;
  const Plan& plan_;
  const std::string actor_;
  const size_t batch_rows_;
  const size_t accounts_per_update_;
  std::vector<Pending> pending_;
  enrol_internal::EnrolmentRows rows_;
  Rows audit_{int(std::size(kAuditCols))};
};

}  // namespace

Status import_enrolments(Db& db, const Plan& plan, std::string_view plan_text,
                         const EnrolImportOptions& o, EnrolImportReport* report) {
  *report = EnrolImportReport{};
  report->dry_run = o.dry_run;
  std::string text;
  {
    std::ifstream in(o.path, std::ios::binary);
    if (!in) return Status(Code::kIoError, "cannot read '" + o.path + "'");
    std::stringstream buf;
    buf << in.rdbuf();
    text = buf.str();
  }
  Refusal refusal = Refusal::kNone;
  std::string message;
  const int product = enrol_internal::voluntary_product(plan, o.product, &refusal, &message);
  if (product < 0)
    return Status(Code::kPlanInvalid, std::string(refusal_name(refusal)) + ": " + message);
  const Product& prod = plan.products[size_t(product)];

  std::vector<ImportRow> rows;
  if (Status s = parse_import_rows(text, prod.id, o, report, &rows); !s.ok()) return s;

  if (!o.dry_run) {
    if (Result<int> v = register_plan_version(db, plan, plan_text, o.actor); !v.ok())
      return v.status();
  }
  // A dry run only reads (without locks, as the roll import's): it leaves
  // nothing behind, not even dead rows for the import after it to step over.
  Tx tx(db, o.dry_run ? store::TxMode::kRead : store::TxMode::kWrite);
  if (!tx.ok()) return tx.status();
  BatchFacts facts(db, plan, prod, o.lookup_keys, !o.dry_run);
  if (Status s = facts.load(rows); !s.ok()) return s;
  BatchWriter writer(db, plan, o.actor, o.batch_rows, o.lookup_keys);
  std::vector<Fen> balance_after;
  for (const ImportRow& row : rows) {
    EnrolReceipt receipt;
    if (Status s =
            enrol_internal::check_enrolment(facts, plan, product, row.request, nullptr, &receipt);
        !s.ok())
      return s;
    if (receipt.refusal != Refusal::kNone) {
      report->errors.push_back({row.line, receipt.refusal, receipt.message});
      continue;
    }
    facts.accept(row.line, row.request, receipt, &balance_after);
    ++report->enrolled;
    report->premium_fen += receipt.premium_fen;
    for (const PayerShare& p : receipt.payers) report->by_payer_fen[size_t(p.kind)] += p.amount_fen;
    // After a bad row nothing will be committed: the rest is only checked.
    if (!o.dry_run && report->errors.empty()) {
      if (Status s = writer.add(row.request, receipt, balance_after); !s.ok()) return s;
    }
  }
  std::sort(
      report->errors.begin(), report->errors.end(),
      [](const EnrolImportRowError& a, const EnrolImportRowError& b) { return a.line < b.line; });
  if (!report->errors.empty()) {
    report->enrolled = 0;
    return Status(Code::kRollInvalid, std::to_string(report->errors.size()) + " bad row(s) in " +
                                          o.path + "; nothing written");
  }
  if (Status s = writer.flush(); !s.ok()) return s;
  if (o.dry_run) return tx.rollback();
  const std::string detail = "{\"plan\":\"" + enrol_internal::json_escaped(plan.id) +
                             "\",\"file\":\"" + enrol_internal::json_escaped(o.path) +
                             "\",\"enrolled\":" + std::to_string(report->enrolled) + "}";
  if (Status s = append_audit(db, o.actor, "enrol.import", "", detail); !s.ok()) return s;
  if (Status s = tx.commit(); !s.ok()) return s;
  report->committed = true;
  return Status::Ok();
}

}  // namespace huibao
