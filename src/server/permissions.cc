#include "server/permissions.h"

#include <array>

namespace huibao::server {
namespace {

constexpr std::array<std::string_view, kRoleCount> kRoleNames = {"bureau", "insurer", "hospital",
                                                                 "pharmacy", "service_point"};

constexpr std::array<std::string_view, kActionCount> kActionNames = {
    "person.read",     "claim.presettle", "claim.settle",  "claim.reverse",   "settlement.read",
    "accident.submit", "accident.read",   "enrolment.add", "enrolment.renew", "enrolment.cancel",
    "plan.read",       "roll.import",     "report.read"};

constexpr Scope D = Scope::kDeny, O = Scope::kOwn, A = Scope::kAll;

// The table. Columns: bureau, insurer, hospital, pharmacy, service_point.
// docs/api.md shows the same table; permissions_test in api_test checks
// every cell against the API.
constexpr std::array<std::array<Scope, kRoleCount>, kActionCount> kTable = {{
    /* person.read      */ {A, A, A, A, A},
    /* claim.presettle  */ {D, D, O, O, D},
    /* claim.settle     */ {D, D, O, O, D},
    /* claim.reverse    */ {D, D, O, O, D},
    /* settlement.read  */ {A, A, O, O, D},
    /* accident.submit  */ {D, A, D, D, A},
    /* accident.read    */ {A, A, D, D, A},
    /* enrolment.add    */ {D, A, D, D, A},
    /* enrolment.renew  */ {D, A, D, D, D},
    /* enrolment.cancel */ {D, A, D, D, A},
    /* plan.read        */ {A, A, A, A, A},
    /* roll.import      */ {A, D, D, D, D},
    /* report.read      */ {A, A, D, D, D},
}};

// bureau, insurer, hospital, pharmacy, service_point
constexpr std::array<bool, kRoleCount> kMasked = {false, true, true, true, false};

}  // namespace

std::string_view role_name(Role r) {
  return kRoleNames[size_t(r)];
}

bool role_from_name(std::string_view name, Role* out) {
  for (size_t i = 0; i < kRoleNames.size(); ++i) {
    if (kRoleNames[i] == name) {
      *out = Role(i);
      return true;
    }
  }
  return false;
}

std::string_view action_name(Action a) {
  return kActionNames[size_t(a)];
}

Scope permission(Role r, Action a) {
  return kTable[size_t(a)][size_t(r)];
}

bool masks_personal_data(Role r) {
  return kMasked[size_t(r)];
}

bool med_type_allowed(Role r, int med_type) {
  return r != Role::kPharmacy || med_type == 41;
}

}  // namespace huibao::server
