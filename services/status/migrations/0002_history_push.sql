-- History, change feed and push (webhooks, live stream).

ALTER TABLE {schema}.applications ADD COLUMN customs_status text;
ALTER TABLE {schema}.applications ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();

-- One counter per enterprise. Taking the next number locks the enterprise's row until the
-- transaction commits, so within one enterprise the sequence order is the commit order: a reader
-- that has seen number N never later finds a committed N-1 (Last-Event-ID resumes without gaps).
CREATE TABLE {schema}.enterprise_sequences (
    enterprise_code  text PRIMARY KEY,
    last_seq         bigint NOT NULL
);

-- The change log: one row per lifecycle event received for an application. It is the history,
-- the live stream's source and the webhook payload.
CREATE TABLE {schema}.changes (
    id               bigserial PRIMARY KEY,
    enterprise_code  text NOT NULL,
    seq              bigint NOT NULL,           -- per-enterprise sequence, the SSE id
    application_id   text NOT NULL,
    event_id         uuid NOT NULL UNIQUE,
    event_type       text NOT NULL,
    occurred_at      timestamptz NOT NULL,      -- when it happened (the event's time)
    recorded_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    status           text,                      -- the status this event sets (NULL: sets none)
    current_status   text NOT NULL,             -- the application's status after applying it
    payload          jsonb NOT NULL,            -- the change as clients see it
    UNIQUE (enterprise_code, seq)
);
CREATE INDEX changes_application ON {schema}.changes (application_id, occurred_at, seq);
CREATE INDEX changes_status_time ON {schema}.changes (occurred_at) WHERE status IS NOT NULL;

CREATE TABLE {schema}.subscriptions (
    id                    uuid PRIMARY KEY,
    enterprise_code       text NOT NULL,
    url                   text NOT NULL,
    secret                text NOT NULL,        -- whsec_...; needed in clear to sign
    all_applications      boolean NOT NULL,
    description           text NOT NULL DEFAULT '',
    retry_period_seconds  integer,              -- NULL: the service's default
    created_by            text NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    deleted_at            timestamptz
);
CREATE INDEX subscriptions_tenant ON {schema}.subscriptions (enterprise_code) WHERE deleted_at IS NULL;

CREATE TABLE {schema}.subscription_applications (
    subscription_id  uuid NOT NULL REFERENCES {schema}.subscriptions (id),
    application_id   text NOT NULL,
    PRIMARY KEY (subscription_id, application_id)
);
CREATE INDEX subscription_applications_app ON {schema}.subscription_applications (application_id);

-- state: pending -> delivered | failed | cancelled; a redelivery puts a failed or delivered
-- one back to pending. A pending row is in flight while leased_until is in the future.
CREATE TABLE {schema}.deliveries (
    id                    bigserial PRIMARY KEY,  -- order of deliveries within a subscription
    public_id             uuid NOT NULL UNIQUE,
    subscription_id       uuid NOT NULL REFERENCES {schema}.subscriptions (id),
    application_id        text NOT NULL,
    change_id             bigint NOT NULL REFERENCES {schema}.changes (id),
    event_id              uuid NOT NULL,          -- webhook-id
    state                 text NOT NULL DEFAULT 'pending',
    attempts              integer NOT NULL DEFAULT 0,
    retry_period_seconds  integer NOT NULL,
    next_attempt_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    deadline              timestamptz,            -- set at the first attempt of a round
    leased_until          timestamptz,
    created_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    delivered_at          timestamptz,
    failed_at             timestamptz,
    last_error            text,
    redeliveries          integer NOT NULL DEFAULT 0,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX deliveries_due ON {schema}.deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_queue ON {schema}.deliveries (subscription_id, application_id, id)
    WHERE state = 'pending';
CREATE INDEX deliveries_subscription ON {schema}.deliveries (subscription_id, id);

CREATE TABLE {schema}.delivery_attempts (
    id             bigserial PRIMARY KEY,
    delivery_id    bigint NOT NULL REFERENCES {schema}.deliveries (id),
    attempt_no     integer NOT NULL,
    started_at     timestamptz NOT NULL,
    duration_ms    double precision NOT NULL,
    status_code    integer,
    error          text,
    response_body  text
);
CREATE INDEX delivery_attempts_delivery ON {schema}.delivery_attempts (delivery_id, attempt_no);
