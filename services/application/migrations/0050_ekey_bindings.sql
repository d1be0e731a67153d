-- The application service's own copy of each enterprise's e-key binding (from EkeyBound on
-- ail.submission), for the submit precondition "an e-key is bound to the enterprise".
CREATE TABLE {schema}.ekey_bindings (
    enterprise_code  text PRIMARY KEY,
    ekey_serial      text NOT NULL,
    subject          text NOT NULL DEFAULT '',
    certificate_pem  text NOT NULL DEFAULT '',
    bound_at         timestamptz NOT NULL
);
