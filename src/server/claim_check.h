// What the API reads of a claim before handing it, byte for byte, to
// OnlineSettler: the body must be one JSON object whose keys are all claim
// fields of DOMAIN.md §6 (an unknown field is refused: a typo such as
// "inscp_amt" must not be silently ignored), and the fields that decide who
// may send it (fixmedins_code, med_type, kind) and what it is (setl_id,
// psn_no) are read. Amounts, dates and every other check are the settler's
// (malformed_record and the other claim codes).
//
// The national envelope ({"infno", "msgid", "input": {"data": ...}}) is
// taken apart the same way; input.data is kept as the exact bytes received,
// so a claim sent through the envelope and through the REST endpoint is the
// same claim (the same request hash: replays match).
#pragma once
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "server/api_error.h"

namespace huibao::server {

// The national interface's input.data fields (国家医保信息平台 定点医药机构
// 接口规范) that huibao does not use, per transaction: a hospital system that
// speaks the national interface sends them, so the envelope accepts and
// ignores them (their values must be JSON scalars). Fields huibao uses are
// checked as on the REST endpoints; any other field is still unknown_field.
// The lists are data, documented in docs/api.md.
struct EnvelopeFields {
  std::string_view infno;
  std::span<const std::string_view> used;     // read and checked
  std::span<const std::string_view> ignored;  // national, accepted, not used
};
// nullptr for a transaction not served.
const EnvelopeFields* envelope_fields(std::string_view infno);

struct ClaimFacts {
  std::string setl_id, psn_no, kind, fixmedins_code;  // "" when absent
  std::string begndate, accident_date;                // as sent, "" when absent
  int med_type = -1;                                  // -1 when absent
  // Where in the body a "kind": null has its null (npos: none), so an
  // accident case can say its kind there.
  size_t kind_null_at = std::string::npos;
};

// nullopt when the claim may go on; else the 400 answer (bad_json,
// unknown_field, wrong_type, invalid_value). accident_only: the endpoint
// takes accident claims (kind absent or "accident").
// ignored: further keys accepted (the envelope's national fields) and left
// to the settler, which skips fields it does not know.
std::optional<ApiError> check_claim(std::string_view body, ClaimFacts* facts,
                                    std::span<const std::string_view> ignored = {});

struct Envelope {
  std::string infno, msgid;
  std::string data;  // input.data as received ("" when absent)
};
// The envelope's own fields other than infno, msgid and input (the national
// header: mdtrtarea_admvs, opter, fixmedins_code, sign_no, ...) are accepted
// and ignored.
std::optional<ApiError> parse_envelope(std::string_view body, Envelope* e);

// Parses a JSON object body for the non-claim endpoints: every key must be
// in `allowed`. Returns the object's raw key/value pairs through nlohmann.
}  // namespace huibao::server
