// Enrolment: who is covered by which product of a plan, who paid, and what
// is refunded. The rules come from each product's [product.enrollment] terms
// (docs/plan-format.md); this file holds only the mechanisms.
//
// - Automatic enrolment (products with auto_enroll_categories): one enrolment
//   row per person and product for the plan year, from the earliest day a
//   qualifying category is in force (the year's start at the earliest) to the
//   year's end or, with cover_ends = "category_end", to the last day one is
//   in force; the plan's funding pays the premium once. Idempotent: a rerun
//   changes only what the roll changed (dates extended or shortened, a person
//   who no longer qualifies cancelled with the funding refunded).
// - Voluntary enrolment: the person is on the roll, active, in the plan's
//   region, of an eligible insutype, pays within the window and has no
//   enrolment in the product for the plan year. A hardship subsidy is computed
//   from the categories in force on the payment day; the caller's payers must
//   sum exactly to the rest. A personal account may pay for its holder and
//   the relatives the plan allows (verified against the relations table); it
//   is debited in the same transaction with a guard that never lets the
//   balance go negative, whatever runs concurrently.
// - prior_years (the consecutive-year count of the deductible incentive): a
//   product line is the product id, kept by a city from year to year. An
//   enrolment's prior_years is 1 + the largest prior_years of the person's
//   non-cancelled enrolments in the same product in a plan of the previous
//   year (plan_versions.year), else 0; so the chain continues from imported
//   history.
// - Renewal by prior consent: consenting enrolments of a year are enrolled
//   into the next year's plan, the premium less any subsidy deducted from the
//   personal account(s) that paid before (in proportion to what each paid);
//   one transaction per person, so a short balance skips only that person.
// - Cancellation: the refund rule of the product (full before cover begins;
//   after, by remaining days, or nothing), a 'refund' premiums row per payer,
//   personal accounts credited back; the enrolment is cancelled and its
//   end_date becomes the cancellation day when cover had begun.
// - Every operation is one transaction (the import: one for the whole file;
//   renewal: one per person) and writes audit_log rows. A business refusal
//   (a Refusal code, stable, with a message saying what to fix) writes nothing.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/date.h"
#include "core/error.h"
#include "core/money.h"
#include "policy/plan.h"
#include "store/db.h"

