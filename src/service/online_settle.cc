#include "service/online_settle.h"

#include <pthread.h>
#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "batch/claim_parse.h"
#include "batch/record.h"
#include "batch/result_json.h"
#include "service/roll_load.h"
#include "service/settle_service.h"
#include "service/settlement_row.h"
#include "settle/explain.h"
#include "store/migrate.h"

namespace huibao {
namespace {

using store::Db;
using store::Rows;
using store::Stmt;
using store::Tx;

// PostgreSQL takes several writers at once (each its own persons); SQLite
// has one writer.
constexpr int kPostgresLanes = 4;
// SQLite: the lane commits without waiting for the disk and a thread of its
// own syncs the WAL (Db::defer_commit_sync) while the lane applies the next
// group; the claims of a group are answered once their commit is synced. At
// most this many commits are unsynced at once: the lane waits for room
// before it starts another group.
constexpr uint64_t kUnsyncedCommitsMax = 2;

struct Served {
  OnlinePlan p;
  int version = 0;
  int year = 0;
  std::unique_ptr<ResultWriter> writer;
  std::unique_ptr<LayersEncoder> layers;
};

// One settlement or reversal waiting for a writer.
struct Job {
  bool reverse = false;
  const Served* plan = nullptr;
  std::string line;  // settle: the claim as received
  std::string psn;   // settle: its psn_no, as read when it was routed
  std::string setl_id, reversal_id;
  bool explain = false;
  std::string actor;
  Status status;  // a store failure; claim refusals are in outcome
  OnlineOutcome outcome;
  ReversalReport report;
  std::promise<void> done;
};

// A claim parsed against a roll, with padding the parser may read past.
struct Parsed {
  std::string padded;  // the line, then the parser's padding
  RecordSet rs;        // its lines are in padded
  const Record& r() const { return rs.records[0]; }
};

void parse_claim(const Plan& plan, const Roll& roll, std::string_view line, Parsed* out) {
  out->padded.assign(line);
  out->padded.append(ClaimParser::kPadding, ' ');
  out->rs.clear();
  out->rs.keep_raw = true;
  out->rs.raw_origin = out->padded.data();
  ClaimParser parser(plan, roll);
  parser.parse(std::string_view(out->padded.data(), line.size()), &out->rs);
  if (out->rs.records.empty()) {  // a blank line: not an object
    Record r;
    r.code = Code::kMalformedRecord;
    out->rs.records.push_back(r);
    out->rs.raw_at.push_back(0);
    out->rs.raw_len.push_back(0);
    out->rs.messages[0] = "the request is not a JSON object";
  }
}

// The line as stored: without the line end a client may have sent.
std::string_view trim_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ' '))
    line.remove_suffix(1);
  return line;
}

std::string rejection(const Served& sp, std::string_view setl_id, std::string_view psn, Code code,
                      std::string_view message) {
  ResultView v;
  v.setl_id = setl_id;
  v.psn_no = psn;
  v.error = code;
  v.message = message;
  ByteBuf b;
  sp.writer->write(v, &b);
  return std::string(trim_line(b.view()));
}

std::string json_array(const std::vector<std::string>& lines) {
  std::string out = "[";
  for (const std::string& l : lines) {
    if (out.size() > 1) out += ',';
    append_json_string(l, &out);
  }
  out += ']';
  return out;
}

Status store_error(std::string msg) {
  return Status(Code::kStoreError, std::move(msg));
}

// Connections for reads (presettle, lookups), one thread each at a time.
class Pool {
 public:
  Status open(const std::string& url, int n) {
    for (int i = 0; i < n; ++i) {
      Result<std::unique_ptr<Db>> c = store::connect_db(url);
      if (!c.ok()) return c.status();
      free_.push_back(std::move(*c));
    }
    return Status::Ok();
  }
  std::unique_ptr<Db> take() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !free_.empty(); });
    std::unique_ptr<Db> c = std::move(free_.back());
    free_.pop_back();
    return c;
  }
  void give(std::unique_ptr<Db> c) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      free_.push_back(std::move(c));
    }
    cv_.notify_one();
    if (on_release_) on_release_();
  }
  // Runs on the returning thread after each give(), outside the lock.
  void on_release(std::function<void()> fn) { on_release_ = std::move(fn); }

 private:
  std::function<void()> on_release_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Db>> free_;
};

class Lease {
 public:
  explicit Lease(Pool& p) : pool_(p), db_(p.take()) {}
  ~Lease() { pool_.give(std::move(db_)); }
  Db& operator*() { return *db_; }

 private:
  Pool& pool_;
  std::unique_ptr<Db> db_;
};

}  // namespace

struct OnlineSettler::Impl {
  OnlineOptions o;
  std::vector<OnlinePlan> plans_view;
  std::vector<std::unique_ptr<Served>> served;
  Pool readers;
  PlanLayers plan_layers;  // of stored answers that are derived

  struct Lane {
    std::unique_ptr<Db> db;
    std::thread thread;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Job*> queue;
    bool closing = false;
  };
  std::vector<std::unique_ptr<Lane>> lanes;
  std::mutex state_mu;
  bool draining = false;

  // The SQLite lane's commits, made durable off the lane (kUnsyncedCommitsMax).
  // The lane numbers each commit before making it (begun); a group's jobs are
  // handed over after its commit and answered once a sync begun after that
  // commit has returned (durable). A reader of the store waits the same way
  // before it answers from what it read (await_durable): it may have seen
  // a commit not yet on disk.
  struct Syncer {
    std::unique_ptr<store::LogSyncer> log;
    std::thread thread;
    std::mutex mu;
    std::condition_variable work;    // for the sync thread
    std::condition_variable synced;  // durable moved or failure set
    std::atomic<uint64_t> begun{0};  // the last commit the lane began (lane only writes)
    uint64_t handed = 0;             // the last commit whose jobs were handed over
    uint64_t durable = 0;            // every commit up to this one is on disk
    std::vector<Job*> waiting;       // handed over, not yet answered
    Status failure;                  // a sync failed: nothing more is acknowledged
    bool closing = false;
  };
  Syncer syncer;
  bool deferred_sync() const { return syncer.log != nullptr; }

