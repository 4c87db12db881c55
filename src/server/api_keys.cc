#include "server/api_keys.h"

#include <sodium.h>

#include <mutex>

#include "service/audit.h"
#include "store/migrate.h"

namespace huibao::server {
namespace {

using store::Stmt;

std::string to_hex(const uint8_t* bytes, size_t n) {
  std::string out(n * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes, n);
  out.pop_back();
  return out;
}

bool from_hex(std::string_view hex, uint8_t* out, size_t n) {
  if (hex.size() != n * 2) return false;
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  size_t got = 0;
  return sodium_hex2bin(out, n, hex.data(), hex.size(), nullptr, &got, nullptr) == 0 && got == n;
}

bool valid_org_code(std::string_view s) {
  if (s.empty() || s.size() > kOrgCodeBytesMax) return false;
  for (char c : s) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

bool init_sodium() {
  static const bool ok = sodium_init() >= 0;
  return ok;
}

std::string text(Stmt& s, int c) {
  return std::string(s.column_text(c));
}

}  // namespace

SecretHash hash_secret(const SecretHash& secret) {
  SecretHash h{};
  crypto_generichash(h.data(), h.size(), secret.data(), secret.size(), nullptr, 0);
  return h;
}

bool parse_token(std::string_view token, std::string_view* key_id, SecretHash* secret) {
  if (token.size() != 3 + kKeyIdHex + 1 + kSecretHex) return false;
  if (token.substr(0, 3) != "hb_" || token[3 + kKeyIdHex] != '_') return false;
  const std::string_view id = token.substr(3, kKeyIdHex);
  uint8_t id_bytes[kKeyIdHex / 2];
  if (!from_hex(id, id_bytes, sizeof id_bytes)) return false;
  if (!from_hex(token.substr(3 + kKeyIdHex + 1), secret->data(), secret->size())) return false;
  *key_id = id;
  return true;
}

Result<CreatedKey> create_api_key(store::Db& db, std::string_view org_code, Role role,
                                  std::string_view label, std::string_view actor) {
  if (!init_sodium()) return Status(Code::kIoError, "libsodium could not be initialised");
  if (!valid_org_code(org_code))
    return Status(Code::kRollInvalid,
                  "the organisation code must be 1-64 printable characters without spaces (for a "
                  "hospital or pharmacy: its fixmedins_code)");
  if (label.size() > kLabelBytesMax)
    return Status(Code::kRollInvalid, "the label must be at most 200 bytes");
  uint8_t id_bytes[kKeyIdHex / 2];
  SecretHash secret{};
  randombytes_buf(id_bytes, sizeof id_bytes);
  randombytes_buf(secret.data(), secret.size());
  const SecretHash hash = hash_secret(secret);

  CreatedKey out;
  out.info.key_id = to_hex(id_bytes, sizeof id_bytes);
  out.info.org_code = std::string(org_code);
  out.info.role = role;
  out.info.label = std::string(label);
  out.info.created_at = store::utc_timestamp_now();
  out.info.created_by = std::string(actor);
  out.token = "hb_" + out.info.key_id + "_" + to_hex(secret.data(), secret.size());
  sodium_memzero(secret.data(), secret.size());

  store::Tx tx(db);
  if (!tx.ok()) return tx.status();
  Result<Stmt*> st = db.prepare(
      "INSERT INTO api_keys (key_id, secret_hash, org_code, role, label, created_at, created_by) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)");
  if (!st.ok()) return st.status();
  Stmt& s = **st;
  s.bind_text(1, out.info.key_id);
  s.bind_text(2, to_hex(hash.data(), hash.size()));
  s.bind_text(3, out.info.org_code);
  s.bind_text(4, role_name(role));
  s.bind_text(5, out.info.label);
  s.bind_text(6, out.info.created_at);
  s.bind_text(7, out.info.created_by);
  if (Result<int64_t> n = s.execute(); !n.ok()) return n.status();
  const std::string detail =
      "{\"key_id\":\"" + out.info.key_id + "\",\"role\":\"" + std::string(role_name(role)) + "\"}";
  if (Status a = append_audit(db, actor, "apikey.create", "", detail); !a.ok()) return a;
  if (Status c = tx.commit(); !c.ok()) return c;
  return out;
}

Result<std::vector<ApiKeyInfo>> list_api_keys(store::Db& db) {
  Result<Stmt*> st = db.prepare(
      "SELECT key_id, org_code, role, label, created_at, created_by, revoked_at FROM api_keys "
      "ORDER BY created_at, key_id");
  if (!st.ok()) return st.status();
  std::vector<ApiKeyInfo> out;
  for (;;) {
    Result<bool> row = (*st)->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    Stmt& s = **st;
    ApiKeyInfo k;
    k.key_id = text(s, 0);
    k.org_code = text(s, 1);
    if (!role_from_name(s.column_text(2), &k.role))
      return Status(Code::kStoreSchema, "api_keys holds an unknown role");
    k.label = text(s, 3);
    k.created_at = text(s, 4);
    k.created_by = text(s, 5);
    k.revoked_at = text(s, 6);
    out.push_back(std::move(k));
  }
  (*st)->reset();
  return out;
}

Status revoke_api_key(store::Db& db, std::string_view key_id, std::string_view actor, bool* found) {
  *found = false;
  store::Tx tx(db);
  if (!tx.ok()) return tx.status();
  Result<Stmt*> sel = db.prepare("SELECT revoked_at FROM api_keys WHERE key_id = ?");
  if (!sel.ok()) return sel.status();
  (*sel)->bind_text(1, key_id);
  Result<bool> row = (*sel)->step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::Ok();
  *found = true;
  const bool already = !(*sel)->column_is_null(0);
  (*sel)->reset();
  if (already) return Status::Ok();
  Result<Stmt*> up = db.prepare("UPDATE api_keys SET revoked_at = ? WHERE key_id = ?");
  if (!up.ok()) return up.status();
  (*up)->bind_text(1, store::utc_timestamp_now());
  (*up)->bind_text(2, key_id);
  if (Result<int64_t> n = (*up)->execute(); !n.ok()) return n.status();
  const std::string detail = "{\"key_id\":\"" + std::string(key_id) + "\"}";
  if (Status a = append_audit(db, actor, "apikey.revoke", "", detail); !a.ok()) return a;
  return tx.commit();
}

Result<std::optional<StoredKey>> load_api_key(store::Db& db, std::string_view key_id) {
  Result<Stmt*> st =
      db.prepare("SELECT secret_hash, org_code, role, revoked_at FROM api_keys WHERE key_id = ?");
  if (!st.ok()) return st.status();
  Stmt& s = **st;
  s.bind_text(1, key_id);
  Result<bool> row = s.step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<StoredKey>();
  StoredKey k;
  if (!from_hex(s.column_text(0), k.secret_hash.data(), k.secret_hash.size()) ||
      !role_from_name(s.column_text(2), &k.role)) {
    s.reset();
    return Status(Code::kStoreSchema, "api_keys row " + std::string(key_id) + " is damaged");
  }
  k.org_code = text(s, 1);
  k.revoked = !s.column_is_null(3);
  s.reset();
  return std::optional<StoredKey>(std::move(k));
}

Result<KeyCache::Verdict> KeyCache::authenticate(std::string_view token, Principal* who,
                                                 bool may_load) {
  std::string_view key_id;
  SecretHash secret{};
  if (!parse_token(token, &key_id, &secret)) return Verdict::kMalformed;
  const auto now = Clock::now();
  const std::string id(key_id);
  std::optional<StoredKey> key;
  bool fresh = false;
  {
    std::shared_lock lock(mu_);
    for (const Shelf* shelf : {&known_, &unknown_}) {
      auto it = shelf->entries.find(id);
      if (it != shelf->entries.end() && now - it->second.loaded < ttl_) {
        key = it->second.key;
        fresh = true;
      }
    }
  }
  if (!fresh) {
    if (!may_load) return Verdict::kNotLoaded;
    Result<std::optional<StoredKey>> loaded = loader_(key_id);
    if (!loaded.ok()) return loaded.status();
    key = *loaded;
    std::unique_lock lock(mu_);
    (key ? unknown_ : known_).entries.erase(id);
    put(key ? known_ : unknown_, id, Entry{key, now});
  }
  if (!key) return Verdict::kUnknown;
  const SecretHash presented = hash_secret(secret);
  sodium_memzero(secret.data(), secret.size());
  if (sodium_memcmp(presented.data(), key->secret_hash.data(), presented.size()) != 0)
    return Verdict::kWrongSecret;
  if (key->revoked) return Verdict::kRevoked;
  who->key_id = id;
  who->org_code = std::move(key->org_code);
  who->role = key->role;
  return Verdict::kOk;
}

void KeyCache::put(Shelf& shelf, std::string_view key_id, Entry entry) {
  const Clock::time_point now = entry.loaded;
  // Drop from the front what has expired, and records of entries loaded again since.
  auto current = [&](const std::pair<std::string, Clock::time_point>& r) {
    auto it = shelf.entries.find(r.first);
    return it != shelf.entries.end() && it->second.loaded == r.second ? it : shelf.entries.end();
  };
  while (!shelf.order.empty()) {
    auto it = current(shelf.order.front());
    if (it != shelf.entries.end() && now - it->second.loaded < ttl_) break;
    if (it != shelf.entries.end()) shelf.entries.erase(it);
    shelf.order.pop_front();
  }
  // Full: the oldest goes.
  while (shelf.entries.size() >= entries_max_ && !shelf.order.empty()) {
    auto it = current(shelf.order.front());
    if (it != shelf.entries.end()) shelf.entries.erase(it);
    shelf.order.pop_front();
  }
  shelf.entries[std::string(key_id)] = std::move(entry);
  shelf.order.emplace_back(std::string(key_id), now);
}

void KeyCache::clear() {
  std::unique_lock lock(mu_);
  known_ = Shelf();
  unknown_ = Shelf();
}

std::pair<size_t, size_t> KeyCache::size() {
  std::shared_lock lock(mu_);
  return {known_.entries.size(), unknown_.entries.size()};
}

}  // namespace huibao::server
