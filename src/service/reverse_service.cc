#include "service/reverse_service.h"

#include <sodium.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "batch/claim_parse.h"
#include "batch/record.h"
#include "batch/result_json.h"
#include "service/roll_load.h"
#include "service/settle_service.h"
#include "service/settlement_row.h"
#include "store/migrate.h"

namespace huibao {
namespace {

using store::Db;
using store::Rows;
using store::Stmt;

struct Stored {
  std::string setl_id;
  std::string fixmedins_code;
  std::string reversed_by;  // the reversal's setl_id
  std::string request_json;
  std::string admission, discharge;
  Fen medfee = 0, inscp = 0;
  Fen fund = 0, hosp = 0, psn = 0;    // effective: the settlement plus its adjustments
  std::map<std::string, Fen> layers;  // effective, by layer id
  bool reversed = false;
  bool accident = false;
};

Status err(std::string msg) {
  return Status(Code::kStoreError, std::move(msg));
}

std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(s, &out);
  return out;
}

// The request line an adjustment row stores: which reversal made it.
std::string adjustment_request(std::string_view reversal_id) {
  return "{\"reversal\":" + json_string(reversal_id) + "}";
}

// The report of a reversal already stored under reversal_id.
Result<ReversalReport> stored_report(Db& db, std::string_view reversal_id, std::string_view psn_no,
                                     Fen fund, Fen hosp, std::string_view result_json) {
  ReversalReport report;
  report.reversal_id = std::string(reversal_id);
  report.psn_no = std::string(psn_no);
  report.fund_pay_reversed = -fund;
  report.hosp_part_reversed = -hosp;
  report.replayed = true;
  // Its adjustments are RID.1, RID.2, ... without a gap (reverse_settlement
  // numbers only those it writes, in one transaction).
  Result<Stmt*> st = db.prepare(
      "SELECT a.ref_setl_id, a.fund_pay_sumamt, a.hosp_part_amt, o.fixmedins_code FROM "
      "settlements a JOIN settlements o ON o.setl_id = a.ref_setl_id WHERE a.setl_id = ? AND "
      "a.kind = 'adjustment' AND a.request_json = ?");
  if (!st.ok()) return st.status();
  const std::string request = adjustment_request(reversal_id);
  for (size_t k = 1;; ++k) {
    Adjustment a;
    a.setl_id = std::string(reversal_id) + "." + std::to_string(k);
    (*st)->bind_text(1, a.setl_id);
    (*st)->bind_text(2, request);
    Result<bool> row = (*st)->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    a.adjusts = std::string((*st)->column_text(0));
    a.fund_pay_delta = (*st)->column_int64(1);
    a.hosp_part_delta = (*st)->column_int64(2);
    a.fixmedins_code = std::string((*st)->column_text(3));
    (*st)->reset();
    report.adjustments.push_back(std::move(a));
  }
  (*st)->reset();
  // "resettled":N in the reversal's result (absent before it was recorded).
  static constexpr std::string_view kKey = "\"resettled\":";
  if (size_t at = result_json.find(kKey); at != std::string_view::npos) {
    for (size_t i = at + kKey.size();
         i < result_json.size() && result_json[i] >= '0' && result_json[i] <= '9'; ++i)
      report.resettled = report.resettled * 10 + size_t(result_json[i] - '0');
  } else {
    report.resettled = report.adjustments.size();
  }
  return report;
}

}  // namespace

