-- Named queries of the job diagnosis ("why isn't this job running?").
-- Read-only; each runs in tenant_tx and filters by organization_id. The
-- predicates mirror claim_jobs in db/queries.sql: a job the claim would take
-- is "ready", and every predicate it fails is a blocker.

-- name: job_facts
-- The job and its queue's pause state. $1 job, $2 org, $3 scope.
-- paused_at/paused_reason are read as text: settings is operator-writable JSON.
SELECT j.id, j.queue_name, j.status, j.retry_count, j.max_retries, j.last_error, j.priority,
       j.timeout_seconds, j.created_at, j.scheduled_at, j.started_at, j.completed_at,
       j.expires_at, j.updated_at, j.assigned_worker_id, j.lease_expires_at, j.parent_job_id,
       j.workflow_id, j.dependency_mode, j.dependencies_met,
       COALESCE(NOT qc.enabled, FALSE) AS queue_paused,
       qc.settings ->> 'paused_at' AS paused_at,
       qc.settings ->> 'paused_reason' AS paused_reason,
       now() AS checked_at
FROM core.jobs j
LEFT JOIN core.queue_config qc ON qc.organization_id = $2 AND qc.queue_name = j.queue_name
WHERE j.id = $1 AND j.organization_id = $2
  AND ($3::text[] IS NULL OR j.queue_name = ANY($3::text[]));

-- name: last_event
-- The newest history event of one type (why it was cancelled, dead-lettered).
SELECT event_type, worker_id, details::text AS details, created_at
FROM core.job_history
WHERE organization_id = $1 AND job_id = $2 AND event_type = ANY($3::text[])
ORDER BY created_at DESC, id DESC
LIMIT 1;

-- name: dead_letter_record
SELECT reason, created_at
FROM core.dead_letter_queue
WHERE organization_id = $1 AND job_id = $2
ORDER BY created_at DESC
LIMIT 1;

-- name: worker_facts
-- The worker holding a lease. $1 org, $2 worker id.
SELECT id, hostname, status, last_heartbeat, current_jobs, max_concurrency
FROM core.workers
WHERE organization_id = $1 AND id = $2;

-- name: parent_dependency
-- The parent_job_id edge (a child waits for its parent to complete).
SELECT id, queue_name, status
FROM core.jobs
WHERE organization_id = $1 AND id = $2;

-- name: queue_workers
-- Who serves the queue. $1 org, $2 queue, $3 "seen" window in seconds.
-- A worker is live when healthy/degraded with a heartbeat inside the window.
-- The queue's latest claim counts as a sighting too: REST workers may claim
-- without registering. org_live_workers counts like the plan's worker cap.
WITH live AS (
    SELECT w.max_concurrency, w.current_jobs
    FROM core.workers w
    WHERE w.organization_id = $1 AND (w.queue_name = $2 OR $2 = ANY(w.queue_names))
      AND w.status IN ('healthy', 'degraded')
      AND w.last_heartbeat > now() - make_interval(secs => $3)
)
SELECT (SELECT count(*) FROM live) AS live_workers,
       (SELECT COALESCE(sum(max_concurrency), 0) FROM live) AS slots,
       (SELECT COALESCE(sum(current_jobs), 0) FROM live) AS busy_slots,
       (SELECT count(*) FROM core.workers w
        WHERE w.organization_id = $1 AND (w.queue_name = $2 OR $2 = ANY(w.queue_names))
          AND w.status = 'draining') AS draining_workers,
       -- Registered for the queue and counted against the plan's cap, heard from or not.
       (SELECT count(*) FROM core.workers w
        WHERE w.organization_id = $1 AND (w.queue_name = $2 OR $2 = ANY(w.queue_names))
          AND w.status IN ('healthy', 'degraded')) AS registered_workers,
       (SELECT max(w.last_heartbeat) FROM core.workers w
        WHERE w.organization_id = $1
          AND (w.queue_name = $2 OR $2 = ANY(w.queue_names))) AS last_heartbeat,
       (SELECT max(j.started_at) FROM core.jobs j
        WHERE j.organization_id = $1 AND j.queue_name = $2) AS last_claim,
       (SELECT count(*) FROM core.workers w
        WHERE w.organization_id = $1 AND w.status IN ('healthy', 'degraded')) AS org_live_workers;

-- name: position_in_line
-- Claimable jobs the claim query hands out before this one: same predicates
-- and order as claim_jobs (priority DESC, created_at ASC), on jobs_claim_idx.
-- $1 org, $2 queue, $3 priority, $4 created_at, $5 job id.
SELECT count(*) AS ahead
FROM core.jobs j
WHERE j.organization_id = $1 AND j.queue_name = $2
  AND j.status IN ('pending', 'scheduled')
  AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
  AND (j.expires_at IS NULL OR j.expires_at > now())
  AND j.dependencies_met
  AND (j.priority > $3 OR (j.priority = $3 AND j.created_at < $4))
  AND j.id <> $5;

-- name: dependency_edges
-- Edges of core.job_dependencies (migration 0002: workflows, POST
-- /jobs/{id}/dependencies, parent_job_id) naming this job as the dependent.
-- Run only when that table exists (repository.dependencies checks). $1 org, $2 job.
SELECT p.id, p.queue_name, p.status
FROM core.job_dependencies d
JOIN core.jobs p ON p.id = d.depends_on_job_id AND p.organization_id = d.organization_id
WHERE d.organization_id = $1 AND d.job_id = $2
ORDER BY p.created_at, p.id;
