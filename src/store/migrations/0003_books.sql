-- books: the fund books of each product, region and plan year, and the
-- facts the supervision reports read (issue 5). Conventions as in 0001:
-- BIGINT fen, TEXT dates and timestamps, explicit ids from id_sequences,
-- portable to SQLite and PostgreSQL 15.
--
-- A book is (product, region, year): one product's money in one city (region,
-- the city's 6-digit code 'NNNN00') for one plan year. Rows of
-- journal_entries, journal_lines, claim_facts and claim_layer_facts are
-- immutable: never updated or deleted; a correction is a new entry.

-- Journal entries. business_key makes posting idempotent ('premium:<id>',
-- 'settle:<setl_id>', or the key an explicit entry was given). kind says what
-- the entry records; source names it (a premiums id, a setl_id, the key of
-- the entry a reversal takes back). plan_id: the plan whose facts or rules
-- made it, NULL for an entry no plan made.
CREATE TABLE journal_entries (
  id BIGINT NOT NULL PRIMARY KEY,
  business_key TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('premium', 'claim', 'payment', 'operating_cost',
                                     'platform_fee', 'transfer', 'carry_over', 'year_end',
                                     'reversal')),
  plan_id TEXT,
  entry_date TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT '',
  memo TEXT NOT NULL DEFAULT '',
  actor TEXT NOT NULL,
  recorded_at TEXT NOT NULL
);

-- The lines of an entry. Each line is one side of one account of one book;
-- an entry's debits equal its credits within every book it touches (checked
-- by the writer and by `huibao books check`). counterparty: the hospital
-- (fixmedins_code) a claim is payable to, the fund or employer that paid a
-- premium; '' for none.
CREATE TABLE journal_lines (
  entry_id BIGINT NOT NULL REFERENCES journal_entries (id),
  line_no INTEGER NOT NULL,
  product TEXT NOT NULL,
  region TEXT NOT NULL CHECK (length(region) = 6),
  year INTEGER NOT NULL,
  account TEXT NOT NULL,
  counterparty TEXT NOT NULL DEFAULT '',
  debit_fen BIGINT NOT NULL CHECK (debit_fen >= 0),
  credit_fen BIGINT NOT NULL CHECK (credit_fen >= 0),
  PRIMARY KEY (entry_id, line_no),
  CHECK ((debit_fen = 0) <> (credit_fen = 0))
);

-- What the reports read of each stored settlement, fixed when `books post`
-- takes it in, one row per settlements row: the region (the person's city
-- then; a reversal or adjustment keeps its claim's), the claim it belongs to
-- (claim_setl_id: itself, or the settlement it reverses or adjusts), the
-- hospital and its level, the claim line's three out-of-range amounts (not
-- columns of settlements), the stored national amounts, what the insurers'
-- layers paid, and the days from discharge (or accident) to settlement
-- (turnaround_days, NULL for a reversal or adjustment).
CREATE TABLE claim_facts (
  setl_id TEXT NOT NULL PRIMARY KEY REFERENCES settlements (setl_id),
  claim_setl_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  plan_id TEXT NOT NULL,
  plan_year INTEGER NOT NULL,
  claim_kind TEXT NOT NULL,
  region TEXT NOT NULL CHECK (length(region) = 6),
  fixmedins_code TEXT NOT NULL DEFAULT '',
  hosp_lv INTEGER NOT NULL DEFAULT 0,
  medfee_sumamt BIGINT NOT NULL,
  fulamt_ownpay_amt BIGINT NOT NULL,
  overlmt_selfpay BIGINT NOT NULL,
  preselfpay_amt BIGINT NOT NULL,
  inscp_scp_amt BIGINT NOT NULL,
  fund_pay_sumamt BIGINT NOT NULL,
  hosp_part_amt BIGINT NOT NULL,
  psn_part_amt BIGINT NOT NULL,
  insurer_pay_fen BIGINT NOT NULL,
  event_date TEXT NOT NULL,
  settled_date TEXT NOT NULL,
  turnaround_days INTEGER
);
CREATE INDEX claim_facts_corrections ON claim_facts (claim_setl_id) WHERE kind <> 'settle';

-- settlement_layers with the dimensions of its settlement's claim_facts row,
-- so layer totals by region need no join. Written in the same transaction as
-- that row, whose primary key keeps a settlement from being taken in twice;
-- read only in bulk (no key of its own: a million settlements' layers go in
-- without a second index to maintain).
CREATE TABLE claim_layer_facts (
  setl_id TEXT NOT NULL,
  layer TEXT NOT NULL,
  plan_id TEXT NOT NULL,
  plan_year INTEGER NOT NULL,
  region TEXT NOT NULL,
  amount_fen BIGINT NOT NULL
);

-- Official basic-insurance population figures a bureau supplies for a city
-- and year; the enrolment report uses them instead of counting the roll.
-- Replaced when a bureau sends new figures.
CREATE TABLE basic_population (
  region TEXT NOT NULL CHECK (length(region) = 6),
  year INTEGER NOT NULL,
  population BIGINT NOT NULL CHECK (population > 0),
  source TEXT NOT NULL DEFAULT '',
  recorded_at TEXT NOT NULL,
  PRIMARY KEY (region, year)
);
