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
//     The stricter reading of "sustains R settlements/s with p99 under X":
//     a stall of the server, or of its disk, is charged to every claim due
//     while it lasts. (wrk, and the closed loop, measure at a concurrency.)
//
// The client shares the 2-core machine with the server, so it is built to
// cost little, as wrk is: a few threads, each driving its connections from
// one epoll loop; a request is one write of its bytes (request line,
// headers, body); an answer is read into the connection's buffer and only
// its status line, Content-Length and the body's "replayed" are looked at.
// (The first version used cpp-httplib's client, a thread a connection: 16-18 %
// of the machine's CPU at 7,000 requests/s against about 7 % for this one.)
//
// Prints the answers by status, the durable settlements per second, latency
// percentiles, and one line per second of the run (answers and their p99),
// so a noisy machine's stalls can be told apart from a steady slowdown.
// Exits 1 if any answer was not a 200, or was a replay though no claim was
// sent twice.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
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
  int threads = 2;
  double rate = 0;  // claims per second; 0: closed loop
  double seconds = 30;
  bool explain = false;
};

// Why a request got no answer (reported as "no answer (...)").
enum Failure : int {
  kConnect = -1,    // could not connect
  kLost = -2,       // the connection closed or failed before the whole answer
  kTimeout = -3,    // no whole answer within kAnswerTimeout
  kMalformed = -4,  // not an HTTP/1.1 answer this client reads (e.g. chunked)
};
const char* failure_name(int status) {
  switch (status) {
    case kConnect:
      return "could not connect";
    case kLost:
      return "connection lost";
    case kTimeout:
      return "timed out";
    case kMalformed:
      return "answer not understood";
  }
  return "?";
}
constexpr auto kAnswerTimeout = std::chrono::seconds(10);
// An answer's headers larger than this are refused as malformed.
constexpr size_t kHeaderBytesMax = 64 * 1024;

// One answer (or failure) as a connection saw it.
struct Sample {
  uint32_t second;      // of the run, when answered
  uint32_t latency_us;  // from due (open loop) or sent (closed loop) to answered
  uint32_t service_us;  // from sent to answered
  int status;           // HTTP status, or a Failure
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

// Case-insensitive search for a header name at a line start in head.
std::string_view header_value(std::string_view head, std::string_view name) {
  for (size_t at = head.find("\r\n"); at != std::string_view::npos;
       at = head.find("\r\n", at + 2)) {
    const size_t line = at + 2;
    if (head.size() - line < name.size() + 1) break;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i)
      same = std::tolower(static_cast<unsigned char>(head[line + i])) ==
             std::tolower(static_cast<unsigned char>(name[i]));
    if (!same || head[line + name.size()] != ':') continue;
    size_t b = line + name.size() + 1, e = head.find("\r\n", b);
    if (e == std::string_view::npos) e = head.size();
    while (b < e && (head[b] == ' ' || head[b] == '\t')) ++b;
    while (e > b && (head[e - 1] == ' ' || head[e - 1] == '\t')) --e;
    return head.substr(b, e - b);
  }
  return {};
}

struct Conn {
  int fd = -1;
  int index = 0;      // of the connection, 0..CONNECTIONS-1
  uint64_t k = 0;     // open loop: this connection's k-th claim is next
  uint64_t n = 0;     // the claim in flight
  bool busy = false;  // a request is in flight
  Clock::time_point due, sent;
  std::string out;  // the request's bytes
  size_t written = 0;
  std::string in;  // the answer so far
};

// One thread's connections and its epoll loop.
class Driver {
 public:
  Driver(const Options& o, const std::vector<std::string>& lines, std::atomic<uint64_t>& next,
         std::atomic<uint64_t>& late, Clock::time_point t0, std::vector<Sample>& samples)
      : o_(o), lines_(lines), next_(next), late_(late), t0_(t0), samples_(samples) {
    length_ = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
    prefix_ = std::string("POST /api/v1/settlements?explain=") + (o.explain ? "true" : "false") +
              " HTTP/1.1\r\nHost: " + o.host + ":" + std::to_string(o.port) +
              "\r\nAuthorization: Bearer " + o.key +
              "\r\nContent-Type: application/json\r\nContent-Length: ";
  }

  void add(int index) {
    conns_.emplace_back();
    conns_.back().index = index;
  }

