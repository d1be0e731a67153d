-- What this signer host answered, one row per signature request it acted on (audit trail:
-- which e-key signed which application's bytes, or why it did not). The answer event itself
-- goes out through the outbox in the same transaction.
CREATE TABLE {schema}.signatures (
    request_event_id  uuid PRIMARY KEY,
    answer_event_id   uuid NOT NULL UNIQUE,
    host_id           text NOT NULL,
    application_id    text NOT NULL,
    submission_id     text NOT NULL,
    enterprise_code   text NOT NULL,
    ekey_serial       text NOT NULL,
    outcome           text NOT NULL CHECK (outcome IN ('signed', 'failed')),
    reason            text,
    payload_sha256    bytea,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX signatures_application ON {schema}.signatures (application_id);
