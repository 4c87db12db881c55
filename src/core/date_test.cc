#include "core/date.h"

#include <gtest/gtest.h>

namespace huibao {
namespace {

TEST(Date, ParsesOnlyRealDates) {
  Date d;
  EXPECT_TRUE(parse_date("2024-02-29", &d));
  EXPECT_FALSE(parse_date("2023-02-29", &d));
  EXPECT_FALSE(parse_date("2024-02-30", &d));
  EXPECT_FALSE(parse_date("2024-13-01", &d));
  EXPECT_FALSE(parse_date("2024-00-10", &d));
  EXPECT_FALSE(parse_date("2024-1-01", &d));
  EXPECT_FALSE(parse_date("2024/01/01", &d));
  EXPECT_FALSE(parse_date("2024-01-01T00", &d));
  EXPECT_TRUE(parse_date("2000-02-29", &d));
  EXPECT_FALSE(parse_date("1900-02-29", &d));
}

TEST(Date, RoundTripsAndOrders) {
  Date a, b;
  ASSERT_TRUE(parse_date("2020-12-31", &a));
  ASSERT_TRUE(parse_date("2021-01-01", &b));
  EXPECT_EQ(b.days - a.days, 1);
  EXPECT_LT(a, b);
  EXPECT_EQ(date_to_string(a), "2020-12-31");
  EXPECT_EQ(date_from_ymd(1970, 1, 1).days, 0);
  for (int32_t n = -700000; n < 800000; n += 997) {
    Date x{n}, y;
    ASSERT_TRUE(parse_date(date_to_string(x), &y)) << n;
    EXPECT_EQ(x, y);
  }
}

}  // namespace
}  // namespace huibao
