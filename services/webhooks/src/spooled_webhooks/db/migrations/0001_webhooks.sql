-- 0001_webhooks: outgoing endpoints, their deliveries and attempts, the
-- inbound delivery log and this service's own small outbox (schema "webhooks").
--
-- Every statement is idempotent (IF NOT EXISTS / DROP ... IF EXISTS) so a
-- half-applied migration can be re-run by hand; the runner records versions
-- and never applies one twice anyway.
SET LOCAL lock_timeout = '5s';

CREATE SCHEMA IF NOT EXISTS webhooks;

-- ---------------------------------------------------------------------------
-- endpoints: org-level outgoing webhooks (API.md §10.1, "outgoing_webhooks").
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS webhooks.endpoints (
    id                TEXT PRIMARY KEY DEFAULT gen_random_uuid()::text,
    organization_id   TEXT        NOT NULL,
    name              TEXT        NOT NULL,
    url               TEXT        NOT NULL,
    -- HMAC key of both signature schemes; NULL: deliveries go out unsigned.
    secret            TEXT,
    events            TEXT[]      NOT NULL,
    format            TEXT        NOT NULL DEFAULT 'json',
    enabled           BOOLEAN     NOT NULL DEFAULT TRUE,
    -- Deliveries that failed for good since the last success (upstream semantics).
    failure_count     INT         NOT NULL DEFAULT 0,
    last_triggered_at TIMESTAMPTZ,
    last_status       TEXT,
    -- Why the service disabled it: gone (a 410) or failures (auto-disable).
    disabled_reason   TEXT,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT endpoints_name_length CHECK (char_length(name) BETWEEN 1 AND 255),
    CONSTRAINT endpoints_url_length CHECK (char_length(url) BETWEEN 1 AND 2048),
    CONSTRAINT endpoints_secret_length CHECK (char_length(secret) BETWEEN 1 AND 255),
    CONSTRAINT endpoints_events_valid CHECK (
        cardinality(events) >= 1 AND events <@ ARRAY[
            'job.created', 'job.started', 'job.completed', 'job.failed', 'job.cancelled',
            'job.deadlettered', 'job.retried', 'queue.paused', 'queue.resumed',
            'worker.registered', 'worker.deregistered', 'schedule.triggered',
            'workflow.completed', 'workflow.failed']::text[]),
    CONSTRAINT endpoints_format_valid CHECK (format IN ('json', 'slack', 'discord', 'teams')),
    CONSTRAINT endpoints_last_status_valid CHECK (
        last_status IN ('success', 'failed', 'auto_disabled')),
    CONSTRAINT endpoints_disabled_reason_valid CHECK (disabled_reason IN ('gone', 'failures')),
    CONSTRAINT endpoints_failure_count_non_negative CHECK (failure_count >= 0)
);

CREATE INDEX IF NOT EXISTS endpoints_org_created_idx
    ON webhooks.endpoints (organization_id, created_at DESC);
-- Fan-out: the enabled endpoints of the orgs in a batch of events.
CREATE INDEX IF NOT EXISTS endpoints_org_enabled_idx
    ON webhooks.endpoints (organization_id) WHERE enabled;

-- ---------------------------------------------------------------------------
-- deliveries: one row per (target, event). The id is derived from the event's
-- stream key (the outbox row) and the target, so a message JetStream delivers
-- twice maps to the same row (INSERT ... ON CONFLICT DO NOTHING) and a
-- receiver sees one id however often it is sent. The retry schedule lives
-- here (next_attempt_at), so it survives restarts.
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS webhooks.deliveries (
    id              TEXT PRIMARY KEY,
    organization_id TEXT        NOT NULL,
    -- NULL: a job's own completion_webhook (url/secret below), not an endpoint.
    webhook_id      TEXT REFERENCES webhooks.endpoints (id) ON DELETE CASCADE,
    event           TEXT        NOT NULL,
    -- The stream key of the event (Nats-Msg-Id of the outbox row).
    event_key       TEXT        NOT NULL,
    job_id          TEXT,
    url             TEXT,
    secret          TEXT,
    -- The exact JSON body sent (json, not jsonb: bytes and key order are kept).
    payload         JSON        NOT NULL,
    status          TEXT        NOT NULL DEFAULT 'pending',
    -- Attempts started; a claim counts one before sending (at-least-once).
    attempts        INT         NOT NULL DEFAULT 0,
    -- When a pending delivery is due; a claim moves it one lease ahead.
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    status_code     INT,
    response_body   TEXT,
    error           TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at    TIMESTAMPTZ,
    CONSTRAINT deliveries_status_valid CHECK (status IN ('pending', 'success', 'failed')),
    CONSTRAINT deliveries_target_valid CHECK ((webhook_id IS NULL) = (url IS NOT NULL)),
    CONSTRAINT deliveries_attempts_non_negative CHECK (attempts >= 0)
);

