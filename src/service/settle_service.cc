#include "service/settle_service.h"

#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "service/roll_load.h"
#include "service/settlement_row.h"
#include "store/migrate.h"

namespace huibao {
namespace {

using store::Db;
using store::Rows;
using store::Stmt;
using store::Tx;

constexpr int64_t kPageRows = 50'000;

std::string hex(const unsigned char* p, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (size_t i = 0; i < n; ++i) s[2 * i] = kHex[p[i] >> 4], s[2 * i + 1] = kHex[p[i] & 15];
  return s;
}

std::string sha256_hex(std::string_view text) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  return hex(h, sizeof h);
}

// The request hash: BLAKE2b-128 of the claim line as received.
std::string request_hash(std::string_view line) {
  unsigned char h[16];
  crypto_generichash(h, sizeof h, reinterpret_cast<const unsigned char*>(line.data()), line.size(),
                     nullptr, 0);
  return hex(h, sizeof h);
}

int plan_year(const Plan& plan) {
  int y, m, d;
  date_to_ymd(plan.period_begin, &y, &m, &d);
  return y;
}

// The year-state entries a plan has, each with its key and its place.
struct StateField {
  std::string key;
  Fen YearState::*scalar = nullptr;  // accident totals
  std::array<Fen, limits::kLayersMax> YearState::*layers = nullptr;
  std::array<Fen, limits::kDeductibleGroupsMax> YearState::*dgroups = nullptr;
  std::array<Fen, limits::kCapGroupsMax> YearState::*cgroups = nullptr;
  size_t index = 0;

  Fen& at(YearState& s) const {
    if (scalar != nullptr) return s.*scalar;
    if (layers != nullptr) return (s.*layers)[index];
    if (dgroups != nullptr) return (s.*dgroups)[index];
    return (s.*cgroups)[index];
  }
};

std::vector<StateField> state_fields(const Plan& plan) {
  std::vector<StateField> f;
  for (size_t l = 0; l < plan.layers.size(); ++l) {
    f.push_back({"paid." + plan.layers[l].id, nullptr, &YearState::layer_paid});
    f.back().index = l;
    f.push_back({"base." + plan.layers[l].id, nullptr, &YearState::layer_cum_base});
    f.back().index = l;
  }
  for (size_t g = 0; g < plan.deductible_groups.size(); ++g) {
    f.push_back({"deductible." + plan.deductible_groups[g].id});
    f.back().dgroups = &YearState::deductible_used;
    f.back().index = g;
  }
  for (size_t g = 0; g < plan.cap_groups.size(); ++g) {
    f.push_back({"cap." + plan.cap_groups[g].id});
    f.back().cgroups = &YearState::cap_used;
    f.back().index = g;
  }
  f.push_back({"accident.death_disability", &YearState::accident_death_disability_paid});
  f.push_back({"accident.medical", &YearState::accident_medical_paid});
  return f;
}

std::string fen_text(Fen f) {
  return std::to_string(f);
}

// Stores groups on writer threads while the caller builds the next ones:
// one thread (SQLite: one writer), or several, each on its own connection
// opened from url (PostgreSQL). Groups come from a bounded queue and go back
// to a free list, so their buffers are reused. The first failure stops the
// others; groups already committed stay, as a crash would leave them.
//
// SQLite (a file): the writer has a connection of its own whose commits do
// not wait for the disk (Db::defer_commit_sync). A thread of its own syncs
// the WAL after each commit and copies it into the database (a checkpoint)
// while the writer stores the next group, on the machine's other core;
// once the WAL holds log_restart_bytes the writer, before its next group,
// waits for the copy of all it committed, so that the WAL starts over.
// finish() returns once every commit is synced: the run is as durable as
// with a sync per commit. Measured on 1,000,000 claims (48 groups): the
// writer spent 1.5-2.5 s of a 9-12 s store waiting on syncs and copying its
// own WAL with SQLite's automatic checkpoints.
template <typename G>
class GroupWriters {
 public:
  using Store = std::function<Status(Db&, G&)>;
  GroupWriters(Db& db, std::string url, int n, Store store, int64_t log_restart_bytes,
               std::function<Status()> before_sync)
      : db_(db),
        url_(std::move(url)),
        n_(url_.empty() ? 1 : std::max(1, n)),  // without a url, the one connection
        store_(std::move(store)),
        log_restart_bytes_(log_restart_bytes),
        before_sync_(std::move(before_sync)),
        restart_at_(log_restart_bytes) {}
  ~GroupWriters() { (void)finish(); }

