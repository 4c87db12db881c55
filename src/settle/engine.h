// Settles one claim of one person against the plan and that person's year
// state. Pure: no I/O, no allocation on the hot path. The caller orders a
// person's claims (DOMAIN.md §3) and owns the YearState between them.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/limits.h"
#include "core/money.h"
#include "policy/plan.h"
#include "policy/roll.h"

namespace huibao {

struct MedicalClaim {
  int med_type = 0;
  int hosp_lv = 1;  // 1..3, validated by the parser
  Date begndate, enddate;
  std::array<Fen, kClaimFieldCount> amount{};     // indexed by ClaimField
  std::array<Fen, limits::kBucketsMax> bucket{};  // item buckets, by plan bucket index
  uint32_t given_mask = 0;                        // bit l: layer l's payment is given
  std::array<Fen, limits::kLayersMax> given{};
};

enum class AccidentOutcome : uint8_t { kDeath, kDisability, kMedical };

struct AccidentClaim {
  Date accident_date;
  std::string_view cause;
  AccidentOutcome outcome = AccidentOutcome::kMedical;
  int disability_grade = 0;  // 1..10 for a disability
  Fen medical_amount = 0;
  Fen disaster_paid = 0;
};

// One person's accumulators for one benefit year.
struct YearState {
  std::array<Fen, limits::kLayersMax> layer_paid{};
  std::array<Fen, limits::kLayersMax> layer_cum_base{};
  std::array<Fen, limits::kDeductibleGroupsMax> deductible_used{};
  std::array<Fen, limits::kCapGroupsMax> cap_used{};
  Fen accident_death_disability_paid = 0;
  Fen accident_medical_paid = 0;
};

// Why a layer did not apply, for explanations.
enum class NotApplicable : uint8_t {
  kNone,
  kMedType,
  kInsutype,
  kHospLv,
  kCategory,
  kPreexisting,
  kProduct,
};

enum class LayerHow : uint8_t { kNotApplicable, kComputed, kGiven };

// What a layer did on one claim; enough to explain every amount.
struct LayerTrace {
  LayerHow how = LayerHow::kNotApplicable;
  NotApplicable why = NotApplicable::kNone;
  int8_t rule = -1;
  Fen base = 0;
  Fen deductible_claim = 0;    // per-claim deductible consumed
  Fen deductible_annual = 0;   // annual deductible consumed now
  Fen deductible_amount = -1;  // this claim's annual deductible (-1: none)
  Fen deductible_left_before = 0;
  Fen cum_base_before = 0;  // segments
  Fen topup_target = 0;     // round(rate * of)
  Fen topup_less = 0;
  Fen raw = 0;                     // before caps and the [0, base] bound
  Fen cap_left_before = -1;        // own cap (-1: none)
  Fen group_cap_left_before = -1;  // shared cap (-1: none)
  Fen pay = 0;
};

struct MedicalResult {
  Code code = Code::kOk;  // kOk or kGivenExceedsBase
  int failed_layer = -1;
  std::array<Fen, limits::kLayersMax> pay{};
  Fen fund_pay_sumamt = 0;
  Fen hosp_part_amt = 0;
  Fen psn_part_amt = 0;
};

struct AccidentResult {
  bool covered = false;
  bool disaster_counted = false;
  Fen loss = 0;
  Fen limit_left_before = 0;
  Fen pay = 0;
};

// Settles a medical claim. On kGivenExceedsBase the state is unchanged.
// trace, when not null, receives one entry per plan layer.
MedicalResult settle_medical(const Plan& plan, const Roll& roll, const Person& person,
                             const MedicalClaim& claim, YearState* state, LayerTrace* trace);

// Settles an accident case under the plan's accident product (which must exist).
AccidentResult settle_accident(const Plan& plan, const Roll& roll, const Person& person,
                               const AccidentClaim& claim, YearState* state);

// The item buckets of a claim (e.g. special drugs on the list version in force
// on discharge). Call once per item.
void add_item_to_buckets(const Plan& plan, std::string_view code, std::string_view chrgitm_lv,
                         Fen amount, Date begndate, Date enddate, MedicalClaim* claim);

// What a person has used and has left of a plan year on one day (like the
// national 1101): per layer, deductible group, cap group and the accident
// limits. An amount that depends on the claim (rules that differ by medical
// type or hospital level) is reported as kVaries; no cap as kUnlimited.
inline constexpr Fen kVaries = -1;
inline constexpr Fen kUnlimited = INT64_MAX;

struct LayerBenefit {
  NotApplicable why = NotApplicable::kNone;  // kNone: the person's conditions hold on the day
  Fen paid = 0;                              // paid this year
  // The layer's own annual cap (0 when no rule can apply to the person).
  Fen cap = kVaries, cap_left = kVaries;
};

struct GroupBenefit {
  Fen amount = kVaries;  // this person's annual amount
  Fen used = 0;
  Fen left = kVaries;
};

struct PersonBenefits {
  std::array<Coverage, limits::kProductsMax> coverage{};
  std::array<LayerBenefit, limits::kLayersMax> layers{};
  std::array<GroupBenefit, limits::kDeductibleGroupsMax> deductibles{};
  std::array<GroupBenefit, limits::kCapGroupsMax> caps{};
  GroupBenefit accident_death_disability, accident_medical;  // when the plan has accident cover
};

PersonBenefits person_benefits(const Plan& plan, const Roll& roll, const Person& person, Date on,
                               const YearState& state);

}  // namespace huibao
