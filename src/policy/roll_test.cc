#include "policy/roll.h"

#include <gtest/gtest.h>

namespace huibao {
namespace {

constexpr const char* kHeader =
    "psn_no,psn_name,gend,brdy,admdvs,insutype,categories,preexisting\n";

TEST(Roll, LoadsAndFinds) {
  Roll r;
  Status s = r.load_persons_csv(
      std::string(kHeader) +
          "370102198001011237,张三,1,1980-01-01,370102,390,poverty;tekun@2020-05-01,1\n"
          "11010519491231002X,李四,2,,371702,310,,0\n",
      "p.csv");
  ASSERT_TRUE(s.ok()) << s.to_string();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r.find("370102198001011237"), 0);
  EXPECT_EQ(r.find("11010519491231002X"), 1);
  EXPECT_EQ(r.find("370102198001011238"), -1);
  const Person& p = r.person(0);
  EXPECT_TRUE(p.preexisting);
  Date before, after;
  ASSERT_TRUE(parse_date("2020-04-30", &before));
  ASSERT_TRUE(parse_date("2020-05-01", &after));
  EXPECT_EQ(p.categories_on(before), CategoryMask(1) << category_index("poverty"));
  EXPECT_EQ(p.categories_on(after), (CategoryMask(1) << category_index("poverty")) |
                                        (CategoryMask(1) << category_index("tekun")));
}

TEST(Roll, EveryBadRowIsReportedAndNothingIsLoaded) {
  Roll r;
  Status s =
      r.load_persons_csv(std::string(kHeader) +
                             "370102198001011237,A,1,1980-01-01,370102,390,,0\n"
                             "370102198001011238,B,1,,370102,390,,0\n"      // line 3: check char
                             "370102198001011237,C,1,,370102,390,,0\n"      // line 4: duplicate
                             "11010519491231002X,D,1,,110105,390,,0\n"      // line 5: not Shandong
                             "11010519491231002X,E,1,,370102,320,,0\n"      // line 6: insutype
                             "11010519491231002X,F,1,,370102,390,rich,0\n"  // line 7: category
                             "11010519491231002X,G,1,1949-12-30,370102,390,,0\n"  // line 8: brdy
                             "11010519491231002X,H,1,,370102,390,,2\n",  // line 9: preexisting
                         "p.csv");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kRollInvalid);
  for (int line : {3, 4, 5, 6, 7, 8, 9}) {
    EXPECT_NE(s.message().find("p.csv:" + std::to_string(line) + ":"), std::string::npos)
        << line << s.message();
  }
  EXPECT_EQ(r.size(), 0u);
  EXPECT_FALSE(r.load_persons_csv("a,b\n", "p.csv").ok());
  EXPECT_FALSE(r.load_persons_csv("", "p.csv").ok());
}

TEST(Roll, CoverageFromCategoriesAndEnrolments) {
  Result<Plan> plan = load_plan("plans/shandong-2020-fupin.toml");
  ASSERT_TRUE(plan.ok());
  Roll r;
  ASSERT_TRUE(r.load_persons_csv(std::string(kHeader) +
                                     "370102198001011237,A,1,,370102,390,instant_aid@2020-06-01,0\n"
                                     "11010519491231002X,B,1,,370102,390,poverty@2019-03-01,0\n",
                                 "p.csv")
                  .ok());
  int medical = plan->find_product("fupin_medical");
  Date may, june;
  ASSERT_TRUE(parse_date("2020-05-31", &may));
  ASSERT_TRUE(parse_date("2020-06-01", &june));
  EXPECT_FALSE(coverage_on(*plan, r, r.person(0), medical, may).covered);
  EXPECT_TRUE(coverage_on(*plan, r, r.person(0), medical, june).covered);
  Date jan;
  ASSERT_TRUE(parse_date("2020-01-01", &jan));
  EXPECT_TRUE(coverage_on(*plan, r, r.person(1), medical, jan).covered);
  Status s = r.load_enrollments_csv(
      "psn_no,product,begin,end,prior_years\n"
      "370102198001011237,nope,2020-01-01,2020-12-31,0\n"
      "370102198001011237,fupin_medical,2020-03-01,2020-02-01,0\n",
      "e.csv", *plan);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("e.csv:2:"), std::string::npos);
  EXPECT_NE(s.message().find("e.csv:3:"), std::string::npos);
  s = r.load_enrollments_csv(
      "psn_no,product,begin,end,prior_years\n"
      "370102198001011237,fupin_medical,2020-03-01,2020-04-01,2\n",
      "e.csv", *plan);
  ASSERT_TRUE(s.ok()) << s.to_string();
  Coverage c = coverage_on(*plan, r, r.person(0), medical, may);
  EXPECT_FALSE(c.covered);
  Date march;
  ASSERT_TRUE(parse_date("2020-03-15", &march));
  c = coverage_on(*plan, r, r.person(0), medical, march);
  EXPECT_TRUE(c.covered);
  EXPECT_EQ(c.prior_years, 2);
}

}  // namespace
}  // namespace huibao