  // The SQLite lane's WAL, copied into the database by a thread of its own.
  // Counts are of the lane's groups.
  //
  // SQLite: the WAL is copied into the database (a checkpoint) on a thread of
  // its own (LogSyncer::checkpoint), never on the lane: a checkpoint syncs the
  // WAL and then the database, and on the lane every fourth commit carried one
  // (5-20 ms; 0.7 s of each 2 s of the lane's time at 4,700 claims/s). One
  // begins once OnlineOptions::checkpoint_bytes of the WAL are not yet copied:
  // little, so that the lane's wait below is short. SQLite starts the WAL over
  // only when a writer begins with every frame copied, which a checkpoint
  // running beside a busy lane never sees; so once the WAL holds
  // log_restart_bytes the lane, before its next group, waits for a checkpoint
  // begun after its last commit (one wait of 5-20 ms per cycle).
  struct Checkpointer {
    std::thread thread;
    std::mutex mu;
    std::condition_variable work;  // for the checkpoint thread
    std::condition_variable done;  // a checkpoint finished
    uint64_t groups = 0;           // groups the lane ran
    int64_t bytes = 0;             // the WAL's size, in bytes, after the lane's last group
    int64_t copied = 0;            // of those bytes, copied into the database
    uint64_t cycle = 0;            // times the WAL started over
    uint64_t finished = 0;         // a checkpoint begun after this group finished
    int64_t restart_at = 0;        // the lane waits for a checkpoint here (set at open)
    bool wanted = false;           // the lane is waiting
    bool closing = false;
    Status failure;  // of the last checkpoint
  };
  Checkpointer ckpt;

  // The lane, after each group: the WAL's new size.
  void log_grew(Db& db) {
    if (!deferred_sync()) return;
    bool kick = false;
    {
      std::lock_guard<std::mutex> lock(ckpt.mu);
      const int64_t bytes = db.log_bytes();
      if (bytes < ckpt.bytes) {  // started over
        ++ckpt.cycle;
        ckpt.copied = 0;
        ckpt.restart_at = o.log_restart_bytes;
      }
      ckpt.bytes = bytes;
      ++ckpt.groups;
      kick = bytes - ckpt.copied >= o.checkpoint_bytes;
    }
    if (kick) ckpt.work.notify_one();
  }

  // The lane, before a group: once the WAL is long, waits for a checkpoint
  // of all it committed, so that this group starts the WAL over. When it
  // cannot (a reader still in the old WAL), the next try is a little later.
  void room_in_log() {
    if (!deferred_sync()) return;
    std::unique_lock<std::mutex> lock(ckpt.mu);
    if (ckpt.bytes < ckpt.restart_at) return;
    ckpt.wanted = true;
    ckpt.work.notify_one();
    ckpt.done.wait(lock, [&] { return ckpt.finished >= ckpt.groups; });
    ckpt.wanted = false;
    ckpt.restart_at = ckpt.bytes + o.checkpoint_bytes;
  }

  void checkpoint_loop() {
    uint64_t last = 0;  // the group the last checkpoint began after
    for (;;) {
      uint64_t at = 0, cycle = 0;
      {
        std::unique_lock<std::mutex> lock(ckpt.mu);
        ckpt.work.wait(lock, [&] {
          return ckpt.closing || (ckpt.wanted && ckpt.finished < ckpt.groups) ||
                 (ckpt.groups > last && ckpt.bytes - ckpt.copied >= o.checkpoint_bytes);
        });
        if (ckpt.closing) return;
        at = last = ckpt.groups;
        cycle = ckpt.cycle;
      }
      const Status pre = o.before_checkpoint ? o.before_checkpoint() : Status::Ok();
      Result<int64_t> copied = pre.ok() ? syncer.log->checkpoint() : Result<int64_t>(pre);
      {
        std::lock_guard<std::mutex> lock(ckpt.mu);
        ckpt.finished = std::max(ckpt.finished, at);
        if (copied.ok() && ckpt.cycle == cycle) ckpt.copied = std::max(ckpt.copied, *copied);
        ckpt.failure = copied.status();
      }
      ckpt.done.notify_all();
    }
  }

  Status checkpoint_failure() {
    std::lock_guard<std::mutex> lock(ckpt.mu);
    return ckpt.failure;
  }

  // The lane calls it right before a commit that may happen.
  void commit_begins() {
    if (deferred_sync()) syncer.begun.fetch_add(1);
  }

  // The lane, before it starts a group: waits until fewer than
  // kUnsyncedCommitsMax commits are unsynced; the failure after a failed sync.
  Status room_for_commit() {
    if (!deferred_sync()) return Status::Ok();
    std::unique_lock<std::mutex> lock(syncer.mu);
    syncer.synced.wait(lock, [&] {
      return !syncer.failure.ok() || syncer.begun.load() - syncer.durable < kUnsyncedCommitsMax;
    });
    return syncer.failure;
  }

  // Answers the jobs of a group: at once when every commit syncs itself,
  // else once the commits made for them are durable.
  void finish(std::vector<Job*>& group) {
    if (!deferred_sync()) {
      for (Job* j : group) j->done.set_value();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(syncer.mu);
      syncer.handed = syncer.begun.load();
      syncer.waiting.insert(syncer.waiting.end(), group.begin(), group.end());
    }
    syncer.work.notify_one();
  }

