-- 0001_core: the job store of queue-core (schema "core").
--
-- Every statement is idempotent (IF NOT EXISTS / DROP ... IF EXISTS) so a
-- half-applied migration can be re-run by hand; the runner records versions
-- and never applies one twice anyway.
SET LOCAL lock_timeout = '5s';

CREATE SCHEMA IF NOT EXISTS core;

-- ---------------------------------------------------------------------------
-- jobs: one row per job, all states (API.md §3.1).
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS core.jobs (
    id                        TEXT PRIMARY KEY DEFAULT gen_random_uuid()::text,
    organization_id           TEXT        NOT NULL,
    queue_name                TEXT        NOT NULL,
    status                    TEXT        NOT NULL DEFAULT 'pending',
    payload                   JSONB       NOT NULL,
    result                    JSONB,
    retry_count               INT         NOT NULL DEFAULT 0,
    max_retries               INT         NOT NULL DEFAULT 3,
    last_error                TEXT,
    created_at                TIMESTAMPTZ NOT NULL DEFAULT now(),
    scheduled_at              TIMESTAMPTZ,
    started_at                TIMESTAMPTZ,
    completed_at              TIMESTAMPTZ,
    expires_at                TIMESTAMPTZ,
    priority                  INT         NOT NULL DEFAULT 0,
    tags                      JSONB,
    timeout_seconds           INT         NOT NULL DEFAULT 300,
    parent_job_id             TEXT REFERENCES core.jobs (id) ON DELETE CASCADE,
    completion_webhook        TEXT,
    -- Never serialised to clients; only the webhook sender reads it.
    completion_webhook_secret TEXT,
    assigned_worker_id        TEXT,
    lease_id                  TEXT,
    lease_expires_at          TIMESTAMPTZ,
    idempotency_key           TEXT,
    updated_at                TIMESTAMPTZ NOT NULL DEFAULT now(),
    workflow_id               TEXT,
    workflow_step             INT         NOT NULL DEFAULT 0,
    dependency_mode           TEXT        NOT NULL DEFAULT 'all',
    dependencies_met          BOOLEAN     NOT NULL DEFAULT TRUE,
    CONSTRAINT jobs_status_valid CHECK (status IN
        ('pending', 'scheduled', 'processing', 'completed', 'failed', 'deadletter', 'cancelled')),
    CONSTRAINT jobs_priority_range CHECK (priority BETWEEN -100 AND 100),
    CONSTRAINT jobs_max_retries_range CHECK (max_retries BETWEEN 0 AND 100),
    CONSTRAINT jobs_timeout_seconds_range CHECK (timeout_seconds BETWEEN 1 AND 86400),
    CONSTRAINT jobs_retry_count_non_negative CHECK (retry_count >= 0),
    CONSTRAINT jobs_queue_name_length CHECK (char_length(queue_name) BETWEEN 1 AND 255),
    CONSTRAINT jobs_idempotency_key_length CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    CONSTRAINT jobs_dependency_mode_valid CHECK (dependency_mode IN ('all', 'any')),
    -- A processing job always carries its fence; settlement relies on it.
    CONSTRAINT jobs_processing_has_lease CHECK (
        status <> 'processing' OR (lease_id IS NOT NULL AND lease_expires_at IS NOT NULL))
);

