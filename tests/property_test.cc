// Properties over generated data for both reference plans: whatever the input,
// layers are never negative, every result balances, no cap or deductible is
// exceeded over a year, output is deterministic, and neither the input order
// (without duplicates) nor the thread count changes any claim's result.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include "batch/batch.h"
#include "batch/claim_parse.h"
#include "gen/generator.h"
#include "settle/engine.h"
#include "settle/explain.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace huibao {
namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream b;
  b << in.rdbuf();
  return b.str();
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) {
    if (!l.empty()) out.push_back(l);
  }
  return out;
}

Fen fen(const json& j) {
  Fen f = 0;
  EXPECT_EQ(parse_decimal_string_fen(j.get<std::string>(), &f), AmountSyntax::kOk) << j;
  return f;
}

struct Generated {
  Plan plan;
  Roll roll;
  fs::path dir;
};

Generated make(const std::string& plan_file, uint64_t seed, int invalid_per_10k, uint64_t persons,
               uint64_t claims) {
  Generated g;
  Result<Plan> plan = load_plan(std::string(HUIBAO_SOURCE_DIR) + "/plans/" + plan_file);
  EXPECT_TRUE(plan.ok()) << plan.status().to_string();
  g.plan = std::move(*plan);
  g.dir = fs::temp_directory_path() /
          ("huibao-prop-" + std::to_string(::getpid()) + "-" + std::to_string(seed) + plan_file);
  GenOptions o;
  o.persons = persons;
  o.claims = claims;
  o.seed = seed;
  o.dir = g.dir.string();
  o.invalid_per_10k = invalid_per_10k;
  GenStats st;
  EXPECT_TRUE(generate(g.plan, o, &st).ok());
  EXPECT_TRUE(g.roll.load_persons_csv(slurp(g.dir / "persons.csv"), "persons.csv").ok());
  EXPECT_TRUE(
      g.roll.load_enrollments_csv(slurp(g.dir / "enrollments.csv"), "enrollments.csv", g.plan)
          .ok());
  return g;
}

std::string settle(const Generated& g, const fs::path& claims, int threads, bool explain = true) {
  BatchOptions o;
  o.claims_path = claims.string();
  o.out_path = (g.dir / "out.jsonl").string();
  o.threads = threads;
  o.explain = explain;
  BatchSummary s;
  Status st = run_settle_batch(g.plan, g.roll, o, &s);
  EXPECT_TRUE(st.ok()) << st.to_string();
  return slurp(o.out_path);
}

// The largest annual cap a layer's rules can grant, or -1 when one has none.
Fen max_cap(const Layer& L) {
  Fen m = 0;
  for (const Rule& r : L.rules) {
    if (!r.has_cap) return -1;
    m = std::max(m, r.cap);
  }
  return m;
}

class Properties : public ::testing::TestWithParam<std::tuple<std::string, uint64_t>> {};

