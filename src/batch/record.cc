#include "batch/record.h"

#include <cstring>

namespace huibao {

void RecordSet::append(const RecordSet& o) {
  const uint32_t base = uint32_t(records.size());
  const uint32_t given_base = uint32_t(given.size());
  const uint64_t text_base = text.size();
  records.insert(records.end(), o.records.begin(), o.records.end());
  for (size_t i = base; i < records.size(); ++i) {
    records[i].given_first += given_base;
    records[i].text += text_base;
  }
  given.insert(given.end(), o.given.begin(), o.given.end());
  buckets.insert(buckets.end(), o.buckets.begin(), o.buckets.end());
  for (const auto& [i, m] : o.messages) messages.emplace(base + i, m);
  for (const auto& [i, a] : o.wide) wide.emplace(base + i, a);
  text += o.text;
  if (keep_raw) {  // offsets from the same origin: nothing to rebase
    raw_at.insert(raw_at.end(), o.raw_at.begin(), o.raw_at.end());
    raw_len.insert(raw_len.end(), o.raw_len.begin(), o.raw_len.end());
  }
}

void RecordSet::clear() {
  records.clear();
  given.clear();
  buckets.clear();
  messages.clear();
  text.clear();
  wide.clear();
  raw_at.clear();
  raw_len.clear();
}

MedicalClaim medical_claim_of(const Plan& plan, const RecordSet& rs, uint32_t i) {
  const Record& r = rs.records[i];
  MedicalClaim c;
  c.med_type = r.med_type;
  c.hosp_lv = r.hosp_lv;
  c.begndate = r.begndate;
  c.enddate = r.enddate;
  c.amount = rs.amounts(i);
  const size_t nb = plan.buckets.size();
  for (size_t b = 0; b < nb; ++b) c.bucket[b] = rs.buckets[size_t(i) * nb + b];
  for (uint32_t g = 0; g < r.given_count; ++g) {
    const GivenAmount& ga = rs.given[r.given_first + g];
    c.given_mask |= 1u << ga.layer;
    c.given[ga.layer] = ga.amount;
  }
  return c;
}

AccidentClaim accident_claim_of(const RecordSet& rs, uint32_t i) {
  const Record& r = rs.records[i];
  const auto amount = rs.amounts(i);
  AccidentClaim a;
  a.accident_date = r.begndate;
  a.cause = rs.cause(r);
  a.outcome = AccidentOutcome(r.outcome);
  a.disability_grade = r.disability_grade;
  a.medical_amount = amount[0];
  a.disaster_paid = amount[1];
  return a;
}

}  // namespace huibao
