#include "cli/cmd_books.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "books/ops.h"
#include "books/population.h"
#include "books/post.h"
#include "books/report_model.h"
#include "books/report_query.h"
#include "books/reports.h"
#include "cli/cli_common.h"
#include "core/date.h"
#include "service/audit.h"
#include "service/roll_service.h"
#include "store/db.h"

namespace huibao::cli {
namespace {

using books::Receipt;

constexpr const char* kExitCodes =
    "Exit codes: 0 done, 2 invalid input or refused (nothing written), 3 I/O error, 4 store "
    "error, 5 the books or reports do not reconcile.";

[[noreturn]] void exit_with(int code) {
  throw CLI::RuntimeError(code);
}

[[noreturn]] void refused(books::Refusal r, const std::string& message) {
  std::fprintf(stderr, "huibao: refused (%s): %s\n", std::string(books::refusal_name(r)).c_str(),
               message.c_str());
  exit_with(2);
}

Fen amount_of(const std::string& text) {
  Fen f = 0;
  if (parse_decimal_string_fen(text, &f) != AmountSyntax::kOk || f <= 0)
    fail(Status(Code::kRollInvalid,
                "--amount '" + text + "' must be a positive amount in yuan such as 1234.50"));
  return f;
}

std::string day_or_today(const std::string& text) {
  if (text.empty()) return date_to_string(today_local());
  Date d;
  if (!parse_date(text, &d)) fail(Status(Code::kRollInvalid, "--date must be YYYY-MM-DD"));
  return text;
}

Plan load(const std::string& path) {
  Result<Plan> plan = load_plan(path);
  if (!plan.ok()) fail(plan.status());
  return std::move(*plan);
}

void print_receipt(const Receipt& r) {
  if (r.refusal != books::Refusal::kNone) refused(r.refusal, r.message);
  std::printf("%s %s (%s, %s)\n", r.entry.key.c_str(),
              std::string(books::post_outcome_name(r.outcome)).c_str(), r.entry.kind.c_str(),
              r.entry.date.c_str());
  for (const books::Line& l : r.entry.lines) {
    std::printf("  %-14s %-6s %4d  %-28s %-14s %14s %14s\n", l.product.c_str(), l.region.c_str(),
                l.year, l.account.c_str(), l.counterparty.c_str(),
                l.debit > 0 ? fen_to_string(l.debit).c_str() : "",
                l.credit > 0 ? fen_to_string(l.credit).c_str() : "");
  }
}

struct Common {
  std::string db;
  std::string actor = default_actor();
};

void add_common(CLI::App* cmd, Common* c) {
  cmd->add_option("--db", c->db, kDbHelp);
  cmd->add_option("--actor", c->actor, "who runs this, for the journal ($HUIBAO_ACTOR, $USER)")
      ->capture_default_str();
  cmd->footer(kExitCodes);
}

void add_post(CLI::App* books) {
  auto c = std::make_shared<Common>();
  auto* cmd = books->add_subcommand(
      "post",
      "post every premium and settlement not yet posted to the books (idempotent: a rerun "
      "adds only what is new)");
  add_common(cmd, c.get());
  cmd->callback([c] {
    std::unique_ptr<store::Db> db = open(c->db);
    books::PostOptions o;
    o.actor = c->actor;
    books::PostReport r;
    const auto t0 = std::chrono::steady_clock::now();
    if (Status s = books::post_books(*db, o, &r); !s.ok()) fail(s);
    std::printf("%s", r.to_text().c_str());
    std::printf("time         %.3f s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  });
}

void add_pay(CLI::App* books) {
  struct Args : Common {
    books::PayRequest r;
    std::string date;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = books->add_subcommand(
      "pay",
      "pay out every claims payable (to hospitals, and accident benefits to the insured) the "
      "filters select; the same --run again pays only what it has not");
  cmd->add_option("--run", a->r.run, "the payment run's name (default: the date)");
  cmd->add_option("--date", a->date, "payment day YYYY-MM-DD (default: today)");
  cmd->add_option("--year", a->r.year, "only this plan year");
  cmd->add_option("--product", a->r.product, "only this product");
  cmd->add_option("--region", a->r.region, "only this city (code NNNN00)");
  cmd->add_option("--hospital", a->r.counterparty, "only this hospital (fixmedins_code)");
  add_common(cmd, a.get());
  cmd->callback([a] {
    a->r.date = day_or_today(a->date);
    if (a->r.run.empty()) a->r.run = a->r.date;
    a->r.actor = a->actor;
    std::unique_ptr<store::Db> db = open(a->db);
    books::PayReport r;
    if (Status s = books::pay_claims(*db, a->r, &r); !s.ok()) fail(s);
    std::printf("%s", r.to_text().c_str());
  });
}

void add_cost(CLI::App* books) {
  struct Args : Common {
    books::CostRequest r;
    std::string amount, date, kind = "operating";
  };
  auto a = std::make_shared<Args>();
  auto* cmd = books->add_subcommand(
      "cost", "record the insurer's operating cost or a platform service fee against a book");
  cmd->add_option("--kind", a->kind, "operating or platform (a third-party platform's fee)")
      ->check(CLI::IsMember({"operating", "platform"}))
      ->capture_default_str();
  cmd->add_option("--product", a->r.product, "product id")->required();
  cmd->add_option("--region", a->r.region, "city code NNNN00")->required();
  cmd->add_option("--year", a->r.year, "plan year")->required();
  cmd->add_option("--amount", a->amount, "yuan, e.g. 125000.00")->required();
  cmd->add_option("--key", a->r.key,
                  "business key (a voucher number): the same key again is "
                  "answered as already posted")
      ->required();
  cmd->add_option("--date", a->date, "YYYY-MM-DD (default: today)");
  cmd->add_option("--memo", a->r.memo, "what it was");
  cmd->add_option("--payee", a->r.counterparty, "who was paid");
  add_common(cmd, a.get());
  cmd->callback([a] {
    a->r.kind = a->kind == "platform" ? books::kind::kPlatformFee : books::kind::kOperatingCost;
    a->r.amount = amount_of(a->amount);
    a->r.date = day_or_today(a->date);
    a->r.actor = a->actor;
    std::unique_ptr<store::Db> db = open(a->db);
    Receipt r;
    if (Status s = books::record_cost(*db, a->r, &r); !s.ok()) fail(s);
    print_receipt(r);
  });
}

void add_transfer(CLI::App* books) {
  struct Args : Common {
    books::TransferRequest r;
    std::string plan, amount, date;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = books->add_subcommand(
      "transfer",
      "re-allocate premium from one product of the plan to another (where its [fund] "
      "premium_transfers allows it, e.g. the 2020 plan's medical and accident products)");
  cmd->add_option("--plan", a->plan, "plan file (TOML)")->required();
  cmd->add_option("--from", a->r.from_product, "product giving premium")->required();
  cmd->add_option("--to", a->r.to_product, "product receiving it")->required();
  cmd->add_option("--region", a->r.region, "city code NNNN00")->required();
  cmd->add_option("--amount", a->amount, "yuan")->required();
  cmd->add_option("--key", a->r.key, "business key")->required();
  cmd->add_option("--date", a->date, "YYYY-MM-DD (default: today)");
  cmd->add_option("--memo", a->r.memo, "why");
  add_common(cmd, a.get());
  cmd->callback([a] {
    const Plan plan = load(a->plan);
    a->r.amount = amount_of(a->amount);
    a->r.date = day_or_today(a->date);
    a->r.actor = a->actor;
    std::unique_ptr<store::Db> db = open(a->db);
    Receipt r;
    if (Status s = books::transfer_premium(*db, plan, a->r, &r); !s.ok()) fail(s);
    print_receipt(r);
  });
}

void add_carry_over(CLI::App* books) {
  struct Args : Common {
    books::CarryOverRequest r;
    std::string amount, date;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = books->add_subcommand(
      "carry-over",
      "carry a year's surplus into the next year's book as premium subsidy (e.g. the 2019 "
      "surplus into 2020)");
  cmd->add_option("--product", a->r.product, "product id")->required();
  cmd->add_option("--region", a->r.region, "city code NNNN00")->required();
  cmd->add_option("--from-year", a->r.from_year, "the surplus's year")->required();
  cmd->add_option("--amount", a->amount, "yuan")->required();
  cmd->add_option("--key", a->r.key, "business key")->required();
  cmd->add_option("--date", a->date, "YYYY-MM-DD (default: today)");
  cmd->add_option("--memo", a->r.memo, "why");
  add_common(cmd, a.get());
  cmd->callback([a] {
    a->r.amount = amount_of(a->amount);
    a->r.date = day_or_today(a->date);
    a->r.actor = a->actor;
    std::unique_ptr<store::Db> db = open(a->db);
    Receipt r;
    if (Status s = books::carry_over(*db, a->r, &r); !s.ok()) fail(s);
    print_receipt(r);
  });
}

void add_reverse(CLI::App* books) {
  struct Args : Common {
    std::string key, date, memo;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = books->add_subcommand(
      "reverse",
      "take back an explicit entry (cost, fee, transfer, carry-over, payment) with a new entry "
      "reversal:<key>; entries are never edited");
  cmd->add_option("--key", a->key, "the entry's business key")->required();
  cmd->add_option("--date", a->date, "YYYY-MM-DD (default: today)");
  cmd->add_option("--memo", a->memo, "why");
  add_common(cmd, a.get());
  cmd->callback([a] {
    std::unique_ptr<store::Db> db = open(a->db);
    Receipt r;
    if (Status s = books::reverse_entry(*db, a->key, day_or_today(a->date), a->memo, a->actor, &r);
        !s.ok())
      fail(s);
    print_receipt(r);
  });
}

void add_year_end(CLI::App* books) {
  struct Args : Common {
    std::string plan;
    books::YearEndOptions o;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = books->add_subcommand(
      "year-end",
      "settle the plan year of every book of the plan's products by its [fund] rules: below "
      "the loss-ratio floor the shortfall is carried over or returned, above the ceiling the "
      "government's share of the loss is receivable; a rerun posts only differences");
  cmd->add_option("--plan", a->plan, "plan file (TOML)")->required();
  cmd->add_option("--region", a->o.region, "only this city (code NNNN00)");
  cmd->add_option("--date", a->o.date, "the entries' day (default: the plan's last day)");
  add_common(cmd, a.get());
  cmd->callback([a] {
    const Plan plan = load(a->plan);
    a->o.actor = a->actor;
    std::unique_ptr<store::Db> db = open(a->db);
    books::YearEndReport r;
    if (Status s = books::year_end(*db, plan, a->o, &r); !s.ok()) fail(s);
    if (r.refusal != books::Refusal::kNone) refused(r.refusal, r.message);
    std::printf("%s", r.to_text().c_str());
  });
}

// ---- the query options of balances and reports (books/report_query.h: the
// names and checks the API shares) ----

struct QueryArgs : Common {
  books::ReportQuery q;
  std::map<books::QueryParam, std::string> given;  // as typed
};

template <class Takes>
void add_query_options(CLI::App* cmd, QueryArgs* a, Takes takes) {
  for (const books::QueryParamInfo& p : books::query_params()) {
    if (takes(p.param))
      cmd->add_option(books::cli_flag(p.name), a->given[p.param], std::string(p.help));
  }
}

// The typed values, checked into a->q; a bad one fails (exit 2) naming its option.
void apply_query(QueryArgs* a) {
  for (const auto& [param, value] : a->given) {
    if (auto e = books::set_query_param(&a->q, param, value))
      fail(Status(Code::kRollInvalid,
                  books::cli_flag(books::query_param(param).name) + " " + e->message));
  }
}

void add_balances(CLI::App* books) {
  auto a = std::make_shared<QueryArgs>();
  auto* cmd =
      books->add_subcommand("balances", "every account of every book, derived from the journal");
  add_query_options(cmd, a.get(), books::balances_take);
  add_common(cmd, a.get());
  cmd->callback([a] {
    apply_query(a.get());
    const books::BalanceFilter f =
        books::balance_filter(a->q, !a->given[books::QueryParam::kYear].empty());
    std::unique_ptr<store::Db> db = open(a->db);
    std::vector<books::BalanceRow> rows;
    if (Status s = books::book_balances(*db, f, &rows); !s.ok()) fail(s);
    std::printf("%-14s %-6s %4s  %-30s %16s %16s %16s\n", "product", "region", "year", "account",
                "debit", "credit", "balance");
    for (const books::BalanceRow& r : rows)
      std::printf("%-14s %-6s %4d  %-30s %16s %16s %16s\n", r.product.c_str(), r.region.c_str(),
                  r.year, r.account.c_str(), fen_to_string(r.debit).c_str(),
                  fen_to_string(r.credit).c_str(), fen_to_string(r.balance()).c_str());
  });
}

void add_check(CLI::App* books) {
  auto c = std::make_shared<Common>();
  auto* cmd = books->add_subcommand(
      "check", "check the journal: every entry balances in every book, no payable overpaid");
  add_common(cmd, c.get());
  cmd->callback([c] {
    std::unique_ptr<store::Db> db = open(c->db);
    books::BooksCheck r;
    if (Status s = books::check_books(*db, &r); !s.ok()) fail(s);
    std::printf("%s", r.to_text().c_str());
    if (!r.ok()) exit_with(5);
  });
}

// ---- reports ----

struct ReportArgs : QueryArgs {
  std::string out, svg, dir;
};

// --out's format from its extension.
void write_out(const std::string& json, const std::string& path) {
  auto ends = [&](const char* ext) {
    const std::string e(ext);
    return path.size() >= e.size() && path.compare(path.size() - e.size(), e.size(), e) == 0;
  };
  if (ends(".json")) {
    std::ofstream out(path, std::ios::binary);
    out << json;
    if (!out) fail(Status(Code::kIoError, "cannot write '" + path + "'"));
  } else if (ends(".csv")) {
    std::vector<std::string> files;
    if (Status s = books::write_report_csv(json, path, &files); !s.ok()) fail(s);
  } else if (ends(".xlsx")) {
    if (Status s = books::write_report_xlsx(json, path); !s.ok()) fail(s);
  } else {
    fail(Status(Code::kRollInvalid, "--out '" + path + "' must end in .json, .csv or .xlsx"));
  }
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) fail(Status(Code::kIoError, "cannot write '" + path + "'"));
}

// An unmasked list of persons is a read of personal data: it goes to the audit log.
void audit_unmasked(store::Db& db, const ReportArgs& a, std::string_view report) {
  store::Tx tx(db);
  if (!tx.ok()) fail(tx.status());
  nlohmann::json detail = {{"report", report}, {"year", a.q.year}, {"region", a.q.region}};
  if (Status s = append_audit(db, a.actor, "report.unmasked", "", detail.dump()); !s.ok()) fail(s);
  if (Status s = tx.commit(); !s.ok()) fail(s);
}

void add_report(CLI::App& app) {
  auto* report = app.add_subcommand("report", "the supervision reports (JSON, CSV, XLSX, SVG)");
  report->require_subcommand(1);
  for (const books::ReportInfo& info : books::report_catalog()) {
    auto a = std::make_shared<ReportArgs>();
    auto* cmd = report->add_subcommand(std::string(info.name), std::string(info.title));
    const books::ReportKind kind = info.kind;
    add_query_options(cmd, a.get(),
                      [kind](books::QueryParam p) { return books::report_takes(kind, p); });
    cmd->add_option("--out", a->out,
                    "write the report to F.json, F.csv (one file per table) or F.xlsx; default: "
                    "JSON on stdout");
    if (!info.chart.empty())
      cmd->add_option("--svg", a->svg, "also render its chart to this SVG file");
    if (info.kind == books::ReportKind::kZeroSelfPay)
      cmd->add_flag("--unmasked", a->q.unmasked, "resident ids in full (written to the audit log)");
    add_common(cmd, a.get());
    const books::ReportInfo* i = &info;
    cmd->callback([a, i] {
      apply_query(a.get());
      std::unique_ptr<store::Db> db = open(a->db);
      Result<std::string> json = books::report_json(*db, i->kind, a->q);
      if (!json.ok()) fail(json.status());
      if (a->q.unmasked) audit_unmasked(*db, *a, i->name);
      if (a->out.empty()) {
        std::fputs(json->c_str(), stdout);
      } else {
        write_out(*json, a->out);
      }
      if (!a->svg.empty()) {
        books::ChartKind kind;
        if (!books::chart_of(i->name, &kind))
          fail(Status(Code::kRollInvalid, "this report has no chart"));
        Result<std::string> svg = books::chart_svg(kind, *json, a->q.product);
        if (!svg.ok()) fail(svg.status());
        write_text(a->svg, *svg);
      }
      if (i->kind == books::ReportKind::kReconcile) {
        const nlohmann::json j = nlohmann::json::parse(*json);
        if (j["status"] != "ok") {
          std::fprintf(stderr, "huibao: the books and the facts do not reconcile\n");
          exit_with(5);
        }
      }
    });
  }

  // Every report at once, in every form.
  auto a = std::make_shared<ReportArgs>();
  auto* all = report->add_subcommand(
      "all", "write every report as JSON, CSV and XLSX, and every chart as SVG, into --dir");
  add_query_options(all, a.get(), books::every_report_takes);
  all->add_option("--dir", a->dir, "output directory")->required();
  add_common(all, a.get());
  all->callback([a] {
    apply_query(a.get());
    std::filesystem::create_directories(a->dir);
    std::unique_ptr<store::Db> db = open(a->db);
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    bool reconciled = true;
    for (const books::ReportInfo& info : books::report_catalog()) {
      const auto t1 = Clock::now();
      Result<std::string> json = books::report_json(*db, info.kind, a->q);
      if (!json.ok()) {
        // A year without settlements has no settlement to draw.
        if (info.kind == books::ReportKind::kSettlement &&
            json.status().code() == Code::kPlanInvalid) {
          std::printf("%-14s skipped: %s\n", std::string(info.name).c_str(),
                      json.status().message().c_str());
          continue;
        }
        fail(json.status());
      }
      const std::string base = a->dir + "/" + std::string(info.name);
      write_out(*json, base + ".json");
      write_out(*json, base + ".csv");
      write_out(*json, base + ".xlsx");
      books::ChartKind kind;
      std::string chart;
      if (books::chart_of(info.name, &kind)) {
        Result<std::string> svg = books::chart_svg(kind, *json, a->q.product);
        if (!svg.ok()) fail(svg.status());
        chart = base + ".svg";
        write_text(chart, *svg);
      }
      if (info.kind == books::ReportKind::kReconcile)
        reconciled = nlohmann::json::parse(*json)["status"] == "ok";
      std::printf("%-14s %7.3f s  %s.{json,csv,xlsx}%s\n", std::string(info.name).c_str(),
                  std::chrono::duration<double>(Clock::now() - t1).count(), base.c_str(),
                  chart.empty() ? "" : (" " + chart).c_str());
    }
    std::printf("all reports    %7.3f s\n",
                std::chrono::duration<double>(Clock::now() - t0).count());
    if (!reconciled) {
      std::fprintf(stderr, "huibao: the books and the facts do not reconcile (reconcile.json)\n");
      exit_with(5);
    }
  });
}

void add_population(CLI::App& app) {
  auto* pop = app.add_subcommand("population", "official basic-insurance population figures");
  pop->require_subcommand(1);
  struct Args : Common {
    std::string file;
  };
  auto a = std::make_shared<Args>();
  auto* imp = pop->add_subcommand(
      "import",
      "load region,year,population[,source] (a bureau's official figures by city); the "
      "enrolment report uses them instead of counting the roll");
  imp->add_option("--file", a->file, "CSV file")->required();
  add_common(imp, a.get());
  imp->callback([a] {
    std::unique_ptr<store::Db> db = open(a->db);
    books::PopulationImport r;
    Status s = books::import_population(*db, a->file, &r);
    for (const std::string& e : r.errors) std::fprintf(stderr, "%s\n", e.c_str());
    if (!s.ok()) fail(s);
    std::printf("%lld figures loaded\n", (long long)r.rows);
  });
}

}  // namespace

void add_books_commands(CLI::App& app) {
  auto* books = app.add_subcommand("books", "the fund books of each product, city and year");
  books->require_subcommand(1);
  add_post(books);
  add_pay(books);
  add_cost(books);
  add_transfer(books);
  add_carry_over(books);
  add_reverse(books);
  add_year_end(books);
  add_balances(books);
  add_check(books);
  add_report(app);
  add_population(app);
}

}  // namespace huibao::cli
