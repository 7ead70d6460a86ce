-- Plan-limit checks of queue-core (loaded by spooled_queue_core.quota).
-- Each runs inside the caller's tenant_tx, after the per-org advisory lock
-- of its resource (`res_limit:<org>:<resource>`), so two transactions of one
-- organization cannot both pass a check and then both insert.

-- name: lock_resource
-- Held to the end of the transaction; other organizations use other keys.
SELECT pg_advisory_xact_lock(hashtext('res_limit:' || $1::text || ':' || $2::text));

-- name: count_active_jobs
-- pending + scheduled + processing, counted only up to $2 (limit + adding):
-- past that the answer is "over" whatever the exact number. Walks the partial
-- index jobs_active_org_idx (migration 0003).
SELECT count(*) FROM (
    SELECT 1 FROM core.jobs
    WHERE organization_id = $1 AND status IN ('pending', 'scheduled', 'processing')
    LIMIT $2
) active;

-- name: known_queues
-- Which of $2 already exist for the org (as jobs or configuration).
SELECT q.name
FROM unnest($2::text[]) AS q(name)
WHERE EXISTS (SELECT 1 FROM core.jobs j WHERE j.organization_id = $1 AND j.queue_name = q.name)
   OR EXISTS (SELECT 1 FROM core.queue_config c
              WHERE c.organization_id = $1 AND c.queue_name = q.name);

-- name: count_queues
-- Distinct queue names (jobs or configuration), the way the usage endpoint
-- counts them, stopping after $2. A loose index scan over
-- jobs_org_queue_status_idx: one probe per distinct name, not per job.
WITH RECURSIVE names AS (
    (SELECT queue_name, 1 AS n FROM core.jobs
     WHERE organization_id = $1 ORDER BY queue_name LIMIT 1)
    UNION ALL
    SELECT (SELECT j.queue_name FROM core.jobs j
            WHERE j.organization_id = $1 AND j.queue_name > names.queue_name
            ORDER BY j.queue_name LIMIT 1), names.n + 1
    FROM names
    WHERE names.queue_name IS NOT NULL AND names.n < $2
)
SELECT count(*) FROM (
    SELECT queue_name FROM names WHERE queue_name IS NOT NULL
    UNION
    SELECT queue_name FROM core.queue_config WHERE organization_id = $1
) q;

-- name: count_live_workers
-- healthy + degraded workers other than $2 (a re-registration is not a new worker).
SELECT count(*) FROM core.workers
WHERE organization_id = $1 AND status IN ('healthy', 'degraded') AND id <> $2;

-- name: worker_is_live
SELECT EXISTS (SELECT 1 FROM core.workers
               WHERE organization_id = $1 AND id = $2 AND status IN ('healthy', 'degraded'));

-- name: count_dead_letters
-- How many jobs a DLQ retry with these filters would pick (the reservation size).
SELECT count(*) FROM (
    SELECT 1 FROM core.jobs
    WHERE organization_id = $1 AND status = 'deadletter'
      AND (cardinality($2::text[]) = 0 OR id = ANY($2::text[]))
      AND ($3::text IS NULL OR queue_name = $3)
      AND ($5::text[] IS NULL OR queue_name = ANY($5::text[]))
    LIMIT $4
) d;