  void sync_loop() {
    std::vector<Job*> batch;
    for (;;) {
      uint64_t target = 0;
      Status failure;
      {
        std::unique_lock<std::mutex> lock(syncer.mu);
        syncer.work.wait(lock, [&] { return !syncer.waiting.empty() || syncer.closing; });
        if (syncer.waiting.empty()) return;  // closing, nothing left
        batch.swap(syncer.waiting);
        target = syncer.handed;
        failure = syncer.failure;
      }
      Status s = failure;
      if (s.ok() && o.before_sync) s = o.before_sync();
      if (s.ok()) s = syncer.log->sync();
      {
        std::lock_guard<std::mutex> lock(syncer.mu);
        if (s.ok()) {
          syncer.durable = std::max(syncer.durable, target);
        } else if (syncer.failure.ok()) {
          syncer.failure = Status(Code::kStoreError,
                                  "settlements committed but not known to be on disk (" +
                                      s.message() + "); restart the server: it recovers the store");
        }
      }
      syncer.synced.notify_all();
      for (Job* j : batch) {
        if (!s.ok()) {
          j->status = syncer_failure();
          j->outcome = OnlineOutcome{};
          j->report = ReversalReport{};
        }
        j->done.set_value();
      }
      batch.clear();
    }
  }

  Status syncer_failure() {
    std::lock_guard<std::mutex> lock(syncer.mu);
    return syncer.failure;
  }

  // Returns once every commit the lane had begun is durable (or a sync
  // failed): what a reader saw is then on disk.
  Status await_durable() {
    if (!deferred_sync()) return Status::Ok();
    const uint64_t seen = syncer.begun.load();
    std::unique_lock<std::mutex> lock(syncer.mu);
    syncer.synced.wait(lock, [&] { return syncer.durable >= seen || !syncer.failure.ok(); });
    return syncer.failure;
  }

  const Served* find_plan(std::string_view id) const {
    for (const auto& s : served) {
      if (s->p.plan.id == id) return s.get();
    }
    return nullptr;
  }

  // The claim parsed without a roll (so refused as unknown_person at best)
  // under the first served plan that can read it at all: a claim malformed
  // under one plan (an accident claim where the plan has no accident
  // product, a given amount for a layer it lacks) may be another's.
  void parse_first(std::string_view line, Parsed* first) const {
    const Roll none;
    for (const auto& s : served) {
      *first = Parsed{};
      parse_claim(s->p.plan, none, line, first);
      if (first->r().code != Code::kMalformedRecord) return;
    }
    *first = Parsed{};
    parse_claim(served[0]->p.plan, none, line, first);
  }

  // The plan of a claim stored before with these very bytes (a retry), so
  // a retry is answered as stored even when routing would now answer
  // otherwise; nullptr when there is none, or when plan_id names another.
  Result<const Served*> stored_plan(Db& db, std::string_view plan_id, const Parsed& first,
                                    std::string_view line) const {
    const std::string_view setl_id = first.rs.setl_id(first.r());
    if (setl_id.empty()) return nullptr;
    Result<Stmt*> st = db.prepare(
        "SELECT plan_id FROM settlements WHERE setl_id = ? AND request_hash = ? AND kind = "
        "'settle'");
    if (!st.ok()) return st.status();
    (*st)->bind_text(1, setl_id);
    (*st)->bind_text(2, claim_request_hash(line));
    Result<bool> row = (*st)->step();
    if (!row.ok()) return row.status();
    const Served* s = *row ? find_plan((*st)->column_text(0)) : nullptr;
    (*st)->reset();
    if (s != nullptr && !plan_id.empty() && s->p.plan.id != plan_id) return nullptr;
    return s;
  }

  // Whether routing reads the store: only to choose among several plans
  // (with one plan, or a plan named, apply() itself finds a retry).
  bool routes_by_store(std::string_view plan_id) const {
    return plan_id.empty() && served.size() > 1;
  }

  // Routes a claim: a retry to the plan it was settled under, else by plan
  // id, else by the person's region and the claim's date.
  Result<const Served*> route_claim(Db& db, std::string_view plan_id, const Parsed& first,
                                    std::string_view line) {
    if (!routes_by_store(plan_id)) return route(db, plan_id, first, line);
    Result<const Served*> again = stored_plan(db, plan_id, first, line);
    if (!again.ok() || *again != nullptr) return again;
    return route(db, plan_id, first, line);
  }

  // Routes a claim: by plan id, else by the person's region and the claim's
  // date. line is the claim itself: first (parsed without a roll, so refused
  // as unknown_person) does not keep it.
  Result<const Served*> route(Db& db, std::string_view plan_id, const Parsed& first,
                              std::string_view line) {
    if (!plan_id.empty()) {
      const Served* s = find_plan(plan_id);
      if (s == nullptr)
        return Status(Code::kNotFound, "plan '" + std::string(plan_id) + "' is not served here");
      return s;
    }
    if (served.size() == 1) return served[0].get();
    const Record& r = first.r();
    // A claim that fails its first checks is answered under any plan.
    if (r.code == Code::kMalformedRecord || r.code == Code::kInvalidPsnNo) return served[0].get();
    Result<Stmt*> st = db.prepare("SELECT admdvs FROM persons WHERE psn_no = ?");
    if (!st.ok()) return st.status();
    (*st)->bind_text(1, first.rs.psn_no(r));
    Result<bool> row = (*st)->step();
    if (!row.ok()) return row.status();
    if (!*row) return served[0].get();  // unknown_person under any plan
    const std::string admdvs((*st)->column_text(0));
    (*st)->reset();
    // The date: the claim parsed under each plan of the region tells it.
    std::vector<const Served*> region, covering;
    for (const auto& s : served) {
      if (s->p.plan.in_region(admdvs)) region.push_back(s.get());
    }
    if (region.empty())
      return Status(Code::kNotFound,
                    "no plan served here covers region " + admdvs + "; name the plan_id");
    // A plan covers the claim when the claim passes its date check there
    // (settled, or refused by a later check). A refusal before the date is
    // looked at (a bad date, or a claim the plan cannot take at all, such as
    // an accident under a plan without an accident product) answers the
    // claim only when no plan covers it.
    const Served* refused_early = nullptr;
    for (const Served* s : region) {
      Roll roll;
      if (Status l = load_roll(db, s->p.plan, &roll, first.rs.psn_no(r)); !l.ok()) return l;
      Parsed p;
      parse_claim(s->p.plan, roll, line, &p);
      const Code c = p.r().code;
      if (c == Code::kOk || c > Code::kOutsidePlanYear) {
        covering.push_back(s);
      } else if (c != Code::kOutsidePlanYear && refused_early == nullptr) {
        refused_early = s;
      }
    }
    if (covering.size() > 1)
      return Status(Code::kMalformedRecord,
                    "several plans served here cover this claim; name the plan_id");
    if (covering.size() == 1) return covering[0];
    return refused_early != nullptr ? refused_early : region[0];  // else outside_plan_year
  }

