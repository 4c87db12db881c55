#include "batch/claim_parse.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "core/resident_id.h"

namespace huibao {

namespace sj = simdjson;
namespace od = simdjson::ondemand;

namespace {

enum Field : int {
  kSetlId,
  kPsnNo,
  kKind,
  kMedType,
  kHospLv,
  kFixmedins,
  kBegndate,
  kEnddate,
  kMedfee,
  kFulamt,
  kOverlmt,
  kPreselfpay,
  kInscp,
  kItems,
  kGiven,
  kAccidentDate,
  kCause,
  kOutcome,
  kGrade,
  kMedicalAmount,
  kDisasterPaid,
  kFieldCount
};

constexpr std::string_view kFieldNames[kFieldCount] = {
    "setl_id",           "psn_no",          "kind",
    "med_type",          "hosp_lv",         "fixmedins_code",
    "begndate",          "enddate",         "medfee_sumamt",
    "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt",
    "inscp_scp_amt",     "items",           "given",
    "accident_date",     "cause",           "outcome",
    "disability_grade",  "medical_amount",  "disaster_paid"};

// The field a key names, or -1. Keys are compared only against the names of
// the same length, first letter first: about one memcmp for a known key.
int field_of(std::string_view key) {
  struct Index {
    std::array<std::array<int8_t, 8>, 32> by_len{};  // field candidates per key length
    Index() {
      for (auto& a : by_len) a.fill(-1);
      for (int f = 0; f < kFieldCount; ++f) {
        auto& slots = by_len[kFieldNames[f].size() & 31];
        for (auto& slot : slots) {
          if (slot < 0) {
            slot = int8_t(f);
            break;
          }
        }
      }
    }
  };
  static const Index index;
  if (key.size() >= 32) return -1;
  for (int8_t f : index.by_len[key.size()]) {
    if (f < 0) return -1;
    const std::string_view name = kFieldNames[f];
    if (name[0] == key[0] && std::memcmp(name.data(), key.data(), key.size()) == 0) return f;
  }
  return -1;
}

bool blank(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\r') return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

struct ClaimParser::Impl {
  const Plan& plan;
  const Roll& roll;
  od::parser parser;

  struct Item {
    std::string_view code;
    std::string lv;
    Fen amount;
  };
  std::vector<Item> items;
  std::vector<GivenAmount> given;
  // Records waiting for their person lookup (check 3), and the keys.
  std::vector<uint32_t> pending_index;
  std::vector<uint64_t> pending_key;
  std::vector<int64_t> found;
  static constexpr size_t kLookupBatch = 32;

  std::string error;      // first malformed-record reason
  bool json_bad = false;  // a nested value is not JSON: the line is unparseable
  std::string_view current_line;
  // Views of string fields, valid until the next document.
  std::array<std::string_view, kFieldCount> text{};
  std::array<Fen, kFieldCount> fen{};
  std::array<int64_t, kFieldCount> integer{};
  uint32_t present = 0;  // bit per Field: present and not null
  uint32_t seen = 0;     // bit per Field: the key occurred

  Impl(const Plan& p, const Roll& r) : plan(p), roll(r) {}

  void malformed(std::string msg) {
    if (error.empty()) error = std::move(msg);
  }

  // Reads an amount: a JSON number exact to the fen or a decimal string.
  bool read_amount(od::value v, std::string_view name, Fen* out) {
    od::json_type t;
    if (v.type().get(t)) {
      malformed(std::string(name) + " is not valid JSON");
      return false;
    }
    AmountSyntax syn;
    std::string_view shown;
    if (t == od::json_type::number) {
      std::string_view tok = trim(v.raw_json_token());
      shown = tok;
      syn = parse_json_number_fen(tok, out);
    } else if (t == od::json_type::string) {
      std::string_view s;
      if (v.get_string().get(s)) {
        malformed(std::string(name) + " is not a valid string");
        return false;
      }
      shown = s;
      syn = parse_decimal_string_fen(s, out);
    } else {
      malformed(std::string(name) + " must be an amount (a number or a string such as \"12.50\")");
      return false;
    }
    switch (syn) {
      case AmountSyntax::kOk:
        return true;
      case AmountSyntax::kNotExactFen:
        malformed(std::string(name) + " " + std::string(shown.substr(0, 40)) +
                  " is not exact to the fen (at most two decimals)");
        return false;
      case AmountSyntax::kOutOfRange:
        malformed(std::string(name) + " is outside the N16,2 range ±99999999999999.99");
        return false;
      case AmountSyntax::kBadSyntax:
        break;
    }
    malformed(std::string(name) + " \"" + std::string(shown.substr(0, 40)) +
              "\" is not an amount of the form -?digits[.d[d]]");
    return false;
  }

  bool read_string(od::value v, std::string_view name, std::string_view* out) {
    if (v.get_string().get(*out)) {
      malformed(std::string(name) + " must be a string");
      return false;
    }
    return true;
  }

  // An integer given as a JSON integer or a string of digits ("21").
  bool read_code(od::value v, std::string_view name, int64_t* out) {
    od::json_type t;
    if (v.type().get(t)) {
      malformed(std::string(name) + " is not valid JSON");
      return false;
    }
    std::string_view s;
    if (t == od::json_type::number) {
      s = trim(v.raw_json_token());
    } else if (t == od::json_type::string) {
      if (v.get_string().get(s)) return false;
    } else {
      malformed(std::string(name) + " must be an integer code");
      return false;
    }
    if (s.empty() || s.size() > 4 ||
        !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      malformed(std::string(name) + " must be an integer code of at most 4 digits");
      return false;
    }
    int64_t n = 0;
    for (char c : s) n = n * 10 + (c - '0');
    *out = n;
    return true;
  }

  void read_items(od::value v) {
    od::array arr;
    if (v.get_array().get(arr)) {
      malformed("items must be an array of {code, chrgitm_lv, amount}");
      return;
    }
    for (auto el : arr) {
      od::object obj;
      if (el.get_object().get(obj)) {
        malformed("each item must be an object {code, chrgitm_lv, amount}");
        return;
      }
      Item it{};
      bool has_code = false, has_lv = false, has_amount = false;
      for (auto f : obj) {
        std::string_view k;
        if (f.unescaped_key().get(k)) {
          malformed("items: bad key");
          return;
        }
        od::value fv = f.value();
        if (k == "code") {
          if (has_code) return malformed("items[].code appears twice");
          if (!read_string(fv, "items[].code", &it.code)) return;
          has_code = true;
        } else if (k == "chrgitm_lv") {
          if (has_lv) return malformed("items[].chrgitm_lv appears twice");
          int64_t lv;
          od::json_type t;
          if (fv.type().get(t)) return malformed("items[].chrgitm_lv is not valid JSON");
          if (t == od::json_type::string) {
            std::string_view s;
            if (!read_string(fv, "items[].chrgitm_lv", &s)) return;
            it.lv = std::string(s);
            if (it.lv.size() == 1 && it.lv[0] >= '0' && it.lv[0] <= '9')
              it.lv.insert(it.lv.begin(), '0');
          } else {
            if (!read_code(fv, "items[].chrgitm_lv", &lv)) return;
            it.lv = std::to_string(lv);
            if (lv < 10) it.lv.insert(it.lv.begin(), '0');
          }
          has_lv = true;
        } else if (k == "amount") {
          if (has_amount) return malformed("items[].amount appears twice");
          if (!read_amount(fv, "items[].amount", &it.amount)) return;
          has_amount = true;
        } else if (!valid_json(fv, 2)) {
          json_bad = true;
          return;
        }
      }
      if (!has_code || !has_lv || !has_amount || it.code.empty() || it.lv.empty()) {
        malformed("each item needs a non-empty code, chrgitm_lv and amount");
        return;
      }
      if (items.size() == limits::kItemsPerClaimMax) {
        malformed("more than " + std::to_string(limits::kItemsPerClaimMax) + " items");
        return;
      }
      items.push_back(std::move(it));
    }
  }

  void read_given(od::value v) {
    od::object obj;
    if (v.get_object().get(obj)) {
      malformed("given must be an object such as {\"hifp_pay\": \"812.00\"}");
      return;
    }
    for (auto f : obj) {
      std::string_view k;
      if (f.unescaped_key().get(k)) return malformed("given: bad key");
      int layer = -1;
      if (k.size() > 4 && k.substr(k.size() - 4) == "_pay")
        layer = plan.find_layer(k.substr(0, k.size() - 4));
      if (layer < 0) {
        malformed("given key '" + std::string(k.substr(0, 40)) +
                  "' is not <layer>_pay for a layer of plan " + plan.id);
        return;
      }
      for (const GivenAmount& g : given) {
        if (g.layer == layer) return malformed("given key '" + std::string(k) + "' appears twice");
      }
      Fen a;
      if (!read_amount(f.value(), k, &a)) return;
      given.push_back({uint8_t(layer), a});
    }
  }

  // Walks a value that is not used, so that it too must be valid JSON: On-Demand
  // would skip it unread (and unchecked). Only unknown fields take this path.
  bool valid_json(od::value v, int depth) {
    if (depth > limits::kJsonDepthMax) return false;
    od::json_type t;
    if (v.type().get(t)) return false;
    switch (t) {
      case od::json_type::object: {
        od::object o;
        if (v.get_object().get(o)) return false;
        for (auto f : o) {
          std::string_view k;
          od::value fv;
          if (f.unescaped_key().get(k) || f.value().get(fv) || !valid_json(fv, depth + 1))
            return false;
        }
        return true;
      }
      case od::json_type::array: {
        od::array a;
        if (v.get_array().get(a)) return false;
        for (auto el : a) {
          od::value ev;
          if (el.get(ev) || !valid_json(ev, depth + 1)) return false;
        }
        return true;
      }
      case od::json_type::number: {
        Fen ignored;
        return parse_json_number_fen(trim(v.raw_json_token()), &ignored) !=
               AmountSyntax::kBadSyntax;
      }
      case od::json_type::string: {
        std::string_view ignored;
        return !v.get_string().get(ignored);
      }
      case od::json_type::boolean: {
        bool ignored;
        return !v.get_bool().get(ignored);
      }
      case od::json_type::null: {
        bool is_null = false;
        return !v.is_null().get(is_null) && is_null;
      }
    }
    return false;
  }

  // Reads every field of the object; returns false when the JSON itself is bad.
  bool read_fields(od::object obj) {
    for (auto f : obj) {
      std::string_view key;
      if (f.unescaped_key().get(key)) return false;
      const int fi = field_of(key);
      od::value v;
      if (f.value().get(v)) return false;
      if (fi < 0) {  // fields we do not use are allowed and ignored, but must be JSON
        if (!valid_json(v, 0)) return false;
        continue;
      }
      if ((seen >> fi) & 1) {  // null or not, a second occurrence is malformed
        if (!valid_json(v, 0)) return false;
        malformed("field " + std::string(key) + " appears twice");
        continue;
      }
      seen |= 1u << fi;
      bool is_null = false;
      if (v.is_null().get(is_null)) return false;  // a token like `nul` is not JSON
      if (is_null) continue;                       // null counts as missing
      present |= 1u << fi;
      switch (fi) {
        case kSetlId:
        case kPsnNo:
        case kKind:
        case kFixmedins:
        case kBegndate:
        case kEnddate:
        case kAccidentDate:
        case kCause:
        case kOutcome:
          if (!read_string(v, key, &text[size_t(fi)])) present &= ~(1u << fi);
          break;
        case kMedType:
        case kHospLv:
        case kGrade:
          if (!read_code(v, key, &integer[size_t(fi)])) present &= ~(1u << fi);
          break;
        case kItems:
          read_items(v);
          break;
        case kGiven:
          read_given(v);
          break;
        default:
          if (!read_amount(v, key, &fen[size_t(fi)])) present &= ~(1u << fi);
          break;
      }
    }
    return true;
  }

  bool has(int f) const { return (present >> f) & 1; }

  void require(std::initializer_list<int> fields) {
    for (int f : fields) {
      if (!has(f)) {
        malformed("required field " + std::string(kFieldNames[f]) +
                  " is missing, null or of the wrong type");
        return;
      }
    }
  }

  void parse(std::string_view line, RecordSet* out) {
    current_line = line;
    items.clear();
    given.clear();
    error.clear();
    json_bad = false;
    present = 0;
    seen = 0;
    text.fill({});  // absent optional fields read as empty / zero, never as the last record's
    fen.fill(0);
    integer.fill(0);
    Record r;
    const uint32_t index = uint32_t(out->records.size());
    auto reject = [&](Code code, std::string msg) {
      r.code = code;
      out->messages.emplace(index, std::move(msg));
    };
    if (line.size() > limits::kClaimLineBytesMax) {
      reject(Code::kMalformedRecord,
             "line longer than " + std::to_string(limits::kClaimLineBytesMax) + " bytes");
      finish(r, out);
      return;
    }
    od::document doc;
    od::object obj;
    bool json_ok =
        !parser.iterate(line.data(), line.size(), line.size() + kPadding).get(doc) &&
        !doc.get_object().get(obj) && read_fields(obj) && !json_bad &&
        doc.current_location().error() == sj::OUT_OF_BOUNDS;  // nothing trails the object
    if (!json_ok) {
      reject(Code::kMalformedRecord, "not a JSON object");
      finish(r, out);
      return;
    }
    check(r, out);
    if (!error.empty() && r.code == Code::kOk) r.code = Code::kMalformedRecord;
    if (r.code != Code::kOk && !out->messages.count(index)) out->messages.emplace(index, error);
    // Echo setl_id and psn_no when they are non-empty strings.
    r.text = out->text.size();
    if (has(kSetlId) && !text[kSetlId].empty() && text[kSetlId].size() <= limits::kSetlIdBytesMax) {
      out->text += text[kSetlId];
      r.setl_len = uint8_t(text[kSetlId].size());
    }
    if (has(kPsnNo) && !text[kPsnNo].empty() && text[kPsnNo].size() <= limits::kPsnNoEchoBytesMax) {
      out->text += text[kPsnNo];
      r.psn_len = uint8_t(text[kPsnNo].size());
    }
    finish(r, out);
  }

  // Checks 1..7 in order; the first failure sets r.code (and error or a message).
  void check(Record& r, RecordSet* out) {
    const uint32_t index = uint32_t(out->records.size());
    auto reject = [&](Code code, std::string msg) {
      r.code = code;
      out->messages.emplace(index, std::move(msg));
    };
    // 1. malformed_record
    if (!has(kSetlId) || text[kSetlId].empty()) {
      malformed("setl_id must be a non-empty string");
    } else if (text[kSetlId].size() > limits::kSetlIdBytesMax) {
      malformed("setl_id is longer than " + std::to_string(limits::kSetlIdBytesMax) + " bytes");
    }
    if (!error.empty()) return;
    std::string_view kind = has(kKind) ? text[kKind] : "medical";
    if (kind == "medical") {
      r.kind = RecordKind::kMedical;
      require({kPsnNo, kMedType, kHospLv, kFixmedins, kBegndate, kEnddate, kMedfee, kFulamt,
               kOverlmt, kPreselfpay, kInscp});
      if (error.empty() && (integer[kHospLv] < 1 || integer[kHospLv] > 3))
        malformed("hosp_lv must be 1, 2 or 3");
    } else if (kind == "accident") {
      r.kind = RecordKind::kAccident;
      if (plan.accident_product < 0) {
        malformed("plan " + plan.id + " has no accident product");
        return;
      }
      require({kPsnNo, kAccidentDate, kCause, kOutcome});
      if (!error.empty()) return;
      std::string_view oc = text[kOutcome];
      if (oc == "death") {
        r.outcome = uint8_t(AccidentOutcome::kDeath);
      } else if (oc == "disability") {
        r.outcome = uint8_t(AccidentOutcome::kDisability);
        if (!has(kGrade) || integer[kGrade] < 1 || integer[kGrade] > 10)
          malformed("disability_grade must be 1..10 for a disability");
        r.disability_grade = uint8_t(integer[kGrade]);
      } else if (oc == "medical") {
        r.outcome = uint8_t(AccidentOutcome::kMedical);
        if (!has(kMedicalAmount)) malformed("medical_amount is required for a medical outcome");
      } else {
        malformed("outcome must be death, disability or medical");
      }
    } else {
      malformed("unknown kind '" + std::string(kind.substr(0, 40)) + "' (medical or accident)");
    }
    if (!error.empty()) return;
    if (text[kFixmedins].size() > limits::kFieldBytesMax ||
        text[kCause].size() > limits::kFieldBytesMax)
      return malformed("a text field is longer than " + std::to_string(limits::kFieldBytesMax) +
                       " bytes");

    // 2. invalid_psn_no
    std::string_view psn = text[kPsnNo];
    if (!resident_id_checksum_ok(psn))
      return reject(Code::kInvalidPsnNo,
                    "psn_no is not 17 digits plus a check character that matches GB 11643");
    // 3. unknown_person
    // 3. unknown_person: looked up in batches by resolve(), whose answer
    // overrides whatever checks 4-7 below decide.
    pending_index.push_back(index);
    pending_key.push_back(Roll::key_of(psn));

    // 4. invalid_dates, 5. outside_plan_year
    if (r.kind == RecordKind::kMedical) {
      if (!parse_date(text[kBegndate], &r.begndate) || !parse_date(text[kEnddate], &r.enddate))
        return reject(Code::kInvalidDates, "begndate and enddate must be real dates YYYY-MM-DD");
      if (r.enddate < r.begndate) return reject(Code::kInvalidDates, "enddate is before begndate");
      if (!plan.in_period(r.begndate))
        return reject(Code::kOutsidePlanYear, "begndate " + std::string(text[kBegndate]) +
                                                  " is outside the plan year " +
                                                  date_to_string(plan.period_begin) + ".." +
                                                  date_to_string(plan.period_end));
    } else {
      if (!parse_date(text[kAccidentDate], &r.begndate))
        return reject(Code::kInvalidDates, "accident_date must be a real date YYYY-MM-DD");
      r.enddate = r.begndate;
      if (!plan.in_period(r.begndate))
        return reject(Code::kOutsidePlanYear, "accident_date " + std::string(text[kAccidentDate]) +
                                                  " is outside the plan year " +
                                                  date_to_string(plan.period_begin) + ".." +
                                                  date_to_string(plan.period_end));
    }

    // 6. negative_amount
    if (r.kind == RecordKind::kMedical) {
      for (int f = kMedfee; f <= kInscp; ++f) {
        if (fen[size_t(f)] < 0)
          return reject(Code::kNegativeAmount, std::string(kFieldNames[f]) + " is negative");
      }
      for (const Item& it : items) {
        if (it.amount < 0) return reject(Code::kNegativeAmount, "an item amount is negative");
      }
      for (const GivenAmount& g : given) {
        if (g.amount < 0)
          return reject(Code::kNegativeAmount, plan.layers[g.layer].id + "_pay is negative");
      }
    } else {
      if (fen[kMedicalAmount] < 0)
        return reject(Code::kNegativeAmount, "medical_amount is negative");
      if (fen[kDisasterPaid] < 0) return reject(Code::kNegativeAmount, "disaster_paid is negative");
    }

    // 7. amounts_inconsistent
    if (r.kind == RecordKind::kMedical) {
      Fen parts = fen[kFulamt] + fen[kOverlmt] + fen[kPreselfpay] + fen[kInscp];
      if (parts != fen[kMedfee])
        return reject(Code::kAmountsInconsistent,
                      "medfee_sumamt " + fen_to_string(fen[kMedfee]) +
                          " != fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt + "
                          "inscp_scp_amt = " +
                          fen_to_string(parts));
      __int128 level3 = 0;  // up to kItemsPerClaimMax amounts of N16,2: wider than int64
      for (const Item& it : items) {
        if (it.lv == "03") level3 += it.amount;
      }
      if (level3 > fen[kFulamt])
        return reject(Code::kAmountsInconsistent, "chrgitm_lv 03 items exceed fulamt_ownpay_amt " +
                                                      fen_to_string(fen[kFulamt]));
    }
  }

  // Check 3 for the pending records: the person, or unknown_person, which
  // takes precedence over checks 4-7.
  void resolve(RecordSet* out) {
    const size_t n = pending_key.size();
    found.resize(n);
    roll.find_keys(pending_key.data(), n, found.data());
    for (size_t k = 0; k < n; ++k) {
      const uint32_t i = pending_index[k];
      Record& r = out->records[i];
      if (found[k] >= 0) {
        r.person = uint32_t(found[k]);
      } else {
        r.code = Code::kUnknownPerson;
        out->messages.insert_or_assign(i, "psn_no is not on the roll");
        out->wide.erase(i);  // a rejected record keeps no amounts
      }
    }
    pending_index.clear();
    pending_key.clear();
  }

  void parse_lines(std::string_view p, RecordSet* out) {
    size_t pos = 0;
    while (pos < p.size()) {
      size_t nl = p.find('\n', pos);
      size_t len = (nl == std::string_view::npos ? p.size() : nl) - pos;
      std::string_view line = p.substr(pos, len);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!blank(line)) {
        parse(line, out);
        if (pending_key.size() == kLookupBatch) resolve(out);
      }
      pos += len + 1;
    }
    resolve(out);
  }

  void finish(Record& r, RecordSet* out) {
    if (r.code == Code::kOk) {
      if (r.kind == RecordKind::kMedical) {
        r.med_type = int16_t(integer[kMedType]);
        r.hosp_lv = uint8_t(integer[kHospLv]);
        std::array<Fen, kClaimFieldCount> a;
        for (int f = 0; f < kClaimFieldCount; ++f) a[size_t(f)] = fen[size_t(kMedfee + f)];
        out->set_amounts(&r, uint32_t(out->records.size()), a);
        r.given_first = uint32_t(out->given.size());
        r.given_count = uint8_t(given.size());
        out->given.insert(out->given.end(), given.begin(), given.end());
        if (out->keep_raw) {  // kept for the store, in the cause slot (see Record::text)
          out->text += text[kFixmedins];
          r.cause_len = uint16_t(text[kFixmedins].size());
        }
      } else {
        out->set_amounts(&r, uint32_t(out->records.size()),
                         {fen[kMedicalAmount], fen[kDisasterPaid], 0, 0, 0});
        out->text += text[kCause];  // after setl_id (and psn_no): see Record::text
        r.cause_len = uint16_t(text[kCause].size());
      }
    }
    // Bucket sums are stored for every record so indexing stays positional.
    const size_t nb = plan.buckets.size();
    if (nb > 0) {
      MedicalClaim c;
      if (r.code == Code::kOk && r.kind == RecordKind::kMedical) {
        for (const Item& it : items)
          add_item_to_buckets(plan, it.code, it.lv, it.amount, r.begndate, r.enddate, &c);
      }
      out->buckets.insert(out->buckets.end(), c.bucket.begin(), c.bucket.begin() + long(nb));
    }
    out->records.push_back(r);
    if (out->keep_raw) {  // settleable lines only: a rejected one is never stored
      const bool kept = r.code == Code::kOk;
      out->raw_at.push_back(kept ? uint64_t(current_line.data() - out->raw_origin) : 0);
      out->raw_len.push_back(kept ? uint32_t(current_line.size()) : 0);
    }
  }
};

ClaimParser::ClaimParser(const Plan& plan, const Roll& roll)
    : impl_(std::make_unique<Impl>(plan, roll)) {}
ClaimParser::~ClaimParser() = default;

void ClaimParser::parse_lines(std::string_view lines, RecordSet* out) {
  impl_->parse_lines(lines, out);
}

void ClaimParser::parse(std::string_view line, RecordSet* out) {
  impl_->parse(line, out);
  impl_->resolve(out);
}

}  // namespace huibao
