#include "books/report_model.h"

#include <xlsxwriter.h>

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "books/rules.h"
#include "store/migrate.h"

namespace huibao::books {
namespace {

std::string_view type_name(ColType t) {
  switch (t) {
    case ColType::kText:
      return "text";
    case ColType::kInt:
      return "int";
    case ColType::kYuan:
      return "yuan";
    case ColType::kPercent:
      return "percent";
  }
  return "text";
}

std::string csv_field(std::string_view v) {
  if (v.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(v);
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// A cell as CSV text: strings as they are, numbers in decimal, null empty.
std::string cell_text(const Json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

Result<Json> parse(std::string_view text) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("tables"))
    return Status(Code::kIoError, "not a report (no tables)");
  return j;
}

std::string table_csv(const Json& t) {
  std::string out;
  const Json& cols = t["columns"];
  for (size_t c = 0; c < cols.size(); ++c) {
    if (c > 0) out += ',';
    out += csv_field(cols[c]["id"].get<std::string>());
  }
  out += '\n';
  for (const Json& row : t["rows"]) {
    for (size_t c = 0; c < cols.size(); ++c) {
      if (c > 0) out += ',';
      const std::string id = cols[c]["id"].get<std::string>();
      out += csv_field(row.contains(id) ? cell_text(row[id]) : "");
    }
    out += '\n';
  }
  return out;
}

// "1234.50" -> 1234.5 and "81.25%" -> 0.8125, for display in a spreadsheet only.
double display_number(const std::string& s, bool percent) {
  const double v = std::strtod(s.c_str(), nullptr);
  return percent ? v / 100.0 : v;
}

}  // namespace

TableBuilder::TableBuilder(ReportBuilder* report, size_t index, std::vector<Column> columns)
    : report_(report), index_(index), columns_(std::move(columns)) {}

// Looked up each time: adding tables or fields to the report moves the nodes.
Json& TableBuilder::table() {
  return report_->root()["tables"][index_];
}

void TableBuilder::put(Json v) {
  HB_ASSERT(at_ < columns_.size());
  row_[columns_[at_++].id] = std::move(v);
}

TableBuilder& TableBuilder::text(std::string_view v) {
  put(std::string(v));
  return *this;
}

TableBuilder& TableBuilder::integer(int64_t v) {
  put(v);
  return *this;
}

TableBuilder& TableBuilder::yuan(Fen v) {
  put(fen_to_string(v));
  return *this;
}

TableBuilder& TableBuilder::percent(__int128 num, __int128 den) {
  if (den == 0) {
    put(nullptr);
  } else {
    put(percent_half_up(num, den));
  }
  return *this;
}

TableBuilder& TableBuilder::null() {
  put(nullptr);
  return *this;
}

void TableBuilder::end_row() {
  HB_ASSERT(at_ == columns_.size());
  table()["rows"].push_back(std::move(row_));
  row_ = Json::object();
  at_ = 0;
}

size_t TableBuilder::rows() const {
  return report_->root()["tables"][index_]["rows"].size();
}

ReportBuilder::ReportBuilder(std::string_view name, std::string_view title) {
  root_["report"] = std::string(name);
  root_["title"] = std::string(title);
  root_["scope"] = Json::object();
  root_["generated_at"] = store::utc_timestamp_now();
  root_["tables"] = Json::array();
}

TableBuilder ReportBuilder::table(std::string_view name, std::string_view title,
                                  std::vector<Column> columns) {
  Json t;
  t["name"] = std::string(name);
  t["title"] = std::string(title);
  t["columns"] = Json::array();
  for (const Column& c : columns)
    t["columns"].push_back({{"id", c.id}, {"title", c.title}, {"type", type_name(c.type)}});
  t["rows"] = Json::array();
  root_["tables"].push_back(std::move(t));
  return TableBuilder(this, root_["tables"].size() - 1, std::move(columns));
}

Status write_report_csv(std::string_view report_json, const std::string& path,
                        std::vector<std::string>* files) {
  Result<Json> j = parse(report_json);
  if (!j.ok()) return j.status();
  std::string stem = path;
  if (stem.size() > 4 && stem.substr(stem.size() - 4) == ".csv") stem.resize(stem.size() - 4);
  bool first = true;
  for (const Json& t : (*j)["tables"]) {
    const std::string p = first ? path : stem + "." + t["name"].get<std::string>() + ".csv";
    first = false;
    std::ofstream out(p, std::ios::binary);
    out << table_csv(t);
    if (!out) return Status(Code::kIoError, "cannot write '" + p + "'");
    if (files != nullptr) files->push_back(p);
  }
  return Status::Ok();
}

Result<std::string> report_table_csv(std::string_view report_json, std::string_view table) {
  Result<Json> j = parse(report_json);
  if (!j.ok()) return j.status();
  for (const Json& t : (*j)["tables"]) {
    if (table.empty() || t["name"].get<std::string>() == table) return table_csv(t);
  }
  return Status(Code::kIoError, "the report has no table '" + std::string(table) + "'");
}

Status write_report_xlsx(std::string_view report_json, const std::string& path) {
  Result<Json> j = parse(report_json);
  if (!j.ok()) return j.status();
  lxw_workbook* wb = workbook_new(path.c_str());
  if (wb == nullptr) return Status(Code::kIoError, "cannot write '" + path + "'");
  lxw_format* bold = workbook_add_format(wb);
  format_set_bold(bold);
  lxw_format* money = workbook_add_format(wb);
  format_set_num_format(money, "#,##0.00");
  lxw_format* pct = workbook_add_format(wb);
  format_set_num_format(pct, "0.00%");
  for (const Json& t : (*j)["tables"]) {
    std::string name = t["name"].get<std::string>().substr(0, 31);
    lxw_worksheet* ws = workbook_add_worksheet(wb, name.c_str());
    if (ws == nullptr) continue;
    const Json& cols = t["columns"];
    for (size_t c = 0; c < cols.size(); ++c) {
      worksheet_write_string(ws, 0, lxw_col_t(c), cols[c]["title"].get<std::string>().c_str(),
                             bold);
      worksheet_set_column(ws, lxw_col_t(c), lxw_col_t(c), 14, nullptr);
    }
    lxw_row_t r = 1;
    for (const Json& row : t["rows"]) {
      for (size_t c = 0; c < cols.size(); ++c) {
        const std::string id = cols[c]["id"].get<std::string>();
        const std::string type = cols[c]["type"].get<std::string>();
        if (!row.contains(id) || row[id].is_null()) continue;
        const Json& v = row[id];
        const lxw_col_t col = lxw_col_t(c);
        if (type == "int" && v.is_number()) {
          worksheet_write_number(ws, r, col, double(v.get<int64_t>()), nullptr);
        } else if ((type == "yuan" || type == "percent") && v.is_string()) {
          worksheet_write_number(ws, r, col,
                                 display_number(v.get<std::string>(), type == "percent"),
                                 type == "yuan" ? money : pct);
        } else {
          worksheet_write_string(ws, r, col, cell_text(v).c_str(), nullptr);
        }
      }
      ++r;
    }
  }
  const lxw_error e = workbook_close(wb);
  if (e != LXW_NO_ERROR)
    return Status(Code::kIoError, "cannot write '" + path + "': " + std::string(lxw_strerror(e)));
  return Status::Ok();
}

Result<std::string> report_xlsx_bytes(std::string_view report_json) {
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::temp_directory_path(ec);
  if (ec) return Status(Code::kIoError, "no temporary directory: " + ec.message());
  std::string path = (dir / "huibao-report-XXXXXX.xlsx").string();
  const int fd = ::mkstemps(path.data(), 5);
  if (fd < 0) return Status(Code::kIoError, "cannot create a temporary file in " + dir.string());
  ::close(fd);
  struct Remove {
    const std::string& path;
    ~Remove() { ::unlink(path.c_str()); }
  } remove{path};
  if (Status s = write_report_xlsx(report_json, path); !s.ok()) return s;
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) return Status(Code::kIoError, "cannot read back '" + path + "'");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return std::move(bytes).str();
}

Result<std::vector<std::string>> report_table_names(std::string_view report_json) {
  Result<Json> j = parse(report_json);
  if (!j.ok()) return j.status();
  std::vector<std::string> names;
  for (const Json& t : (*j)["tables"]) names.push_back(t["name"].get<std::string>());
  return names;
}

}  // namespace huibao::books
