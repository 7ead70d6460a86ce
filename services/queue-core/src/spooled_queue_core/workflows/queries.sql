-- Named queries of workflows and job dependencies (schema core, migration 0002).
-- Same conventions as db/queries.sql: every query filters by organization_id
-- and runs in tenant_tx; `scope` is the caller's queue list or NULL; JSON
-- columns come back as text. Dependents of a job that reaches a terminal state
-- are settled by the trigger jobs_settle_dependents_v1, workflow status and
-- counts by the deferred trigger jobs_workflow_progress_v1 (see the migration).

-- ===========================================================================
-- Create
-- ===========================================================================

-- name: lock_org_workflows
-- Serializes plan-cap checks of one org (count, then insert) across replicas.
SELECT pg_advisory_xact_lock(hashtext('res_limit:' || $1::text || ':workflows'));

-- name: count_active_workflows
SELECT count(*) FROM core.workflows
WHERE organization_id = $1 AND status IN ('pending', 'running');

-- name: insert_workflow
INSERT INTO core.workflows (id, organization_id, name, description, metadata, status, total_jobs)
VALUES ($1, $2, $3, $4, $5::jsonb, 'pending', $6)
RETURNING id, status;

-- name: insert_workflow_jobs
-- $1 org, $2 workflow id; $3..$12 parallel arrays, one element per job (input
-- order = workflow_step); $13/$14 service defaults when neither the job nor
-- queue_config sets a value; $15 wake-up channel. A job without dependencies
-- is claimable at once; the others wait (dependencies_met = FALSE).
WITH input AS (
    SELECT *
    FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::int[],
                $9::int[], $10::timestamptz[], $11::text[], $12::bool[])
         WITH ORDINALITY AS t(id, workflow_key, queue_name, payload, priority, max_retries,
                              timeout_seconds, expires_at, dependency_mode, has_deps, ord)
), ins AS (
    INSERT INTO core.jobs AS j (
        id, organization_id, queue_name, status, payload, priority, max_retries,
        timeout_seconds, created_at, expires_at, workflow_id, workflow_step, workflow_key,
        dependency_mode, dependencies_met)
    SELECT i.id, $1, i.queue_name, 'pending', i.payload::jsonb, i.priority,
           COALESCE(i.max_retries, qc.max_retries, $13::int),
           COALESCE(i.timeout_seconds, qc.default_timeout, $14::int),
           -- One microsecond apart: FIFO among equal priorities follows the input.
           statement_timestamp() + i.ord * interval '1 microsecond', i.expires_at,
           $2, (i.ord - 1)::int, i.workflow_key, i.dependency_mode, NOT i.has_deps
    FROM input i
    LEFT JOIN core.queue_config qc ON qc.organization_id = $1 AND qc.queue_name = i.queue_name
    ORDER BY i.ord
    RETURNING j.id, j.queue_name, j.status, j.priority, j.dependencies_met
), history AS (
    INSERT INTO core.job_history (job_id, organization_id, event_type, details)
    SELECT id, $1, 'created',
           jsonb_build_object('queue_name', queue_name, 'status', status, 'workflow_id', $2,
                              'organization_id', $1)
    FROM ins
), events AS (
    INSERT INTO core.outbox (organization_id, aggregate, queue_name, event_type, payload)
    SELECT $1, id, queue_name, 'job.created',
           jsonb_build_object('job_id', id, 'queue_name', queue_name, 'status', status,
                              'priority', priority, 'workflow_id', $2)
    FROM ins
), wake AS (
    SELECT count(pg_notify($15, $1 || E'\t' || q.queue_name)) AS n
    FROM (SELECT DISTINCT queue_name FROM ins WHERE dependencies_met) q
)
SELECT count(*) AS inserted FROM ins, wake;

-- name: insert_edges
-- $1 org, $2 child job ids, $3 parent job ids, $4 dependency types (parallel).
INSERT INTO core.job_dependencies (organization_id, job_id, depends_on_job_id, dependency_type)
SELECT $1, e.child, e.parent, e.mode
FROM unnest($2::text[], $3::text[], $4::text[]) AS e(child, parent, mode)
ON CONFLICT (job_id, depends_on_job_id) DO NOTHING
RETURNING job_id;

-- ===========================================================================
-- Reads
-- ===========================================================================

