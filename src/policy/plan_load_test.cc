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

TEST(PlanLoad, ReferencePlansCarryEnrollmentTerms) {
  Result<Plan> b = load_plan("plans/shandong-2024-huiminbao.toml");
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_EQ(b->region_admdvs, std::vector<std::string>{"37"});
  EXPECT_TRUE(b->in_region("370102"));
  EXPECT_FALSE(b->in_region("110101"));
  EXPECT_EQ(b->year(), 2024);
  const EnrollmentTerms& v = b->products[0].enrollment;
  EXPECT_TRUE(v.declared);
  EXPECT_EQ(date_to_string(v.window_begin), "2024-01-01");
  EXPECT_EQ(date_to_string(v.window_end), "2024-12-30");
  EXPECT_EQ(v.insutypes, (std::vector<int>{310, 390}));
  EXPECT_TRUE(v.accepts(PayerKind::kCash));
  EXPECT_TRUE(v.accepts(PayerKind::kPersonalAccount));
  EXPECT_TRUE(v.accepts(PayerKind::kEmployer));
  EXPECT_FALSE(v.accepts(PayerKind::kSubsidy));
  EXPECT_TRUE(v.account_may_pay_for(Kinship::kSpouse));
  EXPECT_TRUE(v.account_may_pay_for(Kinship::kParent));
  EXPECT_TRUE(v.account_may_pay_for(Kinship::kChild));
  EXPECT_EQ(v.cover_begins, CoverBegins::kDayAfterPayment);
  EXPECT_EQ(v.refund, RefundRule::kProRata);
  EXPECT_TRUE(v.renewal);
  ASSERT_EQ(v.subsidies.size(), 3u);
  EXPECT_EQ(v.subsidies[0].of_premium(9900), 9900);
  EXPECT_EQ(v.subsidies[1].of_premium(9900), 4950);
  EXPECT_EQ(v.subsidies[2].of_premium(9900), 3000);
  EXPECT_EQ(v.subsidies[2].of_premium(2000), 2000) << "never more than the premium";

  Result<Plan> a = load_plan("plans/shandong-2020-fupin.toml");
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  for (const Product& p : a->products) {
    ASSERT_TRUE(p.enrollment.declared) << p.id;
    EXPECT_EQ(p.enrollment.cover_ends, CoverEnds::kPeriodEnd);
    Fen sum = 0;
    for (const Funding& f : p.enrollment.funding) sum += f.amount;
    EXPECT_EQ(sum, p.premium) << p.id;
  }
  ASSERT_EQ(a->products[0].enrollment.funding.size(), 2u);
  EXPECT_EQ(a->products[0].enrollment.funding[0].payer, PayerKind::kProvincial);
  EXPECT_EQ(a->products[0].enrollment.funding[1].payer, PayerKind::kCity);
  EXPECT_EQ(a->products[1].terms.death, 30'000'00) << "the accident table still loads";
}

TEST(PlanLoad, EnrollmentTermsAreRead) {
  Result<Plan> p = load_plan_from_string(
      "[plan]\nid = \"t\"\nbegin = 2025-01-01\nend = 2025-12-31\nmed_types = [21]\n"
      "region_admdvs = [\"3702\", \"370300\"]\n"
      "[[product]]\nid = \"v\"\npremium = \"88.80\"\n"
      "[product.enrollment]\nwindow_begin = 2024-11-01\nwindow_end = 2025-03-31\n"
      "insutypes = [310]\npayers = [\"cash\", \"personal_account\"]\n"
      "personal_account_for = [\"child\"]\ncover_begins = \"period_begin\"\n"
      "refund = \"before_cover\"\n"
      "[[product.enrollment.subsidy]]\ncategories = [\"orphan\"]\namount = \"10.50\"\n"
      "[[product]]\nid = \"a\"\nauto_enroll_categories = [\"poverty\"]\n"
      "[product.enrollment]\ncover_ends = \"category_end\"\n"
      "[[layer]]\nid = \"x\"\nbase = \"inscp_scp_amt\"\nrate = \"50%\"\n",
      "t.toml", "plans");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_TRUE(p->in_region("370211"));
  EXPECT_TRUE(p->in_region("370300"));
  EXPECT_FALSE(p->in_region("370301"));
  const EnrollmentTerms& v = p->products[0].enrollment;
  EXPECT_EQ(date_to_string(v.window_begin), "2024-11-01");
  EXPECT_EQ(v.insutypes, std::vector<int>{310});
  EXPECT_FALSE(v.accepts(PayerKind::kEmployer));
  EXPECT_FALSE(v.account_may_pay_for(Kinship::kSpouse));
  EXPECT_TRUE(v.account_may_pay_for(Kinship::kChild));
  EXPECT_EQ(v.cover_begins, CoverBegins::kPeriodBegin);
  EXPECT_EQ(v.refund, RefundRule::kBeforeCover);
  EXPECT_FALSE(v.renewal);
  ASSERT_EQ(v.subsidies.size(), 1u);
  EXPECT_EQ(v.subsidies[0].of_premium(8880), 1050);
  const EnrollmentTerms& a = p->products[1].enrollment;
  EXPECT_TRUE(a.declared);
  EXPECT_EQ(a.cover_ends, CoverEnds::kCategoryEnd);
  EXPECT_TRUE(a.funding.empty()) << "a premium of 0 needs no funding";
  // Without the table a product is not enrollable through the service.
  Result<Plan> bare = load_plan_from_string(
      std::string(kHeader) +
          "[[product]]\nid = \"v\"\n[[layer]]\nid = \"x\"\nbase = \"inscp_scp_amt\"\n"
          "rate = \"50%\"\n",
      "t.toml", "plans");
  ASSERT_TRUE(bare.ok()) << bare.status().to_string();
  EXPECT_FALSE(bare->products[0].enrollment.declared);
  EXPECT_TRUE(bare->in_region("371700")) << "the default region is Shandong";
  EXPECT_FALSE(bare->in_region("110101"));
}

