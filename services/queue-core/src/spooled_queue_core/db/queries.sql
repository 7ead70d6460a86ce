-- Named queries of queue-core. Conventions:
--   * every tenant query has `organization_id = $org` AND runs in tenant_tx (RLS);
--   * a `scope` parameter is the caller's queue list (text[]) or NULL for all queues;
--   * JSON columns are returned as text (`::text`) and handed to gRPC as raw bytes,
--     so a payload is never decoded and re-encoded on the way through;
--   * state changes write job_history and outbox rows in the same statement, and
--     `pg_notify(<channel>, org || E'\t' || queue)` wakes long-polling claimers when
--     a job becomes claimable now. Identical notifications in one transaction are
--     folded by Postgres, so one per (org, queue) reaches the listeners.
--     A data-modifying CTE always runs; a plain SELECT CTE runs only when read,
--     hence the `wake` CTEs are joined into the final SELECT.

-- ===========================================================================
-- Producers
-- ===========================================================================

-- name: insert_jobs
-- One multi-row INSERT for a batch (a single create is a batch of one).
-- $1 org; $2..$14 parallel arrays, one element per job; $15/$16 the service
-- defaults used when neither the job nor queue_config sets a value; $17 channel.
-- Duplicate idempotency keys are skipped (DO NOTHING) and resolved by the caller.
WITH input AS (
    SELECT *
    FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::int[],
                $8::timestamptz[], $9::timestamptz[], $10::text[], $11::text[],
                $12::text[], $13::text[], $14::text[])
         WITH ORDINALITY AS t(id, queue_name, payload, priority, max_retries, timeout_seconds,
                              scheduled_at, expires_at, idempotency_key, tags,
                              parent_job_id, completion_webhook, completion_webhook_secret, ord)
), parents AS MATERIALIZED (
    -- Locked FOR SHARE so a parent cannot settle mid-insert: one completing
    -- concurrently either committed first (seen completed here) or waits for
    -- us, and its settle trigger then sees the child's edge (migration 0002).
    SELECT p.id, p.status FROM core.jobs p
    WHERE p.organization_id = $1
      AND p.id IN (SELECT parent_job_id FROM input WHERE parent_job_id IS NOT NULL)
    ORDER BY p.id
    FOR SHARE
), ins AS (
    INSERT INTO core.jobs AS j (
        id, organization_id, queue_name, status, payload, priority, max_retries,
        timeout_seconds, created_at, scheduled_at, expires_at, idempotency_key, tags,
        parent_job_id, completion_webhook, completion_webhook_secret, dependencies_met)
    SELECT i.id, $1, i.queue_name,
           CASE WHEN i.scheduled_at > now() THEN 'scheduled' ELSE 'pending' END,
           i.payload::jsonb, i.priority,
           COALESCE(i.max_retries, qc.max_retries, $15::int),
           COALESCE(i.timeout_seconds, qc.default_timeout, $16::int),
           -- One microsecond apart keeps FIFO order inside a batch, whatever
           -- the physical insertion order below.
           statement_timestamp() + i.ord * interval '1 microsecond', i.scheduled_at, i.expires_at, i.idempotency_key, i.tags::jsonb,
           i.parent_job_id, i.completion_webhook, i.completion_webhook_secret,
           -- A child waits for its parent unless the parent already completed.
           i.parent_job_id IS NULL OR EXISTS (
               SELECT 1 FROM parents p WHERE p.id = i.parent_job_id AND p.status = 'completed')
    FROM input i
    LEFT JOIN core.queue_config qc ON qc.organization_id = $1 AND qc.queue_name = i.queue_name
    -- Keys are inserted in a fixed order so two batches sharing keys cannot
    -- deadlock on each other's unique-index entries.
    ORDER BY i.idempotency_key NULLS LAST, i.ord
    ON CONFLICT (organization_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING j.id, j.queue_name, j.status, j.priority, j.scheduled_at, j.dependencies_met,
              j.parent_job_id
), edges AS (
    -- parent_job_id is a dependency edge like any other (core.job_dependencies).
    INSERT INTO core.job_dependencies (organization_id, job_id, depends_on_job_id)
    SELECT $1, id, parent_job_id FROM ins WHERE parent_job_id IS NOT NULL
), history AS (
    INSERT INTO core.job_history (job_id, organization_id, event_type, details)
    SELECT id, $1, 'created',
           jsonb_build_object('queue_name', queue_name, 'status', status, 'organization_id', $1)
    FROM ins
), events AS (
    INSERT INTO core.outbox (organization_id, aggregate, queue_name, event_type, payload)
    SELECT $1, id, queue_name, 'job.created',
           jsonb_build_object('job_id', id, 'queue_name', queue_name, 'status', status,
                              'priority', priority, 'scheduled_at', scheduled_at)
    FROM ins
), wake AS (
    SELECT count(pg_notify($17, $1 || E'\t' || q.queue_name)) AS n
    FROM (SELECT DISTINCT queue_name FROM ins WHERE status = 'pending' AND dependencies_met) q
)
SELECT ins.id, ins.status FROM ins, wake;

-- name: find_by_idempotency_keys
SELECT idempotency_key, id
FROM core.jobs
WHERE organization_id = $1 AND idempotency_key = ANY($2::text[]);

-- name: parent_jobs
SELECT id, queue_name
FROM core.jobs
WHERE organization_id = $1 AND id = ANY($2::text[]);

-- ===========================================================================
-- Reads and operator actions
-- ===========================================================================

-- name: get_job
SELECT id, organization_id, queue_name, status, payload::text AS payload, result::text AS result,
       retry_count, max_retries, last_error, priority, timeout_seconds, created_at, scheduled_at,
       started_at, completed_at, expires_at, lease_expires_at, updated_at, assigned_worker_id,
       lease_id, idempotency_key, tags::text AS tags, parent_job_id, completion_webhook,
       workflow_id, dependency_mode, dependencies_met
FROM core.jobs
WHERE id = $1 AND organization_id = $2
  AND ($3::text[] IS NULL OR queue_name = ANY($3::text[]));

-- name: list_jobs
-- {order_by} is replaced by a whitelisted clause (see jobs/repository.py); each
-- variant is its own prepared statement.
SELECT id, organization_id, queue_name, status, payload::text AS payload, result::text AS result,
       retry_count, max_retries, last_error, priority, timeout_seconds, created_at, scheduled_at,
       started_at, completed_at, expires_at, lease_expires_at, updated_at, assigned_worker_id,
       lease_id, idempotency_key, tags::text AS tags, parent_job_id, completion_webhook,
       workflow_id, dependency_mode, dependencies_met
FROM core.jobs
WHERE organization_id = $1
  AND ($2::text[] IS NULL OR queue_name = ANY($2::text[]))
  AND ($3::text IS NULL OR queue_name = $3)
  AND (cardinality($4::text[]) = 0 OR status = ANY($4::text[]))
  AND ($5::text IS NULL OR tags ? $5)
  AND ($6::text IS NULL OR id ILIKE $6 OR queue_name ILIKE $6 OR idempotency_key ILIKE $6)
  AND ($7::text IS NULL OR payload ->> 'job_type' = $7)
  AND ($8::timestamptz IS NULL OR created_at >= $8)
  AND ($9::timestamptz IS NULL OR created_at < $9)
ORDER BY {order_by}
LIMIT $10 OFFSET $11;

-- name: jobs_by_ids
SELECT id, organization_id, queue_name, status, payload::text AS payload, result::text AS result,
       retry_count, max_retries, last_error, priority, timeout_seconds, created_at, scheduled_at,
       started_at, completed_at, expires_at, lease_expires_at, updated_at, assigned_worker_id,
       lease_id, idempotency_key, tags::text AS tags, parent_job_id, completion_webhook,
       workflow_id, dependency_mode, dependencies_met
FROM core.jobs
WHERE organization_id = $1 AND id = ANY($2::text[])
  AND ($3::text[] IS NULL OR queue_name = ANY($3::text[]));

-- name: job_status
SELECT status, queue_name FROM core.jobs WHERE id = $1 AND organization_id = $2;

-- name: cancel_job
WITH upd AS (
    UPDATE core.jobs j
    SET status = 'cancelled', completed_at = now(), updated_at = now()
    WHERE j.id = $1 AND j.organization_id = $2 AND j.status IN ('pending', 'scheduled')
      AND ($3::text[] IS NULL OR j.queue_name = ANY($3::text[]))
    RETURNING j.*
), history AS (
    INSERT INTO core.job_history (job_id, organization_id, event_type, details)
    SELECT id, $2, 'cancelled', jsonb_build_object('organization_id', $2) FROM upd
), events AS (
    INSERT INTO core.outbox (organization_id, aggregate, queue_name, event_type, payload)
    SELECT $2, id, queue_name, 'job.cancelled',
           jsonb_build_object('job_id', id, 'queue_name', queue_name, 'status', status)
    FROM upd
)
SELECT id, organization_id, queue_name, status, payload::text AS payload, result::text AS result,
       retry_count, max_retries, last_error, priority, timeout_seconds, created_at, scheduled_at,
       started_at, completed_at, expires_at, lease_expires_at, updated_at, assigned_worker_id,
       lease_id, idempotency_key, tags::text AS tags, parent_job_id, completion_webhook,
       workflow_id, dependency_mode, dependencies_met
FROM upd;

-- name: retry_job
-- Manual retry of a failed or dead-lettered job: a fresh start (retry_count = 0)
-- and its dead-letter record goes away.
WITH upd AS (
    UPDATE core.jobs j
    SET status = 'pending', retry_count = 0, last_error = NULL, scheduled_at = NULL,
        completed_at = NULL, lease_id = NULL, lease_expires_at = NULL,
        assigned_worker_id = NULL, updated_at = now()
    WHERE j.id = $1 AND j.organization_id = $2 AND j.status IN ('failed', 'deadletter')
      AND ($3::text[] IS NULL OR j.queue_name = ANY($3::text[]))
    RETURNING j.*
), dlq AS (
    DELETE FROM core.dead_letter_queue d USING upd
    WHERE d.job_id = upd.id AND d.organization_id = $2
), history AS (
    INSERT INTO core.job_history (job_id, organization_id, event_type, details)
    SELECT id, $2, 'retried', jsonb_build_object('source', 'manual', 'organization_id', $2)
    FROM upd
), wake AS (
    SELECT count(pg_notify($4, $2 || E'\t' || queue_name)) AS n FROM upd WHERE dependencies_met
)
SELECT id, organization_id, queue_name, status, payload::text AS payload, result::text AS result,
       retry_count, max_retries, last_error, priority, timeout_seconds, created_at, scheduled_at,
       started_at, completed_at, expires_at, lease_expires_at, updated_at, assigned_worker_id,
       lease_id, idempotency_key, tags::text AS tags, parent_job_id, completion_webhook,
       workflow_id, dependency_mode, dependencies_met
FROM upd, wake;

-- name: boost_priority
WITH old AS (
    SELECT id, priority FROM core.jobs
    WHERE id = $1 AND organization_id = $2 AND status IN ('pending', 'scheduled')
      AND ($4::text[] IS NULL OR queue_name = ANY($4::text[]))
    FOR UPDATE
)
UPDATE core.jobs j
SET priority = $3, updated_at = now()
FROM old
WHERE j.id = old.id
RETURNING j.id, old.priority AS old_priority, j.priority AS new_priority;

-- name: job_stats
SELECT count(*) FILTER (WHERE status = 'pending')    AS pending,
       count(*) FILTER (WHERE status = 'scheduled')  AS scheduled,
       count(*) FILTER (WHERE status = 'processing') AS processing,
       count(*) FILTER (WHERE status = 'completed')  AS completed,
       count(*) FILTER (WHERE status = 'failed')     AS failed,
       count(*) FILTER (WHERE status = 'deadletter') AS deadletter,
       count(*) FILTER (WHERE status = 'cancelled')  AS cancelled,
       count(*)                                      AS total
FROM core.jobs
WHERE organization_id = $1
  AND ($2::text IS NULL OR queue_name = $2)
  AND ($3::text[] IS NULL OR queue_name = ANY($3::text[]));

-- name: job_history
-- {order_dir} is ASC or DESC, chosen from a whitelist.
SELECT id::text AS id, job_id, event_type, worker_id, details::text AS details, created_at
FROM core.job_history
WHERE job_id = $1 AND organization_id = $2
ORDER BY created_at {order_dir}, id {order_dir}
LIMIT $3 OFFSET $4;

-- ===========================================================================
-- Worker hot path: claim and settle, one round trip each
-- ===========================================================================

-- name: claim_jobs
-- $1 org, $2 queue, $3 batch size, $4 worker id, $5 lease seconds.
-- Rows locked by a concurrent claimer are skipped, never waited on, so two
-- claimers never receive the same job. Order: priority DESC, then FIFO.
WITH eligible AS (
    SELECT j.id
    FROM core.jobs j
    WHERE j.organization_id = $1 AND j.queue_name = $2
      AND j.status IN ('pending', 'scheduled')
      AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
      AND (j.expires_at IS NULL OR j.expires_at > now())
      AND j.dependencies_met
      -- A paused queue hands out nothing; uncorrelated, so evaluated once.
      AND NOT EXISTS (
          SELECT 1 FROM core.queue_config qc
          WHERE qc.organization_id = $1 AND qc.queue_name = $2 AND NOT qc.enabled)
    ORDER BY j.priority DESC, j.created_at ASC
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE core.jobs j
    SET status = 'processing', assigned_worker_id = $4,
        -- A new fence per claim: a worker that lost the job can never settle it.
        lease_id = gen_random_uuid()::text,
        lease_expires_at = now() + make_interval(secs => $5),
        started_at = now(), updated_at = now()
    FROM eligible
    WHERE j.id = eligible.id
    RETURNING j.*
), history AS (
    INSERT INTO core.job_history (job_id, organization_id, event_type, worker_id, details)
    SELECT id, $1, 'processing', $4,
           jsonb_build_object('worker_id', $4, 'lease_id', lease_id, 'batch_claim', true,
                              'organization_id', $1)
    FROM claimed
), events AS (
    -- A job's events continue the trace of its enqueue (migration 0004).
    INSERT INTO core.outbox
        (organization_id, aggregate, queue_name, event_type, payload, traceparent)
    SELECT $1, id, queue_name, 'job.started',
           jsonb_build_object('job_id', id, 'queue_name', queue_name, 'worker_id', $4),
           traceparent
    FROM claimed
)
SELECT id, organization_id, queue_name, status, payload::text AS payload, result::text AS result,
       retry_count, max_retries, last_error, priority, timeout_seconds, created_at, scheduled_at,
       started_at, completed_at, expires_at, lease_expires_at, updated_at, assigned_worker_id,
       lease_id, idempotency_key, tags::text AS tags, parent_job_id, completion_webhook,
       workflow_id, dependency_mode, dependencies_met, traceparent
FROM claimed
ORDER BY priority DESC, created_at ASC;

-- name: complete_job
-- Fenced (API.md §3.4): the caller must hold the current, unexpired lease.
-- $1 job, $2 org, $3 worker, $4 lease id, $5 result (JSON text or NULL),
-- $6 scope. Zero rows: see settlement_state.
WITH done AS (
    UPDATE core.jobs j
    SET status = 'completed', result = $5::jsonb, completed_at = now(), updated_at = now()
    WHERE j.id = $1 AND j.organization_id = $2 AND j.assigned_worker_id = $3
      AND j.status = 'processing' AND j.lease_id = $4
      AND j.lease_expires_at IS NOT NULL AND j.lease_expires_at > now()
      AND ($6::text[] IS NULL OR j.queue_name = ANY($6::text[]))
    RETURNING j.id, j.queue_name, j.status, j.started_at, j.completed_at, j.lease_expires_at,
              j.completion_webhook, j.completion_webhook_secret, j.traceparent
    -- Its dependents are settled by the trigger jobs_settle_dependents_v1
    -- (migration 0002) in this transaction, with the wake-up for their queues.
), history AS (
    INSERT INTO core.job_history (job_id, organization_id, event_type, worker_id, details)
    SELECT id, $2, 'completed', $3,
           jsonb_build_object('worker_id', $3, 'organization_id', $2,
               'duration_ms', round(extract(epoch FROM completed_at - started_at) * 1000))
    FROM done
), events AS (
    -- A job's events continue the trace of its enqueue (migration 0004).
    INSERT INTO core.outbox
        (organization_id, aggregate, queue_name, event_type, payload, traceparent)
    SELECT $2, id, queue_name, 'job.completed',
           jsonb_build_object('job_id', id, 'queue_name', queue_name, 'worker_id', $3,
               'status', status, 'result', $5::jsonb,
               'duration_ms', round(extract(epoch FROM completed_at - started_at) * 1000))
           -- The job's own completion webhook, for the webhooks service (the stream
           -- is internal; webhooks never forwards the secret).
           || jsonb_strip_nulls(jsonb_build_object(
               'completion_webhook', completion_webhook,
               'completion_webhook_secret', completion_webhook_secret)),
           traceparent
    FROM done
)
-- queue_name and duration_secs feed the per-queue duration histogram (metrics.py);
-- traceparent the job.complete span (leases/trace.py).
SELECT done.status, done.lease_expires_at, done.queue_name,
       extract(epoch FROM done.completed_at - done.started_at)::float8 AS duration_secs,
       done.traceparent
