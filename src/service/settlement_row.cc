#include "service/settlement_row.h"

#include <simdjson.h>

#include <charconv>

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
  for (size_t l = 0; l < plan.layers.size(); ++l)
    keys_.push_back(key_of(plan.layers[l].id, l == 0));
}

void LayersEncoder::medical(const Fen* pay, std::string* out) const {
  out->assign(1, '{');
  for (size_t l = 0; l < keys_.size(); ++l) {
    *out += keys_[l];
    append_fen(out, pay[l]);
  }
  *out += '}';
}

void LayersEncoder::accident(Fen paid, std::string* out) {
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

Result<std::string> stored_result(const store::Stmt& st, int first) {
  if (!st.column_is_null(first)) return std::string(st.column_text(first));
  std::vector<std::pair<std::string, Fen>> layers;
  if (Status s = parse_layers_column(st.column_text(first + 8), &layers); !s.ok()) return s;
  std::vector<std::string> ids;
  std::vector<Fen> pay;
  for (auto& [id, fen] : layers) {
    ids.push_back(std::move(id));
    pay.push_back(fen);
  }
  const bool accident = st.column_text(first + 3) == "accident";
  if (accident ? pay.size() != 1 : pay.empty())
    return Status(Code::kStoreError, "settlement '" + std::string(st.column_text(first + 1)) +
                                         "' has no stored answer and its layers cannot make one");
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
  ResultWriter(ids).write(v, &b);
  std::string_view line = b.view();
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  return std::string(line);
}

}  // namespace huibao