TEST(PlanLoad, EnrollmentTermErrorsNameFileLineAndProblem) {
  // A voluntary product: its [product.enrollment] table opens on line 10.
  const std::string v = "[[product]]\nid = \"v\"\npremium = 99\n[product.enrollment]\n";
  expect_error(v + "windows = 1\n", 11, "unknown key 'windows'");
  expect_error(v + "window_end = 2025-01-05\n", 11, "after the plan's end");
  expect_error(v + "window_begin = 2024-06-01\nwindow_end = 2024-05-01\n", 12,
               "before 'window_begin'");
  expect_error(v + "window_begin = \"June\"\n", 11, "YYYY-MM-DD");
  expect_error(v + "refund = \"sometimes\"\n", 11, "'refund' must be one of");
  expect_error(v + "cover_begins = \"tomorrow\"\n", 11, "'cover_begins' must be one of");
  expect_error(v + "payers = [\"subsidy\"]\n", 11, "computed");
  expect_error(v + "payers = [\"gold\"]\n", 11, "must be one of");
  expect_error(v + "payers = [\"cash\"]\npersonal_account_for = [\"child\"]\n", 12,
               "needs \"personal_account\"");
  expect_error(v + "personal_account_for = [\"cousin\"]\n", 11, "must be one of");
  expect_error(v + "insutypes = [320]\n", 11, "310");
  expect_error(v + "renewal = 1\n", 11, "true or false");
  expect_error(v + "cover_ends = \"period_end\"\n", 11, "automatic products");
  expect_error(v + "[[product.enrollment.subsidy]]\ncategories = [\"tekun\"]\nshare = "
                   "\"50%\"\namount = 10\n",
               11, "exactly one of");
  expect_error(v + "[[product.enrollment.subsidy]]\ncategories = [\"tekun\"]\namount = 100\n", 13,
               "more than the premium");
  expect_error(v + "[[product.enrollment.subsidy]]\ncategories = [\"rich\"]\nshare = "
                   "\"50%\"\n",
               12, "unknown category");
  expect_error(v + "[[product.enrollment.subsidy]]\nshare = \"50%\"\n", 11, "missing 'categories'");
  expect_error(v + "[[product.enrollment.subsidy]]\ncategories = [\"tekun\"]\nshare = "
                   "\"50\"\n",
               13, "percentage");
  expect_error("[[product]]\nid = \"v\"\nenrollment = 1\n", 9, "must be a [product.enrollment]");

  // An automatic product: its table opens on line 11.
  const std::string a =
      "[[product]]\nid = \"a\"\npremium = 110\nauto_enroll_categories = "
      "[\"poverty\"]\n[product.enrollment]\n";
  expect_error(a + "window_begin = 2024-01-01\n", 12, "voluntary products");
  expect_error(a + "cover_ends = \"period_end\"\n", 11, "missing [[product.enrollment.funding]]");
  expect_error(a + "cover_ends = \"never\"\n", 12, "'cover_ends' must be one of");
  expect_error(a + "[[product.enrollment.funding]]\npayer = \"provincial\"\namount = 100\n", 12,
               "sum to 100.00 but the premium is 110.00");
  expect_error(a + "[[product.enrollment.funding]]\npayer = \"cash\"\namount = 110\n", 13,
               "'payer' must be one of");
  expect_error(a + "[[product.enrollment.funding]]\namount = 110\n", 12, "needs 'payer'");
  expect_error(a + "[[product.enrollment.funding]]\npayer = \"city\"\namount = 55\n"
                   "[[product.enrollment.funding]]\npayer = \"city\"\namount = 55\n",
               15, "listed twice");
  expect_error(a + "[[product.enrollment.funding]]\npayer = \"city\"\namount = 110\nref = 1\n", 15,
               "'ref' must be a string");
}

