-- Issue 14, item 4: the W3C trace context (traceparent, tracestate) of the transaction that
-- queued this work, so the worker that takes it up later continues the same trace
-- (ail_shared.telemetry.stored_trace_context / continue_trace). {} for rows written before.
ALTER TABLE {schema}.licenses ADD COLUMN IF NOT EXISTS trace_context jsonb NOT NULL DEFAULT '{}'::jsonb;
