-- 0002 api: the HTTP API's keys (huibao serve, huibao apikey).
-- A key is shown once, at creation, as hb_<key_id>_<secret>; only the
-- BLAKE2b-256 (libsodium crypto_generichash) of the 32-byte secret is kept,
-- as hex. The secret is random and high-entropy, so a fast unsalted hash is
-- right (nothing to brute-force) and keeps the per-request check cheap.
-- org_code is the organisation the key acts for: for a hospital or pharmacy
-- its fixmedins_code, so it settles and reverses only its own claims.
-- Keys are never deleted: revoked_at ends one (the server notices within its
-- key-cache time).
CREATE TABLE api_keys (
  key_id TEXT NOT NULL PRIMARY KEY CHECK (length(key_id) BETWEEN 8 AND 32),
  secret_hash TEXT NOT NULL CHECK (length(secret_hash) = 64),
  org_code TEXT NOT NULL CHECK (length(org_code) BETWEEN 1 AND 64),
  role TEXT NOT NULL CHECK (role IN ('bureau', 'insurer', 'hospital', 'pharmacy',
                                      'service_point')),
  label TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  created_by TEXT NOT NULL,
  revoked_at TEXT
);
CREATE INDEX api_keys_by_org ON api_keys (org_code);
