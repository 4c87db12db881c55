#include "settle/engine.h"

#include <gtest/gtest.h>

#include <cstring>

namespace huibao {
namespace {

// A small plan exercising mechanisms independent of any reference plan.
constexpr const char* kPlan = R"(
[plan]
id = "unit"
begin = 2024-01-01
end = 2024-12-31
med_types = [21]

[[layer]]
id = "basic"
base = "inscp_scp_amt"
cap = 1000
  [[layer.rule]]
  name = "plain"
  rate = "50%"
  annual_deductible = 100
  [[layer.rule]]
  name = "tekun"
  categories = ["tekun"]
  rate = "60%"
  annual_deductible = 400

[[layer]]
id = "seg"
base = "inscp_scp_amt - basic"
segments = [{ from = 100, rate = "50%" }, { from = 300, rate = "100%" }]
cap = 250

[[layer]]
id = "top"
base = "inscp_scp_amt - basic - seg"
topup = { of = "inscp_scp_amt", rate = "90%", less = "basic + seg" }
)";

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<Plan> p = load_plan_from_string(kPlan, "unit.toml", ".");
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    plan_ = std::move(*p);
    ASSERT_TRUE(
        roll_
            .load_persons_csv("psn_no,psn_name,gend,brdy,admdvs,insutype,categories,preexisting\n"
                              "370102198001011237,A,1,,370102,390,tekun,0\n"
                              "11010519491231002X,B,1,,370102,390,,0\n",
                              "p.csv")
            .ok());
  }
  MedicalClaim claim(Fen inscp) {
    MedicalClaim c;
    c.med_type = 21;
    c.hosp_lv = 1;
    EXPECT_TRUE(parse_date("2024-03-01", &c.begndate));
    c.enddate = c.begndate;
    c.amount[kMedfeeSumamt] = c.amount[kInscpScpAmt] = inscp;
    return c;
  }
  Plan plan_;
  Roll roll_;
};

TEST_F(EngineTest, MostFavourableRuleWins) {
  YearState s;
  LayerTrace t[limits::kLayersMax];
  // Person A holds tekun, so both rules hold. Claim 1,000.00:
  // plain 50% x (1,000 - 100) = 450.00 beats tekun 60% x (1,000 - 400) = 360.00.
  MedicalResult r = settle_medical(plan_, roll_, roll_.person(0), claim(100000), &s, t);
  ASSERT_EQ(r.code, Code::kOk);
  EXPECT_EQ(t[0].rule, 0);
  EXPECT_EQ(r.pay[0], 45000);
  EXPECT_EQ(s.deductible_used[size_t(plan_.layers[0].deductible_group)], 10000);
  // Person B has no category: only the plain rule holds.
  YearState sb;
  settle_medical(plan_, roll_, roll_.person(1), claim(100000), &sb, t);
  EXPECT_EQ(t[0].rule, 0);
}

TEST_F(EngineTest, SegmentsAreCumulativeAndCapped) {
  YearState s;
  // Claim 1, 300.00: basic 50% x (300 - 100) = 100.00; seg base 200, F(200) = 50% x 100 = 50.00.
  MedicalResult r1 = settle_medical(plan_, roll_, roll_.person(1), claim(30000), &s, nullptr);
  EXPECT_EQ(r1.pay[0], 10000);
  EXPECT_EQ(r1.pay[1], 5000);
  // Claim 2, 300.00: basic 150.00; seg C 200 -> 350: F = 100 + 50 = 150, slice 100.00;
  // top-up 90% x 300 - (150 + 100) = 20.00.
  MedicalResult r2 = settle_medical(plan_, roll_, roll_.person(1), claim(30000), &s, nullptr);
  EXPECT_EQ(r2.pay[0], 15000);
  EXPECT_EQ(r2.pay[1], 10000);
  EXPECT_EQ(r2.pay[2], 2000);
  EXPECT_EQ(r2.psn_part_amt, 3000);
  // Claim 3, 1,000.00: basic 500.00 (cap 1,000 with 750 left); seg C 350 -> 850:
  // min(250, 650) - min(250, 150) = 100.00, the rest of the 250.00 cap.
  MedicalResult r3 = settle_medical(plan_, roll_, roll_.person(1), claim(100000), &s, nullptr);
  EXPECT_EQ(r3.pay[0], 50000);
  EXPECT_EQ(r3.pay[1], 10000);
  EXPECT_EQ(s.layer_paid[1], 25000);
  // Claim 4: the cap is spent.
  MedicalResult r4 = settle_medical(plan_, roll_, roll_.person(1), claim(100000), &s, nullptr);
  EXPECT_EQ(r4.pay[1], 0);
  EXPECT_EQ(s.layer_cum_base[1], 200'00 + 150'00 + 500'00 + 750'00);
}

TEST_F(EngineTest, GivenBeyondBaseLeavesStateUntouched) {
  YearState s;
  settle_medical(plan_, roll_, roll_.person(1), claim(30000), &s, nullptr);
  YearState before = s;
  MedicalClaim c = claim(20000);
  c.given_mask = 1u << 1;
  c.given[1] = 20001;  // seg's base is at most 200.00
  MedicalResult r = settle_medical(plan_, roll_, roll_.person(1), c, &s, nullptr);
  EXPECT_EQ(r.code, Code::kGivenExceedsBase);
  EXPECT_EQ(r.failed_layer, 1);
  EXPECT_EQ(0, std::memcmp(&before, &s, sizeof s));
  // A given amount is used as is, counts toward the cap and consumes no deductible.
  c.given[1] = 5000;
  r = settle_medical(plan_, roll_, roll_.person(1), c, &s, nullptr);
  ASSERT_EQ(r.code, Code::kOk);
  EXPECT_EQ(r.pay[1], 5000);
  EXPECT_EQ(s.layer_paid[1], before.layer_paid[1] + 5000);
}

TEST_F(EngineTest, UncoveredMedTypePaysNothing) {
  YearState s;
  MedicalClaim c = claim(50000);
  c.med_type = 11;
  MedicalResult r = settle_medical(plan_, roll_, roll_.person(1), c, &s, nullptr);
  for (size_t l = 0; l < plan_.layers.size(); ++l) EXPECT_EQ(r.pay[l], 0);
  EXPECT_EQ(r.psn_part_amt, 50000);
  EXPECT_EQ(s.layer_cum_base[1], 0);
}

}  // namespace
}  // namespace huibao
