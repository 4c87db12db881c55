#include "server/metrics.h"

#include <cstdio>
#include <memory>

namespace huibao::server {

Metrics::Metrics(std::vector<std::string> routes) {
  for (std::string& r : routes) {
    routes_.push_back(std::make_unique<Route>());
    routes_.back()->name = std::move(r);
  }
}

int Metrics::status_slot(int status) {
  for (size_t i = 0; i < kStatuses.size(); ++i) {
    if (kStatuses[i] == status) return int(i);
  }
  return int(kStatuses.size());  // other
}

void Metrics::observe(int route, int status, double seconds) {
  Route& r = *routes_[size_t(route)];
  r.by_status[size_t(status_slot(status))].fetch_add(1, std::memory_order_relaxed);
  size_t b = 0;
  while (b < kBucketsSeconds.size() && seconds > kBucketsSeconds[b]) ++b;
  r.buckets[b].fetch_add(1, std::memory_order_relaxed);
  r.count.fetch_add(1, std::memory_order_relaxed);
  r.sum_ns.fetch_add(int64_t(seconds * 1e9), std::memory_order_relaxed);
}

void Metrics::settlement(Code outcome, bool replayed) {
  const size_t slot = replayed ? kReplayedSlot : size_t(outcome);
  HB_ASSERT(slot < kOutcomes);
  outcomes_[slot].fetch_add(1, std::memory_order_relaxed);
}

int64_t Metrics::requests(int route, int status) const {
  return routes_[size_t(route)]->by_status[size_t(status_slot(status))].load();
}

int64_t Metrics::settlements(std::string_view outcome) const {
  if (outcome == "replayed") return outcomes_[kReplayedSlot].load();
  if (outcome == "settled") return outcomes_[0].load();
  Code c;
  if (!code_from_name(outcome, &c)) return 0;
  return outcomes_[size_t(c)].load();
}

std::string Metrics::render() const {
  std::string out;
  char buf[256];
  out +=
      "# HELP huibao_http_requests_total HTTP requests answered, by route and status code.\n"
      "# TYPE huibao_http_requests_total counter\n";
  for (const auto& r : routes_) {
    for (size_t i = 0; i <= kStatuses.size(); ++i) {
      const int64_t n = r->by_status[i].load(std::memory_order_relaxed);
      if (n == 0) continue;
      const std::string code =
          i == kStatuses.size() ? std::string("other") : std::to_string(kStatuses[i]);
      std::snprintf(buf, sizeof buf, "huibao_http_requests_total{route=\"%s\",code=\"%s\"} %lld\n",
                    r->name.c_str(), code.c_str(), (long long)n);
      out += buf;
    }
  }
  out +=
      "# HELP huibao_http_request_duration_seconds Time from request read to response ready.\n"
      "# TYPE huibao_http_request_duration_seconds histogram\n";
  for (const auto& r : routes_) {
    const int64_t count = r->count.load(std::memory_order_relaxed);
    if (count == 0) continue;
    int64_t cumulative = 0;
    for (size_t b = 0; b <= kBucketsSeconds.size(); ++b) {
      cumulative += r->buckets[b].load(std::memory_order_relaxed);
      if (b < kBucketsSeconds.size()) {
        std::snprintf(buf, sizeof buf,
                      "huibao_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %lld\n",
                      r->name.c_str(), kBucketsSeconds[b], (long long)cumulative);
      } else {
        std::snprintf(buf, sizeof buf,
                      "huibao_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} "
                      "%lld\n",
                      r->name.c_str(), (long long)count);
      }
      out += buf;
    }
    std::snprintf(buf, sizeof buf,
                  "huibao_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                  "huibao_http_request_duration_seconds_count{route=\"%s\"} %lld\n",
                  r->name.c_str(), double(r->sum_ns.load(std::memory_order_relaxed)) / 1e9,
                  r->name.c_str(), (long long)count);
    out += buf;
  }
  out +=
      "# HELP huibao_settlements_total Settlement requests (2304 and accident cases) by outcome: "
      "settled, replayed, or the refusal code.\n"
      "# TYPE huibao_settlements_total counter\n";
  for (size_t i = 0; i < kOutcomes; ++i) {
    const int64_t n = outcomes_[i].load(std::memory_order_relaxed);
    const std::string name =
        i == kReplayedSlot ? "replayed" : (i == 0 ? "settled" : std::string(code_name(Code(i))));
    std::snprintf(buf, sizeof buf, "huibao_settlements_total{outcome=\"%s\"} %lld\n", name.c_str(),
                  (long long)n);
    out += buf;
  }
  out +=
      "# HELP huibao_http_requests_in_flight Requests being handled now.\n"
      "# TYPE huibao_http_requests_in_flight gauge\n";
  std::snprintf(buf, sizeof buf, "huibao_http_requests_in_flight %lld\n",
                (long long)in_flight_.load(std::memory_order_relaxed));
  out += buf;
  return out;
}

}  // namespace huibao::server
