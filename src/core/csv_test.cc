#include "core/csv.h"

#include <gtest/gtest.h>

namespace huibao {
namespace {

TEST(Csv, QuotesCrlfAndBlankLines) {
  CsvReader r(
      "\xEF\xBB\xBF"
      "a,b,c\r\n\r\n\"x,1\",\"say \"\"hi\"\"\",\n1,2,3");
  std::vector<std::string_view> f;
  std::string err;
  ASSERT_TRUE(r.next(&f, &err));
  EXPECT_EQ(f, (std::vector<std::string_view>{"a", "b", "c"}));
  ASSERT_TRUE(r.next(&f, &err));
  EXPECT_EQ(r.line(), 3u);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0], "x,1");
  EXPECT_EQ(f[1], "say \"hi\"");
  EXPECT_EQ(f[2], "");
  ASSERT_TRUE(r.next(&f, &err));
  EXPECT_EQ(f[2], "3");
  EXPECT_FALSE(r.next(&f, &err));
}

TEST(Csv, ReportsBrokenQuotes) {
  std::vector<std::string_view> f;
  std::string err;
  CsvReader a("\"open,1\n");
  ASSERT_TRUE(a.next(&f, &err));
  EXPECT_FALSE(err.empty());
  CsvReader b("\"x\"y,1\nok\n");
  ASSERT_TRUE(b.next(&f, &err));
  EXPECT_FALSE(err.empty());
  ASSERT_TRUE(b.next(&f, &err));
  EXPECT_TRUE(err.empty());
  EXPECT_EQ(f[0], "ok");
}

}  // namespace
}  // namespace huibao
