// `huibao serve` configuration: a TOML file (--config) and flags, flags
// winning. Every key of the file is checked; an unknown key or a value out of
// range is refused with file:line.
//
//   [server]
//   listen = "127.0.0.1"        # address to bind; TLS belongs to a reverse proxy
//   port = 8080                 # 0 = any free port (printed at start)
//   threads = 128               # HTTP worker threads; one per open connection
//   max_body_bytes = 1048576    # request bodies, except roll uploads
//   max_upload_bytes = 268435456  # roll import uploads
//   keep_alive_seconds = 5
//   rate_per_key = 10000        # token bucket per key: refill per second
//   burst_per_key = 2000        #   and bucket size
//   key_cache_ms = 5000         # a revoked key stops working within this
//   auth_failure_rate_per_address = 5    # failed keys per client address: refill per second
//   auth_failure_burst_per_address = 50  #   and bucket size (then 429 before any lookup)
//   access_log = true           # one JSON line per request on stderr
//   [store]
//   url = "sqlite:data/huibao.db"
//   readers = 4                 # connections for lookups, enrolment, imports
//   pool_wait_ms = 5000         # wait for a free connection at most this (then 503)
//   max_group = 512             # settlements per group commit at most
//   checkpoint_bytes = 3145728  # SQLite: copy the WAL into the database once this much is new
//   wal_restart_bytes = 268435456  # SQLite: the WAL starts over at this size
//   [[plans]]
//   file = "plans/city-2024.toml"
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"

namespace huibao::server {

struct ServerConfig {
  std::string listen = "127.0.0.1";
  int port = 8080;
  int threads = 128;
  size_t max_body_bytes = size_t(1) << 20;
  size_t max_upload_bytes = size_t(256) << 20;
  int keep_alive_seconds = 5;
  double rate_per_key = 10000;
  double burst_per_key = 2000;
  int key_cache_ms = 5000;
  double auth_failure_rate_per_address = 5;
  double auth_failure_burst_per_address = 50;
  bool access_log = true;
  std::string store_url;  // "" = the CLI default (--db rules)
  int readers = 4;
  int pool_wait_ms = 5000;
  int max_group = 512;
  // OnlineOptions::checkpoint_bytes and log_restart_bytes; 0 keeps theirs.
  int64_t checkpoint_bytes = 0;
  int64_t wal_restart_bytes = 0;
  std::vector<std::string> plan_files;

  // Checks ranges; kPlanInvalid with a message naming the setting.
  Status validate() const;
  // Tests: passed to OnlineOptions::before_sync (an error stands for a failed
  // WAL sync). Not read from files or flags.
  std::function<Status()> before_sync;
  // Tests: passed to OnlineOptions::before_checkpoint (an error stands for a
  // failed checkpoint). Not read from files or flags.
  std::function<Status()> before_checkpoint;
};

inline constexpr int kThreadsMax = 4096;
inline constexpr int kReadersMax = 64;
// Client addresses whose failed authentications are counted at once.
inline constexpr size_t kAuthAddressesMax = 10'000;

// Reads a TOML file over *config (fields the file does not set keep their value).
Status load_server_config(const std::string& path, ServerConfig* config);
Status load_server_config_from_string(std::string_view text, const std::string& source,
                                      ServerConfig* config);

}  // namespace huibao::server
