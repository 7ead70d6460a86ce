-- 0002_workflows: DAG workflows and job dependencies (API.md §9, §3.2, §4).
--
-- * core.workflows: one row per workflow; its status and counts are derived
--   from its jobs by core.refresh_workflow_v1 at commit of every transaction
--   that changes a workflow job's status (deferred trigger below).
-- * core.job_dependencies: one row per edge "job_id waits for depends_on_job_id"
--   (workflow edges, POST /jobs/{id}/dependencies, and parent_job_id).
-- * When a job reaches a terminal state, its waiting dependents are settled in
--   the same transaction (trigger jobs_settle_dependents_v1): unblocked (with a
--   wake-up NOTIFY) once their dependencies are met, or cancelled, recursively,
--   once they can never be met. The reaper's unblock sweep is only a safety net.
--
-- Idempotent like 0001 (IF NOT EXISTS / OR REPLACE / DROP ... IF EXISTS).
SET LOCAL lock_timeout = '5s';
-- The backfill below reads every tenant's jobs (FORCE ROW LEVEL SECURITY applies to us).
SELECT set_config('app.maintenance', 'on', true);

-- ---------------------------------------------------------------------------
-- workflows
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS core.workflows (
    id              TEXT PRIMARY KEY DEFAULT gen_random_uuid()::text,
    organization_id TEXT        NOT NULL,
    name            TEXT        NOT NULL,
    description     TEXT,
    status          TEXT        NOT NULL DEFAULT 'pending',
    total_jobs      INT         NOT NULL DEFAULT 0,
    completed_jobs  INT         NOT NULL DEFAULT 0,
    -- failed + deadletter (upstream's failed_jobs); cancelled ones apart.
    failed_jobs     INT         NOT NULL DEFAULT 0,
    cancelled_jobs  INT         NOT NULL DEFAULT 0,
    metadata        JSONB,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at      TIMESTAMPTZ,
    completed_at    TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT workflows_status_valid CHECK (status IN
        ('pending', 'running', 'completed', 'failed', 'cancelled')),
    CONSTRAINT workflows_name_length CHECK (char_length(name) BETWEEN 1 AND 255),
    CONSTRAINT workflows_description_length CHECK (char_length(description) <= 1000),
    CONSTRAINT workflows_counts_non_negative CHECK (
        total_jobs >= 0 AND completed_jobs >= 0 AND failed_jobs >= 0 AND cancelled_jobs >= 0)
);

CREATE INDEX IF NOT EXISTS workflows_org_created_idx
    ON core.workflows (organization_id, created_at DESC, id DESC);
-- The plan cap counts active workflows.
CREATE INDEX IF NOT EXISTS workflows_org_active_idx
    ON core.workflows (organization_id) WHERE status IN ('pending', 'running');

-- A workflow job's key (unique within its workflow; returned by the detail view).
ALTER TABLE core.jobs ADD COLUMN IF NOT EXISTS workflow_key TEXT;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'jobs_workflow_fk') THEN
        -- NOT VALID: no scan of existing rows (none reference a workflow yet).
        ALTER TABLE core.jobs ADD CONSTRAINT jobs_workflow_fk
            FOREIGN KEY (workflow_id) REFERENCES core.workflows (id) NOT VALID;
    END IF;
END
$$;

-- ---------------------------------------------------------------------------
-- job_dependencies: "job_id waits for depends_on_job_id". The mode (all/any)
-- that combines a job's edges is jobs.dependency_mode; dependency_type repeats
-- it per edge as upstream does.
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS core.job_dependencies (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id   TEXT        NOT NULL,
    job_id            TEXT        NOT NULL REFERENCES core.jobs (id) ON DELETE CASCADE,
    depends_on_job_id TEXT        NOT NULL REFERENCES core.jobs (id) ON DELETE CASCADE,
    dependency_type   TEXT        NOT NULL DEFAULT 'all',
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT job_dependencies_edge_uq UNIQUE (job_id, depends_on_job_id),
    CONSTRAINT job_dependencies_not_self CHECK (job_id <> depends_on_job_id),
    CONSTRAINT job_dependencies_type_valid CHECK (dependency_type IN ('all', 'any'))
);

