-- Operations' actions on deliveries to Customs (resend, close): who, when, why. Shown with the
-- delivery in GET /api/v1/ops/customs-deliveries; a delivery whose latest action is 'close'
-- is closed (no automatic re-send; operations may still resend it).
CREATE TABLE IF NOT EXISTS {schema}.ops_actions (
    id          bigserial PRIMARY KEY,
    license_no  text NOT NULL REFERENCES {schema}.licenses (license_no),
    action      text NOT NULL CHECK (action IN ('resend', 'close')),
    reason      text NOT NULL,
    actor       text NOT NULL,
    acted_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS ops_actions_license ON {schema}.ops_actions (license_no, id);
