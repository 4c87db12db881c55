// api_load: a load client for huibao serve's settlement endpoint.
//
// Posts the claims of a claims.jsonl file (one JSON claim a line) to
// POST /api/v1/settlements from CONNECTIONS keep-alive connections, each
// claim once in file order (the file wraps if the run outlasts it, and the
// wrapped claims come back as replays). Two modes:
//
//   closed loop (--rate 0): every connection sends its next claim as soon as
//     the last one is answered, so CONNECTIONS requests are always in flight
//     and the run measures the server at saturation;
//   open loop (--rate R): claim n is due at start + n / R seconds, on
//     connection n mod CONNECTIONS; latency is counted from when the claim
//     was due, not from when it was sent, so a stalled server is charged for
//     the claims that queued behind the stall (no "coordinated omission").
//     This is how "sustains R settlements/s with p99 under X" is measured.
//
// Prints the answers by status, the durable settlements per second, latency
// percentiles, and one line per second of the run (answers and their p99),
// so a noisy machine's stalls can be told apart from a steady slowdown.
// Exits 1 if any answer was not a 200, or was a replay though no claim was
// sent twice.
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string key;
  std::string claims;
  int connections = 64;
  double rate = 0;  // claims per second; 0: closed loop
  double seconds = 30;
  bool explain = false;
};

// One answer (or failure) as a connection saw it.
struct Sample {
  uint32_t second;      // of the run, when answered
  uint32_t latency_us;  // from due (open loop) or sent (closed loop) to answered
  uint32_t service_us;  // from sent to answered
  int status;           // HTTP status, or -1 - httplib::Error when there was no answer
  bool replayed;
};

double percentile(std::vector<uint32_t>& v, double p) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, size_t(p / 100.0 * double(v.size())));
  std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(i), v.end());
  return v[i] / 1000.0;
}