-- A settling job finds its dependents through this index (the UNIQUE covers job_id).
CREATE INDEX IF NOT EXISTS job_dependencies_parent_idx
    ON core.job_dependencies (depends_on_job_id);

-- parent_job_id children created before this migration get their edge.
INSERT INTO core.job_dependencies (organization_id, job_id, depends_on_job_id)
SELECT c.organization_id, c.id, c.parent_job_id
FROM core.jobs c
WHERE c.parent_job_id IS NOT NULL AND c.parent_job_id <> c.id
ON CONFLICT (job_id, depends_on_job_id) DO NOTHING;

-- ---------------------------------------------------------------------------
-- Row-level security, as on every tenant table (see 0001).
-- ---------------------------------------------------------------------------
DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['workflows', 'job_dependencies']
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

-- ---------------------------------------------------------------------------
-- Functions. Versioned names: replicas of two releases may share a database.
-- ---------------------------------------------------------------------------

-- The LISTEN/NOTIFY channel of waiting claimers: wakeup.CHANNEL in Python.
-- Guarded by tests/unit/test_workflow_graph.py::test_wake_channel_matches.
CREATE OR REPLACE FUNCTION core.wake_channel_v1() RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$ SELECT 'spooled_core_jobs_v1'::text $$;

-- Whether a job's dependencies are 'met', still 'blocked', or 'impossible'
-- (can never be met: all -> one dependency ended failed/deadletter/cancelled;
-- any -> every one did). A job without edges is 'met'. STABLE: it reads with
-- the snapshot of the statement calling it.
CREATE OR REPLACE FUNCTION core.dependency_state_v1(p_job TEXT, p_org TEXT) RETURNS TEXT
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN s.n = 0 THEN 'met'
        WHEN s.mode = 'any' AND s.done > 0 THEN 'met'
        WHEN s.mode = 'any' AND s.dead = s.n THEN 'impossible'
        WHEN s.mode <> 'any' AND s.done = s.n THEN 'met'
        WHEN s.mode <> 'any' AND s.dead > 0 THEN 'impossible'
        ELSE 'blocked' END
    FROM (
        SELECT j.dependency_mode AS mode,
               count(p.id) AS n,
               count(p.id) FILTER (WHERE p.status = 'completed') AS done,
               count(p.id) FILTER (WHERE p.status IN ('failed', 'deadletter', 'cancelled')) AS dead
        FROM core.jobs j
        LEFT JOIN core.job_dependencies d
               ON d.job_id = j.id AND d.organization_id = j.organization_id
        LEFT JOIN core.jobs p
               ON p.id = d.depends_on_job_id AND p.organization_id = j.organization_id
        WHERE j.id = p_job AND j.organization_id = p_org
        GROUP BY j.dependency_mode
    ) s
$$;

-- Bring one waiting job in line with its dependencies; returns the state
-- (NULL when the job is not waiting). The caller holds the job's row lock:
-- every statement below runs with a fresh snapshot (VOLATILE, READ COMMITTED),
-- so it sees dependencies settled by transactions that committed meanwhile.
--   met        -> dependencies_met = TRUE and a wake-up for its queue;
--   blocked    -> dependencies_met = FALSE;
--   impossible -> cancelled with last_error, history and a job.cancelled event
--                 (its own dependents follow through the trigger below).
-- p_cause / p_cause_status name the dependency that just settled, if any.
CREATE OR REPLACE FUNCTION core.apply_dependency_state_v1(
    p_job TEXT, p_org TEXT, p_cause TEXT, p_cause_status TEXT) RETURNS TEXT
LANGUAGE plpgsql AS $$
DECLARE
    j RECORD;
    state TEXT;
    reason TEXT;
