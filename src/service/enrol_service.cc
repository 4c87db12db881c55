// Enrolment over the store (enrol_service.h): voluntary enrolment with its
// payer split and personal-account debit, the CSV batch, automatic
// enrolment from categories, renewal by prior consent and cancellation.
//
// Locks, in this order in every transaction, so concurrent operations queue
// instead of deadlocking: the insured person's persons row (FOR UPDATE in
// PostgreSQL; SQLite's write transaction holds the database), then the
// paying accounts by psn_no, then id_sequences (ids are allocated last).
#include "service/enrol_service.h"

#include <algorithm>
#include <cstdio>
#include <span>
#include <sstream>
#include <tuple>
#include <unordered_map>

#include "core/category.h"
#include "core/csv.h"
#include "core/resident_id.h"
#include "service/audit.h"
#include "service/enrol_internal.h"
#include "service/settle_service.h"
#include "store/migrate.h"

namespace huibao {
namespace {

using enrol_internal::EnrolFacts;
using enrol_internal::json_escaped;
using enrol_internal::PersonState;
using enrol_internal::voluntary_product;
using enrol_internal::YearEnrollment;
using store::Db;
using store::InsertSpec;
using store::Rows;
using store::Stmt;
using store::Tx;

// ---- small SQL helpers ----

void bind_one(Stmt& s, int k, int64_t v) {
  s.bind_int64(k, v);
}
void bind_one(Stmt& s, int k, std::string_view v) {
  s.bind_text(k, v);
}
template <typename... A>
void bind_all(Stmt& s, const A&... a) {
  int k = 0;
  (bind_one(s, ++k, a), ...);
}

template <typename... A>
Result<Stmt*> query(Db& db, std::string_view sql, const A&... a) {
  Result<Stmt*> st = db.prepare(sql);
  if (st.ok()) bind_all(**st, a...);
  return st;
}

template <typename... A>
Status run(Db& db, std::string_view sql, const A&... a) {
  Result<Stmt*> st = query(db, sql, a...);
  if (!st.ok()) return st.status();
  Result<int64_t> n = (*st)->execute();
  return n.ok() ? Status::Ok() : n.status();
}

std::string payers_json(const std::vector<PayerShare>& payers) {
  std::string out = "[";
  for (const PayerShare& p : payers) {
    if (out.size() > 1) out += ',';
    out += "{\"kind\":\"" + std::string(payer_kind_name(p.kind)) + "\",\"ref\":\"" +
           json_escaped(p.ref) + "\",\"amount\":\"" + fen_to_string(p.amount_fen) + "\"}";
  }
  return out + "]";
}

std::string payers_text(const std::vector<PayerShare>& payers) {
  std::string out;
  for (const PayerShare& p : payers) out += (out.empty() ? "" : " ") + payer_to_string(p);
  return out.empty() ? "-" : out;
}

Date next_day(Date d) {
  return Date{d.days + 1};
}

// ---- reads ----

Result<PersonState> read_person(Db& db, std::string_view psn_no, bool lock) {
  std::string sql = "SELECT status, admdvs, insutype FROM persons WHERE psn_no = ?";
  if (lock) sql += db.dialect().for_update;
  Result<Stmt*> st = query(db, sql, psn_no);
  if (!st.ok()) return st.status();
  Result<bool> row = (*st)->step();
  if (!row.ok()) return row.status();
  PersonState p;
  if (*row) {
    p.found = true;
    p.status = std::string((*st)->column_text(0));
    p.admdvs = std::string((*st)->column_text(1));
    p.insutype = std::atoi(std::string((*st)->column_text(2)).c_str());
  }
  (*st)->reset();
  return p;
}

Result<CategoryMask> categories_on(Db& db, std::string_view psn_no, Date d) {
  const std::string day = date_to_string(d);
  Result<Stmt*> st = query(db,
                           "SELECT category FROM person_categories WHERE psn_no = ? AND "
                           "from_date <= ? AND (to_date IS NULL OR to_date >= ?)",
                           psn_no, day, day);
  if (!st.ok()) return st.status();
  CategoryMask m = 0;
  for (;;) {
    Result<bool> row = (*st)->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    const int idx = category_index((*st)->column_text(0));
    if (idx >= 0) m |= CategoryMask(1) << idx;
  }
  return m;
}

// The person's enrolment in the product for the plan's year (any plan of
// that year), or id 0.
Result<YearEnrollment> enrollment_in_year(Db& db, std::string_view psn_no, std::string_view product,
                                          const Plan& plan) {
  Result<Stmt*> st = query(
      db,
      "SELECT id, plan_id, begin_date, end_date FROM enrollments WHERE psn_no = ? AND product = ? "
      "AND status <> 'cancelled' AND (plan_id = ? OR plan_id IN (SELECT plan_id FROM "
      "plan_versions WHERE year = ?)) ORDER BY id LIMIT 1",
      psn_no, product, plan.id, int64_t(plan.year()));
  if (!st.ok()) return st.status();
  Result<bool> row = (*st)->step();
  if (!row.ok()) return row.status();
  YearEnrollment e;
  if (*row) {
    e.id = (*st)->column_int64(0);
    e.plan_id = std::string((*st)->column_text(1));
    e.begin = std::string((*st)->column_text(2));
    e.end = std::string((*st)->column_text(3));
  }
  (*st)->reset();
  return e;
}

// 1 + the previous year's largest prior_years in the same product, else 0.
Result<int> prior_years_of(Db& db, std::string_view psn_no, std::string_view product, int year) {
  Result<Stmt*> st = query(db,
                           "SELECT MAX(prior_years) FROM enrollments WHERE psn_no = ? AND "
                           "product = ? AND status <> 'cancelled' AND plan_id IN (SELECT plan_id "
                           "FROM plan_versions WHERE year = ?)",
                           psn_no, product, int64_t(year - 1));
  if (!st.ok()) return st.status();
  Result<bool> row = (*st)->step();
  if (!row.ok()) return row.status();
  int n = 0;
  if (*row && !(*st)->column_is_null(0)) n = int((*st)->column_int64(0)) + 1;
  (*st)->reset();
  return n;
}

// What `psn_no` is to the account holder, from the relations table (either
// direction).
Result<std::vector<Kinship>> read_kinship(Db& db, std::string_view holder,
                                          std::string_view psn_no) {
  Result<Stmt*> st = query(db,
                           "SELECT psn_no, relation FROM relations WHERE (psn_no = ? AND "
                           "rel_psn_no = ?) OR (psn_no = ? AND rel_psn_no = ?)",
                           holder, psn_no, psn_no, holder);
  if (!st.ok()) return st.status();
  std::vector<Kinship> out;
  for (;;) {
    Result<bool> row = (*st)->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    Kinship k;
    if (enrol_internal::kinship_to_holder(holder, (*st)->column_text(0), (*st)->column_text(1), &k))
      out.push_back(k);
  }
  return out;
}

// Balance of an account (locked for the transaction), or -1 without one.
Result<Fen> account_balance(Db& db, std::string_view holder) {
  Result<Stmt*> st = query(
      db,
      "SELECT balance_fen FROM accounts WHERE psn_no = ?" + std::string(db.dialect().for_update),
      holder);
  if (!st.ok()) return st.status();
  Result<bool> row = (*st)->step();
  if (!row.ok()) return row.status();
  const Fen b = *row ? (*st)->column_int64(0) : -1;
  (*st)->reset();
  return b;
}

// ---- writes ----

// Moves money in or out of a personal account and records the move. A debit
// changes nothing when the balance is short (*moved false): the guard in the
// UPDATE holds under any concurrency.
Status move_account(Db& db, std::string_view holder, Fen delta, std::string_view kind,
                    std::string_view ref, std::string_view detail, const std::string& now,
                    bool* moved, int64_t* move_id) {
  *moved = false;
  Result<Stmt*> st =
      delta < 0 ? query(db,
                        "UPDATE accounts SET balance_fen = balance_fen - ?, updated_at = ? "
                        "WHERE psn_no = ? AND balance_fen >= ? RETURNING balance_fen",
                        int64_t(-delta), now, holder, int64_t(-delta))
                : query(db,
                        "UPDATE accounts SET balance_fen = balance_fen + ?, updated_at = ? "
                        "WHERE psn_no = ? RETURNING balance_fen",
                        int64_t(delta), now, holder);
  if (!st.ok()) return st.status();
  Result<bool> row = (*st)->step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::Ok();
  const Fen after = (*st)->column_int64(0);
  (*st)->reset();
  Result<int64_t> id = store::allocate_ids(db, "account_moves", 1);
  if (!id.ok()) return id.status();
  if (Status s = run(db,
                     "INSERT INTO account_moves (id, psn_no, kind, amount_fen, balance_after_fen, "
                     "ref, detail, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     *id, holder, kind, int64_t(delta), int64_t(after), ref, detail, now);
      !s.ok())
    return s;
  *moved = true;
  *move_id = *id;
  return Status::Ok();
}

Status insert_premium(Db& db, int64_t enrollment_id, const PayerShare& p, std::string_view kind,
                      int64_t move_id, const std::string& now) {
  Result<int64_t> id = store::allocate_ids(db, "premiums", 1);
  if (!id.ok()) return id.status();
  Result<Stmt*> st = query(db,
                           "INSERT INTO premiums (id, enrollment_id, payer_kind, payer_ref, kind, "
                           "amount_fen, account_move_id, recorded_at) VALUES (?, ?, ?, ?, ?, ?, "
                           "?, ?)",
                           *id, enrollment_id, payer_kind_name(p.kind), p.ref, kind,
                           int64_t(p.amount_fen), move_id, now);
  if (!st.ok()) return st.status();
  if (move_id == 0) (*st)->bind_null(7);
  Result<int64_t> n = (*st)->execute();
  return n.ok() ? Status::Ok() : n.status();
}

// What each payer of an enrolment paid, net of refunds, by kind and ref.
Result<std::vector<PayerShare>> net_paid(Db& db, int64_t enrollment_id) {
  Result<Stmt*> st = query(db,
                           "SELECT payer_kind, payer_ref, SUM(CASE WHEN kind = 'charge' THEN "
                           "amount_fen ELSE -amount_fen END) FROM premiums WHERE enrollment_id = "
                           "? GROUP BY payer_kind, payer_ref ORDER BY payer_kind, payer_ref",
                           enrollment_id);
  if (!st.ok()) return st.status();
  std::vector<PayerShare> out;
  for (;;) {
    Result<bool> row = (*st)->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    PayerShare p;
    if (!payer_kind_from_name((*st)->column_text(0), &p.kind))
      return Status(Code::kStoreError, "premiums of enrolment " + std::to_string(enrollment_id) +
                                           " name an unknown payer_kind");
    p.ref = std::string((*st)->column_text(1));
    p.amount_fen = (*st)->column_int64(2);
    out.push_back(std::move(p));
  }
  return out;
}

// The checks' questions, one query each (a single enrolment).
class StoreFacts final : public EnrolFacts {
 public:
  StoreFacts(Db& db, const Plan& plan, const Product& prod) : db_(db), plan_(plan), prod_(prod) {}

  Result<PersonState> person(const std::string& psn_no, bool lock) override {
    return read_person(db_, psn_no, lock);
  }
  Result<YearEnrollment> year_enrollment(const std::string& psn_no) override {
    return enrollment_in_year(db_, psn_no, prod_.id, plan_);
  }
  Result<CategoryMask> categories_on(const std::string& psn_no, Date day) override {
    return huibao::categories_on(db_, psn_no, day);
  }
  Result<std::vector<Kinship>> kinship(const std::string& holder,
                                       const std::string& psn_no) override {
    return read_kinship(db_, holder, psn_no);
  }
  Result<Fen> balance(const std::string& holder) override { return account_balance(db_, holder); }
  Result<int> prior_years(const std::string& psn_no) override {
    return prior_years_of(db_, psn_no, prod_.id, plan_.year());
  }

 private:
  Db& db_;
  const Plan& plan_;
  const Product& prod_;
};

// One payer of an enrolment: its enrollment_payers row, the debit of a
// personal account with its move, the premiums charge.
Status write_payer(Db& db, const Plan& plan, const EnrolRequest& r, const EnrolReceipt& e,
                   int64_t id, const PayerShare& p, const std::string& now) {
  if (Status s = run(db,
                     "INSERT INTO enrollment_payers (enrollment_id, payer_kind, "
                     "payer_ref, amount_fen) VALUES (?, ?, ?, ?)",
                     id, payer_kind_name(p.kind), p.ref, int64_t(p.amount_fen));
      !s.ok())
    return s;
  int64_t move_id = 0;
  if (p.kind == PayerKind::kPersonalAccount) {
    bool moved = false;
    if (Status s = move_account(
            db, p.ref, -p.amount_fen, "premium", "enrollment:" + std::to_string(id),
            enrol_internal::premium_move_detail(plan, e, r.psn_no), now, &moved, &move_id);
        !s.ok())
      return s;
    if (!moved)  // the balance was checked under the lock: not reached
      return Status(Code::kStoreError, "personal account " + p.ref + " changed under its lock");
  }
  return insert_premium(db, id, p, "charge", move_id, now);
}

// Writes an enrolment check_enrolment accepted: the enrolment, its payers,
// the debits, the premiums, the audit row; sets the receipt's id.
Status write_enrolment(Db& db, const Plan& plan, const EnrolRequest& r, bool renewal,
                       EnrolReceipt* e) {
  const std::string now = store::utc_timestamp_now();
  Result<int64_t> id = store::allocate_ids(db, "enrollments", 1);
  if (!id.ok()) return id.status();
  if (Status s =
          run(db,
              "INSERT INTO enrollments (id, psn_no, plan_id, product, begin_date, end_date, "
              "prior_years, status, source, renewal_consent, created_at) VALUES (?, ?, ?, "
              "?, ?, ?, ?, 'active', 'voluntary', ?, ?)",
              *id, r.psn_no, plan.id, e->product, date_to_string(e->begin), date_to_string(e->end),
              int64_t(e->prior_years), int64_t(r.renewal_consent ? 1 : 0), now);
      !s.ok())
    return s;
  for (const PayerShare& p : e->payers) {
    if (Status s = write_payer(db, plan, r, *e, *id, p, now); !s.ok()) return s;
  }
  if (Status s = append_audit(db, r.actor, renewal ? "enrol.renew" : "enrol.add", r.psn_no,
                              enrol_internal::enrolment_detail(plan, r, *e, *id));
      !s.ok())
    return s;
  e->enrollment_id = *id;
  return Status::Ok();
}

Status enrol_one(Db& db, const Plan& plan, int product, const EnrolRequest& r,
                 const std::vector<PayerShare>* renew_accounts, EnrolReceipt* out) {
  StoreFacts facts(db, plan, plan.products[size_t(product)]);
  Status s = enrol_internal::check_enrolment(facts, plan, product, r, renew_accounts, out);
  if (!s.ok() || out->refusal != Refusal::kNone) return s;
  return write_enrolment(db, plan, r, renew_accounts != nullptr, out);
}

constexpr int kBusyRetries = 3;

}  // namespace

// ---- what the import shares (enrol_internal.h) ----

namespace enrol_internal {

std::string json_escaped(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", unsigned(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

// The product a voluntary operation is about, or -1 with the refusal set.
int voluntary_product(const Plan& plan, std::string_view id, Refusal* refusal,
                      std::string* message) {
  if (id.empty()) {
    std::vector<int> found;
    for (size_t i = 0; i < plan.products.size(); ++i) {
      const Product& p = plan.products[i];
      if (p.auto_enroll == 0 && p.enrollment.declared) found.push_back(int(i));
    }
    if (found.size() == 1) return found[0];
    if (found.empty()) {
      *refusal = Refusal::kNoEnrollmentTerms;
      *message = "plan " + plan.id +
                 " has no voluntary product with [product.enrollment] terms (automatic "
                 "products enrol with `huibao enrol auto`)";
    } else {
      *refusal = Refusal::kUnknownProduct;
      *message = "plan " + plan.id + " has several voluntary products; name one with --product:";
      for (int i : found) *message += " " + plan.products[size_t(i)].id;
    }
    return -1;
  }
  const int i = plan.find_product(id);
  if (i < 0) {
    *refusal = Refusal::kUnknownProduct;
    *message = "product '" + std::string(id) + "' is not a product of plan " + plan.id;
    return -1;
  }
  const Product& p = plan.products[size_t(i)];
  if (p.auto_enroll != 0) {
    *refusal = Refusal::kNoEnrollmentTerms;
    *message = "product " + p.id + " enrols automatically from categories (`huibao enrol auto`)";
    return -1;
  }
  if (!p.enrollment.declared) {
    *refusal = Refusal::kNoEnrollmentTerms;
    *message = "product " + p.id + " of plan " + plan.id +
               " has no [product.enrollment] terms: add them to the plan to enrol people";
    return -1;
  }
  return i;
}

namespace {

std::string accepted_payers(const EnrollmentTerms& t) {
  std::string out;
  for (int k = 0; k < kPayerKindCount; ++k) {
    if (t.accepts(PayerKind(k)))
      out += (out.empty() ? "" : ", ") + std::string(payer_kind_name(PayerKind(k)));
  }
  return out;
}

// The checks of one enrolment (check_enrolment), in order, each of which may
// refuse (the receipt says why).
class Enrolment {
 public:
  Enrolment(EnrolFacts& facts, const Plan& plan, int product, const EnrolRequest& r,
            const std::vector<PayerShare>* renew_accounts, EnrolReceipt* out)
      : facts_(facts),
        plan_(plan),
        prod_(plan.products[size_t(product)]),
        terms_(prod_.enrollment),
        r_(r),
        psn_(r.psn_no),
        renew_accounts_(renew_accounts),
        out_(out) {
    *out_ = EnrolReceipt{};
    out_->product = prod_.id;
    out_->premium_fen = prod_.premium;
  }

  Status run() {
    for (Status (Enrolment::*step)() :
         {&Enrolment::check_person, &Enrolment::check_period, &Enrolment::split_payers,
          &Enrolment::check_payers, &Enrolment::check_accounts, &Enrolment::finish}) {
      if (Status s = (this->*step)(); !s.ok() || refused()) return s;
    }
    return Status::Ok();
  }

 private:
  bool refused() const { return out_->refusal != Refusal::kNone; }
  Status refuse(Refusal code, std::string message) {
    out_->refusal = code;
    out_->message = std::move(message);
    return Status::Ok();
  }

  // On the roll, active, in the region, of an eligible insutype (the
  // person's row locked for the transaction).
  Status check_person() {
    if (!resident_id_checksum_ok(psn_))
      return refuse(Refusal::kNotOnRoll,
                    "psn_no '" + psn_ + "' is not a valid resident id (GB 11643 check character)");
    Result<PersonState> person = facts_.person(psn_, true);
    if (!person.ok()) return person.status();
    person_ = std::move(*person);
    if (!person_.found) return refuse(Refusal::kNotOnRoll, psn_ + " is not on the roll");
    if (person_.status != "active")
      return refuse(Refusal::kNotActive,
                    psn_ + " is not active on the roll (" + person_.status + ")");
    if (!plan_.in_region(person_.admdvs))
      return refuse(Refusal::kOutsideRegion, psn_ + "'s admdvs " + person_.admdvs +
                                                 " is outside the region of plan " + plan_.id);
    if (std::find(terms_.insutypes.begin(), terms_.insutypes.end(), person_.insutype) ==
        terms_.insutypes.end())
      return refuse(Refusal::kInsutypeNotEligible,
                    psn_ + "'s insutype " + std::to_string(person_.insutype) +
                        " may not enrol in " + prod_.id +
                        " (only basic-insurance enrollees of the plan's insutypes)");
    return Status::Ok();
  }

  // In the window (a renewal: by its end), cover left, not yet enrolled for the year.
  Status check_period() {
    const bool renewal = renew_accounts_ != nullptr;
    if (r_.paid_on > terms_.window_end || (!renewal && r_.paid_on < terms_.window_begin))
      return refuse(Refusal::kOutsideWindow,
                    "payment day " + date_to_string(r_.paid_on) +
                        " is outside the enrolment window " + date_to_string(terms_.window_begin) +
                        ".." + date_to_string(terms_.window_end) + " of " + prod_.id);
    begin_ = cover_begin(plan_, terms_, r_.paid_on);
    if (begin_ > plan_.period_end)
      return refuse(Refusal::kNoCoverLeft, "a payment on " + date_to_string(r_.paid_on) +
                                               " buys no cover: plan " + plan_.id + " ends " +
                                               date_to_string(plan_.period_end));
    Result<YearEnrollment> e = facts_.year_enrollment(psn_);
    if (!e.ok()) return e.status();
    if (!e->found()) return Status::Ok();
    const std::string which = e->id == 0 ? "line " + std::to_string(e->line) + " of this file"
                                         : "enrolment " + std::to_string(e->id) + ", plan " +
                                               e->plan_id + ", " + e->begin + ".." + e->end;
    return refuse(Refusal::kAlreadyEnrolled, psn_ + " is already enrolled in " + prod_.id +
                                                 " for " + std::to_string(plan_.year()) + " (" +
                                                 which + ")");
  }

  // The subsidy from the categories on the payment day, and who pays the rest.
  Status split_payers() {
    Result<CategoryMask> held = facts_.categories_on(psn_, r_.paid_on);
    if (!held.ok()) return held.status();
    subsidy_ = subsidy_for(terms_, prod_.premium, *held, &subsidy_terms_);
    rest_ = prod_.premium - subsidy_;
    payers_ = r_.payers;
    if (renew_accounts_ != nullptr) {
      payers_.clear();
      Fen before = 0;
      for (const PayerShare& p : *renew_accounts_) before += p.amount_fen;
      if (rest_ > 0 && before <= 0)
        return refuse(Refusal::kNoAutomaticPayer,
                      "renewal deducts the premium from the personal account that paid last "
                      "year, and this enrolment was paid otherwise: enrol the person again");
      Fen given = 0;
      for (size_t i = 0; rest_ > 0 && i < renew_accounts_->size(); ++i) {
        const PayerShare& p = (*renew_accounts_)[i];
        Fen share = Fen(__int128(rest_) * p.amount_fen / before);
        if (i + 1 == renew_accounts_->size()) share = rest_ - given;
        given += share;
        if (share > 0) payers_.push_back({PayerKind::kPersonalAccount, p.ref, share});
      }
    } else if (payers_.empty() && !r_.employer_pays_rest.empty() && rest_ > 0) {
      payers_.push_back({PayerKind::kEmployer, r_.employer_pays_rest, rest_});
    }
    return Status::Ok();
  }

  // The payers named: kinds the product accepts, amounts, and the exact sum.
  Status check_payers() {
    Fen sum = 0;
    for (size_t i = 0; i < payers_.size(); ++i) {
      const PayerShare& p = payers_[i];
      const std::string name(payer_kind_name(p.kind));
      if (p.kind == PayerKind::kSubsidy)
        return refuse(Refusal::kPayerNotAccepted,
                      "the subsidy is computed from the person's categories; leave it out of the "
                      "payers");
      if (p.kind == PayerKind::kProvincial || p.kind == PayerKind::kCity)
        return refuse(Refusal::kPayerNotAccepted,
                      "payer kind " + name + " funds automatic products only");
      if (!terms_.accepts(p.kind))
        return refuse(Refusal::kPayerNotAccepted, prod_.id + " does not accept payer kind " + name +
                                                      " (accepted: " + accepted_payers(terms_) +
                                                      ")");
      if (p.amount_fen <= 0)
        return refuse(Refusal::kBadPayer,
                      "payer " + payer_to_string(p) + ": the amount must be positive");
      if (p.kind == PayerKind::kCash && !p.ref.empty())
        return refuse(Refusal::kBadPayer, "a cash payer has no reference");
      if (p.kind == PayerKind::kEmployer && (p.ref.empty() || p.ref.size() > 64))
        return refuse(Refusal::kBadPayer,
                      "an employer payer needs the employer's code (1 to 64 characters)");
      if (p.kind == PayerKind::kPersonalAccount && !resident_id_checksum_ok(p.ref))
        return refuse(Refusal::kBadPayer, "personal_account payer '" + p.ref +
                                              "' must name the holder's resident id (psn_no)");
      for (size_t j = 0; j < i; ++j) {
        if (payers_[j].kind == p.kind && payers_[j].ref == p.ref)
          return refuse(Refusal::kBadPayer,
                        "payer " + name + (p.ref.empty() ? "" : ":" + p.ref) + " is named twice");
      }
      if (p.amount_fen > prod_.premium)
        return refuse(Refusal::kPayersDoNotSum, "payer " + payer_to_string(p) +
                                                    " pays more than the premium " +
                                                    fen_to_string(prod_.premium));
      sum += p.amount_fen;
    }
    if (sum == rest_) return Status::Ok();
    std::string msg = "the payers sum to " + fen_to_string(sum) + " but the premium is " +
                      fen_to_string(prod_.premium);
    if (subsidy_ > 0) msg += " less a subsidy of " + fen_to_string(subsidy_);
    return refuse(Refusal::kPayersDoNotSum,
                  msg + ": the payers must give exactly " + fen_to_string(rest_));
  }

  // Each paying account: its holder, the relationship, the balance (locked,
  // in psn_no order).
  Status check_accounts() {
    std::sort(payers_.begin(), payers_.end(), [](const PayerShare& a, const PayerShare& b) {
      return std::tie(a.kind, a.ref) < std::tie(b.kind, b.ref);
    });
    for (const PayerShare& p : payers_) {
      if (p.kind != PayerKind::kPersonalAccount) continue;
      const std::string& holder = p.ref;
      if (holder != psn_) {
        if (Status s = check_kinship(holder); !s.ok() || refused()) return s;
      }
      Result<PersonState> h = holder == psn_ ? person_ : facts_.person(holder, false);
      if (!h.ok()) return h.status();
      if (!h->found || h->status != "active" || h->insutype != 310)
        return refuse(Refusal::kNoPersonalAccount,
                      "account holder " + holder +
                          " must be an active employee (insutype 310) on the roll: only an "
                          "employee's personal account may pay");
      Result<Fen> balance = facts_.balance(holder);
      if (!balance.ok()) return balance.status();
      if (*balance < 0)
        return refuse(Refusal::kNoPersonalAccount, holder + " has no personal account");
      if (*balance < p.amount_fen)
        return refuse(Refusal::kInsufficientBalance,
                      "personal account " + holder + " holds " + fen_to_string(*balance) +
                          ", less than the " + fen_to_string(p.amount_fen) + " asked");
    }
    return Status::Ok();
  }

  Status check_kinship(const std::string& holder) {
    Result<std::vector<Kinship>> kin = facts_.kinship(holder, psn_);
    if (!kin.ok()) return kin.status();
    if (kin->empty())
      return refuse(Refusal::kNotARelative,
                    psn_ + " is not recorded as the spouse, parent or child of account holder " +
                        holder +
                        " (relations); a personal account pays only for its holder and those "
                        "relatives");
    if (std::none_of(kin->begin(), kin->end(),
                     [&](Kinship k) { return terms_.account_may_pay_for(k); }))
      return refuse(Refusal::kNotARelative, psn_ + " is account holder " + holder + "'s " +
                                                std::string(kinship_name(kin->front())) +
                                                ", for whom plan " + plan_.id +
                                                " does not let a personal account pay");
    return Status::Ok();
  }

  // prior_years, and the subsidy as the first payer: the receipt of an
  // accepted enrolment.
  Status finish() {
    Result<int> prior = facts_.prior_years(psn_);
    if (!prior.ok()) return prior.status();
    if (subsidy_ > 0)
      payers_.insert(payers_.begin(), {PayerKind::kSubsidy, subsidy_terms_->ref, subsidy_});
    out_->begin = begin_;
    out_->end = plan_.period_end;
    out_->prior_years = *prior;
    out_->payers = std::move(payers_);
    return Status::Ok();
  }

  EnrolFacts& facts_;
  const Plan& plan_;
  const Product& prod_;
  const EnrollmentTerms& terms_;
  const EnrolRequest& r_;
  const std::string& psn_;
  const std::vector<PayerShare>* renew_accounts_;
  EnrolReceipt* out_;
  PersonState person_;
  Date begin_;
  Fen subsidy_ = 0, rest_ = 0;
  const Subsidy* subsidy_terms_ = nullptr;
  std::vector<PayerShare> payers_;
};

}  // namespace

Status check_enrolment(EnrolFacts& facts, const Plan& plan, int product, const EnrolRequest& r,
                       const std::vector<PayerShare>* renew_accounts, EnrolReceipt* receipt) {
  return Enrolment(facts, plan, product, r, renew_accounts, receipt).run();
}

// A row (holder, x, r) says x is the holder's r; a row (x, holder, r) says
// the holder is x's r, so x is the holder's inverse.
bool kinship_to_holder(std::string_view holder, std::string_view row_psn_no,
                       std::string_view relation, Kinship* out) {
  if (!kinship_from_name(relation, out)) return false;
  if (row_psn_no != holder) {
    if (*out == Kinship::kParent) {
      *out = Kinship::kChild;
    } else if (*out == Kinship::kChild) {
      *out = Kinship::kParent;
    }
  }
  return true;
}

std::string enrolment_detail(const Plan& plan, const EnrolRequest& r, const EnrolReceipt& e,
                             int64_t id) {
  return "{\"plan\":\"" + json_escaped(plan.id) + "\",\"product\":\"" + json_escaped(e.product) +
         "\",\"enrollment\":" + std::to_string(id) + ",\"paid_on\":\"" + date_to_string(r.paid_on) +
         "\",\"begin\":\"" + date_to_string(e.begin) + "\",\"end\":\"" + date_to_string(e.end) +
         "\",\"prior_years\":" + std::to_string(e.prior_years) +
         ",\"renewal_consent\":" + (r.renewal_consent ? "true" : "false") +
         ",\"payers\":" + payers_json(e.payers) + "}";
}

std::string premium_move_detail(const Plan& plan, const EnrolReceipt& e, std::string_view psn_no) {
  return "premium " + plan.id + " " + e.product + " for " + std::string(psn_no);
}

void EnrolmentRows::add_enrolment(int64_t id, std::string_view psn_no, const Plan& plan,
                                  std::string_view product, Date begin, Date end, int prior_years,
                                  std::string_view source, bool renewal_consent,
                                  const std::string& now) {
  enrolments.add_int64(id);
  enrolments.add_text(psn_no);
  enrolments.add_text(plan.id);
  enrolments.add_text(product);
  enrolments.add_text(date_to_string(begin));
  enrolments.add_text(date_to_string(end));
  enrolments.add_int64(prior_years);
  enrolments.add_text("active");
  enrolments.add_text(source);
  enrolments.add_int64(renewal_consent ? 1 : 0);
  enrolments.add_text(now);
}

void EnrolmentRows::add_payer(int64_t enrollment_id, PayerKind kind, std::string_view ref,
                              Fen amount) {
  payers.add_int64(enrollment_id);
  payers.add_text(payer_kind_name(kind));
  payers.add_text(ref);
  payers.add_int64(amount);
}

void EnrolmentRows::add_move(int64_t id, std::string_view holder, Fen amount, Fen balance_after,
                             int64_t enrollment_id, std::string_view detail,
                             const std::string& now) {
  moves.add_int64(id);
  moves.add_text(holder);
  moves.add_text("premium");
  moves.add_int64(-amount);
  moves.add_int64(balance_after);
  moves.add_text("enrollment:" + std::to_string(enrollment_id));
  moves.add_text(detail);
  moves.add_text(now);
}

void EnrolmentRows::add_charge(int64_t id, int64_t enrollment_id, PayerKind kind,
                               std::string_view ref, Fen amount, int64_t move_id,
                               const std::string& now) {
  premiums.add_int64(id);
  premiums.add_int64(enrollment_id);
  premiums.add_text(payer_kind_name(kind));
  premiums.add_text(ref);
  premiums.add_text("charge");
  premiums.add_int64(amount);
  if (move_id != 0) {
    premiums.add_int64(move_id);
  } else {
    premiums.add_null();
  }
  premiums.add_text(now);
}

Status EnrolmentRows::flush(Db& db) {
  using Table = std::tuple<std::string_view, std::span<const std::string_view>, Rows*>;
  for (auto [table, columns, rows] :
       {Table{"enrollments", kEnrolmentCols, &enrolments},
        Table{"enrollment_payers", kPayerCols, &payers}, Table{"account_moves", kMoveCols, &moves},
        Table{"premiums", kPremiumCols, &premiums}}) {
    if (rows->rows() == 0) continue;
    if (Status s = db.insert_rows({table, columns, ""}, *rows); !s.ok()) return s;
    rows->clear();
  }
  return Status::Ok();
}

}  // namespace enrol_internal

// ---- names and rules ----

std::string_view refusal_name(Refusal r) {
  static constexpr std::string_view kNames[] = {
      "ok",
      "unknown_product",
      "no_enrollment_terms",
      "not_on_roll",
      "not_active",
      "outside_region",
      "insutype_not_eligible",
      "outside_window",
      "no_cover_left",
      "already_enrolled",
      "bad_payer",
      "payer_not_accepted",
      "payers_do_not_sum",
      "not_a_relative",
      "no_personal_account",
      "insufficient_balance",
      "no_automatic_payer",
      "not_enrolled",
      "not_cancellable",
  };
  static_assert(std::size(kNames) == size_t(Refusal::kNotCancellable) + 1);
  return kNames[size_t(r)];
}

bool parse_payer(std::string_view text, PayerShare* out, std::string* error) {
  const size_t first = text.find(':');
  const size_t last = text.rfind(':');
  if (first == std::string_view::npos) {
    *error = "payer '" + std::string(text) +
             "' must be kind:amount or kind:ref:amount (cash:99.00, "
             "personal_account:<psn_no>:50.00, employer:<code>:99.00)";
    return false;
  }
  PayerShare p;
  if (!payer_kind_from_name(text.substr(0, first), &p.kind)) {
    *error = "payer '" + std::string(text) +
             "': unknown kind (cash, personal_account, employer; subsidies are computed)";
    return false;
  }
  if (first != last) p.ref = std::string(text.substr(first + 1, last - first - 1));
  const bool needs_ref = p.kind != PayerKind::kCash;
  if (needs_ref != (first != last) || (needs_ref && p.ref.empty())) {
    *error = "payer '" + std::string(text) + "': " +
             (needs_ref ? "give the reference: " + std::string(payer_kind_name(p.kind)) +
                              ":<ref>:<amount>"
                        : std::string("cash takes no reference: cash:<amount>"));
    return false;
  }
  if (parse_decimal_string_fen(text.substr(last + 1), &p.amount_fen) != AmountSyntax::kOk ||
      p.amount_fen <= 0) {
    *error = "payer '" + std::string(text) +
             "': the amount must be positive yuan with at most two decimals, such as 99.00";
    return false;
  }
  *out = std::move(p);
  return true;
}

std::string payer_to_string(const PayerShare& p) {
  std::string s(payer_kind_name(p.kind));
  if (!p.ref.empty()) s += ":" + p.ref;
  return s + ":" + fen_to_string(p.amount_fen);
}

Date cover_begin(const Plan& plan, const EnrollmentTerms& terms, Date paid_on) {
  Date d = plan.period_begin;
  switch (terms.cover_begins) {
    case CoverBegins::kDayAfterPayment:
      d = next_day(paid_on);
      break;
    case CoverBegins::kPaymentDay:
      d = paid_on;
      break;
    case CoverBegins::kPeriodBegin:
      break;
  }
  return std::max(d, plan.period_begin);
}

Fen subsidy_for(const EnrollmentTerms& terms, Fen premium, CategoryMask held,
                const Subsidy** which) {
  Fen best = 0;
  const Subsidy* chosen = nullptr;
  for (const Subsidy& s : terms.subsidies) {
    if ((s.categories & held) == 0) continue;
    const Fen f = s.of_premium(premium);
    if (chosen == nullptr || f > best) {
      best = f;
      chosen = &s;
    }
  }
  if (which != nullptr) *which = chosen;
  return best;
}

Fen refund_for(RefundRule rule, Fen paid, Date begin, Date end, Date on) {
  if (rule == RefundRule::kNone || on > end) return 0;
  if (on < begin) return paid;
  if (rule == RefundRule::kBeforeCover) return 0;
  // Pro rata: the days after the cancellation day over the days covered.
  const int64_t remaining = end.days - on.days;
  const int64_t covered = end.days - begin.days + 1;
  const __int128 num = __int128(paid) * remaining;
  return Fen((2 * num + covered) / (2 * covered));  // half up
}

// ---- voluntary enrolment ----

Status enrol_voluntary(Db& db, const Plan& plan, std::string_view plan_text, const EnrolRequest& r,
                       EnrolReceipt* out) {
  *out = EnrolReceipt{};
  const int product = voluntary_product(plan, r.product, &out->refusal, &out->message);
  if (product < 0) return Status::Ok();
  if (Result<int> v = register_plan_version(db, plan, plan_text, r.actor); !v.ok())
    return v.status();
  for (int attempt = 1;; ++attempt) {
    Status s;
    {
      Tx tx(db);
      s = tx.status();
      if (s.ok()) s = enrol_one(db, plan, product, r, nullptr, out);
      if (s.ok() && out->refusal == Refusal::kNone) s = tx.commit();
    }
    if (s.code() != Code::kStoreBusy || attempt == kBusyRetries) return s;
  }
}

// ---- automatic enrolment ----

namespace {

struct AutoRow {
  int64_t id = 0;
  Date begin, end;
};

struct AutoRun {
  Db& db;
  const Plan& plan;
  const Product& prod;
  std::string actor;
  std::string now;
  AutoEnrolReport::ProductCounts* counts;