-- name: list_workflows
-- $2 status (NULL = any), $3 scope (a scoped key sees only workflows whose
-- jobs all sit in its queues), $4 limit, $5 offset. Newest first.
SELECT w.id, w.organization_id, w.name, w.description, w.status, w.total_jobs,
       w.completed_jobs, w.failed_jobs, w.cancelled_jobs, w.metadata::text AS metadata,
       w.created_at, w.started_at, w.completed_at
FROM core.workflows w
WHERE w.organization_id = $1
  AND ($2::text IS NULL OR w.status = $2)
  AND ($3::text[] IS NULL OR NOT EXISTS (
      SELECT 1 FROM core.jobs j
      WHERE j.workflow_id = w.id AND j.organization_id = $1
        AND NOT (j.queue_name = ANY($3::text[]))))
ORDER BY w.created_at DESC, w.id DESC
LIMIT $4 OFFSET $5;

-- name: get_workflow
SELECT w.id, w.organization_id, w.name, w.description, w.status, w.total_jobs,
       w.completed_jobs, w.failed_jobs, w.cancelled_jobs, w.metadata::text AS metadata,
       w.created_at, w.started_at, w.completed_at
FROM core.workflows w
WHERE w.id = $1 AND w.organization_id = $2
  AND ($3::text[] IS NULL OR NOT EXISTS (
      SELECT 1 FROM core.jobs j
      WHERE j.workflow_id = w.id AND j.organization_id = $2
        AND NOT (j.queue_name = ANY($3::text[]))));

-- name: workflow_jobs
-- In workflow order (the input order of the create request).
SELECT id, organization_id, queue_name, status, payload::text AS payload, result::text AS result,
       retry_count, max_retries, last_error, priority, timeout_seconds, created_at, scheduled_at,
       started_at, completed_at, expires_at, lease_expires_at, updated_at, assigned_worker_id,
       lease_id, idempotency_key, tags::text AS tags, parent_job_id, completion_webhook,
       workflow_id, dependency_mode, dependencies_met, workflow_key
FROM core.jobs
WHERE workflow_id = $1 AND organization_id = $2
ORDER BY workflow_step, created_at, id;

-- name: workflow_edges
SELECT d.depends_on_job_id AS parent_job_id, d.job_id AS child_job_id, d.dependency_type
FROM core.job_dependencies d
JOIN core.jobs c ON c.id = d.job_id AND c.organization_id = d.organization_id
WHERE c.workflow_id = $1 AND d.organization_id = $2
ORDER BY c.workflow_step, d.id;

-- ===========================================================================
-- Cancel and retry. Lock order: the workflow's job rows (id order) first, the
-- workflow row last, as the deferred progress trigger does at commit.
-- ===========================================================================

-- name: lock_workflow_jobs
-- $3 the statuses to lock.
SELECT id FROM core.jobs
WHERE workflow_id = $1 AND organization_id = $2 AND status = ANY($3::text[])
ORDER BY id
FOR UPDATE;

-- name: lock_workflow
SELECT id, status FROM core.workflows
WHERE id = $1 AND organization_id = $2
FOR NO KEY UPDATE;

-- name: mark_workflow_cancelled
UPDATE core.workflows
SET status = 'cancelled', completed_at = now(), updated_at = now()
WHERE id = $1 AND organization_id = $2;

-- name: cancel_workflow_jobs
-- Jobs not started yet are cancelled; running ones finish (their results are
-- kept, nothing new starts after them).
WITH upd AS (
    UPDATE core.jobs j
    SET status = 'cancelled', last_error = 'Workflow was cancelled', completed_at = now(),
        updated_at = now()
    WHERE j.workflow_id = $1 AND j.organization_id = $2 AND j.status IN ('pending', 'scheduled')
    RETURNING j.id, j.queue_name, j.status
), history AS (
    INSERT INTO core.job_history (job_id, organization_id, event_type, details)
    SELECT id, $2, 'cancelled',
           jsonb_build_object('reason', 'Workflow was cancelled', 'workflow_id', $1,
                              'organization_id', $2)
    FROM upd
), events AS (
    INSERT INTO core.outbox (organization_id, aggregate, queue_name, event_type, payload)
    SELECT $2, id, queue_name, 'job.cancelled',
           jsonb_build_object('job_id', id, 'queue_name', queue_name, 'status', status,
                              'reason', 'Workflow was cancelled', 'workflow_id', $1)
    FROM upd
)
SELECT count(*) AS cancelled FROM upd;

