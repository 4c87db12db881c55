-- 0001 init: the platform's store (issue 3).
-- Portable to SQLite and PostgreSQL 15, so one file serves both:
-- - money is BIGINT fen (suffix _fen, or the national field name);
-- - dates are TEXT 'YYYY-MM-DD'; timestamps TEXT 'YYYY-MM-DDTHH:MM:SS.mmmZ'
--   (UTC), written by the application, never by the database clock;
-- - ids are explicit BIGINTs handed out from id_sequences (no AUTOINCREMENT,
--   no SERIAL); flags are INTEGER 0/1;
-- - every primary-key column is NOT NULL (SQLite would accept NULL otherwise).
-- Rows of settlements, settlement_layers, person_history, account_moves,
-- premiums and audit_log are immutable: the store never updates or deletes
-- them; a correction is a new row.

-- Id allocation for tables with BIGINT ids (store::allocate_ids).
CREATE TABLE id_sequences (
  name TEXT NOT NULL PRIMARY KEY,
  next_id BIGINT NOT NULL
);

-- The roll: each person's current state. seq is the person_history row
-- holding this state.
CREATE TABLE persons (
  psn_no TEXT NOT NULL PRIMARY KEY CHECK (length(psn_no) = 18),
  psn_name TEXT NOT NULL,
  gend TEXT NOT NULL,
  brdy TEXT,
  admdvs TEXT NOT NULL CHECK (length(admdvs) = 6),
  insutype TEXT NOT NULL,
  preexisting INTEGER NOT NULL DEFAULT 0 CHECK (preexisting IN (0, 1)),
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deceased', 'moved_out')),
  seq BIGINT NOT NULL,
  updated_at TEXT NOT NULL
);

-- Every state a person has had: seq 1, 2, ... per person. The values held
-- from valid_from (inclusive) to valid_to (exclusive; NULL while current).
CREATE TABLE person_history (
  psn_no TEXT NOT NULL REFERENCES persons (psn_no),
  seq BIGINT NOT NULL,
  valid_from TEXT NOT NULL,
  valid_to TEXT,
  psn_name TEXT NOT NULL,
  gend TEXT NOT NULL,
  brdy TEXT,
  admdvs TEXT NOT NULL,
  insutype TEXT NOT NULL,
  preexisting INTEGER NOT NULL,
  status TEXT NOT NULL,
  change TEXT NOT NULL,
  actor TEXT NOT NULL,
  recorded_at TEXT NOT NULL,
  PRIMARY KEY (psn_no, seq),
  CHECK (valid_to IS NULL OR valid_to >= valid_from)
);

-- Categories (DOMAIN.md §2 vocabulary) in force from from_date to to_date,
-- both inclusive; to_date NULL is open-ended. An undated category is stored
-- from '1900-01-01' (any date before the plan year counts as no date).
CREATE TABLE person_categories (
  psn_no TEXT NOT NULL REFERENCES persons (psn_no),
  category TEXT NOT NULL,
  from_date TEXT NOT NULL,
  to_date TEXT,
  recorded_at TEXT NOT NULL,
  PRIMARY KEY (psn_no, category, from_date),
  CHECK (to_date IS NULL OR to_date >= from_date)
);

-- rel_psn_no is psn_no's spouse, parent or child (whose premium psn_no's
-- personal account may pay).
CREATE TABLE relations (
  psn_no TEXT NOT NULL REFERENCES persons (psn_no),
  rel_psn_no TEXT NOT NULL REFERENCES persons (psn_no),
  relation TEXT NOT NULL CHECK (relation IN ('spouse', 'parent', 'child')),
  recorded_at TEXT NOT NULL,
  PRIMARY KEY (psn_no, rel_psn_no),
  CHECK (psn_no <> rel_psn_no)
);
CREATE INDEX relations_by_rel_psn_no ON relations (rel_psn_no);

-- Employee medical personal accounts (个人账户) and every move of money.
CREATE TABLE accounts (
  psn_no TEXT NOT NULL PRIMARY KEY REFERENCES persons (psn_no),
  balance_fen BIGINT NOT NULL CHECK (balance_fen >= 0),
  updated_at TEXT NOT NULL
);

CREATE TABLE account_moves (
  id BIGINT NOT NULL PRIMARY KEY,
  psn_no TEXT NOT NULL REFERENCES accounts (psn_no),
  kind TEXT NOT NULL CHECK (kind IN ('deposit', 'premium', 'refund', 'correction')),
  amount_fen BIGINT NOT NULL,
  balance_after_fen BIGINT NOT NULL CHECK (balance_after_fen >= 0),
  ref TEXT,
  detail TEXT NOT NULL DEFAULT '',
  recorded_at TEXT NOT NULL
);
CREATE INDEX account_moves_by_psn_no ON account_moves (psn_no, id);