TEST(PlanLoad, RegionPrefixesAreDigits) {
  auto region = [](const std::string& value) {
    return load_plan_from_string(
               "[plan]\nid = \"t\"\nbegin = 2024-01-01\nend = "
               "2024-12-31\nmed_types = [21]\nregion_admdvs = " +
                   value +
                   "\n[[layer]]\nid = \"x\"\nbase = \"inscp_scp_amt\"\n"
                   "rate = \"50%\"\n",
               "t.toml", "plans")
        .status();
  };
  EXPECT_TRUE(region("[\"37\"]").ok());
  for (std::string bad : {"[\"37x\"]", "[]", "\"37\"", "[37]", "[\"3701021\"]", "[\"\"]"}) {
    Status s = region(bad);
    EXPECT_EQ(s.code(), Code::kPlanInvalid) << bad;
    EXPECT_NE(s.message().find("t.toml:6:"), std::string::npos) << s.message();
  }
}

// Plans are data: the engine's C++ must not name a reference plan, its layers
// or its products, so that a third city needs only a new file.
TEST(PlanLoad, FundRulesAndTargets) {
  Result<Plan> a = load_plan("plans/shandong-2020-fupin.toml");
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_TRUE(a->fund.declared);
  EXPECT_EQ(a->fund.loss_ratio_floor.ppm, 800'000);
  EXPECT_EQ(a->fund.surplus, SurplusRule::kCarryOver);
  EXPECT_TRUE(a->fund.has_ceiling);
  EXPECT_EQ(a->fund.loss_ratio_ceiling.ppm, 1'000'000);
  EXPECT_EQ(a->fund.loss_share_government.ppm, 500'000);
  EXPECT_TRUE(a->fund.premium_transfers);
  EXPECT_EQ(a->fund.evaluation_years, 1);
  EXPECT_TRUE(a->targets.has_reimbursement_ratio);
  EXPECT_EQ(a->targets.reimbursement_ratio.ppm, 900'000);
  Result<Plan> b = load_plan("plans/shandong-2024-huiminbao.toml");
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_EQ(b->fund.surplus, SurplusRule::kReturn);
  EXPECT_EQ(b->fund.evaluation_years, 3);
  EXPECT_FALSE(b->fund.has_ceiling);
  EXPECT_FALSE(b->fund.premium_transfers);
  EXPECT_EQ(b->targets.enrolment_rate.ppm, 300'000);
  // A ceiling may exceed 100 %, exact to 0.0001 %.
  const std::string layer = "[[layer]]\nid = \"x\"\nbase = \"inscp_scp_amt\"\nrate = \"60%\"\n";
  Result<Plan> p = load_plan_from_string(
      std::string(kHeader) + layer +
          "[fund]\nloss_ratio_floor = \"80%\"\nloss_ratio_ceiling = \"112.5%\"\n"
          "loss_share_government = \"60%\"\noperating_cost_cap = \"8.25%\"\n",
      "t.toml", "plans");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->fund.loss_ratio_ceiling.ppm, 1'125'000);
  EXPECT_EQ(p->fund.operating_cost_cap.ppm, 82'500);
  // Without the tables nothing is declared.
  Result<Plan> none = load_plan_from_string(std::string(kHeader) + layer, "t.toml", "plans");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->fund.declared);
  EXPECT_FALSE(none->targets.has_enrolment_rate);
  // An outline reads no file: the drug list stays empty.
  Result<Plan> outline = load_plan_outline(
      std::string(kHeader) + "[[drug_list]]\nid = \"d\"\nfile = \"/nonexistent.csv\"\n" + layer,
      "stored");
  ASSERT_TRUE(outline.ok()) << outline.status().to_string();
  EXPECT_TRUE(outline->drug_lists[0].codes.empty());
}

TEST(PlanLoad, FundRuleErrorsNameFileLineAndProblem) {
  // The layer takes lines 7-10; the table's first key is on line 12.
  const std::string layer = "[[layer]]\nid = \"x\"\nbase = \"inscp_scp_amt\"\nrate = \"60%\"\n";
  expect_error(layer + "[fund]\nsurplus = \"return\"\n", 12, "give the floor");
  expect_error(layer + "[fund]\nloss_ratio_floor = \"80\"\n", 12, "percentage");
  expect_error(layer + "[fund]\nloss_ratio_floor = \"120%\"\n", 12, "\"100%\"");
  expect_error(layer + "[fund]\nloss_ratio_floor = \"80%\"\nsurplus = \"keep\"\n", 13,
               "\"carry_over\"");
  expect_error(layer + "[fund]\nloss_ratio_ceiling = \"110%\"\n", 12, "go together");
  expect_error(layer +
                   "[fund]\nloss_ratio_floor = \"80%\"\nloss_ratio_ceiling = \"70%\"\n"
                   "loss_share_government = \"50%\"\n",
               13, "below");
  expect_error(layer + "[fund]\npremium_transfers = true\n", 12, "two or more");
  expect_error(layer + "[fund]\nevaluation_years = 0\n", 12, "1 to 10");
  expect_error(layer + "[fund]\nfloor = \"80%\"\n", 12, "unknown key 'floor'");
  expect_error(layer + "[targets]\nenrolment_rate = 30\n", 12, "percentage");
  expect_error(layer + "[targets]\nrate = \"30%\"\n", 12, "unknown key 'rate'");
}

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
