#include "batch/batch.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "batch/claim_parse.h"
#include "batch/out_file.h"
#include "batch/record.h"
#include "batch/result_json.h"
#include "settle/explain.h"

namespace huibao {

std::string fen128_to_string(__int128 f) {
  bool neg = f < 0;
  unsigned __int128 v = neg ? (unsigned __int128)(-f) : (unsigned __int128)f;
  std::string digits;
  do {
    digits += char('0' + int(v % 10));
    v /= 10;
  } while (v != 0);
  while (digits.size() < 3) digits += '0';
  std::string out = neg ? "-" : "";
  for (size_t i = digits.size(); i-- > 0;) {
    out += digits[i];
    if (i == 2) out += '.';
  }
  return out;
}

namespace {

constexpr size_t kBlockBytes = 8 << 20;           // claims read per block
constexpr size_t kWriteRecords = 1 << 13;         // results formatted per thread and block
constexpr size_t kWriteRecordsExplain = 1 << 11;  // (explained results are ~5x longer)

int thread_count(const BatchOptions& o) {
  if (o.threads > 0) return o.threads;
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : int(std::min(hw, 16u));
}

// Runs f(i) for i in [0, n) on up to t threads.
template <typename F>
void parallel_for(int t, size_t n, F f) {
  if (t <= 1 || n <= 1) {
    for (size_t i = 0; i < n; ++i) f(i);
    return;
  }
  std::vector<std::thread> pool;
  for (size_t i = 1; i < n; ++i) pool.emplace_back(f, i);
  f(0);
  for (auto& th : pool) th.join();
}

// Makes the pages of [p, p + bytes) resident and writable, split over threads.
void prefault(void* p, size_t bytes, int threads) {
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (uintptr_t(p) + page - 1) & ~(page - 1);
  const uintptr_t end = (uintptr_t(p) + bytes) & ~(page - 1);
  if (end <= begin) return;
  const size_t pages = (end - begin) / page;
  parallel_for(threads, size_t(threads), [&](size_t t) {
    const uintptr_t a = begin + pages * t / size_t(threads) * page;
    const uintptr_t b = begin + pages * (t + 1) / size_t(threads) * page;
    if (b > a) ::madvise(reinterpret_cast<void*>(a), b - a, MADV_POPULATE_WRITE);  // advisory
  });
}

// v = n copies of value, in memory made resident on all cores first.
template <typename T>
void fresh_table(BigVector<T>* v, size_t n, T value, int threads) {
  BigVector<T>().swap(*v);
  v->reserve(n);
  prefault(v->data(), n * sizeof(T), threads);
  v->assign(n, value);
}

// ---- phase 1: stream and parse ----

// keep_raw: the whole claims file, read once into *out (followed by the
// parser's padding), so that each line is kept where it was read rather than
// copied. A regular file is read in one part per thread, each thread taking
// its part's first page faults, and refused if it changes size meanwhile; a
// pipe is read to its end.
Status read_whole(int fd, const std::string& path, int threads, BigBuffer* out, size_t* bytes) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return Status(Code::kIoError,
                  "cannot read claims file '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) {
    BigString all;
    std::vector<char> chunk(size_t(1) << 20);
    for (;;) {
      const ssize_t n = ::read(fd, chunk.data(), chunk.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0)
        return Status(Code::kIoError, "read error on '" + path + "': " + std::strerror(errno));
      if (n == 0) break;
      all.append(chunk.data(), size_t(n));
    }
    *out = BigBuffer(all.size() + ClaimParser::kPadding);
    std::memcpy(out->data(), all.data(), all.size());
    std::memset(out->data() + all.size(), ' ', ClaimParser::kPadding);
    *bytes = all.size();
    return Status::Ok();
  }
  const size_t size = size_t(st.st_size);
  try {
    *out = BigBuffer(size + ClaimParser::kPadding);
  } catch (const std::bad_alloc&) {
    return Status(Code::kLimitExceeded, "claims file '" + path + "' (" + std::to_string(size) +
                                            " bytes) does not fit in memory; split the file");
  }
  std::atomic<int> error{0};
  std::atomic<bool> short_read{false};
  parallel_for(threads, size_t(threads), [&](size_t t) {
    size_t at = size * t / size_t(threads);
    const size_t end = size * (t + 1) / size_t(threads);
    while (at < end) {
      const ssize_t n = ::pread(fd, out->data() + at, end - at, off_t(at));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error = errno;
        return;
      }
      if (n == 0) {
        short_read = true;
        return;
      }
      at += size_t(n);
    }
  });
  char probe = 0;
  if (error == 0 && !short_read && ::pread(fd, &probe, 1, off_t(size)) != 0) short_read = true;
  if (error != 0)
    return Status(Code::kIoError, "read error on '" + path + "': " + std::strerror(error.load()));
  if (short_read)
    return Status(Code::kIoError, "claims file '" + path +
                                      "' changed size while it was read; settle it once it is "
                                      "complete");
  std::memset(out->data() + size, ' ', ClaimParser::kPadding);
  *bytes = size;
  return Status::Ok();
}