FROM done;

-- name: complete_jobs
-- Many fenced completions in one statement (the batched CompleteJobs RPC):
-- each item is checked exactly like complete_job. $1 org; $2 job ids,
-- $3 worker ids, $4 lease ids, $5 results (JSON text or NULL), one element
-- per item, ids distinct; $6 scope. Returns the jobs completed; for the
-- others, settlement_states says why. The rows are locked in id order first,
-- so two batches sharing a job queue up instead of deadlocking.
WITH input AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])
        AS t(id, worker_id, lease_id, result)
), cur AS (
    SELECT j.id, i.worker_id, i.result
    FROM core.jobs j
    JOIN input i ON i.id = j.id
    WHERE j.organization_id = $1 AND j.assigned_worker_id = i.worker_id
      AND j.status = 'processing' AND j.lease_id = i.lease_id
      AND j.lease_expires_at IS NOT NULL AND j.lease_expires_at > now()
      AND ($6::text[] IS NULL OR j.queue_name = ANY($6::text[]))
    ORDER BY j.id
    FOR UPDATE OF j
), done AS (
    UPDATE core.jobs j
    SET status = 'completed', result = cur.result::jsonb, completed_at = now(),
        updated_at = now()
    FROM cur
    WHERE j.id = cur.id
    RETURNING j.id, j.queue_name, j.status, j.started_at, j.completed_at, cur.worker_id,
              cur.result, j.completion_webhook, j.completion_webhook_secret, j.traceparent
    -- Dependents: trigger jobs_settle_dependents_v1, as for complete_job.
), history AS (
    INSERT INTO core.job_history (job_id, organization_id, event_type, worker_id, details)
    SELECT id, $1, 'completed', worker_id,
           jsonb_build_object('worker_id', worker_id, 'organization_id', $1,
               'duration_ms', round(extract(epoch FROM completed_at - started_at) * 1000))
    FROM done
), events AS (
    -- A job's events continue the trace of its enqueue (migration 0004).
    INSERT INTO core.outbox
        (organization_id, aggregate, queue_name, event_type, payload, traceparent)
    SELECT $1, id, queue_name, 'job.completed',
           jsonb_build_object('job_id', id, 'queue_name', queue_name, 'worker_id', worker_id,
               'status', status, 'result', result::jsonb,
               'duration_ms', round(extract(epoch FROM completed_at - started_at) * 1000))
           || jsonb_strip_nulls(jsonb_build_object(
               'completion_webhook', completion_webhook,
               'completion_webhook_secret', completion_webhook_secret)),
           traceparent
    FROM done
)
-- queue_name and duration_secs feed the per-queue duration histogram (metrics.py);
-- status and traceparent the job.complete spans (leases/trace.py).
SELECT id, queue_name, status, worker_id,
       extract(epoch FROM completed_at - started_at)::float8 AS duration_secs, traceparent
