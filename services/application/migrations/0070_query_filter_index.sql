-- The query's total (DOMAIN section 8: the list shows it) over a large tenant: the filters the
-- list is used with most (status, trade mode, application dates) in key order, so that the
-- count is an index-only range scan of the matching rows alone, not of every row of the status
-- (issue 16, fix 5: 1,000,000 rows, 58,816 matches). The page itself walks
-- applications_status_page in display order.
CREATE INDEX IF NOT EXISTS applications_filter_count
    ON {schema}.applications (enterprise_code, status, trade_mode, applied_at);
