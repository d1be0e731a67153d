-- Tenancy and API keys. Read by every service's auth dependency (see docs/architecture.md:
-- the one schema shared by design, because every request must be authenticated the same way).

CREATE TABLE iam.enterprises (
    code          text PRIMARY KEY CHECK (code ~ '^[0-9]{13}$'),
    name          text NOT NULL,
    uscc          text CHECK (uscc IS NULL OR uscc ~ '^[0-9A-Z]{18}$'),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE iam.agencies (
    code          text PRIMARY KEY,
    name          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- An enterprise authorises an agency to act for it (委托). Revocation keeps the row.
CREATE TABLE iam.agency_authorizations (
    agency_code      text NOT NULL REFERENCES iam.agencies(code),
    enterprise_code  text NOT NULL REFERENCES iam.enterprises(code),
    granted_at       timestamptz NOT NULL DEFAULT now(),
    revoked_at       timestamptz,
    PRIMARY KEY (agency_code, enterprise_code)
);

-- API keys: "ail_<key_id>_<secret>". Only SHA-256 of the secret is stored; the secret has 256
-- bits of entropy, so a slow hash adds nothing.
CREATE TABLE iam.api_keys (
    key_id           text PRIMARY KEY,
    secret_sha256    bytea NOT NULL,
    principal_kind   text NOT NULL CHECK (principal_kind IN ('enterprise', 'agency', 'operations')),
    enterprise_code  text REFERENCES iam.enterprises(code),
    agency_code      text REFERENCES iam.agencies(code),
    label            text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    revoked_at       timestamptz,
    CHECK ((principal_kind = 'enterprise') = (enterprise_code IS NOT NULL)),
    CHECK ((principal_kind = 'agency') = (agency_code IS NOT NULL))
);
