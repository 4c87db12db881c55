#include "core/resident_id.h"

#include <gtest/gtest.h>

namespace huibao {
namespace {

TEST(ResidentId, CheckCharacter) {
  EXPECT_EQ(resident_id_check_char("37010219800101123"), '7');
  EXPECT_TRUE(resident_id_checksum_ok("370102198001011237"));
  EXPECT_FALSE(resident_id_checksum_ok("370102198001011238"));
  EXPECT_FALSE(resident_id_checksum_ok("37010219800101123"));    // 17 chars
  EXPECT_FALSE(resident_id_checksum_ok("3701021980010112377"));  // 19 chars
  EXPECT_FALSE(resident_id_checksum_ok("37010219800101123x"));   // lowercase x
  EXPECT_FALSE(resident_id_checksum_ok("3701021980010A1237"));
  // An id whose check character is X.
  std::string first = "11010519491231002";
  EXPECT_EQ(resident_id_check_char(first), 'X');
  EXPECT_TRUE(resident_id_checksum_ok(first + "X"));
}

TEST(ResidentId, BirthDateGenderArea) {
  Date d;
  ASSERT_TRUE(resident_id_birth_date("370102198001011237", &d));
  EXPECT_EQ(date_to_string(d), "1980-01-01");
  EXPECT_FALSE(resident_id_birth_date("370102198002301230", &d));
  EXPECT_EQ(resident_id_gender("370102198001011237"), 'M');
  EXPECT_TRUE(is_shandong_admdvs("370102"));
  EXPECT_TRUE(is_shandong_admdvs("371702"));
  EXPECT_FALSE(is_shandong_admdvs("371802"));
  EXPECT_FALSE(is_shandong_admdvs("370002"));
  EXPECT_FALSE(is_shandong_admdvs("110105"));
  char m[18];
  mask_resident_id("370102198001011237", m);
  EXPECT_EQ(std::string(m, 18), "3701**********1237");
}

}  // namespace
}  // namespace huibao
