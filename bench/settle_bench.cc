// Google Benchmark: settling one claim through every layer of each reference
// plan (the engine alone, no I/O), with and without the explanation trace.
#include <benchmark/benchmark.h>

#include "policy/plan.h"
#include "policy/roll.h"
#include "settle/engine.h"
#include "settle/explain.h"

namespace huibao {
namespace {

struct Fixture {
  Plan plan;
  Roll roll;
  MedicalClaim claim;
};

Fixture make(const char* plan_file, const char* begndate) {
  Fixture f;
  Result<Plan> p = load_plan(std::string(HUIBAO_SOURCE_DIR) + "/plans/" + plan_file);
  if (!p.ok()) std::abort();
  f.plan = std::move(*p);
  Status s = f.roll.load_persons_csv(
      "psn_no,psn_name,gend,brdy,admdvs,insutype,categories,preexisting\n"
      "370102198001011237,A,1,,370102,390,poverty;dibao_edge,0\n",
      "p.csv");
  if (!s.ok()) std::abort();
  int hmb = f.plan.find_product("hmb");
  if (hmb >= 0) {
    Date b, e;
    parse_date("2024-01-01", &b);
    parse_date("2024-12-31", &e);
    f.roll.add_enrollment({0, int16_t(hmb), b, e, 2});
    f.roll.finish_enrollments();
  }
  MedicalClaim& c = f.claim;
  c.med_type = 21;
  c.hosp_lv = 2;
  parse_date(begndate, &c.begndate);
  c.enddate = c.begndate;
  c.amount = {85'000'00, 6'000'00, 1'000'00, 3'000'00, 75'000'00};
  return f;
}

void settle(benchmark::State& state, const char* plan_file, const char* date, bool trace_on) {
  Fixture f = make(plan_file, date);
  LayerTrace trace[limits::kLayersMax];
  // A fresh year every 64 claims keeps caps from saturating and the work realistic.
  YearState year;
  int64_t n = 0;
  for (auto _ : state) {
    if ((++n & 63) == 0) year = YearState{};
    MedicalResult r = settle_medical(f.plan, f.roll, f.roll.person(0), f.claim, &year,
                                     trace_on ? trace : nullptr);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

void explain(benchmark::State& state, const char* plan_file, const char* date) {
  Fixture f = make(plan_file, date);
  LayerTrace trace[limits::kLayersMax];
  std::vector<std::string> lines;
  for (auto _ : state) {
    YearState year;
    MedicalResult r = settle_medical(f.plan, f.roll, f.roll.person(0), f.claim, &year, trace);
    lines.clear();
    explain_medical(f.plan, f.claim, r, trace, &lines);
    benchmark::DoNotOptimize(lines.data());
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(settle, plan_a, "shandong-2020-fupin.toml", "2020-05-01", false);
BENCHMARK_CAPTURE(settle, plan_b, "shandong-2024-huiminbao.toml", "2024-05-01", false);
BENCHMARK_CAPTURE(settle, plan_b_traced, "shandong-2024-huiminbao.toml", "2024-05-01", true);
BENCHMARK_CAPTURE(explain, plan_b, "shandong-2024-huiminbao.toml", "2024-05-01");

}  // namespace
}  // namespace huibao

BENCHMARK_MAIN();
