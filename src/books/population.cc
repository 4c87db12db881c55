#include "books/population.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include "books/region.h"
#include "books/sql.h"
#include "core/csv.h"
#include "store/migrate.h"

namespace huibao::books {

namespace {

bool to_int(std::string_view s, int64_t* out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

Status import_population(store::Db& db, const std::string& path, PopulationImport* out) {
  *out = PopulationImport{};
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kIoError, "cannot read '" + path + "'");
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  CsvReader csv(text);
  std::vector<std::string_view> f;
  std::string err;
  struct Row {
    std::string region, source;
    int64_t year, population;
  };
  std::vector<Row> rows;
  bool header = true;
  bool has_source = false;
  while (csv.next(&f, &err)) {
    const std::string at = path + ":" + std::to_string(csv.line()) + ": ";
    if (!err.empty()) {
      out->errors.push_back(at + err);
      err.clear();
      continue;
    }
    if (header) {
      header = false;
      has_source = f.size() == 4 && f[3] == "source";
      if (f.size() < 3 || f[0] != "region" || f[1] != "year" || f[2] != "population" ||
          (f.size() == 4 && !has_source) || f.size() > 4) {
        out->errors.push_back(at + "the header must be region,year,population[,source]");
        break;
      }
      continue;
    }
    ++out->rows;
    Row r;
    if (f.size() != (has_source ? 4u : 3u)) {
      out->errors.push_back(at + "expected " + std::to_string(has_source ? 4 : 3) + " fields");
      continue;
    }
    r.region = std::string(f[0]);
    if (!is_city_code(r.region)) {
      out->errors.push_back(at + "region '" + r.region + "' must be a city code such as 370200");
      continue;
    }
    if (!to_int(f[1], &r.year) || r.year < 1900 || r.year > 9999) {
      out->errors.push_back(at + "year must be a year such as 2024");
      continue;
    }
    if (!to_int(f[2], &r.population) || r.population <= 0) {
      out->errors.push_back(at + "population must be a positive whole number");
      continue;
    }
    r.source = has_source ? std::string(f[3]) : std::string();
    rows.push_back(std::move(r));
  }
  if (header) out->errors.push_back(path + ": the file is empty");
  if (!out->errors.empty())
    return Status(Code::kRollInvalid, std::to_string(out->errors.size()) + " bad row(s) in '" +
                                          path + "'; nothing written");
  store::Tx tx(db);
  if (!tx.ok()) return tx.status();
  const std::string now = store::utc_timestamp_now();
  for (const Row& r : rows) {
    Result<int64_t> n = run_sql(
        db,
        "INSERT INTO basic_population (region, year, population, source, recorded_at) VALUES "
        "(?, ?, ?, ?, ?) ON CONFLICT (region, year) DO UPDATE SET population = "
        "excluded.population, source = excluded.source, recorded_at = excluded.recorded_at",
        {std::string_view(r.region), r.year, r.population, std::string_view(r.source),
         std::string_view(now)});
    if (!n.ok()) return n.status();
  }
  return tx.commit();
}

}  // namespace huibao::books