Status parse_claims(const Plan& plan, const Roll& roll, const BatchOptions& o, int threads,
                    RecordSet* all) {
  int fd = ::open(o.claims_path.c_str(), O_RDONLY);
  if (fd < 0)
    return Status(Code::kIoError,
                  "cannot read claims file '" + o.claims_path + "': " + std::strerror(errno));
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  off_t total = ::lseek(fd, 0, SEEK_END);
  ::lseek(fd, 0, SEEK_SET);
  // The whole file in memory (keep_raw), or blocks of it read in turn.
  const bool whole = all->keep_raw;
  size_t whole_bytes = 0;
  if (whole) {
    Status s = read_whole(fd, o.claims_path, threads, &all->input, &whole_bytes);
    if (!s.ok()) {
      ::close(fd);
      return s;
    }
    all->raw_origin = all->input.data();
    total = off_t(whole_bytes);
  }
  std::vector<std::unique_ptr<ClaimParser>> parsers;
  for (int i = 0; i < threads; ++i) parsers.push_back(std::make_unique<ClaimParser>(plan, roll));
  BigVector<char> buf(whole ? 0 : kBlockBytes + ClaimParser::kPadding);
  std::vector<RecordSet> sets(static_cast<size_t>(threads));  // one per worker, reused
  for (RecordSet& set : sets) {
    set.keep_raw = all->keep_raw;
    set.raw_origin = all->raw_origin;
  }
  const char* base = buf.data();  // the block: [base, base + have)
  size_t have = 0;
  bool eof = false;
  bool skipping = false;  // inside an over-long line
  uint64_t done_bytes = 0;
  int last_pct = -1;
  while (!eof || have > 0) {
    if (whole) {
      base = all->input.data() + done_bytes;
      have = std::min(kBlockBytes, whole_bytes - size_t(done_bytes));
      eof = done_bytes + have == whole_bytes;
      if (have == 0) break;
    } else {
      while (!eof && have < kBlockBytes) {
        ssize_t n = ::read(fd, buf.data() + have, kBlockBytes - have);
        if (n < 0) {
          if (errno == EINTR) continue;
          ::close(fd);
          return Status(Code::kIoError,
                        "read error on '" + o.claims_path + "': " + std::strerror(errno));
        }
        if (n == 0) eof = true;
        have += size_t(n);
      }
      std::memset(buf.data() + have, ' ', ClaimParser::kPadding);
    }
    // Complete lines end at the last LF; at EOF the rest is the last line.
    size_t end = have;
    if (!eof) {
      const char* nl = static_cast<const char*>(memrchr(base, '\n', have));
      if (nl == nullptr) {
        // A line longer than the block: record it once as malformed, skip to its end.
        if (!skipping) {
          RecordSet one;
          one.keep_raw = all->keep_raw;
          parsers[0]->parse(std::string_view(base, limits::kClaimLineBytesMax + 1), &one);
          all->append(one);
          skipping = true;
        }
        done_bytes += have;
        have = 0;
        continue;
      }
      end = size_t(nl - base) + 1;
    }
    std::string_view block(base, end);
    if (skipping) {
      size_t nl = block.find('\n');
      block.remove_prefix(nl == std::string_view::npos ? block.size() : nl + 1);
      skipping = false;
    }
    // Split the block at line boundaries into one part per thread.
    std::vector<std::string_view> parts;
    size_t start = 0;
    for (int t = 0; t < threads; ++t) {
      size_t cut = t + 1 == threads ? block.size() : block.size() * size_t(t + 1) / size_t(threads);
      if (cut < start) cut = start;
      if (cut < block.size()) {
        size_t nl = block.find('\n', cut);
        cut = nl == std::string_view::npos ? block.size() : nl + 1;
      }
      parts.push_back(block.substr(start, cut - start));
      start = cut;
    }
    for (RecordSet& set : sets) set.clear();
    parallel_for(int(parts.size()), parts.size(),
                 [&](size_t t) { parsers[t]->parse_lines(parts[t], &sets[t]); });
    if (all->records.empty() && end > 0 && total > 0) {
      // Size the record table once from the first block's density, so that
      // appending never copies millions of records while the table grows.
      size_t in_block = 0;
      for (const auto& s : sets) in_block += s.records.size();
      double estimate = double(total) / double(end) * double(in_block) * 1.02 + 1024;
      all->records.reserve(size_t(std::min(estimate, double(limits::kRecordsPerBatchMax))));
      all->buckets.reserve(all->records.capacity() * plan.buckets.size());
      size_t text_in_block = 0;
      for (const auto& s : sets) text_in_block += s.text.size();
      all->text.reserve(size_t(double(total) / double(end) * double(text_in_block) * 1.02) + 4096);
      // First touch of fresh memory is costly (zeroing, and on a virtual
      // machine the host's own fault): take it on all cores now rather than
      // on one while appending.
      prefault(all->records.data(), all->records.capacity() * sizeof(Record), threads);
      prefault(all->buckets.data(), all->buckets.capacity() * sizeof(Fen), threads);
      prefault(all->text.data(), all->text.capacity(), threads);
      if (all->keep_raw) {  // where the settleable lines are (settle --db stores them)
        all->raw_at.reserve(all->records.capacity());
        all->raw_len.reserve(all->records.capacity());
        prefault(all->raw_at.data(), all->raw_at.capacity() * sizeof(uint64_t), threads);
        prefault(all->raw_len.data(), all->raw_len.capacity() * sizeof(uint32_t), threads);
      }
    }
    for (const RecordSet& set : sets) all->append(set);
    if (all->records.size() > limits::kRecordsPerBatchMax) {
      ::close(fd);
      return Status(Code::kLimitExceeded, "more than " +
                                              std::to_string(limits::kRecordsPerBatchMax) +
                                              " records in one batch; split the file");
    }
    done_bytes += end;
    if (whole) {
      have = 0;
    } else {
      std::memmove(buf.data(), buf.data() + end, have - end);
      have -= end;
    }
    if (o.progress && total > 0) {
      int pct = int(done_bytes * 100 / uint64_t(total));
      if (pct != last_pct) {
        std::fprintf(stderr, "\rsettle: read %llu records (%d%%)",
                     (unsigned long long)all->records.size(), pct);
        last_pct = pct;
      }
    }
  }
  ::close(fd);
  if (o.progress) std::fprintf(stderr, "\n");
  return Status::Ok();
}

