#include "batch/record.h"

#include <cstring>

namespace huibao {

const char* RecordSet::keep(std::string_view s) {
  if (arena_used + s.size() > arena_size) {
    arena_size = std::max<size_t>(1 << 20, s.size());
    arenas.push_back(std::make_unique<char[]>(arena_size));
    arena_used = 0;
  }
  char* p = arenas.back().get() + arena_used;
  std::memcpy(p, s.data(), s.size());
  arena_used += s.size();
  return p;
}

void RecordSet::append(RecordSet&& o) {
  const uint32_t base = uint32_t(records.size());
  const uint32_t given_base = uint32_t(given.size());
  for (Record& r : o.records) {
    r.given_first += given_base;
    records.push_back(r);
  }
  given.insert(given.end(), o.given.begin(), o.given.end());
  buckets.insert(buckets.end(), o.buckets.begin(), o.buckets.end());
  for (auto& [i, m] : o.messages) messages.emplace(base + i, std::move(m));
  for (auto& a : o.arenas) arenas.push_back(std::move(a));
  arena_used = arena_size = 0;  // the last arena is no longer ours to fill
  o = RecordSet{};
}

MedicalClaim medical_claim_of(const Plan& plan, const RecordSet& rs, uint32_t i) {
  const Record& r = rs.records[i];
  MedicalClaim c;
  c.med_type = r.med_type;
  c.hosp_lv = r.hosp_lv;
  c.begndate = r.begndate;
  c.enddate = r.enddate;
  c.amount = r.amount;
  const size_t nb = plan.buckets.size();
  for (size_t b = 0; b < nb; ++b) c.bucket[b] = rs.buckets[size_t(i) * nb + b];
  for (uint32_t g = 0; g < r.given_count; ++g) {
    const GivenAmount& ga = rs.given[r.given_first + g];
    c.given_mask |= 1u << ga.layer;
    c.given[ga.layer] = ga.amount;
  }
  return c;
}

}  // namespace huibao
