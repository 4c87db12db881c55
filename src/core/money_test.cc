#include "core/money.h"

#include <gtest/gtest.h>

namespace huibao {
namespace {

Fen json(std::string_view s, AmountSyntax want = AmountSyntax::kOk) {
  Fen f = -777;
  EXPECT_EQ(parse_json_number_fen(s, &f), want) << s;
  return f;
}

TEST(Money, JsonNumbersExactToTheFen) {
  EXPECT_EQ(json("12.34"), 1234);
  EXPECT_EQ(json("12.340"), 1234);
  EXPECT_EQ(json("1e2"), 10000);
  EXPECT_EQ(json("1.5E+1"), 1500);
  EXPECT_EQ(json("1234e-2"), 1234);
  EXPECT_EQ(json("0"), 0);
  EXPECT_EQ(json("-0.05"), -5);
  EXPECT_EQ(json("0.10000000000000000000000000000"), 10);
  json("12.345", AmountSyntax::kNotExactFen);
  json("1e-3", AmountSyntax::kNotExactFen);
  json("0.1000000000000000000000000000000000000000001", AmountSyntax::kNotExactFen);
  json("01", AmountSyntax::kBadSyntax);
  json("1.", AmountSyntax::kBadSyntax);
  json(".5", AmountSyntax::kBadSyntax);
  json("+1", AmountSyntax::kBadSyntax);
  json("1e", AmountSyntax::kBadSyntax);
}

TEST(Money, RangeIsN16_2OnBothSides) {
  EXPECT_EQ(json("99999999999999.99"), limits::kAmountFenMax);
  EXPECT_EQ(json("-99999999999999.99"), -limits::kAmountFenMax);
  json("100000000000000", AmountSyntax::kOutOfRange);
  json("1e14", AmountSyntax::kOutOfRange);
  json("1e400", AmountSyntax::kOutOfRange);
  json("123456789012345678901234567890", AmountSyntax::kOutOfRange);
  Fen f;
  EXPECT_EQ(parse_decimal_string_fen("99999999999999.99", &f), AmountSyntax::kOk);
  EXPECT_EQ(parse_decimal_string_fen("100000000000000.00", &f), AmountSyntax::kOutOfRange);
}

TEST(Money, ManyDigitsAreReadBySignificance) {
  // 10^45 written out, scaled back by e-40: 100000 yuan, exactly.
  EXPECT_EQ(json("1" + std::string(45, '0') + "e-40"), 10'000'000);
  EXPECT_EQ(json("0." + std::string(60, '0') + "1234e62"), 1234);
  EXPECT_EQ(json("12.34" + std::string(100, '0')), 1234);
  EXPECT_EQ(json("-0.00"), 0);
  EXPECT_EQ(json("0e999999999999"), 0);
  EXPECT_EQ(json("99999999999999"), 9'999'999'999'999'900);
  json("1234567890123456", AmountSyntax::kOutOfRange);
  json("1" + std::string(45, '0') + "1e-40", AmountSyntax::kNotExactFen);
  json("1" + std::string(60, '0'), AmountSyntax::kOutOfRange);
  json("1e-999999999999", AmountSyntax::kNotExactFen);
  json("99999999999999.991", AmountSyntax::kNotExactFen);
  json("99999999999999.990", AmountSyntax::kOk);
  json("12.3e", AmountSyntax::kBadSyntax);
  json("12.", AmountSyntax::kBadSyntax);
  json("12.5x", AmountSyntax::kBadSyntax);
}

TEST(Money, FormatsEveryMagnitude) {
  auto expected = [](Fen v) {  // the slow, obvious way
    std::string s = std::to_string(v / 100);
    s += '.';
    s += char('0' + v % 100 / 10);
    s += char('0' + v % 10);
    return s;
  };
  Fen v = 1;
  for (int d = 0; d < 18; ++d, v *= 10) {
    EXPECT_EQ(fen_to_string(v), expected(v));
    EXPECT_EQ(fen_to_string(-v), std::string(1, '-').append(expected(v)));
    EXPECT_EQ(fen_to_string(v + 7), expected(v + 7));
  }
  EXPECT_EQ(fen_to_string(INT64_MAX), "92233720368547758.07");
}

TEST(Money, DecimalStrings) {
  Fen f;
  ASSERT_EQ(parse_decimal_string_fen("12.5", &f), AmountSyntax::kOk);
  EXPECT_EQ(f, 1250);
  ASSERT_EQ(parse_decimal_string_fen("-3", &f), AmountSyntax::kOk);
  EXPECT_EQ(f, -300);
  EXPECT_EQ(parse_decimal_string_fen("12.505", &f), AmountSyntax::kBadSyntax);
  EXPECT_EQ(parse_decimal_string_fen("1e2", &f), AmountSyntax::kBadSyntax);
  EXPECT_EQ(parse_decimal_string_fen("", &f), AmountSyntax::kBadSyntax);
  EXPECT_EQ(parse_decimal_string_fen(" 1", &f), AmountSyntax::kBadSyntax);
  EXPECT_EQ(parse_decimal_string_fen("1.", &f), AmountSyntax::kBadSyntax);
}

TEST(Money, RoundsHalfUpOnce) {
  EXPECT_EQ(apply_rate_half_up(1, Rate{500'000}), 1);  // 0.5 fen -> 1
  EXPECT_EQ(apply_rate_half_up(1, Rate{499'999}), 0);
  EXPECT_EQ(apply_rate_half_up(333, Rate{650'000}), 216);  // 216.45
  EXPECT_EQ(apply_rate_half_up(3, Rate{650'000}), 2);      // 1.95
  EXPECT_EQ(apply_rate_half_up(limits::kAmountFenMax, Rate{1'000'000}), limits::kAmountFenMax);
}

TEST(Money, Formats) {
  EXPECT_EQ(fen_to_string(0), "0.00");
  EXPECT_EQ(fen_to_string(5), "0.05");
  EXPECT_EQ(fen_to_string(123450), "1234.50");
  EXPECT_EQ(fen_to_string(-5), "-0.05");
  EXPECT_EQ(fen_to_string(INT64_MIN), "-92233720368547758.08");
}

TEST(Money, Percentages) {
  Rate r;
  ASSERT_TRUE(parse_percent("62.5%", &r));
  EXPECT_EQ(r.ppm, 625'000);
  ASSERT_TRUE(parse_percent("0.0001%", &r));
  EXPECT_EQ(r.ppm, 1);
  EXPECT_FALSE(parse_percent("0.00001%", &r));
  EXPECT_FALSE(parse_percent("101%", &r));
  EXPECT_FALSE(parse_percent("65", &r));
  EXPECT_FALSE(parse_percent("%", &r));
  EXPECT_EQ(rate_to_string(Rate{625'000}), "62.5%");
  EXPECT_EQ(rate_to_string(Rate{900'000}), "90%");
}

TEST(MoneyDeathTest, OverflowAsserts) {
  EXPECT_DEATH(add_checked(INT64_MAX, 1), "assertion failed");
  EXPECT_DEATH(sub_checked(INT64_MIN, 1), "assertion failed");
}

}  // namespace
}  // namespace huibao
