-- Issue 15: the status view shows the license's state beside its number (valid, used_up,
-- surrendered, cancelled, expired), as the customs service announces it on ail.customs. NULL: no
-- announcement yet (an issued license is valid; the API shows it so).
ALTER TABLE {schema}.applications ADD COLUMN license_state text;
COMMENT ON COLUMN {schema}.applications.license_state IS
    'the license state last announced by the customs service (ail_shared.licenses); NULL: none yet';
