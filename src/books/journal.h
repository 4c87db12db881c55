// The journal: append-only entries, each a set of lines whose debits equal
// its credits within every book (product, region, plan year) it touches.
// Nothing is ever updated or deleted; a correction is a new entry. Every
// entry has a business key ('premium:<id>', 'settle:<setl_id>', the key an
// explicit entry is given), so posting it again answers `exists` and a
// different entry under a used key answers `conflict`, writing nothing.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/money.h"
#include "store/db.h"

namespace huibao::books {

struct Line {
  std::string product;
  std::string region;  // city code 'NNNN00'
  int year = 0;
  std::string account;        // accounts.h
  std::string counterparty;   // a hospital (fixmedins_code), a fund; "" for none
  Fen debit = 0, credit = 0;  // exactly one positive
  friend bool operator==(const Line&, const Line&) = default;
};

// Entry kinds (journal_entries.kind).
namespace kind {
inline constexpr std::string_view kPremium = "premium";  // posted from premiums
inline constexpr std::string_view kClaim = "claim";      // posted from settlements
inline constexpr std::string_view kPayment = "payment";  // claims paid out
inline constexpr std::string_view kOperatingCost = "operating_cost";
inline constexpr std::string_view kPlatformFee = "platform_fee";
inline constexpr std::string_view kTransfer = "transfer";
inline constexpr std::string_view kCarryOver = "carry_over";
inline constexpr std::string_view kYearEnd = "year_end";
inline constexpr std::string_view kReversal = "reversal";  // of an explicit entry
}  // namespace kind

struct Entry {
  std::string key;  // business key, unique
  std::string kind;
  std::string plan_id;  // the plan whose facts or rules it records ("" for none)
  std::string date;     // the business day, YYYY-MM-DD
  std::string source;   // what it records: premium id, setl_id, the reversed key
  std::string memo;
  std::vector<Line> lines;

  // Appends a line: amount > 0 a debit, < 0 a credit of -amount, 0 nothing.
  void add(std::string_view product, std::string_view region, int year, std::string_view account,
           std::string_view counterparty, Fen amount);
  bool same_content(const Entry& o) const;  // all but the key
};

// "" when every line is valid (a known account, one side positive, a city
// region) and the lines balance within each book; otherwise what is wrong.
std::string entry_problem(const Entry& e);

enum class PostOutcome : uint8_t { kCreated, kExists, kConflict };
std::string_view post_outcome_name(PostOutcome o);

// Serialises journal writers: PostgreSQL locks journal_entries (SHARE ROW
// EXCLUSIVE) for the transaction; SQLite's write transaction holds the
// database already. Call first in every write transaction that posts.
Status lock_journal(store::Db& db);

// Posts one entry inside the caller's write transaction: kCreated, or
// kExists when the key holds the same entry, kConflict when it holds another
// (nothing written). An invalid entry is a programmer error (asserted).
Result<PostOutcome> post_entry(store::Db& db, const Entry& e, std::string_view actor,
                               std::string_view now);

// The entry stored under key, if any.
Result<bool> read_entry(store::Db& db, std::string_view key, Entry* out);

// Entries whose keys are known to be new, written in bulk (insert_rows)
// inside the caller's write transaction.
class JournalBatch {
 public:
  void add(Entry e);
  size_t size() const { return entries_.size(); }
  Status write(store::Db& db, std::string_view actor, std::string_view now);

 private:
  std::vector<Entry> entries_;
};

}  // namespace huibao::books