  // Settles one claim on db (in the caller's transaction when write):
  // claim refusals go to *out; a failed statement is returned. psn is the
  // claim's psn_no as parse_first read it (empty when it could not).
  Status apply(Db& db, const Served& sp, std::string_view line, std::string_view psn, bool explain,
               bool write, std::string_view actor, OnlineOutcome* out) {
    const Plan& plan = sp.p.plan;
    *out = OnlineOutcome{};
    out->plan_id = plan.id;
    out->psn_no = std::string(psn);
    Roll roll;  // the person's entry; a psn_no that is no resident id finds none
    if (psn.size() == 18) {
      if (Status s = load_roll(db, plan, &roll, psn); !s.ok()) return s;
    }
    Parsed p;
    parse_claim(plan, roll, line, &p);
    const Record& r = p.r();
    const std::string setl_id(p.rs.setl_id(r));
    const bool accident = r.kind == RecordKind::kAccident;
    if (!accident) out->fixmedins_code = std::string(p.rs.cause(r));
    auto refuse = [&](Code code, std::string message) {
      out->code = code;
      out->message = std::move(message);
      out->result_json = rejection(sp, setl_id, psn, code, out->message);
      return Status::Ok();
    };
    // A setl_id already stored: the same claim again (the same bytes) is
    // answered as stored, whatever has changed since (the roll, the plan a
    // router would pick); anything else is refused after the claim's own
    // checks.
    struct Prior {
      bool found = false, is_settle = false, same = false, reversed = false;
      std::string plan_id, result_json;
    } prior;
    const std::string hash = claim_request_hash(line);
    if (!setl_id.empty()) {
      Result<Stmt*> st = db.prepare(
          "SELECT s.kind, s.request_hash, s.plan_id, (SELECT count(*) FROM settlements v WHERE "
          "v.ref_setl_id = s.setl_id AND v.kind = 'reversal'), " +
          std::string(kStoredResultColumns) + " FROM settlements s WHERE s.setl_id = ?");
      if (!st.ok()) return st.status();
      (*st)->bind_text(1, setl_id);
      Result<bool> row = (*st)->step();
      if (!row.ok()) return row.status();
      if (*row) {
        prior.found = true;
        prior.is_settle = (*st)->column_text(0) == "settle";
        prior.same = (*st)->column_text(1) == hash;
        prior.plan_id = std::string((*st)->column_text(2));
        prior.reversed = (*st)->column_int64(3) > 0;
        if (prior.is_settle && prior.same) {  // the answer a retry gets
          Result<std::string> result = stored_result(db, **st, 4, &plan_layers);
          if (!result.ok()) return result.status();
          prior.result_json = std::move(*result);
        }
      }
      (*st)->reset();
    }
    if (prior.found && prior.is_settle && prior.same && !prior.reversed &&
        prior.plan_id == plan.id) {
      out->result_json = std::move(prior.result_json);
      out->replayed = true;
      return Status::Ok();
    }
    if (r.code != Code::kOk) {
      auto m = p.rs.messages.find(0);
      return refuse(r.code, m != p.rs.messages.end() ? m->second : std::string(code_name(r.code)));
    }
    if (prior.found) {
      if (!prior.is_settle)
        return refuse(Code::kDuplicateSetlId,
                      "setl_id '" + setl_id + "' names a reversal or an adjustment");
      if (prior.reversed)
        return refuse(Code::kDuplicateSetlId,
                      "setl_id '" + setl_id +
                          "' was settled and then reversed; settle a corrected claim under a "
                          "new setl_id");
      if (prior.plan_id != plan.id)
        return refuse(Code::kDuplicateSetlId,
                      "setl_id '" + setl_id + "' was settled under plan " + prior.plan_id);
      return refuse(Code::kDuplicateSetlId,
                    "setl_id '" + setl_id +
                        "' was already settled with different content; a correction is a "
                        "reversal and a new setl_id");
    }
    // The person's year so far (locked until commit in PostgreSQL; SQLite's
    // write transaction holds the database).
    YearState state;
    int64_t state_version = 0, settled_before = 0;
    {
      Result<Stmt*> st = db.prepare(
          std::string("SELECT state, settlements, version FROM accumulators WHERE psn_no = ? AND "
                      "plan_id = ? AND year = ?") +
          std::string(write ? db.dialect().for_update : ""));
      if (!st.ok()) return st.status();
      (*st)->bind_text(1, psn);
      (*st)->bind_text(2, plan.id);
      (*st)->bind_int64(3, sp.year);
      Result<bool> row = (*st)->step();
      if (!row.ok()) return row.status();
      if (*row) {
        if (Status d = decode_year_state(plan, (*st)->column_text(0), &state); !d.ok()) return d;
        settled_before = (*st)->column_int64(1);
        state_version = (*st)->column_int64(2);
      }
      (*st)->reset();
    }
    const Person& person = roll.person(r.person);
    Fen pay[limits::kLayersMax] = {};
    std::vector<std::string> lines;
    ResultView v;
    v.setl_id = setl_id;
    v.psn_no = psn;
    v.pay = pay;
    Fen fund = 0, hosp = 0;
    AccidentClaim a;
    if (accident) {
      a = accident_claim_of(p.rs, 0);
      AccidentResult ar = settle_accident(plan, roll, person, a, &state);
      pay[0] = fund = ar.pay;
      v.accident = true;
      v.medfee_sumamt = a.outcome == AccidentOutcome::kMedical ? a.medical_amount : 0;
      if (explain) explain_accident(plan, a, ar, &lines);
    } else {
      const MedicalClaim c = medical_claim_of(plan, p.rs, 0);
      LayerTrace trace[limits::kLayersMax];
      const YearState before = state;
      MedicalResult m = settle_medical(plan, roll, person, c, &state, trace);
      if (m.code != Code::kOk) {
        // The base the given amount exceeded: the claim without that given amount.
        MedicalClaim probe = c;
        probe.given_mask &= (1u << m.failed_layer) - 1;
        YearState scratch = before;
        (void)settle_medical(plan, roll, person, probe, &scratch, trace);
        const size_t l = size_t(m.failed_layer);
        return refuse(m.code, "given " + plan.layers[l].id + "_pay " + fen_to_string(c.given[l]) +
                                  " exceeds the layer's base " + fen_to_string(trace[l].base));
      }
      for (size_t l = 0; l < plan.layers.size(); ++l) pay[l] = m.pay[l];
      fund = m.fund_pay_sumamt;
      hosp = m.hosp_part_amt;
      const auto amounts = p.rs.amounts(0);
      v.medfee_sumamt = amounts[kMedfeeSumamt];
      v.inscp_scp_amt = amounts[kInscpScpAmt];
      if (explain) explain_medical(plan, c, m, trace, &lines);
    }
    {
      ByteBuf b;
      sp.writer->write(v, &b);
      out->result_json = std::string(trim_line(b.view()));
    }
    if (explain) out->explanation_json = json_array(lines);
    if (!write) return Status::Ok();

    const std::string now = store::utc_timestamp_now();
    static constexpr auto& kSetlCols = kSettlementColumns;
    Rows setl(int(std::size(kSetlCols)));
    setl.add_text(setl_id);
    setl.add_text("settle");
    setl.add_text(psn);
    setl.add_text(plan.id);
    setl.add_int64(sp.version);
    setl.add_int64(sp.year);
    setl.add_text(accident ? "accident" : "medical");
    if (accident) {
      setl.add_null();
      setl.add_null();
    } else {
      setl.add_text(std::to_string(r.med_type));
      setl.add_text(out->fixmedins_code);
    }
    setl.add_text(date_to_string(r.begndate));
    if (accident) {
      setl.add_null();
    } else {
      setl.add_text(date_to_string(r.enddate));
    }
    setl.add_text(hash);
    setl.add_text(line);
    setl.add_null();  // the plain result: settlement_row.h derives it
    setl.add_int64(v.medfee_sumamt);
    setl.add_int64(v.inscp_scp_amt);
    setl.add_int64(fund);
    setl.add_int64(hosp);
    setl.add_int64(accident ? std::max(Fen{0}, v.medfee_sumamt - fund)
                            : v.medfee_sumamt - fund - hosp);
    setl.add_text(now);
    std::string layers;
    if (accident) {
      LayersEncoder::accident(fund, &layers);
    } else {
      sp.layers->medical(pay, &layers);
    }
    setl.add_text(layers);
    if (Status s = db.insert_rows({"settlements", kSetlCols, ""}, setl); !s.ok()) return s;
    if (accident) {
      static constexpr const char* kOutcome[] = {"death", "disability", "medical"};
      Result<int64_t> id = store::allocate_ids(db, "accident_cases", 1);
      if (!id.ok()) return id.status();
      Result<Stmt*> st = db.prepare(
          "INSERT INTO accident_cases (id, psn_no, accident_date, cause, outcome, "
          "disability_grade, medical_amount_fen, disaster_paid_fen, reported_by, reported_at, "
          "status, setl_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'settled', ?)");
      if (!st.ok()) return st.status();
      (*st)->bind_int64(1, *id);
      (*st)->bind_text(2, psn);
      (*st)->bind_text(3, date_to_string(a.accident_date));
      (*st)->bind_text(4, a.cause);
      (*st)->bind_text(5, kOutcome[int(a.outcome)]);
      if (a.outcome == AccidentOutcome::kDisability) {
        (*st)->bind_int64(6, a.disability_grade);
      } else {
        (*st)->bind_null(6);
      }
      (*st)->bind_int64(7, a.outcome == AccidentOutcome::kMedical ? a.medical_amount : 0);
      (*st)->bind_int64(8, a.disaster_paid);
      (*st)->bind_text(9, actor);
      (*st)->bind_text(10, now);
      (*st)->bind_text(11, setl_id);
      if (Result<int64_t> n = (*st)->execute(); !n.ok()) return n.status();
    }
    std::string listed;
    append_setl_id(setl_id, &listed);
    if (Status s = write_year_state(db, plan, psn, sp.year, state, settled_before + 1,
                                    state_version, now, listed);
        !s.ok())
      return s;
    out->committed = true;
    return Status::Ok();
  }

