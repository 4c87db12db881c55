// `huibao serve`: the platform's HTTP/JSON API (docs/api.md, docs/openapi.json).
//
// - Every /api/v1 call carries an API key (Authorization: Bearer hb_..., or
//   X-Api-Key) bound to an organisation and a role; the permission table
//   (permissions.h) decides; hospitals and pharmacies act on their own
//   fixmedins_code only; personal data read back is masked by role and every
//   read of it is written to the audit log.
// - Settlement (2303/2304/2305, accident cases) goes through OnlineSettler,
//   which serialises a person's claims, group-commits durably and answers
//   replays; the server writes nothing of its own on that path.
// - Lookups, enrolment and imports use a small pool of store connections.
// - Limits: body size per route (413), a token bucket per key (429).
// - Operations: /healthz, /readyz, /metrics (Prometheus), /openapi.json;
//   one JSON log line per request (no personal data in it); stop() stops
//   accepting, lets in-flight requests finish, then drains the settler.
#pragma once
#include <memory>
#include <string>

#include "core/error.h"
#include "server/config.h"

namespace huibao::server {

class Metrics;

class ApiServer {
 public:
  // Loads the plans, opens the settler and the connection pool. Nothing is
  // bound yet.
  static Result<std::unique_ptr<ApiServer>> create(const ServerConfig& config);
  ~ApiServer();

  // Binds the configured address; returns the port (the chosen one for port 0).
  Result<int> bind();
  // Serves until stop(); returns when every in-flight request has been
  // answered and the settler has finished its queue.
  Status run();
  // Thread-safe; not async-signal-safe (call it from a signal-waiting thread).
  void stop();
  bool running() const;

  int port() const;
  Metrics& metrics();

 private:
  ApiServer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The OpenAPI document served at /openapi.json (docs/openapi.json, embedded).
std::string_view openapi_json();

}  // namespace huibao::server
