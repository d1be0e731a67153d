-- Issue 15: a draft made by a change or extension (变更 / 延期) names the license it replaces and
-- the most it may cover ({"license_no", "max_quantity", "max_uses"}); the license's own state
-- after issue (ail_shared.licenses), as the customs service, which owns it, announces it.
ALTER TABLE {schema}.applications
    ADD COLUMN replaces       jsonb,
    ADD COLUMN license_state  text;
