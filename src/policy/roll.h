// The roll of insured people and their enrolments, as the engine sees them,
// and the coverage question: is this person covered by this product on this day?
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/category.h"
#include "core/date.h"
#include "core/error.h"
#include "core/limits.h"
#include "policy/plan.h"

namespace huibao {

struct PersonCategory {
  uint8_t index = 0;
  bool dated = false;
  Date from;                   // in force from this day when dated
  Date until{kDateOpenEnded};  // and through this day (a category the roll ended)
  static constexpr int32_t kDateOpenEnded = INT32_MAX;
};

struct Person {
  std::array<char, 18> psn_no{};
  std::string name;
  std::string gend;
  Date brdy;
  int32_t admdvs = 0;
  int insutype = 0;
  bool preexisting = false;
  uint8_t category_count = 0;
  std::array<PersonCategory, limits::kCategorySpansPerPersonMax> categories{};
  uint32_t enrollment_first = 0;  // this person's rows in Roll::enrollments
  uint32_t enrollment_count = 0;

  std::string_view id() const { return {psn_no.data(), psn_no.size()}; }
  // Categories in force on day d (from its date, if any, through its end, if any).
  CategoryMask categories_on(Date d) const;
};

struct Enrollment {
  uint32_t person = 0;
  int16_t product = 0;
  Date begin, end;  // both covered, inclusive
  int32_t prior_years = 0;
};

// Persons with an index by resident id. Built once, then read-only, so
// settlement threads share it freely.
class Roll {
 public:
  // Parses persons.csv (DOMAIN.md §6). Every bad row is reported with its
  // line; any bad row fails the whole load (kRollInvalid) and nothing is kept.
  Status load_persons_csv(std::string_view text, const std::string& source);
  // Parses enrollments.csv against this roll and the plan's products.
  Status load_enrollments_csv(std::string_view text, const std::string& source, const Plan& plan);

  // Index of the person with this resident id, or -1.
  int64_t find(std::string_view psn_no) const;
  // The index key of an id whose check character is already verified (its
  // first 17 digits), and the lookup by that key: one cache line per probe.
  static uint64_t key_of(std::string_view verified_psn_no);
  int64_t find_key(uint64_t key) const;
  // find_key for n keys at once, with the memory of all n fetched together
  // (a lookup is two dependent cache misses; a batch overlaps them).
  void find_keys(const uint64_t* keys, size_t n, int64_t* out) const;
  size_t size() const { return persons_.size(); }
  const Person& person(size_t i) const { return persons_[i]; }
  const std::vector<Enrollment>& enrollments() const { return enrollments_; }

  // Adds a person directly (tests, generators). Returns false on a duplicate id.
  bool add(Person p);
  void add_enrollment(Enrollment e);  // call finish_enrollments() after the last
  void finish_enrollments();

 private:
  void index_insert(uint32_t person);
  void grow_index();

  std::vector<Person> persons_;
  std::vector<Enrollment> enrollments_;
  // For lookups: each person's key (the id's first 17 digits; the 18th is
  // implied) and an open-addressing index of person numbers by key.
  std::vector<uint64_t> keys_;
  std::vector<uint32_t> index_;
  size_t used_ = 0;
};

// Coverage of product p for a person on day d, as the plan says: automatic
// cover from the categories (from the category's date, or the period's start,
// to the period's end) or an enrolment row that contains d.
struct Coverage {
  bool covered = false;
  int prior_years = 0;  // largest over the rows covering d
};
Coverage coverage_on(const Plan& plan, const Roll& roll, const Person& person, int product, Date d);

// Checks one persons.csv row (DOMAIN.md §6) into p: the rules every roll
// reader shares, in column order; the first problem goes to *error.
bool parse_roll_row(const std::vector<std::string_view>& fields, Person* p, std::string* error);

// Parses "poverty;instant_aid@2020-05-01" into categories; error names the bad part.
bool parse_categories(std::string_view text, Person* p, std::string* error);

}  // namespace huibao
