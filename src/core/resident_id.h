// Resident identity numbers (GB 11643-1999): 6-digit area code, 8-digit birth
// date, 3-digit sequence (odd for men), and a check character over the first 17.
#pragma once
#include <string_view>

#include "core/date.h"

namespace huibao {

// The check character for the first 17 digits ("10X98765432"[sum mod 11]).
char resident_id_check_char(std::string_view first17);

// 17 digits plus a digit or uppercase 'X' matching the check character.
// This is the whole test behind the claim rejection invalid_psn_no.
bool resident_id_checksum_ok(std::string_view id);

// Birth date embedded in a checksum-valid id; false if it is not a real date.
bool resident_id_birth_date(std::string_view id, Date* out);

// 'M' or 'F' from the sequence's parity.
char resident_id_gender(std::string_view id);

// Shandong division codes: 37 then a city 01..17 (Jinan .. Heze).
bool is_shandong_admdvs(std::string_view code6);

// "3701**********123X": keeps the area prefix and the last four characters.
void mask_resident_id(std::string_view id, char* out18);

}  // namespace huibao