FROM done;

-- name: fail_job
-- Fenced like complete_job. $5 error, $6 retry allowed, $7 scope.
-- Retry: back to pending after min(2^min(retry_count, 6), 60) s + 0..499 ms of
-- jitter (scheduled_at), retry_count + 1. Otherwise dead-letter, with a
-- dead_letter_queue record, in the same statement.
WITH cur AS (
    SELECT j.id,
           $6::bool AND j.retry_count < j.max_retries AS will_retry,
           LEAST(power(2, LEAST(j.retry_count, 6)), 60)::int AS delay_secs
    FROM core.jobs j
    WHERE j.id = $1 AND j.organization_id = $2 AND j.assigned_worker_id = $3
      AND j.status = 'processing' AND j.lease_id = $4
      AND j.lease_expires_at IS NOT NULL AND j.lease_expires_at > now()
      AND ($7::text[] IS NULL OR j.queue_name = ANY($7::text[]))
    FOR UPDATE
), upd AS (
    UPDATE core.jobs j
    SET status = CASE WHEN cur.will_retry THEN 'pending' ELSE 'deadletter' END,
        retry_count = j.retry_count + CASE WHEN cur.will_retry THEN 1 ELSE 0 END,
        scheduled_at = CASE WHEN cur.will_retry
            THEN now() + make_interval(secs => cur.delay_secs + floor(random() * 500) / 1000.0)
            ELSE j.scheduled_at END,
        completed_at = CASE WHEN cur.will_retry THEN NULL ELSE now() END,
        assigned_worker_id = CASE WHEN cur.will_retry THEN NULL ELSE j.assigned_worker_id END,
        last_error = $5, lease_id = NULL, lease_expires_at = NULL, updated_at = now()
    FROM cur
    WHERE j.id = cur.id
    RETURNING j.id, j.queue_name, j.status, j.retry_count, j.payload, j.scheduled_at,
              cur.will_retry, cur.delay_secs, j.completion_webhook, j.completion_webhook_secret,
              j.traceparent
), dlq AS (
    INSERT INTO core.dead_letter_queue
        (job_id, organization_id, queue_name, reason, original_payload, error_details)
    SELECT id, $2, queue_name, $5, payload,
           jsonb_build_object('final_error', $5, 'total_retries', retry_count)
    FROM upd WHERE NOT will_retry
), history AS (
    INSERT INTO core.job_history (job_id, organization_id, event_type, worker_id, details)
    SELECT id, $2,
           CASE WHEN will_retry THEN 'retry_scheduled' ELSE 'deadlettered' END, $3,
           CASE WHEN will_retry
               THEN jsonb_build_object('error', $5, 'retry_count', retry_count,
                                       'next_run', scheduled_at, 'organization_id', $2)
               ELSE jsonb_build_object('error', $5, 'total_retries', retry_count,
                                       'organization_id', $2) END
    FROM upd
), events AS (
    -- job.failed is terminal only; a scheduled retry is not a failure yet.
    -- A job's events continue the trace of its enqueue (migration 0004).
    INSERT INTO core.outbox
        (organization_id, aggregate, queue_name, event_type, payload, traceparent)
    SELECT $2, id, queue_name, 'job.failed',
           jsonb_build_object('job_id', id, 'queue_name', queue_name, 'status', status,
                              'error', $5, 'retry_count', retry_count)
           -- The job's own completion webhook, for the webhooks service (the stream
           -- is internal; webhooks never forwards the secret).
           || jsonb_strip_nulls(jsonb_build_object(
               'completion_webhook', completion_webhook,
               'completion_webhook_secret', completion_webhook_secret)),
           traceparent
    FROM upd WHERE NOT will_retry
)
SELECT status, will_retry, delay_secs, queue_name, traceparent FROM upd;

