// TEMPORARY (branch api only): a stand-in for the lead's OnlineSettler so the
// HTTP server links and its non-settlement endpoints can be tested. It keeps
// the plans and answers every settlement call with store_error. Deleted
// before main (with the real online_settle.cc) is merged in.
#include "service/online_settle.h"

namespace huibao {

struct OnlineSettler::Impl {
  std::vector<OnlinePlan> plans;
};

namespace {
Status pending() {
  return Status(Code::kStoreError, "online settlement is not implemented in this build yet");
}
}  // namespace

OnlineSettler::OnlineSettler() : impl_(std::make_unique<Impl>()) {}
OnlineSettler::~OnlineSettler() = default;

Result<std::unique_ptr<OnlineSettler>> OnlineSettler::open(const OnlineOptions&,
                                                           std::vector<OnlinePlan> plans) {
  std::unique_ptr<OnlineSettler> s(new OnlineSettler());
  s->impl_->plans = std::move(plans);
  return s;
}
Result<OnlineOutcome> OnlineSettler::presettle(std::string_view, std::string_view, bool) {
  return pending();
}
Result<OnlineOutcome> OnlineSettler::settle(std::string_view, std::string_view, bool,
                                            std::string_view) {
  return pending();
}
Result<ReversalReport> OnlineSettler::reverse(std::string_view, std::string_view,
                                              std::string_view) {
  return pending();
}
Result<StoredSettlement> OnlineSettler::find_settlement(std::string_view) { return pending(); }
Result<std::string> OnlineSettler::benefits_json(const BenefitsQuery&) { return pending(); }
const std::vector<OnlinePlan>& OnlineSettler::plans() const { return impl_->plans; }
void OnlineSettler::drain() {}

}  // namespace huibao
