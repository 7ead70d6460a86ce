-- Named queries of the dashboard summary. Read-only, per organization and
-- limited to the caller's queue scope ($2: text[] or NULL for every queue).

-- name: dashboard_jobs
-- Counts per status, the last 24 h and 1 h, and the average wait (ready →
-- claimed) and run time of jobs that started or finished in the last hour.
SELECT count(*) AS total,
       count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'scheduled') AS scheduled,
       count(*) FILTER (WHERE status = 'processing') AS processing,
       count(*) FILTER (WHERE status = 'deadletter') AS deadletter,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE status = 'completed'
                        AND completed_at > now() - interval '24 hours') AS completed_24h,
       count(*) FILTER (WHERE status IN ('failed', 'deadletter')
                        AND completed_at > now() - interval '24 hours') AS failed_24h,
       count(*) FILTER (WHERE created_at > now() - interval '1 hour') AS jobs_created_1h,
       count(*) FILTER (WHERE status = 'completed'
                        AND completed_at > now() - interval '1 hour') AS jobs_completed_1h,
       count(*) FILTER (WHERE status IN ('failed', 'deadletter')
                        AND completed_at > now() - interval '1 hour') AS jobs_failed_1h,
       COALESCE(avg(GREATEST(0, extract(epoch FROM started_at
                                 - GREATEST(created_at, COALESCE(scheduled_at, created_at))) * 1000))
                FILTER (WHERE started_at > now() - interval '1 hour'), 0)::float8
           AS avg_wait_time_ms,
       COALESCE(avg(extract(epoch FROM completed_at - started_at) * 1000)
                FILTER (WHERE status = 'completed' AND started_at IS NOT NULL
                        AND completed_at > now() - interval '1 hour'), 0)::float8
           AS avg_processing_time_ms
FROM core.jobs
WHERE organization_id = $1 AND ($2::text[] IS NULL OR queue_name = ANY($2::text[]));

-- name: dashboard_queues
-- Every queue (with jobs or a config row), busiest first; $3 limit.
WITH counts AS (
    SELECT queue_name,
           count(*) FILTER (WHERE status = 'pending') AS pending,
           count(*) FILTER (WHERE status = 'processing') AS processing,
           count(*) FILTER (WHERE status = 'scheduled') AS scheduled,
           count(*) FILTER (WHERE status = 'deadletter') AS deadletter,
           count(*) FILTER (WHERE status = 'completed'
                            AND completed_at > now() - interval '24 hours') AS completed_24h,
           count(*) FILTER (WHERE status IN ('failed', 'deadletter')
                            AND completed_at > now() - interval '24 hours') AS failed_24h
    FROM core.jobs
    WHERE organization_id = $1 AND ($2::text[] IS NULL OR queue_name = ANY($2::text[]))
    GROUP BY queue_name
), configured AS (
    SELECT queue_name, NOT enabled AS paused
    FROM core.queue_config
    WHERE organization_id = $1 AND ($2::text[] IS NULL OR queue_name = ANY($2::text[]))
)
SELECT COALESCE(c.queue_name, q.queue_name) AS name,
       COALESCE(c.pending, 0) AS pending, COALESCE(c.processing, 0) AS processing,
       COALESCE(q.paused, FALSE) AS paused, COALESCE(c.scheduled, 0) AS scheduled,
       COALESCE(c.deadletter, 0) AS deadletter, COALESCE(c.completed_24h, 0) AS completed_24h,
       COALESCE(c.failed_24h, 0) AS failed_24h
FROM counts c
FULL JOIN configured q ON q.queue_name = c.queue_name
ORDER BY COALESCE(c.pending, 0) + COALESCE(c.processing, 0) DESC, 1
LIMIT $3;

-- name: dashboard_workers
-- Not-offline workers; healthy = status healthy and heard from within $3 s.
SELECT count(*) AS workers_total,
       count(*) FILTER (WHERE status = 'healthy'
                        AND last_heartbeat > now() - make_interval(secs => $3))
           AS workers_healthy
FROM core.workers
WHERE organization_id = $1 AND status <> 'offline'
  AND ($2::text[] IS NULL OR queue_name = ANY($2::text[]));

-- name: dashboard_throughput
-- Jobs created, completed and failed (terminally) per minute over the last $3
-- minutes, zero-filled, oldest first.
WITH win AS (
    SELECT date_trunc('minute', now()) - make_interval(mins => $3 - 1) AS since
), done AS (
    SELECT date_trunc('minute', j.completed_at) AS minute,
           count(*) FILTER (WHERE j.status = 'completed') AS completed,
           count(*) FILTER (WHERE j.status IN ('failed', 'deadletter')) AS failed
    FROM core.jobs j, win
    WHERE j.organization_id = $1 AND ($2::text[] IS NULL OR j.queue_name = ANY($2::text[]))
      AND j.completed_at >= win.since
    GROUP BY 1
), made AS (
    SELECT date_trunc('minute', j.created_at) AS minute, count(*) AS created
    FROM core.jobs j, win
    WHERE j.organization_id = $1 AND ($2::text[] IS NULL OR j.queue_name = ANY($2::text[]))
      AND j.created_at >= win.since
    GROUP BY 1
)
SELECT s.minute, COALESCE(d.completed, 0) AS completed, COALESCE(d.failed, 0) AS failed,
       COALESCE(c.created, 0) AS created
FROM win
CROSS JOIN generate_series(win.since, date_trunc('minute', now()), interval '1 minute') AS s(minute)
LEFT JOIN done d ON d.minute = s.minute
LEFT JOIN made c ON c.minute = s.minute
ORDER BY s.minute;
