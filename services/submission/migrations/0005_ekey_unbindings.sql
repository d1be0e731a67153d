-- Withdrawn e-key bindings (DELETE /api/v1/ekey-bindings/{serial}): who withdrew which binding
-- and when. The binding row itself is gone (submit is refused until the enterprise binds again);
-- this record answers a repeated DELETE with the same withdrawal, and keeps the history.
CREATE TABLE IF NOT EXISTS {schema}.ekey_unbindings (
    id               bigserial PRIMARY KEY,
    enterprise_code  text NOT NULL,
    ekey_serial      text NOT NULL,
    subject          text NOT NULL DEFAULT '',
    bound_at         timestamptz NOT NULL,
    bound_by         text NOT NULL DEFAULT '',
    unbound_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    unbound_by       text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS ekey_unbindings_key ON {schema}.ekey_unbindings (enterprise_code, ekey_serial, id DESC);
