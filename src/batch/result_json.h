// Writes results.jsonl lines (DOMAIN.md §6) straight into a byte buffer:
// amounts as strings with exactly two decimals, layers in plan order. The
// fixed parts of a line are rendered once per plan.
#pragma once
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/money.h"
#include "policy/plan.h"

namespace huibao {

// A growable output buffer that is written through raw pointers: reserve()
// an upper bound, write, commit() the end. Never zero-fills; keeps its
// capacity across clear() so a reused buffer costs no page faults.
class ByteBuf {
 public:
  char* reserve(size_t n) {
    if (cap_ - size_ < n) grow(n);
    return buf_.get() + size_;
  }
  void commit(const char* end) { size_ = size_t(end - buf_.get()); }
  void append(std::string_view s) {
    char* p = reserve(s.size());
    s.copy(p, s.size());
    size_ += s.size();
  }
  void clear() { size_ = 0; }
  const char* data() const { return buf_.get(); }
  size_t size() const { return size_; }
  std::string_view view() const { return {buf_.get(), size_}; }

 private:
  void grow(size_t n);
  std::unique_ptr<char[]> buf_;
  size_t size_ = 0, cap_ = 0;
};

struct ResultView {
  std::string_view setl_id;  // empty: written as null
  std::string_view psn_no;   // empty: written as null
  Code error = Code::kOk;    // kOk: settled
  std::string_view message;  // when rejected
  bool accident = false;
  Fen medfee_sumamt = 0, inscp_scp_amt = 0;  // medical
  const Fen* pay = nullptr;                  // per plan layer (accident: [0])
  // {fund_pay_sumamt, hosp_part_amt} when known already (a stored row);
  // otherwise summed from pay by each layer's payer.
  const Fen* totals = nullptr;
  const std::vector<std::string>* explain = nullptr;
};

class ResultWriter {
 public:
  explicit ResultWriter(const Plan& plan);
  // For lines whose totals come with them (ResultView::totals): the layer
  // ids alone, in plan order.
  explicit ResultWriter(std::span<const std::string> layer_ids);
  void write(const ResultView& v, ByteBuf* out) const;

 private:
  size_t bound(const ResultView& v) const;
  void add_layer(std::string_view id, bool hospital);
  std::vector<std::string> layer_key_;  // `"hifp":"`, with a leading comma after the first
  std::vector<bool> hospital_;          // layer paid by the hospital
  size_t layers_bytes_ = 0;
};

// Writes s as a JSON string literal, escaping quotes, backslashes and
// controls; p needs 2 + 6 * s.size() bytes. Returns the new end.
char* write_json_string(std::string_view s, char* p);
void append_json_string(std::string_view s, std::string* out);

}  // namespace huibao
