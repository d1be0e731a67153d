-- The complete form: editable input, computed fields, contracts, and the columns the query
-- filters and shows (kept in step with the form by the repository).
ALTER TABLE {schema}.applications
    ADD COLUMN importer_name          text NOT NULL DEFAULT '',
    ADD COLUMN one_batch_one_license  boolean NOT NULL DEFAULT false,
    ADD COLUMN issuing_agency         text,
    ADD COLUMN electronic_license     boolean NOT NULL DEFAULT true,
    ADD COLUMN computed               jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN contract               jsonb,
    ADD COLUMN iron_ore_contract      jsonb,
    ADD COLUMN copied_from            uuid,
    ADD COLUMN trade_mode             text,
    ADD COLUMN import_user_code       text,
    ADD COLUMN import_user_name       text,
    ADD COLUMN commodity_code         text,
    ADD COLUMN commodity_name         text,
    ADD COLUMN unit                   text,
    ADD COLUMN total_quantity         numeric,
    ADD COLUMN total_value_usd        numeric;

-- The query always scopes by enterprise and pages by creation order; the other filters narrow it.
CREATE INDEX applications_tenant_status ON {schema}.applications (enterprise_code, status, created_at DESC, id);
CREATE INDEX applications_tenant_applied ON {schema}.applications (enterprise_code, applied_at);
CREATE INDEX applications_import_user ON {schema}.applications (enterprise_code, import_user_code);

-- The applicant-enterprise part of the last contract entry, to pre-fill the next one.
CREATE TABLE {schema}.enterprise_profiles (
    enterprise_code  text PRIMARY KEY,
    applicant        jsonb NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {schema}.attachments (
    id               uuid PRIMARY KEY,
    application_id   uuid NOT NULL REFERENCES {schema}.applications(id) ON DELETE CASCADE,
    enterprise_code  text NOT NULL,
    filename         text NOT NULL,
    content_type     text NOT NULL,
    size             integer NOT NULL CHECK (size <= 1048576),
    sha256           text NOT NULL,
    content          bytea NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attachments_application ON {schema}.attachments (application_id, created_at);

CREATE TABLE {schema}.key_agri_filings (
    id               uuid PRIMARY KEY,
    enterprise_code  text NOT NULL,
    body             jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'reported',
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX key_agri_filings_tenant ON {schema}.key_agri_filings (enterprise_code, created_at DESC);
