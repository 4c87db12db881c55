#include "server/rate_limit.h"

#include <algorithm>

namespace huibao::server {

RateLimiter::Bucket* RateLimiter::bucket(std::string_view key_id,
                                         std::chrono::steady_clock::time_point now) {
  {
    std::shared_lock lock(mu_);
    auto it = buckets_.find(std::string(key_id));
    if (it != buckets_.end()) return it->second.get();
  }
  // Keys are authenticated before they get here, so the map holds one
  // bucket per real key and cannot be grown by strangers.
  std::unique_lock lock(mu_);
  auto [it, inserted] = buckets_.try_emplace(std::string(key_id));
  if (inserted) {
    it->second = std::make_unique<Bucket>();
    it->second->tokens = burst_;
    it->second->last = now;
  }
  return it->second.get();
}

bool RateLimiter::admit_at(std::string_view key_id, std::chrono::steady_clock::time_point now,
                           double* retry_after_s) {
  Bucket* b = bucket(key_id, now);
  std::lock_guard lock(b->mu);
  const double elapsed = std::chrono::duration<double>(now - b->last).count();
  if (elapsed > 0) {
    b->tokens = std::min(burst_, b->tokens + elapsed * rate_);
    b->last = now;
  }
  if (b->tokens >= 1) {
    b->tokens -= 1;
    return true;
  }
  *retry_after_s = (1 - b->tokens) / rate_;
  return false;
}

bool RateLimiter::admit(std::string_view key_id, double* retry_after_s) {
  return admit_at(key_id, std::chrono::steady_clock::now(), retry_after_s);
}

}  // namespace huibao::server