-- name: heartbeat_job
-- Fenced like complete_job; moves the lease deadline to now + $5 seconds.
UPDATE core.jobs j
SET lease_expires_at = now() + make_interval(secs => $5), updated_at = now()
WHERE j.id = $1 AND j.organization_id = $2 AND j.assigned_worker_id = $3
  AND j.status = 'processing' AND j.lease_id = $4
  AND j.lease_expires_at IS NOT NULL AND j.lease_expires_at > now()
  AND ($6::text[] IS NULL OR j.queue_name = ANY($6::text[]))
RETURNING j.status, j.lease_expires_at;

-- name: settlement_state
-- Read only after a fenced statement matched nothing, to say why.
SELECT status, queue_name, lease_id, assigned_worker_id,
       lease_expires_at IS NOT NULL AND lease_expires_at > now() AS lease_live
FROM core.jobs
WHERE id = $1 AND organization_id = $2;

-- name: settlement_states
-- settlement_state for the items of a batch that matched nothing ($1 ids).
SELECT id, status, queue_name, lease_id, assigned_worker_id,
       lease_expires_at IS NOT NULL AND lease_expires_at > now() AS lease_live
FROM core.jobs
WHERE id = ANY($1::text[]) AND organization_id = $2;

-- ===========================================================================
-- Dead-letter queue
-- ===========================================================================

-- name: retry_dead_letters
-- $2 job ids (empty = any), $3 queue (NULL = any), $4 limit, $5 scope, $6 channel.
-- Oldest first; rows another transaction holds are skipped.
WITH pick AS (
    SELECT id FROM core.jobs
    WHERE organization_id = $1 AND status = 'deadletter'
      AND (cardinality($2::text[]) = 0 OR id = ANY($2::text[]))
      AND ($3::text IS NULL OR queue_name = $3)
      AND ($5::text[] IS NULL OR queue_name = ANY($5::text[]))
    ORDER BY created_at ASC
    LIMIT $4
    FOR UPDATE SKIP LOCKED
), upd AS (
    UPDATE core.jobs j
    SET status = 'pending', retry_count = 0, last_error = NULL, scheduled_at = NULL,
        completed_at = NULL, lease_id = NULL, lease_expires_at = NULL,
        assigned_worker_id = NULL, updated_at = now()
    FROM pick
    WHERE j.id = pick.id
    RETURNING j.id, j.queue_name, j.created_at, j.dependencies_met
), dlq AS (
    DELETE FROM core.dead_letter_queue d USING upd
    WHERE d.job_id = upd.id AND d.organization_id = $1
), history AS (
    INSERT INTO core.job_history (job_id, organization_id, event_type, details)
    SELECT id, $1, 'retried', jsonb_build_object('source', 'dlq', 'organization_id', $1)
    FROM upd
), wake AS (
    SELECT count(pg_notify($6, $1 || E'\t' || q.queue_name)) AS n
    FROM (SELECT DISTINCT queue_name FROM upd WHERE dependencies_met) q
)
SELECT upd.id FROM upd, wake ORDER BY upd.created_at;

