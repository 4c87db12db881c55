#include "batch/result_json.h"

namespace huibao {
namespace {

void append_fen(Fen f, std::string* out) {
  char buf[26];
  buf[0] = '"';
  size_t n = format_fen(f, buf + 1);
  buf[n + 1] = '"';
  out->append(buf, n + 2);
}

void append_key_fen(std::string_view key, Fen f, std::string* out) {
  out->push_back(',');
  out->push_back('"');
  out->append(key);
  out->append("\":");
  append_fen(f, out);
}

}  // namespace

void append_json_string(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default: {
        char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out->append(u, 6);
      }
    }
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

void append_result_json(const ResultView& v, std::string* out) {
  const Record& r = *v.record;
  out->append("{\"setl_id\":");
  if (r.setl_id != nullptr) {
    append_json_string(r.setl_id_view(), out);
  } else {
    out->append("null");
  }
  out->append(",\"psn_no\":");
  if (r.psn_no != nullptr) {
    append_json_string(r.psn_no_view(), out);
  } else {
    out->append("null");
  }
  if (v.error != Code::kOk) {
    out->append(",\"status\":\"rejected\",\"error\":\"");
    out->append(code_name(v.error));
    out->append("\",\"message\":");
    append_json_string(v.message, out);
    out->append("}\n");
    return;
  }
  out->append(",\"status\":\"settled\"");
  const Plan& plan = *v.plan;
  if (r.kind == RecordKind::kAccident) {
    Fen x = v.pay[0];
    Fen medfee = r.outcome == uint8_t(AccidentOutcome::kMedical) ? r.amount[0] : 0;
    append_key_fen("medfee_sumamt", medfee, out);
    append_key_fen("inscp_scp_amt", 0, out);
    out->append(",\"layers\":{\"accident\":");
    append_fen(x, out);
    out->push_back('}');
    append_key_fen("fund_pay_sumamt", x, out);
    append_key_fen("hosp_part_amt", 0, out);
    append_key_fen("psn_part_amt", std::max(Fen{0}, medfee - x), out);
  } else {
    append_key_fen("medfee_sumamt", r.amount[kMedfeeSumamt], out);
    append_key_fen("inscp_scp_amt", r.amount[kInscpScpAmt], out);
    out->append(",\"layers\":{");
    Fen fund = 0, hosp = 0;
    for (size_t l = 0; l < plan.layers.size(); ++l) {
      if (l > 0) out->push_back(',');
      out->push_back('"');
      out->append(plan.layers[l].id);
      out->append("\":");
      append_fen(v.pay[l], out);
      (plan.layers[l].payer == Payer::kFund ? fund : hosp) += v.pay[l];
    }
    out->push_back('}');
    append_key_fen("fund_pay_sumamt", fund, out);
    append_key_fen("hosp_part_amt", hosp, out);
    append_key_fen("psn_part_amt", r.amount[kMedfeeSumamt] - fund - hosp, out);
  }
  if (v.explain != nullptr) {
    out->append(",\"explain\":[");
    for (size_t i = 0; i < v.explain->size(); ++i) {
      if (i > 0) out->push_back(',');
      append_json_string((*v.explain)[i], out);
    }
    out->push_back(']');
  }
  out->append("}\n");
}

}  // namespace huibao
