#include "server/claim_check.h"

#include <simdjson.h>

#include <algorithm>
#include <array>

#include "core/limits.h"

namespace huibao::server {
namespace {

namespace od = simdjson::ondemand;

constexpr std::array<std::string_view, 21> kClaimFields = {
    "setl_id",           "psn_no",          "kind",
    "med_type",          "hosp_lv",         "fixmedins_code",
    "begndate",          "enddate",         "medfee_sumamt",
    "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt",
    "inscp_scp_amt",     "items",           "given",
    "accident_date",     "cause",           "outcome",
    "disability_grade",  "medical_amount",  "disaster_paid"};

// The envelope's transactions: the fields huibao reads, and the national
// fields of the same input it accepts and ignores. 1101 人员信息获取: the
// certificate (mdtrt_cert_no, certno) names the person; the certificate
// types, card number, query time (begntime: use "on") and name are not used.
// 2303/2304 住院预结算/结算: the claim; the national settlement input's
// visit id, certificate, settlement way, insurance type (huibao reads the
// person's from the roll), personal-account flag, invoice number, interim
// settlement and public-hospital-reform flags are not used. 2305 结算撤销:
// the setl_id; the person and visit ids are not used.
constexpr std::string_view k1101Used[] = {"psn_no", "certno", "mdtrt_cert_no", "on", "plan_id"};
constexpr std::string_view k1101Ignored[] = {"mdtrt_cert_type", "psn_cert_type", "card_sn",
                                             "begntime", "psn_name"};
constexpr std::string_view k2303Ignored[] = {
    "mdtrt_cert_type", "mdtrt_cert_no", "psn_setlway",   "mdtrt_id",          "insutype",
    "acct_used_flag",  "invono",        "mid_setl_flag", "pub_hosp_rfom_flag"};
constexpr std::string_view k2305Used[] = {"setl_id", "reversal_id"};
constexpr std::string_view k2305Ignored[] = {"psn_no", "mdtrt_id"};

constexpr EnvelopeFields kEnvelope[] = {
    {"1101", k1101Used, k1101Ignored},
    {"2303", kClaimFields, k2303Ignored},
    {"2304", kClaimFields, k2303Ignored},
    {"2305", k2305Used, k2305Ignored},
};

int claim_field(std::string_view key) {
  for (size_t i = 0; i < kClaimFields.size(); ++i) {
    if (kClaimFields[i] == key) return int(i);
  }
  return -1;
}

od::parser& thread_parser() {
  thread_local od::parser parser;
  return parser;
}

std::optional<ApiError> bad_json(std::string_view what) {
  return api_error(ApiCode::kBadJson, std::string(what));
}

// A string field: its value, or a wrong_type answer.
std::optional<ApiError> read_text(od::value v, std::string_view key, std::string* out) {
  od::json_type t;
  if (v.type().get(t)) return bad_json("the body is not valid JSON");
  if (t == od::json_type::null) return std::nullopt;
  std::string_view s;
  if (t != od::json_type::string || v.get_string().get(s))
    return api_error(ApiCode::kWrongType, std::string(key) + " must be a string");
  if (s.size() > limits::kFieldBytesMax)
    return api_error(ApiCode::kInvalidValue, std::string(key) + " is longer than " +
                                                 std::to_string(limits::kFieldBytesMax) + " bytes");
  *out = std::string(s);
  return std::nullopt;
}

std::optional<ApiError> read_med_type(od::value v, int* out) {
  od::json_type t;
  if (v.type().get(t)) return bad_json("the body is not valid JSON");
  if (t == od::json_type::null) return std::nullopt;
  std::string_view s;
  if (t == od::json_type::number) {
    s = v.raw_json_token();
    while (!s.empty() &&
           (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t'))
      s.remove_suffix(1);
  } else if (t != od::json_type::string || v.get_string().get(s)) {
    return api_error(ApiCode::kWrongType, "med_type must be a code such as \"21\"");
  }
  if (s.empty() || s.size() > 4)
    return api_error(ApiCode::kInvalidValue, "med_type must be a code of at most 4 digits");
  int n = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return api_error(ApiCode::kInvalidValue, "med_type must be a code of at most 4 digits");
    n = n * 10 + (c - '0');
  }
  *out = n;
  return std::nullopt;
}

// An ignored field's value: any JSON scalar of at most kFieldBytesMax bytes.
std::optional<ApiError> check_ignored(od::value v, std::string_view key) {
  od::json_type t;
  if (v.type().get(t)) return bad_json("the body is not valid JSON");
  if (t == od::json_type::object || t == od::json_type::array)
    return api_error(ApiCode::kWrongType,
                     std::string(key) + " must be a string or number (it is accepted, not used)");
  std::string_view raw = v.raw_json_token();
  if (raw.size() > limits::kFieldBytesMax)
    return api_error(ApiCode::kInvalidValue, std::string(key) + " is longer than " +
                                                 std::to_string(limits::kFieldBytesMax) + " bytes");
  return std::nullopt;
}

}  // namespace

const EnvelopeFields* envelope_fields(std::string_view infno) {
  for (const EnvelopeFields& e : kEnvelope) {
    if (e.infno == infno) return &e;
  }
  return nullptr;
}

std::optional<ApiError> check_claim(std::string_view body, ClaimFacts* facts,
                                    std::span<const std::string_view> ignored) {
  if (body.size() > limits::kClaimLineBytesMax)
    return api_error(ApiCode::kPayloadTooLarge, "a claim is at most 1 MiB");
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return bad_json("the body is empty: send one claim as a JSON object");
  simdjson::padded_string padded(body);
  od::document doc;
  if (thread_parser().iterate(padded).get(doc)) return bad_json("the body is not valid JSON");
  od::object obj;
  if (auto err = doc.get_object().get(obj); err != simdjson::SUCCESS) {
    if (err != simdjson::INCORRECT_TYPE) return bad_json("the body is not valid JSON");
    return api_error(ApiCode::kWrongType, "the body must be a JSON object (one claim)");
  }
  uint32_t seen = 0;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return bad_json("the body is not valid JSON");
    const int f = claim_field(key);
    if (f < 0 && std::find(ignored.begin(), ignored.end(), key) != ignored.end()) {
      od::value v;
      if (field.value().get(v)) return bad_json("the body is not valid JSON");
      if (auto e = check_ignored(v, key)) return e;
      continue;
    }
    if (f < 0) {
      std::string shown = clip_utf8(key, 64);
      return api_error(ApiCode::kUnknownField,
                       "unknown field '" + shown +
                           "': a claim has the fields of DOMAIN.md §6 (setl_id, psn_no, "
                           "med_type, ...); see /openapi.json");
    }
    if ((seen >> f) & 1)
      return api_error(ApiCode::kInvalidValue, "field " + std::string(key) + " appears twice");
    seen |= 1u << f;
    od::value v;
    if (field.value().get(v)) return bad_json("the body is not valid JSON");
    std::optional<ApiError> e;
    if (key == "setl_id") {
      e = read_text(v, key, &facts->setl_id);
    } else if (key == "psn_no") {
      e = read_text(v, key, &facts->psn_no);
    } else if (key == "kind") {
      od::json_type t;
      if (!v.type().get(t) && t == od::json_type::null)
        facts->kind_null_at = size_t(v.raw_json_token().data() - padded.data());
      e = read_text(v, key, &facts->kind);
    } else if (key == "fixmedins_code") {
      e = read_text(v, key, &facts->fixmedins_code);
    } else if (key == "begndate") {
      e = read_text(v, key, &facts->begndate);
    } else if (key == "accident_date") {
      e = read_text(v, key, &facts->accident_date);
    } else if (key == "med_type") {
      e = read_med_type(v, &facts->med_type);
    }
    // Other values are read (and judged) by the settler.
    if (e) return e;
  }
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS)
    return bad_json("the body holds more than one JSON value");
  return std::nullopt;
}