// ---- phase 2a: duplicates in input order ----
uint64_t hash_bytes(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a, then a final mix
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ULL;
  return h ^ (h >> 32);
}

// Each thread owns the setl_ids whose hash falls in its share and scans all
// records in input order, so the first use of an id always wins.
void mark_duplicates(int threads, RecordSet* rs) {
  const size_t n = rs->records.size();
  BigVector<uint64_t> hash;
  fresh_table(&hash, n, uint64_t{0}, threads);
  parallel_for(threads, size_t(threads), [&](size_t t) {
    for (size_t i = n * t / size_t(threads); i < n * (t + 1) / size_t(threads); ++i) {
      const Record& r = rs->records[i];
      // 0 marks a record out of the running; a settleable one's hash is odd.
      hash[i] = r.code == Code::kOk ? hash_bytes(rs->setl_id(r)) | 1 : 0;
    }
  });
  std::vector<std::vector<uint32_t>> dups(static_cast<size_t>(threads));
  parallel_for(threads, size_t(threads), [&](size_t t) {
    size_t cap = 16;
    while (cap < n * 2 / size_t(threads) + 16) cap <<= 1;
    BigVector<uint32_t> table(cap, UINT32_MAX);
    const size_t mask = cap - 1;
    for (uint32_t i = 0; i < n; ++i) {
      const uint64_t h = hash[i];
      if (h == 0 || (h >> 1) % uint64_t(threads) != t) continue;
      const std::string_view id = rs->setl_id(rs->records[i]);
      for (size_t k = (h >> 8) & mask;; k = (k + 1) & mask) {
        uint32_t j = table[k];
        if (j == UINT32_MAX) {
          table[k] = i;
          break;
        }
        if (hash[j] == h && rs->setl_id(rs->records[j]) == id) {
          dups[t].push_back(i);
          break;
        }
      }
    }
  });
  for (const auto& d : dups) {
    for (uint32_t i : d) {
      Record& r = rs->records[i];
      r.code = Code::kDuplicateSetlId;
      rs->messages.emplace(
          i, "setl_id '" + std::string(rs->setl_id(r)) + "' was already used by an earlier record");
    }
  }
}

// What each record paid per layer, in 32 bits like the claim amounts it is
// paid from, with the rare wider ones kept aside.
// set() may run on many threads for distinct records; get() once they are done.
class PayTable {
 public:
  void reset(size_t records, size_t layers, int threads) {
    layers_ = layers;
    fresh_table(&narrow_, records * layers, int32_t{0}, threads);
    wide_.clear();
  }
  void set(size_t i, size_t l, Fen v) {
    if (fits_narrow(v)) {
      narrow_[i * layers_ + l] = int32_t(v);
      return;
    }
    narrow_[i * layers_ + l] = kWideFen;
    std::lock_guard<std::mutex> lock(mu_);
    wide_[i * layers_ + l] = v;
  }
  Fen get(size_t i, size_t l) const {
    const int32_t v = narrow_[i * layers_ + l];
    return v != kWideFen ? v : wide_.at(i * layers_ + l);
  }
  void prefetch(size_t i) const { __builtin_prefetch(&narrow_[i * layers_], 1); }
  void row(size_t i, Fen* out) const {
    for (size_t l = 0; l < layers_; ++l) out[l] = get(i, l);
  }

 private:
  size_t layers_ = 0;
  BigVector<int32_t> narrow_;
  std::mutex mu_;
  std::unordered_map<size_t, Fen> wide_;
};

