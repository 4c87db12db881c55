// The HTTP API's error answers: {"code": "<stable_code>", "message": "..."}.
// Codes are data (clients branch on them, tests assert them): the claim and
// store codes of core/error.h keep their names, and the codes only the
// server needs are registered here, once. Each code has one HTTP status.
#pragma once
#include <string>
#include <string_view>

#include "core/error.h"

namespace huibao::server {

// Server-only codes, in one place. Names (api_code_name) never change.
enum class ApiCode : unsigned char {
  kBadJson,               // bad_json: the body is not JSON (400)
  kUnknownField,          // unknown_field: a field the endpoint does not take (400)
  kWrongType,             // wrong_type: a field of the wrong JSON type (400)
  kMissingField,          // missing_field (400)
  kInvalidValue,          // invalid_value: a value out of its domain (400)
  kBadRequest,            // bad_request: not readable as HTTP/1.1 (400)
  kUnauthorized,          // unauthorized: no key, unknown key, revoked key (401)
  kForbidden,             // forbidden: the key's role or organisation may not (403)
  kNotFound,              // not_found: no such route or resource (404)
  kMethodNotAllowed,      // method_not_allowed (405)
  kPayloadTooLarge,       // payload_too_large (413)
  kUnsupportedMediaType,  // unsupported_media_type (415)
  kRateLimited,           // rate_limited: the key's token bucket is empty (429)
  kUnknownPlan,           // unknown_plan: plan_id not served (404)
  kUnknownInfno,          // unknown_infno: envelope transaction not supported (400)
  kNotReady,              // not_ready: readiness failed, or shutting down (503)
  kUnknownReport,         // unknown_report: no such report or chart (400, param "name")
  kUnknownParameter,      // unknown_parameter: a query parameter the endpoint does not take (400)
  kLengthRequired,        // length_required: a body without Content-Length (chunked) (411)
  kUnsupportedEncoding,   // unsupported_encoding: a Content-Encoding other than identity (415)
  kInternal,              // internal_error (500)
};
inline constexpr int kApiCodeCount = int(ApiCode::kInternal) + 1;

std::string_view api_code_name(ApiCode c);

// An error answer: HTTP status, stable code, a message saying what to fix.
struct ApiError {
  int http = 500;
  std::string code;
  std::string message;
  std::string param;  // the query parameter at fault, when one is ("" otherwise)
};

ApiError api_error(ApiCode c, std::string message);
// A service Status as an answer. Claim rejections: malformed_record 400,
// duplicate_setl_id 409, unknown_person 404, the others 422; not_found 404,
// unavailable 503 (shutting down); plan_invalid,
// roll_invalid, limit_exceeded 422; store_busy 503; io and store failures 500
// (their message is logged, not shown).
ApiError status_error(const Status& s);
// The HTTP status of an ApiCode.
int api_code_http(ApiCode c);

// A bad query parameter: code (invalid_value, unknown_parameter,
// unknown_report) with the parameter's name.
ApiError param_error(ApiCode c, std::string_view param, std::string message);

// {"code": ..., "message": ...} and "param" when there is one
std::string error_body(const ApiError& e);

// At most max_bytes of s for a message, cut before a UTF-8 character rather
// than inside one (client text quoted in an answer must stay valid UTF-8:
// the JSON writer refuses invalid UTF-8).
std::string clip_utf8(std::string_view s, size_t max_bytes);

}  // namespace huibao::server
