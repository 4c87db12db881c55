-- A settlement's layers move into its settlements row, and a plain answer is
-- no longer stored beside the columns that determine it.
--
-- settlements.layers: a JSON object of what the layers that paid paid, in
-- fen, in plan order ({"basic":1630767}; {} when none paid). result_json may
-- be NULL: then the row is a settle row whose answer is the plain result (no
-- explanation), derived from the row and its plan version's layer list byte
-- for byte as it was given (src/service/settlement_row.h). Rows from before
-- keep their result_json.
--
-- Why: a bulk settlement wrote per claim a settlements row carrying its
-- answer (about 330 bytes the other columns repeat) and one or two
-- settlement_layers rows, each an insert into a B-tree of its own. Measured
-- on 1,000,000 claims into SQLite: 17.3 s stored, of which the layer rows
-- were about 5 s and the answers about 3 s.
--
-- settlement_layers stays, as a view with the columns of the old table (the
-- non-zero amounts), for the reports' set queries and for ad-hoc SQL.

/*sqlite:
CREATE TABLE settlements_new (
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
  result_json TEXT CHECK (result_json IS NOT NULL OR kind = 'settle'),
  medfee_sumamt BIGINT NOT NULL,
  inscp_scp_amt BIGINT NOT NULL,
  fund_pay_sumamt BIGINT NOT NULL,
  hosp_part_amt BIGINT NOT NULL,
  psn_part_amt BIGINT NOT NULL,
  created_at TEXT NOT NULL,
  layers TEXT NOT NULL,
  FOREIGN KEY (plan_id, plan_version) REFERENCES plan_versions (plan_id, version),
  CHECK ((kind = 'settle') = (ref_setl_id IS NULL))
);
INSERT INTO settlements_new
  SELECT s.setl_id, s.kind, s.ref_setl_id, s.psn_no, s.plan_id, s.plan_version, s.plan_year,
         s.claim_kind, s.med_type, s.fixmedins_code, s.admission_date, s.discharge_date,
         s.request_hash, s.request_json, s.result_json, s.medfee_sumamt, s.inscp_scp_amt,
         s.fund_pay_sumamt, s.hosp_part_amt, s.psn_part_amt, s.created_at,
         coalesce((SELECT json_group_object(l.layer, l.amount_fen) FROM settlement_layers l
                   WHERE l.setl_id = s.setl_id), '{}')
  FROM settlements s ORDER BY s.rowid;
DROP TABLE settlements;
ALTER TABLE settlements_new RENAME TO settlements;
CREATE INDEX settlements_by_psn_no_year ON settlements (psn_no, plan_id, plan_year, admission_date);
CREATE INDEX settlements_by_ref ON settlements (ref_setl_id) WHERE ref_setl_id IS NOT NULL;
CREATE UNIQUE INDEX settlements_one_reversal ON settlements (ref_setl_id) WHERE kind = 'reversal';
DROP TABLE settlement_layers;
CREATE VIEW settlement_layers (setl_id, layer, amount_fen) AS
  SELECT s.setl_id, j.key, j.value FROM settlements s, json_each(s.layers) j
  WHERE j.value <> 0;
*/

/*postgresql:
ALTER TABLE settlements ADD COLUMN layers TEXT;
UPDATE settlements s SET layers = coalesce(
  (SELECT json_object_agg(l.layer, l.amount_fen)::text FROM settlement_layers l
   WHERE l.setl_id = s.setl_id), '{}');
ALTER TABLE settlements ALTER COLUMN layers SET NOT NULL;
ALTER TABLE settlements ALTER COLUMN result_json DROP NOT NULL;
ALTER TABLE settlements ADD CONSTRAINT settlements_result_json_check
  CHECK (result_json IS NOT NULL OR kind = 'settle');
DROP TABLE settlement_layers;
CREATE VIEW settlement_layers (setl_id, layer, amount_fen) AS
  SELECT s.setl_id, j.key, j.value::bigint FROM settlements s
  CROSS JOIN LATERAL jsonb_each_text(s.layers::jsonb) j
  WHERE j.value::bigint <> 0;
*/
