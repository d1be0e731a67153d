-- Operations' actions on MOFCOM sends (resend, close): who, when, why. Shown with the send in
-- GET /api/v1/ops/submissions. A submission is 'parked' once its retries are spent (it waits
-- for operations, it is not sent back to draft).
CREATE TABLE IF NOT EXISTS {schema}.ops_actions (
    id             bigserial PRIMARY KEY,
    submission_id  uuid NOT NULL,
    action         text NOT NULL CHECK (action IN ('resend', 'close')),
    reason         text NOT NULL,
    actor          text NOT NULL,
    acted_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS ops_actions_submission ON {schema}.ops_actions (submission_id, id);
CREATE INDEX IF NOT EXISTS submissions_ops ON {schema}.submissions (state, updated_at DESC)
    WHERE state IN ('signed', 'parked');