BEGIN
    SELECT status, queue_name, dependencies_met INTO j
    FROM core.jobs WHERE id = p_job AND organization_id = p_org;
    IF NOT FOUND OR j.status NOT IN ('pending', 'scheduled') THEN
        RETURN NULL;
    END IF;
    SELECT core.dependency_state_v1(p_job, p_org) INTO state;
    IF state = 'met' THEN
        IF NOT j.dependencies_met THEN
            UPDATE core.jobs SET dependencies_met = TRUE, updated_at = now()
            WHERE id = p_job AND organization_id = p_org;
            -- Delivered on commit, never before the job is claimable.
            PERFORM pg_notify(core.wake_channel_v1(), p_org || E'\t' || j.queue_name);
        END IF;
    ELSIF state = 'blocked' THEN
        IF j.dependencies_met THEN
            UPDATE core.jobs SET dependencies_met = FALSE, updated_at = now()
            WHERE id = p_job AND organization_id = p_org;
        END IF;
    ELSIF state = 'impossible' THEN
        reason := CASE WHEN p_cause_status = 'cancelled' THEN 'Parent job was cancelled'
                       ELSE 'Parent job failed or was deadlettered' END;
        UPDATE core.jobs
        SET status = 'cancelled', dependencies_met = FALSE, last_error = reason,
            completed_at = now(), updated_at = now()
        WHERE id = p_job AND organization_id = p_org;
        INSERT INTO core.job_history (job_id, organization_id, event_type, details)
        VALUES (p_job, p_org, 'cancelled',
                jsonb_build_object('reason', reason, 'dependency_job_id', p_cause,
                                   'dependency_status', p_cause_status,
                                   'organization_id', p_org));
        INSERT INTO core.outbox (organization_id, aggregate, queue_name, event_type, payload)
        VALUES (p_org, p_job, j.queue_name, 'job.cancelled',
                jsonb_build_object('job_id', p_job, 'queue_name', j.queue_name,
                                   'status', 'cancelled', 'reason', reason,
                                   'dependency_job_id', p_cause));
    END IF;
    RETURN state;
END
$$;

-- AFTER a job reaches a terminal state: settle its waiting dependents.
CREATE OR REPLACE FUNCTION core.settle_dependents_v1() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    child RECORD;
BEGIN
    -- Lock the waiting dependents first (in id order, so two parents settling
    -- at once queue up instead of deadlocking), judge each one afterwards: of
    -- two parents completing at the same moment, the second waits here for the
    -- first to commit, then sees both completed and unblocks the child, once.
    FOR child IN
        SELECT c.id
        FROM core.jobs c
        WHERE c.organization_id = NEW.organization_id
          AND c.id IN (SELECT d.job_id FROM core.job_dependencies d
                       WHERE d.depends_on_job_id = NEW.id
                         AND d.organization_id = NEW.organization_id)
          AND c.status IN ('pending', 'scheduled') AND NOT c.dependencies_met
        ORDER BY c.id
        FOR UPDATE OF c
    LOOP
        PERFORM core.apply_dependency_state_v1(child.id, NEW.organization_id, NEW.id, NEW.status);
    END LOOP;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS jobs_settle_dependents_v1 ON core.jobs;
CREATE TRIGGER jobs_settle_dependents_v1
    AFTER UPDATE OF status ON core.jobs
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          AND NEW.status IN ('completed', 'failed', 'deadletter', 'cancelled'))
    EXECUTE FUNCTION core.settle_dependents_v1();

-- Recount one workflow and derive its status (idempotent):
--   cancelled stays cancelled (counts still move);
--   nothing active -> failed if any job failed/deadlettered/was cancelled, else completed;
--   something active -> running once any job has started (or it ran before), else pending.
-- Lock the row first, count afterwards (fresh snapshot): whoever commits last
-- counts everything. Emits workflow.completed / workflow.failed on entering them.
CREATE OR REPLACE FUNCTION core.refresh_workflow_v1(p_workflow TEXT, p_org TEXT) RETURNS TEXT
LANGUAGE plpgsql AS $$
DECLARE
    wf RECORD;
    c RECORD;
    next_status TEXT;
