// Loads a plan from TOML and validates it completely before anyone settles a
// claim with it. Every message names the file and line of the offending node.
#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <sstream>

#include "core/csv.h"
#include "policy/plan.h"

namespace huibao {

std::string_view claim_field_name(int field) {
  static constexpr std::string_view kNames[] = {
      "medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt"};
  return kNames[field];
}

int Plan::find_layer(std::string_view id) const {
  for (size_t i = 0; i < layers.size(); ++i) {
    if (layers[i].id == id) return int(i);
  }
  return -1;
}

int Plan::find_product(std::string_view id) const {
  for (size_t i = 0; i < products.size(); ++i) {
    if (products[i].id == id) return int(i);
  }
  return -1;
}

bool Plan::in_region(std::string_view admdvs) const {
  if (region_admdvs.empty()) return admdvs.substr(0, 2) == "37";
  for (const std::string& prefix : region_admdvs) {
    if (admdvs.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

int Plan::year() const {
  int y, m, d;
  date_to_ymd(period_begin, &y, &m, &d);
  return y;
}

namespace {
constexpr std::string_view kPayerKindNames[kPayerKindCount] = {
    "cash", "personal_account", "employer", "subsidy", "provincial", "city"};
constexpr std::string_view kKinshipNames[3] = {"spouse", "parent", "child"};
}  // namespace

std::string_view payer_kind_name(PayerKind k) {
  return kPayerKindNames[int(k)];
}

bool payer_kind_from_name(std::string_view name, PayerKind* out) {
  for (int i = 0; i < kPayerKindCount; ++i) {
    if (kPayerKindNames[i] == name) {
      *out = PayerKind(i);
      return true;
    }
  }
  return false;
}

std::string_view kinship_name(Kinship k) {
  return kKinshipNames[int(k)];
}

bool kinship_from_name(std::string_view name, Kinship* out) {
  for (int i = 0; i < 3; ++i) {
    if (kKinshipNames[i] == name) {
      *out = Kinship(i);
      return true;
    }
  }
  return false;
}

Fen Subsidy::of_premium(Fen premium) const {
  const Fen f = by_share ? apply_rate_half_up(premium, share) : amount;
  return std::min(f, premium);
}

bool DrugList::listed_on(std::string_view code, Date d) const {
  auto it = codes.find(code);
  if (it == codes.end()) return false;
  for (const Span& s : it->second) {
    if (d >= s.from && d <= s.to) return true;
  }
  return false;
}

namespace {

// Thrown inside the loader only; load_plan turns it into a Status.
struct PlanError {
  std::string message;
};

class Loader {
 public:
  Loader(std::string source, std::string base_dir, bool read_files)
      : source_(std::move(source)), base_dir_(std::move(base_dir)), read_files_(read_files) {}

  Plan load(const toml::table& root) {
    plan_.source = source_;
    check_keys(root, "the plan file",
               {"plan", "product", "drug_list", "bucket", "deductible", "cap", "layer", "fund",
                "targets"});
    const toml::table& p = require_table(root, "plan", root, "the plan file");
    check_keys(p, "[plan]", {"id", "name", "begin", "end", "med_types", "region_admdvs"});
    plan_.id = require_string(p, "id", "[plan]");
    plan_.name = optional_string(p, "name", plan_.id);
    plan_.period_begin = require_date(p, "begin", "[plan]");
    plan_.period_end = require_date(p, "end", "[plan]");
    if (plan_.period_end < plan_.period_begin) fail(p, "[plan]: 'end' is before 'begin'");
    if (plan_.period_end.days - plan_.period_begin.days > 366)
      fail(p, "[plan]: the period is longer than one benefit year");
    plan_.med_types = require_med_types(p, "med_types", "[plan]");
    if (auto n = p.get("region_admdvs")) load_region(*n);

    for_each_table(root, "product", [&](const toml::table& t) { load_product(t); });
    for_each_table(root, "drug_list", [&](const toml::table& t) { load_drug_list(t); });
    for_each_table(root, "bucket", [&](const toml::table& t) { load_bucket(t); });
    for_each_table(root, "deductible", [&](const toml::table& t) { load_deductible(t); });
    for_each_table(root, "cap", [&](const toml::table& t) { load_cap(t); });
    for_each_table(root, "layer", [&](const toml::table& t) { load_layer(t); });
    if (plan_.layers.empty()) fail(root, "the plan has no [[layer]]");
    if (auto n = root.get("fund")) load_fund(*n);
    if (auto n = root.get("targets")) load_targets(*n);
    return std::move(plan_);
  }

 private:
  [[noreturn]] void fail(const toml::node& n, const std::string& msg) {
    std::ostringstream o;
    o << source_ << ":" << n.source().begin.line << ": " << msg;
    throw PlanError{o.str()};
  }

  void check_keys(const toml::table& t, const std::string& where,
                  std::initializer_list<std::string_view> allowed) {
    for (auto&& [k, v] : t) {
      if (std::find(allowed.begin(), allowed.end(), k.str()) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        fail(v, where + ": unknown key '" + std::string(k.str()) + "' (expected one of: " + list +
                    ")");
      }
    }
  }

  const toml::table& require_table(const toml::table& t, std::string_view key, const toml::node& at,
                                   const std::string& where) {
    const toml::node* n = t.get(key);
    if (n == nullptr) fail(at, where + ": missing [" + std::string(key) + "] table");
    if (!n->is_table()) fail(*n, where + ": '" + std::string(key) + "' must be a table");
    return *n->as_table();
  }

  template <typename F>
  void for_each_table(const toml::table& root, std::string_view key, F f) {
    const toml::node* n = root.get(key);
    if (n == nullptr) return;
    const toml::array* a = n->as_array();
    if (a == nullptr || !a->is_array_of_tables())
      fail(*n, "'" + std::string(key) + "' must be written as [[" + std::string(key) + "]] tables");
    for (const toml::node& e : *a) f(*e.as_table());
  }

  std::string require_string(const toml::table& t, std::string_view key, const std::string& where) {
    const toml::node* n = t.get(key);
    if (n == nullptr) fail(t, where + ": missing '" + std::string(key) + "'");
    if (!n->is_string()) fail(*n, where + ": '" + std::string(key) + "' must be a string");
    std::string s = **n->as_string();
    if (s.empty()) fail(*n, where + ": '" + std::string(key) + "' must not be empty");
    return s;
  }

  std::string optional_string(const toml::table& t, std::string_view key, std::string def) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return def;
    if (!n->is_string()) fail(*n, "'" + std::string(key) + "' must be a string");
    return **n->as_string();
  }

  // Ids are unique within a kind; layers and buckets share one kind because
  // base expressions name both, and neither may shadow a claim amount.
  std::string require_id(const toml::table& t, const std::string& where, std::string_view kind) {
    std::string id = require_string(t, "id", where);
    for (char c : id) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
        fail(*t.get("id"), where + ": id '" + id + "' may use only a-z, 0-9 and _");
    }
    if (kind == "source") {
      for (int f = 0; f < kClaimFieldCount; ++f) {
        if (claim_field_name(f) == id)
          fail(*t.get("id"), where + ": id '" + id + "' is a claim amount");
      }
    }
    if (!names_.insert(std::string(kind) + ":" + id).second)
      fail(*t.get("id"), where + ": id '" + id + "' is used twice");
    return id;
  }

  Date date_of(const toml::node& n, const std::string& what) {
    if (auto d = n.as_date()) {
      const toml::date& v = **d;
      if (!is_real_date(v.year, v.month, v.day)) fail(n, what + " is not a real date");
      return date_from_ymd(v.year, v.month, v.day);
    }
    if (auto s = n.as_string()) {
      Date out;
      if (parse_date(**s, &out)) return out;
    }
    fail(n, what + " must be a date YYYY-MM-DD");
  }

  Date require_date(const toml::table& t, std::string_view key, const std::string& where) {
    const toml::node* n = t.get(key);
    if (n == nullptr) fail(t, where + ": missing '" + std::string(key) + "'");
    return date_of(*n, where + ": '" + std::string(key) + "'");
  }

  Fen amount_of(const toml::node& n, const std::string& what) {
    if (auto i = n.as_integer()) {
      int64_t v = **i;
      if (v < 0 || v > limits::kAmountFenMax / 100) fail(n, what + " is out of range");
      return v * 100;
    }
    if (auto s = n.as_string()) {
      Fen f;
      if (parse_decimal_string_fen(**s, &f) == AmountSyntax::kOk && f >= 0) return f;
    }
    if (n.is_floating_point())
      fail(n, what +
                  " must be an integer number of yuan or a string such as \"1234.50\" "
                  "(floating point is not exact)");
    fail(n, what +
                " must be a non-negative amount: an integer number of yuan or a string such "
                "as \"1234.50\"");
  }

  Rate rate_of(const toml::node& n, const std::string& what) {
    Rate r;
    if (auto s = n.as_string()) {
      if (parse_percent(**s, &r)) return r;
    }
    fail(n, what + " must be a percentage string between \"0%\" and \"100%\", such as \"62.5%\"");
  }

  template <typename T, typename Conv>
  std::array<T, 4> by_level(const toml::node& n, const std::string& what, Conv conv) {
    std::array<T, 4> out{};
    if (auto t = n.as_table()) {
      for (int lv = 1; lv <= 3; ++lv) {
        const toml::node* v = t->get(std::to_string(lv));
        if (v == nullptr)
          fail(n, what + " by hospital level must give levels 1, 2 and 3 (missing " +
                      std::to_string(lv) + ")");
        out[size_t(lv)] = conv(*v, what + " for level " + std::to_string(lv));
      }
      for (auto&& [k, v] : *t) {
        if (k.str() != "1" && k.str() != "2" && k.str() != "3")
          fail(v, what + ": unknown hospital level '" + std::string(k.str()) + "'");
      }
      return out;
    }
    T v = conv(n, what);
    out[1] = out[2] = out[3] = v;
    return out;
  }

  std::vector<int64_t> int_list(const toml::node& n, const std::string& what) {
    const toml::array* a = n.as_array();
    if (a == nullptr) fail(n, what + " must be a list of integers");
    std::vector<int64_t> out;
    for (const toml::node& e : *a) {
      auto i = e.as_integer();
      if (!i) fail(e, what + " must be a list of integers");
      out.push_back(**i);
    }
    if (out.empty()) fail(n, what + " must not be empty");
    return out;
  }

  std::array<uint64_t, 2> med_types_of(const toml::node& n, const std::string& what) {
    std::array<uint64_t, 2> m{};
    for (int64_t t : int_list(n, what)) {
      if (t < 0 || t > 127) fail(n, what + ": med_type " + std::to_string(t) + " is out of range");
      m[size_t(t >> 6)] |= uint64_t(1) << (t & 63);
    }
    return m;
  }

  std::array<uint64_t, 2> require_med_types(const toml::table& t, std::string_view key,
                                            const std::string& where) {
    const toml::node* n = t.get(key);
    if (n == nullptr) fail(t, where + ": missing '" + std::string(key) + "'");
    return med_types_of(*n, where + ": '" + std::string(key) + "'");
  }

  CategoryMask categories_of(const toml::node& n, const std::string& what) {
    const toml::array* a = n.as_array();
    if (a == nullptr || a->empty()) fail(n, what + " must be a non-empty list of category names");
    CategoryMask m = 0;
    for (const toml::node& e : *a) {
      auto s = e.as_string();
      int idx = s ? category_index(**s) : -1;
      if (idx < 0)
        fail(e, what + ": unknown category (expected one of: " +
                    std::string(category_vocabulary()) + ")");
      m |= CategoryMask(1) << idx;
    }
    return m;
  }

  // Parses the conditions present in t. Keys not present stay "any".
  void conditions_of(const toml::table& t, const std::string& where, Conditions* c,
                     bool allow_product) {
    if (auto n = t.get("med_types")) c->med_types = med_types_of(*n, where + ": 'med_types'");
    if (auto n = t.get("insutypes")) {
      c->insutypes.clear();
      for (int64_t v : int_list(*n, where + ": 'insutypes'")) c->insutypes.push_back(int(v));
    }
    if (auto n = t.get("hosp_lvs")) {
      c->hosp_lv_mask = 0;
      for (int64_t v : int_list(*n, where + ": 'hosp_lvs'")) {
        if (v < 1 || v > 3) fail(*n, where + ": hospital levels are 1, 2 or 3");
        c->hosp_lv_mask |= uint8_t(1u << v);
      }
    }
    if (auto n = t.get("categories"))
      c->categories_any = categories_of(*n, where + ": 'categories'");
    if (auto n = t.get("preexisting")) {
      auto b = n->as_boolean();
      if (!b) fail(*n, where + ": 'preexisting' must be true or false");
      c->preexisting = **b ? 1 : 0;
    }
    if (auto n = t.get("product")) {
      if (!allow_product) fail(*n, where + ": 'product' belongs on the layer, not on a rule");
      auto s = n->as_string();
      int p = s ? plan_.find_product(**s) : -1;
      if (p < 0) fail(*n, where + ": 'product' must name a [[product]] declared above");
      if (plan_.products[size_t(p)].accident)
        fail(*n, where + ": product '" + plan_.products[size_t(p)].id +
                     "' is an accident product and cannot gate a medical layer");
      c->product = int8_t(p);
    }
  }

  void load_product(const toml::table& t) {
    std::string where = "[[product]]";
    check_keys(
        t, where,
        {"id", "name", "kind", "premium", "auto_enroll_categories", "accident", "enrollment"});
    Product p;
    p.id = require_id(t, where, "product");
    where = "product '" + p.id + "'";
    p.name = optional_string(t, "name", p.id);
    std::string kind = optional_string(t, "kind", "medical");
    if (kind != "medical" && kind != "accident") {
      fail(*t.get("kind"), where + ": 'kind' must be \"medical\" or \"accident\"");
    }
    p.accident = kind == "accident";
    if (auto n = t.get("premium")) p.premium = amount_of(*n, where + ": 'premium'");
    if (auto n = t.get("auto_enroll_categories"))
      p.auto_enroll = categories_of(*n, where + ": 'auto_enroll_categories'");
    const toml::node* acc = t.get("accident");
    if (p.accident) {
      if (acc == nullptr || !acc->is_table())
        fail(t, where + ": an accident product needs an [product.accident] table");
      load_accident_terms(*acc->as_table(), where, &p.terms);
      if (plan_.accident_product >= 0)
        fail(t, where + ": a plan may declare only one accident product");
      plan_.accident_product = int(plan_.products.size());
    } else if (acc != nullptr) {
      fail(*acc, where + ": [product.accident] needs kind = \"accident\"");
    }
    if (auto n = t.get("enrollment")) {
      if (!n->is_table()) fail(*n, where + ": 'enrollment' must be a [product.enrollment] table");
      load_enrollment_terms(*n->as_table(), where, &p);
    }
    if (plan_.products.size() == limits::kProductsMax) fail(t, "too many products");
    plan_.products.push_back(std::move(p));
  }

  // [plan] region_admdvs: the division-code prefixes of who may enrol.
  void load_region(const toml::node& n) {
    const std::string what = "[plan]: 'region_admdvs'";
    const toml::array* a = n.as_array();
    if (a == nullptr || a->empty())
      fail(n, what + " must be a non-empty list of admdvs prefixes such as \"3702\"");
    for (const toml::node& e : *a) {
      auto s = e.as_string();
      bool ok = s && !(*s)->empty() && (*s)->size() <= 6;
      for (size_t i = 0; ok && i < (*s)->size(); ++i) ok = (**s)[i] >= '0' && (**s)[i] <= '9';
      if (!ok) fail(e, what + ": each prefix is a string of 1 to 6 digits, such as \"3702\"");
      plan_.region_admdvs.push_back(**s);
    }
  }

  // One of a fixed set of words; returns its index.
  size_t choice_of(const toml::node& n, const std::string& what,
                   std::initializer_list<std::string_view> words) {
    auto s = n.as_string();
    size_t i = 0;
    for (std::string_view w : words) {
      if (s && **s == w) return i;
      ++i;
    }
    std::string list;
    for (std::string_view w : words) list += (list.empty() ? "\"" : ", \"") + std::string(w) + "\"";
    fail(n, what + " must be one of " + list);
  }

  // [product.enrollment]: voluntary terms, or automatic ones for a product
  // with auto_enroll_categories.
  void load_enrollment_terms(const toml::table& t, const std::string& product_where, Product* p) {
    const std::string where = product_where + " enrollment";
    static constexpr std::string_view kVoluntary[] = {
        "window_begin", "window_end", "insutypes", "payers", "personal_account_for",
        "cover_begins", "refund",     "renewal",   "subsidy"};
    static constexpr std::string_view kAutomatic[] = {"cover_ends", "funding"};
    const bool automatic = p->auto_enroll != 0;
    if (p->accident && !automatic)
      fail(t, where + ": an accident product enrols only automatically (auto_enroll_categories)");
    for (auto&& [k, v] : t) {
      const bool vol =
          std::find(std::begin(kVoluntary), std::end(kVoluntary), k.str()) != std::end(kVoluntary);
      const bool aut =
          std::find(std::begin(kAutomatic), std::end(kAutomatic), k.str()) != std::end(kAutomatic);
      if (!vol && !aut) {
        std::string list;
        for (auto a : automatic ? std::span<const std::string_view>(kAutomatic)
                                : std::span<const std::string_view>(kVoluntary))
          list += (list.empty() ? "" : ", ") + std::string(a);
        fail(v, where + ": unknown key '" + std::string(k.str()) + "' (expected one of: " + list +
                    ")");
      }
      if (automatic && vol)
        fail(v, where + ": '" + std::string(k.str()) +
                    "' is a term of voluntary products; this one enrols automatically "
                    "(auto_enroll_categories)");
      if (!automatic && aut)
        fail(v, where + ": '" + std::string(k.str()) +
                    "' is a term of automatic products (those with auto_enroll_categories)");
    }
    EnrollmentTerms& e = p->enrollment;
    e.declared = true;
    if (automatic) {
      load_funding(t, where, p);
      return;
    }
    e.window_begin = plan_.period_begin;
    e.window_end = plan_.period_end;
    if (auto n = t.get("window_begin")) e.window_begin = date_of(*n, where + ": 'window_begin'");
    if (auto n = t.get("window_end")) e.window_end = date_of(*n, where + ": 'window_end'");
    const toml::node& window_at = t.get("window_end")     ? *t.get("window_end")
                                  : t.get("window_begin") ? *t.get("window_begin")
                                                          : static_cast<const toml::node&>(t);
    if (e.window_end < e.window_begin)
      fail(window_at, where + ": 'window_end' is before 'window_begin'");
    if (e.window_end > plan_.period_end)
      fail(window_at,
           where + ": 'window_end' is after the plan's end (a payment then buys no cover)");
    if (auto n = t.get("insutypes")) {
      e.insutypes.clear();
      for (int64_t v : int_list(*n, where + ": 'insutypes'")) {
        if (v != 310 && v != 390)
          fail(*n, where +
                       ": 'insutypes' are basic-insurance types: 310 (employee) or 390 "
                       "(resident)");
        e.insutypes.push_back(int(v));
      }
    }
    e.payer_kinds = (1u << int(PayerKind::kCash)) | (1u << int(PayerKind::kPersonalAccount)) |
                    (1u << int(PayerKind::kEmployer));
    if (auto n = t.get("payers")) {
      const toml::array* a = n->as_array();
      if (a == nullptr || a->empty())
        fail(*n, where + ": 'payers' must be a non-empty list of payer kinds");
      e.payer_kinds = 0;
      for (const toml::node& k : *a) {
        const size_t i = choice_of(k, where + ": each of 'payers'",
                                   {"cash", "personal_account", "employer", "subsidy"});
        if (i == 3)
          fail(k, where +
                      ": a subsidy is computed from [[product.enrollment.subsidy]], not "
                      "named by the enrollee; leave it out of 'payers'");
        static constexpr PayerKind kKinds[] = {PayerKind::kCash, PayerKind::kPersonalAccount,
                                               PayerKind::kEmployer};
        e.payer_kinds |= uint8_t(1u << int(kKinds[i]));
      }
    }
    e.account_relations = 0b111;
    if (auto n = t.get("personal_account_for")) {
      if (!e.accepts(PayerKind::kPersonalAccount))
        fail(*n, where + ": 'personal_account_for' needs \"personal_account\" in 'payers'");
      const toml::array* a = n->as_array();
      if (a == nullptr)
        fail(*n, where +
                     ": 'personal_account_for' must be a list of \"spouse\", \"parent\", "
                     "\"child\" (the holder always may pay for themself)");
      e.account_relations = 0;
      for (const toml::node& k : *a) {
        const size_t i =
            choice_of(k, where + ": each of 'personal_account_for'", {"spouse", "parent", "child"});
        e.account_relations |= uint8_t(1u << i);
      }
    }
    if (auto n = t.get("cover_begins"))
      e.cover_begins = CoverBegins(choice_of(*n, where + ": 'cover_begins'",
                                             {"day_after_payment", "payment_day", "period_begin"}));
    if (auto n = t.get("refund"))
      e.refund =
          RefundRule(choice_of(*n, where + ": 'refund'", {"pro_rata", "before_cover", "none"}));
    if (auto n = t.get("renewal")) {
      auto b = n->as_boolean();
      if (!b) fail(*n, where + ": 'renewal' must be true or false");
      e.renewal = **b;
    }
    if (auto n = t.get("subsidy")) {
      const toml::array* arr = n->as_array();
      if (arr == nullptr || !arr->is_array_of_tables())
        fail(*n, where + ": write subsidies as [[product.enrollment.subsidy]] tables");
      for (const toml::node& x : *arr) {
        const toml::table& st = *x.as_table();
        const std::string sw = where + " subsidy";
        check_keys(st, sw, {"categories", "share", "amount", "ref"});
        Subsidy sub;
        const toml::node* c = st.get("categories");
        if (c == nullptr) fail(st, sw + ": missing 'categories'");
        sub.categories = categories_of(*c, sw + ": 'categories'");
        const toml::node* sh = st.get("share");
        const toml::node* am = st.get("amount");
        if ((sh == nullptr) == (am == nullptr))
          fail(st, sw + ": give exactly one of 'share' (a percentage of the premium) or 'amount'");
        if (sh != nullptr) {
          sub.share = rate_of(*sh, sw + ": 'share'");
        } else {
          sub.by_share = false;
          sub.amount = amount_of(*am, sw + ": 'amount'");
          if (sub.amount > p->premium)
            fail(*am,
                 sw + ": 'amount' is more than the premium (" + fen_to_string(p->premium) + ")");
        }
        sub.ref = optional_string(st, "ref", "");
        e.subsidies.push_back(std::move(sub));
      }
    }
  }

  // [[product.enrollment.funding]]: who pays an automatic product's premium.
  void load_funding(const toml::table& t, const std::string& where, Product* p) {
    EnrollmentTerms& e = p->enrollment;
    if (auto n = t.get("cover_ends"))
      e.cover_ends =
          CoverEnds(choice_of(*n, where + ": 'cover_ends'", {"period_end", "category_end"}));
    const toml::node* n = t.get("funding");
    if (n == nullptr) {
      if (p->premium != 0)
        fail(t, where + ": missing [[product.enrollment.funding]]: the funds that pay the premium");
      return;
    }
    const toml::array* arr = n->as_array();
    if (arr == nullptr || !arr->is_array_of_tables())
      fail(*n, where + ": write funding as [[product.enrollment.funding]] tables");
    Fen sum = 0;
    for (const toml::node& x : *arr) {
      const toml::table& ft = *x.as_table();
      const std::string fw = where + " funding";
      check_keys(ft, fw, {"payer", "ref", "amount"});
      Funding f;
      const toml::node* py = ft.get("payer");
      const toml::node* am = ft.get("amount");
      if (py == nullptr || am == nullptr) fail(ft, fw + ": needs 'payer' and 'amount'");
      const size_t k = choice_of(*py, fw + ": 'payer'", {"provincial", "city", "subsidy"});
      f.payer = k == 0 ? PayerKind::kProvincial : k == 1 ? PayerKind::kCity : PayerKind::kSubsidy;
      f.ref = optional_string(ft, "ref", "");
      f.amount = amount_of(*am, fw + ": 'amount'");
      for (const Funding& g : e.funding) {
        if (g.payer == f.payer && g.ref == f.ref)
          fail(ft, fw + ": payer '" + std::string(payer_kind_name(f.payer)) + "' with ref '" +
                       f.ref + "' is listed twice");
      }
      sum += f.amount;
      e.funding.push_back(std::move(f));
    }
    if (sum != p->premium)
      fail(*n, where + ": the funding amounts sum to " + fen_to_string(sum) +
                   " but the premium is " + fen_to_string(p->premium));
  }

  void load_accident_terms(const toml::table& t, const std::string& where, AccidentTerms* a) {
    std::string w = where + " accident";
    check_keys(t, w,
               {"death", "disability", "disability_grade_rates", "death_disability_limit",
                "medical_limit", "disaster_first_causes"});
    auto need = [&](std::string_view k) -> const toml::node& {
      const toml::node* n = t.get(k);
      if (n == nullptr) fail(t, w + ": missing '" + std::string(k) + "'");
      return *n;
    };
    a->death = amount_of(need("death"), w + ": 'death'");
    Fen disability = amount_of(need("disability"), w + ": 'disability'");
    const toml::node& g = need("disability_grade_rates");
    const toml::array* ga = g.as_array();
    if (ga == nullptr || ga->size() != 10)
      fail(g, w + ": 'disability_grade_rates' must list 10 percentages, grade 1 first");
    for (size_t i = 0; i < 10; ++i) {
      Rate r = rate_of(*ga->get(i), w + ": disability grade " + std::to_string(i + 1));
      a->disability[i + 1] = apply_rate_half_up(disability, r);
    }
    a->death_disability_limit =
        amount_of(need("death_disability_limit"), w + ": 'death_disability_limit'");
    a->medical_limit = amount_of(need("medical_limit"), w + ": 'medical_limit'");
    if (auto n = t.get("disaster_first_causes")) {
      const toml::array* ca = n->as_array();
      if (ca == nullptr) fail(*n, w + ": 'disaster_first_causes' must be a list of strings");
      for (const toml::node& e : *ca) {
        auto s = e.as_string();
        if (!s || (*s)->empty()) fail(e, w + ": 'disaster_first_causes' must be a list of strings");
        a->disaster_first_causes.push_back(**s);
      }
    }
  }

  void load_drug_list(const toml::table& t) {
    std::string where = "[[drug_list]]";
    check_keys(t, where, {"id", "name", "file"});
    DrugList d;
    d.id = require_id(t, where, "drug_list");
    where = "drug_list '" + d.id + "'";
    std::string file = require_string(t, "file", where);
    if (!read_files_) {
      plan_.drug_lists.push_back(std::move(d));
      return;
    }
    std::string path = file.front() == '/' ? file : base_dir_ + "/" + file;
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(*t.get("file"), where + ": cannot read '" + path + "'");
    std::stringstream buf;
    buf << in.rdbuf();
    std::string text = buf.str();
    CsvReader csv(text);
    std::vector<std::string_view> f;
    std::string err;
    bool header = true;
    while (csv.next(&f, &err)) {
      auto bad = [&](const std::string& m) {
        throw PlanError{path + ":" + std::to_string(csv.line()) + ": " + m};
      };
      if (!err.empty()) bad(err);
      if (header) {
        if (f.size() != 3 || f[0] != "code" || f[1] != "effective_from" || f[2] != "effective_to")
          bad("header must be code,effective_from,effective_to");
        header = false;
        continue;
      }
      if (f.size() != 3) bad("expected 3 fields, found " + std::to_string(f.size()));
      if (f[0].size() != 20 && f[0].size() != 23)
        bad("drug code '" + std::string(f[0]) + "' must have 20 or 23 characters");
      DrugList::Span s;
      if (!parse_date(f[1], &s.from)) bad("effective_from must be a date YYYY-MM-DD");
      s.to = kOpenEnd;
      if (!f[2].empty() && !parse_date(f[2], &s.to))
        bad("effective_to must be a date YYYY-MM-DD or empty (open-ended)");
      if (s.to < s.from) bad("effective_to is before effective_from");
      auto& spans = d.codes[std::string(f[0])];
      for (const auto& o : spans) {
        if (s.from <= o.to && o.from <= s.to)
          bad("code '" + std::string(f[0]) + "' has overlapping date ranges");
      }
      spans.push_back(s);
    }
    if (header) fail(t, where + ": '" + path + "' is empty");
    plan_.drug_lists.push_back(std::move(d));
    plan_.files.push_back({file, std::move(text)});
  }

  void load_bucket(const toml::table& t) {
    std::string where = "[[bucket]]";
    check_keys(t, where, {"id", "name", "drug_list", "chrgitm_lv", "on"});
    ItemBucket b;
    b.id = require_id(t, where, "source");
    where = "bucket '" + b.id + "'";
    std::string list = require_string(t, "drug_list", where);
    for (size_t i = 0; i < plan_.drug_lists.size(); ++i) {
      if (plan_.drug_lists[i].id == list) b.drug_list = int(i);
    }
    if (b.drug_list < 0) fail(*t.get("drug_list"), where + ": unknown drug_list '" + list + "'");
    if (auto n = t.get("chrgitm_lv")) {
      const toml::array* a = n->as_array();
      if (a == nullptr || a->empty()) fail(*n, where + ": 'chrgitm_lv' must be a list of strings");
      for (const toml::node& e : *a) {
        auto s = e.as_string();
        if (!s) fail(e, where + ": 'chrgitm_lv' must be a list of strings such as \"03\"");
        b.chrgitm_lv.push_back(**s);
      }
    }
    std::string on = optional_string(t, "on", "enddate");
    if (on != "enddate" && on != "begndate")
      fail(*t.get("on"), where + ": 'on' must be \"enddate\" or \"begndate\"");
    b.on_enddate = on == "enddate";
    if (plan_.buckets.size() == limits::kBucketsMax) fail(t, "too many buckets");
    plan_.buckets.push_back(std::move(b));
  }

  void load_deductible(const toml::table& t) {
    std::string where = "[[deductible]]";
    check_keys(t, where,
               {"id", "name", "amount", "by_category", "less_per_prior_year", "prior_years_max",
                "prior_years_product", "floor"});
    DeductibleGroup g;
    g.id = require_id(t, where, "deductible");
    where = "deductible '" + g.id + "'";
    g.declared = true;
    const toml::node* a = t.get("amount");
    if (a == nullptr) fail(t, where + ": missing 'amount'");
    g.amount = amount_of(*a, where + ": 'amount'");
    if (auto n = t.get("by_category")) {
      const toml::array* arr = n->as_array();
      if (arr == nullptr || !arr->is_array_of_tables())
        fail(*n, where + ": write category amounts as [[deductible.by_category]] tables");
      for (const toml::node& e : *arr) {
        const toml::table& bt = *e.as_table();
        check_keys(bt, where + " by_category", {"categories", "amount"});
        const toml::node* c = bt.get("categories");
        const toml::node* am = bt.get("amount");
        if (c == nullptr || am == nullptr)
          fail(bt, where + ": by_category needs 'categories' and 'amount'");
        g.by_category.push_back({categories_of(*c, where + ": 'categories'"),
                                 amount_of(*am, where + ": by_category 'amount'")});
      }
    }
    if (auto n = t.get("less_per_prior_year")) {
      g.less_per_prior_year = amount_of(*n, where + ": 'less_per_prior_year'");
      const toml::node* m = t.get("prior_years_max");
      const toml::node* p = t.get("prior_years_product");
      if (m == nullptr || p == nullptr)
        fail(*n,
             where + ": 'less_per_prior_year' needs 'prior_years_max' and 'prior_years_product'");
      auto mi = m->as_integer();
      if (!mi || **mi < 0 || **mi > 100) fail(*m, where + ": 'prior_years_max' must be 0..100");
      g.prior_years_max = int(**mi);
      auto ps = p->as_string();
      g.prior_years_product = ps ? plan_.find_product(**ps) : -1;
      if (g.prior_years_product < 0)
        fail(*p, where + ": 'prior_years_product' must name a declared product");
    }
    if (auto n = t.get("floor")) g.floor = amount_of(*n, where + ": 'floor'");
    if (plan_.deductible_groups.size() == limits::kDeductibleGroupsMax)
      fail(t, "too many deductibles");
    plan_.deductible_groups.push_back(std::move(g));
  }

  void load_cap(const toml::table& t) {
    std::string where = "[[cap]]";
    check_keys(t, where, {"id", "name", "amount"});
    CapGroup c;
    c.id = require_id(t, where, "cap");
    const toml::node* a = t.get("amount");
    if (a == nullptr) fail(t, "cap '" + c.id + "': missing 'amount'");
    c.amount = amount_of(*a, "cap '" + c.id + "': 'amount'");
    if (plan_.cap_groups.size() == limits::kCapGroupsMax) fail(t, "too many caps");
    plan_.cap_groups.push_back(std::move(c));
  }

  // ---- expressions ----
  Expr expr_of(const toml::node& n, const std::string& what, size_t layer_index) {
    auto s = n.as_string();
    if (!s) fail(n, what + " must be a string expression such as \"inscp_scp_amt - hifp\"");
    std::string_view text = **s;
    std::map<int, int> coeff;
    size_t pos = 0;
    auto skip = [&] {
      while (pos < text.size() && text[pos] == ' ') ++pos;
    };
    std::function<void(int)> parse_sum;
    auto parse_term = [&](int sign) {
      skip();
      if (pos < text.size() && text[pos] == '(') {
        ++pos;
        parse_sum(sign);
        skip();
        if (pos >= text.size() || text[pos] != ')')
          fail(n, what + ": missing ')' in \"" + std::string(text) + "\"");
        ++pos;
        return;
      }
      size_t start = pos;
      while (pos < text.size() && ((text[pos] >= 'a' && text[pos] <= 'z') ||
                                   (text[pos] >= '0' && text[pos] <= '9') || text[pos] == '_'))
        ++pos;
      std::string name(text.substr(start, pos - start));
      if (name.empty())
        fail(n, what + ": expected a name at position " + std::to_string(start + 1) + " of \"" +
                    std::string(text) + "\" (use ASCII + and -)");
      coeff[source_of(n, name, what, layer_index)] += sign;
    };
    parse_sum = [&](int sign) {
      parse_term(sign);
      for (;;) {
        skip();
        if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
          int s2 = text[pos] == '+' ? sign : -sign;
          ++pos;
          parse_term(s2);
        } else {
          return;
        }
      }
    };
    parse_sum(1);
    skip();
    if (pos != text.size())
      fail(n, what + ": unexpected '" + std::string(1, text[pos]) + "' in \"" + std::string(text) +
                  "\"");
    Expr e;
    e.text = std::string(text);
    for (auto [src, c] : coeff) {
      if (c != 0) e.terms.push_back({uint8_t(src), int8_t(c)});
    }
    return e;
  }

  int source_of(const toml::node& n, const std::string& name, const std::string& what,
                size_t layer_index) {
    for (int f = 0; f < kClaimFieldCount; ++f) {
      if (claim_field_name(f) == name) return f;
    }
    for (size_t b = 0; b < plan_.buckets.size(); ++b) {
      if (plan_.buckets[b].id == name) return kSourceBucket0 + int(b);
    }
    for (size_t l = 0; l < plan_.layers.size() && l < layer_index; ++l) {
      if (plan_.layers[l].id == name) return kSourceLayer0 + int(l);
    }
    fail(n, what + ": '" + name +
                "' is not a claim amount, a bucket or an earlier layer (a layer sees only the "
                "layers before it)");
  }

  // ---- layers ----
  void rule_params(const toml::table& t, const std::string& where, Rule* r, size_t layer_index) {
    if (auto n = t.get("rate"))
      r->rate =
          by_level<Rate>(*n, where + ": 'rate'", [&](auto& v, auto w) { return rate_of(v, w); });
    if (auto n = t.get("deductible_per_claim"))
      r->deductible_per_claim = by_level<Fen>(*n, where + ": 'deductible_per_claim'",
                                              [&](auto& v, auto w) { return amount_of(v, w); });
    if (auto n = t.get("annual_deductible")) {
      r->has_annual_deductible = true;
      r->annual_deductible = amount_of(*n, where + ": 'annual_deductible'");
    }
    if (auto n = t.get("cap")) {
      auto s = n->as_string();
      if (s && **s == "none") {
        r->has_cap = false;
      } else {
        r->has_cap = true;
        r->cap = amount_of(*n, where + ": 'cap' (or \"none\")");
      }
    }
    if (auto n = t.get("segments")) {
      const toml::array* a = n->as_array();
      if (a == nullptr || a->empty())
        fail(*n, where + ": 'segments' must be a list of { from = amount, rate = \"%\" }");
      r->segments.clear();
      for (const toml::node& e : *a) {
        const toml::table* st = e.as_table();
        if (st == nullptr || st->get("from") == nullptr || st->get("rate") == nullptr)
          fail(e, where + ": each segment is { from = amount, rate = \"%\" }");
        check_keys(*st, where + " segment", {"from", "rate"});
        Segment s{amount_of(*st->get("from"), where + ": segment 'from'"),
                  rate_of(*st->get("rate"), where + ": segment 'rate'")};
        if (!r->segments.empty() && s.from <= r->segments.back().from)
          fail(e, where + ": segments must start at increasing amounts");
        r->segments.push_back(s);
      }
      if (r->segments.size() > limits::kSegmentsMax) fail(*n, where + ": too many segments");
    }
    if (auto n = t.get("topup")) {
      const toml::table* tt = n->as_table();
      if (tt == nullptr)
        fail(*n, where + ": 'topup' must be { of = expr, rate = \"%\", less = expr }");
      check_keys(*tt, where + " topup", {"of", "rate", "less"});
      if (!tt->get("of") || !tt->get("rate") || !tt->get("less"))
        fail(*n, where + ": 'topup' needs 'of', 'rate' and 'less'");
      r->topup = true;
      r->topup_of = expr_of(*tt->get("of"), where + ": topup 'of'", layer_index);
      r->topup_rate = rate_of(*tt->get("rate"), where + ": topup 'rate'");
      r->topup_less = expr_of(*tt->get("less"), where + ": topup 'less'", layer_index);
    }
  }

  void validate_rule(const toml::node& at, const std::string& where, const Rule& r, bool has_rate,
                     bool shared_deductible) {
    int modes = (has_rate ? 1 : 0) + (!r.segments.empty() ? 1 : 0) + (r.topup ? 1 : 0);
    if (modes != 1) fail(at, where + ": give exactly one of 'rate', 'segments' or 'topup'");
    bool has_deductible = r.has_annual_deductible || shared_deductible ||
                          std::any_of(r.deductible_per_claim.begin(), r.deductible_per_claim.end(),
                                      [](Fen f) { return f != 0; });
    if (!r.segments.empty() && has_deductible)
      fail(at, where + ": segments carry their own threshold; remove the deductible");
    if (r.topup && has_deductible) fail(at, where + ": a topup takes no deductible");
    if (r.has_annual_deductible && shared_deductible)
      fail(at, where + ": 'annual_deductible' conflicts with the layer's shared 'deductible'");
  }

  void load_layer(const toml::table& t) {
    static const std::vector<std::string_view> kParamKeys = {
        "rate", "deductible_per_claim", "annual_deductible", "cap", "segments", "topup"};
    static const std::vector<std::string_view> kCondKeys = {"med_types", "insutypes", "hosp_lvs",
                                                            "categories", "preexisting"};
    std::vector<std::string_view> layer_keys = {"id",         "name",      "payer",   "base",
                                                "deductible", "cap_group", "product", "rule"};
    layer_keys.insert(layer_keys.end(), kParamKeys.begin(), kParamKeys.end());
    layer_keys.insert(layer_keys.end(), kCondKeys.begin(), kCondKeys.end());
    std::string where = "[[layer]]";
    for (auto&& [k, v] : t) {
      if (std::find(layer_keys.begin(), layer_keys.end(), k.str()) == layer_keys.end())
        fail(v, where + ": unknown key '" + std::string(k.str()) + "'");
    }
    if (plan_.layers.size() == limits::kLayersMax) fail(t, "too many layers");
    Layer L;
    L.id = require_id(t, where, "source");
    where = "layer '" + L.id + "'";
    if (L.id == "accident")
      fail(*t.get("id"), where + ": 'accident' is reserved for accident cases");
    L.name = optional_string(t, "name", L.id);
    std::string payer = optional_string(t, "payer", "fund");
    if (payer != "fund" && payer != "hospital")
      fail(*t.get("payer"), where + ": 'payer' must be \"fund\" or \"hospital\"");
    L.payer = payer == "fund" ? Payer::kFund : Payer::kHospital;
    const size_t index = plan_.layers.size();
    const toml::node* b = t.get("base");
    if (b == nullptr) fail(t, where + ": missing 'base'");
    L.base = expr_of(*b, where + ": 'base'", index);
    L.applies.med_types = plan_.med_types;
    conditions_of(t, where, &L.applies, true);
    if (auto n = t.get("deductible")) {
      auto s = n->as_string();
      for (size_t i = 0; s && i < plan_.deductible_groups.size(); ++i) {
        if (plan_.deductible_groups[i].declared && plan_.deductible_groups[i].id == **s)
          L.deductible_group = int(i);
      }
      if (L.deductible_group < 0) fail(*n, where + ": 'deductible' must name a [[deductible]]");
    }
    if (auto n = t.get("cap_group")) {
      auto s = n->as_string();
      for (size_t i = 0; s && i < plan_.cap_groups.size(); ++i) {
        if (plan_.cap_groups[i].id == **s) L.cap_group = int(i);
      }
      if (L.cap_group < 0) fail(*n, where + ": 'cap_group' must name a [[cap]]");
    }
    Rule base_rule;
    base_rule.name = L.id;
    rule_params(t, where, &base_rule, index);
    const bool base_has_rate = t.get("rate") != nullptr;
    const bool shared = L.deductible_group >= 0;
    if (const toml::node* rn = t.get("rule")) {
      const toml::array* ra = rn->as_array();
      if (ra == nullptr || !ra->is_array_of_tables() || ra->empty())
        fail(*rn, where + ": rules are written as [[layer.rule]] tables");
      size_t k = 0;
      for (const toml::node& e : *ra) {
        const toml::table& rt = *e.as_table();
        ++k;
        std::vector<std::string_view> allowed = {"name"};
        allowed.insert(allowed.end(), kParamKeys.begin(), kParamKeys.end());
        allowed.insert(allowed.end(), kCondKeys.begin(), kCondKeys.end());
        for (auto&& [key, v] : rt) {
          if (std::find(allowed.begin(), allowed.end(), key.str()) == allowed.end())
            fail(v, where + " rule " + std::to_string(k) + ": unknown key '" +
                        std::string(key.str()) + "'");
        }
        Rule r = base_rule;
        r.name = optional_string(rt, "name", "rule " + std::to_string(k));
        std::string rw = where + " rule '" + r.name + "'";
        conditions_of(rt, rw, &r.when, false);
        // A rule that switches mode drops the inherited parameters of the other modes.
        if (rt.get("segments") || rt.get("topup") || rt.get("rate")) {
          r.segments.clear();
          r.topup = false;
        }
        rule_params(rt, rw, &r, index);
        bool has_rate =
            rt.get("rate") != nullptr || (base_has_rate && !rt.get("segments") && !rt.get("topup"));
        validate_rule(rt, rw, r, has_rate, shared);
        if (L.rules.size() == limits::kRulesPerLayerMax) fail(rt, where + ": too many rules");
        L.rules.push_back(std::move(r));
      }
    } else {
      validate_rule(t, where, base_rule, base_has_rate, shared);
      L.rules.push_back(std::move(base_rule));
    }
    bool any_annual = std::any_of(L.rules.begin(), L.rules.end(),
                                  [](const Rule& r) { return r.has_annual_deductible; });
    if (any_annual) {
      if (plan_.deductible_groups.size() == limits::kDeductibleGroupsMax)
        fail(t, "too many deductibles");
      DeductibleGroup own;
      own.id = L.id;
      L.deductible_group = int(plan_.deductible_groups.size());
      plan_.deductible_groups.push_back(own);
    }
    plan_.layers.push_back(std::move(L));
  }

  // A ratio such as "80%" or "110%" (up to max_percent), exact to 0.0001 %.
  Rate ratio_of(const toml::node& n, const std::string& what, int64_t max_percent) {
    auto s = n.as_string();
    const std::string_view v = s ? std::string_view(**s) : std::string_view();
    size_t digits = 0;
    while (digits < v.size() && digits < 4 && v[digits] >= '0' && v[digits] <= '9') ++digits;
    const std::string_view rest = v.substr(digits);
    Rate fraction, r;
    // The whole percent here, the fraction and the sign checked by parse_percent.
    if (digits > 0 && !rest.empty() && (rest[0] == '.' || rest[0] == '%') &&
        parse_percent("0" + std::string(rest), &fraction)) {
      r.ppm = std::stoll(std::string(v.substr(0, digits))) * 10'000 + fraction.ppm;
      if (r.ppm <= max_percent * 10'000) return r;
    }
    fail(n, what + " must be a percentage string between \"0%\" and \"" +
                std::to_string(max_percent) + "%\", such as \"80%\"");
  }

  bool bool_of(const toml::node& n, const std::string& what) {
    auto b = n.as_boolean();
    if (!b) fail(n, what + " must be true or false");
    return **b;
  }

  // [fund]: the year-end rules of the products' books.
  void load_fund(const toml::node& n) {
    const std::string where = "[fund]";
    const toml::table* t = n.as_table();
    if (t == nullptr) fail(n, "'fund' must be a [fund] table");
    check_keys(*t, where,
               {"loss_ratio_floor", "surplus", "loss_ratio_ceiling", "loss_share_government",
                "operating_cost_cap", "premium_transfers", "evaluation_years"});
    FundRules& f = plan_.fund;
    f.declared = true;
    if (auto v = t->get("loss_ratio_floor"))
      f.loss_ratio_floor = ratio_of(*v, where + ": 'loss_ratio_floor'", 100);
    if (auto v = t->get("surplus")) {
      if (f.loss_ratio_floor.ppm == 0)
        fail(*v, where + ": 'surplus' says what happens below 'loss_ratio_floor'; give the floor");
      f.surplus = SurplusRule(choice_of(*v, where + ": 'surplus'", {"carry_over", "return"}));
    }
    const toml::node* ceiling = t->get("loss_ratio_ceiling");
    const toml::node* share = t->get("loss_share_government");
    if ((ceiling == nullptr) != (share == nullptr))
      fail(ceiling != nullptr ? *ceiling : *share,
           where +
               ": 'loss_ratio_ceiling' and 'loss_share_government' go together (the loss "
               "above the ceiling, and the government's share of it)");
    if (ceiling != nullptr) {
      f.has_ceiling = true;
      f.loss_ratio_ceiling = ratio_of(*ceiling, where + ": 'loss_ratio_ceiling'", 1000);
      f.loss_share_government = ratio_of(*share, where + ": 'loss_share_government'", 100);
      if (f.loss_ratio_ceiling.ppm < f.loss_ratio_floor.ppm)
        fail(*ceiling, where + ": 'loss_ratio_ceiling' is below 'loss_ratio_floor'");
    }
    if (auto v = t->get("operating_cost_cap")) {
      f.has_operating_cost_cap = true;
      f.operating_cost_cap = ratio_of(*v, where + ": 'operating_cost_cap'", 100);
    }
    if (auto v = t->get("premium_transfers")) {
      f.premium_transfers = bool_of(*v, where + ": 'premium_transfers'");
      if (f.premium_transfers && plan_.products.size() < 2)
        fail(*v, where +
                     ": 'premium_transfers' needs two or more [[product]]s to move premiums "
                     "between");
    }
    if (auto v = t->get("evaluation_years")) {
      auto i = v->as_integer();
      if (!i || **i < 1 || **i > 10)
        fail(*v, where + ": 'evaluation_years' must be an integer from 1 to 10");
      f.evaluation_years = int(**i);
    }
  }

  // [targets]: what supervisors measure the programme against.
  void load_targets(const toml::node& n) {
    const std::string where = "[targets]";
    const toml::table* t = n.as_table();
    if (t == nullptr) fail(n, "'targets' must be a [targets] table");
    check_keys(*t, where, {"enrolment_rate", "reimbursement_ratio"});
    Targets& g = plan_.targets;
    if (auto v = t->get("enrolment_rate")) {
      g.has_enrolment_rate = true;
      g.enrolment_rate = ratio_of(*v, where + ": 'enrolment_rate'", 100);
    }
    if (auto v = t->get("reimbursement_ratio")) {
      g.has_reimbursement_ratio = true;
      g.reimbursement_ratio = ratio_of(*v, where + ": 'reimbursement_ratio'", 100);
    }
  }

  std::string source_;
  std::string base_dir_;
  bool read_files_;
  Plan plan_;
  std::set<std::string> names_;
};

}  // namespace

namespace {

Result<Plan> load_text(std::string_view text, const std::string& source_name,
                       const std::string& base_dir, bool read_files) {
  try {
    toml::table root = toml::parse(text, source_name);
    Loader loader(source_name, base_dir, read_files);
    return loader.load(root);
  } catch (const toml::parse_error& e) {
    std::ostringstream o;
    o << source_name << ":" << e.source().begin.line << ": " << e.description();
    return Status(Code::kPlanInvalid, o.str());
  } catch (const PlanError& e) {
    return Status(Code::kPlanInvalid, e.message);
  }
}

}  // namespace

Result<Plan> load_plan_from_string(std::string_view text, const std::string& source_name,
                                   const std::string& base_dir) {
  return load_text(text, source_name, base_dir, true);
}

Result<Plan> load_plan_outline(std::string_view text, const std::string& source_name) {
  return load_text(text, source_name, "", false);
}

Result<Plan> load_plan(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kIoError, "cannot read plan file '" + path + "'");
  std::stringstream buf;
  buf << in.rdbuf();
  std::string dir = ".";
  if (auto slash = path.rfind('/'); slash != std::string::npos) dir = path.substr(0, slash);
  return load_plan_from_string(buf.str(), path, dir);
}

}  // namespace huibao
