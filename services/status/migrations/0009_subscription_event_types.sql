-- Issue 19: a subscription chooses the webhook types it receives (application.submission_accepted,
-- ...; ail_status.domain.model.WEBHOOK_TYPES). NULL: every type (subscriptions made before, and
-- those that choose none). Recording a change queues a delivery only for subscriptions that want
-- its type (adapters/repository.py, RECORD).
ALTER TABLE {schema}.subscriptions ADD COLUMN IF NOT EXISTS event_types text[];
