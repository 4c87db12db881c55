#include "gen/generator.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <unordered_set>

#include "core/resident_id.h"

namespace huibao {
namespace {

// xoshiro256** seeded by splitmix64: fixed output for a seed on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& w : s_) {
      seed += 0x9e3779b97f4a7c15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      w = z ^ (z >> 31);
    }
  }
  uint64_t next() {
    const uint64_t r = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return r;
  }
  // Uniform in [0, n).
  uint64_t below(uint64_t n) {
    return uint64_t((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
  int64_t between(int64_t lo, int64_t hi) { return lo + int64_t(below(uint64_t(hi - lo + 1))); }
  bool chance(int per_10k) { return below(10000) < uint64_t(per_10k); }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

class Out {
 public:
  explicit Out(std::FILE* f) : f_(f) {}
  ~Out() { flush(); }
  fmt::memory_buffer& buf() { return b_; }
  void maybe_flush() {
    if (b_.size() > (4 << 20)) flush();
  }
  void flush() {
    std::fwrite(b_.data(), 1, b_.size(), f_);
    b_.clear();
  }

 private:
  std::FILE* f_;
  fmt::memory_buffer b_;
};

struct GenPerson {
  std::string id;
  int insutype;
  CategoryMask cats;
};

// Long-tailed total cost in fen: most stays are modest, a few reach every cap.
Fen claim_total(Rng& r) {
  uint64_t tier = r.below(1000);
  if (tier < 600) return r.between(300'00, 8'000'00);
  if (tier < 850) return r.between(8'000'00, 30'000'00);
  if (tier < 950) return r.between(30'000'00, 120'000'00);
  if (tier < 990) return r.between(120'000'00, 400'000'00);
  return r.between(400'000'00, 1'600'000'00);
}

std::string amount_json(Rng& r, Fen f) {
  // The national interface sends numbers; some systems send strings.
  std::string s = fen_to_string(f);
  if (r.below(10) == 0) return "\"" + s + "\"";
  return s;
}

std::string make_id(Rng& r, int admdvs, Date period_begin) {
  int y, m, d;
  date_to_ymd(Date{period_begin.days - int32_t(r.between(0, 95 * 365))}, &y, &m, &d);
  std::string first17 =
      fmt::format("{:06d}{:04d}{:02d}{:02d}{:03d}", admdvs, y, m, d, r.below(1000));
  return first17 + resident_id_check_char(first17);
}

}  // namespace

Status generate(const Plan& plan, const GenOptions& o, GenStats* stats) {
  *stats = GenStats{};
  ::mkdir(o.dir.c_str(), 0755);
  auto open = [&](const char* name) {
    return std::unique_ptr<std::FILE, int (*)(std::FILE*)>(
        std::fopen((o.dir + "/" + name).c_str(), "wb"), &std::fclose);
  };
  auto fp = open("persons.csv"), fe = open("enrollments.csv"), fc = open("claims.jsonl");
  if (!fp || !fe || !fc)
    return Status(Code::kIoError, "cannot write into directory '" + o.dir + "'");
  Rng rng(o.seed);
  const int year_days = plan.period_end.days - plan.period_begin.days + 1;

  // Categories the plan mentions, so that every condition is exercised.
  CategoryMask mentioned = 0;
  for (const Layer& L : plan.layers) {
    mentioned |= L.applies.categories_any;
    for (const Rule& r : L.rules) mentioned |= r.when.categories_any;
  }
  for (const DeductibleGroup& g : plan.deductible_groups) {
    for (const auto& bc : g.by_category) mentioned |= bc.categories;
  }
  for (const Product& p : plan.products) mentioned |= p.auto_enroll;
  std::vector<int> cat_pool;
  for (int c = 0; c < kCategoryCount; ++c) {
    if ((mentioned >> c) & 1) cat_pool.push_back(c);
  }

  // ---- roll ----
  std::vector<GenPerson> people;
  people.reserve(o.persons);
  std::unordered_set<std::string> seen;
  {
    Out out(fp.get());
    fmt::format_to(std::back_inserter(out.buf()),
                   "psn_no,psn_name,gend,brdy,admdvs,insutype,categories,preexisting\n");
    static constexpr const char* kSurnames[] = {"王", "李", "张", "刘", "陈", "杨",
                                                "赵", "黄", "周", "吴", "孙", "马"};
    for (uint64_t i = 0; i < o.persons; ++i) {
      int admdvs = 370000 + int(rng.between(1, 17)) * 100 + int(rng.between(1, 12));
      std::string id;
      do id = make_id(rng, admdvs, plan.period_begin);
      while (!seen.insert(id).second);
      GenPerson p{id, rng.below(4) == 0 ? 310 : 390, 0};
      std::string cats;
      if (!cat_pool.empty() && rng.chance(1800)) {
        int n = rng.chance(2500) ? 2 : 1;
        for (int k = 0; k < n; ++k) {
          int c = cat_pool[rng.below(cat_pool.size())];
          if ((p.cats >> c) & 1) continue;
          p.cats |= CategoryMask(1) << c;
          if (!cats.empty()) cats += ';';
          cats += category_name(c);
          uint64_t dated = rng.below(10);
          if (dated < 2) {  // added mid-year
            cats += "@" + date_to_string(Date{plan.period_begin.days +
                                              int32_t(rng.below(uint64_t(year_days)))});
          } else if (dated == 2) {  // dated before the plan year
            cats +=
                "@" + date_to_string(Date{plan.period_begin.days - int32_t(rng.between(1, 900))});
          }
        }
      }
      Date born;
      resident_id_birth_date(id, &born);
      char gend = resident_id_gender(id) == 'M' ? '1' : '2';
      fmt::format_to(std::back_inserter(out.buf()), "{},{}{},{},{},{},{},{},{}\n", id,
                     kSurnames[rng.below(12)], i, gend, date_to_string(born), admdvs, p.insutype,
                     cats, rng.chance(1000) ? 1 : 0);
      out.maybe_flush();
      people.push_back(std::move(p));
    }
    stats->persons = people.size();
  }

  // ---- voluntary enrolments ----
  {
    Out out(fe.get());
    fmt::format_to(std::back_inserter(out.buf()), "psn_no,product,begin,end,prior_years\n");
    for (const Product& prod : plan.products) {
      if (prod.auto_enroll != 0) continue;
      for (const GenPerson& p : people) {
        if (!rng.chance(3500)) continue;
        Date begin = plan.period_begin;
        if (rng.chance(2000))
          begin = Date{plan.period_begin.days + int32_t(rng.below(uint64_t(year_days)))};
        fmt::format_to(std::back_inserter(out.buf()), "{},{},{},{},{}\n", p.id, prod.id,
                       date_to_string(begin), date_to_string(plan.period_end), rng.below(5));
        ++stats->enrollments;
        out.maybe_flush();
      }
    }
  }

  // ---- claims ----
  std::vector<int> med_types;
  for (int t = 0; t < 128; ++t) {
    if ((plan.med_types[size_t(t >> 6)] >> (t & 63)) & 1) med_types.push_back(t);
  }
  std::vector<std::string> list_codes;
  for (const ItemBucket& b : plan.buckets) {
    for (const auto& [code, spans] : plan.drug_lists[size_t(b.drug_list)].codes)
      list_codes.push_back(code);
  }
  std::sort(list_codes.begin(), list_codes.end());
  // A layer whose base is one claim field can be given by an upstream system.
  int givable = -1;
  for (size_t l = 0; l < plan.layers.size() && givable < 0; ++l) {
    const Expr& b = plan.layers[l].base;
    if (b.terms.size() == 1 && b.terms[0].coeff == 1 && b.terms[0].source < kClaimFieldCount)
      givable = int(l);
  }
  static constexpr const char* kCauses[] = {
      "traffic",   "fall", "natural_disaster", "drowning",    "gas_poisoning",
      "explosion", "fire", "electric_shock",   "animal_bite", "sports"};
  Out out(fc.get());
  std::vector<std::string> used_setl;
  auto person_for_claim = [&]() -> const GenPerson& {
    // A twentieth of the people (the chronically ill) make a fifth of the claims.
    uint64_t n = people.size();
    if (rng.below(5) == 0) return people[rng.below(std::max<uint64_t>(1, n / 20))];
    return people[rng.below(n)];
  };
  for (uint64_t i = 0; i < o.claims && !people.empty(); ++i) {
    auto& b = out.buf();
    std::string setl = fmt::format("S{:010d}", i);
    const GenPerson& p = person_for_claim();
    std::string psn = p.id;
    Date begn{plan.period_begin.days + int32_t(rng.below(uint64_t(year_days)))};
    int invalid = rng.chance(o.invalid_per_10k) ? int(rng.below(11)) + 1 : 0;
    if (invalid > 0) ++stats->invalid;
    switch (invalid) {
      case 1:
        fmt::format_to(std::back_inserter(b),
                       "{{\"setl_id\":\"{}\",\"psn_no\":\"{}\",\"med_type\":21,\n", setl, psn);
        out.maybe_flush();
        continue;
      case 2:  // required field missing
        fmt::format_to(std::back_inserter(b),
                       "{{\"setl_id\":\"{}\",\"psn_no\":\"{}\",\"med_type\":21}}\n", setl, psn);
        continue;
      case 3:
        psn[17] = psn[17] == '0' ? '1' : '0';
        if (resident_id_checksum_ok(psn)) psn[17] = psn[17] == '2' ? '3' : '2';
        break;
      case 4: {
        std::string first17 = "370102199001011" + fmt::format("{:02d}", rng.below(100));
        psn = first17 + resident_id_check_char(first17);
        if (seen.count(psn)) psn = p.id, invalid = 0;
        break;
      }
      case 5:
        break;  // invalid date, below
      case 6:
        begn = Date{plan.period_begin.days - int32_t(rng.between(1, 300))};
        break;
      case 10:
        if (!used_setl.empty()) setl = used_setl[rng.below(used_setl.size())];
        break;
      default:
        break;
    }
    if (plan.accident_product >= 0 && rng.chance(300) && invalid == 0) {
      ++stats->accident;
      uint64_t kind = rng.below(10);
      const char* cause = kCauses[rng.below(10)];
      std::string disaster =
          rng.chance(5000)
              ? fmt::format(",\"disaster_paid\":{}", fen_to_string(rng.between(0, 40'000'00)))
              : "";
      std::string body;
      if (kind == 0)
        body = "\"outcome\":\"death\"";
      else if (kind <= 2)
        body =
            fmt::format("\"outcome\":\"disability\",\"disability_grade\":{}", rng.between(1, 10));
      else
        body = fmt::format("\"outcome\":\"medical\",\"medical_amount\":{}",
                           fen_to_string(rng.between(50'00, 12'000'00)));
      fmt::format_to(std::back_inserter(b),
                     "{{\"kind\":\"accident\",\"setl_id\":\"{}\",\"psn_no\":\"{}\",\"accident_"
                     "date\":\"{}\",\"cause\":\"{}\",{}{}}}\n",
                     setl, psn, date_to_string(begn), cause, body, disaster);
      used_setl.push_back(setl);
      out.maybe_flush();
      continue;
    }
    int med_type = med_types.empty() ? 21 : med_types[rng.below(med_types.size())];
    if (rng.below(3) != 0 && (med_type < 21 || med_type > 24))
      med_type = 21;                     // inpatient dominates
    if (rng.chance(100)) med_type = 11;  // general outpatient: no layer covers it
    int lv = int(rng.between(1, 3));
    Fen total = claim_total(rng);
    if (med_type == 14 || med_type == 41)
      total = std::min<Fen>(total, rng.between(100'00, 60'000'00));
    Fen ful = total * Fen(rng.below(16)) / 100;
    Fen over = total * Fen(rng.below(4)) / 100;
    Fen pre = total * Fen(rng.below(11)) / 100;
    Fen inscp = total - ful - over - pre;
    std::string items;
    if (!list_codes.empty() && rng.chance(400)) {
      if (ful < 2'000'00) ful += 20'000'00, total += 20'000'00;
      Fen drug = ful * Fen(rng.between(30, 100)) / 100;
      items = fmt::format(",\"items\":[{{\"code\":\"{}\",\"chrgitm_lv\":\"03\",\"amount\":{}}}]",
                          list_codes[rng.below(list_codes.size())], fen_to_string(drug));
    }
    std::string given;
    if (givable >= 0 && rng.chance(200)) {
      Fen base = plan.layers[size_t(givable)].base.terms[0].source == kInscpScpAmt ? inscp : total;
      Fen g = invalid == 11 ? base + 100 : base / 2;
      given = fmt::format(",\"given\":{{\"{}_pay\":{}}}", plan.layers[size_t(givable)].id,
                          fen_to_string(g));
    } else if (invalid == 11 && givable >= 0) {
      given = fmt::format(",\"given\":{{\"{}_pay\":{}}}", plan.layers[size_t(givable)].id,
                          fen_to_string(inscp + 1));
    }
    Date end{begn.days + int32_t(med_type >= 21 && med_type <= 24 ? rng.below(30) : 0)};
    std::string begs = date_to_string(begn), ends = date_to_string(end);
    if (invalid == 5) begs = fmt::format("{:04d}-02-30", 2000 + rng.below(30));
    std::string inscp_s = amount_json(rng, inscp);
    if (invalid == 7) inscp_s = "-" + fen_to_string(inscp);
    if (invalid == 8) inscp_s = fen_to_string(inscp + 100);
    if (invalid == 9) inscp_s = fen_to_string(inscp) + "5";  // three decimals
    fmt::format_to(std::back_inserter(b),
                   "{{\"setl_id\":\"{}\",\"psn_no\":\"{}\",\"med_type\":{},\"hosp_lv\":{},"
                   "\"fixmedins_code\":\"H37{:04d}\",\"begndate\":\"{}\",\"enddate\":\"{}\","
                   "\"medfee_sumamt\":{},\"fulamt_ownpay_amt\":{},\"overlmt_selfpay\":{},"
                   "\"preselfpay_amt\":{},\"inscp_scp_amt\":{}{}{}}}\n",
                   setl, psn, med_type, lv, rng.below(3000), begs, ends, amount_json(rng, total),
                   amount_json(rng, ful), amount_json(rng, over), amount_json(rng, pre), inscp_s,
                   items, given);
    if (used_setl.size() < 100000) used_setl.push_back(setl);
    out.maybe_flush();
  }
  stats->claims = o.claims;
  out.flush();
  if (std::ferror(fc.get()) || std::ferror(fp.get()) || std::ferror(fe.get()))
    return Status(Code::kIoError, "write error in '" + o.dir + "'");
  return Status::Ok();
}

}  // namespace huibao