  Status start() {
    if (n_ == 1) {
      Db* writer = &db_;
      if (!url_.empty() && db_.dialect().engine == store::Engine::kSqlite) {
        Result<std::unique_ptr<Db>> c = store::connect_db(url_);
        if (!c.ok()) return c.status();
        // No foreign-key checks on this connection: every row it writes names a
        // person of the roll read from this store and the plan version this run
        // registered, and the store never deletes persons, plans or versions, so
        // a check could not fail; it was an index search per key and row, 0.8-1.1 s
        // of the writer's 9 s for 1,000,000 claims (PostgreSQL dropped these
        // keys in migration 0004 for the same reason).
        if (Status s = (*c)->exec("PRAGMA foreign_keys=OFF"); !s.ok()) return s;
        Result<std::unique_ptr<store::LogSyncer>> log = (*c)->defer_commit_sync();
        if (!log.ok()) return log.status();
        if (*log != nullptr) {  // else an in-memory database: each commit is as it is
          log_ = std::move(*log);
          conns_.push_back(std::move(*c));
          writer = conns_.back().get();
          copier_ = std::thread([this] { copy_loop(); });
        }
      }
      threads_.emplace_back([this, writer] { work(*writer); });
      return Status::Ok();
    }
    for (int i = 0; i < n_; ++i) {
      Result<std::unique_ptr<Db>> c = store::connect_db(url_);
      if (!c.ok()) return c.status();
      conns_.push_back(std::move(*c));
    }
    for (int i = 0; i < n_; ++i) threads_.emplace_back([this, i] { work(*conns_[size_t(i)]); });
    return Status::Ok();
  }

  // An empty group, recycled when one is free.
  G fresh() {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.empty()) return G{};
    G g = std::move(free_.back());
    free_.pop_back();
    return g;
  }

  Status submit(G g) {
    std::unique_lock<std::mutex> lock(mu_);
    room_.wait(lock, [&] { return queue_.size() < size_t(n_ + 1) || !failed_.ok(); });
    if (!failed_.ok()) return failed_;
    queue_.push_back(std::move(g));
    ready_.notify_one();
    return Status::Ok();
  }

  // CPU time the writer threads have spent, in seconds (after finish).
  double cpu_seconds() const { return cpu_seconds_; }

