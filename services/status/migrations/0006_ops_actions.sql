-- Issue 14, item 6: what operations did with a dead-lettered message (redrive, skip): who, when,
-- why. The message is named by its place in the dead-letter topic.
CREATE TABLE IF NOT EXISTS {schema}.ops_actions (
    id             bigserial PRIMARY KEY,
    dlt_topic      text NOT NULL,
    dlt_partition  integer NOT NULL,
    dlt_offset     bigint NOT NULL,
    source_topic   text NOT NULL,
    message_key    text,
    action         text NOT NULL CHECK (action IN ('redrive', 'skip')),
    reason         text NOT NULL,
    actor          text NOT NULL,
    acted_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS ops_actions_message ON {schema}.ops_actions (dlt_topic, dlt_partition, dlt_offset);
