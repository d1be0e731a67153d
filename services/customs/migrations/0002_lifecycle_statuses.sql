-- The customs service keeps the lifecycle's own status names (ail_shared.lifecycle): an
-- application MOFCOM accepted is pending_first_review, no longer a customs-only 'submitted'.
UPDATE {schema}.applications SET application_status = 'pending_first_review'
WHERE application_status = 'submitted';
COMMENT ON COLUMN {schema}.applications.application_status IS
    'ail_shared.lifecycle status: pending_first_review | approved | license_issued (the query shows the last two)';
