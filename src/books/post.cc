#include "books/post.h"

#include <simdjson.h>

#include <algorithm>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "books/accounts.h"
#include "books/journal.h"
#include "books/plans.h"
#include "books/region.h"
#include "books/sql.h"
#include "core/date.h"
#include "service/settlement_row.h"
#include "store/migrate.h"

namespace huibao::books {
namespace {

namespace od = simdjson::ondemand;
using store::Db;
using store::Rows;
using store::Stmt;
using store::Tx;

std::string_view trim(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool read_amount(od::value v, Fen* out) {
  od::json_type t;
  if (v.type().get(t)) return false;
  if (t == od::json_type::number)
    return parse_json_number_fen(trim(v.raw_json_token()), out) == AmountSyntax::kOk;
  std::string_view s;
  if (t != od::json_type::string || v.get_string().get(s)) return false;
  return parse_decimal_string_fen(s, out) == AmountSyntax::kOk;
}

int days_between(std::string_view from, std::string_view to) {
  Date a, b;
  if (!parse_date(from, &a) || !parse_date(to, &b)) return 0;
  return b.days - a.days;
}

// The facts of one settlements row, as claim_facts keeps them.
struct Fact {
  std::string setl_id, claim_setl_id, kind, plan_id, claim_kind, region, fixmedins_code;
  int plan_year = 0, plan_version = 0, hosp_lv = 0;
  Fen medfee = 0, fulamt = 0, overlmt = 0, preselfpay = 0, inscp = 0, fund = 0, hosp = 0, psn = 0,
      insurer = 0;
  std::string event_date, settled_date;
  bool has_turnaround = false;
  int turnaround_days = 0;
  std::vector<std::pair<std::string, Fen>> layers;  // the layers that paid
};

class Poster {
 public:
  Poster(Db& db, const PostOptions& o, PostReport* r, const StoredPlans& plans)
      : db_(db), o_(o), r_(r), plans_(plans) {}

  Status premiums() {
    // Nothing to do when every premiums row has its entry (one each, by key).
    int64_t premiums = 0, posted = 0;
    Status c = query_rows(db_,
                          "SELECT (SELECT count(*) FROM premiums), (SELECT count(*) FROM "
                          "journal_entries WHERE kind = 'premium')",
                          {}, [&](Stmt& s) {
                            premiums = s.column_int64(0);
                            posted = s.column_int64(1);
                          });
    if (!c.ok() || premiums == posted) return c;
    int64_t after = 0;
    for (;;) {
      Tx tx(db_);
      if (!tx.ok()) return tx.status();
      if (Status s = lock_journal(db_); !s.ok()) return s;
      const std::string now = store::utc_timestamp_now();
      JournalBatch batch;
      Status bad;
      int64_t rows = 0;
      Status q = query_rows(
          db_,
          "SELECT p.id, p.kind, p.payer_kind, p.payer_ref, p.amount_fen, p.recorded_at, "
          "e.plan_id, e.product, per.admdvs FROM premiums p JOIN enrollments e ON e.id = "
          "p.enrollment_id JOIN persons per ON per.psn_no = e.psn_no WHERE p.id > ? AND NOT "
          "EXISTS (SELECT 1 FROM journal_entries j WHERE j.business_key = 'premium:' || "
          "CAST(p.id AS TEXT)) ORDER BY p.id LIMIT ?",
          {after, o_.page_rows}, [&](Stmt& s) {
            ++rows;
            after = s.column_int64(0);
            if (!bad.ok()) return;
            const StoredPlan* plan = plans_.latest(s.column_text(6));
            PayerKind payer;
            const std::string region = city_of(s.column_text(8));
            if (plan == nullptr || !payer_kind_from_name(s.column_text(2), &payer) ||
                region.empty()) {
              bad = Status(Code::kStoreError,
                           "premium " + std::to_string(after) +
                               " names no stored plan, an unknown payer or a person without a "
                               "city code");
              return;
            }
            const bool charge = s.column_text(1) == "charge";
            const Fen amount = s.column_int64(4);
            const std::string_view ref = s.column_text(3);
            const bool personal = payer == PayerKind::kCash || payer == PayerKind::kPersonalAccount;
            Entry e;
            e.key = "premium:" + std::to_string(after);
            e.kind = kind::kPremium;
            e.plan_id = plan->plan_id;
            e.date = std::string(s.column_text(5).substr(0, 10));
            e.source = std::to_string(after);
            const std::string product(s.column_text(7));
            e.add(product, region, plan->year, account::kBank, "", charge ? amount : -amount);
            e.add(product, region, plan->year, premium_income_account(payer),
                  personal ? std::string_view() : ref, charge ? -amount : amount);
            (charge ? r_->premium_charged_fen : r_->premium_refunded_fen) += amount;
            batch.add(std::move(e));
          });
      if (!q.ok()) return q;
      if (!bad.ok()) return bad;
      if (rows == 0) return tx.commit();
      r_->premiums += int64_t(batch.size());
      if (Status s = batch.write(db_, o_.actor, now); !s.ok()) return s;
      if (Status s = tx.commit(); !s.ok()) return s;
      if (rows < o_.page_rows) return Status::Ok();
    }
  }

  // Settlements first (kind 'settle'), then the reversals and adjustments of
  // posted claims. Pages follow the table's physical order where the engine
  // exposes it: SQLite's rowid (read in setl_id order, a million wide rows come
  // at random, 20 times slower); PostgreSQL pages by setl_id.
  Status settlements() {
    // Nothing to do when every settlements row has its claim_facts row.
    Result<bool> all = all_taken_in();
    if (!all.ok() || *all) return all.status();
    const bool rowid = db_.dialect().engine == store::Engine::kSqlite;
    const std::string key = rowid ? "s.rowid" : "s.setl_id";
    int64_t after_rowid = 0;
    std::string after_id;
    for (;;) {
      Tx tx(db_);
      if (!tx.ok()) return tx.status();
      if (Status s = lock_journal(db_); !s.ok()) return s;
      std::vector<Fact> page;
      Status bad;
      const Param after = rowid ? Param(after_rowid) : Param(std::string_view(after_id));
      Status q = query_rows(
          db_,
          "SELECT " + key +
              ", s.setl_id, s.plan_id, s.plan_version, s.plan_year, s.claim_kind, "
              "COALESCE(s.fixmedins_code, ''), s.admission_date, COALESCE(s.discharge_date, ''), "
              "s.request_json, s.medfee_sumamt, s.inscp_scp_amt, s.fund_pay_sumamt, "
              "s.hosp_part_amt, s.psn_part_amt, s.created_at, per.admdvs, s.layers FROM "
              "settlements s JOIN "
              "persons per ON per.psn_no = s.psn_no WHERE " +
              key +
              " > ? AND s.kind = 'settle' AND NOT EXISTS (SELECT 1 FROM claim_facts f WHERE "
              "f.setl_id = s.setl_id) ORDER BY " +
              key + " LIMIT ?",
          {after, o_.page_rows}, [&](Stmt& s) {
            if (rowid) {
              after_rowid = s.column_int64(0);
            } else {
              after_id = std::string(s.column_text(0));
            }
            Fact f;
            f.setl_id = std::string(s.column_text(1));
            f.claim_setl_id = f.setl_id;
            f.kind = "settle";
            f.plan_id = std::string(s.column_text(2));
            f.plan_version = int(s.column_int64(3));
            f.plan_year = int(s.column_int64(4));
            f.claim_kind = std::string(s.column_text(5));
            f.fixmedins_code = std::string(s.column_text(6));
            const bool accident = f.claim_kind == "accident";
            f.event_date = std::string(accident ? s.column_text(7) : s.column_text(8));
            if (!accident && bad.ok()) {
              ClaimLineExtras x;
              if (!parse_claim_line_extras(s.column_text(9), &x)) {
                bad = Status(Code::kStoreError,
                             "the stored claim line of " + f.setl_id + " lacks its amounts");
              }
              f.fulamt = x.fulamt_ownpay_amt;
              f.overlmt = x.overlmt_selfpay;
              f.preselfpay = x.preselfpay_amt;
              f.hosp_lv = x.hosp_lv;
            }
            f.medfee = s.column_int64(10);
            f.inscp = s.column_int64(11);
            f.fund = s.column_int64(12);
            f.hosp = s.column_int64(13);
            f.psn = s.column_int64(14);
            f.settled_date = std::string(s.column_text(15).substr(0, 10));
            f.has_turnaround = true;
            f.turnaround_days = days_between(f.event_date, f.settled_date);
            f.region = city_of(s.column_text(16));
            if (Status l = take_layers(s.column_text(17), &f); !l.ok() && bad.ok()) bad = l;
            if (f.region.empty() && bad.ok())
              bad = Status(Code::kStoreError,
                           "the person of " + f.setl_id + " has no city code in admdvs");
            page.push_back(std::move(f));
          });
      if (!q.ok()) return q;
      if (!bad.ok()) return bad;
      if (page.empty()) {
        if (Status s = tx.commit(); !s.ok()) return s;
        break;
      }
      if (Status s = write(page); !s.ok()) return s;
      if (Status s = tx.commit(); !s.ok()) return s;
      if (int64_t(page.size()) < o_.page_rows) break;
    }
    return corrections();
  }

 private:
  Result<bool> all_taken_in() {
    bool all = false;
    Status c = query_rows(db_,
                          "SELECT CASE WHEN (SELECT count(*) FROM settlements) = (SELECT "
                          "count(*) FROM claim_facts) THEN 1 ELSE 0 END",
                          {}, [&](Stmt& s) { all = s.column_int64(0) != 0; });
    if (!c.ok()) return c;
    return all;
  }

  // What each layer paid, from a settlements row's layers column (the
  // layers that paid; a zero, which no writer writes, is skipped).
  static Status take_layers(std::string_view column, Fact* f) {
    std::vector<std::pair<std::string, Fen>> paid;
    if (Status s = parse_layers_column(column, &paid); !s.ok()) return s;
    for (auto& [layer, fen] : paid) {
      if (fen != 0) f->layers.emplace_back(std::move(layer), fen);
    }
    return Status::Ok();
  }

  // The layers of a page of corrections, each looked up by key.
  Status read_layers(std::vector<Fact>* page) {
    for (Fact& f : *page) {
      Status bad;
      Status q = query_rows(db_, "SELECT layers FROM settlements WHERE setl_id = ?",
                            {std::string_view(f.setl_id)},
                            [&](Stmt& s) { bad = take_layers(s.column_text(0), &f); });
      if (!q.ok()) return q;
      if (!bad.ok()) return bad;
    }
    return Status::Ok();
  }

  // Reversals and adjustments whose claim is posted, a page at a time (each
  // page posted is no longer selected).
  Status corrections() {
    for (;;) {
      Tx tx(db_);
      if (!tx.ok()) return tx.status();
      if (Status s = lock_journal(db_); !s.ok()) return s;
      std::vector<Fact> page;
      Status q = query_rows(
          db_,
          "SELECT s.setl_id, s.kind, s.plan_id, s.plan_version, s.plan_year, s.claim_kind, "
          "s.medfee_sumamt, s.inscp_scp_amt, s.fund_pay_sumamt, s.hosp_part_amt, "
          "s.psn_part_amt, s.created_at, f.setl_id, f.region, f.fixmedins_code, f.hosp_lv, "
          "f.fulamt_ownpay_amt, f.overlmt_selfpay, f.preselfpay_amt, f.event_date FROM "
          "settlements s JOIN claim_facts f ON f.setl_id = s.ref_setl_id WHERE s.ref_setl_id IS "
          "NOT NULL AND NOT EXISTS (SELECT 1 FROM claim_facts c WHERE c.setl_id = s.setl_id) "
          "ORDER BY s.setl_id LIMIT ?",
          {o_.page_rows}, [&](Stmt& s) {
            Fact f;
            f.setl_id = std::string(s.column_text(0));
            f.kind = std::string(s.column_text(1));
            f.plan_id = std::string(s.column_text(2));
            f.plan_version = int(s.column_int64(3));
            f.plan_year = int(s.column_int64(4));
            f.claim_kind = std::string(s.column_text(5));
            f.medfee = s.column_int64(6);
            f.inscp = s.column_int64(7);
            f.fund = s.column_int64(8);
            f.hosp = s.column_int64(9);
            f.psn = s.column_int64(10);
            f.settled_date = std::string(s.column_text(11).substr(0, 10));
            f.claim_setl_id = std::string(s.column_text(12));
            f.region = std::string(s.column_text(13));
            f.fixmedins_code = std::string(s.column_text(14));
            f.hosp_lv = int(s.column_int64(15));
            // A reversal takes the claim's out-of-range amounts back; an
            // adjustment moves only payments.
            if (f.kind == "reversal") {
              f.fulamt = -s.column_int64(16);
              f.overlmt = -s.column_int64(17);
              f.preselfpay = -s.column_int64(18);
            }
            f.event_date = std::string(s.column_text(19));
            page.push_back(std::move(f));
          });
      if (!q.ok()) return q;
      if (!page.empty()) {
        if (Status s = read_layers(&page); !s.ok()) return s;
        if (Status s = write(page); !s.ok()) return s;
      }
      if (Status s = tx.commit(); !s.ok()) return s;
      if (int64_t(page.size()) < o_.page_rows) break;
    }
    // What waits for its claim to be posted (stored after this run read the claims).
    Result<bool> all = all_taken_in();
    if (!all.ok() || *all) return all.status();
    return query_rows(db_,
                      "SELECT count(*) FROM settlements s WHERE s.ref_setl_id IS NOT NULL AND NOT "
                      "EXISTS (SELECT 1 FROM claim_facts c WHERE c.setl_id = s.setl_id)",
                      {}, [&](Stmt& s) { r_->waiting = s.column_int64(0); });
  }

  // claim_facts, claim_layer_facts and the journal entries of a page, in
  // setl_id order (claim_facts' key).
  Status write(std::vector<Fact>& page) {
    std::sort(page.begin(), page.end(),
              [](const Fact& a, const Fact& b) { return a.setl_id < b.setl_id; });
    static constexpr std::string_view kFactCols[] = {
        "setl_id",        "claim_setl_id",     "kind",
        "plan_id",        "plan_year",         "claim_kind",
        "region",         "fixmedins_code",    "hosp_lv",
        "medfee_sumamt",  "fulamt_ownpay_amt", "overlmt_selfpay",
        "preselfpay_amt", "inscp_scp_amt",     "fund_pay_sumamt",
        "hosp_part_amt",  "psn_part_amt",      "insurer_pay_fen",
        "event_date",     "settled_date",      "turnaround_days"};
    static constexpr std::string_view kLayerCols[] = {"setl_id",   "layer",  "plan_id",
                                                      "plan_year", "region", "amount_fen"};
    Rows facts(int(std::size(kFactCols))), layers(int(std::size(kLayerCols)));
    JournalBatch batch;
    for (Fact& f : page) {
      const Plan* plan = plans_.version(f.plan_id, f.plan_version);
      if (plan == nullptr)
        return Status(Code::kStoreError, "settlement " + f.setl_id + " names plan " + f.plan_id +
                                             " version " + std::to_string(f.plan_version) +
                                             ", which is not stored");
      Entry e;
      const std::string_view payable_to =
          f.claim_kind == "accident" ? std::string_view("insured") : f.fixmedins_code;
      std::unordered_map<std::string_view, Fen> payable;  // by product
      for (const auto& [layer, amount] : f.layers) {
        layers.add_text(f.setl_id);
        layers.add_text(layer);
        layers.add_text(f.plan_id);
        layers.add_int64(f.plan_year);
        layers.add_text(f.region);
        layers.add_int64(amount);
        const std::string_view product = claims_product(*plan, layer);
        if (product.empty() || amount == 0) continue;
        f.insurer = add_checked(f.insurer, amount);
        e.add(product, f.region, f.plan_year, claims_expense_account(layer), "", amount);
        payable[product] = add_checked(payable[product], amount);
      }
      for (const auto& [product, amount] : payable)
        e.add(product, f.region, f.plan_year, account::kClaimsPayable, payable_to, -amount);
      if (!e.lines.empty()) {
        e.key = "settle:" + f.setl_id;
        e.kind = kind::kClaim;
        e.plan_id = f.plan_id;
        e.date = f.settled_date;
        e.source = f.setl_id;
        if (f.kind != "settle") e.memo = f.kind + " of " + f.claim_setl_id;
        r_->insurer_claims_fen += f.insurer;
        ++r_->claim_entries;
        batch.add(std::move(e));
      }
      facts.add_text(f.setl_id);
      facts.add_text(f.claim_setl_id);
      facts.add_text(f.kind);
      facts.add_text(f.plan_id);
      facts.add_int64(f.plan_year);
      facts.add_text(f.claim_kind);
      facts.add_text(f.region);
      facts.add_text(f.fixmedins_code);
      facts.add_int64(f.hosp_lv);
      for (Fen v :
           {f.medfee, f.fulamt, f.overlmt, f.preselfpay, f.inscp, f.fund, f.hosp, f.psn, f.insurer})
        facts.add_int64(v);
      facts.add_text(f.event_date);
      facts.add_text(f.settled_date);
      if (f.has_turnaround) {
        facts.add_int64(f.turnaround_days);
      } else {
        facts.add_null();
      }
      ++r_->settlements;
    }
    if (Status s = db_.insert_rows({"claim_facts", kFactCols, ""}, facts); !s.ok()) return s;
    if (Status s = db_.insert_rows({"claim_layer_facts", kLayerCols, ""}, layers); !s.ok())
      return s;
    return batch.write(db_, o_.actor, store::utc_timestamp_now());
  }

  Db& db_;
  const PostOptions& o_;
  PostReport* r_;
  const StoredPlans& plans_;
};

}  // namespace

bool parse_claim_line_extras(std::string_view json, ClaimLineExtras* out) {
  *out = ClaimLineExtras{};
  thread_local od::parser parser;
  thread_local std::string buf;
  buf.assign(json);
  buf.resize(json.size() + simdjson::SIMDJSON_PADDING);
  od::document doc;
  if (parser.iterate(buf.data(), json.size(), buf.size()).get(doc)) return false;
  od::object obj;
  if (doc.get_object().get(obj)) return false;
  int found = 0;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return false;
    od::value v;
    if (field.value().get(v)) return false;
    if (key == "fulamt_ownpay_amt") {
      found += read_amount(v, &out->fulamt_ownpay_amt) ? 1 : 100;
    } else if (key == "overlmt_selfpay") {
      found += read_amount(v, &out->overlmt_selfpay) ? 1 : 100;
    } else if (key == "preselfpay_amt") {
      found += read_amount(v, &out->preselfpay_amt) ? 1 : 100;
    } else if (key == "hosp_lv") {
      od::json_type t;
      if (v.type().get(t)) return false;
      std::string_view s;
      if (t == od::json_type::number) {
        s = trim(v.raw_json_token());
      } else if (t != od::json_type::string || v.get_string().get(s)) {
        return false;
      }
      if (s.size() != 1 || s[0] < '1' || s[0] > '3') return false;
      out->hosp_lv = s[0] - '0';
      ++found;
    }
  }
  return found == 4;
}

std::string PostReport::to_text() const {
  std::ostringstream o;
  o << "premiums     " << premiums << " posted: charged " << fen_to_string(premium_charged_fen)
    << ", refunded " << fen_to_string(premium_refunded_fen) << "\n";
  o << "settlements  " << settlements << " taken in, " << claim_entries
    << " journaled (an insurer's layer paid): " << fen_to_string(insurer_claims_fen) << "\n";
  if (waiting > 0)
    o << "waiting      " << waiting
      << " reversals or adjustments whose claim was stored during this run: post again\n";
  return o.str();
}

Status post_books(Db& db, const PostOptions& options, PostReport* report) {
  *report = PostReport{};
  Result<StoredPlans> plans = StoredPlans::load(db);
  if (!plans.ok()) return plans.status();
  Poster p(db, options, report, *plans);
  if (Status s = p.premiums(); !s.ok()) return s;
  return p.settlements();
}

}  // namespace huibao::books