std::optional<ApiError> parse_envelope(std::string_view body, Envelope* e) {
  simdjson::padded_string padded(body);
  od::document doc;
  if (thread_parser().iterate(padded).get(doc)) return bad_json("the body is not valid JSON");
  od::object obj;
  if (auto err = doc.get_object().get(obj); err != simdjson::SUCCESS) {
    if (err != simdjson::INCORRECT_TYPE) return bad_json("the body is not valid JSON");
    return api_error(ApiCode::kWrongType, "the body must be a JSON object (the envelope)");
  }
  bool has_input = false;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return bad_json("the body is not valid JSON");
    od::value v;
    if (field.value().get(v)) return bad_json("the body is not valid JSON");
    if (key == "infno" || key == "msgid") {
      std::string* out = key == "infno" ? &e->infno : &e->msgid;
      od::json_type t;
      if (v.type().get(t)) return bad_json("the body is not valid JSON");
      std::string_view s;
      if (t == od::json_type::number) {
        // The token runs on to the next one: drop the JSON whitespace after it.
        s = v.raw_json_token();
        while (!s.empty() &&
               (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t'))
          s.remove_suffix(1);
      } else if (t != od::json_type::string || v.get_string().get(s)) {
        return api_error(ApiCode::kWrongType, std::string(key) + " must be a string");
      }
      if (s.size() > 64)
        return api_error(ApiCode::kInvalidValue, std::string(key) + " is longer than 64 bytes");
      *out = std::string(s);
    } else if (key == "input") {
      has_input = true;
      od::object in;
      if (v.get_object().get(in))
        return api_error(ApiCode::kWrongType, "input must be an object {\"data\": {...}}");
      for (auto f2 : in) {
        std::string_view k2;
        if (f2.unescaped_key().get(k2)) return bad_json("the body is not valid JSON");
        od::value v2;
        if (f2.value().get(v2)) return bad_json("the body is not valid JSON");
        if (k2 != "data") continue;  // skipped unread
        od::json_type t;
        if (v2.type().get(t)) return bad_json("the body is not valid JSON");
        if (t != od::json_type::object)
          return api_error(ApiCode::kWrongType, "input.data must be a JSON object");
        od::object data;
        std::string_view raw;
        if (v2.get_object().get(data) || data.raw_json().get(raw))
          return bad_json("the body is not valid JSON");
        e->data = std::string(raw);
      }
    }  // other header fields are skipped unread
  }
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS)
    return bad_json("the body holds more than one JSON value");
  if (e->infno.empty()) return api_error(ApiCode::kMissingField, "infno is required");
  if (!has_input || e->data.empty())
    return api_error(ApiCode::kMissingField, "input.data is required");
  return std::nullopt;
}

}  // namespace huibao::server