// A compact copy of the YearState fields a plan uses, kept per claim when
// explanations are wanted, so the writer can replay the claim with a trace.
struct StateLayout {
  size_t layers, dgroups, cgroups;
  size_t size() const { return 2 * layers + dgroups + cgroups + 2; }
  void save(const YearState& s, Fen* out) const {
    for (size_t l = 0; l < layers; ++l)
      out[l] = s.layer_paid[l], out[layers + l] = s.layer_cum_base[l];
    for (size_t g = 0; g < dgroups; ++g) out[2 * layers + g] = s.deductible_used[g];
    for (size_t g = 0; g < cgroups; ++g) out[2 * layers + dgroups + g] = s.cap_used[g];
    out[size() - 2] = s.accident_death_disability_paid;
    out[size() - 1] = s.accident_medical_paid;
  }
  YearState load(const Fen* in) const {
    YearState s;
    for (size_t l = 0; l < layers; ++l)
      s.layer_paid[l] = in[l], s.layer_cum_base[l] = in[layers + l];
    for (size_t g = 0; g < dgroups; ++g) s.deductible_used[g] = in[2 * layers + g];
    for (size_t g = 0; g < cgroups; ++g) s.cap_used[g] = in[2 * layers + dgroups + g];
    s.accident_death_disability_paid = in[size() - 2];
    s.accident_medical_paid = in[size() - 1];
    return s;
  }
};

struct Exceeded {
  Fen base = 0, given = 0;
  uint8_t layer = 0;
};

// With explanations on, each claim is replayed with a trace when its line is
// written. The state before a claim is rebuilt from the person's last
// checkpoint (kept every kCheckpointEvery claims; none for the first, whose
// state is zero) by re-settling the claims between.
constexpr uint32_t kCheckpointEvery = 8;

struct Settled {
  PayTable pay;                                      // per record and layer (accident: layer 0)
  std::unordered_map<uint32_t, Exceeded> exceeded;   // given_exceeds_base records
  std::unordered_map<uint32_t, std::string> stored;  // RecordKind::kStored -> its result line
  BatchJob::InitialState initial;                    // empty: every person starts at zero
  // The year state after each person's claims (BatchJob::for_each_person):
  bool keep_finals = false;
  BigVector<Fen> finals;  // layout.size() per person, by order of start
  // Explanations (and keep_finals) only:
  BigVector<uint32_t> start;        // person p's claims are order[start[p]..start[p+1])
  BigVector<uint32_t> order;        // settleable records by person, each person's in claim order
  BigVector<uint32_t> position;     // record -> its index in order
  BigVector<uint32_t> first_check;  // person -> their first checkpoint
  BigVector<Fen> checkpoints;       // layout.size() each
};

bool to_settle(const Record& r) {
  return r.code == Code::kOk && r.kind != RecordKind::kStored;
}

