// The shape every report shares, and its writers. A report is a JSON object:
//
//   {"report": "loss_ratio", "title": "...", "scope": {"year": 2024, ...},
//    "generated_at": "...Z", ...report-specific fields...,
//    "tables": [{"name": "by_region", "title": "...",
//                "columns": [{"id": "region", "title": "地区", "type": "text"}, ...],
//                "rows": [{"region": "370200", ...}, ...]}]}
//
// Column types: text, int, yuan (a string with exactly two decimals,
// "1234.50", as results.jsonl writes amounts), percent (an exact ratio
// rounded half up, "81.25%"; null when undefined). CSV writes one file per
// table (header: the column ids); XLSX one sheet per table (header: the
// titles; yuan and percent as numbers formatted 0.00 and 0.00%).
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/money.h"

namespace huibao::books {

using Json = nlohmann::ordered_json;

enum class ColType : uint8_t { kText, kInt, kYuan, kPercent };

struct Column {
  std::string id, title;
  ColType type = ColType::kText;
};

class ReportBuilder;

// Builds one table of a report, a row at a time, values in column order.
class TableBuilder {
 public:
  TableBuilder(ReportBuilder* report, size_t index, std::vector<Column> columns);
  TableBuilder& text(std::string_view v);
  TableBuilder& integer(int64_t v);
  TableBuilder& yuan(Fen v);
  TableBuilder& percent(__int128 num, __int128 den);  // null when den is 0
  TableBuilder& null();
  void end_row();
  size_t rows() const;

 private:
  void put(Json v);
  Json& table();
  ReportBuilder* report_;
  size_t index_;
  std::vector<Column> columns_;
  Json row_ = Json::object();
  size_t at_ = 0;
};

class ReportBuilder {
 public:
  ReportBuilder(std::string_view name, std::string_view title);
  ReportBuilder(const ReportBuilder&) = delete;
  ReportBuilder& operator=(const ReportBuilder&) = delete;
  Json& root() { return root_; }
  TableBuilder table(std::string_view name, std::string_view title, std::vector<Column> columns);
  std::string dump() const { return root_.dump(2) + "\n"; }

 private:
  Json root_;
};

// Every table of a report as CSV files: the first at path, the others beside
// it as <stem>.<table>.csv. files receives the paths written.
Status write_report_csv(std::string_view report_json, const std::string& path,
                        std::vector<std::string>* files);
// One table as CSV text (first table when name is "").
Result<std::string> report_table_csv(std::string_view report_json, std::string_view table);
// The report as an XLSX workbook, one sheet per table.
Status write_report_xlsx(std::string_view report_json, const std::string& path);
// The same workbook as bytes (for the API): written to a private temporary
// file (libxlsxwriter writes files only), read back and removed, also when
// writing fails.
Result<std::string> report_xlsx_bytes(std::string_view report_json);
// The names of the report's tables, in order.
Result<std::vector<std::string>> report_table_names(std::string_view report_json);

}  // namespace huibao::books
