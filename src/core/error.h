// The one registry of huibao's stable error codes. Codes are data: their
// names appear in files and APIs and never change meaning. Claim rejection
// codes are ordered by precedence (DOMAIN.md §6): the first that applies wins.
#pragma once
#include <string>
#include <string_view>
#include <utility>

namespace huibao {

enum class Code : unsigned char {
  kOk = 0,
  // Claim rejections, in order of precedence.
  kMalformedRecord,
  kInvalidPsnNo,
  kUnknownPerson,
  kInvalidDates,
  kOutsidePlanYear,
  kNegativeAmount,
  kAmountsInconsistent,
  kDuplicateSetlId,
  kGivenExceedsBase,
  // Everything else.
  kPlanInvalid,
  kRollInvalid,
  kIoError,
  kLimitExceeded,
  // The store (src/store): a database failure, a constraint the data broke
  // (unique or foreign key), a lock not obtained in time (retryable), and a
  // schema this binary cannot work with (newer, or an applied migration changed).
  kStoreError,
  kStoreConstraint,
  kStoreBusy,
  kStoreSchema,
  // Online services (src/service, the API): what was asked for does not
  // exist; the service is shutting down or not ready (retry elsewhere/later).
  kNotFound,
  kUnavailable,  // the last: kCodeCount follows from it
};
inline constexpr size_t kCodeCount = size_t(Code::kUnavailable) + 1;

inline constexpr int kClaimRejectionCodes = 9;  // kMalformedRecord..kGivenExceedsBase

std::string_view code_name(Code c);
// Parses a stable name back into its code; false when the name is unknown.
bool code_from_name(std::string_view name, Code* out);

// A [[nodiscard]] status: a code plus a message telling the user what to fix.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string to_string() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the status explaining why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // NOLINT
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() { return value_; }
  const T& value() const { return value_; }
  T& operator*() { return value_; }
  T* operator->() { return &value_; }

 private:
  Status status_;
  T value_{};
};

// Assertions for programmer errors; left on in release builds.
[[noreturn]] void assert_fail(const char* expr, const char* file, int line);
#define HB_ASSERT(e) ((e) ? (void)0 : ::huibao::assert_fail(#e, __FILE__, __LINE__))

}  // namespace huibao
