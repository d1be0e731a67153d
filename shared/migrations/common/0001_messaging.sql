-- Messaging tables every service schema has. {schema} is replaced by the runner.

-- Transactional outbox: rows are written in the same transaction as the state change they
-- describe; the relay publishes them in id order and marks them published.
CREATE TABLE {schema}.outbox (
    id            bigserial PRIMARY KEY,
    event_id      uuid NOT NULL UNIQUE,
    event_type    text NOT NULL,
    topic         text NOT NULL,
    message_key   text NOT NULL,
    headers       jsonb NOT NULL DEFAULT '{}'::jsonb,
    value         bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON {schema}.outbox (id) WHERE published_at IS NULL;

CREATE FUNCTION {schema}.outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ail_outbox', TG_TABLE_SCHEMA);
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON {schema}.outbox
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.outbox_notify();

-- Inbox: one row per (consumer, event) applied, written in the consumer's transaction.
CREATE TABLE {schema}.inbox (
    consumer      text NOT NULL,
    event_id      uuid NOT NULL,
    event_type    text NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Idempotency keys of HTTP writes: the response of the first request, replayed for retries.
CREATE TABLE {schema}.idempotency_keys (
    principal     text NOT NULL,
    key           text NOT NULL,
    method        text NOT NULL,
    path          text NOT NULL,
    request_hash  text NOT NULL,
    status_code   integer,
    response      jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, key)
);
