// The books' explicit entries and derived balances (`huibao books ...`):
// operating cost and platform fees, premium transfers between products where
// the plan allows them, carry-over of a surplus into next year's premium
// subsidy, payments of claims payable, reversal of an explicit entry, the
// year-end settlement from the plan's [fund] rules, and the balances and
// checks. Each call is one write transaction (balances and checks: one read
// transaction); entries are idempotent by their business key: the same
// request again answers `exists`, a different one under a used key is
// refused (key_conflict) and writes nothing.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "books/journal.h"
#include "books/rules.h"
#include "core/error.h"
#include "core/money.h"
#include "policy/plan.h"
#include "store/db.h"

namespace huibao::books {

// Why a books command was refused. Names (refusal_name) are stable data.
enum class Refusal : uint8_t {
  kNone = 0,
  kKeyConflict,          // key_conflict: the key holds a different entry
  kUnknownProduct,       // unknown_product: no stored plan of the year has it for the city
  kInvalidRegion,        // invalid_region: not a city code 'NNNN00'
  kInvalidAmount,        // invalid_amount: not positive
  kInvalidDate,          // invalid_date
  kTransfersNotAllowed,  // transfers_not_allowed: the plan's [fund] does not allow them
  kExceedsPremium,       // exceeds_premium: more than the book's premium to transfer
  kUnknownEntry,         // unknown_entry
  kNotReversible,        // not_reversible: posted from facts, or itself a reversal
  kNoFundRules,          // no_fund_rules: the plan has no [fund] table
  kMissingKey,           // missing_key: an explicit entry needs its business key
};
std::string_view refusal_name(Refusal r);

struct Receipt {
  Refusal refusal = Refusal::kNone;
  std::string message;  // what to fix, when refused
  PostOutcome outcome = PostOutcome::kCreated;
  Entry entry;
};

// ---- balances ----

struct BalanceFilter {
  int year = 0;                 // 0: every year
  std::string product, region;  // "": every one
};

struct BalanceRow {
  std::string product, region;
  int year = 0;
  std::string account;
  Fen debit = 0, credit = 0;
  Fen balance() const;  // on the account's normal side
};

// Sums of every account of every book the filter selects, by book and account.
Status book_balances(store::Db& db, const BalanceFilter& filter, std::vector<BalanceRow>* out);
// A book's figures from its balance rows (rows of other books ignored).
BookFigures figures_of(const std::vector<BalanceRow>& rows, std::string_view product,
                       std::string_view region, int year);

// ---- explicit entries ----

struct CostRequest {
  std::string_view kind;  // kind::kOperatingCost or kind::kPlatformFee
  std::string product, region;
  int year = 0;
  Fen amount = 0;
  std::string date, key, memo, counterparty, actor;
};
// Debits operating_expense or platform_fee, credits bank.
Status record_cost(store::Db& db, const CostRequest& r, Receipt* out);

struct TransferRequest {
  std::string from_product, to_product, region;
  Fen amount = 0;
  std::string date, key, memo, actor;
};
// Moves premium between two products of the plan, in its year, where
// [fund] premium_transfers allows it, up to what the source book earned.
Status transfer_premium(store::Db& db, const Plan& plan, const TransferRequest& r, Receipt* out);

struct CarryOverRequest {
  std::string product, region;
  int from_year = 0;  // the surplus's year; it subsidises from_year + 1
  Fen amount = 0;
  std::string date, key, memo, actor;
};
// from_year's book: carry_over_out against bank; the next year's: bank
// against carry_over_in (premium subsidy).
Status carry_over(store::Db& db, const CarryOverRequest& r, Receipt* out);

// A new entry 'reversal:<key>' that takes back an explicit entry (cost,
// platform fee, transfer, carry-over, payment), line by line.
Status reverse_entry(store::Db& db, std::string_view key, std::string_view date,
                     std::string_view memo, std::string_view actor, Receipt* out);

// ---- payments ----

struct PayRequest {
  std::string run;  // the payment run; entry keys are payment:<run>:<book>:<counterparty>
  std::string date;
  int year = 0;                               // 0: every year
  std::string product, region, counterparty;  // "": every one
  std::string actor;
};

struct PayReport {
  int64_t created = 0, existing = 0;
  Fen paid_fen = 0;
  std::string to_text() const;
};

// Pays every positive claims_payable balance (by book and counterparty) the
// request selects: claims_payable against bank. A rerun of the same run pays
// only books and counterparties it has not paid.
Status pay_claims(store::Db& db, const PayRequest& r, PayReport* out);

// ---- year end ----

struct YearEndOptions {
  std::string region;  // "": every city with a book of the plan's products
  std::string date;    // the entries' day (default: the plan's last day)
  std::string actor;
};

struct YearEndBook {
  std::string product, region;
  int year = 0;
  BookFigures figures;
  YearEndOutcome outcome;
  Fen shortfall_posted = 0, government_posted = 0;  // by earlier year-end runs
  std::string key;                                  // the entry posted now, if any
};

struct YearEndReport {
  Refusal refusal = Refusal::kNone;
  std::string message;
  std::vector<YearEndBook> books;
  std::string to_text() const;
};

// The year-end settlement of the plan's products for its year: for each
// book, the loss ratio against the plan's [fund] rules; below the floor the
// shortfall is carried into next year's book (carry_over_out / carry_over_in)
// or owed back (surplus_returned / surplus_payable); above the ceiling the
// government's share of the excess loss is receivable (loss_share_receivable /
// loss_share_income). What earlier runs posted is subtracted: a rerun posts
// only the difference (a new entry year_end:<product>:<region>:<year>:<n>),
// nothing when nothing changed.
Status year_end(store::Db& db, const Plan& plan, const YearEndOptions& o, YearEndReport* out);

// ---- checks ----

struct BooksCheck {
  int64_t entries = 0, lines = 0;
  // Entries whose lines do not balance within a book, or that have none.
  std::vector<std::string> unbalanced;
  // Books and counterparties paid more than they were owed.
  std::vector<std::string> overpaid;
  bool ok() const { return unbalanced.empty() && overpaid.empty(); }
  std::string to_text() const;
};

// In its own read transaction; check_journal inside the caller's.
Status check_books(store::Db& db, BooksCheck* out);
Status check_journal(store::Db& db, BooksCheck* out);

}  // namespace huibao::books