  Status finish() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
    }
    ready_.notify_all();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    if (copier_.joinable()) {
      {
        std::unique_lock<std::mutex> lock(log_mu_);
        log_done_.wait(lock, [&] { return copied_ >= committed_ || !log_failure_.ok(); });
        log_closing_ = true;
      }
      log_work_.notify_one();
      copier_.join();
      std::lock_guard<std::mutex> lock(mu_);
      if (failed_.ok() && !log_failure_.ok()) failed_ = log_failure_;
    }
    std::lock_guard<std::mutex> lock(mu_);
    return failed_;
  }

 private:
  static double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
  }

  // The copier: syncs the WAL after each commit, then checkpoints it.
  void copy_loop() {
    for (;;) {
      uint64_t target = 0;
      {
        std::unique_lock<std::mutex> lock(log_mu_);
        log_work_.wait(lock, [&] { return log_closing_ || copied_ < committed_; });
        if (copied_ >= committed_) return;  // closing, all copied
        target = committed_;
      }
      Status s = before_sync_ ? before_sync_() : Status::Ok();
      if (s.ok()) s = log_->sync();
      if (s.ok()) s = log_->checkpoint().status();
      {
        std::lock_guard<std::mutex> lock(log_mu_);
        if (s.ok()) {
          copied_ = target;
        } else {
          log_failure_ =
              Status(s.code(), "settlements committed but not known to be on disk: " + s.message());
        }
      }
      log_done_.notify_all();
      if (!s.ok()) return;
    }
  }

  // The writer, before a group: once the WAL is long, waits for the copy of
  // all it committed, so that this group starts it over.
  // A failed sync stops the writer: nothing after it is known to be durable.
  Status room_in_log(Db& conn) {
    if (log_ == nullptr) return Status::Ok();
    std::unique_lock<std::mutex> lock(log_mu_);
    if (!log_failure_.ok() || conn.log_bytes() < restart_at_) return log_failure_;
    log_done_.wait(lock, [&] { return copied_ >= committed_ || !log_failure_.ok(); });
    // Should a reader keep the WAL from starting over, the next wait is a
    // whole restart size further on; committed() sees when it did start over.
    restart_at_ = conn.log_bytes() + log_restart_bytes_;
    return log_failure_;
  }

  void committed(const Db& conn) {
    if (log_ == nullptr) return;
    // A commit appended to the WAL leaves it longer than before; one that
    // leaves it no longer started it over: the next wait is a restart size
    // from its start (measured from the last wait, the WAL could reach
    // twice the restart size).
    if (conn.log_bytes() <= log_bytes_) restart_at_ = log_restart_bytes_;
    log_bytes_ = conn.log_bytes();
    {
      std::lock_guard<std::mutex> lock(log_mu_);
      ++committed_;
    }
    log_work_.notify_one();
  }

  void work(Db& conn) {
    const double cpu0 = thread_cpu_seconds();
    for (;;) {
      G g;
      {
        std::unique_lock<std::mutex> lock(mu_);
        ready_.wait(lock, [&] { return !queue_.empty() || closing_ || !failed_.ok(); });
        if (!failed_.ok() || queue_.empty()) {
          cpu_seconds_ += thread_cpu_seconds() - cpu0;
          return;
        }
        g = std::move(queue_.front());
        queue_.pop_front();
      }
      Status s = room_in_log(conn);
      if (s.ok()) {
        s = store_(conn, g);
        if (s.ok()) committed(conn);
      }
      g.clear();
      std::lock_guard<std::mutex> lock(mu_);
      free_.push_back(std::move(g));
      room_.notify_one();
      if (!s.ok()) {
        if (failed_.ok()) failed_ = s;
        room_.notify_all();
        ready_.notify_all();
        cpu_seconds_ += thread_cpu_seconds() - cpu0;
        return;
      }
    }
  }

  Db& db_;
  std::string url_;
  int n_;
  Store store_;
  std::vector<std::unique_ptr<Db>> conns_;
  // SQLite's deferred syncs (see above); counts are of the writer's commits.
  std::unique_ptr<store::LogSyncer> log_;
  std::thread copier_;
  std::mutex log_mu_;
  std::condition_variable log_work_, log_done_;
  uint64_t committed_ = 0, copied_ = 0;  // guarded by log_mu_
  bool log_closing_ = false;
  Status log_failure_;
  const int64_t log_restart_bytes_;
  const std::function<Status()> before_sync_;
  int64_t restart_at_;     // the writer's
  int64_t log_bytes_ = 0;  // the writer's: the WAL after its last commit
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable ready_, room_;
  std::deque<G> queue_;
  std::vector<G> free_;
  bool closing_ = false;
  Status failed_;
  double cpu_seconds_ = 0;  // guarded by mu_
};

}  // namespace

std::string plan_content_hash(const Plan& plan, std::string_view plan_text) {
  if (plan.files.empty()) return sha256_hex(plan_text);
  std::string all(plan_text);
  for (const Plan::File& f : plan.files) {
    all += '\0';
    all += f.name;
    all += '\0';
    all += f.content;
  }
  return sha256_hex(all);
}

std::string claim_request_hash(std::string_view line) {
  return request_hash(line);
}

std::string encode_year_state(const Plan& plan, const YearState& s) {
  std::string out = "{";
  YearState copy = s;
  for (const StateField& f : state_fields(plan)) {
    const Fen v = f.at(copy);
    if (v == 0) continue;
    if (out.size() > 1) out += ',';
    out += '"';
    out += f.key;
    out += "\":";
    out += fen_text(v);
  }
  out += '}';
  return out;
}

