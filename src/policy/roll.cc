#include "policy/roll.h"

#include <algorithm>
#include <bit>
#include <charconv>

#include "core/csv.h"
#include "core/resident_id.h"

namespace huibao {

CategoryMask Person::categories_on(Date d) const {
  CategoryMask m = 0;
  for (uint8_t i = 0; i < category_count; ++i) {
    const PersonCategory& c = categories[i];
    if ((!c.dated || c.from <= d) && d <= c.until) m |= CategoryMask(1) << c.index;
  }
  return m;
}

namespace {
inline uint64_t id_key(std::string_view id) {
  uint64_t k = 0;
  for (int i = 0; i < 17; ++i) k = k * 10 + uint64_t(id[i] - '0');
  return k;
}
inline size_t mix(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  return size_t(k);
}

bool parse_int(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

void add_error(std::string* errors, size_t* count, const std::string& source, size_t line,
               const std::string& msg) {
  constexpr size_t kReportedMax = 100;
  ++*count;
  if (*count <= kReportedMax) {
    *errors += "\n  " + source + ":" + std::to_string(line) + ": " + msg;
  } else if (*count == kReportedMax + 1) {
    *errors += "\n  ... (further errors not shown)";
  }
}
}  // namespace

constexpr uint32_t kNoPerson = UINT32_MAX;

void Roll::grow_index() {
  index_.assign(index_.empty() ? 1024 : index_.size() * 2, kNoPerson);
  used_ = 0;
  for (uint32_t p = 0; p < keys_.size(); ++p) index_insert(p);
}

void Roll::index_insert(uint32_t person) {
  if ((used_ + 1) * 2 > index_.size()) return grow_index();  // re-inserts everyone
  size_t mask = index_.size() - 1;
  for (size_t i = mix(keys_[person]) & mask;; i = (i + 1) & mask) {
    if (index_[i] == kNoPerson) {
      index_[i] = person;
      ++used_;
      return;
    }
  }
}

uint64_t Roll::key_of(std::string_view id) {
  return id_key(id);
}

int64_t Roll::find_key(uint64_t key) const {
  if (index_.empty()) return -1;
  size_t mask = index_.size() - 1;
  for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
    const uint32_t p = index_[i];
    if (p == kNoPerson) return -1;
    if (keys_[p] == key) return p;
  }
}

void Roll::find_keys(const uint64_t* keys, size_t n, int64_t* out) const {
  if (index_.empty()) {
    std::fill(out, out + n, -1);
    return;
  }
  const size_t mask = index_.size() - 1;
  for (size_t k = 0; k < n; ++k) __builtin_prefetch(&index_[mix(keys[k]) & mask]);
  for (size_t k = 0; k < n; ++k) {
    const uint32_t p = index_[mix(keys[k]) & mask];
    if (p != kNoPerson) __builtin_prefetch(&keys_[p]);
  }
  for (size_t k = 0; k < n; ++k) out[k] = find_key(keys[k]);
}

int64_t Roll::find(std::string_view id) const {
  if (!resident_id_checksum_ok(id)) return -1;
  return find_key(id_key(id));
}

bool Roll::add(Person p) {
  if (find(p.id()) >= 0) return false;
  keys_.push_back(id_key(p.id()));
  persons_.push_back(std::move(p));
  index_insert(uint32_t(persons_.size() - 1));
  return true;
}

void Roll::add_enrollment(Enrollment e) {
  enrollments_.push_back(e);
}

void Roll::finish_enrollments() {
  std::stable_sort(enrollments_.begin(), enrollments_.end(),
                   [](const Enrollment& a, const Enrollment& b) { return a.person < b.person; });
  for (Person& p : persons_) p.enrollment_first = p.enrollment_count = 0;
  for (uint32_t i = 0; i < enrollments_.size(); ++i) {
    Person& p = persons_[enrollments_[i].person];
    if (p.enrollment_count == 0) p.enrollment_first = i;
    ++p.enrollment_count;
  }
}

bool parse_categories(std::string_view text, Person* p, std::string* error) {
  p->category_count = 0;
  size_t pos = 0;
  while (pos <= text.size() && !text.empty()) {
    size_t semi = text.find(';', pos);
    std::string_view part = text.substr(pos, semi == std::string_view::npos ? semi : semi - pos);
    pos = semi == std::string_view::npos ? text.size() + 1 : semi + 1;
    if (part.empty()) {
      *error = "empty category between ';'";
      return false;
    }
    PersonCategory c;
    std::string_view name = part;
    if (size_t at = part.find('@'); at != std::string_view::npos) {
      name = part.substr(0, at);
      if (!parse_date(part.substr(at + 1), &c.from)) {
        *error = "category '" + std::string(part) + "': the date after '@' must be YYYY-MM-DD";
        return false;
      }
      c.dated = true;
    }
    int idx = category_index(name);
    if (idx < 0) {
      *error = "unknown category '" + std::string(name) +
               "' (expected one of: " + std::string(category_vocabulary()) + ")";
      return false;
    }
    for (uint8_t i = 0; i < p->category_count; ++i) {
      if (p->categories[i].index == idx) {
        *error = "category '" + std::string(name) + "' is listed twice";
        return false;
      }
    }
    if (p->category_count == limits::kCategoriesPerPersonMax) {
      *error = "too many categories";
      return false;
    }
    c.index = uint8_t(idx);
    p->categories[p->category_count++] = c;
  }
  return true;
}

bool parse_roll_row(const std::vector<std::string_view>& f, Person* p, std::string* error) {
  auto fail = [&](std::string msg) {
    *error = std::move(msg);
    return false;
  };
  if (f.size() != 8) return fail("expected 8 fields, found " + std::to_string(f.size()));
  if (!resident_id_checksum_ok(f[0]))
    return fail("psn_no '" + std::string(f[0]) +
                "' is not a valid resident id (GB 11643 check character)");
  Date born;
  if (!resident_id_birth_date(f[0], &born))
    return fail("psn_no '" + std::string(f[0]) + "' does not hold a real birth date");
  std::copy(f[0].begin(), f[0].end(), p->psn_no.begin());
  if (f[1].size() > limits::kFieldBytesMax)
    return fail("psn_name is longer than " + std::to_string(limits::kFieldBytesMax) + " bytes");
  p->name = std::string(f[1]);
  if (f[2] != "1" && f[2] != "2" && f[2] != "9" && f[2] != "M" && f[2] != "F")
    return fail("gend must be 1 (male), 2 (female), 9 (unknown), M or F");
  p->gend = std::string(f[2]);
  if (f[3].empty()) {
    p->brdy = born;
  } else if (!parse_date(f[3], &p->brdy) || p->brdy != born) {
    return fail("brdy must be YYYY-MM-DD and equal the birth date in psn_no (" +
                date_to_string(born) + ")");
  }
  if (!is_shandong_admdvs(f[4]))
    return fail("admdvs '" + std::string(f[4]) +
                "' must be a Shandong division code 3701xx..3717xx");
  int64_t v;
  parse_int(f[4], &v);
  p->admdvs = int32_t(v);
  if (f[5] != "310" && f[5] != "390")
    return fail("insutype must be 310 (employee) or 390 (resident)");
  p->insutype = f[5] == "310" ? 310 : 390;
  if (!parse_categories(f[6], p, error)) return false;
  if (f[7] != "0" && f[7] != "1") return fail("preexisting must be 0 or 1");
  p->preexisting = f[7] == "1";
  return true;
}

Status Roll::load_persons_csv(std::string_view text, const std::string& source) {
  CsvReader csv(text);
  std::vector<std::string_view> f;
  std::string err, errors;
  size_t nerr = 0;
  bool header = true;
  Roll fresh;
  // One row per line: size the tables once instead of growing them row by row.
  const size_t rows = size_t(std::count(text.begin(), text.end(), '\n')) + 1;
  fresh.persons_.reserve(rows);
  fresh.keys_.reserve(rows);
  fresh.index_.assign(size_t(1) << std::bit_width(rows * 2 + 1024), kNoPerson);
  while (csv.next(&f, &err)) {
    auto bad = [&](const std::string& m) { add_error(&errors, &nerr, source, csv.line(), m); };
    if (!err.empty()) {
      bad(err);
      continue;
    }
    if (header) {
      header = false;
      static const std::vector<std::string_view> kHeader = {
          "psn_no", "psn_name", "gend", "brdy", "admdvs", "insutype", "categories", "preexisting"};
      if (f != kHeader) {
        bad("header must be psn_no,psn_name,gend,brdy,admdvs,insutype,categories,preexisting");
        break;
      }
      continue;
    }
    Person p;
    std::string row_error;
    if (!parse_roll_row(f, &p, &row_error)) {
      bad(row_error);
      continue;
    }
    if (!fresh.add(std::move(p))) bad("psn_no '" + std::string(f[0]) + "' appears twice");
  }
  if (header && nerr == 0) add_error(&errors, &nerr, source, 1, "the file is empty (no header)");
  if (nerr > 0)
    return Status(Code::kRollInvalid,
                  std::to_string(nerr) + " bad row(s) in " + source + "; nothing loaded:" + errors);
  *this = std::move(fresh);
  return Status::Ok();
}

Status Roll::load_enrollments_csv(std::string_view text, const std::string& source,
                                  const Plan& plan) {
  CsvReader csv(text);
  std::vector<std::string_view> f;
  std::string err, errors;
  size_t nerr = 0;
  bool header = true;
  std::vector<Enrollment> rows;
  while (csv.next(&f, &err)) {
    auto bad = [&](const std::string& m) { add_error(&errors, &nerr, source, csv.line(), m); };
    if (!err.empty()) {
      bad(err);
      continue;
    }
    if (header) {
      header = false;
      static const std::vector<std::string_view> kHeader = {"psn_no", "product", "begin", "end",
                                                            "prior_years"};
      if (f != kHeader) {
        bad("header must be psn_no,product,begin,end,prior_years");
        break;
      }
      continue;
    }
    if (f.size() != 5) {
      bad("expected 5 fields, found " + std::to_string(f.size()));
      continue;
    }
    Enrollment e;
    int64_t who = find(f[0]);
    if (who < 0) {
      bad("psn_no '" + std::string(f[0]) + "' is not on the roll");
      continue;
    }
    e.person = uint32_t(who);
    int product = plan.find_product(f[1]);
    if (product < 0) {
      bad("product '" + std::string(f[1]) + "' is not a product of plan " + plan.id);
      continue;
    }
    e.product = int16_t(product);
    if (!parse_date(f[2], &e.begin) || !parse_date(f[3], &e.end)) {
      bad("begin and end must be dates YYYY-MM-DD");
      continue;
    }
    if (e.end < e.begin) {
      bad("end is before begin");
      continue;
    }
    int64_t py = 0;
    if (!f[4].empty() && (!parse_int(f[4], &py) || py < 0 || py > 100)) {
      bad("prior_years must be a whole number 0..100");
      continue;
    }
    e.prior_years = int32_t(py);
    rows.push_back(e);
  }
  if (header && nerr == 0) add_error(&errors, &nerr, source, 1, "the file is empty (no header)");
  if (nerr > 0)
    return Status(Code::kRollInvalid,
                  std::to_string(nerr) + " bad row(s) in " + source + "; nothing loaded:" + errors);
  for (const Enrollment& e : rows) add_enrollment(e);
  finish_enrollments();
  return Status::Ok();
}

Coverage coverage_on(const Plan& plan, const Roll& roll, const Person& person, int product,
                     Date d) {
  Coverage c;
  const Product& p = plan.products[size_t(product)];
  if (p.auto_enroll != 0 && plan.in_period(d)) {
    for (uint8_t i = 0; i < person.category_count; ++i) {
      const PersonCategory& pc = person.categories[i];
      if (!((p.auto_enroll >> pc.index) & 1)) continue;
      Date start = pc.dated && pc.from > plan.period_begin ? pc.from : plan.period_begin;
      if (start <= d && d <= pc.until) c.covered = true;
    }
  }
  const auto& rows = roll.enrollments();
  for (uint32_t i = 0; i < person.enrollment_count; ++i) {
    const Enrollment& e = rows[person.enrollment_first + i];
    if (e.product == product && e.begin <= d && d <= e.end) {
      c.covered = true;
      c.prior_years = std::max(c.prior_years, int(e.prior_years));
    }
  }
  return c;
}

}  // namespace huibao
