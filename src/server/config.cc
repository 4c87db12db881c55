#include "server/config.h"

#include <toml++/toml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace huibao::server {
namespace {

std::string where(const std::string& source, const toml::source_region& r) {
  return source + ":" + std::to_string(r.begin.line);
}

Status bad(const std::string& at, const std::string& what) {
  return Status(Code::kPlanInvalid, at + ": " + what);
}

template <typename T>
Status read_int(const toml::node& n, const std::string& at, const char* key, T lo, T hi, T* out) {
  const auto v = n.value<int64_t>();
  if (!n.is_integer() || !v || *v < int64_t(lo) || *v > int64_t(hi))
    return bad(at, std::string(key) + " must be an integer from " + std::to_string(lo) + " to " +
                       std::to_string(hi));
  *out = T(*v);
  return Status::Ok();
}

Status read_number(const toml::node& n, const std::string& at, const char* key, double lo,
                   double hi, double* out) {
  std::optional<double> v;
  if (n.is_integer()) v = double(*n.value<int64_t>());
  if (n.is_floating_point()) v = *n.value<double>();
  if (!v || *v < lo || *v > hi)
    return bad(at, std::string(key) + " must be a number from " + std::to_string(int64_t(lo)) +
                       " to " + std::to_string(int64_t(hi)));
  *out = *v;
  return Status::Ok();
}

Status read_string(const toml::node& n, const std::string& at, const char* key, std::string* out) {
  if (!n.is_string()) return bad(at, std::string(key) + " must be a string");
  *out = *n.value<std::string>();
  return Status::Ok();
}

Status read_server(const toml::table& t, const std::string& src, ServerConfig* c) {
  for (const auto& [k, n] : t) {
    const std::string at = where(src, n.source());
    const std::string key(k.str());
    Status s;
    if (key == "listen") {
      s = read_string(n, at, "listen", &c->listen);
    } else if (key == "port") {
      s = read_int(n, at, "port", 0, 65535, &c->port);
    } else if (key == "threads") {
      s = read_int(n, at, "threads", 1, kThreadsMax, &c->threads);
    } else if (key == "max_body_bytes") {
      s = read_int<size_t>(n, at, "max_body_bytes", 1024, size_t(1) << 30, &c->max_body_bytes);
    } else if (key == "max_upload_bytes") {
      s = read_int<size_t>(n, at, "max_upload_bytes", 1024, size_t(4) << 30, &c->max_upload_bytes);
    } else if (key == "keep_alive_seconds") {
      s = read_int(n, at, "keep_alive_seconds", 1, 3600, &c->keep_alive_seconds);
    } else if (key == "rate_per_key") {
      s = read_number(n, at, "rate_per_key", 0.001, 1e9, &c->rate_per_key);
    } else if (key == "burst_per_key") {
      s = read_number(n, at, "burst_per_key", 1, 1e9, &c->burst_per_key);
    } else if (key == "key_cache_ms") {
      s = read_int(n, at, "key_cache_ms", 0, 3'600'000, &c->key_cache_ms);
    } else if (key == "auth_failure_rate_per_address") {
      s = read_number(n, at, "auth_failure_rate_per_address", 0.001, 1e9,
                      &c->auth_failure_rate_per_address);
    } else if (key == "auth_failure_burst_per_address") {
      s = read_number(n, at, "auth_failure_burst_per_address", 1, 1e9,
                      &c->auth_failure_burst_per_address);
    } else if (key == "access_log") {
      if (!n.is_boolean()) return bad(at, "access_log must be true or false");
      c->access_log = *n.value<bool>();
    } else {
      return bad(at, "unknown key [server]." + key);
    }
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status read_store(const toml::table& t, const std::string& src, ServerConfig* c) {
  for (const auto& [k, n] : t) {
    const std::string at = where(src, n.source());
    const std::string key(k.str());
    Status s;
    if (key == "url") {
      s = read_string(n, at, "url", &c->store_url);
    } else if (key == "readers") {
      s = read_int(n, at, "readers", 1, kReadersMax, &c->readers);
    } else if (key == "pool_wait_ms") {
      s = read_int(n, at, "pool_wait_ms", 1, 600'000, &c->pool_wait_ms);
    } else if (key == "max_group") {
      s = read_int(n, at, "max_group", 1, 100'000, &c->max_group);
    } else if (key == "checkpoint_bytes") {
      s = read_int<int64_t>(n, at, "checkpoint_bytes", 1, int64_t(1) << 30, &c->checkpoint_bytes);
    } else if (key == "wal_restart_bytes") {
      s = read_int<int64_t>(n, at, "wal_restart_bytes", int64_t(1) << 20, int64_t(64) << 30,
                            &c->wal_restart_bytes);
    } else {
      return bad(at, "unknown key [store]." + key);
    }
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace

Status ServerConfig::validate() const {
  if (listen.empty()) return Status(Code::kPlanInvalid, "listen must name an address");
  if (threads < 2 || threads > kThreadsMax)
    return Status(Code::kPlanInvalid, "threads must be from 2 to 4096");
  if (readers < 1 || readers > kReadersMax)
    return Status(Code::kPlanInvalid, "readers must be from 1 to 64");
  if (port < 0 || port > 65535) return Status(Code::kPlanInvalid, "port must be from 0 to 65535");
  if (plan_files.empty())
    return Status(Code::kPlanInvalid, "no plan to serve: give --plan FILE or [[plans]] file = ...");
  if (rate_per_key <= 0 || burst_per_key < 1)
    return Status(Code::kPlanInvalid, "rate_per_key must be > 0 and burst_per_key >= 1");
  if (auth_failure_rate_per_address <= 0 || auth_failure_burst_per_address < 1)
    return Status(Code::kPlanInvalid,
                  "auth_failure_rate_per_address must be > 0 and auth_failure_burst_per_address "
                  ">= 1");
  if (pool_wait_ms < 1) return Status(Code::kPlanInvalid, "pool_wait_ms must be at least 1");
  return Status::Ok();
}

Status load_server_config_from_string(std::string_view text, const std::string& source,
                                      ServerConfig* c) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return Status(Code::kPlanInvalid, source + ":" + std::to_string(e.source().begin.line) + ": " +
                                          std::string(e.description()));
  }
  const std::filesystem::path base = std::filesystem::path(source).parent_path();
  for (const auto& [k, n] : root) {
    const std::string at = where(source, n.source());
    const std::string key(k.str());
    if (key == "server" && n.is_table()) {
      if (Status s = read_server(*n.as_table(), source, c); !s.ok()) return s;
    } else if (key == "store" && n.is_table()) {
      if (Status s = read_store(*n.as_table(), source, c); !s.ok()) return s;
    } else if (key == "plans" && n.is_array_of_tables()) {
      for (const toml::node& p : *n.as_array()) {
        const toml::table& pt = *p.as_table();
        const std::string pat = where(source, p.source());
        std::string file;
        for (const auto& [pk, pn] : pt) {
          if (pk.str() != "file")
            return bad(where(source, pn.source()),
                       "unknown key [[plans]]." + std::string(pk.str()));
          if (Status s = read_string(pn, where(source, pn.source()), "file", &file); !s.ok())
            return s;
        }
        if (file.empty()) return bad(pat, "[[plans]] needs file = \"PATH\"");
        // Relative to the configuration file.
        std::filesystem::path fp(file);
        if (fp.is_relative() && !base.empty()) fp = base / fp;
        c->plan_files.push_back(fp.string());
      }
    } else {
      return bad(at,
                 "unknown key or table '" + key + "' (expected [server], [store] and [[plans]])");
    }
  }
  return Status::Ok();
}

Status load_server_config(const std::string& path, ServerConfig* c) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kIoError, "cannot read configuration file '" + path + "'");
  std::stringstream buf;
  buf << in.rdbuf();
  return load_server_config_from_string(buf.str(), path, c);
}

}  // namespace huibao::server