Status decode_year_state(const Plan& plan, std::string_view text, YearState* s) {
  // The flat object encode_year_state writes: {"key":integer,...}.
  auto bad = [&](std::string_view why) {
    return Status(Code::kStoreError, "stored year state " + std::string(text.substr(0, 200)) +
                                         ": " + std::string(why));
  };
  const std::vector<StateField> fields = state_fields(plan);
  *s = YearState{};
  size_t i = 0;
  if (text.empty() || text[i++] != '{') return bad("not an object");
  if (i < text.size() && text[i] == '}') return i + 1 == text.size() ? Status::Ok() : bad("trails");
  for (;;) {
    if (i >= text.size() || text[i++] != '"') return bad("a key must be quoted");
    size_t end = text.find('"', i);
    if (end == std::string_view::npos) return bad("unterminated key");
    std::string_view key = text.substr(i, end - i);
    i = end + 1;
    if (i >= text.size() || text[i++] != ':') return bad("':' expected");
    int64_t v = 0;
    auto r = std::from_chars(text.data() + i, text.data() + text.size(), v);
    if (r.ec != std::errc()) return bad("an integer amount in fen expected");
    i = size_t(r.ptr - text.data());
    auto f = std::find_if(fields.begin(), fields.end(),
                          [&](const StateField& x) { return x.key == key; });
    if (f == fields.end())
      return bad(std::string(key).append(" is not an accumulator of plan ").append(plan.id));
    f->at(*s) = v;
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    if (i < text.size() && text[i] == '}' && i + 1 == text.size()) return Status::Ok();
    return bad("',' or '}' expected");
  }
}

void append_setl_id(std::string_view setl_id, std::string* list) {
  list->append(std::to_string(setl_id.size())).append(1, ':').append(setl_id).append(1, ',');
}

Status parse_setl_ids(std::string_view list, std::vector<std::string>* ids) {
  ids->clear();
  for (size_t i = 0; i < list.size();) {
    size_t n = 0;
    auto r = std::from_chars(list.data() + i, list.data() + list.size(), n);
    const size_t at = size_t(r.ptr - list.data());
    if (r.ec != std::errc() || at >= list.size() || list[at] != ':' || n == 0 ||
        n > limits::kSetlIdBytesMax || list.size() - at - 1 < n + 1 || list[at + 1 + n] != ',')
      return Status(Code::kStoreError,
                    "accumulators.setl_ids is not a list of netstrings "
                    "\"LEN:ID,\" at byte " +
                        std::to_string(i) + ": " + std::string(list.substr(i, 80)));
    ids->emplace_back(list.substr(at + 1, n));
    i = at + 2 + n;
  }
  return Status::Ok();
}

Status write_year_state(Db& db, const Plan& plan, std::string_view psn_no, int year,
                        const YearState& state, int64_t settlements, int64_t version_read,
                        std::string_view now, std::string_view new_setl_ids) {
  Result<Stmt*> st = db.prepare(
      version_read > 0
          ? "UPDATE accumulators SET state = ?, settlements = ?, updated_at = ?, setl_ids = "
            "setl_ids || ?, version = version + 1 WHERE psn_no = ? AND plan_id = ? AND year = ? "
            "AND version = ?"
          : "INSERT INTO accumulators (state, settlements, updated_at, setl_ids, psn_no, "
            "plan_id, year, version) VALUES (?, ?, ?, ?, ?, ?, ?, 1)");
  if (!st.ok()) return st.status();
  (*st)->bind_text(1, encode_year_state(plan, state));
  (*st)->bind_int64(2, settlements);
  (*st)->bind_text(3, now);
  (*st)->bind_text(4, new_setl_ids);
  (*st)->bind_text(5, psn_no);
  (*st)->bind_text(6, plan.id);
  (*st)->bind_int64(7, year);
  if (version_read > 0) (*st)->bind_int64(8, version_read);
  Result<int64_t> n = (*st)->execute();
  if (!n.ok()) return n.status();
  if (*n != 1)
    return Status(Code::kStoreBusy,
                  std::string(psn_no) + "'s year state was changed by another writer");
  return Status::Ok();
}