Result<ReversalReport> reverse_settlement(Db& db, const Plan& plan, std::string_view plan_text,
                                          std::string_view setl_id, std::string_view reversal_id,
                                          std::string_view actor) {
  if (sodium_init() < 0) return err("libsodium failed to initialise");
  if (reversal_id.empty() || reversal_id.size() + 4 > limits::kSetlIdBytesMax)
    return Status(Code::kMalformedRecord, "the reversal id must be 1.." +
                                              std::to_string(limits::kSetlIdBytesMax - 4) +
                                              " bytes (adjustments append .NNN)");
  store::Tx tx(db);
  if (!tx.ok()) return tx.status();
  {
    // The reversal id taken already: the same reversal asked again, or a clash.
    Result<Stmt*> st = db.prepare(
        "SELECT kind, ref_setl_id, psn_no, fund_pay_sumamt, hosp_part_amt, result_json FROM "
        "settlements WHERE setl_id = ?");
    if (!st.ok()) return st.status();
    (*st)->bind_text(1, reversal_id);
    Result<bool> row = (*st)->step();
    if (!row.ok()) return row.status();
    if (*row) {
      const bool same = (*st)->column_text(0) == "reversal" && (*st)->column_text(1) == setl_id;
      const std::string psn((*st)->column_text(2));
      const Fen fund = (*st)->column_int64(3), hosp = (*st)->column_int64(4);
      const std::string result((*st)->column_text(5));
      (*st)->reset();
      if (same) return stored_report(db, reversal_id, psn, fund, hosp, result);
      return Status(Code::kDuplicateSetlId, "the reversal id '" + std::string(reversal_id) +
                                                "' is already the setl_id of another "
                                                "settlement, reversal or adjustment");
    }
  }
  ReversalReport report;
  report.reversal_id = std::string(reversal_id);
  int version = 0, year = 0;
  {
    Result<Stmt*> st = db.prepare(
        "SELECT kind, psn_no, plan_id, plan_version, plan_year FROM settlements WHERE setl_id = ?");
    if (!st.ok()) return st.status();
    (*st)->bind_text(1, setl_id);
    Result<bool> row = (*st)->step();
    if (!row.ok()) return row.status();
    if (!*row) return Status(Code::kUnknownPerson, "no settlement '" + std::string(setl_id) + "'");
    if ((*st)->column_text(0) != "settle")
      return Status(Code::kMalformedRecord, "'" + std::string(setl_id) + "' is a " +
                                                std::string((*st)->column_text(0)) +
                                                ", not a settlement");
    report.psn_no = std::string((*st)->column_text(1));
    if ((*st)->column_text(2) != plan.id)
      return Status(Code::kPlanInvalid, "'" + std::string(setl_id) + "' was settled under plan " +
                                            std::string((*st)->column_text(2)) + ", not " +
                                            plan.id);
    version = int((*st)->column_int64(3));
    year = int((*st)->column_int64(4));
    (*st)->reset();
  }
  {
    Result<Stmt*> st =
        db.prepare("SELECT content_hash FROM plan_versions WHERE plan_id = ? AND version = ?");
    if (!st.ok()) return st.status();
    (*st)->bind_text(1, plan.id);
    (*st)->bind_int64(2, version);
    Result<bool> row = (*st)->step();
    if (!row.ok()) return row.status();
    if (!*row || (*st)->column_text(0) != plan_content_hash(plan, plan_text))
      return Status(Code::kPlanInvalid, "the plan file is not version " + std::to_string(version) +
                                            " of " + plan.id +
                                            ", under which the settlement was made");
    (*st)->reset();
  }
  // Serialise with other writers of this person's year (SQLite's write
  // transaction already does; PostgreSQL locks the row).
  int64_t state_version = 0;
  std::vector<std::string> year_ids;  // the settlements rows of the person's year
  {
    Result<Stmt*> st =
        db.prepare(std::string("SELECT version, setl_ids FROM accumulators WHERE psn_no = ? AND "
                               "plan_id = ? AND year = ?") +
                   std::string(db.dialect().for_update));
    if (!st.ok()) return st.status();
    (*st)->bind_text(1, report.psn_no);
    (*st)->bind_text(2, plan.id);
    (*st)->bind_int64(3, year);
    Result<bool> row = (*st)->step();
    if (!row.ok()) return row.status();
    if (!*row)
      return err("no year state of " + report.psn_no + " in " + plan.id + " " +
                 std::to_string(year) + ", though '" + std::string(setl_id) + "' is stored");
    state_version = (*st)->column_int64(0);
    Status p = parse_setl_ids((*st)->column_text(1), &year_ids);
    (*st)->reset();
    if (!p.ok()) return p;
  }

  // The person's settlements of the year, with what each pays now.
  std::map<std::string, Stored> stored;
  {
    Result<Stmt*> st = db.prepare(
        "SELECT kind, ref_setl_id, request_json, admission_date, discharge_date, medfee_sumamt, "
        "inscp_scp_amt, fund_pay_sumamt, hosp_part_amt, psn_part_amt, claim_kind, "
        "fixmedins_code, layers FROM settlements WHERE setl_id = ?");
    if (!st.ok()) return st.status();
    struct Correction {
      std::string id, kind, ref;
      Fen fund, hosp, psn;
    };
    std::vector<Correction> corrections;
    std::vector<std::pair<std::string, Fen>> paid;
    for (const std::string& id : year_ids) {
      (*st)->bind_text(1, id);
      Result<bool> row = (*st)->step();
      if (!row.ok()) return row.status();
      if (!*row)
        return err("the year state of " + report.psn_no + " lists settlement '" + id +
                   "', which is not stored");
      const std::string_view kind = (*st)->column_text(0);
      const std::string key(kind == "settle" ? std::string_view(id) : (*st)->column_text(1));
      if (kind == "settle") {
        Stored& s = stored[id];
        s.setl_id = id;
        s.request_json = std::string((*st)->column_text(2));
        s.admission = std::string((*st)->column_text(3));
        s.discharge = std::string((*st)->column_text(4));
        s.medfee = (*st)->column_int64(5);
        s.inscp = (*st)->column_int64(6);
        s.fund += (*st)->column_int64(7);
        s.hosp += (*st)->column_int64(8);
        s.psn += (*st)->column_int64(9);
        s.accident = (*st)->column_text(10) == "accident";
        s.fixmedins_code = std::string((*st)->column_text(11));
      } else {
        corrections.push_back({id, std::string(kind), key, (*st)->column_int64(7),
                               (*st)->column_int64(8), (*st)->column_int64(9)});
      }
      if (Status p = parse_layers_column((*st)->column_text(12), &paid); !p.ok()) return p;
      for (const auto& [layer, fen] : paid) stored[key].layers[layer] += fen;
      (*st)->reset();
    }
    for (const Correction& c : corrections) {
      Stored& s = stored[c.ref];
      if (c.kind == "reversal") s.reversed = true, s.reversed_by = c.id;
      s.fund += c.fund, s.hosp += c.hosp, s.psn += c.psn;
    }
  }
  Stored& target = stored[std::string(setl_id)];
  if (target.reversed)
    return Status(
        Code::kDuplicateSetlId,
        "'" + std::string(setl_id) + "' is already reversed (by " + target.reversed_by + ")");

  // Settle the remaining claims again from zero, in claim order.
  Roll roll;
  if (Status s = load_roll(db, plan, &roll, report.psn_no); !s.ok()) return s;
  if (roll.size() != 1) return err("person " + report.psn_no + " is no longer on the roll");
  std::string lines;
  std::vector<const Stored*> remaining;
  for (const auto& [id, s] : stored) {
    if (s.reversed || id == setl_id || s.request_json.empty()) continue;
    remaining.push_back(&s);
    lines += s.request_json;
    lines += '\n';
  }
  lines.append(ClaimParser::kPadding, ' ');
  RecordSet rs;
  ClaimParser parser(plan, roll);
  parser.parse_lines(std::string_view(lines.data(), lines.size() - ClaimParser::kPadding), &rs);
  if (rs.records.size() != remaining.size()) return err("stored claim lines no longer parse");
  std::vector<uint32_t> order(rs.records.size());
  for (uint32_t i = 0; i < order.size(); ++i) {
    if (rs.records[i].code != Code::kOk)
      return err("stored claim " + remaining[i]->setl_id + " no longer passes its checks (" +
                 std::string(code_name(rs.records[i].code)) + ")");
    order[i] = i;
  }
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    const Record &x = rs.records[a], &y = rs.records[b];
    return std::tuple(x.begndate, x.enddate, rs.setl_id(x)) <
           std::tuple(y.begndate, y.enddate, rs.setl_id(y));
  });
  const Person& person = roll.person(0);
  const size_t nl = plan.layers.size();
  const std::string now = store::utc_timestamp_now();
  const ResultWriter writer(plan);
  static constexpr std::string_view kSetlCols[] = {
      "setl_id",       "kind",         "ref_setl_id",   "psn_no",         "plan_id",
      "plan_version",  "plan_year",    "claim_kind",    "admission_date", "request_hash",
      "request_json",  "result_json",  "medfee_sumamt", "inscp_scp_amt",  "fund_pay_sumamt",
      "hosp_part_amt", "psn_part_amt", "created_at",    "layers"};
  Rows setl_rows(int(std::size(kSetlCols)));
  std::string listed;  // the ids of setl_rows, for the year state's list
  auto add_row = [&](std::string_view id, std::string_view kind, const Stored& about,
                     std::string_view request, std::string_view result, Fen medfee, Fen inscp,
                     Fen fund, Fen hosp, Fen psn, const std::map<std::string, Fen>& layers) {
    append_setl_id(id, &listed);
    setl_rows.add_text(id);
    setl_rows.add_text(kind);
    setl_rows.add_text(about.setl_id);
    setl_rows.add_text(report.psn_no);
    setl_rows.add_text(plan.id);
    setl_rows.add_int64(version);
    setl_rows.add_int64(year);
    setl_rows.add_text(about.accident ? "accident" : "medical");
    setl_rows.add_text(about.admission);
    setl_rows.add_text("");
    setl_rows.add_text(request);
    setl_rows.add_text(result);
    setl_rows.add_int64(medfee);
    setl_rows.add_int64(inscp);
    setl_rows.add_int64(fund);
    setl_rows.add_int64(hosp);
    setl_rows.add_int64(psn);
    setl_rows.add_text(now);
    setl_rows.add_text(layers_column(layers));
  };
  YearState state;
  size_t adjustment_no = 0;
  for (uint32_t i : order) {
    const Record& r = rs.records[i];
    const Stored& was = *remaining[i];
    Fen pay[limits::kLayersMax] = {};
    std::map<std::string, Fen> now_layers;
    ResultView v;
    v.setl_id = was.setl_id;
    v.psn_no = report.psn_no;
    v.pay = pay;
    if (r.kind == RecordKind::kAccident) {
      AccidentClaim a = accident_claim_of(rs, i);
      pay[0] = settle_accident(plan, roll, person, a, &state).pay;
      now_layers["accident"] = pay[0];
      v.accident = true;
      v.medfee_sumamt = a.outcome == AccidentOutcome::kMedical ? a.medical_amount : 0;
    } else {
      MedicalResult m =
          settle_medical(plan, roll, person, medical_claim_of(plan, rs, i), &state, nullptr);
      if (m.code != Code::kOk)
        return Status(Code::kGivenExceedsBase,
                      "after the reversal, " + was.setl_id + " would no longer settle (" +
                          std::string(code_name(m.code)) + "); reverse it first");
      for (size_t l = 0; l < nl; ++l) {
        pay[l] = m.pay[l];
        now_layers[plan.layers[l].id] = m.pay[l];
      }
      const auto amount = rs.amounts(i);
      v.medfee_sumamt = amount[kMedfeeSumamt];
      v.inscp_scp_amt = amount[kInscpScpAmt];
    }
    ++report.resettled;
    // The difference from what the settlement pays now, layer by layer.
    std::map<std::string, Fen> delta;
    for (const auto& [layer, amount] : now_layers) delta[layer] += amount;
    for (const auto& [layer, amount] : was.layers) delta[layer] -= amount;
    Fen fund = 0, hosp = 0;
    bool differs = false;
    for (const auto& [layer, d] : delta) {
      if (d == 0) continue;
      differs = true;
      const int l = plan.find_layer(layer);
      (l >= 0 && plan.layers[size_t(l)].payer == Payer::kHospital ? hosp : fund) += d;
    }
    if (!differs) continue;
    Adjustment adj;
    adj.setl_id = std::string(reversal_id) + "." + std::to_string(++adjustment_no);
    adj.adjusts = was.setl_id;
    adj.fixmedins_code = was.fixmedins_code;
    adj.fund_pay_delta = fund;
    adj.hosp_part_delta = hosp;
    ByteBuf line;
    writer.write(v, &line);
    std::string_view result = line.view();
    if (!result.empty() && result.back() == '\n') result.remove_suffix(1);
    add_row(adj.setl_id, "adjustment", was, adjustment_request(reversal_id), result, 0, 0, fund,
            hosp, -(fund + hosp), delta);
    report.adjustments.push_back(std::move(adj));
  }
  // The reversal takes back what the settlement pays now.
  report.fund_pay_reversed = target.fund;
  report.hosp_part_reversed = target.hosp;
  std::map<std::string, Fen> taken_back;
  for (const auto& [layer, amount] : target.layers) taken_back[layer] = -amount;
  add_row(reversal_id, "reversal", target, "{\"reverses\":" + json_string(setl_id) + "}",
          "{\"setl_id\":" + json_string(reversal_id) + ",\"reverses\":" + json_string(setl_id) +
              ",\"status\":\"reversed\",\"resettled\":" + std::to_string(report.resettled) + "}",
          -target.medfee, -target.inscp, -target.fund, -target.hosp, -target.psn, taken_back);
  if (Status s = db.insert_rows({"settlements", kSetlCols, ""}, setl_rows); !s.ok()) {
    if (s.code() != Code::kStoreConstraint) return s;
    return Status(Code::kDuplicateSetlId,
                  "an id this reversal would write (" + std::string(reversal_id) + " or " +
                      std::string(reversal_id) +
                      ".N for its adjustments) is already a setl_id; choose another reversal id");
  }
  // The row is locked (or the database is) since it was read: the version
  // check only guards against a writer that ignores the lock.
  if (Status s = write_year_state(db, plan, report.psn_no, year, state, int64_t(remaining.size()),
                                  state_version, now, listed);
      !s.ok())
    return s;
  {
    Result<int64_t> seq = store::allocate_ids(db, "audit_log", 1);
    if (!seq.ok()) return seq.status();
    Result<Stmt*> st = db.prepare(
        "INSERT INTO audit_log (seq, recorded_at, actor, action, psn_no, detail) VALUES "
        "(?, ?, ?, 'settlement.reverse', ?, ?)");
    if (!st.ok()) return st.status();
    (*st)->bind_int64(1, *seq);
    (*st)->bind_text(2, now);
    (*st)->bind_text(3, actor);
    (*st)->bind_text(4, report.psn_no);
    (*st)->bind_text(5, std::string(setl_id) + " reversed by " + std::string(reversal_id) + ", " +
                            std::to_string(report.adjustments.size()) + " adjustments");
    if (Result<int64_t> n = (*st)->execute(); !n.ok()) return n.status();
  }
  if (Status s = tx.commit(); !s.ok()) return s;
  return report;
}

}  // namespace huibao
