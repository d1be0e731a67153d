-- Forward-only view across submissions (issue 10, item 6): the view remembers which submission
-- it shows and when that submission was first seen to happen, so a late event of an earlier
-- submission (or a late ApplicationSubmitted of the one it shows) never moves it back, while a
-- new submission after a failure, a revocation or a first-review rejection does.
ALTER TABLE {schema}.applications ADD COLUMN submission_id text;
ALTER TABLE {schema}.applications ADD COLUMN submission_seen_at timestamptz;