-- The dispatcher's scan, across tenants.
CREATE INDEX IF NOT EXISTS deliveries_due_idx
    ON webhooks.deliveries (next_attempt_at) WHERE status = 'pending';
-- GET /outgoing-webhooks/{id}/deliveries: newest first.
CREATE INDEX IF NOT EXISTS deliveries_webhook_created_idx
    ON webhooks.deliveries (webhook_id, created_at DESC);
CREATE INDEX IF NOT EXISTS deliveries_created_idx ON webhooks.deliveries (created_at);

-- ---------------------------------------------------------------------------
-- delivery_attempts: one row per HTTP attempt, for troubleshooting.
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS webhooks.delivery_attempts (
    id              BIGSERIAL PRIMARY KEY,
    organization_id TEXT        NOT NULL,
    delivery_id     TEXT        NOT NULL REFERENCES webhooks.deliveries (id) ON DELETE CASCADE,
    attempt         INT         NOT NULL,
    status_code     INT,
    error           TEXT,
    response_body   TEXT,
    duration_ms     INT         NOT NULL,
    manual          BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS delivery_attempts_delivery_idx
    ON webhooks.delivery_attempts (delivery_id, attempt);

-- ---------------------------------------------------------------------------
-- inbound_deliveries: accepted incoming webhooks (GET /webhooks/deliveries).
-- Neither the payload nor any signature is kept.
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS webhooks.inbound_deliveries (
    id                TEXT PRIMARY KEY DEFAULT gen_random_uuid()::text,
    organization_id   TEXT        NOT NULL,
    provider          TEXT        NOT NULL,
    event_type        TEXT        NOT NULL,
    -- The provider's id of the event (GitHub delivery, Stripe event), if any.
    provider_event_id TEXT,
    matched_queue     TEXT,
    job_id            TEXT,
    status            TEXT        NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT inbound_provider_valid CHECK (provider IN ('custom', 'github', 'stripe')),
    CONSTRAINT inbound_status_valid CHECK (status IN ('created', 'duplicate'))
);

CREATE INDEX IF NOT EXISTS inbound_org_created_idx
    ON webhooks.inbound_deliveries (organization_id, created_at DESC);

-- ---------------------------------------------------------------------------
-- outbox: this service's own events (webhook.disabled), written in the
-- transaction that disables the endpoint and published to the same stream
-- (subject spooled.events.<org>._.webhook.disabled) after commit.
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS webhooks.outbox (
    id              BIGSERIAL PRIMARY KEY,
    organization_id TEXT        NOT NULL,
    event_type      TEXT        NOT NULL,
    payload         JSONB       NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at    TIMESTAMPTZ
);

CREATE INDEX IF NOT EXISTS outbox_unpublished_idx
    ON webhooks.outbox (id) WHERE published_at IS NULL;

-- ---------------------------------------------------------------------------
-- Row-level security, really active: FORCE applies it to the table owner too
-- (the app role owns these tables and is neither superuser nor BYPASSRLS).
-- Tenant rows are visible only after tenant_tx() set app.current_org_id; the
-- event consumer and the dispatcher work across tenants with
-- app.maintenance = 'on' and still name the organization in every write.
-- Guarded by tests/integration/test_webhooks_schema.py.
-- ---------------------------------------------------------------------------
DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['endpoints', 'deliveries', 'delivery_attempts',
                             'inbound_deliveries', 'outbox']
    LOOP
        EXECUTE format('ALTER TABLE webhooks.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE webhooks.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON webhooks.%I', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON webhooks.%I '
            'USING (organization_id = current_setting(''app.current_org_id'', true) '
            '       OR current_setting(''app.maintenance'', true) = ''on'') '
            'WITH CHECK (organization_id = current_setting(''app.current_org_id'', true) '
            '       OR current_setting(''app.maintenance'', true) = ''on'')', t);
    END LOOP;
END
$$;
