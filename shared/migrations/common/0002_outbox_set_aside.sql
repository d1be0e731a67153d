-- Rows the broker refused for a permanent reason (message too large, invalid record, topic not
-- authorised): the relay sets them aside with the reason instead of retrying them for ever or
-- marking them published, so later rows (and the rest of the partition) go on. A set-aside row
-- is never sent again and never marked published; the owning service is told in the same
-- transaction (OutboxRelay(on_set_aside=...)).
ALTER TABLE {schema}.outbox
    ADD COLUMN set_aside_at     timestamptz,
    ADD COLUMN set_aside_reason text,
    ADD CONSTRAINT outbox_published_or_set_aside CHECK (published_at IS NULL OR set_aside_at IS NULL);
DROP INDEX {schema}.outbox_unpublished;
CREATE INDEX outbox_unpublished ON {schema}.outbox (id) WHERE published_at IS NULL AND set_aside_at IS NULL;
CREATE INDEX outbox_set_aside ON {schema}.outbox (set_aside_at) WHERE set_aside_at IS NOT NULL;
