#include "books/accounts.h"

namespace huibao::books {
namespace {

constexpr AccountInfo kChart[] = {
    {account::kBank, "资金专户 bank", AccountClass::kAsset, true, false},
    {account::kLossShareReceivable, "应收政府分担亏损 loss share receivable", AccountClass::kAsset,
     true, false},
    {account::kClaimsPayable, "应付赔款 claims payable", AccountClass::kLiability, false, false},
    {account::kSurplusPayable, "应退结余 surplus payable", AccountClass::kLiability, false, false},
    {account::kPremiumIncome, "保费收入 premium income", AccountClass::kIncome, false, true},
    {account::kTransferIn, "保费调入 premium transferred in", AccountClass::kIncome, false, false},
    {account::kCarryOverIn, "上年结余转入 surplus carried in", AccountClass::kIncome, false, false},
    {account::kLossShareIncome, "政府分担亏损 government loss share", AccountClass::kIncome, false,
     false},
    {account::kClaimsExpense, "赔款支出 claims", AccountClass::kExpense, true, true},
    {account::kOperatingExpense, "运营费用 operating cost", AccountClass::kExpense, true, false},
    {account::kPlatformFee, "平台服务费 platform fee", AccountClass::kExpense, true, false},
    {account::kTransferOut, "保费调出 premium transferred out", AccountClass::kDistribution, true,
     false},
    {account::kCarryOverOut, "结余结转下年 surplus carried over", AccountClass::kDistribution, true,
     false},
    {account::kSurplusReturned, "结余退还 surplus returned", AccountClass::kDistribution, true,
     false},
};

}  // namespace

const AccountInfo* account_info(std::string_view account) {
  const std::string_view name = account.substr(0, account.find(':'));
  for (const AccountInfo& a : kChart) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

bool valid_account(std::string_view account) {
  const AccountInfo* a = account_info(account);
  if (a == nullptr) return false;
  const size_t colon = account.find(':');
  if (!a->detailed) return colon == std::string_view::npos;
  return colon != std::string_view::npos && colon + 1 < account.size();
}

std::string_view account_detail(std::string_view account) {
  const size_t colon = account.find(':');
  return colon == std::string_view::npos ? std::string_view() : account.substr(colon + 1);
}

std::string premium_income_account(PayerKind payer) {
  return std::string(account::kPremiumIncome) + ":" + std::string(payer_kind_name(payer));
}

std::string claims_expense_account(std::string_view layer) {
  return std::string(account::kClaimsExpense) + ":" + std::string(layer);
}

}  // namespace huibao::books