namespace huibao {

// Why an enrolment operation was refused. Names (refusal_name) are stable data.
enum class Refusal : uint8_t {
  kNone = 0,
  kUnknownProduct,       // unknown_product
  kNoEnrollmentTerms,    // no_enrollment_terms: not enrollable this way
  kNotOnRoll,            // not_on_roll
  kNotActive,            // not_active
  kOutsideRegion,        // outside_region
  kInsutypeNotEligible,  // insutype_not_eligible
  kOutsideWindow,        // outside_window
  kNoCoverLeft,          // no_cover_left
  kAlreadyEnrolled,      // already_enrolled
  kBadPayer,             // bad_payer
  kPayerNotAccepted,     // payer_not_accepted
  kPayersDoNotSum,       // payers_do_not_sum
  kNotARelative,         // not_a_relative
  kNoPersonalAccount,    // no_personal_account
  kInsufficientBalance,  // insufficient_balance
  kNoAutomaticPayer,     // no_automatic_payer (renewal)
  kNotEnrolled,          // not_enrolled
  kNotCancellable,       // not_cancellable
};
std::string_view refusal_name(Refusal r);

// One payer's part of a premium. ref: the account holder's psn_no
// (personal_account), the employer's code, the fund or programme; "" for cash.
struct PayerShare {
  PayerKind kind = PayerKind::kCash;
  std::string ref;
  Fen amount_fen = 0;
  friend bool operator==(const PayerShare&, const PayerShare&) = default;
};

// "cash:99.00", "personal_account:<psn_no>:50.00", "employer:<code>:99.00".
bool parse_payer(std::string_view text, PayerShare* out, std::string* error);
std::string payer_to_string(const PayerShare& p);  // the same form

// ---- the rules, without the store ----

// The first covered day of a voluntary enrolment paid on paid_on (never
// before the period begins; after period_end means no cover is left).
Date cover_begin(const Plan& plan, const EnrollmentTerms& terms, Date paid_on);
// The subsidy for a person holding `held` on the payment day: the largest
// that applies, 0 when none; *which (optional) receives it or null.
Fen subsidy_for(const EnrollmentTerms& terms, Fen premium, CategoryMask held,
                const Subsidy** which);
// What a payer who paid `paid` gets back when the enrolment covering
// begin..end is cancelled on `on` (on < begin: cover had not begun).
Fen refund_for(RefundRule rule, Fen paid, Date begin, Date end, Date on);

// ---- voluntary enrolment ----

struct EnrolRequest {
  std::string psn_no;
  std::string product;  // "" = the plan's only voluntary product
  Date paid_on;
  std::vector<PayerShare> payers;  // without the subsidy, which is computed
  // When payers is empty: this employer pays what the subsidy leaves (group lists).
  std::string employer_pays_rest;
  bool renewal_consent = false;
  std::string actor;
};

struct EnrolReceipt {
  Refusal refusal = Refusal::kNone;
  std::string message;  // what to fix, when refused
  int64_t enrollment_id = 0;
  std::string product;
  Date begin, end;
  int prior_years = 0;
  Fen premium_fen = 0;
  std::vector<PayerShare> payers;  // as written, the subsidy included
};

// Store failures are the Status (nothing written); a refusal is the receipt's.
// The plan is registered as a plan version first (idempotent by content).
Status enrol_voluntary(store::Db& db, const Plan& plan, std::string_view plan_text,
                       const EnrolRequest& request, EnrolReceipt* receipt);

// ---- batch enrolment from CSV ----

// The file: a header naming psn_no and any of payers, date, renewal_consent
// (any order); payers is a ';'-separated list of parse_payer forms, empty
// when the subsidy pays all or `employer` pays the rest; date (the payment
// day) empty = options.paid_on; renewal_consent 0, 1 or empty (0).
struct EnrolImportOptions {
  std::string path;
  std::string product;   // "" = the plan's only voluntary product
  Date paid_on;          // for rows without a date
  std::string employer;  // pays what the subsidy leaves on rows without payers
  bool dry_run = false;
  std::string actor;
  // Accepted rows written per batch (ids allocated once per batch) and
  // persons per lookup query; tests make them small to cross the boundaries.
  size_t batch_rows = 4096;
  size_t lookup_keys = 500;
};

struct EnrolImportRowError {
  size_t line = 0;
  Refusal refusal = Refusal::kNone;  // kNone: the row itself is malformed
  std::string message;
};

struct EnrolImportReport {
  bool dry_run = false;
  bool committed = false;
  int64_t rows = 0;
  int64_t enrolled = 0;  // enrolled (or, in a dry run, would be)
  Fen premium_fen = 0;
  std::array<Fen, kPayerKindCount> by_payer_fen{};
  std::vector<EnrolImportRowError> errors;  // every bad row, by line
  std::string to_text() const;
};

// All or nothing: one transaction; any bad row and nothing is written
// (kRollInvalid, every bad row in report->errors). A dry run checks every row
// exactly as the import would, writing nothing and taking no locks. Each row
// is checked as enrol_voluntary checks it, after the rows above it (a person
// on two lines is already enrolled on the second; an account pays from what
// the lines above left), and written as enrol_voluntary writes it
// (enrol_import.cc: the store is read and written set-wise, not per row).
Status import_enrolments(store::Db& db, const Plan& plan, std::string_view plan_text,
                         const EnrolImportOptions& options, EnrolImportReport* report);

// ---- automatic enrolment ----

struct AutoEnrolOptions {
  std::string actor;
};

struct AutoEnrolReport {
  struct ProductCounts {
    std::string product;
    int64_t qualifying = 0;  // active persons in the region with a qualifying category
    int64_t created = 0, changed = 0, unchanged = 0, cancelled = 0;
    Fen charged_fen = 0, refunded_fen = 0;
  };
  std::vector<ProductCounts> products;
  std::string to_text() const;
};

// Enrols every qualifying person of the stored roll into each automatic
// product of the plan, in one transaction. kPlanInvalid when an automatic
// product has no [product.enrollment] terms.
Status enrol_automatic(store::Db& db, const Plan& plan, std::string_view plan_text,
                       const AutoEnrolOptions& options, AutoEnrolReport* report);

// ---- renewal ----

struct RenewOptions {
  Date on;  // the deduction day
  std::string actor;
};

struct RenewReport {
  struct Item {
    std::string psn_no;
    std::string product;
    int64_t from_enrollment_id = 0;
    int64_t enrollment_id = 0;  // the new one; 0 when skipped
    Refusal refusal = Refusal::kNone;
    std::string message;
    std::vector<PayerShare> payers;
  };
  std::vector<Item> renewed, skipped;
  std::string to_text() const;
};

// Renews the consenting enrolments of `from` into `to` (the next year's plan,
// same product ids, renewal = true). kPlanInvalid when the plans do not
// follow each other or no product renews.
Status renew_enrolments(store::Db& db, const Plan& from, const Plan& to, std::string_view to_text,
                        const RenewOptions& options, RenewReport* report);

// ---- cancellation ----

struct CancelRequest {
  std::string psn_no;
  std::string product;  // "" = the plan's only voluntary product
  Date on;              // the cancellation day (covered when cover had begun)
  std::string actor;
};

struct CancelReceipt {
  Refusal refusal = Refusal::kNone;
  std::string message;
  int64_t enrollment_id = 0;
  bool before_cover = false;
  Date begin, end;                  // end: the last covered day after the cancellation
  std::vector<PayerShare> refunds;  // amount > 0 only
  Fen refunded_fen = 0;
};

Status cancel_enrolment(store::Db& db, const Plan& plan, const CancelRequest& request,
                        CancelReceipt* receipt);

}  // namespace huibao
