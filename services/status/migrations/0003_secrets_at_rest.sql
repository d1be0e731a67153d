-- Secrets at rest (issue 10). subscriptions.secret now holds an AES-GCM token
-- ("v1:<key id>:<...>", ail_shared.secretbox); rows written before are encrypted by the service
-- at start-up (it holds the key, SQL does not). Stored idempotent answers never hold a secret:
-- the copies kept so far are removed here (a replay rebuilds it from the subscription row).
COMMENT ON COLUMN {schema}.subscriptions.secret IS
    'AES-256-GCM token of the whsec_ signing secret (ail_shared.secretbox); never in clear';
UPDATE {schema}.idempotency_keys SET response = response - 'secret'
WHERE response ? 'secret';
-- The receiver's answer is not kept any more (an internal answer must not leak back).
UPDATE {schema}.delivery_attempts SET response_body = NULL WHERE response_body IS NOT NULL;
