// A claim record of the batch as it moves through parse -> settle -> write.
// Kept compact (one per input line, millions at once); variable parts live in
// side tables of the RecordSet.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/big_alloc.h"
#include "core/date.h"
#include "core/error.h"
#include "core/money.h"
#include "policy/plan.h"
#include "settle/engine.h"

namespace huibao {

// kStored: a record the caller answered from the store (BatchJob::replay);
// it is not settled again.
enum class RecordKind : uint8_t { kMedical, kAccident, kStored };

// Claim amounts are kept in 32 bits (up to ±21,474,836.47 yuan), which holds
// all but freak claims; a record with a wider amount marks amount[0] with
// kWideFen and keeps all its amounts in RecordSet::wide.
inline constexpr int32_t kWideFen = INT32_MIN;
inline bool fits_narrow(Fen f) {
  return f > INT32_MIN && f <= INT32_MAX;
}

struct Record {
  // Offset in RecordSet::text of setl_id, then psn_no, then the cause (an
  // accident's; a medical claim's fixmedins_code when the raw lines are kept).
  uint64_t text = 0;
  // Medical: the ClaimField amounts. Accident: [0] medical_amount, [1] disaster_paid.
  std::array<int32_t, kClaimFieldCount> amount{};
  // The roll index of psn_no, for a record that passed check 3 (its code is
  // kOk or one that comes after kUnknownPerson).
  uint32_t person = 0;
  uint32_t given_first = 0;  // RecordSet::given
  Date begndate, enddate;    // accident: both the accident date
  int16_t med_type = 0;
  uint16_t cause_len = 0;
  uint8_t setl_len = 0;  // 0: setl_id is echoed as null
  uint8_t psn_len = 0;   // 0: psn_no is echoed as null
  uint8_t given_count = 0;
  Code code = Code::kOk;
  RecordKind kind = RecordKind::kMedical;
  uint8_t hosp_lv = 0;
  uint8_t outcome = 0;  // AccidentOutcome
  uint8_t disability_grade = 0;
};
static_assert(sizeof(Record) == 56, "a million records should stay near 56 MB");

struct GivenAmount {
  uint8_t layer;
  Fen amount;
};

// Records in input order plus their side tables. Parse workers fill one
// RecordSet each; the batch then appends them in order.
struct RecordSet {
  BigVector<Record> records;
  BigVector<GivenAmount> given;
  BigVector<Fen> buckets;                              // records.size() * plan.buckets.size()
  std::unordered_map<uint32_t, std::string> messages;  // rejected record -> message
  BigString text;                                      // see Record::text
  // The input lines themselves, kept only when asked (keep_raw): the batch
  // reads the whole input into `input` and keeps each line where it was read.
  // Record i's line is raw_len[i] bytes at raw_at[i] from raw_origin (none
  // when the record is rejected). The parse workers' sets, which hold no
  // input, have raw_origin pointed at the batch's.
  bool keep_raw = false;
  BigBuffer input;
  const char* raw_origin = nullptr;
  BigVector<uint64_t> raw_at;
  BigVector<uint32_t> raw_len;
  std::string_view raw_line(uint32_t i) const { return {raw_origin + raw_at[i], raw_len[i]}; }
  std::unordered_map<uint32_t, std::array<Fen, kClaimFieldCount>> wide;  // see kWideFen

  std::array<Fen, kClaimFieldCount> amounts(uint32_t i) const {
    const Record& r = records[i];
    if (r.amount[0] == kWideFen) return wide.at(i);
    std::array<Fen, kClaimFieldCount> a;
    for (int f = 0; f < kClaimFieldCount; ++f) a[size_t(f)] = r.amount[size_t(f)];
    return a;
  }
  // Stores the amounts of record i (not yet appended when i == records.size()).
  void set_amounts(Record* r, uint32_t i, const std::array<Fen, kClaimFieldCount>& a) {
    bool narrow = true;
    for (Fen f : a) narrow = narrow && fits_narrow(f);
    if (narrow) {
      for (int f = 0; f < kClaimFieldCount; ++f) r->amount[size_t(f)] = int32_t(a[size_t(f)]);
    } else {
      r->amount[0] = kWideFen;
      wide[i] = a;
    }
  }

  std::string_view setl_id(const Record& r) const { return {text.data() + r.text, r.setl_len}; }
  std::string_view psn_no(const Record& r) const {
    return {text.data() + r.text + r.setl_len, r.psn_len};
  }
  std::string_view cause(const Record& r) const {
    return {text.data() + r.text + r.setl_len + r.psn_len, r.cause_len};
  }
  // Appends other's records after ours; other keeps its contents (and its
  // capacity, so a parse worker's set is reused block after block).
  void append(const RecordSet& other);
  void clear();
};

// The engine's view of a parsed medical record: amounts, item buckets, given layers.
MedicalClaim medical_claim_of(const Plan& plan, const RecordSet& rs, uint32_t index);
// The engine's view of a parsed accident record.
AccidentClaim accident_claim_of(const RecordSet& rs, uint32_t index);

}  // namespace huibao
