// Export of the roll and of settlements, to CSV or XLSX. Rows are read in
// pages by key and written as they come (XLSX in libxlsxwriter's
// constant-memory mode), into `OUT.tmp`, renamed to OUT once complete: a
// failed export leaves no partial file behind. The audit row is written (and
// committed) before the file, so an attempt is on record even if it fails.
#include <xlsxwriter.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "service/audit.h"
#include "service/roll_service.h"
#include "service/settlement_row.h"

namespace huibao {
namespace {

using store::Db;
using store::Stmt;

constexpr int64_t kPageRows = 20'000;
constexpr std::string_view kUndatedFrom = "1900-01-01";

// A table written cell by cell, row by row.
class TableOut {
 public:
  virtual ~TableOut() = default;
  virtual void text(std::string_view v) = 0;
  virtual void number(int64_t v) = 0;
  virtual void amount(Fen fen) = 0;  // yuan with two decimals
  virtual Status end_row() = 0;
  // Completes the file (then renamed into place by the caller).
  virtual Status close() = 0;
};

class CsvOut final : public TableOut {
 public:
  static Result<std::unique_ptr<TableOut>> open(const std::string& path,
                                                const std::vector<std::string>& header) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr)
      return Status(Code::kIoError, "cannot write '" + path + "': " + std::strerror(errno));
    auto out = std::unique_ptr<CsvOut>(new CsvOut(f, path));
    for (const std::string& h : header) out->text(h);
    if (Status s = out->end_row(); !s.ok()) return s;
    return std::unique_ptr<TableOut>(std::move(out));
  }
  ~CsvOut() override {
    if (f_ != nullptr) std::fclose(f_);
  }

  void text(std::string_view v) override {
    sep();
    if (v.find_first_of(",\"\r\n") == std::string_view::npos) {
      buf_.append(v);
      return;
    }
    buf_ += '"';
    for (char c : v) {
      if (c == '"') buf_ += '"';
      buf_ += c;
    }
    buf_ += '"';
  }
  void number(int64_t v) override {
    sep();
    buf_ += std::to_string(v);
  }
  void amount(Fen fen) override {
    sep();
    char b[24];
    buf_.append(b, format_fen(fen, b));
  }
  Status end_row() override {
    buf_ += '\n';
    first_ = true;
    return buf_.size() >= (1u << 20) ? flush() : Status::Ok();
  }
  Status close() override {
    Status s = flush();
    const int rc = std::fclose(f_);
    f_ = nullptr;
    if (!s.ok()) return s;
    if (rc != 0) return Status(Code::kIoError, "cannot write '" + path_ + "'");
    return Status::Ok();
  }

 private:
  CsvOut(std::FILE* f, std::string path) : f_(f), path_(std::move(path)) {}
  void sep() {
    if (!first_) buf_ += ',';
    first_ = false;
  }
  Status flush() {
    if (!buf_.empty() && std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size())
      return Status(Code::kIoError, "cannot write '" + path_ + "': " + std::strerror(errno));
    buf_.clear();
    return Status::Ok();
  }

  std::FILE* f_;
  std::string path_;
  std::string buf_;
  bool first_ = true;
};

// XLSX in constant-memory mode: each row goes to a temporary file as it is
// written. A sheet holds 1,048,575 rows under its header; more continue on
// another sheet. Amounts are numbers with the 0.00 format: a spreadsheet
// number is a binary double, which shows every amount below 2^53 fen exactly
// at two decimals (the file's text holds the decimal).
class XlsxOut final : public TableOut {
 public:
  static Result<std::unique_ptr<TableOut>> open(const std::string& path, std::string sheet_name,
                                                std::vector<std::string> header,
                                                std::vector<double> widths) {
    lxw_workbook_options opt{};
    opt.constant_memory = LXW_TRUE;
    lxw_workbook* wb = workbook_new_opt(path.c_str(), &opt);
    if (wb == nullptr) return Status(Code::kIoError, "cannot write '" + path + "'");
    auto out = std::unique_ptr<XlsxOut>(new XlsxOut(wb, path));
    out->sheet_name_ = std::move(sheet_name);
    out->header_ = std::move(header);
    out->widths_ = std::move(widths);
    out->amount_format_ = workbook_add_format(wb);
    format_set_num_format(out->amount_format_, "0.00");
    out->header_format_ = workbook_add_format(wb);
    format_set_bold(out->header_format_);
    if (Status s = out->new_sheet(); !s.ok()) return s;
    return std::unique_ptr<TableOut>(std::move(out));
  }
  ~XlsxOut() override {
    if (wb_ != nullptr) (void)workbook_close(wb_);
  }