-- Idempotency is per organization, across queues and statuses (API.md §3.6).
-- The ON CONFLICT clause of insert_jobs names exactly this predicate.
CREATE UNIQUE INDEX IF NOT EXISTS jobs_org_idempotency_key_uq
    ON core.jobs (organization_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- The claim query walks this index in order: (org, queue) equality, then
-- priority DESC, created_at ASC, restricted to claimable states.
CREATE INDEX IF NOT EXISTS jobs_claim_idx
    ON core.jobs (organization_id, queue_name, priority DESC, created_at)
    WHERE status IN ('pending', 'scheduled');

-- The reaper scans expired leases across tenants; deregister finds a worker's jobs.
CREATE INDEX IF NOT EXISTS jobs_lease_expires_idx
    ON core.jobs (lease_expires_at) WHERE status = 'processing';
CREATE INDEX IF NOT EXISTS jobs_assigned_worker_idx
    ON core.jobs (assigned_worker_id) WHERE status = 'processing';

-- The due-job scan wakes long-polling claimers when delayed jobs come due.
CREATE INDEX IF NOT EXISTS jobs_due_idx
    ON core.jobs (scheduled_at)
    WHERE status IN ('pending', 'scheduled') AND scheduled_at IS NOT NULL;

CREATE INDEX IF NOT EXISTS jobs_org_created_idx ON core.jobs (organization_id, created_at DESC);
CREATE INDEX IF NOT EXISTS jobs_org_queue_status_idx
    ON core.jobs (organization_id, queue_name, status);
CREATE INDEX IF NOT EXISTS jobs_deadletter_idx
    ON core.jobs (organization_id, created_at) WHERE status = 'deadletter';
CREATE INDEX IF NOT EXISTS jobs_parent_idx
    ON core.jobs (parent_job_id) WHERE parent_job_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_blocked_idx
    ON core.jobs (parent_job_id) WHERE NOT dependencies_met;
CREATE INDEX IF NOT EXISTS jobs_workflow_idx
    ON core.jobs (workflow_id) WHERE workflow_id IS NOT NULL;

-- ---------------------------------------------------------------------------
-- queue_config: a row exists only once a queue is configured or paused.
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS core.queue_config (
    id              TEXT PRIMARY KEY DEFAULT gen_random_uuid()::text,
    organization_id TEXT        NOT NULL,
    queue_name      TEXT        NOT NULL,
    max_retries     INT         NOT NULL DEFAULT 3,
    default_timeout INT         NOT NULL DEFAULT 300,
    rate_limit      INT,
    enabled         BOOLEAN     NOT NULL DEFAULT TRUE,
    settings        JSONB       NOT NULL DEFAULT '{}'::jsonb,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT queue_config_org_queue_uq UNIQUE (organization_id, queue_name),
    CONSTRAINT queue_config_max_retries_range CHECK (max_retries BETWEEN 0 AND 100),
    CONSTRAINT queue_config_default_timeout_range CHECK (default_timeout BETWEEN 1 AND 86400),
    CONSTRAINT queue_config_rate_limit_range CHECK (rate_limit BETWEEN 1 AND 100000),
    CONSTRAINT queue_config_settings_object CHECK (jsonb_typeof(settings) = 'object')
);

-- ---------------------------------------------------------------------------
-- workers: registered worker processes. The id is global (a stable worker id
-- chosen by the client), so one organization cannot take over another's id.
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS core.workers (
    id              TEXT PRIMARY KEY DEFAULT gen_random_uuid()::text,
    organization_id TEXT        NOT NULL,
    queue_name      TEXT        NOT NULL,
    queue_names     TEXT[]      NOT NULL DEFAULT '{}',
    hostname        TEXT        NOT NULL,
    worker_type     TEXT,
    max_concurrency INT         NOT NULL DEFAULT 5,
    current_jobs    INT         NOT NULL DEFAULT 0,
    status          TEXT        NOT NULL DEFAULT 'healthy',
    last_heartbeat  TIMESTAMPTZ NOT NULL DEFAULT now(),
    metadata        JSONB       NOT NULL DEFAULT '{}'::jsonb,
    version         TEXT,
    jobs_processed  BIGINT      NOT NULL DEFAULT 0,
    jobs_failed     BIGINT      NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT workers_status_valid CHECK (status IN ('healthy', 'degraded', 'offline', 'draining')),
    CONSTRAINT workers_max_concurrency_range CHECK (max_concurrency BETWEEN 1 AND 1000),
    CONSTRAINT workers_current_jobs_range CHECK (current_jobs BETWEEN 0 AND 100000),
    CONSTRAINT workers_id_length CHECK (char_length(id) BETWEEN 1 AND 128)
);

CREATE INDEX IF NOT EXISTS workers_org_heartbeat_idx
    ON core.workers (organization_id, last_heartbeat DESC);
-- The stale-worker sweep looks only at live workers.
CREATE INDEX IF NOT EXISTS workers_live_heartbeat_idx
    ON core.workers (last_heartbeat) WHERE status IN ('healthy', 'degraded', 'draining');

-- ---------------------------------------------------------------------------
-- job_history: append-only audit trail per job.
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS core.job_history (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id          TEXT        NOT NULL REFERENCES core.jobs (id) ON DELETE CASCADE,
    organization_id TEXT        NOT NULL,
    event_type      TEXT        NOT NULL,
    worker_id       TEXT,
    details         JSONB       NOT NULL DEFAULT '{}'::jsonb,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT job_history_event_type_valid CHECK (event_type IN
        ('created', 'processing', 'completed', 'retry_scheduled', 'deadlettered',
         'cancelled', 'retried', 'lease_expired', 'released'))
);

CREATE INDEX IF NOT EXISTS job_history_job_idx ON core.job_history (job_id, created_at DESC);
CREATE INDEX IF NOT EXISTS job_history_created_idx ON core.job_history (created_at);

-- ---------------------------------------------------------------------------
-- dead_letter_queue: why a job was dead-lettered (the job row keeps its state).
-- No FK to jobs: the record outlives a purge only until the orphan sweep.
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS core.dead_letter_queue (
    id               TEXT PRIMARY KEY DEFAULT gen_random_uuid()::text,
    job_id           TEXT        NOT NULL,
    organization_id  TEXT        NOT NULL,
    queue_name       TEXT        NOT NULL,
    reason           TEXT,
    original_payload JSONB,
    error_details    JSONB,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS dead_letter_queue_job_idx ON core.dead_letter_queue (job_id);
CREATE INDEX IF NOT EXISTS dead_letter_queue_org_queue_idx
    ON core.dead_letter_queue (organization_id, queue_name, created_at);

-- ---------------------------------------------------------------------------
-- outbox: events written in the same transaction as the state change; a relay
-- publishes them to NATS (subject spooled.events.<org>.<queue>.<event>) and
-- stamps published_at. A NATS outage delays events, never loses them.
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS core.outbox (
    id              BIGSERIAL PRIMARY KEY,
    organization_id TEXT        NOT NULL,
    -- What the event is about: a job id, queue name or worker id.
    aggregate       TEXT        NOT NULL,
    queue_name      TEXT,
    event_type      TEXT        NOT NULL,
    payload         JSONB       NOT NULL DEFAULT '{}'::jsonb,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at    TIMESTAMPTZ
);

CREATE INDEX IF NOT EXISTS outbox_unpublished_idx ON core.outbox (id) WHERE published_at IS NULL;

-- ---------------------------------------------------------------------------
-- Row-level security, really active: FORCE applies it to the table owner too
-- (our app role owns these tables and is neither superuser nor BYPASSRLS).
-- A transaction sees a tenant's rows only after tenant_tx() set
-- app.current_org_id; cross-tenant maintenance sets app.maintenance = 'on'.
-- Guarded by tests/integration/test_rls.py.
-- ---------------------------------------------------------------------------
DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['jobs', 'queue_config', 'workers', 'job_history',
                             'dead_letter_queue', 'outbox']
    LOOP
        EXECUTE format('ALTER TABLE core.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE core.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON core.%I', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON core.%I '
            'USING (organization_id = current_setting(''app.current_org_id'', true) '
            '       OR current_setting(''app.maintenance'', true) = ''on'') '
            'WITH CHECK (organization_id = current_setting(''app.current_org_id'', true) '
            '       OR current_setting(''app.maintenance'', true) = ''on'')', t);
    END LOOP;
END
$$;
