// What enrol_service.cc (one enrolment at a time) and enrol_import.cc (the
// CSV batch) share: the checks of one enrolment, written once against
// EnrolFacts, the questions they ask the store. A single enrolment answers
// them with one query each (StoreFacts in enrol_service.cc); the import loads
// the answers for the whole file with a few queries per chunk of persons and
// keeps them current as its rows are accepted (enrol_import.cc). Either way
// the checks run in the same order and refuse with the same codes.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "service/enrol_service.h"

namespace huibao::enrol_internal {

// The roll's state of a person.
struct PersonState {
  bool found = false;
  std::string status, admdvs;
  int insutype = 0;
};

// The person's enrolment in the product for the plan's year (any plan of
// that year): stored (id), or made by an earlier line of the file being
// imported (line); neither when the person is not enrolled.
struct YearEnrollment {
  int64_t id = 0;
  std::string plan_id, begin, end;
  size_t line = 0;
  bool found() const { return id != 0 || line != 0; }
};

// The store's answers the checks of an enrolment of one product of one plan
// need, asked in this order (each only when the checks before it passed).
class EnrolFacts {
 public:
  // lock: the insured person's row, held until the transaction ends.
  virtual Result<PersonState> person(const std::string& psn_no, bool lock) = 0;
  virtual Result<YearEnrollment> year_enrollment(const std::string& psn_no) = 0;
  virtual Result<CategoryMask> categories_on(const std::string& psn_no, Date day) = 0;
  // What psn_no is to the account holder, from relations in either direction.
  virtual Result<std::vector<Kinship>> kinship(const std::string& holder,
                                               const std::string& psn_no) = 0;
  // The holder's balance (the account row locked), or -1 without an account.
  virtual Result<Fen> balance(const std::string& holder) = 0;
  // 1 + the previous year's largest prior_years in the product, else 0.
  virtual Result<int> prior_years(const std::string& psn_no) = 0;

 protected:
  ~EnrolFacts() = default;
};

// Runs the checks of one enrolment of plan.products[product] in order; a
// refusal is the receipt's (refusal, message). Accepted, the receipt holds
// what would be written except the id: product, premium, begin, end,
// prior_years and the payers (the subsidy first, then by kind and ref).
// renew_accounts: for a renewal, the personal-account payers of the previous
// enrolment, who pay what the subsidy leaves in proportion to what they paid.
Status check_enrolment(EnrolFacts& facts, const Plan& plan, int product, const EnrolRequest& r,
                       const std::vector<PayerShare>* renew_accounts, EnrolReceipt* receipt);

// A relations row (row_psn_no, its rel_psn_no, relation) read as what the
// other person is to `holder`; false for an unknown relation name.
bool kinship_to_holder(std::string_view holder, std::string_view row_psn_no,
                       std::string_view relation, Kinship* out);

// The audit detail of an accepted enrolment with its id.
std::string enrolment_detail(const Plan& plan, const EnrolRequest& r, const EnrolReceipt& receipt,
                             int64_t id);
// The detail of the account move that pays a premium.
std::string premium_move_detail(const Plan& plan, const EnrolReceipt& receipt,
                                std::string_view psn_no);
std::string json_escaped(std::string_view s);

// Enrolments written with insert_rows (automatic enrolment, the import):
// the enrolments, their payers, the account moves paying premiums, the
// premium charges; flush() inserts them in that order (of the foreign keys).
struct EnrolmentRows {
  static constexpr std::string_view kEnrolmentCols[] = {
      "id",          "psn_no", "plan_id", "product",         "begin_date", "end_date",
      "prior_years", "status", "source",  "renewal_consent", "created_at"};
  static constexpr std::string_view kPayerCols[] = {"enrollment_id", "payer_kind", "payer_ref",
                                                    "amount_fen"};
  static constexpr std::string_view kMoveCols[] = {
      "id", "psn_no", "kind", "amount_fen", "balance_after_fen", "ref", "detail", "recorded_at"};
  static constexpr std::string_view kPremiumCols[] = {
      "id",   "enrollment_id", "payer_kind",      "payer_ref",
      "kind", "amount_fen",    "account_move_id", "recorded_at"};

  // An active enrolment from begin to end.
  void add_enrolment(int64_t id, std::string_view psn_no, const Plan& plan,
                     std::string_view product, Date begin, Date end, int prior_years,
                     std::string_view source, bool renewal_consent, const std::string& now);
  void add_payer(int64_t enrollment_id, PayerKind kind, std::string_view ref, Fen amount);
  // A premium debited from a personal account.
  void add_move(int64_t id, std::string_view holder, Fen amount, Fen balance_after,
                int64_t enrollment_id, std::string_view detail, const std::string& now);
  // A premium charge; move_id 0: not through a personal account.
  void add_charge(int64_t id, int64_t enrollment_id, PayerKind kind, std::string_view ref,
                  Fen amount, int64_t move_id, const std::string& now);
  size_t enrolments_buffered() const { return enrolments.rows(); }
  Status flush(store::Db& db);

  store::Rows enrolments{int(std::size(kEnrolmentCols))}, payers{int(std::size(kPayerCols))},
      moves{int(std::size(kMoveCols))}, premiums{int(std::size(kPremiumCols))};
};

// The product a voluntary operation is about, or -1 with the refusal set.
int voluntary_product(const Plan& plan, std::string_view id, Refusal* refusal,
                      std::string* message);

}  // namespace huibao::enrol_internal
