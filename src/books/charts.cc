// SVG charts, written by hand as text, from a report's JSON: the bars are the
// report's own figures. Geometry uses double (display only; no amount is
// computed here).
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "books/report_model.h"
#include "books/reports.h"

namespace huibao::books {
namespace {

constexpr std::string_view kProvince = "370000";

std::string esc(std::string_view s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

// "81.25%" -> 81.25; "1234.50" -> 1234.5; NaN for null or ill-formed.
double value_of(const Json& v) {
  if (!v.is_string()) return std::nan("");
  const std::string s = v.get<std::string>();
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  return end == s.c_str() ? std::nan("") : d;
}

std::string text_of(const Json& row, const char* key) {
  return row.contains(key) && row[key].is_string() ? row[key].get<std::string>() : std::string();
}

const Json* table_of(const Json& report, std::string_view name) {
  for (const Json& t : report["tables"]) {
    if (t["name"].get<std::string>() == name) return &t;
  }
  return nullptr;
}

struct Bar {
  std::string label;
  double value;       // in the chart's unit
  std::string shown;  // the figure written above it
  std::string fill;
  bool total = false;  // the province: outlined, its label bold
};

// A horizontal line across the bars (a floor, a ceiling, a target).
struct Reference {
  double value = 0;
  std::string label;
  std::string colour = "#c0392b";
};

constexpr const char* kGood = "#2e8b57";
constexpr const char* kShort = "#e07b39";
constexpr const char* kNeutral = "#4a7ab8";

std::string header(int w, int h, std::string_view title, std::string_view subtitle) {
  std::string o = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(w) +
                  "\" height=\"" + std::to_string(h) + "\" viewBox=\"0 0 " + std::to_string(w) +
                  " " + std::to_string(h) +
                  "\" font-family=\"Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif\" "
                  "font-size=\"12\">\n";
  o += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  o += "<text x=\"20\" y=\"28\" font-size=\"17\" font-weight=\"bold\">" + esc(title) + "</text>\n";
  o += "<text x=\"20\" y=\"48\" fill=\"#555\">" + esc(subtitle) + "</text>\n";
  return o;
}

// Vertical bars with a y axis (unit: "%" or ""), horizontal reference
// lines, an optional vertical marker before bar `marker_at`, and a legend.
std::string bar_chart(std::string_view title, std::string_view subtitle,
                      const std::vector<Bar>& bars, const std::vector<Reference>& refs,
                      const char* unit, std::string_view legend, int marker_at = -1,
                      std::string_view marker_label = "") {
  const int left = 70, right = refs.empty() ? 30 : 190, top = 70, bottom = 70;
  const int slot = bars.size() > 12 ? 52 : 72;
  const int w = std::max(640, left + right + int(bars.size()) * slot);
  const int h = 440;
  const double plot_h = h - top - bottom;
  double max = 0;
  for (const Reference& r : refs) max = std::max(max, r.value);
  for (const Bar& b : bars) max = std::max(max, std::isnan(b.value) ? 0 : b.value);
  // A round top: 10 % steps for percentages, 1-2-5 steps for counts.
  double step = 10;
  if (std::string_view(unit) != "%") {
    const double raw = std::max(1.0, max / 5);
    const double mag = std::pow(10, std::floor(std::log10(raw)));
    step = raw <= mag ? mag : raw <= 2 * mag ? 2 * mag : raw <= 5 * mag ? 5 * mag : 10 * mag;
  } else if (max > 100) {
    step = 20;
  }
  const double top_value = std::max(step, std::ceil(max * 1.08 / step) * step);
  auto y = [&](double v) { return top + plot_h * (1 - v / top_value); };
  std::string o = header(w, h, title, subtitle);
  for (double v = 0; v <= top_value + 1e-9; v += step) {
    o += "<line x1=\"" + std::to_string(left) + "\" x2=\"" + std::to_string(w - right) +
         "\" y1=\"" + num(y(v)) + "\" y2=\"" + num(y(v)) + "\" stroke=\"#e5e5e5\"/>\n";
    o += "<text x=\"" + std::to_string(left - 8) + "\" y=\"" + num(y(v) + 4) +
         "\" text-anchor=\"end\" fill=\"#555\">" + num(v).substr(0, num(v).size() - 2) + unit +
         "</text>\n";
  }
  o += "<line x1=\"" + std::to_string(left) + "\" x2=\"" + std::to_string(w - right) + "\" y1=\"" +
       num(y(0)) + "\" y2=\"" + num(y(0)) + "\" stroke=\"#333\"/>\n";
  const double slot_w = double(w - left - right) / double(std::max<size_t>(1, bars.size()));
  for (size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    const double x = left + slot_w * double(i) + slot_w * 0.15;
    const double bw = slot_w * 0.7;
    const double v = std::isnan(b.value) ? 0 : b.value;
    o += "<rect x=\"" + num(x) + "\" y=\"" + num(y(v)) + "\" width=\"" + num(bw) + "\" height=\"" +
         num(y(0) - y(v)) + "\" fill=\"" + b.fill + "\"" +
         (b.total ? " stroke=\"#222\" stroke-width=\"2\"" : "") + "><title>" +
         esc(b.label + " " + b.shown) + "</title></rect>\n";
    o += "<text x=\"" + num(x + bw / 2) + "\" y=\"" + num(y(v) - 5) +
         "\" text-anchor=\"middle\" font-size=\"10\">" + esc(b.shown) + "</text>\n";
    o += "<text x=\"" + num(x + bw / 2) + "\" y=\"" + num(y(0) + 18) + "\" text-anchor=\"middle\"" +
         (b.total ? " font-weight=\"bold\"" : "") + ">" + esc(b.label) + "</text>\n";
  }
  for (const Reference& ref : refs) {
    o += "<line x1=\"" + std::to_string(left) + "\" x2=\"" + std::to_string(w - right) +
         "\" y1=\"" + num(y(ref.value)) + "\" y2=\"" + num(y(ref.value)) + "\" stroke=\"" +
         ref.colour + "\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>\n";
    // The label in the right margin, beside the line's end.
    o += "<text x=\"" + std::to_string(w - right + 6) + "\" y=\"" + num(y(ref.value) + 4) +
         "\" fill=\"" + ref.colour + "\" font-weight=\"bold\">" + esc(ref.label) + "</text>\n";
  }
  if (!legend.empty())
    o += "<text x=\"" + std::to_string(left) + "\" y=\"" + std::to_string(h - 20) +
         "\" fill=\"#555\">" + esc(legend) + "</text>\n";
  if (marker_at >= 0) {
    const double x = left + slot_w * marker_at;
    o += "<line x1=\"" + num(x) + "\" x2=\"" + num(x) + "\" y1=\"" + std::to_string(top) +
         "\" y2=\"" + num(y(0)) +
         "\" stroke=\"#c0392b\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>\n";
    o += "<text x=\"" + num(x + 6) + "\" y=\"" + std::to_string(top + 12) +
         "\" fill=\"#c0392b\" font-weight=\"bold\">" + esc(marker_label) + "</text>\n";
  }
  return o + "</svg>\n";
}

std::string scope_text(const Json& r) {
  const Json& s = r["scope"];
  std::string t = "年度 " + std::to_string(s["year"].get<int>());
  if (s["plan_id"].is_string()) t += " · " + s["plan_id"].get<std::string>();
  return t;
}

// The rows of a per-product table for one product (the first when "").
std::vector<const Json*> rows_of_product(const Json& table, std::string_view product,
                                         std::string* chosen) {
  std::vector<const Json*> out;
  for (const Json& row : table["rows"]) {
    const std::string p = text_of(row, "product");
    if (chosen->empty()) *chosen = product.empty() ? p : std::string(product);
    if (p == *chosen) out.push_back(&row);
  }
  return out;
}

// Bars by city (the province last) for one product, coloured by whether
// they reach `goal` (the floor or the target; none: neutral), with the
// reference lines.
Result<std::string> per_city_chart(const Json& r, const char* value_key, std::string_view product,
                                   std::string_view title, const std::string& goal,
                                   std::vector<Reference> refs, std::string_view legend) {
  const Json* table = table_of(r, "by_region");
  if (table == nullptr) return Status(Code::kIoError, "the report has no by_region table");
  std::string chosen;
  std::vector<Bar> bars;
  const double g = value_of(Json(goal));
  for (const Json* row : rows_of_product(*table, product, &chosen)) {
    const double v = value_of((*row)[value_key]);
    if (std::isnan(v)) continue;
    const std::string region = text_of(*row, "region");
    std::string label = text_of(*row, "region_name");
    if (label.empty()) label = region;
    bars.push_back({label, v, (*row)[value_key].get<std::string>(),
                    std::isnan(g) ? kNeutral
                    : v >= g      ? kGood
                                  : kShort,
                    region == kProvince});
  }
  std::string name = chosen;
  if (r.contains("products") && r["products"].contains(chosen))
    name = r["products"][chosen].get<std::string>() + " " + chosen;
  return bar_chart(std::string(title) + " — " + name, scope_text(r), bars, refs, "%", legend);
}

// A product's entry in a per-product object of the report ("floors": {"p": "80%"}):
// the one asked for, else the first.
std::string per_product(const Json& r, const char* key, std::string_view product) {
  std::string out;
  if (!r.contains(key)) return out;
  for (auto& [p, v] : r[key].items()) {
    if (out.empty() || p == product) out = v.get<std::string>();
    if (p == product) break;
  }
  return out;
}

Result<std::string> histogram_chart(const Json& r) {
  const Json* table = table_of(r, "ratio_histogram");
  if (table == nullptr) return Status(Code::kIoError, "the report has no ratio_histogram");
  // The plan's target, else the 2020 plan's 90 % as a reference.
  const bool declared = r["targets"].contains("reimbursement_ratio");
  const std::string target =
      declared ? r["targets"]["reimbursement_ratio"].get<std::string>() : std::string("90%");
  const double t = value_of(Json(target));
  // The province's rows (or the one city asked for), of the first plan.
  const std::string region = r["scope"]["region"].is_string()
                                 ? r["scope"]["region"].get<std::string>()
                                 : std::string(kProvince);
  std::string plan;
  std::vector<Bar> bars;
  int marker = -1;
  for (const Json& row : (*table)["rows"]) {
    if (text_of(row, "region") != region) continue;
    if (plan.empty()) plan = text_of(row, "plan_id");
    if (text_of(row, "plan_id") != plan) continue;
    const std::string bucket = text_of(row, "bucket");
    if (bucket == "no_policy_range") continue;
    // A bucket's lower bound, to colour the ones at or above the target.
    const double low =
        bucket[0] == '<' ? 0 : std::strtod(bucket.c_str() + (bucket[0] == '>' ? 2 : 0), nullptr);
    if (marker < 0 && low >= t) marker = int(bars.size());
    const int64_t n = row["claims"].get<int64_t>();
    bars.push_back({bucket, double(n),
                    std::to_string(n) + (row["share"].is_string()
                                             ? " (" + row["share"].get<std::string>() + ")"
                                             : std::string()),
                    low >= t ? kGood : kNeutral});
  }
  return bar_chart(
      "报销比分布 Reimbursement ratio of policy-range cost",
      scope_text(r) + " · " + plan + " · 人次 claims by (funds + hospital) / inscp_scp_amt", bars,
      {}, "", "绿 at or above the line · 蓝 below it", marker,
      target + (declared ? " 目标 target" : " 参考 reference"));
}

Result<std::string> waterfall_chart(const Json& r) {
  const Json* table = table_of(r, "layers");
  if (table == nullptr || !r.contains("settlement"))
    return Status(Code::kIoError, "not a settlement report");
  const Json& s = r["settlement"];
  const double total = value_of(s["medfee_sumamt"]);
  struct Step {
    std::string label, name, shown, fill;
    double from, to;  // the bar spans from..to; what is left after it is `from`
  };
  std::vector<Step> steps;
  steps.push_back({"总费用", "cost", s["medfee_sumamt"].get<std::string>(), "#555", 0, total});
  double left = total;
  for (const Json& row : (*table)["rows"]) {
    const double v = value_of(row["amount"]);
    if (std::isnan(v) || v == 0) continue;
    const std::string payer = text_of(row, "payer");
    const std::string fill = payer.rfind("insurer", 0) == 0 ? kGood
                             : payer == "hospital"          ? "#8e6bbf"
                                                            : kNeutral;
    steps.push_back({text_of(row, "layer"), text_of(row, "layer_name"),
                     "-" + row["amount"].get<std::string>(), fill, left - v, left});
    left -= v;
  }
  steps.push_back(
      {"个人负担", "the person", s["psn_part_amt"].get<std::string>(), kShort, 0, left});
  const int lft = 80, rgt = 30, top = 70, bottom = 70;
  const int w = std::max(640, lft + rgt + int(steps.size()) * 110), h = 460;
  const double plot_h = h - top - bottom;
  const double max = std::max(1.0, total);
  auto y = [&](double v) { return top + plot_h * (1 - v / (max * 1.08)); };
  std::string o = header(
      w, h, "单笔结算 One settlement, layer by layer — " + s["setl_id"].get<std::string>(),
      s["plan_id"].get<std::string>() + " · " + s["fixmedins_code"].get<std::string>() + " · " +
          s["admission_date"].get<std::string>() + "..." + s["discharge_date"].get<std::string>() +
          " · 政策范围内 " + s["inscp_scp_amt"].get<std::string>() + " 元");
  o += "<line x1=\"" + std::to_string(lft) + "\" x2=\"" + std::to_string(w - rgt) + "\" y1=\"" +
       num(y(0)) + "\" y2=\"" + num(y(0)) + "\" stroke=\"#333\"/>\n";
  const double slot = double(w - lft - rgt) / double(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& st = steps[i];
    const double x = lft + slot * double(i) + slot * 0.15, bw = slot * 0.7;
    o += "<rect x=\"" + num(x) + "\" y=\"" + num(y(st.to)) + "\" width=\"" + num(bw) +
         "\" height=\"" + num(std::max(1.0, y(st.from) - y(st.to))) + "\" fill=\"" + st.fill +
         "\"/>\n";
    o += "<text x=\"" + num(x + bw / 2) + "\" y=\"" + num(y(st.to) - 5) +
         "\" text-anchor=\"middle\" font-size=\"11\">" + esc(st.shown) + "</text>\n";
    o += "<text x=\"" + num(x + bw / 2) + "\" y=\"" + num(y(0) + 18) +
         "\" text-anchor=\"middle\">" + esc(st.label) + "</text>\n";
    o += "<text x=\"" + num(x + bw / 2) + "\" y=\"" + num(y(0) + 33) +
         "\" text-anchor=\"middle\" font-size=\"10\" fill=\"#555\">" + esc(st.name) + "</text>\n";
    if (i + 1 < steps.size()) {
      // The connector to the next step, at what is left.
      const double at = i == 0 ? st.to : st.from;
      o += "<line x1=\"" + num(x + bw) + "\" x2=\"" + num(x + slot) + "\" y1=\"" + num(y(at)) +
           "\" y2=\"" + num(y(at)) + "\" stroke=\"#999\" stroke-dasharray=\"3 3\"/>\n";
    }
  }
  o += "<text x=\"" + std::to_string(lft) + "\" y=\"" + std::to_string(h - 12) +
       "\" fill=\"#555\">元 yuan · 蓝 basic funds · 紫 hospital · 绿 insurer · 橙 the person "
       "pays</text>\n";
  return o + "</svg>\n";
}

}  // namespace

Result<std::string> chart_svg(ChartKind kind, std::string_view report_json,
                              std::string_view product) {
  Json r = Json::parse(report_json, nullptr, false);
  if (r.is_discarded() || !r.is_object() || !r.contains("tables"))
    return Status(Code::kIoError, "not a report");
  switch (kind) {
    case ChartKind::kLossRatio: {
      const std::string floor = per_product(r, "floors", product);
      const std::string ceiling = per_product(r, "ceilings", product);
      std::vector<Reference> refs;
      if (!floor.empty()) refs.push_back({value_of(Json(floor)), floor + " 赔付率下限 floor"});
      if (!ceiling.empty())
        refs.push_back({value_of(Json(ceiling)), ceiling + " 上限 ceiling", "#7f8c8d"});
      return per_city_chart(r, "loss_ratio", product, "赔付率 Loss ratio by city", floor, refs,
                            "绿 at or above the floor · 橙 below it · 框 the province");
    }
    case ChartKind::kEnrolmentRate: {
      // The plan's target (the 2024 notice's 30 %); none, no line.
      const std::string target = r["targets"].contains("enrolment_rate")
                                     ? r["targets"]["enrolment_rate"].get<std::string>()
                                     : std::string();
      std::vector<Reference> refs;
      if (!target.empty()) refs.push_back({value_of(Json(target)), target + " 目标 target"});
      return per_city_chart(r, "rate", product, "投保率 Enrolment rate by city", target, refs,
                            target.empty() ? "投保人数 / 基本医保参保人数"
                                           : "绿 at or above the target · 橙 below it · 框 the "
                                             "province");
    }
    case ChartKind::kReimbursement:
      return histogram_chart(r);
    case ChartKind::kWaterfall:
      return waterfall_chart(r);
  }
  return Status(Code::kIoError, "unknown chart");
}

}  // namespace huibao::books