// ---- phase 2b: settle each person's claims in order ----
void settle_all(const Plan& plan, const Roll& roll, int threads, bool explain,
                const StateLayout& layout, RecordSet* rs, Settled* out) {
  const size_t n = rs->records.size();
  const size_t nl = plan.layers.size();
  out->pay.reset(n, nl, threads);
  // Counting sort of settleable records by person.
  BigVector<uint32_t>& start = out->start;
  start.assign(roll.size() + 1, 0);
  for (const Record& r : rs->records) {
    if (to_settle(r)) ++start[r.person + 1];
  }
  for (size_t p = 0; p < roll.size(); ++p) start[p + 1] += start[p];
  BigVector<uint32_t>& order = out->order;
  fresh_table(&order, start[roll.size()], uint32_t{0}, threads);
  if (explain) {
    fresh_table(&out->position, n, uint32_t{0}, threads);
    out->first_check.assign(roll.size() + 1, 0);
    for (size_t p = 0; p < roll.size(); ++p) {
      const uint32_t claims = start[p + 1] - start[p];
      out->first_check[p + 1] =
          out->first_check[p] + (claims == 0 ? 0 : (claims - 1) / kCheckpointEvery);
    }
    out->checkpoints.assign(size_t(out->first_check[roll.size()]) * layout.size(), 0);
  }
  if (out->keep_finals) out->finals.assign(roll.size() * layout.size(), 0);
  {
    BigVector<uint32_t> fill(start.begin(), start.end() - 1);
    for (uint32_t i = 0; i < n; ++i) {
      const Record& r = rs->records[i];
      if (to_settle(r)) order[fill[r.person]++] = i;
    }
  }
  auto before = [&](uint32_t a, uint32_t b) {
    const Record& x = rs->records[a];
    const Record& y = rs->records[b];
    if (x.begndate != y.begndate) return x.begndate < y.begndate;
    if (x.enddate != y.enddate) return x.enddate < y.enddate;
    return rs->setl_id(x) < rs->setl_id(y);
  };
  // Split persons so that each thread gets about the same number of claims.
  std::vector<size_t> cut(size_t(threads) + 1, roll.size());
  cut[0] = 0;
  for (int t = 1; t < threads; ++t) {
    uint32_t want = uint32_t(uint64_t(order.size()) * uint64_t(t) / uint64_t(threads));
    cut[size_t(t)] = size_t(std::lower_bound(start.begin(), start.end(), want) - start.begin());
    cut[size_t(t)] = std::min(std::max(cut[size_t(t)], cut[size_t(t) - 1]), roll.size());
  }
  std::vector<std::unordered_map<uint32_t, Exceeded>> exceeded(static_cast<size_t>(threads));
  const size_t nb = plan.buckets.size();
  parallel_for(threads, size_t(threads), [&](size_t t) {
    // Records are visited in person order, which is random in memory: fetch
    // a few persons ahead so their records are in cache when settled.
    constexpr size_t kAhead = 4;
    auto prefetch = [&](size_t q) {
      if (q >= cut[t + 1]) return;
      for (uint32_t k = start[q]; k < start[q + 1]; ++k) {
        const uint32_t i = order[k];
        __builtin_prefetch(&rs->records[i]);
        if (nb > 0) __builtin_prefetch(&rs->buckets[size_t(i) * nb]);
        out->pay.prefetch(i);
      }
    };
    for (size_t q = cut[t]; q < cut[t] + kAhead; ++q) prefetch(q);
    for (size_t p = cut[t]; p < cut[t + 1]; ++p) {
      prefetch(p + kAhead);
      uint32_t* first = order.data() + start[p];
      uint32_t* last = order.data() + start[p + 1];
      if (first == last) continue;
      std::sort(first, last, before);
      const Person& person = roll.person(p);
      YearState state = out->initial ? out->initial(uint32_t(p)) : YearState{};
      for (uint32_t* it = first; it != last; ++it) {
        const uint32_t i = *it;
        Record& r = rs->records[i];
        if (explain) {
          const uint32_t k = uint32_t(it - first);
          out->position[i] = start[p] + k;
          if (k > 0 && k % kCheckpointEvery == 0) {
            const size_t slot = out->first_check[p] + k / kCheckpointEvery - 1;
            layout.save(state, &out->checkpoints[slot * layout.size()]);
          }
        }
        if (r.kind == RecordKind::kAccident) {
          out->pay.set(i, 0,
                       settle_accident(plan, roll, person, accident_claim_of(*rs, i), &state).pay);
          continue;
        }
        MedicalClaim c = medical_claim_of(plan, *rs, i);
        MedicalResult m = settle_medical(plan, roll, person, c, &state, nullptr);
        if (m.code != Code::kOk) {
          // Rejected while applying: keep what the message needs.
          r.code = m.code;
          LayerTrace trace[limits::kLayersMax];
          YearState probe = state;
          settle_medical(
              plan, roll, person,
              [&] {
                MedicalClaim base_only = c;
                base_only.given_mask &= (1u << m.failed_layer) - 1;
                return base_only;
              }(),
              &probe, trace);
          exceeded[t].emplace(i,
                              Exceeded{trace[m.failed_layer].base, c.given[size_t(m.failed_layer)],
                                       uint8_t(m.failed_layer)});
          continue;
        }
        for (size_t l = 0; l < nl; ++l) out->pay.set(i, l, m.pay[l]);
      }
      if (out->keep_finals) layout.save(state, &out->finals[p * layout.size()]);
    }
  });
  for (auto& e : exceeded) out->exceeded.merge(e);
  if (!explain && !out->keep_finals) {  // the orderings serve explanations and finals only
    BigVector<uint32_t>().swap(out->order);
    BigVector<uint32_t>().swap(out->start);
  }
}

// ---- phase 3: results in input order ----
void summarize(const Plan& plan, const RecordSet& rs, const Settled& st, size_t from, size_t to,
               BatchSummary* s) {
  const size_t nl = plan.layers.size();
  s->layer_total.assign(nl, 0);
  for (size_t i = from; i < to; ++i) {
    const Record& r = rs.records[i];
    ++s->records;
    if (r.code != Code::kOk) {
      ++s->rejected[size_t(r.code)];
      continue;
    }
    if (r.kind == RecordKind::kStored) {
      ++s->replayed;
      continue;
    }
    ++s->settled;
    Fen pay[limits::kLayersMax];
    st.pay.row(i, pay);
    const auto amount = rs.amounts(uint32_t(i));
    if (r.kind == RecordKind::kAccident) {
      ++s->settled_accident;
      s->accident_total += pay[0];
      continue;
    }
    Fen fund = 0, hosp = 0;
    for (size_t l = 0; l < nl; ++l) {
      s->layer_total[l] += pay[l];
      (plan.layers[l].payer == Payer::kFund ? fund : hosp) += pay[l];
    }
    s->medfee_sumamt += amount[kMedfeeSumamt];
    s->inscp_scp_amt += amount[kInscpScpAmt];
    s->fund_pay_sumamt += fund;
    s->hosp_part_amt += hosp;
    s->psn_part_amt += amount[kMedfeeSumamt] - fund - hosp;
  }
}