  struct NewRow {
    std::string psn;
    Date begin, end;
    int prior_years;
  };
  std::vector<NewRow> created;
  Rows* audit;  // seq, recorded_at, actor, action, psn_no, detail; seq set by the caller

  std::string detail(std::string_view what, int64_t id, Date begin, Date end) const {
    return "{\"plan\":\"" + json_escaped(plan.id) + "\",\"product\":\"" + json_escaped(prod.id) +
           "\",\"" + std::string(what) + "\":" + std::to_string(id) + ",\"begin\":\"" +
           date_to_string(begin) + "\",\"end\":\"" + date_to_string(end) + "\"}";
  }

  void add_audit(std::string_view action, std::string_view psn, const std::string& d) {
    audit->add_int64(0);
    audit->add_text(now);
    audit->add_text(actor);
    audit->add_text(action);
    audit->add_text(psn);
    audit->add_text(d);
  }

  // The span a person's qualifying category rows give, or false.
  bool span_of(const std::vector<std::pair<Date, Date>>& cats, Date* begin, Date* end) const {
    bool any = false;
    for (auto [from, to] : cats) {
      const Date s = std::max(from, plan.period_begin);
      const Date e = std::min(to, plan.period_end);
      if (s > e) continue;
      *begin = any ? std::min(*begin, s) : s;
      *end = any ? std::max(*end, e) : e;
      any = true;
    }
    if (any && prod.enrollment.cover_ends == CoverEnds::kPeriodEnd) *end = plan.period_end;
    return any;
  }

