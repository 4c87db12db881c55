#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "policy/plan.h"

namespace huibao {
namespace {

constexpr const char* kHeader = R"(
[plan]
id = "t"
begin = 2024-01-01
end = 2024-12-31
med_types = [21, 14]
)";

Status load(const std::string& body) {
  std::string text = std::string(kHeader) + body;
  return load_plan_from_string(text, "t.toml", "plans").status();
}

// The message names the file and the line of the offending node.
void expect_error(const std::string& body, int line, const std::string& fragment) {
  Status s = load(body);
  ASSERT_FALSE(s.ok()) << body;
  EXPECT_EQ(s.code(), Code::kPlanInvalid);
  EXPECT_NE(s.message().find("t.toml:" + std::to_string(line) + ":"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find(fragment), std::string::npos) << s.message();
}

TEST(PlanLoad, ReferencePlansLoad) {
  Result<Plan> a = load_plan("plans/shandong-2020-fupin.toml");
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(a->layers.size(), 5u);
  EXPECT_EQ(a->layers[4].payer, Payer::kFund);
  EXPECT_EQ(a->layers[3].payer, Payer::kHospital);
  EXPECT_GE(a->accident_product, 0);
  EXPECT_EQ(a->products[size_t(a->accident_product)].terms.disability[3], 24'000'00);
  Result<Plan> b = load_plan("plans/shandong-2024-huiminbao.toml");
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_EQ(b->layers.size(), 7u);
  EXPECT_EQ(b->buckets.size(), 1u);
  const DrugList& list = b->drug_lists[0];
  Date june, july;
  ASSERT_TRUE(parse_date("2024-06-30", &june));
  ASSERT_TRUE(parse_date("2024-07-01", &july));
  EXPECT_TRUE(list.listed_on("XL01XXA003A001010100003", june));
  EXPECT_FALSE(list.listed_on("XL01XXA003A001010100003", july));
  EXPECT_FALSE(list.listed_on("XL04AAA004A001010100004", june));
  EXPECT_TRUE(list.listed_on("XL04AAA004A001010100004", july));
}

TEST(PlanLoad, ErrorsNameFileLineAndProblem) {
  // Line numbers count the 6-line header (line 1 is the blank after R"().
  expect_error("[[layer]]\nid = \"x\"\nbase = \"inscp_scp_amt\"\nrate = \"65\"\n", 10,
               "percentage");
  expect_error("[[layer]]\nid = \"x\"\nbase = \"inscp_scp_amt - y\"\nrate = \"65%\"\n", 9, "'y'");
  expect_error("[[layer]]\nid = \"x\"\nbase = \"inscp_scp_amt\"\nrat = \"65%\"\n", 10,
               "unknown key 'rat'");
  expect_error("[[layer]]\nid = \"x\"\nbase = \"inscp_scp_amt\"\nrate = \"65%\"\ncap = 1.5\n", 11,
               "floating point");
  expect_error("[[layer]]\nid = \"x\"\nbase = \"inscp_scp_amt\"\n", 7, "exactly one of");
  expect_error(
      "[[layer]]\nid = \"x\"\nbase = \"inscp_scp_amt\"\nrate = \"65%\"\ncategories = [\"rich\"]\n",
      11, "unknown category");
  expect_error(
      "[[layer]]\nid = \"x\"\nbase = \"inscp_scp_amt\"\nrate = { 1 = \"90%\", 2 = \"75%\" }\n", 10,
      "missing 3");
  expect_error(
      "[[layer]]\nid = \"x\"\nbase = \"inscp_scp_amt\"\nsegments = [{from = 100, rate = \"60%\"}, "
      "{from = 50, rate = \"70%\"}]\n",
      10, "increasing");
  expect_error(
      "[[layer]]\nid = \"x\"\nbase = \"inscp_scp_amt\"\nrate = \"60%\"\n[[layer]]\nid = "
      "\"x\"\nbase = \"x\"\nrate = \"1%\"\n",
      12, "used twice");
  expect_error("[[layer]]\nid = \"x\"\nbase = \"x\"\nrate = \"60%\"\n", 9, "earlier layer");
  expect_error(
      "[[layer]]\nid = \"x\"\nbase = \"inscp_scp_amt\"\nproduct = \"nope\"\nrate = \"60%\"\n", 10,
      "product");
  expect_error(
      "[[layer]]\nid = \"x\"\nbase = \"inscp_scp_amt\"\nsegments = [{from = 100, rate = "
      "\"60%\"}]\ndeductible_per_claim = 100\n",
      7, "threshold");
  expect_error("[plan2]\n", 7, "unknown key 'plan2'");
  expect_error(
      "[[layer]]\nid = \"x\"\nbase = \"inscp_scp_amt\"\nrate = \"60%\"\nmed_types = [200]\n", 11,
      "out of range");
  expect_error("[[layer]]\nid = \"x\"\nbase = \"(inscp_scp_amt\"\nrate = \"60%\"\n", 9, "')'");
  expect_error("x = = 1\n", 7, "");  // TOML syntax errors carry their line too
}

TEST(PlanLoad, ExpressionsCombineTerms) {
  Result<Plan> p =
      load_plan_from_string(std::string(kHeader) +
                                "[[layer]]\nid = \"a\"\nbase = \"inscp_scp_amt\"\nrate = \"50%\"\n"
                                "[[layer]]\nid = \"b\"\nbase = \"inscp_scp_amt - (a - "
                                "preselfpay_amt) + a\"\nrate = \"50%\"\n",
                            "t.toml", "plans");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  const Expr& e = p->layers[1].base;
  // a cancels out: inscp_scp_amt + preselfpay_amt.
  ASSERT_EQ(e.terms.size(), 2u);
  EXPECT_EQ(e.terms[0].source, kPreselfpayAmt);
  EXPECT_EQ(e.terms[1].source, kInscpScpAmt);
}

// Plans are data: the engine's C++ must not name a reference plan, its layers
// or its products, so that a third city needs only a new file.
TEST(PlanLoad, NoCodeMentionsAReferencePlan) {
  const std::regex words(
      R"(\b(hifmi|hifob|hosp_red|supp|hmb|hmb_in|hmb_out|hmb_drug|fupin\w*|huiminbao|special_drug\w*)\b)");
  for (const auto& e : std::filesystem::recursive_directory_iterator("src")) {
    std::string path = e.path().string();
    if (!e.is_regular_file() || path.find("_test.cc") != std::string::npos) continue;
    if (e.path().extension() != ".cc" && e.path().extension() != ".h") continue;
    std::ifstream in(path);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      EXPECT_FALSE(std::regex_search(line, words)) << path << ":" << n << ": " << line;
    }
  }
}

}  // namespace
}  // namespace huibao