void merge(BatchSummary* into, const BatchSummary& s) {
  into->records += s.records;
  into->settled += s.settled;
  into->replayed += s.replayed;
  into->settled_accident += s.settled_accident;
  for (size_t c = 0; c < into->rejected.size(); ++c) into->rejected[c] += s.rejected[c];
  if (into->layer_total.size() < s.layer_total.size())
    into->layer_total.resize(s.layer_total.size(), 0);
  for (size_t l = 0; l < s.layer_total.size(); ++l) into->layer_total[l] += s.layer_total[l];
  into->accident_total += s.accident_total;
  into->medfee_sumamt += s.medfee_sumamt;
  into->inscp_scp_amt += s.inscp_scp_amt;
  into->fund_pay_sumamt += s.fund_pay_sumamt;
  into->hosp_part_amt += s.hosp_part_amt;
  into->psn_part_amt += s.psn_part_amt;
}

// The person's year state just before record i, from the last checkpoint.
YearState state_before(const Plan& plan, const Roll& roll, const RecordSet& rs, const Settled& st,
                       const StateLayout& layout, uint32_t i) {
  const Record& r = rs.records[i];
  const Person& person = roll.person(r.person);
  const uint32_t k = st.position[i] - st.start[r.person];  // claims before this one
  const uint32_t c = k / kCheckpointEvery;
  YearState s =
      c > 0 ? layout.load(&st.checkpoints[(st.first_check[r.person] + c - 1) * layout.size()])
      : st.initial ? st.initial(r.person)
                   : YearState{};
  for (uint32_t j = st.start[r.person] + c * kCheckpointEvery; j < st.position[i]; ++j) {
    const uint32_t e = st.order[j];
    if (rs.records[e].kind == RecordKind::kAccident) {
      settle_accident(plan, roll, person, accident_claim_of(rs, e), &s);
    } else {
      // A given_exceeds_base claim leaves the state as it was, as it did then.
      settle_medical(plan, roll, person, medical_claim_of(plan, rs, e), &s, nullptr);
    }
  }
  return s;
}

void format_range(const Plan& plan, const Roll& roll, const RecordSet& rs, const Settled& st,
                  const StateLayout& layout, const ResultWriter& writer, bool explain, size_t from,
                  size_t to, ByteBuf* out) {
  std::vector<std::string> lines;
  std::string message;
  Fen pay[limits::kLayersMax];
  LayerTrace trace[limits::kLayersMax];
  for (size_t i = from; i < to; ++i) {
    const Record& r = rs.records[i];
    ResultView v;
    v.setl_id = rs.setl_id(r);
    v.psn_no = rs.psn_no(r);
    if (r.code != Code::kOk) {
      v.error = r.code;
      if (r.code == Code::kGivenExceedsBase) {
        const Exceeded& e = st.exceeded.at(uint32_t(i));
        message = "given " + plan.layers[e.layer].id + "_pay " + fen_to_string(e.given) +
                  " exceeds the layer's base " + fen_to_string(e.base);
        v.message = message;
      } else if (auto it = rs.messages.find(uint32_t(i)); it != rs.messages.end()) {
        v.message = it->second;
      }
      writer.write(v, out);
      continue;
    }
    if (r.kind == RecordKind::kStored) {
      out->append(st.stored.at(uint32_t(i)));
      out->append("\n");
      continue;
    }
    st.pay.row(i, pay);
    v.pay = pay;
    v.accident = r.kind == RecordKind::kAccident;
    const auto amount = rs.amounts(uint32_t(i));
    if (v.accident) {
      v.medfee_sumamt = r.outcome == uint8_t(AccidentOutcome::kMedical) ? amount[0] : 0;
    } else {
      v.medfee_sumamt = amount[kMedfeeSumamt];
      v.inscp_scp_amt = amount[kInscpScpAmt];
    }
    if (explain) {
      lines.clear();
      const Person& person = roll.person(r.person);
      YearState s = state_before(plan, roll, rs, st, layout, uint32_t(i));
      if (v.accident) {
        AccidentClaim a = accident_claim_of(rs, uint32_t(i));
        explain_accident(plan, a, settle_accident(plan, roll, person, a, &s), &lines);
      } else {
        MedicalClaim c = medical_claim_of(plan, rs, uint32_t(i));
        MedicalResult m = settle_medical(plan, roll, person, c, &s, trace);
        explain_medical(plan, c, m, trace, &lines);
      }
      v.explain = &lines;
    }
    writer.write(v, out);
  }
}

}  // namespace

struct BatchJob::Impl {
  const Plan& plan;
  const Roll& roll;
  BatchOptions o;
  int threads;
  StateLayout layout;
  ResultWriter writer;
  RecordSet rs;
  Settled st;
  using Clock = std::chrono::steady_clock;
  Clock::time_point t0, t1, t2;

  Impl(const Plan& p, const Roll& r, const BatchOptions& opts)
      : plan(p),
        roll(r),
        o(opts),
        threads(thread_count(opts)),
        layout{p.layers.size(), p.deductible_groups.size(), p.cap_groups.size()},
        writer(p) {}
  static double seconds(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  }
};

BatchJob::BatchJob(const Plan& plan, const Roll& roll, const BatchOptions& options)
    : impl_(std::make_unique<Impl>(plan, roll, options)) {}
BatchJob::~BatchJob() = default;

