-- The public license check (GET /api/v1/verify/licenses/{license_no}/{token}) finds the
-- application by its license no.: without an index every check would scan the table.
CREATE INDEX IF NOT EXISTS applications_license_no ON {schema}.applications (license_no)
    WHERE license_no IS NOT NULL;
