// Runs every tests/scenarios/*.test file through the batch pipeline, with one
// and with two threads, and compares each result with its expected line. An
// expected object matches when every key it holds equals the actual value
// (nested objects compared the same way), so a case states what it checks.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "batch/batch.h"
#include "policy/plan.h"
#include "policy/roll.h"
#include "tests/scenario.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace huibao::testing {

Scenario read_scenario(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  Scenario s;
  s.name = fs::path(path).stem().string();
  std::string line, section;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("== ", 0) == 0) {
      section = line.substr(3);
      if (section != "plan" && section != "persons" && section != "enrollments" &&
          section != "claims" && section != "expected")
        throw std::runtime_error(path + ": unknown section '" + section + "'");
      continue;
    }
    if (section.empty()) {
      if (line.rfind("plan:", 0) == 0) {
        s.plan_path = line.substr(5);
        s.plan_path.erase(0, s.plan_path.find_first_not_of(' '));
      }
      continue;  // comments and blank lines before the first section
    }
    if (section != "plan" && section != "claims" && (line.empty() || line[0] == '#')) continue;
    std::string* dst = section == "plan"          ? &s.plan_inline
                       : section == "persons"     ? &s.persons
                       : section == "enrollments" ? &s.enrollments
                       : section == "claims"      ? &s.claims
                                                  : &s.expected;
    *dst += line + "\n";
  }
  if (s.plan_path.empty() == s.plan_inline.empty())
    throw std::runtime_error(path + ": give either 'plan: FILE' or an '== plan' section");
  return s;
}

namespace {

std::string repo_root() {
  return HUIBAO_SOURCE_DIR;
}

// Reports every mismatch of expected within actual under a JSON path.
void match(const json& expected, const json& actual, const std::string& at,
           std::vector<std::string>* diffs) {
  if (expected.is_object() && actual.is_object()) {
    for (auto& [k, v] : expected.items()) {
      if (!actual.contains(k)) {
        diffs->push_back(at + "." + k + ": missing in the result");
        continue;
      }
      match(v, actual[k], at + "." + k, diffs);
    }
    return;
  }
  if (expected != actual)
    diffs->push_back(at + ": expected " + expected.dump() + ", got " + actual.dump());
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) {
    if (!l.empty()) out.push_back(l);
  }
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream b;
  b << in.rdbuf();
  return b.str();
}

class ScenarioTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ScenarioTest, SettlesAsExpected) {
  Scenario sc = read_scenario(GetParam());
  Result<Plan> plan =
      sc.plan_inline.empty()
          ? load_plan(repo_root() + "/" + sc.plan_path)
          : load_plan_from_string(sc.plan_inline, sc.name + ".test", repo_root() + "/plans");
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  Roll roll;
  Status st = roll.load_persons_csv(sc.persons, "persons");
  ASSERT_TRUE(st.ok()) << st.to_string();
  if (!sc.enrollments.empty()) {
    st = roll.load_enrollments_csv(sc.enrollments, "enrollments", *plan);
    ASSERT_TRUE(st.ok()) << st.to_string();
  }
  fs::path dir =
      fs::temp_directory_path() / ("huibao-scenario-" + sc.name + "-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  { std::ofstream(dir / "claims.jsonl") << sc.claims; }
  std::vector<std::string> want = lines_of(sc.expected);
  std::string first_output;
  for (int threads : {1, 2}) {
    BatchOptions o;
    o.claims_path = (dir / "claims.jsonl").string();
    o.out_path = (dir / "results.jsonl").string();
    o.threads = threads;
    BatchSummary sum;
    st = run_settle_batch(*plan, roll, o, &sum);
    ASSERT_TRUE(st.ok()) << st.to_string();
    std::string out = slurp(o.out_path);
    if (threads == 1) first_output = out;
    EXPECT_EQ(out, first_output) << "two threads settled differently from one";
    std::vector<std::string> got = lines_of(out);
    ASSERT_EQ(got.size(), want.size()) << "results and expected lines differ in number";
    for (size_t i = 0; i < got.size(); ++i) {
      std::vector<std::string> diffs;
      json e = json::parse(want[i]);
      json a = json::parse(got[i]);
      match(e, a, "result " + std::to_string(i + 1), &diffs);
      for (const auto& d : diffs)
        ADD_FAILURE() << GetParam() << ": " << d << "\n  actual: " << got[i];
      // Every settled result balances, whatever the expectation lists.
      if (a["status"] == "settled" && !a["layers"].contains("accident")) {
        Fen f, h, p, m;
        ASSERT_EQ(parse_decimal_string_fen(a["fund_pay_sumamt"].get<std::string>(), &f),
                  AmountSyntax::kOk);
        ASSERT_EQ(parse_decimal_string_fen(a["hosp_part_amt"].get<std::string>(), &h),
                  AmountSyntax::kOk);
        ASSERT_EQ(parse_decimal_string_fen(a["psn_part_amt"].get<std::string>(), &p),
                  AmountSyntax::kOk);
        ASSERT_EQ(parse_decimal_string_fen(a["medfee_sumamt"].get<std::string>(), &m),
                  AmountSyntax::kOk);
        EXPECT_EQ(f + h + p, m) << got[i];
      }
    }
  }
  fs::remove_all(dir);
}

std::vector<std::string> scenario_files() {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(repo_root() + "/tests/scenarios")) {
    if (e.path().extension() == ".test") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

INSTANTIATE_TEST_SUITE_P(Files, ScenarioTest, ::testing::ValuesIn(scenario_files()),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           std::string n = fs::path(i.param).stem().string();
                           for (char& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace huibao::testing