Status BatchJob::parse() {
  Impl& x = *impl_;
  x.t0 = Impl::Clock::now();
  x.rs.keep_raw = x.o.keep_raw;
  if (Status s = parse_claims(x.plan, x.roll, x.o, x.threads, &x.rs); !s.ok()) return s;
  mark_duplicates(x.threads, &x.rs);
  x.t1 = Impl::Clock::now();
  return Status::Ok();
}

size_t BatchJob::size() const {
  return impl_->rs.records.size();
}
bool BatchJob::settleable(uint32_t i) const {
  return to_settle(impl_->rs.records[i]);
}
std::string_view BatchJob::setl_id(uint32_t i) const {
  return impl_->rs.setl_id(impl_->rs.records[i]);
}
std::string_view BatchJob::raw_line(uint32_t i) const {
  return impl_->rs.raw_line(i);
}
uint32_t BatchJob::person(uint32_t i) const {
  return impl_->rs.records[i].person;
}
Code BatchJob::code(uint32_t i) const {
  return impl_->rs.records[i].code;
}
bool BatchJob::accident(uint32_t i) const {
  return impl_->rs.records[i].kind == RecordKind::kAccident;
}
Date BatchJob::begndate(uint32_t i) const {
  return impl_->rs.records[i].begndate;
}
Date BatchJob::enddate(uint32_t i) const {
  return impl_->rs.records[i].enddate;
}
AccidentOutcome BatchJob::outcome(uint32_t i) const {
  return AccidentOutcome(impl_->rs.records[i].outcome);
}
int BatchJob::disability_grade(uint32_t i) const {
  const Record& r = impl_->rs.records[i];
  return r.outcome == uint8_t(AccidentOutcome::kDisability) ? r.disability_grade : 0;
}
std::string_view BatchJob::cause(uint32_t i) const {
  return impl_->rs.cause(impl_->rs.records[i]);
}
Fen BatchJob::disaster_paid(uint32_t i) const {
  return impl_->rs.amounts(i)[1];
}
int BatchJob::med_type(uint32_t i) const {
  return impl_->rs.records[i].med_type;
}
std::string_view BatchJob::fixmedins_code(uint32_t i) const {
  return impl_->rs.cause(impl_->rs.records[i]);
}
Fen BatchJob::medfee_sumamt(uint32_t i) const {
  const Record& r = impl_->rs.records[i];
  const Fen first = impl_->rs.amounts(i)[0];
  if (r.kind != RecordKind::kAccident) return first;  // kMedfeeSumamt is field 0
  return r.outcome == uint8_t(AccidentOutcome::kMedical) ? first : 0;
}
Fen BatchJob::inscp_scp_amt(uint32_t i) const {
  const Record& r = impl_->rs.records[i];
  return r.kind == RecordKind::kAccident ? 0 : impl_->rs.amounts(i)[kInscpScpAmt];
}
Fen BatchJob::pay(uint32_t i, size_t layer) const {
  return impl_->st.pay.get(i, layer);
}

void BatchJob::replay(uint32_t i, std::string line) {
  impl_->rs.records[i].kind = RecordKind::kStored;
  impl_->st.stored[i] = std::move(line);
}

void BatchJob::reject(uint32_t i, Code code, std::string message) {
  impl_->rs.records[i].code = code;
  impl_->rs.messages.insert_or_assign(i, std::move(message));
}

void BatchJob::settle(InitialState initial) {
  Impl& x = *impl_;
  x.st.initial = std::move(initial);
  x.st.keep_finals = x.o.keep_raw;
  settle_all(x.plan, x.roll, x.threads, x.o.explain, x.layout, &x.rs, &x.st);
  x.t2 = Impl::Clock::now();
  if (x.o.progress)
    std::fprintf(stderr, "settle: read and checked in %.3f s, settled in %.3f s, writing %s\n",
                 Impl::seconds(x.t0, x.t1), Impl::seconds(x.t1, x.t2), x.o.out_path.c_str());
}

void BatchJob::for_each_person(
    const std::function<void(uint32_t, const uint32_t*, size_t, const YearState&)>& f) const {
  const Impl& x = *impl_;
  if (!x.st.keep_finals) return;
  for (size_t p = 0; p < x.roll.size(); ++p) {
    const uint32_t a = x.st.start[p], b = x.st.start[p + 1];
    if (a == b) continue;
    f(uint32_t(p), x.st.order.data() + a, b - a, x.layout.load(&x.st.finals[p * x.layout.size()]));
  }
}

std::string BatchJob::result_line(uint32_t i) const {
  const Impl& x = *impl_;
  thread_local ByteBuf b;  // keeps its capacity from call to call
  b.clear();
  format_range(x.plan, x.roll, x.rs, x.st, x.layout, x.writer, false, i, i + 1, &b);
  std::string_view v = b.view();
  if (!v.empty() && v.back() == '\n') v.remove_suffix(1);
  return std::string(v);
}