-- name: reset_workflow_jobs
-- Failed, dead-lettered and cancelled jobs start over: pending, retry_count 0,
-- errors and timestamps cleared, dead-letter records gone. They wait until
-- apply_dependency_state_v1 judges their dependencies (next statement).
WITH upd AS (
    UPDATE core.jobs j
    SET status = 'pending', retry_count = 0, last_error = NULL, result = NULL,
        scheduled_at = NULL, started_at = NULL, completed_at = NULL, lease_id = NULL,
        lease_expires_at = NULL, assigned_worker_id = NULL, dependencies_met = FALSE,
        updated_at = now()
    WHERE j.workflow_id = $1 AND j.organization_id = $2
      AND j.status IN ('failed', 'deadletter', 'cancelled')
    RETURNING j.id, j.workflow_step
), dlq AS (
    DELETE FROM core.dead_letter_queue d USING upd
    WHERE d.job_id = upd.id AND d.organization_id = $2
), history AS (
    INSERT INTO core.job_history (job_id, organization_id, event_type, details)
    SELECT id, $2, 'retried',
           jsonb_build_object('source', 'workflow', 'workflow_id', $1, 'organization_id', $2)
    FROM upd
)
SELECT id FROM upd ORDER BY workflow_step;

-- name: apply_dependency_states
-- Judge each job's dependencies (met -> claimable + wake-up, blocked, or
-- impossible -> cancelled). The caller holds the jobs' row locks.
SELECT j.id, core.apply_dependency_state_v1(j.id, $1, NULL, NULL) AS state
FROM unnest($2::text[]) WITH ORDINALITY AS t(id, ord)
JOIN core.jobs j ON j.id = t.id AND j.organization_id = $1
ORDER BY t.ord;

-- name: refresh_workflow
SELECT core.refresh_workflow_v1($1, $2) AS status;

-- ===========================================================================
-- Job dependencies (GET/POST /jobs/{id}/dependencies)
-- ===========================================================================

-- name: dependency_job
-- The job whose dependencies are read; $3 scope. FOR UPDATE variant below.
SELECT id, queue_name, status, dependency_mode, dependencies_met
FROM core.jobs
WHERE id = $1 AND organization_id = $2
  AND ($3::text[] IS NULL OR queue_name = ANY($3::text[]));

-- name: lock_dependency_job
SELECT id, queue_name, status, dependency_mode, dependencies_met
FROM core.jobs
WHERE id = $1 AND organization_id = $2
  AND ($3::text[] IS NULL OR queue_name = ANY($3::text[]))
FOR UPDATE;

-- name: job_parents
-- What the job waits for; $3 scope hides jobs of other queues.
SELECT p.id AS job_id, p.queue_name, p.status
FROM core.job_dependencies d
JOIN core.jobs p ON p.id = d.depends_on_job_id AND p.organization_id = d.organization_id
WHERE d.job_id = $1 AND d.organization_id = $2
  AND ($3::text[] IS NULL OR p.queue_name = ANY($3::text[]))
ORDER BY d.id;

-- name: job_children
-- What waits for the job.
SELECT c.id AS job_id, c.queue_name, c.status
FROM core.job_dependencies d
JOIN core.jobs c ON c.id = d.job_id AND c.organization_id = d.organization_id
WHERE d.depends_on_job_id = $1 AND d.organization_id = $2
  AND ($3::text[] IS NULL OR c.queue_name = ANY($3::text[]))
ORDER BY d.id;

-- name: share_lock_jobs
-- Would-be dependencies, locked against settling until we commit: a parent
-- completing concurrently either committed before (we see it completed) or
-- waits for us (its trigger then sees our new edge). $3 scope.
SELECT id, status FROM core.jobs
WHERE organization_id = $1 AND id = ANY($2::text[])
  AND ($3::text[] IS NULL OR queue_name = ANY($3::text[]))
ORDER BY id
FOR SHARE;

-- name: waiting_on
-- Every job that (transitively) waits for $1: adding an edge from $1 to any
-- of them would close a cycle.
WITH RECURSIVE below(id) AS (
    SELECT d.job_id FROM core.job_dependencies d
    WHERE d.depends_on_job_id = $1 AND d.organization_id = $2
    UNION
    SELECT d.job_id FROM core.job_dependencies d
    JOIN below b ON d.depends_on_job_id = b.id
    WHERE d.organization_id = $2
)
SELECT id FROM below;

-- name: set_dependency_mode
UPDATE core.jobs SET dependency_mode = $3, updated_at = now()
WHERE id = $1 AND organization_id = $2 AND dependency_mode <> $3;