-- name: purge_dead_letters
-- $2 queue (NULL = any), $3 older than (NULL = any), $4 limit, $5 scope.
WITH doomed AS (
    SELECT id FROM core.jobs
    WHERE organization_id = $1 AND status = 'deadletter'
      AND ($2::text IS NULL OR queue_name = $2)
      AND ($3::timestamptz IS NULL OR created_at < $3)
      AND ($5::text[] IS NULL OR queue_name = ANY($5::text[]))
    ORDER BY created_at ASC
    LIMIT $4
    FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM core.jobs j USING doomed WHERE j.id = doomed.id RETURNING j.id
), dlq AS (
    DELETE FROM core.dead_letter_queue d USING gone
    WHERE d.job_id = gone.id AND d.organization_id = $1
)
SELECT count(*) AS purged FROM gone;

-- ===========================================================================
-- Queues
-- ===========================================================================

-- name: list_queues
SELECT id, organization_id, queue_name, max_retries, default_timeout, rate_limit, enabled,
       settings::text AS settings, created_at, updated_at
FROM core.queue_config
WHERE organization_id = $1 AND ($2::text[] IS NULL OR queue_name = ANY($2::text[]))
ORDER BY queue_name
LIMIT $3;

-- name: get_queue
SELECT id, organization_id, queue_name, max_retries, default_timeout, rate_limit, enabled,
       settings::text AS settings, created_at, updated_at
FROM core.queue_config
WHERE organization_id = $1 AND queue_name = $2;

-- name: upsert_queue_config
-- Omitted fields (NULL) keep their value; settings are merged key by key.
-- $8/$9 are the service defaults for a row created here; $10 channel.
WITH up AS (
    INSERT INTO core.queue_config AS qc
        (organization_id, queue_name, max_retries, default_timeout, rate_limit, enabled, settings)
    VALUES ($1, $2, COALESCE($3::int, $8::int), COALESCE($4::int, $9::int), $5::int,
            COALESCE($6::bool, TRUE), COALESCE($7::jsonb, '{}'::jsonb))
    ON CONFLICT (organization_id, queue_name) DO UPDATE
    SET max_retries = COALESCE($3::int, qc.max_retries),
        default_timeout = COALESCE($4::int, qc.default_timeout),
        rate_limit = COALESCE($5::int, qc.rate_limit),
        enabled = COALESCE($6::bool, qc.enabled),
        settings = qc.settings || COALESCE($7::jsonb, '{}'::jsonb),
        updated_at = now()
    RETURNING *
), wake AS (
    SELECT count(pg_notify($10, $1 || E'\t' || $2)) AS n FROM up WHERE up.enabled
)
SELECT id, organization_id, queue_name, max_retries, default_timeout, rate_limit, enabled,
       settings::text AS settings, created_at, updated_at
FROM up, wake;

-- name: pause_queue
-- Creates the config row when missing (the queue exists through its jobs;
-- the service checks that first). $3/$4 service defaults, $5 reason.
WITH up AS (
    INSERT INTO core.queue_config AS qc
        (organization_id, queue_name, max_retries, default_timeout, enabled, settings)
    VALUES ($1, $2, $3, $4, FALSE,
            jsonb_build_object('paused', true, 'paused_at', now(), 'paused_reason', $5::text))
    ON CONFLICT (organization_id, queue_name) DO UPDATE
    SET enabled = FALSE,
        settings = qc.settings || jsonb_build_object(
            'paused', true, 'paused_at', now(), 'paused_reason', $5::text),
        updated_at = now()
    RETURNING queue_name
), events AS (
    INSERT INTO core.outbox (organization_id, aggregate, queue_name, event_type, payload)
    SELECT $1, queue_name, queue_name, 'queue.paused',
           jsonb_build_object('queue_name', queue_name, 'reason', $5::text, 'paused_at', now())
    FROM up
)
SELECT queue_name, now() AS paused_at FROM up;

-- name: resume_queue
WITH old AS (
    SELECT id, settings ->> 'paused_at' AS paused_at
    FROM core.queue_config
    WHERE organization_id = $1 AND queue_name = $2
    FOR UPDATE
), up AS (
    UPDATE core.queue_config qc
    SET enabled = TRUE,
        settings = (qc.settings - 'paused_at' - 'paused_reason') || '{"paused": false}'::jsonb,
        updated_at = now()
    FROM old
    WHERE qc.id = old.id
    RETURNING qc.queue_name, old.paused_at
), events AS (
    INSERT INTO core.outbox (organization_id, aggregate, queue_name, event_type, payload)
    SELECT $1, queue_name, queue_name, 'queue.resumed', jsonb_build_object('queue_name', queue_name)
    FROM up
), wake AS (
    SELECT count(pg_notify($3, $1 || E'\t' || $2)) AS n FROM up
)
SELECT queue_name,
       COALESCE(floor(extract(epoch FROM now() - paused_at::timestamptz)), 0)::bigint
           AS paused_duration_secs
FROM up, wake;

-- name: queue_presence
SELECT EXISTS (SELECT 1 FROM core.queue_config
               WHERE organization_id = $1 AND queue_name = $2) AS has_config,
       count(*) FILTER (WHERE status IN ('pending', 'scheduled', 'processing')) AS active,
       count(*) AS total
FROM core.jobs
WHERE organization_id = $1 AND queue_name = $2;

-- name: delete_queue_jobs
WITH gone AS (
    DELETE FROM core.jobs WHERE organization_id = $1 AND queue_name = $2 RETURNING id
), dlq AS (
    DELETE FROM core.dead_letter_queue WHERE organization_id = $1 AND queue_name = $2
)
SELECT count(*) AS deleted FROM gone;

-- name: delete_queue_config
DELETE FROM core.queue_config WHERE organization_id = $1 AND queue_name = $2;