  void run() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) {
      std::perror("api_load: epoll_create1");
      std::exit(2);
    }
    std::this_thread::sleep_until(t0_);
    for (Conn& c : conns_) start_next(c);
    std::vector<epoll_event> events(conns_.size() + 1);
    for (;;) {
      const Clock::time_point now = Clock::now();
      // Idle connections whose claim is due go now; the earliest not yet
      // due sets the wait. Requests past their timeout fail.
      Clock::time_point wake = now + std::chrono::milliseconds(100);
      bool active = false;
      for (Conn& c : conns_) {
        if (c.busy) {
          active = true;
          if (now - c.sent > kAnswerTimeout) fail(c, kTimeout);
          continue;
        }
        if (c.fd == -2) continue;  // finished
        active = true;
        if (c.due <= now) {
          send_now(c);
        } else {
          wake = std::min(wake, c.due);
        }
      }
      if (!active) break;
      const auto wait = std::max(Clock::duration::zero(), wake - Clock::now());
      timespec ts{};
      ts.tv_sec = std::chrono::duration_cast<std::chrono::seconds>(wait).count();
      ts.tv_nsec =
          long(std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count() % 1000000000);
      int got = epoll_pwait2(ep_, events.data(), int(events.size()), &ts, nullptr);
      if (got < 0 && errno == ENOSYS)  // a kernel before 5.11: whole milliseconds
        got = epoll_wait(ep_, events.data(), int(events.size()),
                         int(std::chrono::ceil<std::chrono::milliseconds>(wait).count()));
      if (got < 0 && errno != EINTR) {
        std::perror("api_load: epoll_pwait2");
        std::exit(2);
      }
      for (int i = 0; i < got; ++i) {
        Conn& c = conns_[events[size_t(i)].data.u32];
        if (events[size_t(i)].events & EPOLLOUT) flush(c);
        if (c.busy && (events[size_t(i)].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) receive(c);
      }
    }
    for (Conn& c : conns_)
      if (c.fd >= 0) ::close(c.fd);
    ::close(ep_);
  }

 private:
  // Picks the connection's next claim and when it is due; fd -2 when the run is over.
  void start_next(Conn& c) {
    if (o_.rate > 0) {
      c.n = c.k++ * uint64_t(o_.connections) + uint64_t(c.index);
      c.due = t0_ + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(double(c.n) / o_.rate));
      if (c.due - t0_ >= length_) finish(c);
    } else {
      c.due = Clock::now();
      if (c.due - t0_ >= length_) {
        finish(c);
      } else {
        c.n = next_.fetch_add(1);
      }
    }
  }

  void finish(Conn& c) {
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -2;
  }

  bool connect_now(Conn& c) {
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(uint16_t(o_.port));
    const int one = 1;
    if (c.fd < 0 || inet_pton(AF_INET, o_.host.c_str(), &addr.sin_addr) != 1 ||
        ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        ::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      if (c.fd >= 0) ::close(c.fd);
      c.fd = -1;
      return false;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = uint32_t(&c - conns_.data());
    epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
    return true;
  }

  void send_now(Conn& c) {
    c.sent = Clock::now();
    if (o_.rate > 0 && c.sent - c.due > std::chrono::milliseconds(1)) ++late_;
    c.busy = true;
    if (c.fd == -1 && !connect_now(c)) {
      fail(c, kConnect);
      return;
    }
    const std::string& body = lines_[c.n % lines_.size()];
    c.out.assign(prefix_).append(std::to_string(body.size())).append("\r\n\r\n").append(body);
    c.written = 0;
    c.in.clear();
    flush(c);
  }

  void flush(Conn& c) {
    while (c.busy && c.written < c.out.size()) {
      const ssize_t w = ::send(c.fd, c.out.data() + c.written, c.out.size() - c.written,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) {
        c.written += size_t(w);
      } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        watch(c, EPOLLIN | EPOLLOUT);
        return;
      } else if (w < 0 && errno == EINTR) {
        continue;
      } else {
        fail(c, kLost);
        return;
      }
    }
    watch(c, EPOLLIN);
  }

  void watch(Conn& c, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u32 = uint32_t(&c - conns_.data());
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  void receive(Conn& c) {
    char buf[64 * 1024];
    for (;;) {
      const ssize_t r = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
      if (r > 0) {
        c.in.append(buf, size_t(r));
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      fail(c, kLost);  // closed, or an error, before the whole answer
      return;
    }
    const size_t head_end = c.in.find("\r\n\r\n");
    if (head_end == std::string::npos) {
      if (c.in.size() > kHeaderBytesMax) fail(c, kMalformed);
      return;
    }
    const std::string_view head(c.in.data(), head_end);
    int status = 0;
    if (head.size() < 12 || head.substr(0, 9) != "HTTP/1.1 " ||
        std::sscanf(c.in.c_str() + 9, "%3d", &status) != 1) {
      fail(c, kMalformed);
      return;
    }
    const std::string length_text(header_value(head, "Content-Length"));
    char* end = nullptr;
    const unsigned long long length = std::strtoull(length_text.c_str(), &end, 10);
    if (length_text.empty() || *end != '\0') {
      fail(c, kMalformed);  // chunked or no length: not what huibao serve sends
      return;
    }
    if (c.in.size() - head_end - 4 < length) return;  // the body is not all here yet
    const std::string_view body(c.in.data() + head_end + 4, size_t(length));
    const bool replayed = status == 200 && body.find("\"replayed\":true") != std::string_view::npos;
    const bool close = header_value(head, "Connection") == "close" ||
                       c.in.size() - head_end - 4 > length;  // pipelining is not expected
    record(c, status, replayed);
    if (close) {
      epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
      c.fd = -1;
    }
    start_next(c);
  }

  void fail(Conn& c, int status) {
    record(c, status, false);
    if (c.fd >= 0) {
      epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
    }
    c.fd = -1;  // the next request connects again
    start_next(c);
  }

  void record(Conn& c, int status, bool replayed) {
    const Clock::time_point answered = Clock::now();
    auto us = [](Clock::duration d) {
      return uint32_t(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
    };
    Sample s{};
    s.second = uint32_t(std::chrono::duration_cast<std::chrono::seconds>(answered - t0_).count());
    s.latency_us = us(answered - (o_.rate > 0 ? c.due : c.sent));
    s.service_us = us(answered - c.sent);
    s.status = status;
    s.replayed = replayed;
    samples_.push_back(s);
    c.busy = false;
  }

  const Options& o_;
  const std::vector<std::string>& lines_;
  std::atomic<uint64_t>& next_;
  std::atomic<uint64_t>& late_;
  const Clock::time_point t0_;
  Clock::duration length_{};
  std::vector<Sample>& samples_;
  std::string prefix_;
  std::vector<Conn> conns_;
  int ep_ = -1;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Load client for POST /api/v1/settlements (see bench/api_load.sh)"};
  app.add_option("--host", o.host, "server address (IPv4)");
  app.add_option("--port", o.port, "server port")->required()->check(CLI::Range(1, 65535));
  app.add_option("--key", o.key, "API key of the hospital whose claims these are")->required();
  app.add_option("--claims", o.claims, "claims.jsonl, one claim a line")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--connections", o.connections, "keep-alive connections")
      ->check(CLI::Range(1, 4096));
  app.add_option("--threads", o.threads, "client threads (each drives its share of connections)")
      ->check(CLI::Range(1, 64));
  app.add_option("--rate", o.rate, "claims due per second (open loop); 0: closed loop")
      ->check(CLI::Range(0.0, 1e7));
  app.add_option("--seconds", o.seconds, "length of the run")->check(CLI::Range(0.1, 86400.0));
  app.add_option("--explain", o.explain, "ask for the explanation lines (true/false)");
  CLI11_PARSE(app, argc, argv);
  {
    in_addr probe{};
    if (inet_pton(AF_INET, o.host.c_str(), &probe) != 1) {
      std::fprintf(stderr, "api_load: --host %s is not an IPv4 address\n", o.host.c_str());
      return 2;
    }
  }

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
  const bool open_loop = o.rate > 0;
  const int threads = std::min(o.threads, o.connections);

  std::atomic<uint64_t> next{0};  // closed loop: the next claim to send
  std::atomic<uint64_t> late{0};  // open loop: claims sent over 1 ms after they were due
  std::vector<std::vector<Sample>> samples(static_cast<size_t>(threads));
  const Clock::time_point t0 = Clock::now() + std::chrono::milliseconds(100);
  std::vector<Driver> drivers;
  drivers.reserve(size_t(threads));
  for (int t = 0; t < threads; ++t)
    drivers.emplace_back(o, lines, next, late, t0, samples[size_t(t)]);
  for (int c = 0; c < o.connections; ++c) drivers[size_t(c % threads)].add(c);
  std::vector<std::thread> running;
  for (Driver& d : drivers) running.emplace_back([&d] { d.run(); });
  for (std::thread& t : running) t.join();
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
  // Closed loop: claims 0..sent-1 were sent, claim n being line n mod lines.
  // Open loop: claim n on connection n mod C; the highest sent bounds them.
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
      std::printf("no answer (%s): %llu\n", failure_name(status), (unsigned long long)count);
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
