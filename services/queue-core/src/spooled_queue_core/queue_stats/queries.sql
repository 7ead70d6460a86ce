-- The one statement behind queue-core's database gauges (spooled_jobs_pending,
-- ...). It reads every organization's rows on purpose, so it runs under
-- maintenance_tx, read-only, with a statement timeout.

-- name: queue_stats
-- Backlog per queue name (summed over organizations) and the worker fleet.
-- $1: a healthy worker was heard from within this many seconds.
-- Each branch of `backlog` has exactly the predicate of one partial index
-- (jobs_claim_idx, jobs_lease_expires_idx, jobs_deadletter_idx), so the cost
-- follows the live backlog and the DLQ, never the completed history.
-- One row per queue with live jobs; with none, one row whose queue_name is
-- NULL (the fleet counts always come back).
WITH backlog AS (
    SELECT queue_name,
           count(*) FILTER (WHERE status = 'pending') AS pending,
           0::bigint AS processing,
           0::bigint AS deadletter,
           -- Oldest job that could run now: waiting since it was enqueued or,
           -- when scheduled or retrying, since it came due. Jobs blocked on a
           -- dependency are not waiting for a worker.
           min(GREATEST(created_at, scheduled_at))
               FILTER (WHERE (scheduled_at IS NULL OR scheduled_at <= now())
                       AND dependencies_met) AS oldest_ready
    FROM core.jobs
    WHERE status IN ('pending', 'scheduled')
    GROUP BY queue_name
    UNION ALL
    SELECT queue_name, 0, count(*), 0, NULL
    FROM core.jobs
    WHERE status = 'processing'
    GROUP BY queue_name
    UNION ALL
    SELECT queue_name, 0, 0, count(*), NULL
    FROM core.jobs
    WHERE status = 'deadletter'
    GROUP BY queue_name
), per_queue AS (
    SELECT queue_name,
           sum(pending)::bigint AS pending,
           sum(processing)::bigint AS processing,
           sum(deadletter)::bigint AS deadletter,
           COALESCE(GREATEST(0, extract(epoch FROM now() - min(oldest_ready))), 0)::float8
               AS max_age_secs
    FROM backlog
    GROUP BY queue_name
), fleet AS (
    -- Not offline; the predicate of workers_live_heartbeat_idx.
    SELECT count(*) AS workers_active,
           count(*) FILTER (WHERE status = 'healthy'
                            AND last_heartbeat > now() - make_interval(secs => $1))
               AS workers_healthy
    FROM core.workers
    WHERE status IN ('healthy', 'degraded', 'draining')
)
SELECT fleet.workers_active, fleet.workers_healthy, per_queue.queue_name, per_queue.pending,
       per_queue.processing, per_queue.deadletter, per_queue.max_age_secs
FROM fleet
LEFT JOIN per_queue ON TRUE;