  void run_reverse(Db& db, Job* j) {
    Result<ReversalReport> rep = reverse_settlement(db, j->plan->p.plan, j->plan->p.text,
                                                    j->setl_id, j->reversal_id, j->actor);
    if (rep.ok()) {
      j->report = std::move(*rep);
    } else {
      j->status = rep.status();
    }
  }

  // One group commit: every claim of the group in one transaction; when
  // that fails, each claim again in its own, so one failure spoils no other.
  void run_group(Db& db, std::vector<Job*>& group) {
    Status failed;
    {
      Tx tx(db);
      failed = tx.status();
      for (Job* j : group) {
        if (!failed.ok()) break;
        failed = apply(db, *j->plan, j->line, j->psn, j->explain, true, j->actor, &j->outcome);
      }
      if (failed.ok()) {
        commit_begins();
        failed = tx.commit();
      }
    }
    if (failed.ok()) return;
    for (Job* j : group) {
      Status s = apply_alone(db, j);
      if (!s.ok()) j->status = s, j->outcome = OnlineOutcome{};
    }
  }

  // One claim in its own transaction. A constraint failure means another
  // lane stored the same setl_id (for another person) between this one's
  // look and its write: once more, the look finds it and answers
  // duplicate_setl_id (or the stored answer).
  Status apply_alone(Db& db, Job* j) {
    Status s;
    for (int attempt = 0; attempt < 2; ++attempt) {
      {
        Tx tx(db);
        s = tx.status();
        if (s.ok())
          s = apply(db, *j->plan, j->line, j->psn, j->explain, true, j->actor, &j->outcome);
        if (s.ok()) {
          commit_begins();
          s = tx.commit();
        }
      }
      if (s.code() != Code::kStoreConstraint) break;
    }
    return s;
  }

