// Who may do what through the API: the permission table, written once as
// data (permissions.cc) and documented in docs/api.md. A key has one role and
// acts for one organisation (api_keys.org_code). A cell is
// - kDeny: refused (403 forbidden);
// - kOwn: only on claims and settlements whose fixmedins_code is the key's
//   organisation (hospitals and pharmacies);
// - kAll: on anything.
// Masking is per role: resident ids and names in what the API reads back
// (person lookup, settlement reads, renewal reports) are masked for the roles
// that do not need them.
#pragma once
#include <string_view>

namespace huibao::server {

enum class Role : unsigned char { kBureau, kInsurer, kHospital, kPharmacy, kServicePoint };
inline constexpr int kRoleCount = 5;
std::string_view role_name(Role r);  // bureau, insurer, hospital, pharmacy, service_point
bool role_from_name(std::string_view name, Role* out);

enum class Action : unsigned char {
  kPersonRead,      // person lookup with coverage and benefits (1101)
  kPresettle,       // pre-settlement (2303)
  kSettle,          // settlement (2304)
  kReverse,         // settlement reversal (2305)
  kSettlementRead,  // a stored settlement
  kAccidentSubmit,  // accident case submission
  kAccidentRead,    // accident case result
  kEnrol,           // voluntary enrolment
  kRenew,           // renewal by consent, for a whole plan year
  kCancel,          // cancellation with refund
  kPlanRead,        // plans and drug lists
  kRollImport,      // roll import upload
  kReportRead,      // the supervision reports, charts and book balances (read-only)
};
inline constexpr int kActionCount = int(Action::kReportRead) + 1;
std::string_view action_name(Action a);

enum class Scope : unsigned char { kDeny, kOwn, kAll };

Scope permission(Role r, Action a);
// True when resident ids and names are masked for the role.
bool masks_personal_data(Role r);
// Pharmacies settle pharmacy purchases (med_type 41) only.
bool med_type_allowed(Role r, int med_type);

}  // namespace huibao::server
