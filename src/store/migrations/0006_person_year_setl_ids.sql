-- A person's year state lists the settlements it is the replay of, and
-- settlements lose their index by person.
--
-- accumulators.setl_ids: the setl_id of every settlements row of the person,
-- plan and year (settle, reversal and adjustment rows), each as a netstring
-- "LEN:ID," with LEN the id's length in bytes in decimal ("5:S0001,6:S0001R,").
-- The order carries no meaning. Whoever writes a settlements row appends its
-- id in the same transaction, with the year state it moves (write_year_state
-- in src/service/settle_service.cc); readers that need a person's settlements
-- (person show, a reversal re-settling the year) look each id up by the key.
--
-- Why: settlements_by_psn_no_year was a write to a random place of a B-tree
-- for every claim. Measured on the online settlement (64 connections, 16 KiB
-- pages): 20.3 of the 46.5 pages each group commit wrote to the WAL were its
-- leaves (44 %), against 11 for the accumulators row the writer rewrites
-- anyway; dropping it took the disk written per settlement from 56 to 31 KiB.

ALTER TABLE accumulators ADD COLUMN setl_ids TEXT NOT NULL DEFAULT '';

/*sqlite:
UPDATE accumulators SET setl_ids = coalesce(
  (SELECT group_concat(length(CAST(s.setl_id AS BLOB)) || ':' || s.setl_id || ',', '')
   FROM settlements s WHERE s.psn_no = accumulators.psn_no
     AND s.plan_id = accumulators.plan_id AND s.plan_year = accumulators.year), '');
*/

/*postgresql:
UPDATE accumulators a SET setl_ids = coalesce(
  (SELECT string_agg(octet_length(s.setl_id) || ':' || s.setl_id || ',', '')
   FROM settlements s WHERE s.psn_no = a.psn_no
     AND s.plan_id = a.plan_id AND s.plan_year = a.year), '');
*/

DROP INDEX settlements_by_psn_no_year;
