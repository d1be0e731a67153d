CREATE SEQUENCE {schema}.serial_no_seq;

CREATE TABLE {schema}.applications (
    id               uuid PRIMARY KEY,
    serial_no        text NOT NULL UNIQUE,
    enterprise_code  text NOT NULL,
    status           text NOT NULL DEFAULT 'draft',
    status_reason    text,
    year             integer NOT NULL,
    form             jsonb NOT NULL DEFAULT '{}'::jsonb,
    form_no          text UNIQUE,
    license_no       text UNIQUE,
    applied_at       timestamptz,
    submission_id    uuid,
    version          integer NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX applications_tenant ON {schema}.applications (enterprise_code, created_at DESC);
