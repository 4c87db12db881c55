// Request rate limits: a token bucket per API key (refilled at `rate` tokens
// a second up to `burst`). A request takes one token or is refused with 429
// and the seconds until a token is back (Retry-After).
#pragma once
#include <chrono>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace huibao::server {

class RateLimiter {
 public:
  RateLimiter(double rate_per_second, double burst) : rate_(rate_per_second), burst_(burst) {}
  // True when the key may make a request now; else *retry_after_s is set.
  bool admit(std::string_view key_id, double* retry_after_s);
  // The same with an explicit clock (tests).
  bool admit_at(std::string_view key_id, std::chrono::steady_clock::time_point now,
                double* retry_after_s);

 private:
  struct Bucket {
    std::mutex mu;
    double tokens;
    std::chrono::steady_clock::time_point last;
  };
  Bucket* bucket(std::string_view key_id, std::chrono::steady_clock::time_point now);

  double rate_, burst_;
  std::shared_mutex mu_;  // guards the map; each bucket has its own lock
  std::unordered_map<std::string, std::unique_ptr<Bucket>> buckets_;
};

}  // namespace huibao::server
