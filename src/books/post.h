// Posting the store's facts to the books (`huibao books post`), idempotent:
// what was posted is never posted again, so a rerun, or a run after more
// enrolments and settlements, adds only what is new.
//
// - Every premiums row becomes an entry 'premium:<id>' in its enrolment's
//   book (product, the person's city, the plan year): a charge debits bank and
//   credits premium_income:<payer_kind>; a refund the reverse.
// - Every settlements row (settle, reversal, adjustment) is taken into
//   claim_facts and claim_layer_facts (what the reports read), and, when a
//   layer an insurer pays moved money, becomes an entry 'settle:<setl_id>':
//   claims_expense:<layer> against claims_payable to the hospital
//   (fixmedins_code; "insured" for an accident case). A reversal or
//   adjustment is booked in its claim's book, negative amounts on the
//   opposite side. Other funds' layers (basic insurance, critical illness,
//   assistance, the hospital's reduction) are reported, not booked.
// - Pages of rows, one write transaction each (facts and entries together);
//   a crash leaves whole pages posted, and the next run posts the rest.
#pragma once
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/money.h"
#include "store/db.h"

namespace huibao::books {

struct PostOptions {
  std::string actor;
  int64_t page_rows = 20'000;
};

struct PostReport {
  int64_t premiums = 0;  // premiums rows posted
  Fen premium_charged_fen = 0, premium_refunded_fen = 0;
  int64_t settlements = 0;     // settlements rows taken into claim_facts
  int64_t claim_entries = 0;   // of which journaled (an insurer's layer paid)
  Fen insurer_claims_fen = 0;  // their net amount
  int64_t waiting = 0;         // reversals and adjustments whose claim is not posted yet
  std::string to_text() const;
};

Status post_books(store::Db& db, const PostOptions& options, PostReport* report);

// The three out-of-range amounts and the hospital level of a stored claim
// line (settlements.request_json): what the reports need that settlements
// has no column for. False when the line does not hold them.
struct ClaimLineExtras {
  Fen fulamt_ownpay_amt = 0, overlmt_selfpay = 0, preselfpay_amt = 0;
  int hosp_lv = 0;
};
bool parse_claim_line_extras(std::string_view json, ClaimLineExtras* out);

}  // namespace huibao::books
