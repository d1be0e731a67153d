-- The lifecycle view of every application, built from events.
CREATE TABLE {schema}.applications (
    application_id   text PRIMARY KEY,
    enterprise_code  text NOT NULL,
    serial_no        text,
    status           text NOT NULL,
    status_reason    text,
    form_no          text,
    license_no       text,
    last_event_id    uuid NOT NULL,
    last_event_type  text NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX applications_tenant ON {schema}.applications (enterprise_code);
