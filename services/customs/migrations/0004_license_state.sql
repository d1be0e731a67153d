-- The license's own state after issue (issue 15; ail_shared.licenses): valid | used_up |
-- surrendered | cancelled | expired, why, and what was left unused; a change or extension names
-- the license it replaces; the cancellation's delivery to Customs, like the license's own.
ALTER TABLE {schema}.licenses
    ADD COLUMN state                  text NOT NULL DEFAULT 'valid'
        CHECK (state IN ('valid', 'used_up', 'surrendered', 'cancelled', 'expired')),
    ADD COLUMN state_reason           text NOT NULL DEFAULT '',
    ADD COLUMN state_detail           text NOT NULL DEFAULT '',
    ADD COLUMN state_changed_at       timestamptz,
    ADD COLUMN unused_quantity        numeric,
    ADD COLUMN replaces_license_no    text,
    ADD COLUMN replaced_by            text,
    ADD COLUMN max_uses               integer CHECK (max_uses >= 0),
    ADD COLUMN reissue_application_id text,
    -- NULL (nothing to cancel) | pending | not_arrived | stored | send_failed
    ADD COLUMN cancellation_status    text,
    ADD COLUMN cancellation_rounds    integer NOT NULL DEFAULT 0,
    ADD COLUMN next_cancellation_at   timestamptz;
-- The expiry sweep looks only at valid licenses, by their last day.
CREATE INDEX licenses_valid_until ON {schema}.licenses (valid_until) WHERE state = 'valid';
CREATE INDEX licenses_cancellation_due ON {schema}.licenses (next_cancellation_at)
    WHERE next_cancellation_at IS NOT NULL;
CREATE INDEX licenses_replaces ON {schema}.licenses (replaces_license_no)
    WHERE replaces_license_no IS NOT NULL;