  void writer_loop(Lane& lane) {
    std::vector<Job*> group;
    for (;;) {
      group.clear();
      {
        std::unique_lock<std::mutex> lock(lane.mu);
        lane.cv.wait(lock, [&] { return !lane.queue.empty() || lane.closing; });
        if (lane.queue.empty()) return;  // closing, nothing left
        if (lane.queue.front()->reverse) {
          group.push_back(lane.queue.front());
          lane.queue.pop_front();
        } else {
          while (!lane.queue.empty() && !lane.queue.front()->reverse &&
                 group.size() < o.max_group) {
            group.push_back(lane.queue.front());
            lane.queue.pop_front();
          }
        }
      }
      room_in_log();
      if (Status room = room_for_commit(); !room.ok()) {
        for (Job* j : group) j->status = room, j->done.set_value();
        continue;
      }
      if (group[0]->reverse) {
        commit_begins();  // reverse_settlement commits inside
        run_reverse(*lane.db, group[0]);
      } else {
        run_group(*lane.db, group);
      }
      log_grew(*lane.db);
      finish(group);
    }
  }

  Status submit(std::string_view psn, Job* j) {
    {
      std::lock_guard<std::mutex> lock(state_mu);
      if (draining) return Status(Code::kUnavailable, "the settlement service is shutting down");
    }
    const size_t k = std::hash<std::string_view>{}(psn) % lanes.size();
    Lane& lane = *lanes[k];
    {
      std::lock_guard<std::mutex> lock(lane.mu);
      if (lane.closing)
        return Status(Code::kUnavailable, "the settlement service is shutting down");
      lane.queue.push_back(j);
    }
    lane.cv.notify_one();
    return Status::Ok();
  }

  void drain() {
    {
      std::lock_guard<std::mutex> lock(state_mu);
      draining = true;
    }
    for (auto& lane : lanes) {
      {
        std::lock_guard<std::mutex> lock(lane->mu);
        lane->closing = true;
      }
      lane->cv.notify_all();
    }
    for (auto& lane : lanes) {
      if (lane->thread.joinable()) lane->thread.join();
    }
    if (syncer.thread.joinable()) {
      {
        std::lock_guard<std::mutex> lock(syncer.mu);
        syncer.closing = true;
      }
      syncer.work.notify_one();
      syncer.thread.join();
    }
    if (ckpt.thread.joinable()) {
      {
        std::lock_guard<std::mutex> lock(ckpt.mu);
        ckpt.closing = true;
      }
      ckpt.work.notify_one();
      ckpt.thread.join();
    }
  }
};

OnlineSettler::OnlineSettler() : impl_(std::make_unique<Impl>()) {}

OnlineSettler::~OnlineSettler() {
  if (impl_) impl_->drain();
}

Result<std::unique_ptr<OnlineSettler>> OnlineSettler::open(const OnlineOptions& options,
                                                           std::vector<OnlinePlan> plans) {
  if (sodium_init() < 0) return store_error("libsodium failed to initialise");
  if (plans.empty()) return Status(Code::kPlanInvalid, "no plan to serve: give at least one");
  std::unique_ptr<OnlineSettler> self(new OnlineSettler());
  Impl& x = *self->impl_;
  x.o = options;
  x.o.max_group = std::max<size_t>(1, x.o.max_group);
  x.o.checkpoint_bytes = std::max<int64_t>(1, x.o.checkpoint_bytes);
  x.o.log_restart_bytes = std::max(x.o.checkpoint_bytes, x.o.log_restart_bytes);
  x.ckpt.restart_at = x.o.log_restart_bytes;
  Result<std::unique_ptr<Db>> first = store::open_db(options.url);  // migrates
  if (!first.ok()) return first.status();
  for (OnlinePlan& p : plans) {
    if (x.find_plan(p.plan.id) != nullptr)
      return Status(Code::kPlanInvalid, "plan '" + p.plan.id + "' is given twice");
    auto s = std::make_unique<Served>();
    Result<int> version = register_plan_version(**first, p.plan, p.text, options.actor);
    if (!version.ok()) return version.status();
    s->version = *version;
    s->year = p.plan.year();
    s->p = std::move(p);
    s->writer = std::make_unique<ResultWriter>(s->p.plan);
    s->layers = std::make_unique<LayersEncoder>(s->p.plan);
    x.served.push_back(std::move(s));
  }
  for (const auto& s : x.served) x.plans_view.push_back(s->p);
  const int lanes = (*first)->dialect().engine == store::Engine::kPostgres ? kPostgresLanes : 1;
  for (int i = 0; i < lanes; ++i) {
    auto lane = std::make_unique<Impl::Lane>();
    if (i == 0) {
      lane->db = std::move(*first);
    } else {
      Result<std::unique_ptr<Db>> c = store::connect_db(options.url);
      if (!c.ok()) return c.status();
      lane->db = std::move(*c);
    }
    x.lanes.push_back(std::move(lane));
  }
  if (Status s = x.readers.open(options.url, std::max(1, options.readers)); !s.ok()) return s;
  if (x.lanes[0]->db->dialect().engine == store::Engine::kSqlite) {
    Result<std::unique_ptr<store::LogSyncer>> log = x.lanes[0]->db->defer_commit_sync();
    if (!log.ok()) return log.status();
    x.syncer.log = std::move(*log);
    if (x.deferred_sync()) {
      x.syncer.thread = std::thread([&x] {
        pthread_setname_np(pthread_self(), "hb-sync");
        x.sync_loop();
      });
      x.ckpt.thread = std::thread([&x] {
        pthread_setname_np(pthread_self(), "hb-checkpoint");
        x.checkpoint_loop();
      });
      // A reader answers only once what it may have seen is on disk.
      x.readers.on_release([&x] { (void)x.await_durable(); });
    }
  }
  for (auto& lane : x.lanes) {
    Impl::Lane* l = lane.get();
    l->thread = std::thread([&x, l] {
      pthread_setname_np(pthread_self(), "hb-lane");  // top -H names it
      x.writer_loop(*l);
    });
  }
  return self;
}