  Status person(const std::string& psn, Date begin, Date end,
                std::unordered_map<std::string, AutoRow>* existing,
                const std::unordered_map<std::string, int>& prior) {
    ++counts->qualifying;
    auto it = existing->find(psn);
    if (it == existing->end()) {
      auto p = prior.find(psn);
      created.push_back({psn, begin, end, p == prior.end() ? 0 : p->second + 1});
      return Status::Ok();
    }
    const AutoRow row = it->second;
    existing->erase(it);
    if (row.begin == begin && row.end == end) {
      ++counts->unchanged;
      return Status::Ok();
    }
    ++counts->changed;
    if (Status s = run(db, "UPDATE enrollments SET begin_date = ?, end_date = ? WHERE id = ?",
                       date_to_string(begin), date_to_string(end), row.id);
        !s.ok())
      return s;
    add_audit("enrol.auto.change", psn,
              "{\"from\":" + detail("enrollment", row.id, row.begin, row.end) +
                  ",\"to\":" + detail("enrollment", row.id, begin, end) + "}");
    return Status::Ok();
  }

  // A person with an automatic enrolment who no longer qualifies although
  // active in the region: the roll removed the category (it was never in
  // force), so the enrolment is cancelled and the funding refunded.
  Status no_longer_qualifies(const std::string& psn, const AutoRow& row) {
    Result<PersonState> p = read_person(db, psn, false);
    if (!p.ok()) return p.status();
    if (!p->found || p->status != "active" || !plan.in_region(p->admdvs)) return Status::Ok();
    Result<std::vector<PayerShare>> refunds = net_paid(db, row.id);
    if (!refunds.ok()) return refunds.status();
    for (const PayerShare& s : *refunds) {
      if (s.amount_fen <= 0) continue;
      if (Status w = insert_premium(db, row.id, s, "refund", 0, now); !w.ok()) return w;
      counts->refunded_fen += s.amount_fen;
    }
    if (Status s =
            run(db,
                "UPDATE enrollments SET status = 'cancelled', cancelled_at = ?, end_date = ? "
                "WHERE id = ?",
                now, date_to_string(Date{row.begin.days - 1}), row.id);
        !s.ok())
      return s;
    ++counts->cancelled;
    add_audit("enrol.auto.cancel", psn, detail("enrollment", row.id, row.begin, row.end));
    return Status::Ok();
  }

