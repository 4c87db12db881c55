#include "service/settlement_row.h"

#include <simdjson.h>

#include <charconv>

#include <toml++/toml.h>

#include "batch/result_json.h"

namespace huibao {
namespace {

void append_fen(std::string* out, Fen f) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, f);
  HB_ASSERT(ec == std::errc());
  out->append(buf, size_t(end - buf));
}

std::string key_of(std::string_view id, bool first) {
  std::string key = first ? "\"" : ",\"";
  key += id;  // layer ids are plan identifiers: no character to escape
  key += "\":";
  return key;
}

}  // namespace

LayersEncoder::LayersEncoder(const Plan& plan) {
  for (const Layer& layer : plan.layers) keys_.push_back(key_of(layer.id, true));
}

void LayersEncoder::medical(const Fen* pay, std::string* out) const {
  out->assign(1, '{');
  for (size_t l = 0; l < keys_.size(); ++l) {
    if (pay[l] == 0) continue;
    if (out->size() > 1) *out += ',';
    *out += keys_[l];
    append_fen(out, pay[l]);
  }
  *out += '}';
}

void LayersEncoder::accident(Fen paid, std::string* out) {
  if (paid == 0) {
    out->assign("{}");
    return;
  }
  out->assign("{\"accident\":");
  append_fen(out, paid);
  *out += '}';
}

std::string layers_column(const std::map<std::string, Fen>& amounts) {
  std::string out(1, '{');
  for (const auto& [layer, fen] : amounts) {
    if (fen == 0) continue;
    out += key_of(layer, out.size() == 1);
    append_fen(&out, fen);
  }
  out += '}';
  return out;
}

Status parse_layers_column(std::string_view text, std::vector<std::pair<std::string, Fen>>* out) {
  out->clear();
  auto bad = [&](std::string_view why) {
    return Status(Code::kStoreError, "settlements.layers '" + std::string(text.substr(0, 200)) +
                                         "' is not a layers column: " + std::string(why));
  };
  thread_local simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (parser.parse(text.data(), text.size()).get(object) != simdjson::SUCCESS)
    return bad("not a JSON object");
  for (auto [key, value] : object) {
    int64_t fen = 0;
    if (value.get_int64().get(fen) != simdjson::SUCCESS)
      return bad("a layer's amount is not an integer number of fen");
    out->emplace_back(std::string(key), fen);
  }
  return Status::Ok();
}

namespace {

std::vector<std::string> layer_order_of(std::string_view toml_text) {
  std::vector<std::string> ids;
  try {
    toml::table t = toml::parse(toml_text);
    if (const toml::array* layers = t["layer"].as_array()) {
      for (const toml::node& n : *layers) {
        if (const toml::table* l = n.as_table()) {
          if (std::optional<std::string> id = (*l)["id"].value<std::string>()) ids.push_back(*id);
        }
      }
    }
  } catch (const toml::parse_error&) {
    ids.clear();
  }
  return ids;
}

}  // namespace

Result<std::vector<std::string>> plan_layer_order(store::Db& db, std::string_view plan_id,
                                                  int64_t version) {
  Result<store::Stmt*> st =
      db.prepare("SELECT toml FROM plan_versions WHERE plan_id = ? AND version = ?");
  if (!st.ok()) return st.status();
  (*st)->bind_text(1, plan_id);
  (*st)->bind_int64(2, version);
  Result<bool> row = (*st)->step();
  if (!row.ok()) return row.status();
  std::vector<std::string> ids;
  if (*row) ids = layer_order_of((*st)->column_text(0));
  (*st)->reset();
  return ids;
}

Result<const std::vector<std::string>*> PlanLayers::of(store::Db& db, std::string_view plan_id,
                                                       int64_t version) {
  std::lock_guard<std::mutex> lock(mu_);
  auto key = std::pair(std::string(plan_id), version);
  if (auto it = known_.find(key); it != known_.end()) return &it->second;
  Result<std::vector<std::string>> ids = plan_layer_order(db, plan_id, version);
  if (!ids.ok()) return ids.status();
  if (ids->empty())
    return Status(Code::kStoreError, "plan " + std::string(plan_id) + " version " +
                                         std::to_string(version) +
                                         " has no stored text with layers to answer from");
  return &known_.emplace(std::move(key), std::move(*ids)).first->second;
}

Result<std::string> stored_result(store::Db& db, const store::Stmt& st, int first,
                                  PlanLayers* plans) {
  if (!st.column_is_null(first)) return std::string(st.column_text(first));
  std::vector<std::pair<std::string, Fen>> paid;
  if (Status s = parse_layers_column(st.column_text(first + 8), &paid); !s.ok()) return s;
  const bool accident = st.column_text(first + 3) == "accident";
  std::vector<std::string> accident_ids;
  const std::vector<std::string>* ids = &accident_ids;
  if (accident) {
    accident_ids.push_back("accident");
  } else {
    Result<const std::vector<std::string>*> of =
        plans->of(db, st.column_text(first + 9), st.column_int64(first + 10));
    if (!of.ok()) return of.status();
    ids = *of;
  }
  // Each layer's pay: the column's, in plan order, 0 for those left out.
  std::vector<Fen> pay(ids->size(), 0);
  size_t at = 0, placed = 0;
  for (const auto& [layer, fen] : paid) {
    while (at < ids->size() && (*ids)[at] != layer) ++at;
    if (at == ids->size()) break;
    pay[at++] = fen;
    ++placed;
  }
  if (placed != paid.size())
    return Status(Code::kStoreError, "settlement '" + std::string(st.column_text(first + 1)) +
                                         "' lists layers its plan version does not have in "
                                         "that order; its answer cannot be derived");
  const Fen totals[2] = {st.column_int64(first + 6), st.column_int64(first + 7)};
  ResultView v;
  v.setl_id = st.column_text(first + 1);
  v.psn_no = st.column_text(first + 2);
  v.accident = accident;
  v.medfee_sumamt = st.column_int64(first + 4);
  v.inscp_scp_amt = st.column_int64(first + 5);
  v.pay = pay.data();
  v.totals = totals;
  ByteBuf b;
  ResultWriter(*ids).write(v, &b);
  std::string_view line = b.view();
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  return std::string(line);
}

}  // namespace huibao
