// Person show: everything the store keeps about one person, read in one
// transaction that also writes the audit row ('person.show'). Resident ids
// (the person's and related persons') and names are masked unless asked.
#include <algorithm>
#include <tuple>

#include <nlohmann/json.hpp>

#include "core/resident_id.h"
#include "service/audit.h"
#include "service/roll_service.h"
#include "service/settle_service.h"

namespace huibao {
namespace {

using store::Db;
using store::Stmt;

std::string masked_id(std::string_view id, bool unmasked) {
  if (unmasked || id.size() != 18) return std::string(id);
  char out[18];
  mask_resident_id(id, out);
  return std::string(out, 18);
}

// Runs a query bound by bind(stmt) and calls row(stmt) per result row.
template <typename Bind, typename Row>
Status query(Db& db, std::string_view sql, Bind bind, Row row) {
  Result<Stmt*> st = db.prepare(sql);
  if (!st.ok()) return st.status();
  bind(**st);
  return store::for_each_row(**st, row);
}

std::string text(Stmt& s, int c) {
  return std::string(s.column_text(c));
}

Status read_person(Db& db, std::string_view psn, const PersonShowOptions& o, PersonView* v,
                   bool* found) {
  auto by_psn = [&](Stmt& s) { s.bind_text(1, psn); };
  const bool un = o.unmasked;
  auto name = [&](std::string_view n) { return un ? std::string(n) : mask_name(n); };
  *found = false;
  Status s = query(db,
                   "SELECT psn_name, gend, brdy, admdvs, insutype, preexisting, status, seq, "
                   "updated_at FROM persons WHERE psn_no = ?",
                   by_psn, [&](Stmt& r) {
                     *found = true;
                     v->psn_name = name(r.column_text(0));
                     v->gend = text(r, 1);
                     v->brdy = text(r, 2);
                     v->admdvs = text(r, 3);
                     v->insutype = text(r, 4);
                     v->preexisting = r.column_int64(5) != 0;
                     v->status = text(r, 6);
                     v->seq = r.column_int64(7);
                     v->updated_at = text(r, 8);
                   });
  if (!s.ok() || !*found) return s;
  s = query(db,
            "SELECT seq, valid_from, valid_to, psn_name, gend, brdy, admdvs, insutype, "
            "preexisting, status, change, actor, recorded_at FROM person_history "
            "WHERE psn_no = ? ORDER BY seq",
            by_psn, [&](Stmt& r) {
              PersonView::HistoryRow h;
              h.seq = r.column_int64(0);
              h.valid_from = text(r, 1);
              h.valid_to = text(r, 2);
              h.psn_name = name(r.column_text(3));
              h.gend = text(r, 4);
              h.brdy = text(r, 5);
              h.admdvs = text(r, 6);
              h.insutype = text(r, 7);
              h.preexisting = r.column_int64(8) != 0;
              h.status = text(r, 9);
              h.change = text(r, 10);
              h.actor = text(r, 11);
              h.recorded_at = text(r, 12);
              v->history.push_back(std::move(h));
            });
  if (!s.ok()) return s;
  s = query(db,
            "SELECT category, from_date, to_date FROM person_categories WHERE psn_no = ? "
            "ORDER BY category, from_date",
            by_psn, [&](Stmt& r) {
              v->categories.push_back({text(r, 0), text(r, 1), text(r, 2)});
            });
  if (!s.ok()) return s;
  // A row (a, b, r) says b is a's r: seen from b, a is b's inverse of r.
  s = query(
      db,
      "SELECT r.rel_psn_no, r.relation, p.psn_name FROM relations r "
      "LEFT JOIN persons p ON p.psn_no = r.rel_psn_no WHERE r.psn_no = ? "
      "UNION ALL SELECT r.psn_no, CASE r.relation WHEN 'parent' THEN 'child' "
      "WHEN 'child' THEN 'parent' ELSE r.relation END, p.psn_name FROM relations r "
      "LEFT JOIN persons p ON p.psn_no = r.psn_no WHERE r.rel_psn_no = ? ORDER BY 1, 2",
      [&](Stmt& st) {
        st.bind_text(1, psn);
        st.bind_text(2, psn);
      },
      [&](Stmt& r) {
        PersonView::RelationRow x{masked_id(r.column_text(0), un), text(r, 1),
                                  name(r.column_text(2))};
        // Stored both ways round, a relation shows once.
        if (v->relations.empty() || v->relations.back().psn_no != x.psn_no ||
            v->relations.back().relation != x.relation)
          v->relations.push_back(std::move(x));
      });
  if (!s.ok()) return s;
  s = query(db, "SELECT balance_fen FROM accounts WHERE psn_no = ?", by_psn, [&](Stmt& r) {
    v->has_account = true;
    v->balance_fen = r.column_int64(0);
  });
  if (!s.ok()) return s;
  s = query(
      db,
      "SELECT id, kind, amount_fen, balance_after_fen, ref, detail, recorded_at FROM "
      "account_moves WHERE psn_no = ? ORDER BY id DESC LIMIT ?",
      [&](Stmt& st) {
        st.bind_text(1, psn);
        st.bind_int64(2, int64_t(o.account_moves_max));
      },
      [&](Stmt& r) {
        v->account_moves.push_back({r.column_int64(0), text(r, 1), r.column_int64(2),
                                    r.column_int64(3), text(r, 4), text(r, 5), text(r, 6)});
      });
  if (!s.ok()) return s;
  s = query(db,
            "SELECT id, plan_id, product, begin_date, end_date, status, source, prior_years, "
            "renewal_consent FROM enrollments WHERE psn_no = ? ORDER BY plan_id, begin_date, id",
            by_psn, [&](Stmt& r) {
              PersonView::EnrollmentRow e;
              e.id = r.column_int64(0);
              e.plan_id = text(r, 1);
              e.product = text(r, 2);
              e.begin_date = text(r, 3);
              e.end_date = text(r, 4);
              e.status = text(r, 5);
              e.source = text(r, 6);
              e.prior_years = r.column_int64(7);
              e.renewal_consent = r.column_int64(8) != 0;
              v->enrollments.push_back(std::move(e));
            });
  if (!s.ok()) return s;
  for (PersonView::EnrollmentRow& e : v->enrollments) {
    s = query(
        db,
        "SELECT payer_kind, payer_ref, amount_fen FROM enrollment_payers WHERE enrollment_id = ? "
        "ORDER BY payer_kind, payer_ref",
        [&](Stmt& st) { st.bind_int64(1, e.id); },
        [&](Stmt& r) {
          // A personal account is named by its holder's resident id.
          std::string ref = text(r, 1);
          if (r.column_text(0) == "personal_account") ref = masked_id(ref, un);
          e.payers.push_back({text(r, 0), std::move(ref), r.column_int64(2)});
        });
    if (!s.ok()) return s;
  }
  // The person's settlements are the ones their year states list
  // (accumulators.setl_ids; settlements have no index by person).
  std::vector<std::string> ids, year_ids;
  Status listed;
  s = query(db,
            "SELECT plan_id, year, state, settlements, updated_at, setl_ids FROM accumulators "
            "WHERE psn_no = ? ORDER BY plan_id, year",
            by_psn, [&](Stmt& r) {
              v->accumulators.push_back(
                  {text(r, 0), r.column_int64(1), text(r, 2), r.column_int64(3), text(r, 4)});
              if (Status p = parse_setl_ids(r.column_text(5), &year_ids); !p.ok()) {
                listed = p;
                return;
              }
              ids.insert(ids.end(), year_ids.begin(), year_ids.end());
            });
  if (!s.ok()) return s;
  if (!listed.ok()) return listed;
  v->settlement_count = int64_t(ids.size());
  if (o.settlements_max == 0) return Status::Ok();
  for (const std::string& id : ids) {
    s = query(
        db,
        "SELECT setl_id, kind, ref_setl_id, plan_id, plan_year, claim_kind, med_type, "
        "admission_date, discharge_date, medfee_sumamt, inscp_scp_amt, fund_pay_sumamt, "
        "hosp_part_amt, psn_part_amt, created_at FROM settlements WHERE setl_id = ?",
        [&](Stmt& st) { st.bind_text(1, id); },
        [&](Stmt& r) {
          PersonView::SettlementRow x;
          x.setl_id = text(r, 0);
          x.kind = text(r, 1);
          x.ref_setl_id = text(r, 2);
          x.plan_id = text(r, 3);
          x.plan_year = r.column_int64(4);
          x.claim_kind = text(r, 5);
          x.med_type = text(r, 6);
          x.admission_date = text(r, 7);
          x.discharge_date = text(r, 8);
          x.medfee_sumamt = r.column_int64(9);
          x.inscp_scp_amt = r.column_int64(10);
          x.fund_pay_sumamt = r.column_int64(11);
          x.hosp_part_amt = r.column_int64(12);
          x.psn_part_amt = r.column_int64(13);
          x.created_at = text(r, 14);
          v->settlements.push_back(std::move(x));
        });
    if (!s.ok()) return s;
  }
  // Most recent first: by admission, then when stored, then id.
  auto& rows = v->settlements;
  const size_t keep = std::min(rows.size(), o.settlements_max);
  std::partial_sort(rows.begin(), rows.begin() + ptrdiff_t(keep), rows.end(),
                    [](const PersonView::SettlementRow& a, const PersonView::SettlementRow& b) {
                      return std::tie(a.admission_date, a.created_at, a.setl_id) >
                             std::tie(b.admission_date, b.created_at, b.setl_id);
                    });
  rows.resize(keep);
  return Status::Ok();
}

}  // namespace

Status show_person(Db& db, std::string_view psn_no, const PersonShowOptions& o, PersonView* v) {
  *v = PersonView{};
  v->masked = !o.unmasked;
  v->psn_no = masked_id(psn_no, o.unmasked);
  // The audit row is written in the same transaction as the reads, for
  // every request, found or not.
  store::Tx tx(db, store::TxMode::kWrite);
  if (!tx.ok()) return tx.status();
  bool found = false;
  if (Status s = read_person(db, psn_no, o, v, &found); !s.ok()) return s;
  nlohmann::json detail = {{"masked", !o.unmasked}, {"found", found}};
  if (Status s =
          append_audit(db, o.actor, "person.show", psn_no,
                       detail.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      !s.ok())
    return s;
  if (Status s = tx.commit(); !s.ok()) return s;
  if (!found) {
    return Status(Code::kUnknownPerson,
                  "no person '" + masked_id(psn_no, o.unmasked) + "' in the store");
  }
  return Status::Ok();
}

std::string PersonView::to_json() const {
  using J = nlohmann::ordered_json;
  auto yuan = [](Fen f) { return fen_to_string(f); };
  J j;
  j["psn_no"] = psn_no;
  j["masked"] = masked;
  j["psn_name"] = psn_name;
  j["gend"] = gend;
  j["brdy"] = brdy;
  j["admdvs"] = admdvs;
  j["insutype"] = insutype;
  j["preexisting"] = preexisting;
  j["status"] = status;
  j["seq"] = seq;
  j["updated_at"] = updated_at;
  J& hist = j["history"] = J::array();
  for (const HistoryRow& h : history) {
    hist.push_back({{"seq", h.seq},
                    {"valid_from", h.valid_from},
                    {"valid_to", h.valid_to.empty() ? J() : J(h.valid_to)},
                    {"psn_name", h.psn_name},
                    {"gend", h.gend},
                    {"brdy", h.brdy},
                    {"admdvs", h.admdvs},
                    {"insutype", h.insutype},
                    {"preexisting", h.preexisting},
                    {"status", h.status},
                    {"change", h.change},
                    {"actor", h.actor},
                    {"recorded_at", h.recorded_at}});
  }
  J& cats = j["categories"] = J::array();
  for (const CategoryRow& c : categories) {
    cats.push_back({{"category", c.category},
                    {"from_date", c.from_date},
                    {"to_date", c.to_date.empty() ? J() : J(c.to_date)}});
  }
  J& rel = j["relations"] = J::array();
  for (const RelationRow& r : relations)
    rel.push_back({{"psn_no", r.psn_no}, {"relation", r.relation}, {"psn_name", r.psn_name}});
  if (has_account) {
    J acct = {{"balance", yuan(balance_fen)}};
    J& moves = acct["moves"] = J::array();
    for (const AccountMove& m : account_moves) {
      moves.push_back({{"id", m.id},
                       {"kind", m.kind},
                       {"amount", yuan(m.amount_fen)},
                       {"balance_after", yuan(m.balance_after_fen)},
                       {"ref", m.ref},
                       {"detail", m.detail},
                       {"recorded_at", m.recorded_at}});
    }
    j["account"] = std::move(acct);
  } else {
    j["account"] = nullptr;
  }
  J& enr = j["enrollments"] = J::array();
  for (const EnrollmentRow& e : enrollments) {
    J payers = J::array();
    for (const Payer& p : e.payers)
      payers.push_back({{"kind", p.kind}, {"ref", p.ref}, {"amount", yuan(p.amount_fen)}});
    enr.push_back({{"id", e.id},
                   {"plan_id", e.plan_id},
                   {"product", e.product},
                   {"begin", e.begin_date},
                   {"end", e.end_date},
                   {"status", e.status},
                   {"source", e.source},
                   {"prior_years", e.prior_years},
                   {"renewal_consent", e.renewal_consent},
                   {"payers", std::move(payers)}});
  }
  J& acc = j["accumulators"] = J::array();
  for (const AccumulatorRow& a : accumulators) {
    J state = J::parse(a.state, nullptr, false);
    acc.push_back({{"plan_id", a.plan_id},
                   {"year", a.year},
                   {"state", state.is_discarded() ? J(a.state) : state},
                   {"settlements", a.settlements},
                   {"updated_at", a.updated_at}});
  }
  j["settlement_count"] = settlement_count;
  J& setl = j["settlements"] = J::array();
  for (const SettlementRow& x : settlements) {
    setl.push_back({{"setl_id", x.setl_id},
                    {"kind", x.kind},
                    {"ref_setl_id", x.ref_setl_id.empty() ? J() : J(x.ref_setl_id)},
                    {"plan_id", x.plan_id},
                    {"plan_year", x.plan_year},
                    {"claim_kind", x.claim_kind},
                    {"med_type", x.med_type},
                    {"admission_date", x.admission_date},
                    {"discharge_date", x.discharge_date},
                    {"medfee_sumamt", yuan(x.medfee_sumamt)},
                    {"inscp_scp_amt", yuan(x.inscp_scp_amt)},
                    {"fund_pay_sumamt", yuan(x.fund_pay_sumamt)},
                    {"hosp_part_amt", yuan(x.hosp_part_amt)},
                    {"psn_part_amt", yuan(x.psn_part_amt)},
                    {"created_at", x.created_at}});
  }
  return j.dump(2, ' ', false, J::error_handler_t::replace) + "\n";
}

std::string PersonView::to_text() const {
  std::string s;
  auto line = [&](const std::string& l) { s += l + "\n"; };
  line("person      " + psn_no + (masked ? " (masked; --unmasked shows it in full)" : ""));
  line("name        " + psn_name + "   gend " + gend + "   brdy " + brdy);
  line("admdvs      " + admdvs + "   insutype " + insutype + "   preexisting " +
       (preexisting ? "1" : "0"));
  line("status      " + status + "   record " + std::to_string(seq) + ", updated " + updated_at);
  line("categories");
  if (categories.empty()) line("  (none)");
  for (const CategoryRow& c : categories) {
    line("  " + c.category + "  from " + c.from_date +
         (c.to_date.empty() ? "" : " to " + c.to_date));
  }
  line("history");
  for (const HistoryRow& h : history) {
    line("  " + std::to_string(h.seq) + "  " + h.valid_from + " .. " +
         (h.valid_to.empty() ? std::string("now       ") : h.valid_to) + "  " + h.status + "  " +
         h.admdvs + " " + h.insutype + "  " + h.change + "  (" + h.actor + ", " + h.recorded_at +
         ")");
  }
  line("relations");
  if (relations.empty()) line("  (none)");
  for (const RelationRow& r : relations)
    line("  " + r.relation + "  " + r.psn_no + "  " + r.psn_name);
  if (has_account) {
    line("account     balance " + fen_to_string(balance_fen));
    for (const AccountMove& m : account_moves) {
      line("  " + m.recorded_at + "  " + m.kind + "  " + fen_to_string(m.amount_fen) + " -> " +
           fen_to_string(m.balance_after_fen) + (m.detail.empty() ? "" : "  " + m.detail));
    }
  } else {
    line("account     (none)");
  }
  line("enrolments");
  if (enrollments.empty()) line("  (none)");
  for (const EnrollmentRow& e : enrollments) {
    std::string payers;
    for (const Payer& p : e.payers) {
      if (!payers.empty()) payers += ", ";
      payers += p.kind + (p.ref.empty() ? "" : " " + p.ref) + " " + fen_to_string(p.amount_fen);
    }
    line("  " + e.plan_id + "/" + e.product + "  " + e.begin_date + " .. " + e.end_date + "  " +
         e.status + " (" + e.source + ")  prior years " + std::to_string(e.prior_years) +
         (payers.empty() ? "" : "  paid by " + payers));
  }
  line("accumulators");
  if (accumulators.empty()) line("  (none)");
  for (const AccumulatorRow& a : accumulators) {
    line("  " + a.plan_id + " " + std::to_string(a.year) + "  " + std::to_string(a.settlements) +
         " settlement(s)  " + a.state);
  }
  line("settlements (" + std::to_string(settlement_count) + ")" +
       (int64_t(settlements.size()) < settlement_count
            ? " the latest " + std::to_string(settlements.size())
            : ""));
  for (const SettlementRow& x : settlements) {
    line("  " + x.setl_id + "  " + x.kind + (x.ref_setl_id.empty() ? "" : " of " + x.ref_setl_id) +
         "  " + x.plan_id + " " + std::to_string(x.plan_year) + "  " + x.claim_kind + " " +
         x.med_type + "  " + x.admission_date + ".." + x.discharge_date + "  total " +
         fen_to_string(x.medfee_sumamt) + "  fund " + fen_to_string(x.fund_pay_sumamt) +
         "  hospital " + fen_to_string(x.hosp_part_amt) + "  person " +
         fen_to_string(x.psn_part_amt));
  }
  return s;
}

}  // namespace huibao