-- Plans: one row per plan id, one per loaded version of its TOML text, and
-- the files the TOML refers to (the special-drug list), byte for byte.
-- content_hash is the hex SHA-256 of the text.
CREATE TABLE plans (
  plan_id TEXT NOT NULL PRIMARY KEY,
  name TEXT NOT NULL,
  created_at TEXT NOT NULL
);

CREATE TABLE plan_versions (
  plan_id TEXT NOT NULL REFERENCES plans (plan_id),
  version INTEGER NOT NULL CHECK (version >= 1),
  year INTEGER NOT NULL,
  period_begin TEXT NOT NULL,
  period_end TEXT NOT NULL,
  toml TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  loaded_at TEXT NOT NULL,
  loaded_by TEXT NOT NULL,
  PRIMARY KEY (plan_id, version),
  UNIQUE (plan_id, content_hash)
);

CREATE TABLE plan_version_files (
  plan_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  file_name TEXT NOT NULL,
  content TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  PRIMARY KEY (plan_id, version, file_name),
  FOREIGN KEY (plan_id, version) REFERENCES plan_versions (plan_id, version)
);

CREATE TABLE products (
  plan_id TEXT NOT NULL REFERENCES plans (plan_id),
  product TEXT NOT NULL,
  name TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('medical', 'accident')),
  premium_fen BIGINT NOT NULL CHECK (premium_fen >= 0),
  PRIMARY KEY (plan_id, product)
);

-- Enrolments: covered from begin_date to end_date, both inclusive (a
-- cancelled one up to its cancellation day, or not at all).
CREATE TABLE enrollments (
  id BIGINT NOT NULL PRIMARY KEY,
  psn_no TEXT NOT NULL REFERENCES persons (psn_no),
  plan_id TEXT NOT NULL,
  product TEXT NOT NULL,
  begin_date TEXT NOT NULL,
  end_date TEXT NOT NULL,
  prior_years INTEGER NOT NULL DEFAULT 0 CHECK (prior_years >= 0),
  status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'cancelled', 'expired')),
  source TEXT NOT NULL CHECK (source IN ('auto', 'voluntary')),
  renewal_consent INTEGER NOT NULL DEFAULT 0 CHECK (renewal_consent IN (0, 1)),
  created_at TEXT NOT NULL,
  cancelled_at TEXT,
  FOREIGN KEY (plan_id, product) REFERENCES products (plan_id, product),
  -- A cancelled enrolment that never covered a day ends the day before it begins.
  CHECK (end_date >= begin_date OR status = 'cancelled'),
  CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
CREATE INDEX enrollments_by_psn_no ON enrollments (psn_no, plan_id);

-- Who pays an enrolment's premium, and how much. payer_ref names the payer
-- within its kind: the account holder's psn_no (personal_account), the
-- employer's code, the subsidy programme, the fund; '' for cash.
CREATE TABLE enrollment_payers (
  enrollment_id BIGINT NOT NULL REFERENCES enrollments (id),
  payer_kind TEXT NOT NULL CHECK (payer_kind IN ('cash', 'personal_account', 'employer',
                                                 'subsidy', 'provincial', 'city')),
  payer_ref TEXT NOT NULL DEFAULT '',
  amount_fen BIGINT NOT NULL CHECK (amount_fen >= 0),
  PRIMARY KEY (enrollment_id, payer_kind, payer_ref)
);

-- Premium money received (charge) or returned (refund), one row per payer
-- and event; account_move_id when it moved through a personal account.
CREATE TABLE premiums (
  id BIGINT NOT NULL PRIMARY KEY,
  enrollment_id BIGINT NOT NULL REFERENCES enrollments (id),
  payer_kind TEXT NOT NULL CHECK (payer_kind IN ('cash', 'personal_account', 'employer',
                                                 'subsidy', 'provincial', 'city')),
  payer_ref TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL CHECK (kind IN ('charge', 'refund')),
  amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
  account_move_id BIGINT REFERENCES account_moves (id),
  recorded_at TEXT NOT NULL
);
CREATE INDEX premiums_by_enrollment ON premiums (enrollment_id);