-- name: queue_stats
SELECT count(*) FILTER (WHERE status = 'pending')    AS pending,
       count(*) FILTER (WHERE status = 'scheduled')  AS scheduled,
       count(*) FILTER (WHERE status = 'processing') AS processing,
       count(*) FILTER (WHERE status = 'completed')  AS completed,
       count(*) FILTER (WHERE status = 'failed')     AS failed,
       count(*) FILTER (WHERE status = 'deadletter') AS deadletter,
       count(*) FILTER (WHERE status = 'cancelled')  AS cancelled,
       count(*)                                      AS total,
       -- Oldest job that could run now but has not been claimed.
       COALESCE(floor(extract(epoch FROM now() - min(COALESCE(scheduled_at, created_at))
           FILTER (WHERE status IN ('pending', 'scheduled')
                   AND (scheduled_at IS NULL OR scheduled_at <= now()))) * 1000), 0)::bigint
           AS max_age_ms,
       count(*) FILTER (WHERE status = 'completed'
                        AND completed_at > now() - interval '24 hours') AS completed_24h,
       count(*) FILTER (WHERE status IN ('failed', 'deadletter')
                        AND updated_at > now() - interval '24 hours') AS failed_24h,
       (avg(extract(epoch FROM completed_at - started_at) * 1000)
           FILTER (WHERE status = 'completed' AND started_at IS NOT NULL
                   AND completed_at > now() - interval '24 hours'))::float8
           AS avg_processing_time_ms,
       (SELECT count(*) FROM core.workers w
        WHERE w.organization_id = $1 AND w.status IN ('healthy', 'degraded')
          AND (w.queue_name = $2 OR $2 = ANY(w.queue_names))) AS active_workers,
       COALESCE((SELECT NOT qc.enabled FROM core.queue_config qc
                 WHERE qc.organization_id = $1 AND qc.queue_name = $2), FALSE) AS paused
FROM core.jobs
WHERE organization_id = $1 AND queue_name = $2;

-- ===========================================================================
-- Workers
-- ===========================================================================

-- name: register_worker
-- Upsert by id within the org. An id owned by another org is invisible here
-- (RLS), so the UPDATE matches nothing and the INSERT conflicts: no row comes
-- back and the service answers "Worker ID already in use".
-- $1 id, $2 org, $3 queue, $4 hostname, $5 type, $6 max concurrency,
-- $7 metadata (JSON text or NULL), $8 version.
WITH upd AS (
    UPDATE core.workers w
    SET queue_name = $3, queue_names = ARRAY[$3::text], hostname = $4, worker_type = $5,
        max_concurrency = $6, metadata = COALESCE($7::jsonb, '{}'::jsonb), version = $8,
        status = 'healthy', current_jobs = 0, last_heartbeat = now(), updated_at = now()
    WHERE w.id = $1 AND w.organization_id = $2
    RETURNING w.*
), ins AS (
    INSERT INTO core.workers
        (id, organization_id, queue_name, queue_names, hostname, worker_type, max_concurrency,
         metadata, version)
    SELECT $1, $2, $3, ARRAY[$3::text], $4, $5, $6, COALESCE($7::jsonb, '{}'::jsonb), $8
    WHERE NOT EXISTS (SELECT 1 FROM upd)
    ON CONFLICT (id) DO NOTHING
    RETURNING *
), reg AS (
    SELECT * FROM upd UNION ALL SELECT * FROM ins
), events AS (
    INSERT INTO core.outbox (organization_id, aggregate, queue_name, event_type, payload)
    SELECT $2, id, queue_name, 'worker.registered',
           jsonb_build_object('worker_id', id, 'queue_name', queue_name, 'hostname', hostname)
    FROM reg
)
SELECT id, organization_id, queue_name, queue_names, hostname, worker_type, max_concurrency,
       current_jobs, status, last_heartbeat, metadata::text AS metadata, version, created_at,
       updated_at, jobs_processed, jobs_failed
FROM reg;

-- name: list_workers
SELECT id, organization_id, queue_name, queue_names, hostname, worker_type, max_concurrency,
       current_jobs, status, last_heartbeat, metadata::text AS metadata, version, created_at,
       updated_at, jobs_processed, jobs_failed
FROM core.workers
WHERE organization_id = $1 AND ($2::text[] IS NULL OR queue_name = ANY($2::text[]))
ORDER BY last_heartbeat DESC
LIMIT $3;

-- name: get_worker
SELECT id, organization_id, queue_name, queue_names, hostname, worker_type, max_concurrency,
       current_jobs, status, last_heartbeat, metadata::text AS metadata, version, created_at,
       updated_at, jobs_processed, jobs_failed
FROM core.workers
WHERE id = $1 AND organization_id = $2
  AND ($3::text[] IS NULL OR queue_name = ANY($3::text[]));

-- name: worker_heartbeat
-- offline (set by the reaper or deregister) and draining are sticky: the
-- worker is told to drain and must register again to come back.
WITH old AS (
    SELECT id, status FROM core.workers
    WHERE id = $1 AND organization_id = $2
      AND ($6::text[] IS NULL OR queue_name = ANY($6::text[]))
    FOR UPDATE
)
UPDATE core.workers w
SET last_heartbeat = now(), current_jobs = $3,
    status = CASE
        WHEN old.status = 'offline' THEN 'offline'
        WHEN old.status = 'draining' AND $4::text <> 'offline' THEN 'draining'
        ELSE $4::text END,
    metadata = COALESCE($5::jsonb, w.metadata),
    updated_at = now()
FROM old
WHERE w.id = old.id
RETURNING w.status;

-- name: deregister_worker
-- The worker goes offline and its in-flight jobs go back to pending at once,
-- without charging a retry: it let go of them on purpose.
WITH w AS (
    UPDATE core.workers
    SET status = 'offline', current_jobs = 0, updated_at = now()
    WHERE id = $1 AND organization_id = $2
      AND ($4::text[] IS NULL OR queue_name = ANY($4::text[]))
    RETURNING id, queue_name
), released AS (
    UPDATE core.jobs j
    SET status = 'pending', lease_id = NULL, lease_expires_at = NULL,
        assigned_worker_id = NULL, updated_at = now()
    FROM w
    WHERE j.organization_id = $2 AND j.assigned_worker_id = w.id AND j.status = 'processing'
    RETURNING j.id, j.queue_name
), history AS (
    INSERT INTO core.job_history (job_id, organization_id, event_type, worker_id, details)
    SELECT id, $2, 'released', $1,
           jsonb_build_object('reason', 'worker deregistered', 'organization_id', $2)
    FROM released
), events AS (
    INSERT INTO core.outbox (organization_id, aggregate, queue_name, event_type, payload)
    SELECT $2, id, queue_name, 'worker.deregistered',
           jsonb_build_object('worker_id', id, 'queue_name', queue_name)
    FROM w
), wake AS (
    SELECT count(pg_notify($3, $2 || E'\t' || q.queue_name)) AS n
    FROM (SELECT DISTINCT queue_name FROM released) q
)
SELECT w.id, (SELECT count(*) FROM released) AS released FROM w, wake;

