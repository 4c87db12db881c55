// Pieces of the roll import that need no database: the input file (mapped,
// not copied), resident-id keys, the bounded error list, and the row parsers
// of persons.csv, relations.csv and accounts.csv with their validation.
// Internal to src/service (roll_import.cc and its test).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/csv.h"
#include "core/error.h"
#include "core/money.h"
#include "policy/roll.h"
#include "service/roll_service.h"

namespace huibao::roll_import {

// A file's bytes: memory-mapped when it is a regular file, so a large roll is
// paged in and out by the kernel instead of being copied; read whole otherwise
// (a pipe).
class InputFile {
 public:
  InputFile() = default;
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  Status open(const std::string& path);
  std::string_view text() const { return {data_, size_}; }

 private:
  const char* data_ = "";
  size_t size_ = 0;
  void* map_ = nullptr;
  std::string copy_;
};

// A verified resident id's key: its first 17 digits (the 18th is implied).
// Ordering keys orders the ids as strings.
inline uint64_t id_key(std::string_view verified_psn_no) {
  return Roll::key_of(verified_psn_no);
}
// The id of a key, check character included.
void id_of_key(uint64_t key, char out18[18]);
// The key of a stored psn_no; false when it is not 17 digits and a check char.
bool stored_id_key(std::string_view psn_no, uint64_t* key);

// Every bad row counts; the first ImportReport::kErrorsShownMax by (file, line)
// are kept, whatever order they are found in.
class ErrorList {
 public:
  void add(int file_order, const std::string& file, size_t line, std::string message);
  int64_t count() const { return count_; }
  // Sorted by (file, line), at most kErrorsShownMax.
  std::vector<ImportRowError> take();

 private:
  struct Entry {
    int file_order;
    ImportRowError error;
  };
  void trim();
  std::vector<Entry> kept_;
  int64_t count_ = 0;
};

// One persons.csv row, checked. Views point into the file or the reader.
struct PersonRow {
  std::string_view psn_no, psn_name, gend, admdvs, insutype;
  char brdy[10];  // YYYY-MM-DD, from psn_no (a given brdy must equal it)
  bool preexisting = false;
  Person categories;  // the row as the roll reads it; categories used from it
};

inline constexpr std::string_view kPersonsHeader =
    "psn_no,psn_name,gend,brdy,admdvs,insutype,categories,preexisting";
inline constexpr std::string_view kRelationsHeader = "psn_no,rel_psn_no,relation";
inline constexpr std::string_view kAccountsHeader = "psn_no,balance";

// True when fields equal the comma-separated header.
bool is_header(const std::vector<std::string_view>& fields, std::string_view header);

// Checks one persons.csv row as Roll::load_persons_csv does (same order, same
// messages), plus what the store needs (psn_name valid UTF-8 without NUL).
// *key_known is set once psn_no has passed its check (for later messages).
bool parse_person_row(const std::vector<std::string_view>& f, PersonRow* row, std::string* error,
                      bool* key_known);

enum class Relation : uint8_t { kSpouse, kParent, kChild };
std::string_view relation_name(Relation r);
// What a is to b when b is r to a: spouse <-> spouse, parent <-> child.
Relation relation_inverse(Relation r);

struct RelationRow {
  uint64_t psn_key, rel_key;
  Relation relation;
};
bool parse_relation_row(const std::vector<std::string_view>& f, RelationRow* row,
                        std::string* error);

struct AccountRow {
  uint64_t psn_key;
  Fen balance_fen;
};
bool parse_account_row(const std::vector<std::string_view>& f, AccountRow* row, std::string* error);

}  // namespace huibao::roll_import
