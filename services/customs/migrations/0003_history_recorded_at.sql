-- Issue 13 item 17: the history is read in the order the ledger recorded it (an amended
-- declaration's new use carries the original declaration's time, after the reversal that was
-- recorded before it), and shows when each entry was recorded beside when it happened.
-- Entries written before this migration have no recorded time (NULL: not known); their order,
-- by id, is still the order they were recorded in.
ALTER TABLE {schema}.history ADD COLUMN recorded_at timestamptz;
ALTER TABLE {schema}.history ALTER COLUMN recorded_at SET DEFAULT now();
COMMENT ON COLUMN {schema}.history.recorded_at IS
    'when this service recorded the entry (its transaction); occurred_at is when it happened';
CREATE INDEX history_application_recorded ON {schema}.history (application_id, id);