TEST_P(Properties, HoldOverGeneratedYear) {
  auto [plan_file, seed] = GetParam();
  Generated g = make(plan_file, seed, 80, 1500, 12000);
  const std::string out = settle(g, g.dir / "claims.jsonl", 2);
  const std::vector<std::string> res = lines(out);
  const std::vector<std::string> in = lines(slurp(g.dir / "claims.jsonl"));
  ASSERT_EQ(res.size(), in.size());

  const size_t nl = g.plan.layers.size();
  std::map<std::string, std::vector<Fen>> per_person;  // layer totals per person
  size_t settled = 0, rejected = 0;
  for (const std::string& line : res) {
    json r = json::parse(line);
    if (r["status"] == "rejected") {
      ++rejected;
      Code c;
      EXPECT_TRUE(code_from_name(r["error"].get<std::string>(), &c)) << line;
      continue;
    }
    ++settled;
    Fen sum = 0;
    for (auto& [k, v] : r["layers"].items()) {
      EXPECT_GE(fen(v), 0) << line;
      sum += fen(v);
    }
    EXPECT_EQ(fen(r["fund_pay_sumamt"]) + fen(r["hosp_part_amt"]), sum) << line;
    if (r["layers"].contains("accident")) {
      EXPECT_EQ(fen(r["psn_part_amt"]), std::max(Fen{0}, fen(r["medfee_sumamt"]) - sum)) << line;
      continue;
    }
    EXPECT_EQ(fen(r["fund_pay_sumamt"]) + fen(r["hosp_part_amt"]) + fen(r["psn_part_amt"]),
              fen(r["medfee_sumamt"]))
        << line;
    ASSERT_EQ(r["layers"].size(), nl);
    auto& tot = per_person[r["psn_no"].get<std::string>()];
    tot.resize(nl, 0);
    for (size_t l = 0; l < nl; ++l) tot[l] += fen(r["layers"][g.plan.layers[l].id]);
  }
  EXPECT_GT(settled, in.size() * 9 / 10);
  EXPECT_GT(rejected, 0u);
  // An upstream system's given amount is used as given, even past a cap, so
  // the cap property holds for the people whose amounts the engine computed.
  std::set<std::string> given_by_upstream;
  for (const std::string& line : in) {
    if (line.find("\"given\"") != std::string::npos) {
      json c = json::parse(line, nullptr, false);
      if (c.is_object() && c["psn_no"].is_string())
        given_by_upstream.insert(c["psn_no"].get<std::string>());
    }
  }
  // No cap exceeded over the year; and the generator reaches the caps.
  std::vector<bool> cap_reached(nl, false);
  for (const auto& [psn, tot] : per_person) {
    if (given_by_upstream.count(psn)) continue;
    for (size_t l = 0; l < nl; ++l) {
      Fen cap = max_cap(g.plan.layers[l]);
      if (cap >= 0) {
        EXPECT_LE(tot[l], cap) << psn << " " << g.plan.layers[l].id;
        if (tot[l] == cap) cap_reached[l] = true;
      }
    }
    for (size_t c = 0; c < g.plan.cap_groups.size(); ++c) {
      Fen used = 0;
      for (size_t l = 0; l < nl; ++l) {
        if (g.plan.layers[l].cap_group == int(c)) used += tot[l];
      }
      EXPECT_LE(used, g.plan.cap_groups[c].amount) << psn;
    }
  }
  EXPECT_TRUE(cap_reached[0]) << "the generated year never reaches the first layer's cap";

  // Deterministic: the same input twice, and with one thread, gives the same bytes.
  EXPECT_EQ(settle(g, g.dir / "claims.jsonl", 2), out);
  EXPECT_EQ(settle(g, g.dir / "claims.jsonl", 1), out);
  fs::remove_all(g.dir);
}

TEST_P(Properties, InputOrderChangesNoResult) {
  auto [plan_file, seed] = GetParam();
  Generated g = make(plan_file, seed + 100, 0, 800, 6000);  // no invalid records, so no duplicates
  std::vector<std::string> in = lines(slurp(g.dir / "claims.jsonl"));
  std::string base = settle(g, g.dir / "claims.jsonl", 2, false);
  std::map<std::string, std::string> by_id;
  for (const std::string& l : lines(base)) by_id[json::parse(l)["setl_id"].get<std::string>()] = l;
  std::mt19937_64 rng(seed);
  std::shuffle(in.begin(), in.end(), rng);
  {
    std::ofstream o(g.dir / "shuffled.jsonl");
    for (const std::string& l : in) o << l << "\n";
  }
  std::vector<std::string> shuffled = lines(settle(g, g.dir / "shuffled.jsonl", 2, false));
  ASSERT_EQ(shuffled.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    json r = json::parse(shuffled[i]);
    EXPECT_EQ(r["setl_id"], json::parse(in[i])["setl_id"]) << "results must follow input order";
    EXPECT_EQ(shuffled[i], by_id[r["setl_id"].get<std::string>()]);
  }
  fs::remove_all(g.dir);
}

