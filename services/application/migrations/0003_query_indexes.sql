-- The query pages newest first (created_at DESC, id DESC); the indexes follow that order exactly,
-- and carry the usual filter columns so that the total count is an index-only scan.
DROP INDEX IF EXISTS {schema}.applications_tenant_status;
DROP INDEX IF EXISTS {schema}.applications_tenant;
CREATE INDEX applications_page ON {schema}.applications (enterprise_code, created_at DESC, id DESC);
CREATE INDEX applications_status_page ON {schema}.applications (enterprise_code, status, created_at DESC, id DESC)
    INCLUDE (trade_mode, applied_at, year, issuing_agency);

-- A filing is stored as 'saved' until a MOFCOM filing adapter reports it (0002 said 'reported').
ALTER TABLE {schema}.key_agri_filings ALTER COLUMN status SET DEFAULT 'saved';