-- ===========================================================================
-- Usage (organization-wide, not limited to the key's queues)
-- ===========================================================================

-- name: usage
SELECT count(*) FILTER (
           WHERE created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')
           AS jobs_today,
       count(*) FILTER (WHERE status IN ('pending', 'scheduled', 'processing')) AS active_jobs,
       count(*) AS total_jobs,
       count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'processing') AS processing,
       (SELECT count(*) FROM (
            SELECT queue_name FROM core.queue_config WHERE organization_id = $1
            UNION
            SELECT DISTINCT queue_name FROM core.jobs WHERE organization_id = $1) q) AS queues,
       (SELECT count(*) FROM core.workers
        WHERE organization_id = $1 AND status IN ('healthy', 'degraded')) AS workers
FROM core.jobs
WHERE organization_id = $1;

-- ===========================================================================
-- Maintenance (maintenance_tx: every tenant; leader-free, SKIP LOCKED)
-- ===========================================================================

-- name: reap_expired_leases
-- $1 batch size, $2 channel. A lease that ran out means the worker died or
-- stalled: charge a retry and requeue at once, or dead-letter when exhausted.
WITH expired AS (
    SELECT id FROM core.jobs
    WHERE status = 'processing' AND lease_expires_at <= now()
    ORDER BY lease_expires_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
), upd AS (
    UPDATE core.jobs j
    SET status = CASE WHEN j.retry_count < j.max_retries THEN 'pending' ELSE 'deadletter' END,
        retry_count = CASE WHEN j.retry_count < j.max_retries
            THEN j.retry_count + 1 ELSE j.retry_count END,
        last_error = CASE WHEN j.retry_count < j.max_retries
            THEN 'Lease expired (worker timeout)'
            ELSE 'Max retries exceeded after lease expiration' END,
        completed_at = CASE WHEN j.retry_count < j.max_retries THEN NULL ELSE now() END,
        assigned_worker_id = CASE WHEN j.retry_count < j.max_retries
            THEN NULL ELSE j.assigned_worker_id END,
        lease_id = NULL, lease_expires_at = NULL, updated_at = now()
    FROM expired
    WHERE j.id = expired.id
    RETURNING j.id, j.organization_id, j.queue_name, j.status, j.retry_count, j.payload,
              j.last_error, j.dependencies_met, j.completion_webhook, j.completion_webhook_secret,
              j.traceparent
), dlq AS (
    INSERT INTO core.dead_letter_queue
        (job_id, organization_id, queue_name, reason, original_payload, error_details)
    SELECT id, organization_id, queue_name, last_error, payload,
           jsonb_build_object('final_error', last_error, 'total_retries', retry_count)
    FROM upd WHERE status = 'deadletter'
), history AS (
    INSERT INTO core.job_history (job_id, organization_id, event_type, details)
    SELECT id, organization_id,
           CASE WHEN status = 'pending' THEN 'lease_expired' ELSE 'deadlettered' END,
           jsonb_build_object('error', last_error, 'retry_count', retry_count,
                              'organization_id', organization_id)
    FROM upd
), events AS (
    -- The job's own trace (the reaper's transaction has none), as settlements do.
    INSERT INTO core.outbox
        (organization_id, aggregate, queue_name, event_type, payload, traceparent)
    SELECT organization_id, id, queue_name, 'job.failed',
           jsonb_build_object('job_id', id, 'queue_name', queue_name, 'status', status,
                              'error', last_error, 'retry_count', retry_count)
           -- The job's own completion webhook, for the webhooks service (the stream
           -- is internal; webhooks never forwards the secret).
           || jsonb_strip_nulls(jsonb_build_object(
               'completion_webhook', completion_webhook,
               'completion_webhook_secret', completion_webhook_secret)),
           traceparent
    FROM upd WHERE status = 'deadletter'
), wake AS (
    SELECT count(pg_notify($2, q.organization_id || E'\t' || q.queue_name)) AS n
    FROM (SELECT DISTINCT organization_id, queue_name FROM upd
          WHERE status = 'pending' AND dependencies_met) q
)
SELECT count(*) FILTER (WHERE upd.status = 'pending') AS requeued,
       count(*) FILTER (WHERE upd.status = 'deadletter') AS deadlettered
FROM upd, wake;

-- name: reap_stale_workers
-- $1 seconds without heartbeat, $2 batch size, $3 channel. The worker goes
-- offline; its jobs are charged a retry (it vanished mid-job) or dead-lettered.
WITH stale AS (
    SELECT id FROM core.workers
    WHERE status IN ('healthy', 'degraded', 'draining')
      AND last_heartbeat < now() - make_interval(secs => $1)
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), offline AS (
    UPDATE core.workers w
    SET status = 'offline', updated_at = now()
    FROM stale
    WHERE w.id = stale.id
    RETURNING w.id, w.organization_id
), released AS (
    UPDATE core.jobs j
    SET status = CASE WHEN j.retry_count < j.max_retries THEN 'pending' ELSE 'deadletter' END,
        retry_count = CASE WHEN j.retry_count < j.max_retries
            THEN j.retry_count + 1 ELSE j.retry_count END,
        last_error = CASE WHEN j.retry_count < j.max_retries
            THEN 'Worker went offline'
            ELSE 'Max retries exceeded after worker went offline' END,
        completed_at = CASE WHEN j.retry_count < j.max_retries THEN NULL ELSE now() END,
        assigned_worker_id = CASE WHEN j.retry_count < j.max_retries
            THEN NULL ELSE j.assigned_worker_id END,
        lease_id = NULL, lease_expires_at = NULL, updated_at = now()
    FROM offline
    WHERE j.assigned_worker_id = offline.id AND j.organization_id = offline.organization_id
      AND j.status = 'processing'
    RETURNING j.id, j.organization_id, j.queue_name, j.status, j.retry_count, j.payload,
              j.last_error, j.dependencies_met, j.completion_webhook, j.completion_webhook_secret,
              j.traceparent
), dlq AS (
    INSERT INTO core.dead_letter_queue
        (job_id, organization_id, queue_name, reason, original_payload, error_details)
    SELECT id, organization_id, queue_name, last_error, payload,
           jsonb_build_object('final_error', last_error, 'total_retries', retry_count)
    FROM released WHERE status = 'deadletter'
), history AS (
    INSERT INTO core.job_history (job_id, organization_id, event_type, details)
    SELECT id, organization_id,
           CASE WHEN status = 'pending' THEN 'released' ELSE 'deadlettered' END,
           jsonb_build_object('error', last_error, 'retry_count', retry_count,
                              'organization_id', organization_id)
    FROM released
), events AS (
    -- The job's own trace (the reaper's transaction has none), as settlements do.
    INSERT INTO core.outbox
        (organization_id, aggregate, queue_name, event_type, payload, traceparent)
    SELECT organization_id, id, queue_name, 'job.failed',
           jsonb_build_object('job_id', id, 'queue_name', queue_name, 'status', status,
                              'error', last_error, 'retry_count', retry_count)
           -- The job's own completion webhook, for the webhooks service (the stream
           -- is internal; webhooks never forwards the secret).
           || jsonb_strip_nulls(jsonb_build_object(
               'completion_webhook', completion_webhook,
               'completion_webhook_secret', completion_webhook_secret)),
           traceparent
    FROM released WHERE status = 'deadletter'
), wake AS (
    SELECT count(pg_notify($3, q.organization_id || E'\t' || q.queue_name)) AS n
    FROM (SELECT DISTINCT organization_id, queue_name FROM released
          WHERE status = 'pending' AND dependencies_met) q
)
SELECT (SELECT count(*) FROM offline) AS workers,
       (SELECT count(*) FROM released) AS jobs
