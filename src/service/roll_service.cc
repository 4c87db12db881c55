// Helpers shared by the roll services: the audit log, the name mask, the
// operator's date and the export format.
#include "service/roll_service.h"

#include <ctime>

#include "service/audit.h"
#include "store/migrate.h"

namespace huibao {

Status append_audit(store::Db& db, std::string_view actor, std::string_view action,
                    std::string_view psn_no, std::string_view detail) {
  Result<int64_t> seq = store::allocate_ids(db, "audit_log", 1);
  if (!seq.ok()) return seq.status();
  Result<store::Stmt*> st = db.prepare(
      "INSERT INTO audit_log (seq, recorded_at, actor, action, psn_no, detail) "
      "VALUES (?, ?, ?, ?, ?, ?)");
  if (!st.ok()) return st.status();
  store::Stmt& s = **st;
  s.bind_int64(1, *seq);
  s.bind_text(2, store::utc_timestamp_now());
  s.bind_text(3, actor);
  s.bind_text(4, action);
  if (psn_no.empty()) {
    s.bind_null(5);
  } else {
    s.bind_text(5, psn_no);
  }
  s.bind_text(6, detail);
  Result<int64_t> n = s.execute();
  return n.ok() ? Status::Ok() : n.status();
}

std::string mask_name(std::string_view name) {
  if (name.empty()) return {};
  // The first UTF-8 character: a lead byte and its continuation bytes.
  size_t first = 1;
  while (first < name.size() && (static_cast<unsigned char>(name[first]) & 0xC0) == 0x80) ++first;
  std::string out(name.substr(0, first));
  for (size_t i = first; i < name.size(); ++i) {
    if ((static_cast<unsigned char>(name[i]) & 0xC0) != 0x80) out += '*';
  }
  return out;
}

Date today_local() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  return date_from_ymd(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

bool table_format_of(std::string_view path, TableFormat* out) {
  auto ends_with = [&](std::string_view ext) {
    if (path.size() <= ext.size()) return false;
    std::string_view tail = path.substr(path.size() - ext.size());
    for (size_t i = 0; i < ext.size(); ++i) {
      char c = tail[i];
      if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
      if (c != ext[i]) return false;
    }
    return true;
  };
  if (ends_with(".csv")) {
    *out = TableFormat::kCsv;
    return true;
  }
  if (ends_with(".xlsx")) {
    *out = TableFormat::kXlsx;
    return true;
  }
  return false;
}

}  // namespace huibao
