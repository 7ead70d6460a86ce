-- 0001_scheduler: schedules, their run history and the leader lease (schema "scheduler").
--
-- Every statement is idempotent (IF NOT EXISTS / DROP ... IF EXISTS) so a
-- half-applied migration can be re-run by hand; the runner records versions
-- and never applies one twice anyway.
SET LOCAL lock_timeout = '5s';

CREATE SCHEMA IF NOT EXISTS scheduler;

-- ---------------------------------------------------------------------------
-- schedules: one row per cron schedule (API.md §8 plus our firing policies).
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS scheduler.schedules (
    id                TEXT PRIMARY KEY DEFAULT gen_random_uuid()::text,
    organization_id   TEXT        NOT NULL,
    name              TEXT        NOT NULL,
    description       TEXT,
    cron_expression   TEXT        NOT NULL,
    timezone          TEXT        NOT NULL DEFAULT 'UTC',
    queue_name        TEXT        NOT NULL,
    payload_template  JSONB       NOT NULL DEFAULT '{}'::jsonb,
    priority          INT         NOT NULL DEFAULT 0,
    max_retries       INT         NOT NULL DEFAULT 3,
    timeout_seconds   INT         NOT NULL DEFAULT 300,
    is_active         BOOLEAN     NOT NULL DEFAULT TRUE,
    last_run_at       TIMESTAMPTZ,
    -- The next cron tick not yet fired. The firing loop owns it: each pass
    -- moves it past the ticks it fired, in the same transaction as their runs.
    next_run_at       TIMESTAMPTZ,
    run_count         BIGINT      NOT NULL DEFAULT 0,
    tags              JSONB,
    metadata          JSONB,
    missed_run_policy TEXT        NOT NULL DEFAULT 'skip',
    catch_up_limit    INT         NOT NULL DEFAULT 10,
    overlap_policy    TEXT        NOT NULL DEFAULT 'allow',
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT schedules_name_length CHECK (char_length(name) BETWEEN 1 AND 255),
    CONSTRAINT schedules_description_length CHECK (char_length(description) <= 1000),
    CONSTRAINT schedules_cron_length CHECK (char_length(cron_expression) BETWEEN 9 AND 100),
    CONSTRAINT schedules_queue_name_length CHECK (char_length(queue_name) BETWEEN 1 AND 100),
    CONSTRAINT schedules_priority_range CHECK (priority BETWEEN -100 AND 100),
    CONSTRAINT schedules_max_retries_range CHECK (max_retries BETWEEN 0 AND 100),
    CONSTRAINT schedules_timeout_seconds_range CHECK (timeout_seconds BETWEEN 1 AND 86400),
    CONSTRAINT schedules_missed_run_policy_valid CHECK (missed_run_policy IN ('skip', 'catch_up')),
    CONSTRAINT schedules_catch_up_limit_range CHECK (catch_up_limit BETWEEN 1 AND 1000),
    CONSTRAINT schedules_overlap_policy_valid CHECK (overlap_policy IN ('allow', 'skip')),
    CONSTRAINT schedules_run_count_non_negative CHECK (run_count >= 0)
);

-- Lists: newest first per org.
CREATE INDEX IF NOT EXISTS schedules_org_created_idx
    ON scheduler.schedules (organization_id, created_at DESC);
-- The firing loop's due scan, across tenants.
CREATE INDEX IF NOT EXISTS schedules_due_idx
    ON scheduler.schedules (next_run_at) WHERE is_active;

-- ---------------------------------------------------------------------------
-- schedule_runs: one row per fired (or deliberately skipped) tick.
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS scheduler.schedule_runs (
    id              TEXT PRIMARY KEY DEFAULT gen_random_uuid()::text,
    organization_id TEXT        NOT NULL,
    schedule_id     TEXT        NOT NULL REFERENCES scheduler.schedules (id) ON DELETE CASCADE,
    -- queue-core's job id; no foreign key: the job lives in another service.
    job_id          TEXT,
    status          TEXT        NOT NULL DEFAULT 'pending',
    error_message   TEXT,
    -- cron: a tick of the expression; manual: POST .../trigger; missed: a
    -- summary of ticks dropped by missed_run_policy after downtime.
    kind            TEXT        NOT NULL DEFAULT 'cron',
    scheduled_for   TIMESTAMPTZ,
    started_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at    TIMESTAMPTZ,
    CONSTRAINT schedule_runs_status_valid CHECK (status IN
        ('pending', 'running', 'completed', 'failed', 'skipped')),
    CONSTRAINT schedule_runs_kind_valid CHECK (kind IN ('cron', 'manual', 'missed'))
);

-- A cron tick is recorded at most once, whichever replica fires it: the last
-- of the guards against double firing (leader lease, row lock, job
-- idempotency key, this). Guarded by tests/integration/test_replicas.py.
CREATE UNIQUE INDEX IF NOT EXISTS schedule_runs_tick_uq
    ON scheduler.schedule_runs (schedule_id, scheduled_for) WHERE kind = 'cron';
CREATE INDEX IF NOT EXISTS schedule_runs_history_idx
    ON scheduler.schedule_runs (schedule_id, started_at DESC);

-- ---------------------------------------------------------------------------
-- leader: one row per elected role. Only the replica holding an unexpired
-- lease fires schedules; it renews well before expiry.
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS scheduler.leader (
    name       TEXT PRIMARY KEY,
    holder     TEXT        NOT NULL,
    elected_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- ---------------------------------------------------------------------------
-- Row-level security, really active: FORCE applies it to the table owner too
-- (the app role owns these tables and is neither superuser nor BYPASSRLS).
-- Tenant rows are visible only after tenant_tx() set app.current_org_id; the
-- firing loop works across tenants with app.maintenance = 'on'. The leader
-- row belongs to no tenant: only maintenance transactions see it.
-- Guarded by tests/integration/test_schema.py (TestRowLevelSecurity).
-- ---------------------------------------------------------------------------
DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['schedules', 'schedule_runs']
    LOOP
        EXECUTE format('ALTER TABLE scheduler.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE scheduler.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON scheduler.%I', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON scheduler.%I '
            'USING (organization_id = current_setting(''app.current_org_id'', true) '
            '       OR current_setting(''app.maintenance'', true) = ''on'') '
            'WITH CHECK (organization_id = current_setting(''app.current_org_id'', true) '
            '       OR current_setting(''app.maintenance'', true) = ''on'')', t);
    END LOOP;
END
$$;

ALTER TABLE scheduler.leader ENABLE ROW LEVEL SECURITY;
ALTER TABLE scheduler.leader FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS maintenance_only ON scheduler.leader;
CREATE POLICY maintenance_only ON scheduler.leader
    USING (current_setting('app.maintenance', true) = 'on')
    WITH CHECK (current_setting('app.maintenance', true) = 'on');
