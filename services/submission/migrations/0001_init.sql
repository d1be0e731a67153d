-- Which e-keys the signer hosts hold right now (from EkeyHeartbeat). A key is present while
-- last_seen + ttl_seconds is in the future.
CREATE TABLE {schema}.ekey_presence (
    host_id          text NOT NULL,
    serial           text NOT NULL,
    label            text NOT NULL DEFAULT '',
    subject          text NOT NULL DEFAULT '',
    certificate_pem  text NOT NULL DEFAULT '',
    algorithm        text NOT NULL DEFAULT '',
    enterprise_codes text[] NOT NULL DEFAULT '{}',
    last_seen        timestamptz NOT NULL,
    ttl_seconds      double precision NOT NULL,
    PRIMARY KEY (host_id, serial)
);
CREATE INDEX ekey_presence_serial ON {schema}.ekey_presence (serial, last_seen DESC);

-- The e-key each enterprise signs with.
CREATE TABLE {schema}.ekey_bindings (
    enterprise_code  text PRIMARY KEY,
    ekey_serial      text NOT NULL,
    subject          text NOT NULL DEFAULT '',
    certificate_pem  text NOT NULL,
    bound_at         timestamptz NOT NULL DEFAULT now(),
    bound_by         text NOT NULL DEFAULT ''
);

-- One row per submission (an application submitted N times has N rows). ``state``:
-- signing -> signed -> accepted | rejected, or signing_failed. The sender retries ``signed`` rows
-- whose next_attempt_at has come; attempts and last_error make MOFCOM trouble visible.
CREATE TABLE {schema}.submissions (
    submission_id    uuid PRIMARY KEY,
    application_id   uuid NOT NULL,
    enterprise_code  text NOT NULL,
    serial_no        text NOT NULL,
    snapshot         jsonb NOT NULL,
    state            text NOT NULL,
    ekey_serial      text,
    signer_host      text,
    signature        text,
    algorithm        text,
    certificate_pem  text,
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    next_attempt_at  timestamptz,
    lease_until      timestamptz,
    form_no          text UNIQUE,
    applied_at       timestamptz,
    reason           text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX submissions_due ON {schema}.submissions (next_attempt_at) WHERE state = 'signed';
CREATE INDEX submissions_application ON {schema}.submissions (application_id, created_at DESC);

-- What this service knows of each application it has seen submitted (its own view; it never
-- reads the application service's tables).
CREATE TABLE {schema}.applications (
    application_id   uuid PRIMARY KEY,
    enterprise_code  text NOT NULL,
    submission_id    uuid NOT NULL,
    status           text NOT NULL,
    status_reason    text,
    form_no          text,
    license_no       text,
    applied_at       timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX applications_form_no ON {schema}.applications (form_no);

-- Each MOFCOM review result once (duplicates from the sandbox are dropped here).
CREATE TABLE {schema}.review_results (
    form_no          text NOT NULL,
    stage            text NOT NULL,
    result           text NOT NULL,
    opinion          text NOT NULL DEFAULT '',
    license_no       text,
    reviewed_at      timestamptz NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (form_no, stage)
);
