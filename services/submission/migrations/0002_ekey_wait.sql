-- Issue 10, item 3: a lapsed heartbeat makes a submission wait, it does not fail it.
-- absent_at: the host's latest heartbeat no longer lists a key it held (an explicit "absent");
-- the row is kept (no longer deleted) so that "removed" can be told from "not heard of lately".
ALTER TABLE {schema}.ekey_presence ADD COLUMN absent_at timestamptz;

-- waiting_since: when a submission began waiting for its e-key (state 'waiting_ekey'); the grace
-- period of a key never announced counts from here.
ALTER TABLE {schema}.submissions ADD COLUMN waiting_since timestamptz;
CREATE INDEX submissions_waiting ON {schema}.submissions (ekey_serial) WHERE state IN ('waiting_ekey', 'signing');