Result<int> register_plan_version(Db& db, const Plan& plan, std::string_view plan_text,
                                  std::string_view actor) {
  const std::string hash = plan_content_hash(plan, plan_text);
  const std::string now = store::utc_timestamp_now();
  Tx tx(db);
  if (!tx.ok()) return tx.status();
  {
    Result<Stmt*> st =
        db.prepare("SELECT version FROM plan_versions WHERE plan_id = ? AND content_hash = ?");
    if (!st.ok()) return st.status();
    (*st)->bind_text(1, plan.id);
    (*st)->bind_text(2, hash);
    Result<bool> row = (*st)->step();
    if (!row.ok()) return row.status();
    if (*row) {
      const int version = int((*st)->column_int64(0));
      (*st)->reset();
      if (Status s = tx.commit(); !s.ok()) return s;
      return version;
    }
  }
  auto run = [&](std::string_view sql, auto&&... binds) -> Status {
    Result<Stmt*> st = db.prepare(sql);
    if (!st.ok()) return st.status();
    int k = 0;
    (
        [&](const auto& v) {
          ++k;
          if constexpr (std::is_integral_v<std::decay_t<decltype(v)>>) {
            (*st)->bind_int64(k, int64_t(v));
          } else {
            (*st)->bind_text(k, std::string_view(v));
          }
        }(binds),
        ...);
    Result<int64_t> n = (*st)->execute();
    return n.ok() ? Status::Ok() : n.status();
  };
  if (Status s = run("INSERT INTO plans (plan_id, name, created_at) VALUES (?, ?, ?) "
                     "ON CONFLICT (plan_id) DO NOTHING",
                     plan.id, plan.name, now);
      !s.ok())
    return s;
  int version = 1;
  {
    Result<Stmt*> st =
        db.prepare("SELECT COALESCE(MAX(version), 0) FROM plan_versions WHERE plan_id = ?");
    if (!st.ok()) return st.status();
    (*st)->bind_text(1, plan.id);
    Result<bool> row = (*st)->step();
    if (!row.ok()) return row.status();
    version = int((*st)->column_int64(0)) + 1;
    (*st)->reset();
  }
  if (Status s = run("INSERT INTO plan_versions (plan_id, version, year, period_begin, period_end, "
                     "toml, content_hash, loaded_at, loaded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     plan.id, version, plan_year(plan), date_to_string(plan.period_begin),
                     date_to_string(plan.period_end), plan_text, hash, now, actor);
      !s.ok())
    return s;
  for (const Plan::File& f : plan.files) {
    if (Status s = run("INSERT INTO plan_version_files (plan_id, version, file_name, content, "
                       "content_hash) VALUES (?, ?, ?, ?, ?)",
                       plan.id, version, f.name, f.content, sha256_hex(f.content));
        !s.ok())
      return s;
  }
  for (const Product& p : plan.products) {
    if (Status s =
            run("INSERT INTO products (plan_id, product, name, kind, premium_fen) VALUES "
                "(?, ?, ?, ?, ?) ON CONFLICT (plan_id, product) DO UPDATE SET name = "
                "excluded.name, kind = excluded.kind, premium_fen = excluded.premium_fen",
                plan.id, p.id, p.name, std::string(p.accident ? "accident" : "medical"), p.premium);
        !s.ok())
      return s;
  }
  if (Status s = tx.commit(); !s.ok()) return s;
  return version;
}