-- Settlements, immutable. setl_id is the idempotency key: a replay with the
-- same request_hash answers the stored result. A reversal (2305) or an
-- adjustment is a new row naming the settlement it corrects; a settlement
-- is reversed at most once. admission_date is begndate (medical) or the
-- accident date; plan_year is the benefit year it belongs to. Amounts are
-- the national fields in fen (a reversal carries them negated).
CREATE TABLE settlements (
  setl_id TEXT NOT NULL PRIMARY KEY CHECK (length(setl_id) BETWEEN 1 AND 64),
  kind TEXT NOT NULL CHECK (kind IN ('settle', 'reversal', 'adjustment')),
  ref_setl_id TEXT REFERENCES settlements (setl_id),
  psn_no TEXT NOT NULL REFERENCES persons (psn_no),
  plan_id TEXT NOT NULL,
  plan_version INTEGER NOT NULL,
  plan_year INTEGER NOT NULL,
  claim_kind TEXT NOT NULL CHECK (claim_kind IN ('medical', 'accident')),
  med_type TEXT,
  fixmedins_code TEXT,
  admission_date TEXT NOT NULL,
  discharge_date TEXT,
  request_hash TEXT NOT NULL,
  request_json TEXT NOT NULL,
  result_json TEXT NOT NULL,
  medfee_sumamt BIGINT NOT NULL,
  inscp_scp_amt BIGINT NOT NULL,
  fund_pay_sumamt BIGINT NOT NULL,
  hosp_part_amt BIGINT NOT NULL,
  psn_part_amt BIGINT NOT NULL,
  created_at TEXT NOT NULL,
  FOREIGN KEY (plan_id, plan_version) REFERENCES plan_versions (plan_id, version),
  CHECK ((kind = 'settle') = (ref_setl_id IS NULL))
);
CREATE INDEX settlements_by_psn_no_year ON settlements (psn_no, plan_id, plan_year, admission_date);
CREATE INDEX settlements_by_ref ON settlements (ref_setl_id) WHERE ref_setl_id IS NOT NULL;
CREATE UNIQUE INDEX settlements_one_reversal ON settlements (ref_setl_id) WHERE kind = 'reversal';

-- What each layer of the plan paid for a settlement: the layers that paid
-- (a layer absent here paid 0.00; result_json lists every layer).
CREATE TABLE settlement_layers (
  setl_id TEXT NOT NULL REFERENCES settlements (setl_id),
  layer TEXT NOT NULL,
  amount_fen BIGINT NOT NULL,
  PRIMARY KEY (setl_id, layer)
);

-- Accident cases as reported (hotline, service point, counter, or a proxy
-- such as a village cadre), and the settlement that paid them.
CREATE TABLE accident_cases (
  id BIGINT NOT NULL PRIMARY KEY,
  psn_no TEXT NOT NULL REFERENCES persons (psn_no),
  accident_date TEXT NOT NULL,
  cause TEXT NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('death', 'disability', 'medical')),
  disability_grade INTEGER CHECK (disability_grade BETWEEN 1 AND 10),
  medical_amount_fen BIGINT NOT NULL DEFAULT 0 CHECK (medical_amount_fen >= 0),
  disaster_paid_fen BIGINT NOT NULL DEFAULT 0 CHECK (disaster_paid_fen >= 0),
  reported_by TEXT NOT NULL,
  reported_at TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('reported', 'settled', 'rejected')),
  setl_id TEXT REFERENCES settlements (setl_id),
  CHECK ((outcome = 'disability') = (disability_grade IS NOT NULL))
);
CREATE INDEX accident_cases_by_psn_no ON accident_cases (psn_no, accident_date);

-- Year accumulators per person, plan and benefit year: the engine's year
-- state after the person's last stored settlement of that year, as a JSON
-- object of its non-zero entries in fen ({"hifp.paid":81200,
-- "hifmi.base":1250000, "deductible.hmb":2000000, ...}). One row per person
-- and year, replaced in the same transaction as the settlements that moved
-- it, so it always equals the replay of the stored settlements.
-- settlements counts them (a check on that replay). version goes up by one
-- on every write: a writer that read version v updates only where it is
-- still v, so two writers of one person's year never both succeed.
CREATE TABLE accumulators (
  psn_no TEXT NOT NULL REFERENCES persons (psn_no),
  plan_id TEXT NOT NULL REFERENCES plans (plan_id),
  year INTEGER NOT NULL,
  state TEXT NOT NULL,
  settlements BIGINT NOT NULL CHECK (settlements >= 0),
  version BIGINT NOT NULL CHECK (version >= 1),
  updated_at TEXT NOT NULL,
  PRIMARY KEY (psn_no, plan_id, year)
);

-- Who did what, in order. psn_no is the subject person when there is one
-- (not a foreign key: attempts on unknown persons are logged too).
CREATE TABLE audit_log (
  seq BIGINT NOT NULL PRIMARY KEY,
  recorded_at TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  psn_no TEXT,
  detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_by_psn_no ON audit_log (psn_no, seq);
