// huibao command line: `settle` (batch settlement, file to file), `gen`
// (synthetic data for a plan) and `plan check`.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "batch/batch.h"
#include "cli/cmd_books.h"
#include "cli/cmd_enrol.h"
#include "cli/cmd_serve.h"
#include "cli/cmd_store.h"
#include "gen/generator.h"
#include "policy/plan.h"
#include "policy/roll.h"
#include "service/reverse_service.h"
#include "service/settle_service.h"
#include "store/db.h"

namespace {

using namespace huibao;

int fail(const Status& s) {
  std::fprintf(stderr, "huibao: %s\n", s.to_string().c_str());
  switch (s.code()) {
    case Code::kIoError:
      return 3;
    case Code::kStoreError:
    case Code::kStoreConstraint:
    case Code::kStoreBusy:
    case Code::kStoreSchema:
      return 4;
    case Code::kLimitExceeded:
      return 64;
    default:
      return 2;
  }
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kIoError, "cannot read '" + path + "'");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) {  // not seekable (a pipe): read it as a stream
    in.clear();
    std::stringstream buf;
    buf << in.rdbuf();
    return buf.str();
  }
  std::string text(size_t(size), '\0');
  in.seekg(0);
  if (!in.read(text.data(), std::streamsize(text.size())))
    return Status(Code::kIoError, "cannot read '" + path + "'");
  return text;
}

long peak_rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// `settle --db`: against the stored roll and year states, storing the results.
int run_settle_db(const std::string& url, const std::string& plan_path, BatchOptions opts,
                  bool quiet) {
  Result<std::string> plan_text = read_file(plan_path);
  if (!plan_text.ok()) return fail(plan_text.status());
  Result<Plan> plan = load_plan(plan_path);
  if (!plan.ok()) return fail(plan.status());
  Result<std::unique_ptr<store::Db>> db = store::open_db(url);
  if (!db.ok()) return fail(db.status());
  StoreSettleOptions so;
  so.batch = opts;
  so.url = url;
  StoreSettleSummary sum;
  auto t0 = std::chrono::steady_clock::now();
  if (Status s = settle_into_store(**db, *plan, *plan_text, so, &sum); !s.ok()) return fail(s);
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!quiet) {
    std::printf("%s", format_summary(*plan, sum.batch).c_str());
    std::printf("store           %s, plan version %d\n", url.c_str(), sum.plan_version);
    std::printf(
        "stored          %llu settlements in %llu transactions (%.3f s; writer CPU %.3f s)\n",
        (unsigned long long)sum.stored, (unsigned long long)sum.commits, sum.persist_seconds,
        sum.writer_cpu_seconds);
    std::printf("claims file     %.3f s in all (roll and state loaded in %.3f s), %.0f records/s\n",
                total, sum.load_seconds, total > 0 ? double(sum.batch.records) / total : 0.0);
    std::printf("peak memory     %.1f MiB\n", double(peak_rss_kib()) / 1024.0);
  }
  return 0;
}