  Status write_created() {
    const EnrollmentTerms& t = prod.enrollment;
    if (created.empty()) return Status::Ok();
    Result<int64_t> first = store::allocate_ids(db, "enrollments", int64_t(created.size()));
    if (!first.ok()) return first.status();
    int64_t charges = 0;
    for (const Funding& f : t.funding) charges += f.amount > 0 ? 1 : 0;
    int64_t premium_id = 0;
    if (charges > 0) {
      Result<int64_t> p = store::allocate_ids(db, "premiums", charges * int64_t(created.size()));
      if (!p.ok()) return p.status();
      premium_id = *p;
    }
    enrol_internal::EnrolmentRows rows;
    constexpr size_t kFlushRows = 4096;
    for (size_t i = 0; i < created.size(); ++i) {
      const NewRow& n = created[i];
      const int64_t id = *first + int64_t(i);
      rows.add_enrolment(id, n.psn, plan, prod.id, n.begin, n.end, n.prior_years, "auto", false,
                         now);
      for (const Funding& f : t.funding) {
        rows.add_payer(id, f.payer, f.ref, f.amount);
        if (f.amount == 0) continue;
        rows.add_charge(premium_id++, id, f.payer, f.ref, f.amount, 0, now);
        counts->charged_fen += f.amount;
      }
      add_audit("enrol.auto", n.psn, detail("enrollment", id, n.begin, n.end));
      if (rows.enrolments_buffered() == kFlushRows) {
        if (Status s = rows.flush(db); !s.ok()) return s;
      }
    }
    counts->created = int64_t(created.size());
    return rows.flush(db);
  }
};

constexpr int64_t kAutoPageRows = 50'000;

Status auto_product(Db& db, const Plan& plan, const Product& prod, const AutoEnrolOptions& o,
                    const std::string& now, AutoEnrolReport::ProductCounts* counts, Rows* audit) {
  AutoRun run_{db, plan, prod, o.actor, now, counts, {}, audit};
  // The enrolments this run may extend, and last year's chain for prior_years.
  std::unordered_map<std::string, AutoRow> existing;
  {
    Result<Stmt*> st = query(db,
                             "SELECT id, psn_no, begin_date, end_date FROM enrollments WHERE "
                             "plan_id = ? AND product = ? AND source = 'auto' AND status <> "
                             "'cancelled' ORDER BY id",
                             plan.id, prod.id);
    if (!st.ok()) return st.status();
    for (;;) {
      Result<bool> row = (*st)->step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      AutoRow r;
      r.id = (*st)->column_int64(0);
      if (!parse_date((*st)->column_text(2), &r.begin) ||
          !parse_date((*st)->column_text(3), &r.end))
        return Status(Code::kStoreError,
                      "enrolment " + std::to_string(r.id) + " has a bad begin_date or end_date");
      if (!existing.emplace(std::string((*st)->column_text(1)), r).second)
        return Status(Code::kStoreError,
                      "two automatic enrolments of " + std::string((*st)->column_text(1)) + " in " +
                          prod.id + " of plan " + plan.id + ": cancel one before enrolling again");
    }
  }
  std::unordered_map<std::string, int> prior;
  {
    Result<Stmt*> st = query(db,
                             "SELECT psn_no, MAX(prior_years) FROM enrollments WHERE product = ? "
                             "AND status <> 'cancelled' AND plan_id IN (SELECT plan_id FROM "
                             "plan_versions WHERE year = ?) GROUP BY psn_no",
                             prod.id, int64_t(plan.year() - 1));
    if (!st.ok()) return st.status();
    for (;;) {
      Result<bool> row = (*st)->step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      prior.emplace(std::string((*st)->column_text(0)), int((*st)->column_int64(1)));
    }
  }
  // Qualifying category rows in force during the period, by person, paged.
  std::string in_list;
  std::vector<std::string> names;
  for (int c = 0; c < kCategoryCount; ++c) {
    if (!((prod.auto_enroll >> c) & 1)) continue;
    in_list += in_list.empty() ? "?" : ", ?";
    names.emplace_back(category_name(c));
  }
  const std::string sql =
      "SELECT c.psn_no, c.from_date, c.to_date, p.status, p.admdvs FROM person_categories c "
      "JOIN persons p ON p.psn_no = c.psn_no WHERE c.category IN (" +
      in_list +
      ") AND c.from_date <= ? AND (c.to_date IS NULL OR c.to_date >= ?) AND c.psn_no > ? "
      "ORDER BY c.psn_no LIMIT ?";
  struct CatRow {
    std::string psn, status, admdvs;
    Date from, to;
  };
  std::string after;
  for (;;) {
    std::vector<CatRow> page;
    {
      Result<Stmt*> st = db.prepare(sql);
      if (!st.ok()) return st.status();
      int k = 0;
      for (const std::string& n : names) (*st)->bind_text(++k, n);
      (*st)->bind_text(++k, date_to_string(plan.period_end));
      (*st)->bind_text(++k, date_to_string(plan.period_begin));
      (*st)->bind_text(++k, after);
      (*st)->bind_int64(++k, kAutoPageRows);
      for (;;) {
        Result<bool> row = (*st)->step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        CatRow r;
        r.psn = std::string((*st)->column_text(0));
        r.to = Date{INT32_MAX};
        if (!parse_date((*st)->column_text(1), &r.from) ||
            (!(*st)->column_is_null(2) && !parse_date((*st)->column_text(2), &r.to)))
          return Status(Code::kStoreError, "stored person_categories row of " + r.psn +
                                               " has a bad from_date or to_date");
        r.status = std::string((*st)->column_text(3));
        r.admdvs = std::string((*st)->column_text(4));
        page.push_back(std::move(r));
      }
    }
    const bool full = int64_t(page.size()) == kAutoPageRows;
    // A full page may end inside a person: leave that person to the next page.
    size_t end = page.size();
    if (full) {
      while (end > 0 && page[end - 1].psn == page.back().psn) --end;
      if (end == 0) end = page.size();  // one person filled a page: take it whole
    }
    for (size_t i = 0; i < end;) {
      size_t j = i;
      std::vector<std::pair<Date, Date>> cats;
      while (j < end && page[j].psn == page[i].psn) {
        cats.emplace_back(page[j].from, page[j].to);
        ++j;
      }
      const CatRow& r = page[i];
      Date b, e;
      if (r.status == "active" && plan.in_region(r.admdvs) && run_.span_of(cats, &b, &e)) {
        if (Status s = run_.person(r.psn, b, e, &existing, prior); !s.ok()) return s;
      } else {
        existing.erase(r.psn);  // inactive or moved away: the enrolment stays as it was
      }
      i = j;
    }
    if (!full) break;
    after = page[end - 1].psn;
  }
  std::vector<std::pair<std::string, AutoRow>> left(existing.begin(), existing.end());
  std::sort(left.begin(), left.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [psn, row] : left) {
    if (Status s = run_.no_longer_qualifies(psn, row); !s.ok()) return s;
  }
  return run_.write_created();
}

}  // namespace

std::string AutoEnrolReport::to_text() const {
  std::ostringstream o;
  for (const ProductCounts& c : products) {
    o << c.product << ": " << c.qualifying << " qualifying, " << c.created << " enrolled, "
      << c.changed << " changed, " << c.unchanged << " unchanged, " << c.cancelled
      << " cancelled; premiums charged " << fen_to_string(c.charged_fen) << ", refunded "
      << fen_to_string(c.refunded_fen) << "\n";
  }
  return o.str();
}

Status enrol_automatic(Db& db, const Plan& plan, std::string_view plan_text,
                       const AutoEnrolOptions& o, AutoEnrolReport* report) {
  *report = AutoEnrolReport{};
  std::vector<const Product*> products;
  for (const Product& p : plan.products) {
    if (p.auto_enroll == 0) continue;
    if (!p.enrollment.declared)
      return Status(Code::kPlanInvalid,
                    plan.source + ": product " + p.id +
                        " has auto_enroll_categories but no [product.enrollment] terms (who "
                        "funds the premium): add them to enrol automatically");
    products.push_back(&p);
  }
  if (products.empty())
    return Status(Code::kPlanInvalid, "plan " + plan.id + " has no automatic product");
  if (Result<int> v = register_plan_version(db, plan, plan_text, o.actor); !v.ok())
    return v.status();
  for (int attempt = 1;; ++attempt) {
    report->products.clear();
    Status s;
    {
      Tx tx(db);
      s = tx.status();
      const std::string now = store::utc_timestamp_now();
      Rows audit(6);
      for (const Product* p : products) {
        if (!s.ok()) break;
        report->products.push_back({p->id});
        s = auto_product(db, plan, *p, o, now, &report->products.back(), &audit);
      }
      if (s.ok() && audit.rows() > 0) {
        Result<int64_t> seq = store::allocate_ids(db, "audit_log", int64_t(audit.rows()));
        s = seq.status();
        if (s.ok()) {
          static constexpr std::string_view kCols[] = {"seq",    "recorded_at", "actor",
                                                       "action", "psn_no",      "detail"};
          Rows numbered(6);
          for (size_t i = 0; i < audit.rows(); ++i) {
            numbered.add_int64(*seq + int64_t(i));
            for (int c = 1; c < 6; ++c) numbered.add_text(audit.text(audit.at(i, c)));
          }
          s = db.insert_rows({"audit_log", kCols, ""}, numbered);
        }
      }
      if (s.ok()) s = tx.commit();
    }
    if (s.code() != Code::kStoreBusy || attempt == kBusyRetries) return s;
  }
}

// ---- renewal ----

std::string RenewReport::to_text() const {
  std::ostringstream o;
  for (const Item& i : renewed) {
    o << "renewed " << i.psn_no << " " << i.product << ": enrolment " << i.enrollment_id << " ("
      << payers_text(i.payers) << ")\n";
  }
  for (const Item& i : skipped) {
    o << "skipped " << i.psn_no << " " << i.product << ": " << refusal_name(i.refusal) << ": "
      << i.message << "\n";
  }
  o << renewed.size() << " renewed, " << skipped.size() << " skipped\n";
  return o.str();
}

Status renew_enrolments(Db& db, const Plan& from, const Plan& to, std::string_view to_text,
                        const RenewOptions& o, RenewReport* report) {
  *report = RenewReport{};
  if (to.year() != from.year() + 1)
    return Status(Code::kPlanInvalid, "renewal goes from one year's plan to the next: plan " +
                                          from.id + " is for " + std::to_string(from.year()) +
                                          ", plan " + to.id + " for " + std::to_string(to.year()));
  std::vector<int> products;  // in `to`
  for (size_t i = 0; i < to.products.size(); ++i) {
    const Product& p = to.products[i];
    if (p.auto_enroll == 0 && p.enrollment.declared && p.enrollment.renewal &&
        from.find_product(p.id) >= 0)
      products.push_back(int(i));
  }
  if (products.empty())
    return Status(Code::kPlanInvalid, "no product of plan " + to.id + " renews from plan " +
                                          from.id +
                                          " (same product id, voluntary, renewal = true)");
  if (Result<int> v = register_plan_version(db, to, to_text, o.actor); !v.ok()) return v.status();
  for (int product : products) {
    const std::string& pid = to.products[size_t(product)].id;
    struct Candidate {
      int64_t id;
      std::string psn;
      std::vector<PayerShare> accounts;
    };
    std::vector<Candidate> candidates;
    {
      Result<Stmt*> st = query(db,
                               "SELECT id, psn_no FROM enrollments WHERE plan_id = ? AND product "
                               "= ? AND status <> 'cancelled' AND renewal_consent = 1 ORDER BY "
                               "psn_no, id",
                               from.id, pid);
      if (!st.ok()) return st.status();
      for (;;) {
        Result<bool> row = (*st)->step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        candidates.push_back({(*st)->column_int64(0), std::string((*st)->column_text(1)), {}});
      }
    }
    for (Candidate& c : candidates) {
      Result<Stmt*> st = query(db,
                               "SELECT payer_ref, amount_fen FROM enrollment_payers WHERE "
                               "enrollment_id = ? AND payer_kind = 'personal_account' ORDER BY "
                               "payer_ref",
                               c.id);
      if (!st.ok()) return st.status();
      for (;;) {
        Result<bool> row = (*st)->step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        c.accounts.push_back({PayerKind::kPersonalAccount, std::string((*st)->column_text(0)),
                              (*st)->column_int64(1)});
      }
    }
    for (const Candidate& c : candidates) {
      EnrolRequest r;
      r.psn_no = c.psn;
      r.product = pid;
      r.paid_on = o.on;
      r.renewal_consent = true;
      r.actor = o.actor;
      EnrolReceipt receipt;
      for (int attempt = 1;; ++attempt) {
        Status s;
        {
          Tx tx(db);
          s = tx.status();
          if (s.ok()) s = enrol_one(db, to, product, r, &c.accounts, &receipt);
          if (s.ok() && receipt.refusal == Refusal::kNone) s = tx.commit();
        }
        if (s.ok()) break;
        if (s.code() != Code::kStoreBusy || attempt == kBusyRetries) return s;
      }
      RenewReport::Item item{
          c.psn,           pid,           c.id, receipt.enrollment_id, receipt.refusal,
          receipt.message, receipt.payers};
      (receipt.refusal == Refusal::kNone ? report->renewed : report->skipped)
          .push_back(std::move(item));
    }
  }
  return Status::Ok();
}

// ---- cancellation ----

namespace {

Status refuse_cancel(CancelReceipt* out, Refusal code, std::string message) {
  out->refusal = code;
  out->message = std::move(message);
  return Status::Ok();
}

// The enrolment to cancel (the person's row locked), or a refusal.
Status find_to_cancel(Db& db, const Plan& plan, const Product& prod, const CancelRequest& r,
                      CancelReceipt* out) {
  Result<PersonState> person = read_person(db, r.psn_no, true);
  if (!person.ok()) return person.status();
  if (!person->found)
    return refuse_cancel(out, Refusal::kNotOnRoll, r.psn_no + " is not on the roll");
  Result<Stmt*> st = query(db,
                           "SELECT id, begin_date, end_date, source FROM enrollments WHERE "
                           "psn_no = ? AND plan_id = ? AND product = ? AND status <> "
                           "'cancelled' ORDER BY id LIMIT 1",
                           r.psn_no, plan.id, prod.id);
  if (!st.ok()) return st.status();
  Result<bool> row = (*st)->step();
  if (!row.ok()) return row.status();
  if (!*row)
    return refuse_cancel(out, Refusal::kNotEnrolled,
                         r.psn_no + " has no enrolment in " + prod.id + " of plan " + plan.id);
  out->enrollment_id = (*st)->column_int64(0);
  const std::string id = std::to_string(out->enrollment_id);
  const bool dates = parse_date((*st)->column_text(1), &out->begin) &&
                     parse_date((*st)->column_text(2), &out->end);
  const bool automatic = (*st)->column_text(3) == "auto";
  (*st)->reset();
  if (!dates)
    return Status(Code::kStoreError, "enrolment " + id + " has a bad begin_date or end_date");
  if (automatic)
    return refuse_cancel(out, Refusal::kNotCancellable,
                         "enrolment " + id + " is automatic: its cover follows the categories");
  if (r.on > out->end)
    return refuse_cancel(out, Refusal::kNotCancellable,
                         "the cover of enrolment " + id + " ended on " + date_to_string(out->end) +
                             "; nothing to cancel");
  out->before_cover = r.on < out->begin;
  return Status::Ok();
}

// Refunds each payer by the rule, then cancels the enrolment found.
Status write_cancellation(Db& db, const Plan& plan, const Product& prod, const CancelRequest& r,
                          CancelReceipt* out) {
  Result<std::vector<PayerShare>> paid = net_paid(db, out->enrollment_id);
  if (!paid.ok()) return paid.status();
  const std::string now = store::utc_timestamp_now();
  const std::string ref = "enrollment:" + std::to_string(out->enrollment_id);
  for (const PayerShare& p : *paid) {
    const Fen back = refund_for(prod.enrollment.refund, p.amount_fen, out->begin, out->end, r.on);
    if (back <= 0) continue;
    PayerShare refund{p.kind, p.ref, back};
    int64_t move_id = 0;
    if (p.kind == PayerKind::kPersonalAccount) {
      bool moved = false;
      const std::string detail = "refund " + plan.id + " " + prod.id + " for " + r.psn_no +
                                 " cancelled " + date_to_string(r.on);
      if (Status w = move_account(db, p.ref, back, "refund", ref, detail, now, &moved, &move_id);
          !w.ok())
        return w;
      if (!moved) return Status(Code::kStoreError, "personal account " + p.ref + " is missing");
    }
    if (Status w = insert_premium(db, out->enrollment_id, refund, "refund", move_id, now); !w.ok())
      return w;
    out->refunded_fen += back;
    out->refunds.push_back(std::move(refund));
  }
  // Cover ends on the cancellation day; cancelled before it began, there is none.
  out->end = out->before_cover ? Date{out->begin.days - 1} : r.on;
  if (Status w = run(db,
                     "UPDATE enrollments SET status = 'cancelled', cancelled_at = ?, "
                     "end_date = ?, renewal_consent = 0 WHERE id = ?",
                     now, date_to_string(out->end), out->enrollment_id);
      !w.ok())
    return w;
  const std::string detail =
      "{\"plan\":\"" + json_escaped(plan.id) + "\",\"product\":\"" + json_escaped(prod.id) +
      "\",\"enrollment\":" + std::to_string(out->enrollment_id) + ",\"on\":\"" +
      date_to_string(r.on) + "\",\"before_cover\":" + (out->before_cover ? "true" : "false") +
      ",\"end\":\"" + date_to_string(out->end) + "\",\"refunds\":" + payers_json(out->refunds) +
      "}";
  return append_audit(db, r.actor, "enrol.cancel", r.psn_no, detail);
}

}  // namespace

Status cancel_enrolment(Db& db, const Plan& plan, const CancelRequest& r, CancelReceipt* out) {
  *out = CancelReceipt{};
  int product = -1;
  if (r.product.empty()) {
    product = voluntary_product(plan, "", &out->refusal, &out->message);
    if (product < 0) return Status::Ok();
  } else {
    product = plan.find_product(r.product);
    if (product < 0)
      return refuse_cancel(out, Refusal::kUnknownProduct,
                           "product '" + r.product + "' is not a product of plan " + plan.id);
  }
  const Product& prod = plan.products[size_t(product)];
  if (prod.auto_enroll != 0)
    return refuse_cancel(out, Refusal::kNotCancellable,
                         prod.id +
                             " enrols automatically: its cover follows the person's categories "
                             "(change the roll, then `huibao enrol auto`)");
  for (int attempt = 1;; ++attempt) {
    Status s;
    {
      Tx tx(db);
      s = tx.status();
      if (s.ok()) s = find_to_cancel(db, plan, prod, r, out);
      if (s.ok() && out->refusal == Refusal::kNone) s = write_cancellation(db, plan, prod, r, out);
      if (s.ok() && out->refusal == Refusal::kNone) s = tx.commit();
    }
    if (s.code() != Code::kStoreBusy || attempt == kBusyRetries) return s;
    *out = CancelReceipt{};
  }
}

}  // namespace huibao
