-- 0004_trace_context: the W3C trace context a job was enqueued under, and the
-- one each outbox event continues, so one trace follows a job from its
-- enqueue through its claim and settlement to the webhooks its events cause.
--
-- No query names these columns on insert: they default to the transaction
-- setting app.traceparent, which tenant_tx (spooled_common.db) sets only
-- while tracing is on. So a batch insert stays one multi-row INSERT, and with
-- tracing off every row simply stores NULL. The job events of a claim or a
-- settlement copy the job's own traceparent instead (queries.sql).
--
-- Nullable with a stable (non-volatile) default: PostgreSQL 11+ adds such a
-- column without a table rewrite (existing rows read NULL, the setting's value
-- here); new rows evaluate the default when inserted.
SET LOCAL lock_timeout = '5s';

ALTER TABLE core.jobs
    ADD COLUMN IF NOT EXISTS traceparent TEXT
    DEFAULT NULLIF(current_setting('app.traceparent', true), '');

ALTER TABLE core.outbox
    ADD COLUMN IF NOT EXISTS traceparent TEXT
    DEFAULT NULLIF(current_setting('app.traceparent', true), '');
