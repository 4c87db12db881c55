#include "cli/cmd_enrol.h"

#include "cli/cli_common.h"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "service/enrol_service.h"
#include "store/db.h"

namespace huibao::cli {
namespace {

constexpr const char* kExitCodes =
    "Exit codes: 0 done, 2 invalid input or enrolment refused (nothing written), 3 I/O error, "
    "4 store error.";

[[noreturn]] void exit_with(int code) {
  throw CLI::RuntimeError(code);
}

[[noreturn]] void refused(Refusal r, const std::string& message) {
  std::fprintf(stderr, "huibao: refused (%s): %s\n", std::string(refusal_name(r)).c_str(),
               message.c_str());
  exit_with(2);
}

struct LoadedPlan {
  Plan plan;
  std::string text;
};

LoadedPlan load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(Status(Code::kIoError, "cannot read plan file '" + path + "'"));
  std::stringstream buf;
  buf << in.rdbuf();
  LoadedPlan out;
  out.text = buf.str();
  Result<Plan> plan = load_plan(path);
  if (!plan.ok()) fail(plan.status());
  out.plan = std::move(*plan);
  return out;
}

// --date, or today (the operator's local calendar day).
Date day_of(const std::string& text) {
  Date d;
  if (text.empty()) {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    return date_from_ymd(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  }
  if (!parse_date(text, &d)) fail(Status(Code::kRollInvalid, "--date must be YYYY-MM-DD"));
  return d;
}

struct Common {
  std::string db;
  std::string actor = default_actor();
  std::string date;
  std::string product;
};

void add_common(CLI::App* cmd, Common* c, const char* date_help) {
  cmd->add_option("--db", c->db, kDbHelp);
  cmd->add_option("--actor", c->actor, "who runs this, for the audit log ($HUIBAO_ACTOR, $USER)")
      ->capture_default_str();
  if (date_help != nullptr) cmd->add_option("--date", c->date, date_help);
  cmd->footer(kExitCodes);
}

void print_receipt(const EnrolReceipt& r, const std::string& psn) {
  std::string payers;
  for (const PayerShare& p : r.payers) payers += " " + payer_to_string(p);
  std::printf("enrolled %s in %s: enrolment %lld, covered %s..%s, premium %s, prior_years %d\n",
              psn.c_str(), r.product.c_str(), (long long)r.enrollment_id,
              date_to_string(r.begin).c_str(), date_to_string(r.end).c_str(),
              fen_to_string(r.premium_fen).c_str(), r.prior_years);
  std::printf("payers         %s\n", payers.empty() ? " -" : payers.c_str());
}

void add_auto(CLI::App* enrol) {
  struct Args {
    Common c;
    std::string plan;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = enrol->add_subcommand(
      "auto",
      "enrol every qualifying person of the stored roll into the plan's automatic "
      "(government-paid) products; a rerun changes only what the roll changed");
  cmd->add_option("--plan", a->plan, "plan file (TOML)")->required();
  add_common(cmd, &a->c, nullptr);
  cmd->callback([a] {
    LoadedPlan p = load(a->plan);
    std::unique_ptr<store::Db> db = open(a->c.db);
    AutoEnrolOptions o;
    o.actor = a->c.actor;
    AutoEnrolReport report;
    if (Status s = enrol_automatic(*db, p.plan, p.text, o, &report); !s.ok()) fail(s);
    std::printf("%s", report.to_text().c_str());
  });
}

void add_add(CLI::App* enrol) {
  struct Args {
    Common c;
    std::string plan, psn;
    std::vector<std::string> payers;
    bool renew = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = enrol->add_subcommand("add", "enrol one person in a voluntary product");
  cmd->add_option("--plan", a->plan, "plan file (TOML)")->required();
  cmd->add_option("--psn", a->psn, "the person's resident id (psn_no)")->required();
  cmd->add_option("--payer", a->payers,
                  "who pays what (repeatable): cash:99.00, personal_account:<holder psn_no>:50.00, "
                  "employer:<code>:99.00; the hardship subsidy is computed, not given");
  cmd->add_option("--product", a->c.product, "product id (default: the plan's voluntary product)");
  cmd->add_flag("--renew", a->renew,
                "consent to renewal next year by automatic deduction from the personal account");
  add_common(cmd, &a->c, "payment day YYYY-MM-DD (default: today)");
  cmd->callback([a] {
    LoadedPlan p = load(a->plan);
    EnrolRequest r;
    r.psn_no = a->psn;
    r.product = a->c.product;
    r.paid_on = day_of(a->c.date);
    r.renewal_consent = a->renew;
    r.actor = a->c.actor;
    for (const std::string& text : a->payers) {
      PayerShare s;
      std::string error;
      if (!parse_payer(text, &s, &error)) refused(Refusal::kBadPayer, error);
      r.payers.push_back(std::move(s));
    }
    std::unique_ptr<store::Db> db = open(a->c.db);
    EnrolReceipt receipt;
    if (Status s = enrol_voluntary(*db, p.plan, p.text, r, &receipt); !s.ok()) fail(s);
    if (receipt.refusal != Refusal::kNone) refused(receipt.refusal, receipt.message);
    print_receipt(receipt, r.psn_no);
  });
}

void add_import(CLI::App* enrol) {
  struct Args {
    Common c;
    std::string plan;
    EnrolImportOptions o;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = enrol->add_subcommand(
      "import",
      "enrol the persons of a CSV file, all or nothing (columns psn_no and any of "
      "payers, date, renewal_consent; payers as in `add`, separated by ';')");
  cmd->add_option("--plan", a->plan, "plan file (TOML)")->required();
  cmd->add_option("--file", a->o.path, "the CSV file")->required();
  cmd->add_option("--product", a->c.product, "product id (default: the plan's voluntary product)");
  cmd->add_option("--employer", a->o.employer,
                  "an employer's group list: this employer code pays what the subsidy leaves on "
                  "rows without payers");
  cmd->add_flag("--dry-run", a->o.dry_run, "check every row and report; write nothing");
  add_common(cmd, &a->c, "payment day of rows without a date (default: today)");
  cmd->callback([a] {
    LoadedPlan p = load(a->plan);
    a->o.product = a->c.product;
    a->o.paid_on = day_of(a->c.date);
    a->o.actor = a->c.actor;
    std::unique_ptr<store::Db> db = open(a->c.db);
    EnrolImportReport report;
    Status s = import_enrolments(*db, p.plan, p.text, a->o, &report);
    if (s.ok() || s.code() == Code::kRollInvalid) std::printf("%s", report.to_text().c_str());
    if (!s.ok()) fail(s);
  });
}

void add_renew(CLI::App* enrol) {
  struct Args {
    Common c;
    std::string from, to;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = enrol->add_subcommand(
      "renew",
      "renew the enrolments with renewal consent into the next year's plan, deducting "
      "from the personal account that paid; persons whose balance is short are "
      "skipped and listed");
  cmd->add_option("--from-plan", a->from, "this year's plan file")->required();
  cmd->add_option("--to-plan", a->to, "next year's plan file")->required();
  add_common(cmd, &a->c, "deduction day YYYY-MM-DD (default: today)");
  cmd->callback([a] {
    LoadedPlan from = load(a->from);
    LoadedPlan to = load(a->to);
    RenewOptions o;
    o.on = day_of(a->c.date);
    o.actor = a->c.actor;
    std::unique_ptr<store::Db> db = open(a->c.db);
    RenewReport report;
    if (Status s = renew_enrolments(*db, from.plan, to.plan, to.text, o, &report); !s.ok()) fail(s);
    std::printf("%s", report.to_text().c_str());
  });
}

void add_cancel(CLI::App* enrol) {
  struct Args {
    Common c;
    std::string plan, psn;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = enrol->add_subcommand(
      "cancel", "cancel a voluntary enrolment and refund the payers as the plan says");
  cmd->add_option("--plan", a->plan, "plan file (TOML)")->required();
  cmd->add_option("--psn", a->psn, "the person's resident id (psn_no)")->required();
  cmd->add_option("--product", a->c.product, "product id (default: the plan's voluntary product)");
  add_common(cmd, &a->c, "cancellation day YYYY-MM-DD (default: today)");
  cmd->callback([a] {
    LoadedPlan p = load(a->plan);
    CancelRequest r;
    r.psn_no = a->psn;
    r.product = a->c.product;
    r.on = day_of(a->c.date);
    r.actor = a->c.actor;
    std::unique_ptr<store::Db> db = open(a->c.db);
    CancelReceipt receipt;
    if (Status s = cancel_enrolment(*db, p.plan, r, &receipt); !s.ok()) fail(s);
    if (receipt.refusal != Refusal::kNone) refused(receipt.refusal, receipt.message);
    std::string refunds;
    for (const PayerShare& x : receipt.refunds) refunds += " " + payer_to_string(x);
    std::printf("cancelled enrolment %lld of %s: %s, refunded %s%s\n",
                (long long)receipt.enrollment_id, r.psn_no.c_str(),
                receipt.before_cover ? "cover had not begun"
                                     : ("covered " + date_to_string(receipt.begin) + ".." +
                                        date_to_string(receipt.end))
                                           .c_str(),
                fen_to_string(receipt.refunded_fen).c_str(), refunds.c_str());
  });
}

}  // namespace

void add_enrol_commands(CLI::App& app) {
  auto* enrol = app.add_subcommand("enrol", "enrol persons in a plan's products");
  enrol->require_subcommand(1);
  add_auto(enrol);
  add_add(enrol);
  add_import(enrol);
  add_renew(enrol);
  add_cancel(enrol);
}

}  // namespace huibao::cli
