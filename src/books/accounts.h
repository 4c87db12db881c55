// The chart of accounts of a book. A book is one product's money in one city
// (region) for one plan year, kept apart from every other (专账管理、独立核算).
// An account is a name, with a detail after ':' for the accounts kept per
// payer or per layer: premium_income:provincial, claims_expense:<layer id>.
// Balances are derived from the journal's lines, never stored: a debit-normal
// account's balance is its debits less its credits, a credit-normal one's the
// reverse.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "policy/plan.h"

namespace huibao::books {

enum class AccountClass : uint8_t {
  kAsset,         // bank, receivables
  kLiability,     // payables
  kIncome,        // premiums, transfers and carry-over in, the government's loss share
  kExpense,       // claims, operating cost, platform fees
  kDistribution,  // what leaves the year's result: transfers and carry-over out, returns
};

struct AccountInfo {
  std::string_view name;   // without the detail
  std::string_view title;  // for people (reports)
  AccountClass cls;
  bool debit_normal;
  bool detailed;  // always written with ':detail'
};

namespace account {
inline constexpr std::string_view kBank = "bank";                       // 资金专户
inline constexpr std::string_view kClaimsPayable = "claims_payable";    // to hospitals, insured
inline constexpr std::string_view kSurplusPayable = "surplus_payable";  // a return owed
inline constexpr std::string_view kLossShareReceivable = "loss_share_receivable";
inline constexpr std::string_view kPremiumIncome = "premium_income";  // :payer_kind
inline constexpr std::string_view kTransferIn = "transfer_in";
inline constexpr std::string_view kTransferOut = "transfer_out";
inline constexpr std::string_view kCarryOverIn = "carry_over_in";
inline constexpr std::string_view kCarryOverOut = "carry_over_out";
inline constexpr std::string_view kLossShareIncome = "loss_share_income";
inline constexpr std::string_view kClaimsExpense = "claims_expense";  // :layer
inline constexpr std::string_view kOperatingExpense = "operating_expense";
inline constexpr std::string_view kPlatformFee = "platform_fee";
inline constexpr std::string_view kSurplusReturned = "surplus_returned";
}  // namespace account

// The account's entry in the chart (by the part before ':'), or null.
const AccountInfo* account_info(std::string_view account);
// True when the account is in the chart and carries a detail exactly when it should.
bool valid_account(std::string_view account);
// The part after ':' ("" without one).
std::string_view account_detail(std::string_view account);

std::string premium_income_account(PayerKind payer);
std::string claims_expense_account(std::string_view layer);

}  // namespace huibao::books
