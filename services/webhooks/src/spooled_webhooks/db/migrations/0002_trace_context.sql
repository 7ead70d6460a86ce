-- 0002_trace_context: the trace a delivery continues. The event consumer
-- stores the W3C traceparent of the span that processed the stream event
-- (itself a child of queue-core's publish span), and each attempt's
-- "deliver <event>" span is its child, so a job's completion webhook shows up
-- in the job's trace. NULL while tracing is off.
SET LOCAL lock_timeout = '5s';

ALTER TABLE webhooks.deliveries ADD COLUMN IF NOT EXISTS traceparent TEXT;
