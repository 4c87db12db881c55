// Prometheus metrics, in memory, lock-free on the request path: per route a
// request counter per status code and a fixed-bucket latency histogram;
// settlements by outcome (settled, replayed, or the refusal code); requests in
// flight. render() writes the text exposition format (version 0.0.4).
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace huibao::server {

class Metrics {
 public:
  // Latency bucket upper bounds, in seconds (+Inf is implicit).
  static constexpr std::array<double, 14> kBucketsSeconds = {
      0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10};
  // The status codes counted one by one; any other is counted as "other".
  static constexpr std::array<int, 16> kStatuses = {200, 201, 204, 400, 401, 403, 404, 405,
                                                    409, 411, 413, 415, 422, 429, 500, 503};

  explicit Metrics(std::vector<std::string> routes);

  // route: an index into the routes given at construction.
  void observe(int route, int status, double seconds);
  void settlement(Code outcome, bool replayed);
  void in_flight(int delta) { in_flight_.fetch_add(delta, std::memory_order_relaxed); }
  int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  std::string render() const;

  int64_t requests(int route, int status) const;  // for tests
  int64_t settlements(std::string_view outcome) const;

 private:
  struct Route {
    std::string name;
    std::array<std::atomic<int64_t>, kStatuses.size() + 1> by_status{};  // + other
    std::array<std::atomic<int64_t>, kBucketsSeconds.size() + 1> buckets{};
    std::atomic<int64_t> count{0};
    std::atomic<int64_t> sum_ns{0};
  };
  static int status_slot(int status);

  std::vector<std::unique_ptr<Route>> routes_;
  // One slot per Code (kOk: settled), then one for replayed.
  static constexpr size_t kReplayedSlot = kCodeCount;
  static constexpr size_t kOutcomes = kCodeCount + 1;
  std::array<std::atomic<int64_t>, kOutcomes> outcomes_{};
  std::atomic<int64_t> in_flight_{0};
};

}  // namespace huibao::server
