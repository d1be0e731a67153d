-- Issue 14, item 6: an operations action on a dead-lettered message that belongs to an
-- application (an envelope naming it as its aggregate) shows in that application's history. The
-- envelope's aggregate id, tenant, event id and type are kept with the action (NULL when the
-- bytes are no envelope, and for rows written before).
ALTER TABLE {schema}.ops_actions ADD COLUMN IF NOT EXISTS aggregate_id text;
ALTER TABLE {schema}.ops_actions ADD COLUMN IF NOT EXISTS tenant text;
ALTER TABLE {schema}.ops_actions ADD COLUMN IF NOT EXISTS event_id text;
ALTER TABLE {schema}.ops_actions ADD COLUMN IF NOT EXISTS event_type text;
CREATE INDEX IF NOT EXISTS ops_actions_aggregate ON {schema}.ops_actions (aggregate_id)
    WHERE aggregate_id IS NOT NULL;
