// Online settlement: one claim at a time, as a hospital's discharge desk or
// a service point sends it (the API's 1101, 2303, 2304 and 2305).
//
// - The settler holds the plans it serves (each registered as a plan version
//   on open) and routes a claim to one: the plan named by the request, else
//   the plan whose region holds the person's admdvs and whose period holds
//   the claim's date.
// - settle() is durable when it returns: claims from any number of threads
//   are gathered by one writer into group commits (one transaction and one
//   sync for many claims), applied in arrival order, so two claims for the
//   same person never both see the same year state. A claim that is
//   rejected, or whose transaction fails, leaves nothing behind. On SQLite
//   the sync of one group's commit runs on a thread of its own while the
//   writer applies the next group; a group is answered once its commit is
//   synced, and a read answers once what it saw is synced.
// - A setl_id already stored is answered with its stored result when the
//   claim is the same (replayed = true) and refused with duplicate_setl_id
//   when it differs, exactly as settle --db does.
// - presettle() computes against the stored state and writes nothing.
// - Results are the results.jsonl object of DOMAIN.md §6 for that claim,
//   byte for byte what settle --db would store.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/date.h"
#include "core/error.h"
#include "policy/plan.h"
#include "service/reverse_service.h"
#include "store/db.h"

namespace huibao {

struct OnlinePlan {
  std::string text;  // the TOML as read (registered as a plan version)
  Plan plan;         // loaded from text
};

struct OnlineOptions {
  std::string url;            // the store (sqlite:PATH or postgresql://...)
  size_t max_group = 512;     // claims per group commit at most
  int readers = 2;            // connections for presettle/benefits/lookups
  std::string actor = "api";  // default actor for audit rows
  // SQLite: a checkpoint (on a thread of its own) begins once this much of
  // the WAL is not yet in the database; once the WAL holds log_restart_bytes
  // the writer waits for one, so that the WAL starts over (online_settle.cc).
  // Each wait holds every claim in flight (5-20 ms, more on a busy disk);
  // at 64 MiB (16 KiB pages, 2.3 pages a claim) three or four came every
  // second at 6,000 claims/s, and the p99 of 64 connections was 28-38 ms
  // against 21-24 ms at 256 MiB (docs/api.md).
  int64_t checkpoint_bytes = int64_t(3) << 20;
  int64_t log_restart_bytes = int64_t(256) << 20;
  // Tests: runs on the sync thread before each deferred sync (SQLite); an
  // error stands for the sync failing.
  std::function<Status()> before_sync;
  // Tests: runs on the checkpoint thread before each checkpoint (SQLite); an
  // error stands for the checkpoint failing.
  std::function<Status()> before_checkpoint;
};

struct OnlineOutcome {
  Code code = Code::kOk;         // kOk, or why the claim was refused (error.h codes)
  std::string message;           // for a refusal
  std::string result_json;       // the results.jsonl object, no newline ("" if refused
                                 // before a result could be formed, e.g. malformed)
  std::string explanation_json;  // JSON array of the explanation lines, when asked
  std::string plan_id;
  std::string psn_no;
  std::string fixmedins_code;  // from the claim ("" for an accident claim)
  bool replayed = false;       // answered from the store, nothing new written
  bool committed = false;      // written by this call
};

// A stored settlement, for ownership checks and retrieval.
struct StoredSettlement {
  std::string setl_id, kind, ref_setl_id, psn_no, plan_id, fixmedins_code;
  int plan_year = 0;
  std::string result_json;
  bool reversed = false;
};

// What a person has left (like the national 1101): coverage and, per layer
// and group, the deductible and cap remaining in the plan year of `on`.
struct BenefitsQuery {
  std::string psn_no;
  Date on;
  std::string plan_id;  // "" = every plan covering the person on that day
};

class OnlineSettler {
 public:
  static Result<std::unique_ptr<OnlineSettler>> open(const OnlineOptions& options,
                                                     std::vector<OnlinePlan> plans);
  ~OnlineSettler();  // finishes queued work, then closes

  // plan_id "" = route by the person's region and the claim's date.
  Result<OnlineOutcome> presettle(std::string_view plan_id, std::string_view claim_json,
                                  bool explain);
  Result<OnlineOutcome> settle(std::string_view plan_id, std::string_view claim_json, bool explain,
                               std::string_view actor);
  // Through the same writer queue as settle().
  Result<ReversalReport> reverse(std::string_view setl_id, std::string_view reversal_id,
                                 std::string_view actor);
  Result<StoredSettlement> find_settlement(std::string_view setl_id);
  // JSON object: {"psn_no", "plans":[{"plan_id","year","enrolled_products",
  // "layers":[{"layer","paid","deductible_left","cap_left"}], ...}]}.
  Result<std::string> benefits_json(const BenefitsQuery& q);

  // Returns once every settlement committed so far is on disk; an error
  // when a sync failed (nothing more is acknowledged: restart the server).
  // Another connection reading the store calls it before it answers from
  // what it read. settle(), reverse() and the reads above do it themselves.
  Status await_durable();
  // Ok unless a sync failed; does not wait.
  Status sync_failure();
  // Ok unless the last copy of the SQLite WAL into the database failed
  // (nothing is lost, but the WAL grows until one succeeds).
  Status checkpoint_failure();

  const std::vector<OnlinePlan>& plans() const;
  // Stops taking work, finishes what is queued (graceful shutdown).
  void drain();

 private:
  OnlineSettler();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace huibao
