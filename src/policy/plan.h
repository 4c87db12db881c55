// A plan: one city's (or the province's) rules for one benefit year, loaded
// from a TOML file. The engine holds only mechanisms; every number, layer id
// and condition lives here as data. See docs/plan-format.md for the file format.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/category.h"
#include "core/date.h"
#include "core/error.h"
#include "core/limits.h"
#include "core/money.h"

namespace huibao {

// Amount sources a base expression can name: the claim's four buckets and its
// total, then the plan's item buckets, then earlier layers' payments.
enum ClaimField : uint8_t {
  kMedfeeSumamt = 0,
  kFulamtOwnpayAmt,
  kOverlmtSelfpay,
  kPreselfpayAmt,
  kInscpScpAmt,
  kClaimFieldCount
};
inline constexpr int kSourceBucket0 = kClaimFieldCount;                          // item buckets
inline constexpr int kSourceLayer0 = kSourceBucket0 + int(limits::kBucketsMax);  // layers
inline constexpr int kSourceCount = kSourceLayer0 + int(limits::kLayersMax);

std::string_view claim_field_name(int field);

// A linear combination of sources with integer coefficients, e.g.
// "inscp_scp_amt - (basic + critical) + preselfpay_amt".
struct Expr {
  struct Term {
    uint8_t source;
    int8_t coeff;
  };
  std::vector<Term> terms;
  std::string text;  // as written, for explanations
};

// Membership tests a layer or rule puts on the claim and the person.
struct Conditions {
  std::array<uint64_t, 2> med_types{};  // bit per med_type 0..127; all zero = any
  std::vector<int> insutypes;           // empty = any
  uint8_t hosp_lv_mask = 0;             // bit per level 1..3; 0 = any
  CategoryMask categories_any = 0;      // person must hold one in force; 0 = none needed
  int8_t preexisting = -1;              // -1 any, 0 not flagged, 1 flagged
  int8_t product = -1;                  // product index that must cover the date; -1 none

  bool has_med_type(int t) const {
    if (med_types[0] == 0 && med_types[1] == 0) return true;
    return t >= 0 && t < 128 && ((med_types[size_t(t >> 6)] >> (t & 63)) & 1);
  }
};

struct Segment {
  Fen from = 0;  // on the year's absolute cumulative base
  Rate rate;
};

// One set of parameters of a layer, chosen when its conditions hold. When
// several rules of a layer hold, the one that pays most applies.
struct Rule {
  std::string name;
  Conditions when;
  std::array<Fen, 4> deductible_per_claim{};  // by hospital level 1..3
  std::array<Rate, 4> rate{};                 // by hospital level 1..3
  bool has_annual_deductible = false;
  Fen annual_deductible = 0;  // the layer's own annual deductible
  bool has_cap = false;
  Fen cap = 0;                    // the layer's own annual cap
  std::vector<Segment> segments;  // non-empty: cumulative annual segments
  bool topup = false;             // pay round(topup_rate * topup_of) - topup_less
  Rate topup_rate;
  Expr topup_of, topup_less;
};

enum class Payer : uint8_t { kFund, kHospital };

struct Layer {
  std::string id;
  std::string name;
  Payer payer = Payer::kFund;
  Expr base;
  Conditions applies;
  std::vector<Rule> rules;    // at least one
  int deductible_group = -1;  // shared (declared) or the layer's own annual deductible
  int cap_group = -1;         // a shared annual cap, in addition to the rule's own cap
};

// An annual deductible shared by several layers, with its adjustments.
struct DeductibleGroup {
  std::string id;
  bool declared = false;  // false: the owning layer's rules give the amount
  Fen amount = 0;
  struct ByCategory {
    CategoryMask categories;
    Fen amount;
  };
  std::vector<ByCategory> by_category;  // most favourable (lowest) wins
  Fen less_per_prior_year = 0;
  int prior_years_max = 0;
  int prior_years_product = -1;
  Fen floor = 0;
};

struct CapGroup {
  std::string id;
  Fen amount = 0;
};

struct AccidentTerms {
  Fen death = 0;
  std::array<Fen, 11> disability{};  // by grade 1..10
  Fen death_disability_limit = 0;    // per person per year, shared
  Fen medical_limit = 0;             // per person per year
  std::vector<std::string> disaster_first_causes;
};

// Who pays (part of) a premium; the names are the store's payer_kind values.
enum class PayerKind : uint8_t { kCash, kPersonalAccount, kEmployer, kSubsidy, kProvincial, kCity };
inline constexpr int kPayerKindCount = 6;
std::string_view payer_kind_name(PayerKind k);
bool payer_kind_from_name(std::string_view name, PayerKind* out);

// What the insured person is to a personal-account holder paying for them
// (the relations table's values); a bit each in EnrollmentTerms::account_relations.
enum class Kinship : uint8_t { kSpouse, kParent, kChild };
std::string_view kinship_name(Kinship k);
bool kinship_from_name(std::string_view name, Kinship* out);

// The first covered day of a voluntary enrolment, from the payment day.
enum class CoverBegins : uint8_t { kDayAfterPayment, kPaymentDay, kPeriodBegin };
// The last covered day of an automatic enrolment once a category ends.
enum class CoverEnds : uint8_t { kPeriodEnd, kCategoryEnd };
// What a cancellation refunds: kProRata refunds in full before cover begins
// and by the remaining days after; kBeforeCover in full before cover begins,
// nothing after; kNone nothing.
enum class RefundRule : uint8_t { kProRata, kBeforeCover, kNone };

// A public fund's share of an automatic product's premium.
struct Funding {
  PayerKind payer = PayerKind::kProvincial;  // kProvincial, kCity or kSubsidy
  std::string ref;                           // payer_ref: the fund
  Fen amount = 0;
};

// A hardship subsidy of a voluntary product's premium for persons holding one
// of the categories on the payment day: a share of the premium or a fixed
// amount, never more than the premium. Where several apply, the largest wins.
struct Subsidy {
  CategoryMask categories = 0;
  bool by_share = true;
  Rate share;       // by_share
  Fen amount = 0;   // otherwise
  std::string ref;  // payer_ref: the programme
  Fen of_premium(Fen premium) const;
};

// How people enrol in a product (the [product.enrollment] table). A product
// with auto_enroll categories enrols automatically and is paid by funding; any
// other product is voluntary and uses the window, eligibility and payer terms.
struct EnrollmentTerms {
  bool declared = false;  // the table is present
  // Voluntary.
  Date window_begin, window_end;         // payment days accepted, inclusive
  std::vector<int> insutypes{310, 390};  // basic-insurance types that may enrol
  uint8_t payer_kinds = 0;               // bit per PayerKind the enrollee may name
  uint8_t account_relations = 0;         // bit per Kinship (the holder is always allowed)
  CoverBegins cover_begins = CoverBegins::kDayAfterPayment;
  RefundRule refund = RefundRule::kProRata;
  bool renewal = false;  // renewal by prior consent (automatic deduction)
  std::vector<Subsidy> subsidies;
  // Automatic.
  CoverEnds cover_ends = CoverEnds::kPeriodEnd;
  std::vector<Funding> funding;  // sums to the premium

