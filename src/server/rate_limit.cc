#include "server/rate_limit.h"

#include <algorithm>

namespace huibao::server {

bool RateLimiter::use(Bucket& b, std::chrono::steady_clock::time_point now, bool take,
                      double* retry_after_s) {
  std::lock_guard lock(b.mu);
  const double elapsed = std::chrono::duration<double>(now - b.last).count();
  if (elapsed > 0) {
    b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
    b.last = now;
  }
  if (b.tokens >= 1) {
    if (take) b.tokens -= 1;
    return true;
  }
  *retry_after_s = (1 - b.tokens) / rate_;
  return false;
}

void RateLimiter::drop_one(std::chrono::steady_clock::time_point now) {
  // Under the exclusive lock: no one else holds a bucket.
  size_t dropped = 0;
  auto oldest = buckets_.end();
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    const Bucket& b = *it->second;
    const double elapsed = std::chrono::duration<double>(now - b.last).count();
    if (b.tokens + std::max(0.0, elapsed) * rate_ >= burst_) {
      it = buckets_.erase(it);
      ++dropped;
      continue;
    }
    if (oldest == buckets_.end() || b.last < oldest->second->last) oldest = it;
    ++it;
  }
  if (dropped == 0 && oldest != buckets_.end()) buckets_.erase(oldest);
}

bool RateLimiter::admit_at(std::string_view name, std::chrono::steady_clock::time_point now,
                           double* retry_after_s) {
  const std::string key(name);
  {
    std::shared_lock lock(mu_);
    auto it = buckets_.find(key);
    if (it != buckets_.end()) return use(*it->second, now, true, retry_after_s);
  }
  std::unique_lock lock(mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_max_ > 0 && buckets_.size() >= buckets_max_) drop_one(now);
    it = buckets_.emplace(key, std::make_unique<Bucket>()).first;
    it->second->tokens = burst_;
    it->second->last = now;
  }
  return use(*it->second, now, true, retry_after_s);
}

bool RateLimiter::peek_at(std::string_view name, std::chrono::steady_clock::time_point now,
                          double* retry_after_s) {
  std::shared_lock lock(mu_);
  auto it = buckets_.find(std::string(name));
  return it == buckets_.end() || use(*it->second, now, false, retry_after_s);
}

bool RateLimiter::admit(std::string_view name, double* retry_after_s) {
  return admit_at(name, std::chrono::steady_clock::now(), retry_after_s);
}

bool RateLimiter::peek(std::string_view name, double* retry_after_s) {
  return peek_at(name, std::chrono::steady_clock::now(), retry_after_s);
}

size_t RateLimiter::buckets() {
  std::shared_lock lock(mu_);
  return buckets_.size();
}

}  // namespace huibao::server