const std::vector<OnlinePlan>& OnlineSettler::plans() const {
  return impl_->plans_view;
}

void OnlineSettler::drain() {
  impl_->drain();
}

Status OnlineSettler::await_durable() {
  return impl_->await_durable();
}

Status OnlineSettler::sync_failure() {
  return impl_->syncer_failure();
}

Status OnlineSettler::checkpoint_failure() {
  return impl_->checkpoint_failure();
}

Result<OnlineOutcome> OnlineSettler::presettle(std::string_view plan_id,
                                               std::string_view claim_json, bool explain) {
  Impl& x = *impl_;
  const std::string_view line = trim_line(claim_json);
  Lease db(x.readers);
  Parsed first;
  x.parse_first(line, &first);
  Result<const Served*> sp = x.route_claim(*db, plan_id, first, line);
  if (!sp.ok()) return sp.status();
  OnlineOutcome out;
  Tx tx(*db, store::TxMode::kRead);  // one consistent view
  if (!tx.ok()) return tx.status();
  if (Status s = x.apply(*db, **sp, line, first.rs.psn_no(first.r()), explain, false, "", &out);
      !s.ok())
    return s;
  if (Status d = x.syncer_failure(); !d.ok()) return d;  // what it read may be lost
  return out;
}

Result<OnlineOutcome> OnlineSettler::settle(std::string_view plan_id, std::string_view claim_json,
                                            bool explain, std::string_view actor) {
  Impl& x = *impl_;
  Job j;
  j.line = std::string(trim_line(claim_json));
  j.explain = explain;
  j.actor = std::string(actor.empty() ? std::string_view(x.o.actor) : actor);
  Parsed first;
  x.parse_first(j.line, &first);
  if (!x.routes_by_store(plan_id)) {
    // No reader needed: the one plan, or the plan named.
    const Served* s = plan_id.empty() ? x.served[0].get() : x.find_plan(plan_id);
    if (s == nullptr)
      return Status(Code::kNotFound, "plan '" + std::string(plan_id) + "' is not served here");
    j.plan = s;
  } else {
    Lease db(x.readers);
    Result<const Served*> sp = x.route_claim(*db, plan_id, first, j.line);
    if (!sp.ok()) return sp.status();
    j.plan = *sp;
  }
  std::future<void> done = j.done.get_future();
  j.psn = std::string(first.rs.psn_no(first.r()));
  if (Status s = x.submit(j.psn, &j); !s.ok()) return s;
  done.wait();
  if (!j.status.ok()) return j.status;
  return std::move(j.outcome);
}

Result<StoredSettlement> OnlineSettler::find_settlement(std::string_view setl_id) {
  Lease db(impl_->readers);
  Result<Stmt*> st = (*db).prepare(
      "SELECT s.setl_id, s.kind, s.ref_setl_id, s.psn_no, s.plan_id, s.fixmedins_code, "
      "s.plan_year, (SELECT count(*) FROM settlements v WHERE v.ref_setl_id = s.setl_id AND "
      "v.kind = 'reversal'), r.fixmedins_code, " +
      std::string(kStoredResultColumns) +
      " FROM settlements s LEFT JOIN settlements r ON r.setl_id = s.ref_setl_id WHERE "
      "s.setl_id = ?");
  if (!st.ok()) return st.status();
  (*st)->bind_text(1, setl_id);
  Result<bool> row = (*st)->step();
  if (!row.ok()) return row.status();
  if (!*row) return Status(Code::kNotFound, "no settlement '" + std::string(setl_id) + "'");
  StoredSettlement s;
  s.setl_id = std::string((*st)->column_text(0));
  s.kind = std::string((*st)->column_text(1));
  s.ref_setl_id = std::string((*st)->column_text(2));
  s.psn_no = std::string((*st)->column_text(3));
  s.plan_id = std::string((*st)->column_text(4));
  // A reversal or adjustment belongs to the hospital of what it corrects.
  s.fixmedins_code = std::string((*st)->column_text(s.kind == "settle" ? 5 : 8));
  s.plan_year = int((*st)->column_int64(6));
  s.reversed = (*st)->column_int64(7) > 0;
  Result<std::string> result = stored_result(*db, **st, 9, &impl_->plan_layers);
  if (!result.ok()) return result.status();
  s.result_json = std::move(*result);
  (*st)->reset();
  if (Status d = impl_->syncer_failure(); !d.ok()) return d;  // what it read may be lost
  return s;
}

