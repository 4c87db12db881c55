#include "batch/result_json.h"

#include <algorithm>
#include <cstring>

namespace huibao {

void ByteBuf::grow(size_t n) {
  size_t cap = std::max({cap_ * 2, size_ + n, size_t(1) << 16});
  std::unique_ptr<char[]> b(new char[cap]);  // not value-initialised: no zero fill
  if (size_ > 0) std::memcpy(b.get(), buf_.get(), size_);
  buf_ = std::move(b);
  cap_ = cap;
}

namespace {

// Bytes a fixed literal adds; amounts take at most 21 characters plus quotes.
constexpr size_t kFenBytes = 24;

char* put(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

char* put_fen(char* p, Fen f) {
  *p++ = '"';
  p += format_fen(f, p);
  *p++ = '"';
  return p;
}

char* put_key_fen(char* p, std::string_view key_literal, Fen f) {
  return put_fen(put(p, key_literal), f);
}

}  // namespace

char* write_json_string(std::string_view s, char* p) {
  static constexpr char kHex[] = "0123456789abcdef";
  *p++ = '"';
  size_t clean = 0;  // the usual case: nothing to escape, one copy
  while (clean < s.size() && static_cast<unsigned char>(s[clean]) >= 0x20 && s[clean] != '"' &&
         s[clean] != '\\')
    ++clean;
  std::memcpy(p, s.data(), clean);
  p += clean;
  if (clean == s.size()) {
    *p++ = '"';
    return p;
  }
  size_t run = clean;
  for (size_t i = clean; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    p = put(p, s.substr(run, i - run));
    run = i + 1;
    *p++ = '\\';
    switch (c) {
      case '"':
      case '\\':
        *p++ = char(c);
        break;
      case '\n':
        *p++ = 'n';
        break;
      case '\r':
        *p++ = 'r';
        break;
      case '\t':
        *p++ = 't';
        break;
      default:
        p = put(p, "u00");
        *p++ = kHex[c >> 4];
        *p++ = kHex[c & 15];
    }
  }
  p = put(p, s.substr(run));
  *p++ = '"';
  return p;
}

void append_json_string(std::string_view s, std::string* out) {
  size_t at = out->size();
  out->resize(at + 2 + 6 * s.size());
  char* end = write_json_string(s, out->data() + at);
  out->resize(size_t(end - out->data()));
}

ResultWriter::ResultWriter(const Plan& plan) {
  for (size_t l = 0; l < plan.layers.size(); ++l) {
    add_layer(plan.layers[l].id, plan.layers[l].payer == Payer::kHospital);
  }
}

ResultWriter::ResultWriter(std::span<const std::string> layer_ids) {
  for (const std::string& id : layer_ids) add_layer(id, false);
}

void ResultWriter::add_layer(std::string_view id, bool hospital) {
  std::string key = layer_key_.empty() ? "\"" : ",\"";
  key += id;
  key += "\":";
  layers_bytes_ += key.size() + kFenBytes;
  layer_key_.push_back(std::move(key));
  hospital_.push_back(hospital);
}

size_t ResultWriter::bound(const ResultView& v) const {
  // 512 covers every fixed key, the five totals and the quotes of the strings.
  size_t n = 512 + 6 * (v.setl_id.size() + v.psn_no.size() + v.message.size()) + layers_bytes_;
  if (v.explain != nullptr) {
    for (const std::string& line : *v.explain) n += 3 + 6 * line.size();
  }
  return n;
}

void ResultWriter::write(const ResultView& v, ByteBuf* out) const {
  char* p = out->reserve(bound(v));
  p = put(p, "{\"setl_id\":");
  p = v.setl_id.empty() ? put(p, "null") : write_json_string(v.setl_id, p);
  p = put(p, ",\"psn_no\":");
  p = v.psn_no.empty() ? put(p, "null") : write_json_string(v.psn_no, p);
  if (v.error != Code::kOk) {
    p = put(p, ",\"status\":\"rejected\",\"error\":\"");
    p = put(p, code_name(v.error));
    p = put(p, "\",\"message\":");
    p = write_json_string(v.message, p);
    out->commit(put(p, "}\n"));
    return;
  }
  p = put(p, ",\"status\":\"settled\"");
  if (v.accident) {
    const Fen x = v.pay[0];
    p = put_key_fen(p, ",\"medfee_sumamt\":", v.medfee_sumamt);
    p = put_key_fen(p, ",\"inscp_scp_amt\":", 0);
    p = put_key_fen(p, ",\"layers\":{\"accident\":", x);
    *p++ = '}';
    p = put_key_fen(p, ",\"fund_pay_sumamt\":", x);
    p = put_key_fen(p, ",\"hosp_part_amt\":", 0);
    p = put_key_fen(p, ",\"psn_part_amt\":", std::max(Fen{0}, v.medfee_sumamt - x));
  } else {
    p = put_key_fen(p, ",\"medfee_sumamt\":", v.medfee_sumamt);
    p = put_key_fen(p, ",\"inscp_scp_amt\":", v.inscp_scp_amt);
    p = put(p, ",\"layers\":{");
    Fen fund = 0, hosp = 0;
    for (size_t l = 0; l < layer_key_.size(); ++l) {
      p = put_key_fen(p, layer_key_[l], v.pay[l]);
      (hospital_[l] ? hosp : fund) += v.pay[l];
    }
    *p++ = '}';
    if (v.totals != nullptr) fund = v.totals[0], hosp = v.totals[1];
    p = put_key_fen(p, ",\"fund_pay_sumamt\":", fund);
    p = put_key_fen(p, ",\"hosp_part_amt\":", hosp);
    p = put_key_fen(p, ",\"psn_part_amt\":", v.medfee_sumamt - fund - hosp);
  }
  if (v.explain != nullptr) {
    p = put(p, ",\"explain\":[");
    for (size_t i = 0; i < v.explain->size(); ++i) {
      if (i > 0) *p++ = ',';
      p = write_json_string((*v.explain)[i], p);
    }
    *p++ = ']';
  }
  out->commit(put(p, "}\n"));
}

}  // namespace huibao