Status BatchJob::write(BatchSummary* summary) {
  Impl& x = *impl_;
  const Plan& plan = x.plan;
  const Roll& roll = x.roll;
  const BatchOptions& o = x.o;
  const int threads = x.threads;
  const RecordSet& rs = x.rs;
  const Settled& st = x.st;
  const StateLayout& layout = x.layout;
  OutFile file;
  if (Status s = file.open(o.out_path); !s.ok()) return s;
  const size_t n = rs.records.size();
  const size_t per_block = o.explain ? kWriteRecordsExplain : kWriteRecords;
  const ResultWriter writer(plan);
  // Two sets of buffers, one per thread each: block k+1 is formatted into one
  // set while a writer thread writes block k from the other. Buffers keep
  // their capacity, so steady state allocates nothing.
  std::vector<ByteBuf> bufs[2] = {std::vector<ByteBuf>(size_t(threads)),
                                  std::vector<ByteBuf>(size_t(threads))};
  std::vector<BatchSummary> sums(static_cast<size_t>(threads));
  *summary = BatchSummary{};
  summary->layer_total.assign(plan.layers.size(), 0);
  Status write_status;
  std::thread write_thread;
  auto write_set = [&](const std::vector<ByteBuf>* set) {
    for (const ByteBuf& b : *set) {
      if (write_status.ok()) write_status = file.write(b.view());
    }
  };
  int which = 0;
  for (size_t from = 0; from < n; from += per_block * size_t(threads), which ^= 1) {
    std::vector<ByteBuf>& set = bufs[which];  // not being written: joined below
    parallel_for(threads, size_t(threads), [&](size_t t) {
      size_t a = std::min(n, from + t * per_block), b = std::min(n, a + per_block);
      set[t].clear();
      format_range(plan, roll, rs, st, layout, writer, o.explain, a, b, &set[t]);
      BatchSummary part;
      summarize(plan, rs, st, a, b, &part);
      sums[t] = std::move(part);
    });
    for (size_t t = 0; t < size_t(threads); ++t) merge(summary, sums[t]);
    if (write_thread.joinable()) write_thread.join();
    write_thread = std::thread(write_set, &set);
    // The next iteration formats into the other set, which the writer just released.
  }
  if (write_thread.joinable()) write_thread.join();
  if (!write_status.ok()) return write_status;
  if (Status s = file.close(); !s.ok()) return s;
  if (o.progress)
    std::fprintf(stderr, "settle: written in %.3f s\n", Impl::seconds(x.t2, Impl::Clock::now()));
  return Status::Ok();
}

Status run_settle_batch(const Plan& plan, const Roll& roll, const BatchOptions& o,
                        BatchSummary* summary) {
  BatchJob job(plan, roll, o);
  if (Status s = job.parse(); !s.ok()) return s;
  job.settle();
  return job.write(summary);
}

std::string format_summary(const Plan& plan, const BatchSummary& s) {
  std::string o;
  o += "plan            " + plan.id + "\n";
  o += "records         " + std::to_string(s.records) + "\n";
  o += "settled         " + std::to_string(s.settled) + " (" +
       std::to_string(s.settled - s.settled_accident) + " medical, " +
       std::to_string(s.settled_accident) + " accident)\n";
  if (s.replayed > 0)
    o += "replayed        " + std::to_string(s.replayed) + " (already stored, answered as then)\n";
  uint64_t rejected = s.records - s.settled - s.replayed;
  o += "rejected        " + std::to_string(rejected) + "\n";
  for (int c = 1; c <= kClaimRejectionCodes; ++c) {
    if (s.rejected[size_t(c)] == 0) continue;
    std::string name(code_name(Code(c)));
    o += "  " + name + std::string(name.size() < 22 ? 22 - name.size() : 1, ' ') +
         std::to_string(s.rejected[size_t(c)]) + "\n";
  }
  o += "medfee_sumamt   " + fen128_to_string(s.medfee_sumamt) + "\n";
  o += "inscp_scp_amt   " + fen128_to_string(s.inscp_scp_amt) + "\n";
  for (size_t l = 0; l < plan.layers.size(); ++l) {
    std::string id = plan.layers[l].id;
    o += "  " + id + std::string(id.size() < 14 ? 14 - id.size() : 1, ' ') +
         fen128_to_string(l < s.layer_total.size() ? s.layer_total[l] : 0) +
         (plan.layers[l].payer == Payer::kHospital ? "  (hospital)" : "") + "\n";
  }
  if (plan.accident_product >= 0)
    o += "  accident      " + fen128_to_string(s.accident_total) + "\n";
  o += "fund_pay_sumamt " + fen128_to_string(s.fund_pay_sumamt) + "\n";
  o += "hosp_part_amt   " + fen128_to_string(s.hosp_part_amt) + "\n";
  o += "psn_part_amt    " + fen128_to_string(s.psn_part_amt) + "\n";
  // Reimbursed (funds and hospital) over the policy-range cost, in 0.01 %.
  if (s.inscp_scp_amt > 0) {
    __int128 bp =
        ((s.fund_pay_sumamt + s.hosp_part_amt) * 20000 + s.inscp_scp_amt) / (2 * s.inscp_scp_amt);
    std::string pct = fen128_to_string(bp);
    o += "reimbursed / policy-range cost  " + pct + "%\n";
  }
  return o;
}

}  // namespace huibao
