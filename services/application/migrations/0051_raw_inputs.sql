-- Temporary save keeps what it could not read (issue 13, item 1): values as typed, by field path,
-- with the reason ({"expected_arrival_date": {"value": "2026/12/20", "reason": "..."}}).
ALTER TABLE {schema}.applications ADD COLUMN raw_inputs jsonb NOT NULL DEFAULT '{}'::jsonb;