  void text(std::string_view v) override {
    cell_.assign(v);
    note(worksheet_write_string(ws_, row_, col_++, cell_.c_str(), nullptr));
  }
  void number(int64_t v) override {
    note(worksheet_write_number(ws_, row_, col_++, double(v), nullptr));
  }
  void amount(Fen fen) override {
    note(worksheet_write_number(ws_, row_, col_++, double(fen) / 100.0, amount_format_));
  }
  Status end_row() override {
    col_ = 0;
    if (++row_ == LXW_ROW_MAX) {
      if (Status s = new_sheet(); !s.ok()) return s;
    }
    return error_;
  }
  Status close() override {
    lxw_error e = workbook_close(wb_);
    wb_ = nullptr;
    if (!error_.ok()) return error_;
    if (e != LXW_NO_ERROR)
      return Status(Code::kIoError, "cannot write '" + path_ + "': " + lxw_strerror(e));
    return Status::Ok();
  }

 private:
  XlsxOut(lxw_workbook* wb, std::string path) : wb_(wb), path_(std::move(path)) {}

  Status new_sheet() {
    ++sheets_;
    std::string name = sheets_ == 1 ? sheet_name_ : sheet_name_ + " " + std::to_string(sheets_);
    ws_ = workbook_add_worksheet(wb_, name.c_str());
    if (ws_ == nullptr) return Status(Code::kIoError, "cannot add sheet '" + name + "'");
    for (size_t c = 0; c < widths_.size(); ++c)
      worksheet_set_column(ws_, lxw_col_t(c), lxw_col_t(c), widths_[c], nullptr);
    row_ = 0;
    col_ = 0;
    for (const std::string& h : header_)
      note(worksheet_write_string(ws_, 0, col_++, h.c_str(), header_format_));
    col_ = 0;
    row_ = 1;
    return error_;
  }
  void note(lxw_error e) {
    if (e != LXW_NO_ERROR && error_.ok())
      error_ = Status(Code::kIoError, "cannot write '" + path_ + "' (row " +
                                          std::to_string(row_ + 1) + "): " + lxw_strerror(e));
  }

  lxw_workbook* wb_;
  std::string path_;
  std::string sheet_name_;
  std::vector<std::string> header_;
  std::vector<double> widths_;
  lxw_format* amount_format_ = nullptr;
  lxw_format* header_format_ = nullptr;
  lxw_worksheet* ws_ = nullptr;
  lxw_row_t row_ = 0;
  lxw_col_t col_ = 0;
  int sheets_ = 0;
  std::string cell_;
  Status error_;
};

Result<std::unique_ptr<TableOut>> open_table(const std::string& path, TableFormat format,
                                             const std::string& sheet,
                                             const std::vector<std::string>& header,
                                             const std::vector<double>& widths) {
  if (format == TableFormat::kCsv) return CsvOut::open(path, header);
  return XlsxOut::open(path, sheet, header, widths);
}

Status check_out_path(const std::string& path, TableFormat* format) {
  if (!table_format_of(path, format))
    return Status(Code::kIoError, "output '" + path + "' must end in .csv or .xlsx");
  return Status::Ok();
}

// Closes the table and moves the temporary file into place.
Status finish(TableOut& out, const std::string& tmp, const std::string& path) {
  if (Status s = out.close(); !s.ok()) return s;
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return Status(Code::kIoError,
                  "cannot rename '" + tmp + "' to '" + path + "': " + std::strerror(errno));
  return Status::Ok();
}

