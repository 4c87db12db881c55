#include "cli/cmd_serve.h"

#include <pthread.h>
#include <signal.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_common.h"
#include "server/api_keys.h"
#include "server/config.h"
#include "server/server.h"

namespace huibao::cli {
namespace {

using server::ApiServer;
using server::ServerConfig;

void add_serve(CLI::App& app) {
  struct Args {
    std::string config_path, db, listen;
    int port = -1, threads = 0, readers = 0;
    long long max_body = 0;
    double rate = 0, burst = 0;
    std::vector<std::string> plans;
    bool no_access_log = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "serve",
      "serve the HTTP/JSON API (settlement 2303/2304/2305, person lookup 1101, accident cases, "
      "enrolment, plans, roll import); SIGTERM or SIGINT stops it after the requests in flight");
  cmd->add_option("--config", a->config_path, "configuration file (TOML; flags override it)");
  cmd->add_option("--db", a->db, kDbHelp);
  cmd->add_option("--plan", a->plans, "a plan file to serve (repeatable; adds to [[plans]])");
  cmd->add_option("--listen", a->listen, "address to bind (default 127.0.0.1)");
  cmd->add_option("--port", a->port, "port (default 8080; 0 = any free port)");
  cmd->add_option("--threads", a->threads, "HTTP worker threads (default 128)");
  cmd->add_option("--readers", a->readers, "store connections for lookups (default 4)");
  cmd->add_option("--max-body-bytes", a->max_body, "largest request body (default 1 MiB)");
  cmd->add_option("--rate", a->rate, "requests per second per API key (default 10000)");
  cmd->add_option("--burst", a->burst, "token-bucket size per API key (default 2000)");
  cmd->add_flag("--no-access-log", a->no_access_log, "do not log one line per request");
  cmd->footer(
      "Keys: huibao apikey create. TLS: put a reverse proxy in front (docs/api.md). "
      "Exit codes: 0 stopped, 2 invalid configuration, 3 cannot bind, 4 store error.");
  cmd->callback([a] {
    ServerConfig config;
    if (!a->config_path.empty()) {
      if (Status s = server::load_server_config(a->config_path, &config); !s.ok()) fail(s);
    }
    if (!a->db.empty() || config.store_url.empty()) config.store_url = db_url(a->db);
    for (const std::string& p : a->plans) config.plan_files.push_back(p);
    if (!a->listen.empty()) config.listen = a->listen;
    if (a->port >= 0) config.port = a->port;
    if (a->threads > 0) config.threads = a->threads;
    if (a->readers > 0) config.readers = a->readers;
    if (a->max_body > 0) config.max_body_bytes = size_t(a->max_body);
    if (a->rate > 0) config.rate_per_key = a->rate;
    if (a->burst > 0) config.burst_per_key = a->burst;
    if (a->no_access_log) config.access_log = false;

    // SIGTERM and SIGINT are taken by one thread (sigwait), blocked in every
    // other: the server's threads inherit the mask.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    Result<std::unique_ptr<ApiServer>> srv = ApiServer::create(config);
    if (!srv.ok()) fail(srv.status());
    Result<int> port = (*srv)->bind();
    if (!port.ok()) fail(port.status());
    std::printf("huibao serving on http://%s:%d (store %s)\n", config.listen.c_str(), *port,
                config.store_url.c_str());
    std::fflush(stdout);
    ApiServer* s = srv->get();
    std::thread waiter([s, stop_signals] {
      int sig = 0;
      sigwait(&stop_signals, &sig);
      s->stop();
    });
    Status run = s->run();
    // Stopped some other way: wake the waiter.
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    srv->reset();
    if (!run.ok()) fail(run);
  });
}

void add_apikey(CLI::App& app) {
  auto* cmd = app.add_subcommand("apikey", "API keys of `huibao serve`");
  cmd->require_subcommand(1);
  struct Args {
    std::string db, org, role, label, key_id;
    std::string actor = default_actor();
  };
  auto a = std::make_shared<Args>();

  auto* create = cmd->add_subcommand(
      "create", "create a key for an organisation and role; the key is printed once");
  create->add_option("--db", a->db, kDbHelp);
  create
      ->add_option("--org", a->org, "organisation code (a hospital's or pharmacy's fixmedins_code)")
      ->required();
  create->add_option("--role", a->role, "bureau, insurer, hospital, pharmacy or service_point")
      ->required();
  create->add_option("--label", a->label, "a note for humans (who holds the key)");
  create->add_option("--actor", a->actor, "who creates it (audit log)");
  create->callback([a] {
    server::Role role;
    if (!server::role_from_name(a->role, &role))
      fail(Status(Code::kRollInvalid,
                  "--role must be bureau, insurer, hospital, pharmacy or service_point"));
    std::unique_ptr<store::Db> db = open(a->db);
    Result<server::CreatedKey> k = server::create_api_key(*db, a->org, role, a->label, a->actor);
    if (!k.ok()) fail(k.status());
    std::printf("%s\n", k->token.c_str());
    std::fprintf(stderr,
                 "key %s for %s %s created; the line above is the key, shown this once: keep it "
                 "secret\n",
                 k->info.key_id.c_str(), a->role.c_str(), a->org.c_str());
  });

  auto* list = cmd->add_subcommand("list", "list keys (never their secrets)");
  list->add_option("--db", a->db, kDbHelp);
  list->callback([a] {
    std::unique_ptr<store::Db> db = open(a->db);
    Result<std::vector<server::ApiKeyInfo>> keys = server::list_api_keys(*db);
    if (!keys.ok()) fail(keys.status());
    std::printf("%-16s  %-13s  %-20s  %-24s  %-24s  %s\n", "key_id", "role", "org", "created",
                "revoked", "label");
    for (const server::ApiKeyInfo& k : *keys) {
      std::printf("%-16s  %-13s  %-20s  %-24s  %-24s  %s\n", k.key_id.c_str(),
                  std::string(server::role_name(k.role)).c_str(), k.org_code.c_str(),
                  k.created_at.c_str(), k.revoked_at.empty() ? "-" : k.revoked_at.c_str(),
                  k.label.c_str());
    }
  });

  auto* revoke = cmd->add_subcommand(
      "revoke", "revoke a key; a running server refuses it within its key-cache time (5 s)");
  revoke->add_option("--db", a->db, kDbHelp);
  revoke->add_option("key_id", a->key_id, "the key's id (the 16 hex digits after hb_)")->required();
  revoke->add_option("--actor", a->actor, "who revokes it (audit log)");
  revoke->callback([a] {
    std::unique_ptr<store::Db> db = open(a->db);
    bool found = false;
    if (Status s = server::revoke_api_key(*db, a->key_id, a->actor, &found); !s.ok()) fail(s);
    if (!found) fail(Status(Code::kRollInvalid, "no key " + a->key_id));
    std::printf("revoked %s\n", a->key_id.c_str());
  });
}

}  // namespace

void add_serve_commands(CLI::App& app) {
  add_serve(app);
  add_apikey(app);
}

}  // namespace huibao::cli