Status settle_into_store(Db& db, const Plan& plan, std::string_view plan_text,
                         const StoreSettleOptions& o, StoreSettleSummary* out) {
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  if (sodium_init() < 0)
    return Status(Code::kStoreError, "libsodium failed to initialise");  // idempotent
  *out = StoreSettleSummary{};
  Result<int> version = register_plan_version(db, plan, plan_text, o.actor);
  if (!version.ok()) return version.status();
  out->plan_version = *version;
  const int year = plan_year(plan);

  Roll roll;
  if (Status s = load_roll(db, plan, &roll); !s.ok()) return s;
  // Stored year states of this plan and year, by person.
  std::unordered_map<uint32_t, YearState> stored_state;
  struct StoredMeta {
    int64_t settlements, version;
  };
  std::unordered_map<uint32_t, StoredMeta> stored_meta;
  {
    std::string after;
    for (;;) {
      Result<Stmt*> st = db.prepare(
          "SELECT psn_no, state, settlements, version FROM accumulators WHERE plan_id = ? AND "
          "year = ? AND psn_no > ? ORDER BY psn_no LIMIT ?");
      if (!st.ok()) return st.status();
      (*st)->bind_text(1, plan.id);
      (*st)->bind_int64(2, year);
      (*st)->bind_text(3, after);
      (*st)->bind_int64(4, kPageRows);
      int64_t rows = 0;
      for (;; ++rows) {
        Result<bool> row = (*st)->step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        std::string_view psn = (*st)->column_text(0);
        after.assign(psn);
        const int64_t who = roll.find(psn);
        if (who < 0)
          return Status(Code::kStoreError,
                        "accumulators name " + std::string(psn) + ", who is not on the roll");
        YearState s;
        if (Status d = decode_year_state(plan, (*st)->column_text(1), &s); !d.ok()) return d;
        stored_state.emplace(uint32_t(who), s);
        stored_meta.emplace(uint32_t(who),
                            StoredMeta{(*st)->column_int64(2), (*st)->column_int64(3)});
      }
      if (rows < kPageRows) break;
    }
  }

  BatchOptions bo = o.batch;
  bo.keep_raw = true;
  BatchJob job(plan, roll, bo);
  if (Status s = job.parse(); !s.ok()) return s;

  // setl_ids already stored: the same line is answered as then; another is refused.
  {
    // The file's ids, hashed once a stored row is seen (a store with no
    // settlements yet skips it: 0.6 s of a 1,000,000-claim year).
    std::unordered_map<std::string_view, uint32_t> wanted;
    bool hashed = false;
    std::string after;
    std::vector<std::pair<uint32_t, std::string>> same;  // record, stored hash matched
    for (;;) {
      Result<Stmt*> st = db.prepare(
          "SELECT s.setl_id, s.request_hash, (SELECT count(*) FROM settlements r WHERE "
          "r.ref_setl_id = s.setl_id AND r.kind = 'reversal') FROM settlements s WHERE s.kind = "
          "'settle' AND s.setl_id > ? ORDER BY s.setl_id LIMIT ?");
      if (!st.ok()) return st.status();
      (*st)->bind_text(1, after);
      (*st)->bind_int64(2, kPageRows);
      int64_t rows = 0;
      for (;; ++rows) {
        Result<bool> row = (*st)->step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        std::string_view id = (*st)->column_text(0);
        after.assign(id);
        if (!hashed) {
          wanted.reserve(job.size());
          for (uint32_t i = 0; i < job.size(); ++i) {
            if (job.settleable(i)) wanted.emplace(job.setl_id(i), i);
          }
          hashed = true;
        }
        auto it = wanted.find(id);
        if (it == wanted.end()) continue;
        const uint32_t i = it->second;
        if ((*st)->column_int64(2) > 0) {
          job.reject(i, Code::kDuplicateSetlId,
                     "setl_id '" + std::string(id) +
                         "' was settled and then reversed; settle a corrected claim under a "
                         "new setl_id");
        } else if ((*st)->column_text(1) == request_hash(job.raw_line(i))) {
          same.emplace_back(i, std::string(id));
        } else {
          job.reject(i, Code::kDuplicateSetlId,
                     "setl_id '" + std::string(id) +
                         "' was already settled with different content; a correction is a "
                         "reversal and a new setl_id");
        }
      }
      if (rows < kPageRows) break;
    }
    PlanLayers plan_layers;
    for (auto& [i, id] : same) {
      Result<Stmt*> st = db.prepare("SELECT " + std::string(kStoredResultColumns) +
                                    " FROM settlements s WHERE s.setl_id = ?");
      if (!st.ok()) return st.status();
      (*st)->bind_text(1, id);
      Result<bool> row = (*st)->step();
      if (!row.ok()) return row.status();
      if (*row) {
        Result<std::string> result = stored_result(db, **st, 0, &plan_layers);
        if (!result.ok()) return result.status();
        job.replay(i, std::move(*result));
      }
      (*st)->reset();
    }
  }
  out->load_seconds = std::chrono::duration<double>(Clock::now() - t0).count();

  job.settle([&](uint32_t p) {
    auto it = stored_state.find(p);
    return it == stored_state.end() ? YearState{} : it->second;
  });

  // Store persons in groups, one transaction per group.
  auto t1 = Clock::now();
  static constexpr auto& kSetlCols = kSettlementColumns;
  static constexpr std::string_view kStateCols[] = {
      "psn_no", "plan_id", "year", "state", "settlements", "version", "updated_at", "setl_ids"};
  // Year states already stored are updated only if no one else wrote them
  // since this run read them (version); new ones are inserted, and a
  // concurrent insert of the same person's year fails the unique key.
  struct Update {
    std::string psn, state;
    int64_t settlements, version;
    std::string setl_ids;  // to append
  };
  // One transaction's worth: a group of persons, their settlements and
  // their year states.
  struct Group {
    Rows setl{int(std::size(kSetlCols))};
    Rows states{int(std::size(kStateCols))};
    std::vector<Update> updates;
    // Accident cases settled in the group (their ids are given when stored).
    struct Case {
      std::string psn, date, cause, outcome, setl_id;
      int grade;
      Fen medical, disaster;
    };
    std::vector<Case> cases;
    std::string now;
    bool empty() const {
      return setl.rows() == 0 && states.rows() == 0 && updates.empty() && cases.empty();
    }
    void clear() {  // keeps the buffers
      setl.clear();
      states.clear();
      updates.clear();
      cases.clear();
    }
  };
  Group group;
  group.now = store::utc_timestamp_now();
  const size_t nl = plan.layers.size();
  const LayersEncoder layers_encoder(plan);
  std::vector<Fen> pay(nl);
  std::string layers, setl_ids;
  // Test hook: end the process after this many commits, as a crash would.
  const char* crash_env = std::getenv("HUIBAO_TEST_EXIT_AFTER_COMMITS");
  const uint64_t crash_after = crash_env != nullptr ? std::strtoull(crash_env, nullptr, 10) : 0;
  Status failed;
  size_t persons_in_group = 0;

  std::atomic<uint64_t> commits{0};
  auto store_group = [&](Db& to, const Group& g) -> Status {
    Tx tx(to);
    if (!tx.ok()) return tx.status();
    if (Status s = to.insert_rows({"settlements", kSetlCols, ""}, g.setl); !s.ok()) return s;
    if (!g.cases.empty()) {
      static constexpr std::string_view kCaseCols[] = {"id",
                                                       "psn_no",
                                                       "accident_date",
                                                       "cause",
                                                       "outcome",
                                                       "disability_grade",
                                                       "medical_amount_fen",
                                                       "disaster_paid_fen",
                                                       "reported_by",
                                                       "reported_at",
                                                       "status",
                                                       "setl_id"};
      Result<int64_t> first = store::allocate_ids(to, "accident_cases", int64_t(g.cases.size()));
      if (!first.ok()) return first.status();
      Rows rows(int(std::size(kCaseCols)));
      int64_t id = *first;
      for (const auto& c : g.cases) {
        rows.add_int64(id++);
        rows.add_text(c.psn);
        rows.add_text(c.date);
        rows.add_text(c.cause);
        rows.add_text(c.outcome);
        if (c.grade > 0) {
          rows.add_int64(c.grade);
        } else {
          rows.add_null();
        }
        rows.add_int64(c.medical);
        rows.add_int64(c.disaster);
        rows.add_text(o.actor);
        rows.add_text(g.now);
        rows.add_text("settled");
        rows.add_text(c.setl_id);
      }
      if (Status s = to.insert_rows({"accident_cases", kCaseCols, ""}, rows); !s.ok()) return s;
    }
    auto raced = [&](std::string_view who) {
      return Status(Code::kStoreBusy,
                    std::string(who) +
                        "'s year was changed by another settlement or reversal while this run "
                        "was settling it; nothing of this group was stored. Run the file again: "
                        "what is stored is answered as before and the rest settles on the new "
                        "state");
    };
    if (Status s = to.insert_rows({"accumulators", kStateCols, ""}, g.states); !s.ok())
      return s.code() == Code::kStoreConstraint ? raced("a person") : s;
    for (const Update& u : g.updates) {
      Result<Stmt*> st = to.prepare(
          "UPDATE accumulators SET state = ?, settlements = ?, version = version + 1, updated_at "
          "= ?, setl_ids = setl_ids || ? WHERE psn_no = ? AND plan_id = ? AND year = ? AND "
          "version = ?");
      if (!st.ok()) return st.status();
      (*st)->bind_text(1, u.state);
      (*st)->bind_int64(2, u.settlements);
      (*st)->bind_text(3, g.now);
      (*st)->bind_text(4, u.setl_ids);
      (*st)->bind_text(5, u.psn);
      (*st)->bind_text(6, plan.id);
      (*st)->bind_int64(7, year);
      (*st)->bind_int64(8, u.version);
      Result<int64_t> n = (*st)->execute();
      if (!n.ok()) return n.status();
      if (*n != 1) return raced(u.psn);
    }
    if (Status s = tx.commit(); !s.ok()) return s;
    if (++commits == crash_after && crash_after > 0) std::_Exit(86);
    return Status::Ok();
  };
  // PostgreSQL takes groups on several connections at once (the server, not
  // this process, is the bottleneck); SQLite has one writer.
  GroupWriters<Group> writers(
      db, o.url, db.dialect().engine == store::Engine::kPostgres ? o.writers : 1,
      [&](Db& to, Group& g) { return store_group(to, g); }, o.log_restart_bytes, o.before_sync);
  if (Status s = writers.start(); !s.ok()) return s;
  auto flush = [&]() -> Status {
    if (group.empty()) return Status::Ok();
    Status s = writers.submit(std::move(group));
    group = writers.fresh();
    group.now = store::utc_timestamp_now();
    persons_in_group = 0;
    return s;
  };

  job.for_each_person([&](uint32_t p, const uint32_t* records, size_t count,
                          const YearState& final_state) {
    if (!failed.ok()) return;
    const std::string_view psn = roll.person(p).id();
    int64_t settled_here = 0;
    setl_ids.clear();
    for (size_t k = 0; k < count; ++k) {
      const uint32_t i = records[k];
      if (job.code(i) != Code::kOk) continue;  // given_exceeds_base: not applied, not stored
      ++settled_here;
      append_setl_id(job.setl_id(i), &setl_ids);
      const Fen medfee = job.medfee_sumamt(i), inscp = job.inscp_scp_amt(i);
      Fen fund = 0, hosp = 0;
      if (job.accident(i)) {
        fund = job.pay(i, 0);
        LayersEncoder::accident(fund, &layers);
      } else {
        for (size_t l = 0; l < nl; ++l) {
          pay[l] = job.pay(i, l);
          (plan.layers[l].payer == Payer::kFund ? fund : hosp) += pay[l];
        }
        layers_encoder.medical(pay.data(), &layers);
      }
      if (job.accident(i)) {
        static constexpr const char* kOutcome[] = {"death", "disability", "medical"};
        group.cases.push_back(
            {std::string(psn), date_to_string(job.begndate(i)), std::string(job.cause(i)),
             kOutcome[int(job.outcome(i))], std::string(job.setl_id(i)), job.disability_grade(i),
             job.outcome(i) == AccidentOutcome::kMedical ? medfee : 0, job.disaster_paid(i)});
      }
      group.setl.add_text(job.setl_id(i));
      group.setl.add_text("settle");
      group.setl.add_text(psn);
      group.setl.add_text(plan.id);
      group.setl.add_int64(out->plan_version);
      group.setl.add_int64(year);
      group.setl.add_text(job.accident(i) ? "accident" : "medical");
      if (job.accident(i)) {
        group.setl.add_null();
        group.setl.add_null();
      } else {
        group.setl.add_text(std::to_string(job.med_type(i)));
        group.setl.add_text(job.fixmedins_code(i));
      }
      group.setl.add_text(date_to_string(job.begndate(i)));
      if (job.accident(i)) {
        group.setl.add_null();
      } else {
        group.setl.add_text(date_to_string(job.enddate(i)));
      }
      group.setl.add_text(request_hash(job.raw_line(i)));
      group.setl.add_text(job.raw_line(i));
      group.setl.add_null();  // the plain result: settlement_row.h derives it
      group.setl.add_int64(medfee);
      group.setl.add_int64(inscp);
      group.setl.add_int64(fund);
      group.setl.add_int64(hosp);
      group.setl.add_int64(job.accident(i) ? std::max(Fen{0}, medfee - fund)
                                           : medfee - fund - hosp);
      group.setl.add_text(group.now);
      group.setl.add_text(layers);
    }
    if (settled_here > 0) {
      if (auto m = stored_meta.find(p); m != stored_meta.end()) {
        group.updates.push_back({std::string(psn), encode_year_state(plan, final_state),
                                 m->second.settlements + settled_here, m->second.version,
                                 setl_ids});
      } else {
        group.states.add_text(psn);
        group.states.add_text(plan.id);
        group.states.add_int64(year);
        group.states.add_text(encode_year_state(plan, final_state));
        group.states.add_int64(settled_here);
        group.states.add_int64(1);
        group.states.add_text(group.now);
        group.states.add_text(setl_ids);
      }
      out->stored += uint64_t(settled_here);
    }
    if (++persons_in_group >= o.persons_per_commit) failed = flush();
  });
  if (failed.ok()) failed = flush();
  if (Status s = writers.finish(); failed.ok()) failed = s;
  if (!failed.ok()) return failed;
  out->commits = commits;
  out->writer_cpu_seconds = writers.cpu_seconds();
  out->persist_seconds = std::chrono::duration<double>(Clock::now() - t1).count();
  return job.write(&out->batch);
}

}  // namespace huibao