// Audit first, in its own transaction: the export's reads come after.
Status audit(Db& db, std::string_view actor, std::string_view action, const nlohmann::json& d) {
  store::Tx tx(db);
  if (!tx.ok()) return tx.status();
  Status s = append_audit(db, actor, action, "",
                          d.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (!s.ok()) return s;
  return tx.commit();
}

// A read transaction that sees one snapshot across pages (PostgreSQL's
// default isolation takes a snapshot per statement).
Status begin_snapshot(Db& db, store::Tx& tx) {
  if (!tx.ok()) return tx.status();
  if (db.dialect().engine == store::Engine::kPostgres)
    return db.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
  return Status::Ok();
}

struct ExportedPerson {
  std::string psn_no, name, gend, brdy, admdvs, insutype, status, categories;
  bool preexisting = false;
};

// with_status: a ninth column (XLSX), beyond persons.csv's eight.
Status write_roll(Db& db, const RollExportOptions& o, bool with_status, TableOut& out,
                  ExportReport* report) {
  store::Tx tx(db, store::TxMode::kRead);
  if (Status s = begin_snapshot(db, tx); !s.ok()) return s;
  std::vector<ExportedPerson> page;
  std::string after;
  for (;;) {
    Result<Stmt*> st = db.prepare(
        o.include_inactive
            ? "SELECT psn_no, psn_name, gend, brdy, admdvs, insutype, preexisting, status "
              "FROM persons WHERE psn_no > ? ORDER BY psn_no LIMIT ?"
            : "SELECT psn_no, psn_name, gend, brdy, admdvs, insutype, preexisting, status "
              "FROM persons WHERE psn_no > ? AND status = 'active' ORDER BY psn_no LIMIT ?");
    if (!st.ok()) return st.status();
    Stmt& s = **st;
    s.bind_text(1, after);
    s.bind_int64(2, kPageRows);
    size_t n = 0;
    for (;; ++n) {
      Result<bool> row = s.step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      if (page.size() == n) page.emplace_back();
      ExportedPerson& p = page[n];
      p.psn_no.assign(s.column_text(0));
      p.name.assign(s.column_text(1));
      p.gend.assign(s.column_text(2));
      p.brdy.assign(s.column_text(3));
      p.admdvs.assign(s.column_text(4));
      p.insutype.assign(s.column_text(5));
      p.preexisting = s.column_int64(6) != 0;
      p.status.assign(s.column_text(7));
      p.categories.clear();
    }
    s.reset();
    if (n == 0) break;
    // Open categories: `name`, or `name@from` unless from is the undated mark.
    Result<Stmt*> cs = db.prepare(
        "SELECT psn_no, category, from_date FROM person_categories WHERE psn_no >= ? AND "
        "psn_no <= ? AND to_date IS NULL ORDER BY psn_no, category, from_date");
    if (!cs.ok()) return cs.status();
    Stmt& c = **cs;
    c.bind_text(1, page[0].psn_no);
    c.bind_text(2, page[n - 1].psn_no);
    size_t j = 0;
    for (;;) {
      Result<bool> row = c.step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      const std::string_view psn = c.column_text(0);
      while (j < n && std::string_view(page[j].psn_no) < psn) ++j;
      if (j == n || page[j].psn_no != psn) continue;  // a person not exported
      std::string& cats = page[j].categories;
      if (!cats.empty()) cats += ';';
      cats.append(c.column_text(1));
      if (c.column_text(2) != kUndatedFrom) {
        cats += '@';
        cats.append(c.column_text(2));
      }
    }
    c.reset();
    for (size_t i = 0; i < n; ++i) {
      const ExportedPerson& p = page[i];
      out.text(p.psn_no);
      out.text(p.name);
      out.text(p.gend);
      out.text(p.brdy);
      out.text(p.admdvs);
      out.text(p.insutype);
      out.text(p.categories);
      out.text(p.preexisting ? "1" : "0");
      if (with_status) out.text(p.status);
      if (Status e = out.end_row(); !e.ok()) return e;
    }
    report->rows += int64_t(n);
    after = page[n - 1].psn_no;
    if (n < size_t(kPageRows)) break;
  }
  return tx.rollback();
}

// ---- settlements ----

// " AND s.plan_id = ? AND s.plan_year = ?" as the filters ask.
std::string settlement_filter(const SettlementExportOptions& o) {
  std::string w;
  if (!o.plan_id.empty()) w += " AND s.plan_id = ?";
  if (o.year != 0) w += " AND s.plan_year = ?";
  return w;
}

void bind_filter(Stmt& s, int first, const SettlementExportOptions& o) {
  if (!o.plan_id.empty()) s.bind_text(first++, o.plan_id);
  if (o.year != 0) s.bind_int64(first, o.year);
}

// The union of the layers that paid in the selected settlements, in plan
// order (plans by id and version), then any others by name.
Status settlement_layer_columns(Db& db, const SettlementExportOptions& o,
                                std::vector<std::string>* out) {
  std::set<std::string> present;
  std::set<std::pair<std::string, int64_t>> versions;
  {
    // Many rows share a layers text (a plan's settle rows list every layer).
    Result<Stmt*> st = db.prepare(
        "SELECT DISTINCT s.plan_id, s.plan_version, s.layers FROM settlements s WHERE 1 = 1" +
        settlement_filter(o));
    if (!st.ok()) return st.status();
    bind_filter(**st, 1, o);
    std::vector<std::pair<std::string, Fen>> paid;
    for (;;) {
      Result<bool> row = (*st)->step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      versions.insert({std::string((*st)->column_text(0)), (*st)->column_int64(1)});
      if (Status p = parse_layers_column((*st)->column_text(2), &paid); !p.ok()) return p;
      for (const auto& [layer, fen] : paid) {
        if (fen != 0) present.insert(layer);
      }
    }
  }
  std::set<std::string> placed;
  for (const auto& [plan_id, version] : versions) {
    Result<std::vector<std::string>> order = plan_layer_order(db, plan_id, version);
    if (!order.ok()) return order.status();
    for (const std::string& id : *order) {
      if (present.count(id) && placed.insert(id).second) out->push_back(id);
    }
  }
  for (const std::string& id : present) {
    if (placed.insert(id).second) out->push_back(id);
  }
  return Status::Ok();
}

struct ExportedSettlement {
  std::string setl_id, kind, ref_setl_id, psn_no, plan_id, claim_kind, admission, discharge;
  int64_t plan_year = 0;
  Fen amounts[5] = {};
  std::vector<Fen> layers;
};

Status write_settlements(Db& db, const SettlementExportOptions& o,
                         const std::vector<std::string>& layers, TableOut& out,
                         ExportReport* report) {
  std::map<std::string, size_t, std::less<>> layer_col;
  for (size_t i = 0; i < layers.size(); ++i) layer_col[layers[i]] = i;
  const std::string sql =
      "SELECT s.setl_id, s.kind, s.ref_setl_id, s.psn_no, s.plan_id, s.plan_year, s.claim_kind, "
      "s.admission_date, s.discharge_date, s.medfee_sumamt, s.inscp_scp_amt, s.fund_pay_sumamt, "
      "s.hosp_part_amt, s.psn_part_amt, s.layers FROM settlements s WHERE s.setl_id > ?" +
      settlement_filter(o) + " ORDER BY s.setl_id LIMIT ?";
  ExportedSettlement e;
  std::vector<std::pair<std::string, Fen>> paid;
  std::string after;
  for (;;) {
    Result<Stmt*> st = db.prepare(sql);
    if (!st.ok()) return st.status();
    Stmt& s = **st;
    s.bind_text(1, after);
    bind_filter(s, 2, o);
    s.bind_int64(2 + (o.plan_id.empty() ? 0 : 1) + (o.year != 0 ? 1 : 0), kPageRows);
    int64_t rows = 0;
    for (;; ++rows) {
      Result<bool> row = s.step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      e.setl_id.assign(s.column_text(0));
      e.kind.assign(s.column_text(1));
      e.ref_setl_id.assign(s.column_text(2));
      e.psn_no.assign(s.column_text(3));
      e.plan_id.assign(s.column_text(4));
      e.plan_year = s.column_int64(5);
      e.claim_kind.assign(s.column_text(6));
      e.admission.assign(s.column_text(7));
      e.discharge.assign(s.column_text(8));
      for (int k = 0; k < 5; ++k) e.amounts[k] = s.column_int64(9 + k);
      e.layers.assign(layers.size(), 0);
      if (Status p = parse_layers_column(s.column_text(14), &paid); !p.ok()) return p;
      for (const auto& [layer, fen] : paid) {
        auto it = layer_col.find(layer);
        if (it != layer_col.end()) e.layers[it->second] = fen;
      }
      out.text(e.setl_id);
      out.text(e.kind);
      out.text(e.ref_setl_id);
      out.text(e.psn_no);
      out.text(e.plan_id);
      out.number(e.plan_year);
      out.text(e.claim_kind);
      out.text(e.admission);
      out.text(e.discharge);
      for (Fen a : e.amounts) out.amount(a);
      for (Fen a : e.layers) out.amount(a);
      if (Status w = out.end_row(); !w.ok()) return w;
    }
    s.reset();
    const bool full_page = rows == kPageRows;
    const int64_t complete = rows;
    report->rows += complete;
    if (!full_page) break;
    after = e.setl_id;
  }
  return Status::Ok();
}

}  // namespace

