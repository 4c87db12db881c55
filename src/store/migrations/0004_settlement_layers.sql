-- settlement_layers without its foreign key to settlements, and in SQLite a
-- WITHOUT ROWID table whose primary key is the table.
--
-- Every layer row is written in the transaction that writes its settlement,
-- by the store's own writers (settle --db, online settlement, reversal), and
-- rows are never updated or deleted, so the key could not catch anything the
-- writers do not already guarantee (and the crash and concurrency tests
-- check: layers sum to the settlements they belong to). What it cost: for
-- each of a settlement's layer rows a lookup in settlements' key, and in
-- SQLite a second B-tree (the rowid table beside the key's index) - together
-- about a third of the B-tree searches of a bulk settlement.

/*sqlite:
CREATE TABLE settlement_layers_new (
  setl_id TEXT NOT NULL,
  layer TEXT NOT NULL,
  amount_fen BIGINT NOT NULL,
  PRIMARY KEY (setl_id, layer)
) WITHOUT ROWID;
INSERT INTO settlement_layers_new (setl_id, layer, amount_fen)
  SELECT setl_id, layer, amount_fen FROM settlement_layers;
DROP TABLE settlement_layers;
ALTER TABLE settlement_layers_new RENAME TO settlement_layers;
*/

-- In PostgreSQL settlements also lose their foreign keys to persons and
-- plan_versions: each is checked by a trigger that runs a query per row, a
-- fifth of the server's time in a bulk settlement (measured: 1M claims stored
-- in 34.0 s with them, 26.5 s without). The writers take the person from the
-- roll and register the plan version first, and neither persons nor plan
-- versions are ever deleted. SQLite checks a foreign key inline, at a cost
-- too small to measure, and keeps them (dropping them there would mean
-- rebuilding settlements, which claim_facts references).
/*postgresql:
ALTER TABLE settlement_layers DROP CONSTRAINT settlement_layers_setl_id_fkey;
ALTER TABLE settlements DROP CONSTRAINT settlements_psn_no_fkey;
ALTER TABLE settlements DROP CONSTRAINT settlements_plan_id_plan_version_fkey;
*/