Result<ReversalReport> OnlineSettler::reverse(std::string_view setl_id,
                                              std::string_view reversal_id,
                                              std::string_view actor) {
  Impl& x = *impl_;
  Result<StoredSettlement> found = find_settlement(setl_id);
  if (!found.ok()) return found.status();
  Job j;
  j.reverse = true;
  j.plan = x.find_plan(found->plan_id);
  if (j.plan == nullptr)
    return Status(Code::kNotFound, "settlement '" + std::string(setl_id) + "' is of plan " +
                                       found->plan_id + ", which is not served here");
  j.setl_id = std::string(setl_id);
  j.reversal_id = std::string(reversal_id);
  j.actor = std::string(actor.empty() ? std::string_view(x.o.actor) : actor);
  std::future<void> done = j.done.get_future();
  if (Status s = x.submit(found->psn_no, &j); !s.ok()) return s;
  done.wait();
  if (!j.status.ok()) return j.status;
  return std::move(j.report);
}

Result<std::string> OnlineSettler::benefits_json(const BenefitsQuery& q) {
  Impl& x = *impl_;
  using nlohmann::json;
  auto money = [](Fen f) -> json {
    if (f == kUnlimited) return nullptr;
    if (f == kVaries) return "varies";
    return fen_to_string(f);
  };
  Lease db(x.readers);
  Tx tx(*db, store::TxMode::kRead);
  if (!tx.ok()) return tx.status();
  json out = {{"psn_no", q.psn_no}, {"date", date_to_string(q.on)}, {"plans", json::array()}};
  bool known = false;
  for (const auto& sp : x.served) {
    const Plan& plan = sp->p.plan;
    if (!q.plan_id.empty() && plan.id != q.plan_id) continue;
    if (!plan.in_period(q.on)) continue;
    Roll roll;
    if (Status s = load_roll(*db, plan, &roll, q.psn_no); !s.ok()) return s;
    if (roll.size() == 0) continue;
    known = true;
    const Person& person = roll.person(0);
    YearState state;
    {
      Result<Stmt*> st = (*db).prepare(
          "SELECT state FROM accumulators WHERE psn_no = ? AND plan_id = ? AND year = ?");
      if (!st.ok()) return st.status();
      (*st)->bind_text(1, q.psn_no);
      (*st)->bind_text(2, plan.id);
      (*st)->bind_int64(3, sp->year);
      Result<bool> row = (*st)->step();
      if (!row.ok()) return row.status();
      if (*row) {
        if (Status d = decode_year_state(plan, (*st)->column_text(0), &state); !d.ok()) return d;
      }
      (*st)->reset();
    }
    const PersonBenefits b = person_benefits(plan, roll, person, q.on, state);
    json products = json::array();
    for (size_t p = 0; p < plan.products.size(); ++p) {
      products.push_back({{"product", plan.products[p].id},
                          {"name", plan.products[p].name},
                          {"covered", b.coverage[p].covered},
                          {"prior_years", b.coverage[p].prior_years}});
    }
    static constexpr const char* kWhy[] = {"",         "med_type",    "insutype", "hosp_lv",
                                           "category", "preexisting", "product"};
    json layers = json::array();
    for (size_t l = 0; l < plan.layers.size(); ++l) {
      const Layer& L = plan.layers[l];
      const LayerBenefit& lb = b.layers[l];
      json j = {{"layer", L.id},
                {"name", L.name},
                {"payer", L.payer == Payer::kFund ? "fund" : "hospital"},
                {"applies", lb.why == NotApplicable::kNone},
                {"paid", fen_to_string(lb.paid)},
                {"cap", money(lb.cap)},
                {"cap_left", money(lb.cap_left)}};
      if (lb.why != NotApplicable::kNone) j["not_applicable"] = kWhy[int(lb.why)];
      if (L.deductible_group >= 0)
        j["deductible_group"] = plan.deductible_groups[size_t(L.deductible_group)].id;
      if (L.cap_group >= 0) j["cap_group"] = plan.cap_groups[size_t(L.cap_group)].id;
      layers.push_back(std::move(j));
    }
    auto group = [&](const std::string& id, const GroupBenefit& g) {
      return json{{"id", id},
                  {"amount", money(g.amount)},
                  {"used", fen_to_string(g.used)},
                  {"left", money(g.left)}};
    };
    json deductibles = json::array(), caps = json::array();
    for (size_t d = 0; d < plan.deductible_groups.size(); ++d)
      deductibles.push_back(group(plan.deductible_groups[d].id, b.deductibles[d]));
    for (size_t c = 0; c < plan.cap_groups.size(); ++c)
      caps.push_back(group(plan.cap_groups[c].id, b.caps[c]));
    json pj = {{"plan_id", plan.id},          {"year", sp->year},
               {"plan_version", sp->version}, {"admdvs", std::to_string(person.admdvs)},
               {"insutype", person.insutype}, {"products", std::move(products)},
               {"layers", std::move(layers)}, {"deductibles", std::move(deductibles)},
               {"caps", std::move(caps)}};
    if (plan.accident_product >= 0) {
      pj["accident"] = {group("death_disability", b.accident_death_disability),
                        group("medical", b.accident_medical)};
    }
    out["plans"].push_back(std::move(pj));
  }
  if (!known)
    return Status(Code::kUnknownPerson, "person " + q.psn_no +
                                            " is not on the roll of any plan served here on " +
                                            date_to_string(q.on));
  if (Status d = x.syncer_failure(); !d.ok()) return d;  // what it read may be lost
  return out.dump();
}

}  // namespace huibao