Status export_roll(Db& db, const RollExportOptions& o, ExportReport* report) {
  *report = ExportReport{};
  TableFormat format;
  if (Status s = check_out_path(o.out_path, &format); !s.ok()) return s;
  nlohmann::json detail = {{"out", o.out_path}, {"include_inactive", o.include_inactive}};
  if (Status s = audit(db, o.actor, "roll.export", detail); !s.ok()) return s;
  const bool with_status = format == TableFormat::kXlsx;
  std::vector<std::string> header = {"psn_no", "psn_name", "gend",       "brdy",
                                     "admdvs", "insutype", "categories", "preexisting"};
  if (with_status) header.push_back("status");
  const std::string tmp = o.out_path + ".tmp";
  Result<std::unique_ptr<TableOut>> out =
      open_table(tmp, format, "persons", header, {20, 12, 6, 12, 8, 9, 36, 11, 10});
  if (!out.ok()) return out.status();
  Status s = write_roll(db, o, with_status, **out, report);
  if (s.ok()) s = finish(**out, tmp, o.out_path);
  if (!s.ok()) std::remove(tmp.c_str());
  return s;
}

Status export_settlements(Db& db, const SettlementExportOptions& o, ExportReport* report) {
  *report = ExportReport{};
  TableFormat format;
  if (Status s = check_out_path(o.out_path, &format); !s.ok()) return s;
  nlohmann::json detail = {{"out", o.out_path}};
  if (!o.plan_id.empty()) detail["plan_id"] = o.plan_id;
  if (o.year != 0) detail["year"] = o.year;
  if (Status s = audit(db, o.actor, "settlements.export", detail); !s.ok()) return s;

  store::Tx tx(db, store::TxMode::kRead);
  if (Status s = begin_snapshot(db, tx); !s.ok()) return s;
  if (Status s = settlement_layer_columns(db, o, &report->layers); !s.ok()) return s;
  std::vector<std::string> header = {"setl_id",       "kind",           "ref_setl_id",
                                     "psn_no",        "plan_id",        "plan_year",
                                     "claim_kind",    "admission_date", "discharge_date",
                                     "medfee_sumamt", "inscp_scp_amt",  "fund_pay_sumamt",
                                     "hosp_part_amt", "psn_part_amt"};
  std::vector<double> widths = {16, 10, 16, 20, 24, 9, 10, 14, 14, 14, 14, 15, 13, 13};
  for (const std::string& l : report->layers) {
    header.push_back(l);
    widths.push_back(12);
  }
  const std::string tmp = o.out_path + ".tmp";
  Result<std::unique_ptr<TableOut>> out = open_table(tmp, format, "settlements", header, widths);
  if (!out.ok()) return out.status();
  Status s = write_settlements(db, o, report->layers, **out, report);
  if (s.ok()) s = finish(**out, tmp, o.out_path);
  if (!s.ok()) std::remove(tmp.c_str());
  if (s.ok()) s = tx.rollback();
  return s;
}

}  // namespace huibao
