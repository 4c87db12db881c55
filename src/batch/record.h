// A claim record of the batch as it moves through parse -> settle -> write.
// Kept compact (one per input line, millions at once); variable parts live in
// side tables of the RecordSet.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/date.h"
#include "core/error.h"
#include "core/money.h"
#include "policy/plan.h"
#include "settle/engine.h"

namespace huibao {

enum class RecordKind : uint8_t { kMedical, kAccident };

struct Record {
  const char* setl_id = nullptr;  // into an arena; null when not echoed
  const char* psn_no = nullptr;
  const char* cause = nullptr;
  uint64_t setl_hash = 0;
  uint32_t person = 0;
  uint32_t given_first = 0;  // RecordSet::given
  uint16_t setl_len = 0;
  uint16_t cause_len = 0;
  uint8_t psn_len = 0;
  uint8_t given_count = 0;
  Code code = Code::kOk;
  RecordKind kind = RecordKind::kMedical;
  int16_t med_type = 0;
  uint8_t hosp_lv = 0;
  uint8_t outcome = 0;  // AccidentOutcome
  uint8_t disability_grade = 0;
  Date begndate, enddate;  // accident: both the accident date
  // Medical: the ClaimField amounts. Accident: [0] medical_amount, [1] disaster_paid.
  std::array<Fen, kClaimFieldCount> amount{};

  std::string_view setl_id_view() const { return {setl_id, setl_len}; }
  std::string_view psn_no_view() const { return {psn_no, psn_len}; }
};

struct GivenAmount {
  uint8_t layer;
  Fen amount;
};

// Records in input order plus their side tables. Parse workers fill one
// RecordSet each; the batch then appends them in order.
struct RecordSet {
  std::vector<Record> records;
  std::vector<GivenAmount> given;
  std::vector<Fen> buckets;                            // records.size() * plan.buckets.size()
  std::unordered_map<uint32_t, std::string> messages;  // rejected record -> message
  std::vector<std::unique_ptr<char[]>> arenas;
  size_t arena_used = 0, arena_size = 0;

  // Copies s into the current arena; the pointer stays valid for the set's life.
  const char* keep(std::string_view s);
  void append(RecordSet&& other);
};

// The engine's view of a parsed medical record: amounts, item buckets, given layers.
MedicalClaim medical_claim_of(const Plan& plan, const RecordSet& rs, uint32_t index);

}  // namespace huibao
