#include "settle/engine.h"

#include <algorithm>

namespace huibao {
namespace {

// Facts about the claim and person that every layer's conditions read.
struct Context {
  const Plan* plan;
  const Person* person;
  const MedicalClaim* claim;
  CategoryMask categories;  // in force on the admission date
  std::array<Coverage, limits::kProductsMax> coverage;
};

NotApplicable check(const Conditions& c, const Context& x) {
  if (!c.has_med_type(x.claim->med_type)) return NotApplicable::kMedType;
  if (!c.insutypes.empty() &&
      std::find(c.insutypes.begin(), c.insutypes.end(), x.person->insutype) == c.insutypes.end())
    return NotApplicable::kInsutype;
  if (c.hosp_lv_mask != 0 && !((c.hosp_lv_mask >> x.claim->hosp_lv) & 1))
    return NotApplicable::kHospLv;
  if (c.categories_any != 0 && (c.categories_any & x.categories) == 0)
    return NotApplicable::kCategory;
  if (c.preexisting >= 0 && (c.preexisting == 1) != x.person->preexisting)
    return NotApplicable::kPreexisting;
  if (c.product >= 0 && !x.coverage[size_t(c.product)].covered) return NotApplicable::kProduct;
  return NotApplicable::kNone;
}

inline Fen eval(const Expr& e, const Fen* src) {
  Fen v = 0;
  for (const Expr::Term& t : e.terms) v += src[t.source] * t.coeff;
  return v;
}

// Exact piecewise-linear entitlement F(C), in fen * ppm.
__int128 segments_value(const std::vector<Segment>& segs, Fen c) {
  __int128 sum = 0;
  for (size_t i = 0; i < segs.size(); ++i) {
    if (c <= segs[i].from) break;
    Fen upper = i + 1 < segs.size() ? std::min(c, segs[i + 1].from) : c;
    sum += static_cast<__int128>(upper - segs[i].from) * segs[i].rate.ppm;
  }
  return sum;
}

Fen deductible_amount(const DeductibleGroup& g, const Rule& r, const Context& x) {
  if (!g.declared) return r.annual_deductible;
  Fen amount = g.amount;
  for (const auto& bc : g.by_category) {
    if (bc.categories & x.categories) amount = std::min(amount, bc.amount);
  }
  if (g.less_per_prior_year > 0) {
    int years = std::min(x.coverage[size_t(g.prior_years_product)].prior_years, g.prior_years_max);
    amount -= g.less_per_prior_year * years;
  }
  return std::max({amount, g.floor, Fen{0}});
}

// Computes what rule r would pay; mutates nothing.
void evaluate_rule(const Layer& L, size_t l, const Rule& r, const Context& x, const Fen* src,
                   Fen base, const YearState& s, LayerTrace* t) {
  const Plan& plan = *x.plan;
  const int lv = x.claim->hosp_lv;
  *t = LayerTrace{};
  t->how = LayerHow::kComputed;
  t->base = base;
  Fen raw;
  if (!r.segments.empty()) {
    t->cum_base_before = s.layer_cum_base[l];
    Fen before = round_fen_ppm_half_up(segments_value(r.segments, s.layer_cum_base[l]));
    Fen after = round_fen_ppm_half_up(segments_value(r.segments, s.layer_cum_base[l] + base));
    if (r.has_cap) before = std::min(before, r.cap), after = std::min(after, r.cap);
    raw = after - before;
  } else if (r.topup) {
    t->topup_target = apply_rate_half_up(std::max(Fen{0}, eval(r.topup_of, src)), r.topup_rate);
    t->topup_less = eval(r.topup_less, src);
    raw = std::max(Fen{0}, t->topup_target - t->topup_less);
  } else {
    t->deductible_claim = std::min(base, r.deductible_per_claim[size_t(lv)]);
    Fen rest = base - t->deductible_claim;
    if (L.deductible_group >= 0) {
      const DeductibleGroup& g = plan.deductible_groups[size_t(L.deductible_group)];
      if (g.declared || r.has_annual_deductible) {
        t->deductible_amount = deductible_amount(g, r, x);
        t->deductible_left_before =
            std::max(Fen{0}, t->deductible_amount - s.deductible_used[size_t(L.deductible_group)]);
        t->deductible_annual = std::min(rest, t->deductible_left_before);
        rest -= t->deductible_annual;
      }
    }
    raw = apply_rate_half_up(rest, r.rate[size_t(lv)]);
  }
  t->raw = raw;
  Fen pay = raw;
  if (r.has_cap) {
    t->cap_left_before = std::max(Fen{0}, r.cap - s.layer_paid[l]);
    pay = std::min(pay, t->cap_left_before);
  }
  if (L.cap_group >= 0) {
    const CapGroup& cg = plan.cap_groups[size_t(L.cap_group)];
    t->group_cap_left_before = std::max(Fen{0}, cg.amount - s.cap_used[size_t(L.cap_group)]);
    pay = std::min(pay, t->group_cap_left_before);
  }
  t->pay = std::clamp(pay, Fen{0}, base);
}

// Year accumulators saturate far above any cap or segment bound instead of
// overflowing: a person with a thousand maximal claims stays well defined.
inline void accumulate(Fen* total, Fen add) {
  constexpr Fen kSaturated = Fen{1} << 61;
  *total = std::min(kSaturated, *total + add);
}

void commit(const Layer& L, size_t l, Fen base, Fen pay, Fen deductible_annual, YearState* s) {
  accumulate(&s->layer_paid[l], pay);
  accumulate(&s->layer_cum_base[l], base);
  if (L.cap_group >= 0) accumulate(&s->cap_used[size_t(L.cap_group)], pay);
  if (L.deductible_group >= 0)
    accumulate(&s->deductible_used[size_t(L.deductible_group)], deductible_annual);
}

}  // namespace

MedicalResult settle_medical(const Plan& plan, const Roll& roll, const Person& person,
                             const MedicalClaim& claim, YearState* state, LayerTrace* trace) {
  MedicalResult out;
  Context x{&plan, &person, &claim, person.categories_on(claim.begndate), {}};
  for (size_t p = 0; p < plan.products.size(); ++p) {
    x.coverage[p] = coverage_on(plan, roll, person, int(p), claim.begndate);
  }
  // Sources for base expressions; layer payments are filled in as they settle.
  Fen src[kSourceCount] = {};
  std::copy(claim.amount.begin(), claim.amount.end(), src);
  std::copy(claim.bucket.begin(), claim.bucket.end(), src + kSourceBucket0);

  // A claim with given amounts may fail part-way (given_exceeds_base) and must
  // then leave the state untouched: it works on a copy. Others cannot fail.
  YearState copy;
  YearState& s = claim.given_mask == 0 ? *state : (copy = *state);
  for (size_t l = 0; l < plan.layers.size(); ++l) {
    const Layer& L = plan.layers[l];
    const Fen base = std::max(Fen{0}, eval(L.base, src));
    LayerTrace t;
    t.base = base;
    if ((claim.given_mask >> l) & 1) {
      const Fen given = claim.given[l];
      if (given > base) {
        out.code = Code::kGivenExceedsBase;
        out.failed_layer = int(l);
        return out;
      }
      t.how = LayerHow::kGiven;
      t.pay = given;
      commit(L, l, base, given, 0, &s);
    } else if ((t.why = check(L.applies, x)) == NotApplicable::kNone) {
      // Among the rules that hold, the one that pays most applies (first on a tie).
      LayerTrace cand;
      bool found = false;
      NotApplicable rule_why = NotApplicable::kNone;
      for (size_t k = 0; k < L.rules.size(); ++k) {
        const Rule& r = L.rules[k];
        NotApplicable w = check(r.when, x);
        if (w != NotApplicable::kNone) {
          if (rule_why == NotApplicable::kNone) rule_why = w;
          continue;
        }
        evaluate_rule(L, l, r, x, src, base, s, &cand);
        cand.rule = int8_t(k);
        if (!found || cand.pay > t.pay) t = cand, found = true;
      }
      if (found) {
        commit(L, l, base, t.pay, t.deductible_annual, &s);
      } else {
        t.why = rule_why;
      }
    }
    out.pay[l] = t.pay;
    src[kSourceLayer0 + l] = t.pay;
    if (L.payer == Payer::kFund) {
      out.fund_pay_sumamt += t.pay;
    } else {
      out.hosp_part_amt += t.pay;
    }
    if (trace != nullptr) trace[l] = t;
  }
  out.psn_part_amt = claim.amount[kMedfeeSumamt] - out.fund_pay_sumamt - out.hosp_part_amt;
  if (&s != state) *state = s;
  return out;
}

AccidentResult settle_accident(const Plan& plan, const Roll& roll, const Person& person,
                               const AccidentClaim& claim, YearState* state) {
  HB_ASSERT(plan.accident_product >= 0);
  AccidentResult r;
  const AccidentTerms& a = plan.products[size_t(plan.accident_product)].terms;
  r.covered = coverage_on(plan, roll, person, plan.accident_product, claim.accident_date).covered;
  Fen* used = nullptr;
  Fen limit = 0;
  switch (claim.outcome) {
    case AccidentOutcome::kDeath:
      r.loss = a.death;
      used = &state->accident_death_disability_paid;
      limit = a.death_disability_limit;
      break;
    case AccidentOutcome::kDisability:
      r.loss = a.disability[size_t(claim.disability_grade)];
      used = &state->accident_death_disability_paid;
      limit = a.death_disability_limit;
      break;
    case AccidentOutcome::kMedical:
      r.loss = claim.medical_amount;
      used = &state->accident_medical_paid;
      limit = a.medical_limit;
      break;
  }
  r.limit_left_before = std::max(Fen{0}, limit - *used);
  if (!r.covered) return r;
  r.disaster_counted = std::find(a.disaster_first_causes.begin(), a.disaster_first_causes.end(),
                                 claim.cause) != a.disaster_first_causes.end();
  Fen loss = r.loss - (r.disaster_counted ? claim.disaster_paid : 0);
  r.pay = std::min(std::max(Fen{0}, loss), r.limit_left_before);
  accumulate(used, r.pay);
  return r;
}

void add_item_to_buckets(const Plan& plan, std::string_view code, std::string_view chrgitm_lv,
                         Fen amount, Date begndate, Date enddate, MedicalClaim* claim) {
  for (size_t b = 0; b < plan.buckets.size(); ++b) {
    const ItemBucket& bucket = plan.buckets[b];
    if (!bucket.chrgitm_lv.empty() && std::find(bucket.chrgitm_lv.begin(), bucket.chrgitm_lv.end(),
                                                chrgitm_lv) == bucket.chrgitm_lv.end())
      continue;
    Date on = bucket.on_enddate ? enddate : begndate;
    if (plan.drug_lists[size_t(bucket.drug_list)].listed_on(code, on))
      claim->bucket[b] = std::min(limits::kAmountFenMax, claim->bucket[b] + amount);  // no wrap
  }
}

PersonBenefits person_benefits(const Plan& plan, const Roll& roll, const Person& person, Date on,
                               const YearState& state) {
  PersonBenefits out;
  MedicalClaim any;  // no medical type or hospital level: only the person's conditions count
  any.begndate = any.enddate = on;
  Context x{&plan, &person, &any, person.categories_on(on), {}};
  for (size_t p = 0; p < plan.products.size(); ++p) {
    x.coverage[p] = out.coverage[p] = coverage_on(plan, roll, person, int(p), on);
  }
  auto person_check = [&](Conditions c) {
    c.med_types = {};
    c.hosp_lv_mask = 0;
    return check(c, x);
  };
  // A figure every rule that may apply agrees on (kUnseen: no rule yet), else kVaries.
  constexpr Fen kUnseen = -2;
  auto agreed = [](Fen* seen, Fen v) { *seen = *seen == kUnseen || *seen == v ? v : kVaries; };
  std::array<Fen, limits::kDeductibleGroupsMax> deductible;
  deductible.fill(kUnseen);
  for (size_t l = 0; l < plan.layers.size(); ++l) {
    const Layer& L = plan.layers[l];
    LayerBenefit& b = out.layers[l];
    b.paid = state.layer_paid[l];
    b.why = person_check(L.applies);
    Fen cap = kUnseen;
    for (const Rule& r : L.rules) {
      if (person_check(r.when) != NotApplicable::kNone) continue;
      agreed(&cap, r.has_cap ? r.cap : kUnlimited);
      if (L.deductible_group < 0) continue;
      const DeductibleGroup& g = plan.deductible_groups[size_t(L.deductible_group)];
      if (g.declared || r.has_annual_deductible)
        agreed(&deductible[size_t(L.deductible_group)], deductible_amount(g, r, x));
    }
    if (cap >= 0) {
      b.cap = cap;
      b.cap_left = cap == kUnlimited ? kUnlimited : std::max(Fen{0}, cap - b.paid);
    } else if (cap == kUnseen) {
      b.cap = b.cap_left = 0;  // no rule can apply to this person
    }
  }
  for (size_t d = 0; d < plan.deductible_groups.size(); ++d) {
    GroupBenefit& g = out.deductibles[d];
    g.amount = deductible[d] == kUnseen ? 0 : deductible[d];
    g.used = state.deductible_used[d];
    g.left = g.amount == kVaries ? kVaries : std::max(Fen{0}, g.amount - g.used);
  }
  for (size_t c = 0; c < plan.cap_groups.size(); ++c) {
    GroupBenefit& g = out.caps[c];
    g.amount = plan.cap_groups[c].amount;
    g.used = state.cap_used[c];
    g.left = std::max(Fen{0}, g.amount - g.used);
  }
  if (plan.accident_product >= 0) {
    const AccidentTerms& a = plan.products[size_t(plan.accident_product)].terms;
    out.accident_death_disability = {
        a.death_disability_limit, state.accident_death_disability_paid,
        std::max(Fen{0}, a.death_disability_limit - state.accident_death_disability_paid)};
    out.accident_medical = {a.medical_limit, state.accident_medical_paid,
                            std::max(Fen{0}, a.medical_limit - state.accident_medical_paid)};
  }
  return out;
}

}  // namespace huibao
