// Request rate limits: a token bucket per name (an API key, or a client
// address for failed authentications), refilled at `rate` tokens a second up
// to `burst`. A request takes one token or is refused with 429 and the
// seconds until a token is back (Retry-After). With buckets_max, a new name
// at the limit first drops the buckets that are full again (as good as
// none), else the one idle longest.
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
  RateLimiter(double rate_per_second, double burst, size_t buckets_max = 0)
      : rate_(rate_per_second), burst_(burst), buckets_max_(buckets_max) {}
  // True when the name may make a request now (a token is taken); else
  // *retry_after_s is set.
  bool admit(std::string_view name, double* retry_after_s);
  // The same with an explicit clock (tests).
  bool admit_at(std::string_view name, std::chrono::steady_clock::time_point now,
                double* retry_after_s);
  // Whether a token is there, without taking it (nor making a bucket).
  bool peek(std::string_view name, double* retry_after_s);
  bool peek_at(std::string_view name, std::chrono::steady_clock::time_point now,
               double* retry_after_s);
  size_t buckets();

 private:
  struct Bucket {
    std::mutex mu;
    double tokens;
    std::chrono::steady_clock::time_point last;
  };
  bool use(Bucket& b, std::chrono::steady_clock::time_point now, bool take, double* retry_after_s);
  void drop_one(std::chrono::steady_clock::time_point now);

  double rate_, burst_;
  size_t buckets_max_;  // 0: no limit
  // Guards the map, and keeps buckets alive while a shared holder uses one;
  // each bucket has its own lock for its tokens.
  std::shared_mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Bucket>> buckets_;
};

}  // namespace huibao::server