FROM wake;

-- name: unblock_children
-- Safety net only: dependents are settled in the transaction that settles
-- their dependency (trigger jobs_settle_dependents_v1, migration 0002). This
-- catches the rest, e.g. a job whose last dependency was purged, or one
-- created with parent_job_id naming a job that had already failed.
-- Waiting jobs whose dependencies are met are unblocked (with a wake-up),
-- those that can never be met are cancelled. $1 batch size.
WITH settled AS MATERIALIZED (
    SELECT c.id, c.organization_id FROM core.jobs c
    WHERE NOT c.dependencies_met AND c.status IN ('pending', 'scheduled')
      AND core.dependency_state_v1(c.id, c.organization_id) <> 'blocked'
    ORDER BY c.id
    LIMIT $1
    FOR UPDATE OF c SKIP LOCKED
), applied AS MATERIALIZED (
    SELECT core.apply_dependency_state_v1(id, organization_id, NULL, NULL) AS state
    FROM settled
)
SELECT count(*) FILTER (WHERE state = 'met') AS unblocked FROM applied;

-- name: notify_due_jobs
-- Wakes claimers of queues whose delayed jobs (scheduled, or a retry's
-- backoff) came due in (since - overlap, now]. The overlap catches jobs
-- committed just after the previous scan; a duplicate wake-up is harmless.
-- $1 since, $2 channel. Returns the scan time to pass as the next `since`.
WITH due AS (
    SELECT DISTINCT organization_id, queue_name FROM core.jobs
    WHERE status IN ('pending', 'scheduled') AND scheduled_at IS NOT NULL
      AND scheduled_at > $1::timestamptz - interval '1 second' AND scheduled_at <= now()
      AND dependencies_met
)
SELECT now() AS scanned_at,
       (SELECT count(pg_notify($2, organization_id || E'\t' || queue_name)) FROM due) AS notified;

-- ===========================================================================
-- Outbox relay (one leader at a time, on its own connection with
-- app.maintenance on; see outbox/relay.py)
-- ===========================================================================

-- name: outbox_next_batch
-- Oldest unpublished events first, walking outbox_unpublished_idx. A row
-- committed late with a smaller id is simply picked up by a later batch: a
-- job's own events are written by successive transactions, so their ids (and
-- hence publish order) follow the job's history.
SELECT id, organization_id, aggregate, queue_name, event_type, payload::text AS payload,
       created_at, extract(epoch FROM now() - created_at)::float8 AS age_secs, traceparent
FROM core.outbox
WHERE published_at IS NULL
ORDER BY id
LIMIT $1;

-- name: outbox_mark_published
UPDATE core.outbox SET published_at = now()
WHERE id = ANY($1::bigint[]) AND published_at IS NULL;

-- name: outbox_backlog
-- For the lag metrics: unpublished rows and the age of the oldest one.
SELECT count(*) AS pending,
       COALESCE(extract(epoch FROM now() - min(created_at)), 0)::float8 AS lag_secs
FROM core.outbox
WHERE published_at IS NULL;

-- name: outbox_delete_published
-- Retention: published rows older than $1 seconds, at most $2 per statement
-- (the caller repeats while batches come back full).
WITH doomed AS (
    SELECT id FROM core.outbox
    WHERE published_at IS NOT NULL AND published_at < now() - make_interval(secs => $1)
    ORDER BY id
    LIMIT $2
)
DELETE FROM core.outbox o USING doomed WHERE o.id = doomed.id;

-- ===========================================================================
-- Retention of finished jobs (maintenance/retention.py)
-- ===========================================================================

-- name: retention_orgs
-- Every organization with jobs, one index probe each (a loose scan of
-- jobs_org_created_idx), in maintenance_tx.
WITH RECURSIVE orgs AS (
    (SELECT organization_id FROM core.jobs ORDER BY organization_id LIMIT 1)
    UNION ALL
    SELECT (SELECT j.organization_id FROM core.jobs j
            WHERE j.organization_id > orgs.organization_id
            ORDER BY j.organization_id LIMIT 1)
    FROM orgs
    WHERE orgs.organization_id IS NOT NULL
)
SELECT organization_id FROM orgs WHERE organization_id IS NOT NULL;

-- name: delete_expired_jobs
-- Completed and cancelled jobs of org $1 that finished before $2, at most $3
-- (their history goes with them: ON DELETE CASCADE). Kept whatever their age:
-- failed and dead-lettered jobs (the DLQ is the operator's), workflow jobs
-- (their workflow counts them), and jobs another job depends on (deleting a
-- parent would cascade to its children); those go once their dependents have.
WITH doomed AS (
    SELECT j.id FROM core.jobs j
    WHERE j.organization_id = $1 AND j.created_at < $2
      AND j.status IN ('completed', 'cancelled') AND j.completed_at < $2
      AND j.workflow_id IS NULL
      AND NOT EXISTS (SELECT 1 FROM core.jobs c WHERE c.parent_job_id = j.id)
      AND NOT EXISTS (SELECT 1 FROM core.job_dependencies d WHERE d.depends_on_job_id = j.id)
    ORDER BY j.created_at
    LIMIT $3
    FOR UPDATE OF j SKIP LOCKED
)
DELETE FROM core.jobs j USING doomed WHERE j.id = doomed.id;