int run_settle(const std::string& plan_path, const std::string& persons,
               const std::string& enrollments, BatchOptions opts, bool quiet) {
  auto t0 = std::chrono::steady_clock::now();
  Result<Plan> plan = load_plan(plan_path);
  if (!plan.ok()) return fail(plan.status());
  Roll roll;
  {
    Result<std::string> text = read_file(persons);
    if (!text.ok()) return fail(text.status());
    if (Status s = roll.load_persons_csv(*text, persons); !s.ok()) return fail(s);
  }
  if (!enrollments.empty()) {
    Result<std::string> text = read_file(enrollments);
    if (!text.ok()) return fail(text.status());
    if (Status s = roll.load_enrollments_csv(*text, enrollments, *plan); !s.ok()) return fail(s);
  }
  auto t1 = std::chrono::steady_clock::now();
  BatchSummary sum;
  if (Status s = run_settle_batch(*plan, roll, opts, &sum); !s.ok()) return fail(s);
  auto t2 = std::chrono::steady_clock::now();
  if (!quiet) {
    double load_s = std::chrono::duration<double>(t1 - t0).count();
    double settle_s = std::chrono::duration<double>(t2 - t1).count();
    std::printf("%s", format_summary(*plan, sum).c_str());
    std::printf("persons         %zu (roll and plan loaded in %.3f s)\n", roll.size(), load_s);
    std::printf("claims file     %.3f s, %.0f records/s, explain %s\n", settle_s,
                settle_s > 0 ? double(sum.records) / settle_s : 0.0, opts.explain ? "on" : "off");
    std::printf("peak memory     %.1f MiB\n", double(peak_rss_kib()) / 1024.0);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"huibao: one-stop settlement for Shandong's supplementary health insurance"};
  app.require_subcommand(1);

  std::string plan_path, persons, enrollments, claims, out;
  BatchOptions opts;
  bool no_explain = false, quiet = false, progress = false;
  auto* settle = app.add_subcommand("settle", "settle a claims file against a plan and a roll");
  settle->add_option("--plan", plan_path, "plan file (TOML)")->required();
  std::string db_url;
  settle->add_option("--db", db_url,
                     "settle against the store (sqlite:PATH or postgresql://...) and keep the "
                     "results there; the roll and year states come from it");
  settle->add_option("--persons", persons, "persons.csv (the roll), without --db");
  settle->add_option("--enrollments", enrollments, "enrollments.csv");
  settle->add_option("--claims", claims, "claims.jsonl")->required();
  settle->add_option("--out", out, "results.jsonl to write")->required();
  settle->add_flag("--no-explain", no_explain, "leave out the per-layer explanation lines");
  settle->add_option("--threads", opts.threads, "worker threads (default: one per core)");
  settle->add_flag("--progress", progress,
                   "progress on stderr (default when stderr is a terminal)");
  settle->add_flag("--quiet", quiet, "print no summary");

  GenOptions gen;
  std::string gen_plan;
  auto* g = app.add_subcommand("gen", "generate a synthetic roll and claim stream for a plan");
  g->add_option("--plan", gen_plan, "plan file (TOML)")->required();
  g->add_option("--persons", gen.persons, "number of persons")->required();
  g->add_option("--claims", gen.claims, "number of claim records")->required();
  g->add_option("--seed", gen.seed, "random seed")->default_val(1);
  g->add_option("--dir", gen.dir, "output directory")->required();
  g->add_option("--invalid-per-10k", gen.invalid_per_10k, "deliberately invalid records per 10,000")
      ->default_val(50)
      ->check(CLI::Range(0, 10000));

  std::string check_path;
  auto* pc = app.add_subcommand("plan-check", "load and validate a plan file");
  pc->add_option("plan", check_path, "plan file (TOML)")->required();

  std::string rev_db, rev_plan, rev_setl, rev_id, rev_actor = "cli";
  auto* rev = app.add_subcommand(
      "reverse",
      "reverse a stored settlement; the person's other claims of the year are settled "
      "again and each difference is stored as an adjustment");
  rev->add_option("--db", rev_db, "sqlite:PATH or postgresql://...")->required();
  rev->add_option("--plan", rev_plan, "the plan file the settlement was made under")->required();
  rev->add_option("--setl-id", rev_setl, "the settlement to reverse")->required();
  rev->add_option("--reversal-id", rev_id, "id of the reversal (default: SETL_ID-R)");
  rev->add_option("--actor", rev_actor, "who reverses (audit log)");

  huibao::cli::add_store_commands(app);
  huibao::cli::add_enrol_commands(app);
  huibao::cli::add_serve_commands(app);
  huibao::cli::add_books_commands(app);

  CLI11_PARSE(app, argc, argv);

  if (settle->parsed()) {
    opts.claims_path = claims;
    opts.out_path = out;
    opts.explain = !no_explain;
    opts.progress = progress || isatty(2);
    if (!db_url.empty()) {
      if (!persons.empty() || !enrollments.empty()) {
        std::fprintf(stderr,
                     "huibao: with --db the roll comes from the store: drop --persons "
                     "and --enrollments (use `huibao roll import`)\n");
        return 2;
      }
      return run_settle_db(db_url, plan_path, opts, quiet);
    }
    if (persons.empty()) {
      std::fprintf(stderr, "huibao: settle needs --persons (or --db)\n");
      return 2;
    }
    return run_settle(plan_path, persons, enrollments, opts, quiet);
  }
  if (rev->parsed()) {
    Result<std::string> text = read_file(rev_plan);
    if (!text.ok()) return fail(text.status());
    Result<Plan> plan = load_plan(rev_plan);
    if (!plan.ok()) return fail(plan.status());
    Result<std::unique_ptr<store::Db>> db = store::open_db(rev_db);
    if (!db.ok()) return fail(db.status());
    Result<ReversalReport> r = reverse_settlement(
        **db, *plan, *text, rev_setl, rev_id.empty() ? rev_setl + "-R" : rev_id, rev_actor);
    if (!r.ok()) return fail(r.status());
    std::printf("reversed %s by %s (person %s): fund_pay_sumamt %s, hosp_part_amt %s taken back\n",
                rev_setl.c_str(), r->reversal_id.c_str(), r->psn_no.c_str(),
                fen_to_string(r->fund_pay_reversed).c_str(),
                fen_to_string(r->hosp_part_reversed).c_str());
    std::printf("re-settled %zu other claims of the year; %zu adjusted:\n", r->resettled,
                r->adjustments.size());
    for (const Adjustment& a : r->adjustments)
      std::printf("  %s adjusts %s: fund %s, hospital %s\n", a.setl_id.c_str(), a.adjusts.c_str(),
                  fen_to_string(a.fund_pay_delta).c_str(),
                  fen_to_string(a.hosp_part_delta).c_str());
    return 0;
  }
  if (g->parsed()) {
    Result<Plan> plan = load_plan(gen_plan);
    if (!plan.ok()) return fail(plan.status());
    GenStats st;
    if (Status s = generate(*plan, gen, &st); !s.ok()) return fail(s);
    std::printf(
        "generated %llu persons, %llu enrolments, %llu claim records (%llu accident, %llu invalid) "
        "in %s\n",
        (unsigned long long)st.persons, (unsigned long long)st.enrollments,
        (unsigned long long)st.claims, (unsigned long long)st.accident,
        (unsigned long long)st.invalid, gen.dir.c_str());
    return 0;
  }
  if (pc->parsed()) {
    Result<Plan> plan = load_plan(check_path);
    if (!plan.ok()) return fail(plan.status());
    std::printf("%s: plan %s, %s..%s, %zu layers, %zu products: ok\n", check_path.c_str(),
                plan->id.c_str(), date_to_string(plan->period_begin).c_str(),
                date_to_string(plan->period_end).c_str(), plan->layers.size(),
                plan->products.size());
    return 0;
  }
  return 0;
}
