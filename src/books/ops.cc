#include "books/ops.h"

#include <cstdlib>
#include <map>
#include <sstream>

#include "books/accounts.h"
#include "books/plans.h"
#include "books/region.h"
#include "books/sql.h"
#include "core/date.h"
#include "store/migrate.h"

namespace huibao::books {

using store::Db;
using store::Stmt;
using store::Tx;

std::string_view refusal_name(Refusal r) {
  switch (r) {
    case Refusal::kNone:
      return "none";
    case Refusal::kKeyConflict:
      return "key_conflict";
    case Refusal::kUnknownProduct:
      return "unknown_product";
    case Refusal::kInvalidRegion:
      return "invalid_region";
    case Refusal::kInvalidAmount:
      return "invalid_amount";
    case Refusal::kInvalidDate:
      return "invalid_date";
    case Refusal::kTransfersNotAllowed:
      return "transfers_not_allowed";
    case Refusal::kExceedsPremium:
      return "exceeds_premium";
    case Refusal::kUnknownEntry:
      return "unknown_entry";
    case Refusal::kNotReversible:
      return "not_reversible";
    case Refusal::kNoFundRules:
      return "no_fund_rules";
    case Refusal::kMissingKey:
      return "missing_key";
  }
  return "";
}

namespace {

Status refuse(Receipt* out, Refusal r, std::string message) {
  out->refusal = r;
  out->message = std::move(message);
  return Status::Ok();
}

// The checks every explicit entry's request shares; Refusal::kNone when fine.
Refusal check_request(std::string_view region, Fen amount, std::string_view date,
                      std::string_view key, std::string* message) {
  Date d;
  if (!is_city_code(region)) {
    *message = "region '" + std::string(region) + "' must be a city code such as 370200";
    return Refusal::kInvalidRegion;
  }
  if (amount <= 0) {
    *message = "the amount must be positive (a correction is a reversal of the entry)";
    return Refusal::kInvalidAmount;
  }
  if (!parse_date(date, &d)) {
    *message = "the date must be YYYY-MM-DD";
    return Refusal::kInvalidDate;
  }
  if (key.empty()) {
    *message = "an explicit entry needs a business key (a voucher number, say)";
    return Refusal::kMissingKey;
  }
  return Refusal::kNone;
}

// Posts e in its own write transaction and fills out.
Status post_one(Db& db, Entry e, std::string_view actor, Receipt* out) {
  Tx tx(db);
  if (!tx.ok()) return tx.status();
  if (Status s = lock_journal(db); !s.ok()) return s;
  Result<PostOutcome> o = post_entry(db, e, actor, store::utc_timestamp_now());
  if (!o.ok()) return o.status();
  out->outcome = *o;
  out->entry = std::move(e);
  if (*o == PostOutcome::kConflict) {
    out->refusal = Refusal::kKeyConflict;
    out->message = "key '" + out->entry.key +
                   "' already holds a different entry; choose another key (a correction is a "
                   "reversal and a new entry)";
    return tx.rollback();
  }
  return tx.commit();
}

// Balances of the books a query selects: (product, region, year, account) -> debit - credit.
using Net = std::map<std::tuple<std::string, std::string, int, std::string>, Fen>;

}  // namespace

Fen BalanceRow::balance() const {
  const AccountInfo* a = account_info(account);
  return a == nullptr || a->debit_normal ? debit - credit : credit - debit;
}

Status book_balances(Db& db, const BalanceFilter& f, std::vector<BalanceRow>* out) {
  out->clear();
  return grouped_sums(
      db, "", {"product", "region", "year", "account"}, {"debit_fen", "credit_fen"},
      "FROM journal_lines WHERE (? = 0 OR year = ?) AND (? = '' OR product = ?) AND (? = '' OR "
      "region = ?)",
      {int64_t(f.year), int64_t(f.year), std::string_view(f.product), std::string_view(f.product),
       std::string_view(f.region), std::string_view(f.region)},
      [&](const std::vector<std::string_view>& k, const int64_t* v) {
        out->push_back({std::string(k[0]), std::string(k[1]), std::atoi(std::string(k[2]).c_str()),
                        std::string(k[3]), v[0], v[1]});
      });
}

BookFigures figures_of(const std::vector<BalanceRow>& rows, std::string_view product,
                       std::string_view region, int year) {
  BookFigures f;
  for (const BalanceRow& r : rows) {
    if (r.product != product || r.region != region || r.year != year) continue;
    const std::string_view name = std::string_view(r.account).substr(0, r.account.find(':'));
    const Fen b = r.balance();
    if (name == account::kPremiumIncome) f.premium_income += b;
    if (name == account::kTransferIn) f.transfer_in += b;
    if (name == account::kTransferOut) f.transfer_out += b;
    if (name == account::kCarryOverIn) f.carry_over_in += b;
    if (name == account::kClaimsExpense) f.claims += b;
    if (name == account::kOperatingExpense) f.operating_cost += b;
    if (name == account::kPlatformFee) f.platform_fee += b;
  }
  return f;
}

Status record_cost(Db& db, const CostRequest& r, Receipt* out) {
  *out = Receipt{};
  std::string message;
  if (Refusal x = check_request(r.region, r.amount, r.date, r.key, &message); x != Refusal::kNone)
    return refuse(out, x, message);
  Result<StoredPlans> plans = StoredPlans::load(db);
  if (!plans.ok()) return plans.status();
  const StoredPlan* plan = plans->for_book(r.product, r.region, r.year);
  if (plan == nullptr)
    return refuse(out, Refusal::kUnknownProduct,
                  "no stored plan of " + std::to_string(r.year) + " has product '" + r.product +
                      "' for city " + r.region);
  Entry e;
  e.key = r.key;
  e.kind = std::string(r.kind);
  e.plan_id = plan->plan_id;
  e.date = r.date;
  e.memo = r.memo;
  const std::string_view acct =
      r.kind == kind::kPlatformFee ? account::kPlatformFee : account::kOperatingExpense;
  e.add(r.product, r.region, r.year, acct, r.counterparty, r.amount);
  e.add(r.product, r.region, r.year, account::kBank, "", -r.amount);
  return post_one(db, std::move(e), r.actor, out);
}

Status transfer_premium(Db& db, const Plan& plan, const TransferRequest& r, Receipt* out) {
  *out = Receipt{};
  std::string message;
  if (Refusal x = check_request(r.region, r.amount, r.date, r.key, &message); x != Refusal::kNone)
    return refuse(out, x, message);
  if (!plan.fund.premium_transfers)
    return refuse(out, Refusal::kTransfersNotAllowed,
                  "plan " + plan.id +
                      " does not let premiums move between its products ([fund] "
                      "premium_transfers)");
  for (const std::string* p : {&r.from_product, &r.to_product}) {
    if (plan.find_product(*p) < 0)
      return refuse(out, Refusal::kUnknownProduct,
                    "plan " + plan.id + " has no product '" + *p + "'");
  }
  if (r.from_product == r.to_product)
    return refuse(out, Refusal::kUnknownProduct, "a transfer needs two different products");
  const int year = plan.year();
  Entry e;
  e.key = r.key;
  e.kind = std::string(kind::kTransfer);
  e.plan_id = plan.id;
  e.date = r.date;
  e.memo = r.memo;
  e.add(r.from_product, r.region, year, account::kTransferOut, r.to_product, r.amount);
  e.add(r.from_product, r.region, year, account::kBank, "", -r.amount);
  e.add(r.to_product, r.region, year, account::kBank, "", r.amount);
  e.add(r.to_product, r.region, year, account::kTransferIn, r.from_product, -r.amount);
  // Not more than the source book earned (checked again under the journal lock).
  Tx tx(db);
  if (!tx.ok()) return tx.status();
  if (Status s = lock_journal(db); !s.ok()) return s;
  Entry stored;
  Result<bool> found = read_entry(db, r.key, &stored);
  if (!found.ok()) return found.status();
  if (!*found) {
    std::vector<BalanceRow> rows;
    if (Status s = book_balances(db, {year, r.from_product, r.region}, &rows); !s.ok()) return s;
    const Fen earned = figures_of(rows, r.from_product, r.region, year).earned_premium();
    if (r.amount > earned)
      return refuse(out, Refusal::kExceedsPremium,
                    "book " + r.from_product + "/" + r.region + "/" + std::to_string(year) +
                        " has earned " + fen_to_string(earned) + " of premium; it cannot give " +
                        fen_to_string(r.amount));
  }
  Result<PostOutcome> o = post_entry(db, e, r.actor, store::utc_timestamp_now());
  if (!o.ok()) return o.status();
  out->outcome = *o;
  out->entry = std::move(e);
  if (*o == PostOutcome::kConflict)
    return refuse(out, Refusal::kKeyConflict,
                  "key '" + r.key + "' already holds a different entry; choose another key");
  return tx.commit();
}

Status carry_over(Db& db, const CarryOverRequest& r, Receipt* out) {
  *out = Receipt{};
  std::string message;
  if (Refusal x = check_request(r.region, r.amount, r.date, r.key, &message); x != Refusal::kNone)
    return refuse(out, x, message);
  Entry e;
  e.key = r.key;
  e.kind = std::string(kind::kCarryOver);
  e.date = r.date;
  e.memo = r.memo;
  const std::string to = std::to_string(r.from_year + 1);
  e.add(r.product, r.region, r.from_year, account::kCarryOverOut, to, r.amount);
  e.add(r.product, r.region, r.from_year, account::kBank, "", -r.amount);
  e.add(r.product, r.region, r.from_year + 1, account::kBank, "", r.amount);
  e.add(r.product, r.region, r.from_year + 1, account::kCarryOverIn, std::to_string(r.from_year),
        -r.amount);
  return post_one(db, std::move(e), r.actor, out);
}

Status reverse_entry(Db& db, std::string_view key, std::string_view date, std::string_view memo,
                     std::string_view actor, Receipt* out) {
  *out = Receipt{};
  Date d;
  if (!parse_date(date, &d))
    return refuse(out, Refusal::kInvalidDate, "the date must be YYYY-MM-DD");
  Entry original;
  {
    Tx tx(db, store::TxMode::kRead);
    if (!tx.ok()) return tx.status();
    Result<bool> found = read_entry(db, key, &original);
    if (!found.ok()) return found.status();
    if (!*found)
      return refuse(out, Refusal::kUnknownEntry, "no entry has key '" + std::string(key) + "'");
    if (Status s = tx.commit(); !s.ok()) return s;
  }
  const std::string_view k = original.kind;
  if (k != kind::kOperatingCost && k != kind::kPlatformFee && k != kind::kTransfer &&
      k != kind::kCarryOver && k != kind::kPayment)
    return refuse(out, Refusal::kNotReversible,
                  "entry '" + std::string(key) + "' (" + original.kind +
                      ") is not an explicit entry: premiums and claims are corrected through "
                      "their facts (a refund, a reversal), year-end entries by running the "
                      "year end again");
  Entry e;
  e.key = "reversal:" + std::string(key);
  e.kind = std::string(kind::kReversal);
  e.plan_id = original.plan_id;
  e.date = std::string(date);
  e.source = std::string(key);
  e.memo = std::string(memo);
  for (const Line& l : original.lines) {
    Line m = l;
    std::swap(m.debit, m.credit);
    e.lines.push_back(std::move(m));
  }
  return post_one(db, std::move(e), actor, out);
}

Status pay_claims(Db& db, const PayRequest& r, PayReport* out) {
  *out = PayReport{};
  Date d;
  if (!parse_date(r.date, &d)) return Status(Code::kRollInvalid, "--date must be YYYY-MM-DD");
  if (r.run.empty()) return Status(Code::kRollInvalid, "a payment run needs a name (--run)");
  Tx tx(db);
  if (!tx.ok()) return tx.status();
  if (Status s = lock_journal(db); !s.ok()) return s;
  struct Owed {
    std::string product, region, counterparty;
    int year;
    Fen amount;
  };
  std::vector<Owed> owed;
  Status q = grouped_sums(
      db, "", {"product", "region", "year", "counterparty"}, {"credit_fen - debit_fen"},
      "FROM journal_lines WHERE account = 'claims_payable' AND (? = 0 OR year = ?) AND (? = '' "
      "OR product = ?) AND (? = '' OR region = ?) AND (? = '' OR counterparty = ?)",
      {int64_t(r.year), int64_t(r.year), std::string_view(r.product), std::string_view(r.product),
       std::string_view(r.region), std::string_view(r.region), std::string_view(r.counterparty),
       std::string_view(r.counterparty)},
      [&](const std::vector<std::string_view>& k, const int64_t* v) {
        if (v[0] <= 0) return;
        owed.push_back({std::string(k[0]), std::string(k[1]), std::string(k[3]),
                        std::atoi(std::string(k[2]).c_str()), v[0]});
      });
  if (!q.ok()) return q;
  // The keys this run already used.
  std::map<std::string, bool> used;
  const std::string prefix = "payment:" + r.run + ":";
  q = query_rows(db,
                 "SELECT business_key FROM journal_entries WHERE kind = 'payment' AND "
                 "substr(business_key, 1, ?) = ?",
                 {int64_t(prefix.size()), std::string_view(prefix)},
                 [&](Stmt& s) { used[std::string(s.column_text(0))] = true; });
  if (!q.ok()) return q;
  JournalBatch batch;
  for (const Owed& o : owed) {
    Entry e;
    e.key =
        prefix + o.product + ":" + o.region + ":" + std::to_string(o.year) + ":" + o.counterparty;
    if (used.count(e.key) > 0) {
      ++out->existing;
      continue;
    }
    e.kind = std::string(kind::kPayment);
    e.date = r.date;
    e.source = r.run;
    e.add(o.product, o.region, o.year, account::kClaimsPayable, o.counterparty, o.amount);
    e.add(o.product, o.region, o.year, account::kBank, "", -o.amount);
    out->paid_fen += o.amount;
    ++out->created;
    batch.add(std::move(e));
  }
  if (Status s = batch.write(db, r.actor, store::utc_timestamp_now()); !s.ok()) return s;
  return tx.commit();
}

std::string PayReport::to_text() const {
  std::ostringstream o;
  o << "payments     " << created << " posted, " << fen_to_string(paid_fen) << " paid";
  if (existing > 0) o << "; " << existing << " already paid in this run";
  o << "\n";
  return o.str();
}

Status year_end(Db& db, const Plan& plan, const YearEndOptions& o, YearEndReport* out) {
  *out = YearEndReport{};
  if (!plan.fund.declared) {
    out->refusal = Refusal::kNoFundRules;
    out->message = "plan " + plan.id + " has no [fund] table: nothing says how its year ends";
    return Status::Ok();
  }
  if (!o.region.empty() && !is_city_code(o.region)) {
    out->refusal = Refusal::kInvalidRegion;
    out->message = "region '" + o.region + "' must be a city code such as 370200";
    return Status::Ok();
  }
  const std::string date = o.date.empty() ? date_to_string(plan.period_end) : o.date;
  Date d;
  if (!parse_date(date, &d)) {
    out->refusal = Refusal::kInvalidDate;
    out->message = "the date must be YYYY-MM-DD";
    return Status::Ok();
  }
  const int year = plan.year();
  Tx tx(db);
  if (!tx.ok()) return tx.status();
  if (Status s = lock_journal(db); !s.ok()) return s;
  std::vector<BalanceRow> rows;
  if (Status s = book_balances(db, {year, "", o.region}, &rows); !s.ok()) return s;
  // What earlier year-end entries posted, by book (this year's lines only).
  Net posted;
  Status q = query_rows(
      db,
      "SELECT l.product, l.region, l.account, SUM(l.debit_fen) - SUM(l.credit_fen) FROM "
      "journal_lines l JOIN journal_entries e ON e.id = l.entry_id WHERE e.kind = 'year_end' "
      "AND l.year = ? GROUP BY l.product, l.region, l.account",
      {int64_t(year)}, [&](Stmt& s) {
        posted[{std::string(s.column_text(0)), std::string(s.column_text(1)), year,
                std::string(s.column_text(2))}] = s.column_int64(3);
      });
  if (!q.ok()) return q;
  // The last number of each book's year-end keys (year_end:<product>:<region>:<year>:<n>).
  std::map<std::pair<std::string, std::string>, int> entries;
  const std::string suffix = ":" + std::to_string(year) + ":";
  q = query_rows(db, "SELECT business_key FROM journal_entries WHERE kind = 'year_end'", {},
                 [&](Stmt& s) {
                   const std::string_view key = s.column_text(0);
                   const size_t at = key.rfind(suffix);
                   const size_t p = key.find(':', 9);
                   if (at == std::string_view::npos || p == std::string_view::npos || p >= at)
                     return;
                   int& n = entries[{std::string(key.substr(9, p - 9)),
                                     std::string(key.substr(p + 1, at - p - 1))}];
                   n = std::max(n, std::atoi(std::string(key.substr(at + suffix.size())).c_str()));
                 });
  if (!q.ok()) return q;
  JournalBatch batch;
  std::map<std::pair<std::string, std::string>, bool> seen;
  for (const BalanceRow& r : rows) {
    if (plan.find_product(r.product) < 0 || !plan.in_region(r.region) ||
        !seen.emplace(std::pair(r.product, r.region), true).second)
      continue;
    YearEndBook b;
    b.product = r.product;
    b.region = r.region;
    b.year = year;
    b.figures = figures_of(rows, r.product, r.region, year);
    b.outcome = year_end_outcome(b.figures, plan.fund);
    auto at = [&](std::string_view account) {
      auto it = posted.find({b.product, b.region, year, std::string(account)});
      return it == posted.end() ? Fen{0} : it->second;
    };
    b.shortfall_posted = at(account::kCarryOverOut) + at(account::kSurplusReturned);
    b.government_posted = at(account::kLossShareReceivable);
    const Fen d_short = b.outcome.shortfall - b.shortfall_posted;
    const Fen d_gov = b.outcome.government_share - b.government_posted;
    if (d_short != 0 || d_gov != 0) {
      Entry e;
      e.key = "year_end:" + b.product + ":" + b.region + ":" + std::to_string(year) + ":" +
              std::to_string(entries[{b.product, b.region}] + 1);
      e.kind = std::string(kind::kYearEnd);
      e.plan_id = plan.id;
      e.date = date;
      e.memo = "loss ratio " + percent_half_up(b.figures.claims, b.figures.earned_premium()) +
               " (" + std::string(loss_band_name(b.outcome.band)) + ")";
      if (d_short != 0 && plan.fund.surplus == SurplusRule::kCarryOver) {
        const std::string next = std::to_string(year + 1);
        e.add(b.product, b.region, year, account::kCarryOverOut, next, d_short);
        e.add(b.product, b.region, year, account::kBank, "", -d_short);
        e.add(b.product, b.region, year + 1, account::kBank, "", d_short);
        e.add(b.product, b.region, year + 1, account::kCarryOverIn, std::to_string(year), -d_short);
      } else if (d_short != 0) {
        e.add(b.product, b.region, year, account::kSurplusReturned, "", d_short);
        e.add(b.product, b.region, year, account::kSurplusPayable, "payers", -d_short);
      }
      e.add(b.product, b.region, year, account::kLossShareReceivable, "government", d_gov);
      e.add(b.product, b.region, year, account::kLossShareIncome, "government", -d_gov);
      b.key = e.key;
      batch.add(std::move(e));
    }
    out->books.push_back(std::move(b));
  }
  if (Status s = batch.write(db, o.actor, store::utc_timestamp_now()); !s.ok()) return s;
  return tx.commit();
}

std::string YearEndReport::to_text() const {
  std::ostringstream o;
  o << "book                                  earned premium          claims  loss ratio  band"
       "            shortfall  gov. share  posted now\n";
  char buf[320];
  for (const YearEndBook& b : books) {
    const std::string name = b.product + "/" + b.region + "/" + std::to_string(b.year);
    std::snprintf(
        buf, sizeof buf, "%-36s %15s %15s %11s  %-13s %11s %11s  %s\n", name.c_str(),
        fen_to_string(b.figures.earned_premium()).c_str(), fen_to_string(b.figures.claims).c_str(),
        percent_half_up(b.figures.claims, b.figures.earned_premium()).c_str(),
        std::string(loss_band_name(b.outcome.band)).c_str(),
        fen_to_string(b.outcome.shortfall).c_str(),
        fen_to_string(b.outcome.government_share).c_str(), b.key.empty() ? "-" : b.key.c_str());
    o << buf;
  }
  return o.str();
}

Status check_books(Db& db, BooksCheck* out) {
  Tx tx(db, store::TxMode::kRead);
  if (!tx.ok()) return tx.status();
  if (Status s = check_journal(db, out); !s.ok()) return s;
  return tx.commit();
}

Status check_journal(Db& db, BooksCheck* out) {
  *out = BooksCheck{};
  Status q = query_rows(
      db, "SELECT (SELECT count(*) FROM journal_entries), (SELECT count(*) FROM journal_lines)", {},
      [&](Stmt& s) {
        out->entries = s.column_int64(0);
        out->lines = s.column_int64(1);
      });
  if (!q.ok()) return q;
  // Each entry's lines by book; the few that do not balance are named by key.
  std::vector<std::pair<std::string, std::string>> bad;  // entry id, what
  q = grouped_sums(
      db, "", {"entry_id", "product", "region", "year"}, {"debit_fen - credit_fen"},
      "FROM journal_lines", {},
      [&](const std::vector<std::string_view>& k, const int64_t* v) {
        bad.emplace_back(std::string(k[0]), " in " + std::string(k[1]) + "/" + std::string(k[2]) +
                                                "/" + std::string(k[3]) +
                                                ": debits - credits = " + fen_to_string(v[0]));
      },
      true);
  if (!q.ok()) return q;
  for (const auto& [id, what] : bad) {
    q = query_rows(db, "SELECT business_key FROM journal_entries WHERE id = ?",
                   {int64_t(std::atoll(id.c_str()))}, [&](Stmt& s) {
                     out->unbalanced.push_back(std::string(s.column_text(0)) + what);
                   });
    if (!q.ok()) return q;
  }
  q = query_rows(db,
                 "SELECT e.business_key FROM journal_entries e WHERE NOT EXISTS (SELECT 1 FROM "
                 "journal_lines l WHERE l.entry_id = e.id) ORDER BY 1",
                 {}, [&](Stmt& s) {
                   out->unbalanced.push_back(std::string(s.column_text(0)) + " has no lines");
                 });
  if (!q.ok()) return q;
  q = grouped_sums(db, "", {"product", "region", "year", "counterparty"},
                   {"debit_fen - credit_fen"},
                   "FROM journal_lines WHERE account = 'claims_payable'", {},
                   [&](const std::vector<std::string_view>& k, const int64_t* v) {
                     if (v[0] <= 0) return;
                     out->overpaid.push_back(std::string(k[0]) + "/" + std::string(k[1]) + "/" +
                                             std::string(k[2]) + " " + std::string(k[3]) +
                                             ": paid " + fen_to_string(v[0]) + " more than owed");
                   });
  return q;
}

std::string BooksCheck::to_text() const {
  std::ostringstream o;
  o << "journal      " << entries << " entries, " << lines << " lines\n";
  o << "balanced     " << (unbalanced.empty() ? "every entry, in every book it touches" : "NO")
    << "\n";
  for (const std::string& u : unbalanced) o << "  " << u << "\n";
  o << "payables     " << (overpaid.empty() ? "no book paid more than it owed" : "OVERPAID")
    << "\n";
  for (const std::string& u : overpaid) o << "  " << u << "\n";
  return o.str();
}

}  // namespace huibao::books
