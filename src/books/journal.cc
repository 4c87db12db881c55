#include "books/journal.h"

#include <cstdio>
#include <map>
#include <tuple>

#include "books/accounts.h"
#include "books/region.h"

namespace huibao::books {

using store::Db;
using store::Rows;
using store::Stmt;

void Entry::add(std::string_view product, std::string_view region, int year,
                std::string_view account, std::string_view counterparty, Fen amount) {
  if (amount == 0) return;
  Line l{std::string(product),
         std::string(region),
         year,
         std::string(account),
         std::string(counterparty),
         0,
         0};
  (amount > 0 ? l.debit : l.credit) = amount > 0 ? amount : sub_checked(0, amount);
  lines.push_back(std::move(l));
}

bool Entry::same_content(const Entry& o) const {
  return std::tie(kind, plan_id, date, source, memo, lines) ==
         std::tie(o.kind, o.plan_id, o.date, o.source, o.memo, o.lines);
}

std::string entry_problem(const Entry& e) {
  if (e.key.empty()) return "an entry needs a business key";
  if (e.lines.empty()) return "entry '" + e.key + "' has no lines";
  std::map<std::tuple<std::string_view, std::string_view, int>, Fen> net;  // by book
  for (const Line& l : e.lines) {
    if (!valid_account(l.account))
      return "entry '" + e.key + "': '" + l.account + "' is not an account of the chart";
    if (!is_city_code(l.region))
      return "entry '" + e.key + "': region '" + l.region + "' is not a city code";
    if (l.product.empty()) return "entry '" + e.key + "': a line without a product";
    if ((l.debit > 0) == (l.credit > 0) || l.debit < 0 || l.credit < 0)
      return "entry '" + e.key + "': a line must have exactly one positive side";
    Fen& n = net[{l.product, l.region, l.year}];
    n = sub_checked(add_checked(n, l.debit), l.credit);
  }
  for (const auto& [book, n] : net) {
    if (n != 0)
      return "entry '" + e.key + "' does not balance in book " + std::string(std::get<0>(book)) +
             "/" + std::string(std::get<1>(book)) + "/" + std::to_string(std::get<2>(book)) +
             " (debits - credits = " + fen_to_string(n) + ")";
  }
  return "";
}

std::string_view post_outcome_name(PostOutcome o) {
  switch (o) {
    case PostOutcome::kCreated:
      return "created";
    case PostOutcome::kExists:
      return "exists";
    case PostOutcome::kConflict:
      return "conflict";
  }
  return "";
}

Status lock_journal(Db& db) {
  if (db.dialect().engine != store::Engine::kPostgres) return Status::Ok();
  return db.exec("LOCK TABLE journal_entries IN SHARE ROW EXCLUSIVE MODE");
}

Result<bool> read_entry(Db& db, std::string_view key, Entry* out) {
  int64_t id = 0;
  {
    Result<Stmt*> st = db.prepare(
        "SELECT id, kind, COALESCE(plan_id, ''), entry_date, source, memo FROM journal_entries "
        "WHERE business_key = ?");
    if (!st.ok()) return st.status();
    (*st)->bind_text(1, key);
    Result<bool> row = (*st)->step();
    if (!row.ok()) return row.status();
    if (!*row) return false;
    id = (*st)->column_int64(0);
    *out = Entry{};
    out->key = std::string(key);
    out->kind = std::string((*st)->column_text(1));
    out->plan_id = std::string((*st)->column_text(2));
    out->date = std::string((*st)->column_text(3));
    out->source = std::string((*st)->column_text(4));
    out->memo = std::string((*st)->column_text(5));
    (*st)->reset();
  }
  Result<Stmt*> st = db.prepare(
      "SELECT product, region, year, account, counterparty, debit_fen, credit_fen FROM "
      "journal_lines WHERE entry_id = ? ORDER BY line_no");
  if (!st.ok()) return st.status();
  (*st)->bind_int64(1, id);
  for (;;) {
    Result<bool> row = (*st)->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    Stmt& s = **st;
    out->lines.push_back({std::string(s.column_text(0)), std::string(s.column_text(1)),
                          int(s.column_int64(2)), std::string(s.column_text(3)),
                          std::string(s.column_text(4)), s.column_int64(5), s.column_int64(6)});
  }
  return true;
}

Result<PostOutcome> post_entry(Db& db, const Entry& e, std::string_view actor,
                               std::string_view now) {
  const std::string problem = entry_problem(e);
  if (!problem.empty()) {
    std::fprintf(stderr, "huibao: %s\n", problem.c_str());
    HB_ASSERT(problem.empty());
  }
  Entry stored;
  Result<bool> found = read_entry(db, e.key, &stored);
  if (!found.ok()) return found.status();
  if (*found) return stored.same_content(e) ? PostOutcome::kExists : PostOutcome::kConflict;
  JournalBatch batch;
  batch.add(e);
  if (Status s = batch.write(db, actor, now); !s.ok()) return s;
  return PostOutcome::kCreated;
}

void JournalBatch::add(Entry e) {
  HB_ASSERT(entry_problem(e).empty());
  entries_.push_back(std::move(e));
}

Status JournalBatch::write(Db& db, std::string_view actor, std::string_view now) {
  if (entries_.empty()) return Status::Ok();
  static constexpr std::string_view kEntryCols[] = {"id",      "business_key", "kind",
                                                    "plan_id", "entry_date",   "source",
                                                    "memo",    "actor",        "recorded_at"};
  static constexpr std::string_view kLineCols[] = {"entry_id",     "line_no",   "product",
                                                   "region",       "year",      "account",
                                                   "counterparty", "debit_fen", "credit_fen"};
  Result<int64_t> first = store::allocate_ids(db, "journal_entries", int64_t(entries_.size()));
  if (!first.ok()) return first.status();
  Rows er(int(std::size(kEntryCols))), lr(int(std::size(kLineCols)));
  int64_t id = *first;
  for (const Entry& e : entries_) {
    er.add_int64(id);
    er.add_text(e.key);
    er.add_text(e.kind);
    if (e.plan_id.empty()) {
      er.add_null();
    } else {
      er.add_text(e.plan_id);
    }
    er.add_text(e.date);
    er.add_text(e.source);
    er.add_text(e.memo);
    er.add_text(actor);
    er.add_text(now);
    int64_t no = 0;
    for (const Line& l : e.lines) {
      lr.add_int64(id);
      lr.add_int64(++no);
      lr.add_text(l.product);
      lr.add_text(l.region);
      lr.add_int64(l.year);
      lr.add_text(l.account);
      lr.add_text(l.counterparty);
      lr.add_int64(l.debit);
      lr.add_int64(l.credit);
    }
    ++id;
  }
  if (Status s = db.insert_rows({"journal_entries", kEntryCols, ""}, er); !s.ok()) return s;
  if (Status s = db.insert_rows({"journal_lines", kLineCols, ""}, lr); !s.ok()) return s;
  entries_.clear();
  return Status::Ok();
}

}  // namespace huibao::books
