-- Operator accounts and their browser sessions (issue 18). Beside the API keys in iam because
-- every service's auth dependency reads a session exactly as it reads a key.

-- One person's sign-in. Like an API key it belongs to one enterprise, one agency (which then
-- chooses, per session, one of the enterprises that authorised it) or to operations.
CREATE TABLE iam.operator_accounts (
    username         text PRIMARY KEY CHECK (username ~ '^[A-Za-z0-9._@-]{1,64}$'),
    password_hash    text NOT NULL,             -- argon2id, PHC string (salt and parameters inside)
    principal_kind   text NOT NULL CHECK (principal_kind IN ('enterprise', 'agency', 'operations')),
    enterprise_code  text REFERENCES iam.enterprises(code),
    agency_code      text REFERENCES iam.agencies(code),
    display_name     text NOT NULL DEFAULT '',
    -- Failed sign-ins in a row, and until when the account refuses every password.
    failed_attempts  integer NOT NULL DEFAULT 0,
    locked_until     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    disabled_at      timestamptz,
    CHECK ((principal_kind = 'enterprise') = (enterprise_code IS NOT NULL)),
    CHECK ((principal_kind = 'agency') = (agency_code IS NOT NULL))
);

-- A signed-in browser. The cookie holds "<session_id>.<secret>"; only SHA-256 of the secret is
-- stored (256 bits of entropy: a slow hash adds nothing), and likewise for the CSRF token the
-- console echoes in X-CSRF-Token on every write.
CREATE TABLE iam.operator_sessions (
    session_id          text PRIMARY KEY,
    secret_sha256       bytea NOT NULL,
    csrf_sha256         bytea NOT NULL,
    username            text NOT NULL REFERENCES iam.operator_accounts(username),
    -- An agency's chosen enterprise (the switcher); NULL until it picks one.
    acting_enterprise   text REFERENCES iam.enterprises(code),
    created_at          timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz NOT NULL,
    signed_out_at       timestamptz
);
CREATE INDEX operator_sessions_username ON iam.operator_sessions (username);