  bool accepts(PayerKind k) const { return (payer_kinds >> int(k)) & 1; }
  bool account_may_pay_for(Kinship k) const { return (account_relations >> int(k)) & 1; }
};

struct Product {
  std::string id;
  std::string name;
  bool accident = false;
  Fen premium = 0;
  CategoryMask auto_enroll = 0;  // covered automatically while one of these holds
  AccidentTerms terms;
  EnrollmentTerms enrollment;
};

// A versioned list of item codes: each code is listed for date ranges.
struct DrugList {
  std::string id;
  struct Span {
    Date from, to;  // inclusive; to == kOpenEnd when open-ended
  };
  // Transparent hashing: lookups by string_view allocate nothing (one per claim item).
  struct CodeHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::vector<Span>, CodeHash, std::equal_to<>> codes;
  bool listed_on(std::string_view code, Date d) const;
};

// Claim items summed into a named amount usable in base expressions.
struct ItemBucket {
  std::string id;
  int drug_list = -1;
  std::vector<std::string> chrgitm_lv;  // item levels counted ("03")
  bool on_enddate = true;               // list version in force on discharge (else admission)
};

inline constexpr Date kOpenEnd{INT32_MAX};

// What becomes of a product's money at the year's end when its loss ratio is
// below the floor: the shortfall (floor x earned premium - claims) is carried
// into next year's premium subsidy or returned to the payers.
enum class SurplusRule : uint8_t { kCarryOver, kReturn };

// The products' books ([fund], optional): the year-end settlement of each
// product, region and year, and how years are evaluated together. Ratios are
// exact (ppm) and may exceed 100 % where a ceiling says so.
struct FundRules {
  bool declared = false;
  Rate loss_ratio_floor;  // 0: no floor
  SurplusRule surplus = SurplusRule::kCarryOver;
  bool has_ceiling = false;
  Rate loss_ratio_ceiling;     // above it the excess loss is shared...
  Rate loss_share_government;  // ...the government bearing this share, the insurer the rest
  bool has_operating_cost_cap = false;
  Rate operating_cost_cap;         // operating cost and platform fees, of the earned premium
  bool premium_transfers = false;  // premiums may be re-allocated between the plan's products
  int evaluation_years = 1;        // consecutive plan years evaluated together
};

// What supervisors measure the programme against ([targets], optional).
struct Targets {
  bool has_enrolment_rate = false;
  Rate enrolment_rate;  // enrolled / basic-insurance population
  bool has_reimbursement_ratio = false;
  Rate reimbursement_ratio;  // all layers' payments / policy-range cost, per claim
};

struct Plan {
  std::string id;
  std::string name;
  std::string source;  // file it was loaded from
  Date period_begin, period_end;
  std::array<uint64_t, 2> med_types{};
  // Division-code (admdvs) prefixes of the persons who may enrol; empty
  // means any Shandong code ("37").
  std::vector<std::string> region_admdvs;
  std::vector<Layer> layers;
  std::vector<DeductibleGroup> deductible_groups;
  std::vector<CapGroup> cap_groups;
  std::vector<Product> products;
  std::vector<DrugList> drug_lists;
  std::vector<ItemBucket> buckets;
  int accident_product = -1;
  // The files the plan text refers to (drug lists), as named there and byte
  // for byte: a plan version is its text and these.
  struct File {
    std::string name, content;
  };
  std::vector<File> files;
  FundRules fund;
  Targets targets;

  int find_layer(std::string_view id) const;
  int find_product(std::string_view id) const;
  bool in_period(Date d) const { return d >= period_begin && d <= period_end; }
  bool in_region(std::string_view admdvs) const;
  int year() const;  // the calendar year the period begins in
};

// Loads and validates a plan file. Errors name the file, line and problem:
// "plans/x.toml:42: layer 'critical': rate '65' must be a percentage such as '65%'".
Result<Plan> load_plan(const std::string& path);
Result<Plan> load_plan_from_string(std::string_view toml_text, const std::string& source_name,
                                   const std::string& base_dir);
// The same without reading the files the plan names (drug lists load empty):
// for a plan text kept in the store, whose files are not at hand, by callers
// that need its layers, products and rules but settle nothing.
Result<Plan> load_plan_outline(std::string_view toml_text, const std::string& source_name);

}  // namespace huibao
