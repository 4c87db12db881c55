#include "service/import_files.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/limits.h"
#include "core/resident_id.h"

namespace huibao::roll_import {

InputFile::~InputFile() {
  if (map_ != nullptr) ::munmap(map_, size_);
}

Status InputFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status(Code::kIoError, "cannot read '" + path + "': " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return Status(Code::kIoError, "cannot read '" + path + "': " + std::strerror(e));
  }
  if (S_ISREG(st.st_mode)) {
    size_ = size_t(st.st_size);
    if (size_ > 0) {
      void* m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (m == MAP_FAILED) {
        const int e = errno;
        ::close(fd);
        size_ = 0;
        return Status(Code::kIoError, "cannot map '" + path + "': " + std::strerror(e));
      }
      ::madvise(m, size_, MADV_WILLNEED);
      map_ = m;
      data_ = static_cast<const char*>(m);
    }
    ::close(fd);
    return Status::Ok();
  }
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      return Status(Code::kIoError, "cannot read '" + path + "': " + std::strerror(e));
    }
    if (n == 0) break;
    copy_.append(buf, size_t(n));
  }
  ::close(fd);
  data_ = copy_.data();
  size_ = copy_.size();
  return Status::Ok();
}

void id_of_key(uint64_t key, char out[18]) {
  for (int i = 16; i >= 0; --i) {
    out[i] = char('0' + key % 10);
    key /= 10;
  }
  out[17] = resident_id_check_char(std::string_view(out, 17));
}

bool stored_id_key(std::string_view psn_no, uint64_t* key) {
  if (psn_no.size() != 18) return false;
  for (int i = 0; i < 17; ++i) {
    if (psn_no[i] < '0' || psn_no[i] > '9') return false;
  }
  *key = id_key(psn_no);
  return true;
}

void ErrorList::add(int file_order, const std::string& file, size_t line, std::string message) {
  ++count_;
  kept_.push_back({file_order, {file, line, std::move(message)}});
  if (kept_.size() >= 4 * ImportReport::kErrorsShownMax) trim();
}

void ErrorList::trim() {
  std::stable_sort(kept_.begin(), kept_.end(), [](const Entry& a, const Entry& b) {
    if (a.file_order != b.file_order) return a.file_order < b.file_order;
    return a.error.line < b.error.line;
  });
  if (kept_.size() > ImportReport::kErrorsShownMax) kept_.resize(ImportReport::kErrorsShownMax);
}

std::vector<ImportRowError> ErrorList::take() {
  trim();
  std::vector<ImportRowError> out;
  out.reserve(kept_.size());
  for (Entry& e : kept_) out.push_back(std::move(e.error));
  kept_.clear();
  return out;
}

bool is_header(const std::vector<std::string_view>& fields, std::string_view header) {
  size_t pos = 0;
  for (size_t i = 0; i < fields.size(); ++i) {
    size_t comma = header.find(',', pos);
    std::string_view want =
        header.substr(pos, comma == std::string_view::npos ? comma : comma - pos);
    if (fields[i] != want) return false;
    if (comma == std::string_view::npos) return i + 1 == fields.size();
    pos = comma + 1;
  }
  return false;
}

namespace {

// Well-formed UTF-8 (no overlong forms, no surrogates) without NUL bytes:
// what both databases store as text.
bool is_storable_text(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

std::string bad_id(std::string_view field, std::string_view value) {
  return std::string(field) + " '" + std::string(value) +
         "' is not a valid resident id (GB 11643 check character)";
}

}  // namespace

bool parse_person_row(const std::vector<std::string_view>& f, PersonRow* p, std::string* error,
                      bool* key_known) {
  *key_known = f.size() == 8 && resident_id_checksum_ok(f[0]);
  if (!parse_roll_row(f, &p->categories, error)) return false;
  if (!is_storable_text(f[1])) {
    *error = "psn_name must be UTF-8 text without NUL bytes";
    return false;
  }
  p->psn_no = f[0];
  p->psn_name = f[1];
  p->gend = f[2];
  format_date(p->categories.brdy, p->brdy);
  p->admdvs = f[4];
  p->insutype = f[5];
  p->preexisting = f[7] == "1";
  return true;
}

std::string_view relation_name(Relation r) {
  switch (r) {
    case Relation::kSpouse:
      return "spouse";
    case Relation::kParent:
      return "parent";
    case Relation::kChild:
      return "child";
  }
  return "";
}

Relation relation_inverse(Relation r) {
  switch (r) {
    case Relation::kParent:
      return Relation::kChild;
    case Relation::kChild:
      return Relation::kParent;
    case Relation::kSpouse:
      break;
  }
  return Relation::kSpouse;
}

bool parse_relation_row(const std::vector<std::string_view>& f, RelationRow* row,
                        std::string* error) {
  if (f.size() != 3) {
    *error = "expected 3 fields, found " + std::to_string(f.size());
    return false;
  }
  if (!resident_id_checksum_ok(f[0])) {
    *error = bad_id("psn_no", f[0]);
    return false;
  }
  if (!resident_id_checksum_ok(f[1])) {
    *error = bad_id("rel_psn_no", f[1]);
    return false;
  }
  if (f[0] == f[1]) {
    *error = "psn_no and rel_psn_no are the same person";
    return false;
  }
  if (f[2] == "spouse") {
    row->relation = Relation::kSpouse;
  } else if (f[2] == "parent") {
    row->relation = Relation::kParent;
  } else if (f[2] == "child") {
    row->relation = Relation::kChild;
  } else {
    *error = "relation '" + std::string(f[2]) + "' must be spouse, parent or child";
    return false;
  }
  row->psn_key = id_key(f[0]);
  row->rel_key = id_key(f[1]);
  return true;
}

bool parse_account_row(const std::vector<std::string_view>& f, AccountRow* row,
                       std::string* error) {
  if (f.size() != 2) {
    *error = "expected 2 fields, found " + std::to_string(f.size());
    return false;
  }
  if (!resident_id_checksum_ok(f[0])) {
    *error = bad_id("psn_no", f[0]);
    return false;
  }
  Fen fen = 0;
  switch (parse_decimal_string_fen(f[1], &fen)) {
    case AmountSyntax::kOk:
      break;
    case AmountSyntax::kOutOfRange:
      *error = "balance '" + std::string(f[1]) + "' is beyond the largest amount (N16,2)";
      return false;
    default:
      *error = "balance '" + std::string(f[1]) +
               "' must be yuan with at most two decimals, such as 1234.50";
      return false;
  }
  if (fen < 0) {
    *error = "balance '" + std::string(f[1]) + "' must not be negative";
    return false;
  }
  row->psn_key = id_key(f[0]);
  row->balance_fen = fen;
  return true;
}

}  // namespace huibao::roll_import
