#include "settle/explain.h"

#include <fmt/format.h>

namespace huibao {
namespace {

std::string yuan(Fen f) {
  return fen_to_string(f);
}

std::string why_text(NotApplicable w, const MedicalClaim& c) {
  switch (w) {
    case NotApplicable::kMedType:
      return fmt::format("med_type {} not covered", c.med_type);
    case NotApplicable::kInsutype:
      return "insurance type not covered";
    case NotApplicable::kHospLv:
      return fmt::format("hospital level {} not covered", c.hosp_lv);
    case NotApplicable::kCategory:
      return "no qualifying category in force on the admission date";
    case NotApplicable::kPreexisting:
      return "pre-existing flag does not match";
    case NotApplicable::kProduct:
      return "not covered by the product on the admission date";
    case NotApplicable::kNone:
      break;
  }
  return "no rule applies";
}

std::string segments_text(const std::vector<Segment>& segs) {
  std::string s;
  for (size_t i = 0; i < segs.size(); ++i) {
    if (i > 0) s += ", ";
    s += yuan(segs[i].from);
    if (i + 1 < segs.size()) {
      s += '-';
      s += yuan(segs[i + 1].from);
    } else {
      s += '+';
    }
    s += " at ";
    s += rate_to_string(segs[i].rate);
  }
  return s;
}

}  // namespace

void explain_medical(const Plan& plan, const MedicalClaim& claim, const MedicalResult& result,
                     const LayerTrace* trace, std::vector<std::string>* lines) {
  for (size_t l = 0; l < plan.layers.size(); ++l) {
    const Layer& L = plan.layers[l];
    const LayerTrace& t = trace[l];
    std::string s = L.id + ": ";
    if (t.how == LayerHow::kGiven) {
      s += fmt::format("given by the upstream system {} (base {} = {})", yuan(t.pay), yuan(t.base),
                       L.base.text);
    } else if (t.how == LayerHow::kNotApplicable) {
      s += "0.00, not applicable: " + why_text(t.why, claim);
    } else {
      const Rule& r = L.rules[size_t(t.rule)];
      if (L.rules.size() > 1) s += "rule '" + r.name + "'; ";
      s += fmt::format("base {} = {}", yuan(t.base), L.base.text);
      if (!r.segments.empty()) {
        s += fmt::format("; cumulative base {} -> {}; segments {}; slice {}",
                         yuan(t.cum_base_before), yuan(t.cum_base_before + t.base),
                         segments_text(r.segments), yuan(t.raw));
      } else if (r.topup) {
        s += fmt::format("; target {} of {} = {}, less {} = {}; top-up {}",
                         rate_to_string(r.topup_rate), r.topup_of.text, yuan(t.topup_target),
                         r.topup_less.text, yuan(t.topup_less), yuan(t.raw));
      } else {
        if (t.deductible_claim > 0)
          s += fmt::format("; per-claim deductible {}", yuan(t.deductible_claim));
        if (t.deductible_amount >= 0) {
          const DeductibleGroup& g = plan.deductible_groups[size_t(L.deductible_group)];
          s += fmt::format("; annual deductible {}{} with {} left, {} used now",
                           yuan(t.deductible_amount), g.declared ? " ('" + g.id + "')" : "",
                           yuan(t.deductible_left_before), yuan(t.deductible_annual));
        }
        s += fmt::format("; rate {} of {} = {}", rate_to_string(r.rate[size_t(claim.hosp_lv)]),
                         yuan(t.base - t.deductible_claim - t.deductible_annual), yuan(t.raw));
      }
      if (t.cap_left_before >= 0)
        s += fmt::format("; annual cap {} with {} left", yuan(r.cap), yuan(t.cap_left_before));
      else if (!r.segments.empty() || r.topup || r.rate[1].ppm > 0)
        s += "; no annual cap";
      if (t.group_cap_left_before >= 0) {
        const CapGroup& cg = plan.cap_groups[size_t(L.cap_group)];
        s += fmt::format("; shared cap '{}' {} with {} left", cg.id, yuan(cg.amount),
                         yuan(t.group_cap_left_before));
      }
      s += fmt::format("; pays {}", yuan(t.pay));
      if (L.payer == Payer::kHospital) s += " (borne by the hospital)";
    }
    lines->push_back(std::move(s));
  }
  lines->push_back(fmt::format(
      "total: medfee_sumamt {} = fund_pay_sumamt {} + hosp_part_amt {} + psn_part_amt {}",
      yuan(claim.amount[kMedfeeSumamt]), yuan(result.fund_pay_sumamt), yuan(result.hosp_part_amt),
      yuan(result.psn_part_amt)));
}

void explain_accident(const Plan& plan, const AccidentClaim& claim, const AccidentResult& r,
                      std::vector<std::string>* lines) {
  const Product& p = plan.products[size_t(plan.accident_product)];
  if (!r.covered) {
    lines->push_back("accident: 0.00, not covered by " + p.id + " on the accident date");
    return;
  }
  std::string what;
  switch (claim.outcome) {
    case AccidentOutcome::kDeath:
      what = "death benefit " + yuan(r.loss);
      break;
    case AccidentOutcome::kDisability:
      what = fmt::format("disability grade {} benefit {}", claim.disability_grade, yuan(r.loss));
      break;
    case AccidentOutcome::kMedical:
      what = "medical burden " + yuan(r.loss);
      break;
  }
  std::string s = "accident (" + p.id + "): " + what;
  if (r.disaster_counted)
    s += fmt::format("; cause '{}': disaster insurance pays first, {} paid", claim.cause,
                     yuan(claim.disaster_paid));
  else
    s += fmt::format("; cause '{}'", claim.cause);
  s += fmt::format("; annual limit left {}; pays {}", yuan(r.limit_left_before), yuan(r.pay));
  lines->push_back(std::move(s));
}

}  // namespace huibao
