// API keys: created and revoked with `huibao apikey`, checked on every call.
//
// - A key is "hb_<key_id>_<secret>": key_id 16 hex digits (8 random bytes),
//   secret 64 hex digits (32 random bytes from libsodium). It is shown once,
//   at creation. The store keeps key_id, the BLAKE2b-256 of the secret's 32
//   bytes (crypto_generichash, unkeyed: the secret is uniformly random, so
//   there is nothing to brute-force and a slow password hash would only cost
//   time on every request), the organisation, role and label.
// - Checking a key hashes the presented secret and compares it with the
//   stored hash in constant time (sodium_memcmp).
// - KeyCache keeps what it read for `ttl` (default 5 s), found or not, so a
//   request costs one hash and no query; a key revoked by the CLI (another
//   process) stops working within ttl. Unknown key ids are cached too, so
//   garbage tokens do not become queries. Found keys and unknown ids are kept
//   apart, each at most entries_max, dropping expired entries and then the
//   oldest: strangers' random ids (the server also limits failures per
//   address) never push a real key out.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "server/permissions.h"
#include "store/db.h"

namespace huibao::server {

using SecretHash = std::array<uint8_t, 32>;

struct ApiKeyInfo {
  std::string key_id, org_code, label, created_at, created_by;
  std::string revoked_at;  // "" while active
  Role role = Role::kBureau;
};

struct CreatedKey {
  ApiKeyInfo info;
  std::string token;  // hb_<key_id>_<secret>: shown once, never stored
};

inline constexpr size_t kKeyIdHex = 16, kSecretHex = 64;
inline constexpr size_t kOrgCodeBytesMax = 64, kLabelBytesMax = 200;

// Creates a key (and an audit_log row 'apikey.create') in one transaction.
// org_code: 1-64 printable ASCII characters without spaces.
Result<CreatedKey> create_api_key(store::Db& db, std::string_view org_code, Role role,
                                  std::string_view label, std::string_view actor);
// Every key, oldest first.
Result<std::vector<ApiKeyInfo>> list_api_keys(store::Db& db);
// Revokes a key (audit row 'apikey.revoke'). *found false: no such key
// (nothing written); revoking a revoked key changes nothing.
Status revoke_api_key(store::Db& db, std::string_view key_id, std::string_view actor, bool* found);

// Splits a token; false when it is not of the form hb_<16 hex>_<64 hex>.
bool parse_token(std::string_view token, std::string_view* key_id, SecretHash* secret);
SecretHash hash_secret(const SecretHash& secret);

// Who a request acts as.
struct Principal {
  std::string key_id;
  std::string org_code;
  Role role = Role::kBureau;
};

// What the cache needs of a stored key.
struct StoredKey {
  SecretHash secret_hash{};
  std::string org_code;
  Role role = Role::kBureau;
  bool revoked = false;
};
// Reads one key: nullopt when there is none.
Result<std::optional<StoredKey>> load_api_key(store::Db& db, std::string_view key_id);

class KeyCache {
 public:
  using Loader = std::function<Result<std::optional<StoredKey>>(std::string_view key_id)>;
  static constexpr size_t kEntriesMax = 100'000;
  KeyCache(Loader loader, std::chrono::milliseconds ttl, size_t entries_max = kEntriesMax)
      : loader_(std::move(loader)), ttl_(ttl), entries_max_(entries_max) {}

  // kNotLoaded: the key is not in the cache and may_load was false.
  enum class Verdict : unsigned char {
    kOk,
    kMalformed,
    kUnknown,
    kRevoked,
    kWrongSecret,
    kNotLoaded
  };
  // kOk fills *who. A store failure is the Status. may_load false: answer
  // from the cache only (a client address with too many failures).
  Result<Verdict> authenticate(std::string_view token, Principal* who, bool may_load = true);
  void clear();
  // Entries held: found keys, unknown ids (tests).
  std::pair<size_t, size_t> size();

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    std::optional<StoredKey> key;
    Clock::time_point loaded;
  };
  // Entries of one kind, and the order they were loaded in (records whose
  // entry was reloaded since are skipped when they come first).
  struct Shelf {
    std::unordered_map<std::string, Entry> entries;
    std::deque<std::pair<std::string, Clock::time_point>> order;
  };
  void put(Shelf& shelf, std::string_view key_id, Entry entry);

  Loader loader_;
  std::chrono::milliseconds ttl_;
  size_t entries_max_;
  std::shared_mutex mu_;
  Shelf known_, unknown_;
};

}  // namespace huibao::server
