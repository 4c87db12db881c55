#include "server/claim_check.h"

#include <simdjson.h>

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

}  // namespace

std::optional<ApiError> check_claim(std::string_view body, ClaimFacts* facts) {
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
    if (f < 0) {
      std::string shown(key.substr(0, 64));
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
        s = v.raw_json_token();
        while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
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
