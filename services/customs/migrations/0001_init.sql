-- Customs service: applications it has heard of (for the customs status query), licenses with
-- their delivery state and ledger balances, the append-only ledger, declarations, history, and
-- the cursor on the Customs clearance feed.

CREATE TABLE {schema}.applications (
    application_id     text PRIMARY KEY,
    enterprise_code    text NOT NULL,
    serial_no          text,
    year               integer,
    form_no            text,
    license_no         text,
    commodity_code     text,
    commodity_name     text,
    -- submitted | approved | license_issued (the query shows only the last two)
    application_status text NOT NULL,
    applied_at         timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX applications_tenant ON {schema}.applications (enterprise_code, year);
CREATE INDEX applications_license ON {schema}.applications (license_no);

CREATE TABLE {schema}.licenses (
    license_no             text PRIMARY KEY,
    application_id         text NOT NULL,
    enterprise_code        text NOT NULL,
    form_no                text NOT NULL,
    commodity_code         text NOT NULL,
    commodity_name         text NOT NULL DEFAULT '',
    unit                   text NOT NULL DEFAULT '',
    quantity               numeric NOT NULL CHECK (quantity > 0),
    one_batch_one_license  boolean NOT NULL,
    issued_at              timestamptz NOT NULL,
    valid_until            date NOT NULL,
    tolerance_pct          numeric NOT NULL,
    tolerance_source       text NOT NULL,
    -- delivery to Customs: NULL (not sent yet) | not_arrived | stored | store_failed | send_failed
    customs_status         text,
    delivery_rounds        integer NOT NULL DEFAULT 0,
    failed_rounds          integer NOT NULL DEFAULT 0,
    next_delivery_at       timestamptz,  -- when the worker should (re)send; while a round runs, its lease end; NULL: nothing due
    last_delivery_detail   text NOT NULL DEFAULT '',
    -- ledger balances, kept with every ledger entry in the same transaction
    used_quantity          numeric NOT NULL DEFAULT 0,
    uses                   integer NOT NULL DEFAULT 0,
    ledger_entries         integer NOT NULL DEFAULT 0,
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX licenses_tenant ON {schema}.licenses (enterprise_code);
CREATE INDEX licenses_application ON {schema}.licenses (application_id);
CREATE INDEX licenses_due ON {schema}.licenses (next_delivery_at) WHERE next_delivery_at IS NOT NULL;

-- The ledger: append-only (the trigger below refuses UPDATE and DELETE).
CREATE TABLE {schema}.ledger_entries (
    license_no      text NOT NULL REFERENCES {schema}.licenses (license_no),
    entry_no        integer NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('use', 'reversal', 'refused')),
    declaration_no  text NOT NULL,
    quantity        numeric NOT NULL CHECK (quantity >= 0),
    occurred_at     timestamptz NOT NULL,
    reason          text NOT NULL DEFAULT '',
    detail          text NOT NULL DEFAULT '',
    used_after      numeric NOT NULL,
    uses_after      integer NOT NULL,
    message_id      text NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (license_no, entry_no)
);

CREATE FUNCTION {schema}.ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only: write a compensating entry instead';
END $$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON {schema}.ledger_entries
    FOR EACH ROW EXECUTE FUNCTION {schema}.ledger_append_only();

-- Declarations Customs reported, with their goods lines; state follows the ledger.
CREATE TABLE {schema}.declarations (
    declaration_no  text PRIMARY KEY,
    license_no      text NOT NULL REFERENCES {schema}.licenses (license_no),
    enterprise_code text NOT NULL,
    declared_at     timestamptz NOT NULL,
    port            text NOT NULL DEFAULT '',
    quantity        numeric NOT NULL,
    lines           jsonb NOT NULL DEFAULT '[]',
    -- recorded | refused | amended | invalidated
    state           text NOT NULL,
    refusal_reason  text NOT NULL DEFAULT '',
    revision        integer NOT NULL DEFAULT 1,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX declarations_license ON {schema}.declarations (license_no, declared_at);

-- Every Customs feed message applied (dedup by Customs' message id) or set aside.
CREATE TABLE {schema}.clearance_messages (
    message_id   text PRIMARY KEY,
    kind         text NOT NULL,
    license_no   text,
    outcome      text NOT NULL,  -- applied | refused | ignored | unknown_license
    detail       text NOT NULL DEFAULT '',
    received_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {schema}.feed_cursor (
    feed        text PRIMARY KEY,
    epoch       text NOT NULL,
    position    bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Everything that happened to an application and its license, in time order (append-only).
CREATE TABLE {schema}.history (
    id              bigserial PRIMARY KEY,
    application_id  text NOT NULL,
    enterprise_code text NOT NULL,
    license_no      text,
    occurred_at     timestamptz NOT NULL,
    kind            text NOT NULL,
    summary         text NOT NULL,
    data            jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX history_application ON {schema}.history (application_id, occurred_at);
