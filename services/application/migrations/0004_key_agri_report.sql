-- Key agricultural products filing: "save and report". A filing is saved, then reported to
-- MOFCOM by the filing reporter (adapters/mofcom_filing.py) with bounded retries; the outcome is
-- visible on the filing: saved -> reported (with MOFCOM's receipt no.) or report_failed.
ALTER TABLE {schema}.key_agri_filings ALTER COLUMN status SET DEFAULT 'saved';
ALTER TABLE {schema}.key_agri_filings
    ADD COLUMN receipt_no       text,
    ADD COLUMN reported_at      timestamptz,
    ADD COLUMN report_attempts  integer NOT NULL DEFAULT 0,
    ADD COLUMN last_error       text,
    ADD COLUMN next_attempt_at  timestamptz NOT NULL DEFAULT now();
CREATE INDEX key_agri_filings_due ON {schema}.key_agri_filings (next_attempt_at)
    WHERE status IN ('saved', 'report_failed');
