-- Forward-only view across submissions (issue 10, item 6): the view remembers which submission
-- it shows and when that submission was first seen to happen, so a late event of an earlier
-- submission (or a late ApplicationSubmitted of the one it shows) never moves it back, while a
-- new submission after a failure, a revocation or a first-review rejection does.
ALTER TABLE {schema}.applications ADD COLUMN submission_id text;
ALTER TABLE {schema}.applications ADD COLUMN submission_seen_at timestamptz;

-- Views recorded before: the submission of their latest submission event, first seen at that
-- submission's earliest event. (A view with no submission event, known only from customs
-- events, keeps NULL: it moves by rank alone, see lifecycle.decide.)
WITH latest AS (
    SELECT DISTINCT ON (application_id) application_id, payload->'details'->>'submission_id' AS sid
    FROM {schema}.changes
    WHERE payload->'details' ? 'submission_id'
    ORDER BY application_id, occurred_at DESC, seq DESC
)
UPDATE {schema}.applications a SET
    submission_id = l.sid,
    submission_seen_at = (
        SELECT min(c.occurred_at) FROM {schema}.changes c
        WHERE c.application_id = l.application_id AND c.payload->'details'->>'submission_id' = l.sid)
FROM latest l
WHERE a.application_id = l.application_id AND a.submission_id IS NULL;