BEGIN
    SELECT id, name, status, started_at INTO wf
    FROM core.workflows WHERE id = p_workflow AND organization_id = p_org
    -- NO KEY: workflow jobs' foreign keys hold KEY SHARE locks on this row.
    FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT count(*) AS total,
           count(*) FILTER (WHERE status = 'completed') AS completed,
           count(*) FILTER (WHERE status IN ('failed', 'deadletter')) AS failed,
           count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
           count(*) FILTER (WHERE status IN ('pending', 'scheduled', 'processing')) AS active,
           count(*) FILTER (WHERE status NOT IN ('pending', 'scheduled')) AS started
    INTO c
    FROM core.jobs WHERE workflow_id = p_workflow AND organization_id = p_org;
    next_status := CASE
        WHEN wf.status = 'cancelled' THEN 'cancelled'
        WHEN c.active = 0 AND c.failed + c.cancelled > 0 THEN 'failed'
        WHEN c.active = 0 THEN 'completed'
        WHEN c.started > 0 OR wf.started_at IS NOT NULL THEN 'running'
        ELSE 'pending' END;
    UPDATE core.workflows
    SET status = next_status, total_jobs = c.total, completed_jobs = c.completed,
        failed_jobs = c.failed, cancelled_jobs = c.cancelled,
        started_at = CASE WHEN next_status = 'pending' THEN started_at
                          ELSE COALESCE(started_at, now()) END,
        completed_at = CASE WHEN next_status = 'cancelled' THEN completed_at
                            WHEN c.active = 0 THEN COALESCE(completed_at, now())
                            ELSE NULL END,
        updated_at = now()
    WHERE id = p_workflow AND organization_id = p_org;
    IF next_status IS DISTINCT FROM wf.status AND next_status IN ('completed', 'failed') THEN
        INSERT INTO core.outbox (organization_id, aggregate, queue_name, event_type, payload)
        VALUES (p_org, p_workflow, NULL, 'workflow.' || next_status,
                jsonb_build_object('workflow_id', p_workflow, 'name', wf.name,
                                   'status', next_status, 'total_jobs', c.total,
                                   'completed_jobs', c.completed, 'failed_jobs', c.failed,
                                   'cancelled_jobs', c.cancelled));
    END IF;
    RETURN next_status;
END
$$;

-- Which workflows' jobs changed status in this transaction: a transaction-local
-- setting (",id1,id2,"), so the refresh at commit can lock them all in one
-- global order (by id). Row by row, two transactions touching the same two
-- workflows in opposite orders (two batch claims, two reapers) would deadlock.
CREATE OR REPLACE FUNCTION core.workflow_job_touched_v1() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    touched TEXT := COALESCE(NULLIF(current_setting('spooled.workflows_touched', true), ''), ',');
BEGIN
    IF position(',' || NEW.workflow_id || ',' IN touched) = 0 THEN
        PERFORM set_config('spooled.workflows_touched', touched || NEW.workflow_id || ',', true);
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS jobs_workflow_touched_v1 ON core.jobs;
CREATE TRIGGER jobs_workflow_touched_v1
    AFTER UPDATE OF status ON core.jobs
    FOR EACH ROW
    WHEN (NEW.workflow_id IS NOT NULL AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION core.workflow_job_touched_v1();

-- At commit: the first event refreshes every touched workflow (locked in id
-- order) and empties the list; the transaction's other events find it empty.
CREATE OR REPLACE FUNCTION core.workflow_job_changed_v1() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    touched TEXT := COALESCE(current_setting('spooled.workflows_touched', true), '');
    wf RECORD;
BEGIN
    IF touched IN ('', ',') THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('spooled.workflows_touched', '', true);
    FOR wf IN
        SELECT w.id, w.organization_id FROM core.workflows w
        WHERE w.id = ANY(string_to_array(trim(BOTH ',' FROM touched), ','))
        ORDER BY w.id
        FOR NO KEY UPDATE
    LOOP
        PERFORM core.refresh_workflow_v1(wf.id, wf.organization_id);
    END LOOP;
    RETURN NULL;
END
$$;

-- Deferred to commit: by then every job row the transaction touches is
-- locked, so workflow rows are always the last locks taken (no lock-order
-- deadlock with the dependents' locks above), and the count sees the final
-- state of the transaction.
DROP TRIGGER IF EXISTS jobs_workflow_progress_v1 ON core.jobs;
CREATE CONSTRAINT TRIGGER jobs_workflow_progress_v1
    AFTER UPDATE OF status ON core.jobs
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (NEW.workflow_id IS NOT NULL AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION core.workflow_job_changed_v1();