std::string spread(std::vector<uint32_t> v) {
  if (v.empty()) return "none";
  const double p50 = percentile(v, 50), p90 = percentile(v, 90), p99 = percentile(v, 99),
               p999 = percentile(v, 99.9);
  const double max = *std::max_element(v.begin(), v.end()) / 1000.0;
  char line[160];
  std::snprintf(line, sizeof line,
                "p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms", p50, p90, p99,
                p999, max);
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Load client for POST /api/v1/settlements (see bench/api_load.sh)"};
  app.add_option("--host", o.host, "server address");
  app.add_option("--port", o.port, "server port")->required()->check(CLI::Range(1, 65535));
  app.add_option("--key", o.key, "API key of the hospital whose claims these are")->required();
  app.add_option("--claims", o.claims, "claims.jsonl, one claim a line")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--connections", o.connections, "keep-alive connections")
      ->check(CLI::Range(1, 4096));
  app.add_option("--rate", o.rate, "claims due per second (open loop); 0: closed loop")
      ->check(CLI::Range(0.0, 1e7));
  app.add_option("--seconds", o.seconds, "length of the run")->check(CLI::Range(0.1, 86400.0));
  app.add_option("--explain", o.explain, "ask for the explanation lines (true/false)");
  CLI11_PARSE(app, argc, argv);

  std::vector<std::string> lines;
  {
    std::ifstream in(o.claims);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) lines.push_back(std::move(line));
  }
  if (lines.empty()) {
    std::fprintf(stderr, "api_load: %s holds no claims\n", o.claims.c_str());
    return 2;
  }
  const std::string path =
      std::string("/api/v1/settlements?explain=") + (o.explain ? "true" : "false");
  const httplib::Headers headers = {{"Authorization", "Bearer " + o.key}};
  const bool open_loop = o.rate > 0;
  const auto length =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));

  std::atomic<uint64_t> next{0};  // closed loop: the next claim to send
  std::atomic<uint64_t> late{0};  // open loop: claims sent over 1 ms after they were due
  std::vector<std::vector<Sample>> samples(size_t(o.connections));
  const Clock::time_point t0 = Clock::now() + std::chrono::milliseconds(100);
  std::vector<std::thread> threads;
  for (int c = 0; c < o.connections; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client cli(o.host, o.port);
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);  // headers and body go in two writes
      cli.set_connection_timeout(5);
      cli.set_read_timeout(10);
      cli.set_write_timeout(10);
      std::vector<Sample>& mine = samples[size_t(c)];
      std::this_thread::sleep_until(t0);
      for (uint64_t k = 0;; ++k) {
        uint64_t n;
        Clock::time_point due;
        if (open_loop) {
          n = k * uint64_t(o.connections) + uint64_t(c);
          due = t0 + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(double(n) / o.rate));
          if (due - t0 >= length) break;
          std::this_thread::sleep_until(due);
        } else {
          due = Clock::now();
          if (due - t0 >= length) break;
          n = next.fetch_add(1);
        }
        const Clock::time_point sent = Clock::now();
        if (open_loop && sent - due > std::chrono::milliseconds(1)) ++late;
        httplib::Result res = cli.Post(path, headers, lines[n % lines.size()], "application/json");
        const Clock::time_point answered = Clock::now();
        auto us = [](Clock::duration d) {
          return uint32_t(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
        };
        Sample s{};
        s.second =
            uint32_t(std::chrono::duration_cast<std::chrono::seconds>(answered - t0).count());
        s.latency_us = us(answered - due);
        s.service_us = us(answered - sent);
        s.status = res ? res->status : -1 - int(res.error());
        s.replayed =
            res && res->status == 200 && res->body.find("\"replayed\":true") != std::string::npos;
        mine.push_back(s);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double ran = std::chrono::duration<double>(Clock::now() - t0).count();

  std::map<int, uint64_t> by_status;
  std::vector<uint32_t> latency, service;
  std::map<uint32_t, std::vector<uint32_t>> by_second;
  uint64_t replays = 0, durable = 0, sent = 0;
  for (const auto& mine : samples) {
    for (const Sample& s : mine) {
      ++sent;
      ++by_status[s.status];
      latency.push_back(s.latency_us);
      service.push_back(s.service_us);
      by_second[s.second].push_back(s.latency_us);
      if (s.replayed) ++replays;
      if (s.status == 200 && !s.replayed) ++durable;
    }
  }
  // Claims 0..sent-1 were sent, claim n being line n mod lines.
  const uint64_t wraps = sent == 0 ? 0 : (sent - 1) / lines.size();
  if (open_loop) {
    std::printf(
        "open loop: %.0f claims/s due over %.1f s on %d connections; %llu of %llu sent "
        "over 1 ms after due (the connection still awaited an answer, or the client lagged)\n",
        o.rate, o.seconds, o.connections, (unsigned long long)late.load(),
        (unsigned long long)sent);
  } else {
    std::printf("closed loop: %d connections for %.1f s\n", o.connections, o.seconds);
  }
  for (const auto& [status, count] : by_status) {
    if (status >= 0) {
      std::printf("status %d: %llu\n", status, (unsigned long long)count);
    } else {
      std::printf("no answer (%s): %llu\n", httplib::to_string(httplib::Error(-1 - status)).c_str(),
                  (unsigned long long)count);
    }
  }
  std::printf("replayed answers: %llu (claim file wrapped %llu times)\n",
              (unsigned long long)replays, (unsigned long long)wraps);
  std::printf("durable settlements: %llu in %.2f s = %.0f /s\n", (unsigned long long)durable, ran,
              double(durable) / ran);
  std::printf("latency%s: %s\n", open_loop ? " (from due)" : "", spread(latency).c_str());
  if (open_loop) std::printf("response time (from sent): %s\n", spread(service).c_str());
  std::printf("per second (answers, p99 ms):");
  for (auto& [second, v] : by_second) {
    std::printf("%s %u:%zu/%.1f", second % 6 == 0 ? "\n " : "", second, v.size(),
                percentile(v, 99));
  }
  std::printf("\n");
  // A failure: any answer but 200, or a replay of a claim sent only once.
  const bool all_ok = by_status.size() == 1 && by_status.count(200) == 1;
  return all_ok && (wraps > 0 || replays == 0) ? 0 : 1;
}
