#include "service/roll_load.h"

#include <charconv>
#include <string>
#include <unordered_map>

#include "core/category.h"

namespace huibao {
namespace {

using store::Db;
using store::Stmt;

// Reads are paged by primary key: PostgreSQL hands a query's whole result
// over at once, and a province's roll has millions of rows.
constexpr int64_t kPageRows = 50'000;

Status bad_row(std::string_view table, std::string_view key, std::string_view what) {
  return Status(Code::kStoreError, "stored " + std::string(table) + " row '" + std::string(key) +
                                       "': " + std::string(what));
}

bool to_int(std::string_view s, int64_t* out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

Status load_roll(Db& db, const Plan& plan, Roll* out, std::string_view only_psn) {
  // One person, or all: the same statements with one more condition.
  const std::string who = only_psn.empty() ? "" : " AND psn_no = ?";
  Roll roll;
  // Categories first, by person, so each person is complete when added.
  std::unordered_map<std::string, std::vector<PersonCategory>> cats;
  {
    Result<Stmt*> st = db.prepare(
        "SELECT psn_no, category, from_date, to_date FROM person_categories "
        "WHERE (to_date IS NULL OR to_date >= ?) AND from_date <= ?" +
        who + " ORDER BY psn_no, category, from_date");
    if (!st.ok()) return st.status();
    (*st)->bind_text(1, date_to_string(plan.period_begin));
    (*st)->bind_text(2, date_to_string(plan.period_end));
    if (!only_psn.empty()) (*st)->bind_text(3, only_psn);
    for (;;) {
      Result<bool> row = (*st)->step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      std::string_view psn = (*st)->column_text(0);
      PersonCategory c;
      int idx = category_index((*st)->column_text(1));
      if (idx < 0) return bad_row("person_categories", psn, "unknown category");
      c.index = uint8_t(idx);
      c.dated = true;
      if (!parse_date((*st)->column_text(2), &c.from))
        return bad_row("person_categories", psn, "bad from_date");
      if (!(*st)->column_is_null(3) && !parse_date((*st)->column_text(3), &c.until))
        return bad_row("person_categories", psn, "bad to_date");
      auto& v = cats[std::string(psn)];
      if (v.size() == limits::kCategorySpansPerPersonMax)
        return bad_row("person_categories", psn,
                       "more than " + std::to_string(limits::kCategorySpansPerPersonMax) +
                           " category spans in force during the plan year");
      v.push_back(c);
    }
  }
  std::string after;  // paging key
  for (;;) {
    Result<Stmt*> st = db.prepare(
        "SELECT psn_no, psn_name, gend, brdy, admdvs, insutype, preexisting FROM persons "
        "WHERE psn_no > ?" +
        who + " ORDER BY psn_no LIMIT ?");
    if (!st.ok()) return st.status();
    (*st)->bind_text(1, after);
    if (!only_psn.empty()) (*st)->bind_text(2, only_psn);
    (*st)->bind_int64(only_psn.empty() ? 2 : 3, kPageRows);
    int64_t rows = 0;
    for (;; ++rows) {
      Result<bool> row = (*st)->step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      std::string_view psn = (*st)->column_text(0);
      if (psn.size() != 18) return bad_row("persons", psn, "psn_no is not 18 characters");
      Person p;
      std::copy(psn.begin(), psn.end(), p.psn_no.begin());
      p.name = std::string((*st)->column_text(1));
      p.gend = std::string((*st)->column_text(2));
      if (!(*st)->column_is_null(3) && !parse_date((*st)->column_text(3), &p.brdy))
        return bad_row("persons", psn, "bad brdy");
      int64_t admdvs = 0, insutype = 0;
      if (!to_int((*st)->column_text(4), &admdvs) || !to_int((*st)->column_text(5), &insutype))
        return bad_row("persons", psn, "admdvs and insutype must be numeric codes");
      p.admdvs = int32_t(admdvs);
      p.insutype = int(insutype);
      p.preexisting = (*st)->column_int64(6) != 0;
      if (auto it = cats.find(std::string(psn)); it != cats.end()) {
        for (const PersonCategory& c : it->second) p.categories[p.category_count++] = c;
      }
      after.assign(psn);
      if (!roll.add(std::move(p))) return bad_row("persons", psn, "psn_no appears twice");
    }
    if (rows < kPageRows) break;
  }
  {
    Result<Stmt*> st = db.prepare(
        "SELECT psn_no, product, begin_date, end_date, prior_years FROM enrollments "
        "WHERE plan_id = ? AND end_date >= begin_date" +
        who + " ORDER BY psn_no, begin_date");
    if (!st.ok()) return st.status();
    (*st)->bind_text(1, plan.id);
    if (!only_psn.empty()) (*st)->bind_text(2, only_psn);
    for (;;) {
      Result<bool> row = (*st)->step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      std::string_view psn = (*st)->column_text(0);
      int64_t who = roll.find(psn);
      if (who < 0) return bad_row("enrollments", psn, "the person is not on the roll");
      Enrollment e;
      e.person = uint32_t(who);
      int product = plan.find_product((*st)->column_text(1));
      if (product < 0) return bad_row("enrollments", psn, "the product is not in the plan");
      e.product = int16_t(product);
      if (!parse_date((*st)->column_text(2), &e.begin) ||
          !parse_date((*st)->column_text(3), &e.end))
        return bad_row("enrollments", psn, "bad begin_date or end_date");
      e.prior_years = int32_t((*st)->column_int64(4));
      roll.add_enrollment(e);
    }
    roll.finish_enrollments();
  }
  *out = std::move(roll);
  return Status::Ok();
}

}  // namespace huibao