// Deductibles: drive the engine directly and check that no year's consumption
// exceeds the largest deductible the plan can set.
TEST_P(Properties, DeductiblesNeverExceeded) {
  auto [plan_file, seed] = GetParam();
  Generated g = make(plan_file, seed + 200, 0, 500, 6000);
  std::vector<Fen> max_amount(g.plan.deductible_groups.size(), 0);
  for (size_t d = 0; d < g.plan.deductible_groups.size(); ++d) {
    const DeductibleGroup& grp = g.plan.deductible_groups[d];
    if (grp.declared) max_amount[d] = std::max(grp.amount, grp.floor);
    for (const Layer& L : g.plan.layers) {
      if (L.deductible_group != int(d)) continue;
      for (const Rule& r : L.rules) max_amount[d] = std::max(max_amount[d], r.annual_deductible);
    }
  }
  RecordSet rs;
  ClaimParser parser(g.plan, g.roll);
  std::string text = slurp(g.dir / "claims.jsonl");
  text.append(ClaimParser::kPadding, ' ');
  parser.parse_lines(std::string_view(text.data(), text.size() - ClaimParser::kPadding), &rs);
  std::vector<YearState> state(g.roll.size());
  size_t used_some = 0;
  for (size_t i = 0; i < rs.records.size(); ++i) {
    const Record& r = rs.records[i];
    if (r.code != Code::kOk || r.kind != RecordKind::kMedical) continue;
    MedicalClaim c = medical_claim_of(g.plan, rs, uint32_t(i));
    YearState& s = state[r.person];
    MedicalResult m = settle_medical(g.plan, g.roll, g.roll.person(r.person), c, &s, nullptr);
    ASSERT_EQ(m.code, Code::kOk);
    for (size_t d = 0; d < max_amount.size(); ++d) {
      EXPECT_LE(s.deductible_used[d], max_amount[d]);
      if (s.deductible_used[d] > 0) ++used_some;
    }
  }
  if (!max_amount.empty()) {
    EXPECT_GT(used_some, 0u);
  }
  fs::remove_all(g.dir);
}

// Explanations: the batch rebuilds each claim's state from checkpoints; the
// reference settles every person's claims in order, tracing each one. Few
// persons with many claims each, so that every checkpoint path is taken.
TEST_P(Properties, ExplanationsMatchAStraightReplay) {
  auto [plan_file, seed] = GetParam();
  Generated g = make(plan_file, seed + 300, 0, 40, 3000);
  const std::vector<std::string> res = lines(settle(g, g.dir / "claims.jsonl", 2));
  RecordSet rs;
  ClaimParser parser(g.plan, g.roll);
  std::string text = slurp(g.dir / "claims.jsonl");
  text.append(ClaimParser::kPadding, ' ');
  parser.parse_lines(std::string_view(text.data(), text.size() - ClaimParser::kPadding), &rs);
  ASSERT_EQ(rs.records.size(), res.size());
  // Each person's settleable claims in claim order (admission, discharge, setl_id).
  std::map<uint32_t, std::vector<uint32_t>> by_person;
  std::set<std::string> seen;
  for (uint32_t i = 0; i < rs.records.size(); ++i) {
    const Record& r = rs.records[i];
    if (r.code != Code::kOk || !seen.insert(std::string(rs.setl_id(r))).second) continue;
    by_person[r.person].push_back(i);
  }
  size_t explained = 0, long_histories = 0;
  for (auto& [p, claims] : by_person) {
    std::sort(claims.begin(), claims.end(), [&](uint32_t a, uint32_t b) {
      const Record &x = rs.records[a], &y = rs.records[b];
      return std::tuple(x.begndate, x.enddate, rs.setl_id(x)) <
             std::tuple(y.begndate, y.enddate, rs.setl_id(y));
    });
    if (claims.size() > 20) ++long_histories;
    YearState state;
    for (uint32_t i : claims) {
      std::vector<std::string> want;
      const Person& person = g.roll.person(p);
      // Accidents move only the accident limits, which no medical line shows.
      if (rs.records[i].kind == RecordKind::kAccident) continue;
      MedicalClaim c = medical_claim_of(g.plan, rs, i);
      LayerTrace trace[limits::kLayersMax];
      MedicalResult m = settle_medical(g.plan, g.roll, person, c, &state, trace);
      json got = json::parse(res[i]);
      if (m.code != Code::kOk) {
        EXPECT_EQ(got["error"], "given_exceeds_base") << res[i];
        continue;
      }
      explain_medical(g.plan, c, m, trace, &want);
      ASSERT_EQ(got["explain"].get<std::vector<std::string>>(), want) << res[i];
      ++explained;
    }
  }
  EXPECT_GT(long_histories, 10u);
  EXPECT_GT(explained, 2000u);
  fs::remove_all(g.dir);
}

INSTANTIATE_TEST_SUITE_P(
    Plans, Properties,
    ::testing::Combine(::testing::Values("shandong-2020-fupin.toml",
                                         "shandong-2024-huiminbao.toml"),
                       ::testing::Values(uint64_t{1}, uint64_t{2}, uint64_t{3})),
    [](const auto& i) {
      return std::string(std::get<0>(i.param).find("2020") != std::string::npos ? "A" : "B") +
             "_seed" + std::to_string(std::get<1>(i.param));
    });

}  // namespace
}  // namespace huibao
