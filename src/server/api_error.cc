#include "server/api_error.h"

#include <array>

#include <nlohmann/json.hpp>

namespace huibao::server {
namespace {

struct CodeInfo {
  std::string_view name;
  int http;
};

// One code a line, in ApiCode order.
// clang-format off
constexpr std::array<CodeInfo, kApiCodeCount> kCodes = {{
    {"bad_json", 400},
    {"unknown_field", 400},
    {"wrong_type", 400},
    {"missing_field", 400},
    {"invalid_value", 400},
    {"bad_request", 400},
    {"unauthorized", 401},
    {"forbidden", 403},
    {"not_found", 404},
    {"method_not_allowed", 405},
    {"payload_too_large", 413},
    {"unsupported_media_type", 415},
    {"rate_limited", 429},
    {"unknown_plan", 404},
    {"unknown_infno", 400},
    {"not_ready", 503},
    {"unknown_report", 400},
    {"unknown_parameter", 400},
    {"length_required", 411},
    {"unsupported_encoding", 415},
    {"internal_error", 500},
}};
// clang-format on

}  // namespace

std::string_view api_code_name(ApiCode c) {
  return kCodes[size_t(c)].name;
}

int api_code_http(ApiCode c) {
  return kCodes[size_t(c)].http;
}

ApiError api_error(ApiCode c, std::string message) {
  return ApiError{api_code_http(c), std::string(api_code_name(c)), std::move(message), ""};
}

ApiError param_error(ApiCode c, std::string_view param, std::string message) {
  ApiError e = api_error(c, std::string(param) + ": " + message);
  e.param = std::string(param);
  return e;
}

ApiError status_error(const Status& s) {
  ApiError e{422, std::string(code_name(s.code())), s.message(), ""};
  switch (s.code()) {
    case Code::kOk:
      HB_ASSERT(false && "status_error of an ok status");
      break;
    case Code::kMalformedRecord:
      e.http = 400;
      break;
    case Code::kDuplicateSetlId:
      e.http = 409;
      break;
    case Code::kUnknownPerson:
    case Code::kNotFound:
      e.http = 404;
      break;
    case Code::kUnavailable:
      e.http = 503;
      break;
    case Code::kStoreBusy:
      e.http = 503;
      e.message = "the store is busy; retry the request";
      break;
    case Code::kIoError:
    case Code::kStoreError:
    case Code::kStoreConstraint:
    case Code::kStoreSchema:
      e.http = 500;
      e.message = "the server could not complete the request; it has been logged";
      break;
    default:
      break;
  }
  return e;
}

std::string error_body(const ApiError& e) {
  nlohmann::ordered_json j;
  j["code"] = e.code;
  j["message"] = e.message;
  if (!e.param.empty()) j["param"] = e.param;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string clip_utf8(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return std::string(s);
  size_t n = max_bytes;
  // Back off continuation bytes (10xxxxxx) to the start of the character
  // that crosses the cut, and cut before it.
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n));
}

}  // namespace huibao::server
